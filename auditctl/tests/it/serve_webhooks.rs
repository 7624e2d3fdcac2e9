//! `auditctl serve` runs the whole webhook path locally: an event ingested through its API
//! reaches a receiver on 127.0.0.1, signed, within seconds (what `make dev` shows).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::ctl::{http, Ctl};
use relay_core::signing::{verify_standard, WebhookSecret};
use serde_json::Value;

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

#[test]
fn serve_delivers_an_ingested_event_to_a_local_webhook_within_seconds() {
    let ctl = Ctl::new("clw").with_env("AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS", "1");
    let p = ctl.json(&["provision"]);
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
    let org = ctl.org_with_keys("Serve Org");
    let (hook_url, got) = receiver();
    let server = ctl.serve(&[]);
    let addr = &server.addr;
    let (status, body) = http(
        addr,
        "POST",
        &format!("/orgs/{}/audit-export/webhooks", org.org_id),
        &org.owner,
        &format!(r#"{{"url":"{hook_url}"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let secret: Value = serde_json::from_str(&body).unwrap();
    let secret = WebhookSecret::parse(secret["secret"].as_str().unwrap()).unwrap();

    let sent = Instant::now();
    let (status, body) = http(
        addr,
        "POST",
        "/v1/audit/events",
        &org.writer,
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
