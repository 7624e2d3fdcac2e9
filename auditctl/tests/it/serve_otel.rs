//! `auditctl serve` runs the OTLP export locally too: with an export configured through its
//! API, an ingested event reaches an OTLP receiver on 127.0.0.1 (`scripts/otlp-receiver.py`,
//! which decodes the request with the official protobuf definitions) within seconds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ctl::{http, Ctl, Killed};
use serde_json::Value;
use support::python;

#[test]
fn serve_exports_an_ingested_event_to_a_local_otlp_receiver_within_seconds() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("run through `make test` (moto)");
    let ctl = Ctl::new("clo");
    // Its own deliveries queue: another `serve` test consumes the default one.
    let queue_url = format!(
        "{}/123456789012/{}-deliveries",
        endpoint.trim_end_matches('/'),
        ctl.prefix()
    );
    let ctl = ctl
        .with_env("AUDITRELAY_DELIVERIES_QUEUE_URL", &queue_url)
        .with_env("AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS", "1");
    let p = ctl.json(&["provision"]);
    assert!(p["deliveries_queue_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/{}-deliveries", ctl.prefix())));
    let org = ctl.org_with_keys("Serve OTLP Org");

    let out_file = std::env::temp_dir().join(format!("{}-otlp.jsonl", ctl.prefix()));
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

    let server = ctl.serve(&["--flush-interval", "0"]);
    let addr = &server.addr;

    let (status, body) = http(
        addr,
        "POST",
        &format!("/orgs/{}/audit-export/otel", org.org_id),
        &org.owner,
        &format!(
            r#"{{"endpointUrl":"http://127.0.0.1:{rx_port}","headers":{{"X-Api-Key":"local-key"}},"maxBatchSize":50}}"#
        ),
    );
    assert_eq!(status, 201, "{body}");

    let sent = Instant::now();
    let (status, body) = http(
        addr,
        "POST",
        "/v1/audit/events",
        &org.writer,
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
