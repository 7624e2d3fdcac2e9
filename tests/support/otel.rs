//! OTLP test harness: a real OTLP/HTTP receiver on 127.0.0.1 (`scripts/otlp-receiver.py`),
//! which decodes every request with the official OpenTelemetry protobuf definitions (the
//! `opentelemetry-proto` package from PyPI) and answers as scripted.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The receiver process (killed when dropped).
pub struct OtlpReceiver {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    http: reqwest::Client,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OtlpReceiver {
    /// Starts a receiver on a free port, answering 200.
    pub fn start() -> OtlpReceiver {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/otlp-receiver.py");
        let py = crate::python();
        let mut child = Command::new(&py)
            .arg(script)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{py}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("receiver's first line");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected receiver output {line:?} (is opentelemetry-proto installed in {py}?)"));
        OtlpReceiver {
            child,
            port,
            http: reqwest::Client::new(),
        }
    }

    /// `http://127.0.0.1:{port}` (the receiver serves `/v1/logs`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn control(&self, path: &str, body: Value) {
        let r = self
            .http
            .post(format!("{}/control/{path}", self.endpoint()))
            .body(body.to_string())
            .send()
            .await
            .expect("receiver control");
        assert!(r.status().is_success(), "control {path}: {}", r.status());
    }

    /// Answers the next requests with `replies` (`{"status", "retry_after", "message",
    /// "rejected"}`), in order.
    pub async fn script(&self, replies: Vec<Value>) {
        self.control("script", Value::Array(replies)).await;
    }

    /// Answers every request after the scripted ones with `reply`.
    pub async fn always(&self, reply: Value) {
        self.control("default", reply).await;
    }

    /// Answers 200 again.
    pub async fn heal(&self) {
        self.always(json!({"status": 200})).await;
    }

    /// Every request so far: `{"path", "headers", "bytes", "raw_bytes", "answered",
    /// "records": [...]}`.
    pub async fn requests(&self) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/control/requests", self.endpoint()))
            .send()
            .await
            .expect("receiver requests");
        r.json().await.expect("requests JSON")
    }

    /// The records of requests the receiver answered with a 2xx.
    pub async fn accepted_records(&self) -> Vec<Value> {
        self.requests()
            .await
            .iter()
            .filter(|r| {
                r["answered"]
                    .as_u64()
                    .is_some_and(|s| (200..300).contains(&s))
            })
            .flat_map(|r| r["records"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until the receiver has accepted at least `n` records.
    pub async fn wait_for_records(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.accepted_records().await;
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "receiver accepted {} of {n} records",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The `log.record.uid` (event id) of a decoded record.
pub fn uid(record: &Value) -> String {
    record["attributes"]["log.record.uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
