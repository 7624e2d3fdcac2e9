//! What one event costs on the event path, counted, not timed: drives the local stack
//! (`auditctl serve` on moto) with one org that has a webhook endpoint, an OTLP export and the
//! continuous S3 export, ingests N events of about 1 KB of JSON, waits until the webhook and
//! OTLP receivers and the summary have every event and a flush has written them, and reads
//! every AWS request of that run from moto's request recorder. It prints, per event, the
//! DynamoDB write request units (computed from the item sizes by DynamoDB's rules) by what was
//! written, the other requests (SQS, S3, KMS, STS, DynamoDB reads and streams), and the bytes
//! the run left stored in DynamoDB, indexes included.
//!
//! `make cost` runs it: `cost_bench [N=1000]`. It needs `auditctl` built (`AUDITCTL` names the
//! binary; the default is the workspace's `target/debug/auditctl`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cost::{self, Call, Recorder, TableShape, Write};
use support::otel::{uid, OtlpReceiver};
use support::webhooks::Receiver;

const ROLE: &str = "arn:aws:iam::123456789012:role/AuditRelayExport";

/// `auditctl` against this run's own tables.
struct Ctl {
    bin: PathBuf,
    prefix: String,
}

impl Ctl {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("AUDITRELAY_EVENTS_TABLE", format!("{}-events", self.prefix))
            .env("AUDITRELAY_CONFIG_TABLE", format!("{}-config", self.prefix))
            .env("AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS", "1")
            .env("AUDITRELAY_FLUSH_SETTLE_SECS", "0")
            .env("RUST_LOG", "warn");
        c
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd().args(args).output().expect("auditctl runs");
        assert!(
            out.status.success(),
            "auditctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn auditctl_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("AUDITCTL") {
        return p.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/auditctl")
}

/// An event of about 1 KB of JSON.
fn event(run: &str, i: usize) -> Value {
    let mut e = json!({
        "event_id": format!("evt_{run}{i:06}"),
        "action": if i.is_multiple_of(3) { "user.login" } else { "document.updated" },
        "actor": {"type": "user", "user_id": format!("usr_{:04}", i % 50),
                  "email": format!("user{}@example.com", i % 50), "ip_address": "203.0.113.7"},
        "resource": {"type": "document", "id": format!("doc_{:05}", i % 200)},
        "success": true,
        "request_id": format!("req_{run}_{i}"),
        "metadata": {"user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
                     "workspace": "ws_0042", "changes": {"title": ["Q3 plan", "Q3 plan (final)"]}},
    });
    let len = e.to_string().len();
    e["metadata"]["note"] = Value::String("x".repeat(1024usize.saturating_sub(len + 10)));
    e
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.expect("API call");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let ctl = Ctl {
        bin: auditctl_binary(),
        prefix: format!("cost{}", &run[run.len() - 8..]),
    };
    assert!(
        ctl.bin.exists(),
        "build auditctl first: {}",
        ctl.bin.display()
    );
    ctl.json(&["provision"]);
    let org = ctl.json(&["org", "create", "--name", "Cost"]);
    let org_id = org["org_id"].as_str().unwrap().to_string();
    let key = |role: &str| {
        ctl.json(&["key", "create", "--org", &org_id, "--role", role])["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (owner, writer) = (key("owner"), key("service"));

    let sdk = support::sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("cost-{}", &run[run.len() - 8..]);
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let _serving = Serving(
        ctl.cmd()
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--flush-interval", "0"])
            .spawn()
            .expect("serve"),
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let hooks = Receiver::start().await;
    let otlp = OtlpReceiver::start();
    use reqwest::Method;
    for (path, body) in [
        (
            format!("/orgs/{org_id}/audit-export/webhooks"),
            json!({"url": hooks.url("/hook")}),
        ),
        (
            format!("/orgs/{org_id}/audit-export/otel"),
            json!({"endpointUrl": otlp.endpoint()}),
        ),
        (
            format!("/orgs/{org_id}/audit-export/config"),
            json!({"bucket": bucket, "region": "us-east-1", "roleArn": ROLE, "enabled": true}),
        ),
    ] {
        let (status, answer) = call(&http, &base, Method::POST, &path, &owner, Some(&body)).await;
        assert!(status < 300, "{path}: {status} {answer}");
    }

    // One event first, so what a cold start does once (keys, queues, caches) is not counted.
    let warm = event(&format!("{run}w"), 0);
    let (status, answer) = call(
        &http,
        &base,
        Method::POST,
        "/v1/audit/events",
        &writer,
        Some(&json!({"events": [warm]})),
    )
    .await;
    assert!(status < 300, "{status} {answer}");
    hooks.wait_for(1, Duration::from_secs(120)).await;
    otlp.wait_for_records(1, Duration::from_secs(120)).await;
    ctl.json(&["flush", "--org", &org_id]);

    let recorder = Recorder::from_env();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let events_table = format!("{}-events", ctl.prefix);
    let config_table = format!("{}-config", ctl.prefix);
    let shapes: HashMap<String, TableShape> = HashMap::from([
        (
            events_table.clone(),
            TableShape::describe(&ddb, &events_table).await,
        ),
        (
            config_table.clone(),
            TableShape::describe(&ddb, &config_table).await,
        ),
    ]);
    let mut stored_before = 0;
    for (t, shape) in &shapes {
        stored_before += cost::table_bytes(&ddb, t, shape).await.1;
    }

    println!("cost_bench: {n} events of ~1 KB, one org with a webhook, OTLP and the S3 stream");
    recorder.start().await;
    let started = Instant::now();
    let events: Vec<Value> = (0..n).map(|i| event(&run, i)).collect();
    for chunk in events.chunks(100) {
        let (status, answer) = call(
            &http,
            &base,
            Method::POST,
            "/v1/audit/events",
            &writer,
            Some(&json!({ "events": chunk })),
        )
        .await;
        assert!(status < 300, "{status} {answer}");
    }
    let ingested = started.elapsed();
    let got = hooks.wait_for(n + 1, Duration::from_secs(900)).await;
    let webhooks_done = started.elapsed();
    let records = otlp.wait_for_records(n + 1, Duration::from_secs(900)).await;
    let otlp_done = started.elapsed();
    loop {
        let (_, s) = call(&http, &base, Method::GET, "/v1/audit/summary", &owner, None).await;
        if s["total_events"].as_u64().unwrap_or(0) as usize > n {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(900), "summary: {s}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let summary_done = started.elapsed();
    // Let the stream poller and the deliver consumer go idle before the flush.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ctl.json(&["flush", "--org", &org_id]);
    let calls = recorder.stop().await;
    let flushed = started.elapsed();

    // What arrived, exactly once.
    let hook_ids: HashSet<String> = got
        .iter()
        .filter_map(|r| r.json()["event_id"].as_str().map(String::from))
        .collect();
    let otlp_ids: HashSet<String> = records.iter().map(uid).collect();
    let s3_lines = count_lines(&s3, &bucket).await;
    println!(
        "arrived: webhook {} requests ({} distinct), OTLP {} records ({} distinct), S3 {} lines",
        got.len(),
        hook_ids.len(),
        records.len(),
        otlp_ids.len(),
        s3_lines
    );
    println!(
        "times: ingest {:.1} s, webhooks {:.1} s, OTLP {:.1} s, summary {:.1} s, flushed {:.1} s",
        ingested.as_secs_f64(),
        webhooks_done.as_secs_f64(),
        otlp_done.as_secs_f64(),
        summary_done.as_secs_f64(),
        flushed.as_secs_f64()
    );

    report(&ddb, &calls, &shapes, n, &events_table).await;
    let mut stored_after = 0;
    for (t, shape) in &shapes {
        stored_after += cost::table_bytes(&ddb, t, shape).await.1;
    }
    println!(
        "DynamoDB bytes stored per event (items and index entries, 100 B overhead each): {:.0}",
        (stored_after.saturating_sub(stored_before)) as f64 / n as f64
    );
}

async fn count_lines(s3: &aws_sdk_s3::Client, bucket: &str) -> usize {
    let mut lines = 0;
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            let key = o.key().unwrap_or_default();
            if !(key.ends_with(".jsonl") || key.ends_with(".jsonl.gz")) || key.contains("digest") {
                continue;
            }
            let text = support::object_text(s3, bucket, key).await;
            lines += text.lines().filter(|l| !l.trim().is_empty()).count();
        }
    }
    lines
}

/// Where a write belongs in the per-event table.
fn category(table_is_events: bool, kind: &str) -> &'static str {
    if table_is_events {
        "event item and its indexes"
    } else if kind.contains("SUM") {
        "summary counting"
    } else if kind.contains("WH") {
        "webhook bookkeeping"
    } else if kind.contains("OT") {
        "OTLP bookkeeping"
    } else if kind.contains("RUNS") || kind.contains("DIGEST") {
        "S3 stream runs and digests"
    } else {
        "other"
    }
}

async fn report(
    ddb: &aws_sdk_dynamodb::Client,
    calls: &[Call],
    shapes: &HashMap<String, TableShape>,
    n: usize,
    events_table: &str,
) {
    let keys: HashMap<String, Vec<String>> = shapes
        .iter()
        .map(|(t, s)| (t.clone(), s.key.clone()))
        .collect();
    let writes: Vec<Write> = calls
        .iter()
        .filter(|c| c.service == "dynamodb")
        .flat_map(|c| cost::writes(c, &keys))
        .filter(|w| shapes.contains_key(&w.table))
        .collect();
    // An update or delete costs by the item's size: read the items as they are now.
    let mut current = HashMap::new();
    for t in shapes.keys() {
        let ks: Vec<_> = writes
            .iter()
            .filter(|w| &w.table == t && w.item.is_none())
            .map(|w| w.key.clone())
            .collect();
        current.insert(t.clone(), cost::current_items(ddb, t, &ks).await);
    }
    let mut by_kind: BTreeMap<(String, &'static str), (usize, usize)> = BTreeMap::new();
    let mut by_category: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    for w in &writes {
        let shape = &shapes[&w.table];
        let units = match (&w.item, current[&w.table].get(&cost::key_id(&w.key))) {
            (Some(it), _) => shape.units(it),
            (None, Some(it)) => shape.units(it),
            (None, None) => 1,
        } * if w.transactional { 2 } else { 1 };
        let kind = cost::kind_of(&w.key, &shape.key);
        let cat = category(w.table == events_table, &kind);
        let label = format!(
            "{} {kind}",
            if w.table == events_table {
                "events"
            } else {
                "config"
            }
        );
        let e = by_kind.entry((label, w.operation)).or_default();
        e.0 += 1;
        e.1 += units;
        let c = by_category.entry(cat).or_default();
        c.0 += 1;
        c.1 += units;
    }
    let per = |x: usize| x as f64 / n as f64;
    println!("\nDynamoDB writes per event, by what was written:");
    println!("| what | item writes | WRU | WRU per event |");
    println!("|---|---:|---:|---:|");
    let mut total = 0;
    for (cat, (count, units)) in &by_category {
        total += units;
        println!("| {cat} | {count} | {units} | {:.2} |", per(*units));
    }
    println!("| **total** | | {total} | **{:.2}** |", per(total));
    println!("\nby item kind (table, key prefixes, operation):");
    println!("| item | op | writes | WRU |");
    println!("|---|---|---:|---:|");
    for ((label, op), (count, units)) in &by_kind {
        println!("| {label} | {op} | {count} | {units} |");
    }
    let mut ops: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in calls {
        *ops.entry((c.service.clone(), c.operation.clone()))
            .or_default() += 1;
    }
    let sqs_entries: usize = calls
        .iter()
        .filter(|c| c.service == "sqs" && c.operation.ends_with("Batch"))
        .map(|c| c.body["Entries"].as_array().map_or(0, Vec::len))
        .sum();
    println!("\nrequests by service and operation (per event):");
    println!("| service | operation | requests | per event |");
    println!("|---|---|---:|---:|");
    for ((service, op), count) in &ops {
        println!("| {service} | {op} | {count} | {:.3} |", per(*count));
    }
    println!(
        "SQS batch entries: {sqs_entries} ({:.2} per event)",
        per(sqs_entries)
    );
    let s3_puts: usize = calls
        .iter()
        .filter(|c| {
            c.service == "s3"
                && matches!(
                    c.operation.as_str(),
                    "PutObject"
                        | "UploadPart"
                        | "CreateMultipartUpload"
                        | "CompleteMultipartUpload"
                )
        })
        .count();
    let count = |service: &str| calls.iter().filter(|c| c.service == service).count();
    // The local pollers receive on a timer (every queue, idle or not); Lambda's event source
    // mappings poll on their own. So receives are shown above but not counted per event.
    let receives = calls
        .iter()
        .filter(|c| c.service == "sqs" && c.operation == "ReceiveMessage")
        .count();
    println!(
        "summary: {:.2} WRU, {:.3} S3 PUT-class, {:.3} SQS (receives not counted), {:.3} KMS, {:.3} STS requests per event",
        per(total),
        per(s3_puts),
        per(count("sqs") - receives),
        per(count("kms")),
        per(count("sts"))
    );
}
