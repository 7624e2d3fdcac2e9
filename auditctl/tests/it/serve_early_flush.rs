//! `auditctl serve` runs everything the stack runs, the early-flush queue included: with the
//! five-minute schedule off, an org that passes 1,000 pending events is flushed into its
//! bucket at once (the fanout queues a flush request, the flush function's handler takes it).

use std::time::{Duration, Instant};

use crate::ctl::{http, s3, Ctl};
use serde_json::{json, Value};

#[test]
fn serve_flushes_an_org_early_when_it_passes_1000_pending_events() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let name = format!("cef{}", std::process::id());
    // Queues of this test's own, so no other `serve` takes its flush requests.
    let queue = |suffix: &str| format!("{endpoint}/123456789012/{name}-{suffix}");
    let ctl = Ctl::new("cef")
        .with_env("AUDITRELAY_DELIVERIES_QUEUE_URL", &queue("deliveries"))
        .with_env("AUDITRELAY_FLUSH_QUEUE_URL", &queue("flush"))
        .with_env("AUDITRELAY_EXPORT_QUEUE_URL", &queue("exports"))
        .with_env("AUDITRELAY_FLUSH_SETTLE_SECS", "0");
    ctl.json(&["provision"]);
    let org = ctl.org_with_keys("Early Flush Org");
    let bucket = format!("{name}-audit");
    s3(&["create", &bucket]);
    let server = ctl.serve(&["--flush-interval", "0"]);
    let addr = &server.addr;
    let config = json!({
        "bucket": bucket,
        "region": "us-east-1",
        "roleArn": "arn:aws:iam::123456789012:role/AuditRelayExport",
        "format": "jsonl",
    });
    let (status, body) = http(
        addr,
        "POST",
        &format!("/orgs/{}/audit-export/config", org.org_id),
        &org.owner,
        &config.to_string(),
    );
    assert_eq!(status, 201, "{body}");

    for batch in 0..2 {
        let events: Vec<Value> = (0..500)
            .map(|i| {
                json!({
                    "event_id": format!("evt_early_{batch}_{i:03}"),
                    "action": "document.opened",
                    "actor": {"user_id": "usr_1"},
                })
            })
            .collect();
        let (status, body) = http(
            addr,
            "POST",
            "/v1/audit/events",
            &org.writer,
            &json!({ "events": events }).to_string(),
        );
        assert_eq!(status, 202, "{body}");
    }

    // A bound for a stuck flush, not a latency bar: on a busy machine the ingest and the
    // fanout of 1,000 events on moto alone can take a minute.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let lines: usize = s3(&["count", &bucket]).parse().unwrap();
        if lines == 1000 {
            break;
        }
        assert!(lines < 1000, "{lines} lines: an event was exported twice");
        assert!(
            Instant::now() < deadline,
            "{lines} of 1000 events in the bucket after 240 s with the schedule off"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
