//! `auditctl serve` runs the OTLP export locally too: with an export configured through its
//! API, an ingested event reaches an OTLP receiver on 127.0.0.1 (`scripts/otlp-receiver.py`,
//! which decodes the request with the official protobuf definitions) within seconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(addr: &str, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp[9..12].parse().expect("status");
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

fn python() -> String {
    std::env::var("AUDITRELAY_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/../.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn serve_exports_an_ingested_event_to_a_local_otlp_receiver_within_seconds() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("run through `make test` (moto)");
    let prefix = format!("clo{}", std::process::id());
    // Its own deliveries queue: another `serve` test consumes the default one.
    let queue_url = format!(
        "{}/123456789012/{prefix}-deliveries",
        endpoint.trim_end_matches('/')
    );
    let cmd = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_auditctl"));
        c.env("AUDITRELAY_EVENTS_TABLE", format!("{prefix}-events"))
            .env("AUDITRELAY_CONFIG_TABLE", format!("{prefix}-config"))
            .env("AUDITRELAY_DELIVERIES_QUEUE_URL", &queue_url)
            .env("AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS", "1")
            .env("RUST_LOG", "warn");
        c
    };
    let json = |args: &[&str]| -> Value {
        let out = cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let p = json(&["provision"]);
    assert!(p["deliveries_queue_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/{prefix}-deliveries")));
    let org = json(&["org", "create", "--name", "Serve OTLP Org"]);
    let org_id = org["org_id"].as_str().unwrap().to_string();
    let owner = json(&["key", "create", "--org", &org_id, "--role", "owner"]);
    let writer = json(&["key", "create", "--org", &org_id, "--role", "service"]);

    let out_file = std::env::temp_dir().join(format!("{prefix}-otlp.jsonl"));
    let _ = std::fs::remove_file(&out_file);
    let mut rx = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/otlp-receiver.py"
        ))
        .args(["--port", "0", "--out"])
        .arg(&out_file)
        .stdout(Stdio::piped())
        .spawn()
        .expect("otlp receiver");
    let mut line = String::new();
    BufReader::new(rx.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _rx = Killed(rx);
    let rx_port: u16 = line
        .trim()
        .trim_start_matches("listening on ")
        .parse()
        .unwrap();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Killed(
        cmd()
            .args(["serve", "--addr", &addr, "--flush-interval", "0"])
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let (status, body) = http(
        &addr,
        "POST",
        &format!("/orgs/{org_id}/audit-export/otel"),
        owner["token"].as_str().unwrap(),
        &format!(
            r#"{{"endpointUrl":"http://127.0.0.1:{rx_port}","headers":{{"X-Api-Key":"local-key"}},"maxBatchSize":50}}"#
        ),
    );
    assert_eq!(status, 201, "{body}");

    let sent = Instant::now();
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/audit/events",
        writer["token"].as_str().unwrap(),
        r#"{"event_id":"evt_serve_otel_1","action":"document.opened","actor":{"user_id":"usr_1","email":"jane@example.com"}}"#,
    );
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let request: Value = loop {
        let text = std::fs::read_to_string(&out_file).unwrap_or_default();
        if let Some(l) = text.lines().next() {
            break serde_json::from_str(l).unwrap();
        }
        assert!(Instant::now() < deadline, "no OTLP request arrived");
        std::thread::sleep(Duration::from_millis(100));
    };
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(10), "{latency:?}");
    assert_eq!(request["headers"]["x-api-key"], "local-key");
    let record = &request["records"][0];
    assert_eq!(record["attributes"]["log.record.uid"], "evt_serve_otel_1");
    assert_eq!(record["attributes"]["event.name"], "document.opened");
    assert_eq!(record["attributes"]["user.email"], "jane@example.com");
    let _ = std::fs::remove_file(&out_file);
}
