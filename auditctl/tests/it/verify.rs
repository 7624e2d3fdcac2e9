//! Integrity end to end, as an operator and an auditor run it: `auditctl serve` takes events,
//! `auditctl flush` exports them and writes the period's signed digest (one-minute periods
//! here), `auditctl verify --bucket … --keys-url … --api …` proves the bucket against the
//! digests and the trail's counts, and once an object is deleted it says so and exits non-zero.

use std::time::Duration;

use crate::ctl::{http, s3, Ctl};
use serde_json::{json, Value};

#[test]
fn digest_then_verify_the_bucket_against_the_keys_and_the_trail() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let name = format!("civ{}", std::process::id());
    let queue = |suffix: &str| format!("{endpoint}/123456789012/{name}-{suffix}");
    let ctl = Ctl::new("civ")
        .with_env("AUDITRELAY_DELIVERIES_QUEUE_URL", &queue("deliveries"))
        .with_env("AUDITRELAY_FLUSH_QUEUE_URL", &queue("flush"))
        .with_env("AUDITRELAY_EXPORT_QUEUE_URL", &queue("exports"))
        .with_env("AUDITRELAY_FLUSH_SETTLE_SECS", "1")
        .with_env("AUDITRELAY_DIGEST_PERIOD_SECS", "60");
    let provisioned = ctl.json(&["provision"]);
    let key_id = provisioned["signing_key_id"].as_str().unwrap().to_string();
    let ctl = ctl.with_env("AUDITRELAY_SIGNING_KEY_ID", &key_id);
    let org = ctl.org_with_keys("Integrity Org");
    let bucket = format!("{name}-audit");
    s3(&["create", &bucket]);
    let server = ctl.serve(&["--flush-interval", "0"]);
    let addr = &server.addr;
    let config = json!({
        "bucket": bucket,
        "region": "us-east-1",
        "roleArn": "arn:aws:iam::123456789012:role/AuditRelayExport",
    });
    let (status, body) = http(
        addr,
        "POST",
        &format!("/orgs/{}/audit-export/config", org.org_id),
        &org.owner,
        &config.to_string(),
    );
    assert_eq!(status, 201, "{body}");
    let created = time::OffsetDateTime::now_utc();
    let events: Vec<Value> = (0..120)
        .map(|i| {
            json!({"event_id": format!("evt_civ_{i:03}"), "action": "document.opened",
                        "actor": {"user_id": "usr_1"}})
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

    // Past the end of the minute the export was configured in (plus the settle time), the
    // flush exports the events and writes that period's digest.
    let period_end = relay_core::integrity::period_start(created, 60) + time::Duration::seconds(60);
    let wait = period_end - time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    if wait.is_positive() {
        std::thread::sleep(Duration::try_from(wait).unwrap());
    }
    let flushed = ctl.json(&["flush", "--org", &org.org_id]);
    assert_eq!(flushed[0]["outcome"], "ran", "{flushed}");
    let keys: Vec<String> = serde_json::from_str(&s3(&["list", &bucket])).unwrap();
    let digests: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains("/_digest/") && k.ends_with(".json"))
        .collect();
    assert_eq!(digests.len(), 1, "{keys:?}");
    assert!(keys.contains(&format!("{}.sig", digests[0])), "{keys:?}");
    // Nothing else is due yet.
    let again = ctl.json(&["digest", "--org", &org.org_id]);
    assert_eq!(again[0]["written"], json!([]), "{again}");

    let api = format!("http://{addr}");
    let keys_url = format!("{api}/v1/audit/integrity/keys");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--bucket",
            &bucket,
            "--prefix",
            "audit-logs",
            "--keys-url",
            &keys_url,
            "--api",
            &api,
            "--key",
            &org.owner,
            "--json",
        ];
        args.extend_from_slice(extra);
        ctl.run(&args)
    };
    let out = verify(&[]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["findings"], json!([]), "{report}");
    assert_eq!(report["events"], 120, "{report}");
    assert_eq!(report["digests"], 1, "{report}");

    // An object deleted from the bucket: reported, and the exit code says so.
    let data = keys
        .iter()
        .find(|k| k.ends_with(".jsonl"))
        .expect("a batch")
        .clone();
    s3(&["delete", &bucket, &data]);
    let out = verify(&[]);
    assert!(
        !out.status.success(),
        "a deleted file must fail verification"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["file_missing"], "{report}");
}
