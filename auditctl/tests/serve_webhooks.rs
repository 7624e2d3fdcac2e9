//! `auditctl serve` runs the whole webhook path locally: an event ingested through its API
//! reaches a receiver on 127.0.0.1, signed, within seconds (what `make dev` shows).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::delivery::signing::{verify_standard, WebhookSecret};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A request the receiver got: headers (lowercase names) and body.
type Got = (Vec<(String, String)>, String);

/// A minimal HTTP/1.1 receiver answering 200 to everything.
fn receiver() -> (String, mpsc::Receiver<Got>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut headers = vec![];
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            let _ = tx.send((headers, String::from_utf8(body).unwrap()));
        }
    });
    (url, rx)
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

#[test]
fn serve_delivers_an_ingested_event_to_a_local_webhook_within_seconds() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "run through `make test` (it starts moto)"
    );
    let prefix = format!("clw{}", std::process::id());
    let cmd = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_auditctl"));
        c.env("AUDITRELAY_EVENTS_TABLE", format!("{prefix}-events"))
            .env("AUDITRELAY_CONFIG_TABLE", format!("{prefix}-config"))
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
        .ends_with("/auditrelay-deliveries"));
    assert!(p["dead_letter_queue_url"]
        .as_str()
        .unwrap()
        .ends_with("/auditrelay-deliveries-dlq"));
    assert!(p["notify_topic_arn"]
        .as_str()
        .unwrap()
        .ends_with(":auditrelay-notifications"));
    let org = json(&["org", "create", "--name", "Serve Org"]);
    let org_id = org["org_id"].as_str().unwrap().to_string();
    let owner = json(&["key", "create", "--org", &org_id, "--role", "owner"]);
    let writer = json(&["key", "create", "--org", &org_id, "--role", "service"]);

    let (hook_url, got) = receiver();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Server(cmd().args(["serve", "--addr", &addr]).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let (status, body) = http(
        &addr,
        "POST",
        &format!("/orgs/{org_id}/audit-export/webhooks"),
        owner["token"].as_str().unwrap(),
        &format!(r#"{{"url":"{hook_url}"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let secret: Value = serde_json::from_str(&body).unwrap();
    let secret = WebhookSecret::parse(secret["secret"].as_str().unwrap()).unwrap();

    let sent = Instant::now();
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/audit/events",
        writer["token"].as_str().unwrap(),
        r#"{"event_id":"evt_serve_1","action":"document.opened","actor":{"user_id":"usr_1"}}"#,
    );
    assert_eq!(status, 202, "{body}");
    let (headers, body) = got
        .recv_timeout(Duration::from_secs(15))
        .expect("the webhook arrives");
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(10), "{latency:?}");
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("webhook-id"), "evt_serve_1");
    assert!(verify_standard(
        &secret,
        "evt_serve_1",
        header("webhook-timestamp").parse().unwrap(),
        &header("webhook-signature"),
        body.as_bytes()
    ));
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["action"], "document.opened");
}
