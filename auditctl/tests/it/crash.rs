//! Crash tests that really crash: a real `auditctl serve` process is killed with SIGKILL at
//! random points and restarted against the same moto, through five phases — a 500-event
//! ingest, an export job, the fanout, webhook and OTLP delivery and the S3 flush. After the
//! last restart the system drains, and every destination must hold every accepted event
//! exactly once: one distinct delivery id per event at the webhook and the OTLP receivers
//! (a redelivery after a kill reuses the id; raw receipts are reported, not judged), one row
//! per event in the S3 objects and in the export job's files; and the summary counts each
//! accepted event once.
//!
//! The kill points come from a seeded RNG; the seed is printed (`CRASH_SEED=N` replays the
//! same points, as far as the timing of two busy cores allows) and `CRASH_ROUNDS` sets the
//! kills per phase (default 3; the export phase gets a third of them, at least one, because
//! a killed job's lease holds it for twice its budget). `CRASH_REREAD=1` also times a
//! restart with the stream position deleted (the old behaviour: minutes), `CRASH_SERVE_LOG`
//! sets the killed processes' `RUST_LOG` (their log's path is printed on a failure).
//!
//! Timing knobs, all shortened for the test only: the flush settles for 0 s and runs every
//! second with a 3 s lease, an export invocation has a 10 s budget (and a lease of 20 s), a
//! delivery claim lasts 20 s, and the queues hand a message out again after 30 s (deliveries)
//! or 25 s (export jobs), so that a message taken by the killed process comes back within the
//! test, and (as deployed) only once its claim has expired: a copy that found the claim still
//! held would spend one of its receives.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ctl::{CliOrg, Ctl, Killed};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};
use support::python;

/// The phases, in order; every event id starts with its phase's name.
const PHASES: [&str; 5] = ["ingest", "fanout", "deliver", "flush", "export"];

/// A webhook receiver on 127.0.0.1 (one thread per connection) that answers 200 after
/// `delay` milliseconds and records every `webhook-id` it got.
struct Hooks {
    url: String,
    ids: Arc<Mutex<Vec<String>>>,
    delay_ms: Arc<AtomicU64>,
}

fn hooks() -> Hooks {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let ids = Arc::new(Mutex::new(Vec::new()));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let (got, delay) = (ids.clone(), delay_ms.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (got, delay) = (got.clone(), delay.clone());
            std::thread::spawn(move || {
                // A connection cut by the kill is just dropped.
                let _ = serve_hook(conn, &got, &delay);
            });
        }
    });
    Hooks { url, ids, delay_ms }
}

fn serve_hook(
    mut conn: TcpStream,
    got: &Mutex<Vec<String>>,
    delay: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let (mut id, mut len) = (String::new(), 0usize);
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "webhook-id" => id = v.trim().to_string(),
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        std::thread::sleep(Duration::from_millis(delay.load(Ordering::Relaxed)));
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
        got.lock().unwrap().push(id);
    }
}

/// `scripts/otlp-receiver.py` (the official protobuf definitions) on a free port.
fn otlp_receiver() -> (u16, Killed) {
    let mut rx = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/otlp-receiver.py"
        ))
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("otlp receiver");
    let mut line = String::new();
    BufReader::new(rx.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .trim_start_matches("listening on ")
        .parse()
        .unwrap();
    (port, Killed(rx))
}

/// One HTTP/1.1 request; `None` when the connection failed or was cut (the server is down).
fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.get(9..12)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    Some((status, body.to_string()))
}

/// Sends `body` until a 2xx answers it, through restarts; panics on a 4xx/5xx answer.
fn until_answered(addr: &str, method: &str, path: &str, token: &str, body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match try_http(addr, method, path, token, body) {
            Some((s, b)) if (200..300).contains(&s) => return b,
            Some((s, b)) => panic!("{method} {path}: {s} {b}"),
            None => {
                assert!(
                    Instant::now() < deadline,
                    "{method} {path}: no answer in 120 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Whether event `id` goes to the webhook: the endpoint takes the fanout and delivery phases'
/// events only (`crash.*`), which keeps the emulator's load within two busy cores.
fn to_webhook(id: &str) -> bool {
    id.starts_with("evt_fanout_") || id.starts_with("evt_deliver_") || id.starts_with("evt_resume_")
}

fn event(id: &str) -> Value {
    let action = if to_webhook(id) {
        "crash.webhook"
    } else {
        "document.opened"
    };
    json!({"event_id": id, "action": action, "actor": {"user_id": "usr_crash"}})
}

/// Ingests `ids` in requests of `per` events, retrying unanswered requests with the same
/// ids: an event is accepted once a 2xx answered it.
fn ingest(addr: &str, token: &str, ids: &[String], per: usize) {
    for chunk in ids.chunks(per) {
        let events: Vec<Value> = chunk.iter().map(|id| event(id)).collect();
        let body = json!({ "events": events }).to_string();
        let answer: Value = serde_json::from_str(&until_answered(
            addr,
            "POST",
            "/v1/audit/events",
            token,
            &body,
        ))
        .unwrap();
        // `accepted` counts the duplicates of a retried request too.
        assert_eq!(answer["accepted"], chunk.len(), "{answer}");
    }
}

/// The `auditctl serve` under test: one fixed address, killed and restarted.
struct Victim {
    ctl: Ctl,
    addr: String,
    args: Vec<String>,
    log: std::path::PathBuf,
    child: Option<Child>,
    rng: fastrand::Rng,
    kills: BTreeMap<&'static str, usize>,
    /// From spawn to the API accepting connections, per start.
    starts: Vec<Duration>,
}

impl Victim {
    fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let began = Instant::now();
        let child = self
            .ctl
            .cmd()
            .args(["serve", "--addr", &self.addr])
            .args(&self.args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("serve");
        self.child = Some(child);
        let deadline = began + Duration::from_secs(60);
        while TcpStream::connect(&self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "serve did not start: {:?}",
                self.log
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.starts.push(began.elapsed());
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reaps it.
    fn kill(&mut self, phase: &'static str) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
        *self.kills.entry(phase).or_default() += 1;
    }

    fn restart(&mut self, phase: &'static str) {
        self.kill(phase);
        self.start();
    }

    fn pause(&mut self, lo_ms: u64, hi_ms: u64) {
        std::thread::sleep(Duration::from_millis(self.rng.u64(lo_ms..hi_ms)));
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Every event id each destination holds, one entry per copy.
#[derive(Debug, Default)]
struct Held {
    webhook: Vec<String>,
    otlp: Vec<String>,
    s3: Vec<String>,
    export: Vec<String>,
}

/// Every event id in the JSONL objects of `bucket` under `prefix`.
async fn jsonl_ids(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            let key = o.key().unwrap();
            if !key.ends_with(".jsonl") {
                continue;
            }
            let body = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            let bytes = body.body.collect().await.unwrap().into_bytes();
            for line in String::from_utf8(bytes.to_vec()).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                if let Some(id) = v["event_id"].as_str() {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids
}

/// `(distinct, copies beyond one, missing)` of `expected` in `held`, per phase.
fn tally(expected: &[String], held: &[String]) -> BTreeMap<&'static str, (usize, usize, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in held {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let mut out = BTreeMap::new();
    for phase in PHASES {
        let mine = expected
            .iter()
            .filter(|id| id.starts_with(&format!("evt_{phase}_")));
        let e: &mut (usize, usize, usize) = out.entry(phase).or_default();
        for id in mine {
            match counts.get(id.as_str()) {
                Some(n) => {
                    e.0 += 1;
                    e.1 += n - 1;
                }
                None => e.2 += 1,
            }
        }
    }
    out
}

fn distinct(ids: &[String]) -> HashSet<&str> {
    ids.iter().map(String::as_str).collect()
}

#[test]
fn serve_killed_at_random_points_delivers_every_accepted_event_exactly_once() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let rounds: usize = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!("crash seed: {seed} (CRASH_SEED={seed} replays it), {rounds} kills per phase");
    let began = Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sdk = rt.block_on(support::sdk());
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let s3 = rt.block_on(support::customer_s3());
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);

    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let name = format!("crash{}", std::process::id());
    // Queues of this test's own, so no other `serve` takes its messages.
    let queue = |suffix: &str| format!("{endpoint}/123456789012/{name}-{suffix}");
    let ctl = Ctl::new("crash")
        .with_env("AUDITRELAY_DELIVERIES_QUEUE_URL", &queue("deliveries"))
        .with_env("AUDITRELAY_FLUSH_QUEUE_URL", &queue("flush"))
        .with_env("AUDITRELAY_EXPORT_QUEUE_URL", &queue("exports"))
        .with_env("AUDITRELAY_FLUSH_SETTLE_SECS", "0")
        .with_env("AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS", "1")
        .with_env(
            "RUST_LOG",
            &std::env::var("CRASH_SERVE_LOG").unwrap_or("warn".into()),
        );
    ctl.json(&["provision"]);
    // A message the killed process had received comes back after this, when its claims
    // have expired (the delivery lease is 20 s; the export job's is twice its budget).
    rt.block_on(async {
        for (suffix, secs) in [("deliveries", "30"), ("exports", "25")] {
            sqs.set_queue_attributes()
                .queue_url(queue(suffix))
                .attributes(QueueAttributeName::VisibilityTimeout, secs)
                .send()
                .await
                .unwrap();
        }
    });
    let org: CliOrg = ctl.org_with_keys("Crash Org");
    let bucket = format!("{name}-stream");
    let export_bucket = format!("{name}-jobs");
    rt.block_on(async {
        for b in [&bucket, &export_bucket] {
            s3.create_bucket().bucket(b).send().await.unwrap();
        }
    });
    let hooks = hooks();
    let (otlp_port, _otlp) = otlp_receiver();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("{name}-serve.log"));
    let _ = std::fs::remove_file(&log);
    let mut v = Victim {
        ctl,
        addr: addr.clone(),
        args: [
            "--flush-interval",
            "1",
            "--flush-lease",
            "3",
            "--export-budget",
            "10",
            "--delivery-lease",
            "20",
        ]
        .map(String::from)
        .to_vec(),
        log,
        child: None,
        rng: fastrand::Rng::with_seed(seed),
        kills: BTreeMap::new(),
        starts: Vec::new(),
    };
    v.start();
    let owner = org.owner.clone();
    let writer = org.writer.clone();
    let admin = |path: &str, body: Value| {
        until_answered(
            &addr,
            "POST",
            &format!("/orgs/{}/audit-export/{path}", org.org_id),
            &owner,
            &body.to_string(),
        )
    };
    admin(
        "webhooks",
        json!({"url": hooks.url, "actions": ["crash.*"]}),
    );
    admin(
        "otel",
        json!({"endpointUrl": format!("http://127.0.0.1:{otlp_port}"), "maxBatchSize": 50}),
    );
    admin(
        "config",
        json!({
            "bucket": bucket, "region": "us-east-1", "prefix": "stream",
            "roleArn": "arn:aws:iam::123456789012:role/AuditRelayExport", "format": "jsonl",
        }),
    );
    let mut expected: Vec<String> = Vec::new();
    let ids = |phase: &str, from: usize, n: usize| -> Vec<String> {
        (from..from + n)
            .map(|i| format!("evt_{phase}_{i:04}"))
            .collect()
    };

    // 1. A 500-event ingest in requests of 10, killed at random points while it runs.
    let batch = ids("ingest", 0, 500);
    let client = {
        let (addr, writer, batch) = (addr.clone(), writer.clone(), batch.clone());
        std::thread::spawn(move || ingest(&addr, &writer, &batch, 10))
    };
    for _ in 0..rounds {
        v.pause(300, 2500);
        if client.is_finished() {
            break;
        }
        v.restart("ingest");
    }
    client.join().unwrap();
    expected.extend(batch);

    let progress = |phase: &str| {
        println!(
            "crash: {phase} done at {:.1} s, {} events at the webhook",
            began.elapsed().as_secs_f64(),
            distinct(&hooks.ids.lock().unwrap()).len()
        )
    };
    progress("ingest");

    // 2. An export job of the ingested events, killed while it writes. Its lease holds it for
    //    twice its budget after a kill: the next phases run meanwhile.
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let exported = expected.clone();
    let job: Value = serde_json::from_str(&until_answered(
        &addr,
        "POST",
        "/v1/audit/export",
        &owner,
        &json!({
            "from": fmt(now - time::Duration::hours(1)),
            "to": fmt(now),
            "format": "jsonl",
            "destination": {"type": "s3", "bucket": export_bucket, "prefix": "jobs",
                            "region": "us-east-1",
                            "roleArn": "arn:aws:iam::123456789012:role/AuditRelayExport"},
        })
        .to_string(),
    ))
    .unwrap();
    let export_id = job["export_id"].as_str().unwrap().to_string();
    for _ in 0..rounds.div_ceil(3) {
        v.pause(300, 2000);
        v.restart("export");
    }

    // 3. The fanout: each round ingests 20 events and is killed while they are fanned out.
    for r in 0..rounds {
        let batch = ids("fanout", r * 20, 20);
        ingest(&addr, &writer, &batch, 20);
        expected.extend(batch);
        v.pause(0, 800);
        v.restart("fanout");
    }

    progress("fanout");

    // 4. Webhook and OTLP delivery, slowed down at the webhook receiver: killed once the
    //    round's first deliveries arrive.
    hooks.delay_ms.store(20, Ordering::Relaxed);
    for r in 0..rounds {
        let batch = ids("deliver", r * 20, 20);
        ingest(&addr, &writer, &batch, 20);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !batch
            .iter()
            .any(|id| distinct(&hooks.ids.lock().unwrap()).contains(id.as_str()))
        {
            assert!(Instant::now() < deadline, "round {r}: no delivery in 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        expected.extend(batch);
        v.pause(0, 1500);
        v.restart("deliver");
    }
    hooks.delay_ms.store(0, Ordering::Relaxed);

    progress("deliver");

    // 5. The S3 flush (every second, no settle time): killed at random points while it runs.
    for r in 0..rounds {
        let batch = ids("flush", r * 30, 30);
        ingest(&addr, &writer, &batch, 30);
        expected.extend(batch);
        v.pause(200, 2500);
        v.restart("flush");
    }

    progress("flush");
    let kills_done = began.elapsed();

    // Drained: every destination holds every expected event, the deliveries queue is empty,
    // the export job is completed.
    let drain_began = Instant::now();
    let deadline = drain_began + Duration::from_secs(240);
    let want: HashSet<&str> = expected.iter().map(String::as_str).collect();
    let want_hook: HashSet<&str> = want.iter().copied().filter(|id| to_webhook(id)).collect();
    let expected_hook: Vec<String> = want_hook.iter().map(|s| s.to_string()).collect();
    let want_export: HashSet<&str> = exported.iter().map(String::as_str).collect();
    let read_all = |hooks: &Hooks| -> Held {
        let otlp: Value = serde_json::from_str(
            &try_http(
                &format!("127.0.0.1:{otlp_port}"),
                "GET",
                "/control/requests",
                "",
                "",
            )
            .unwrap()
            .1,
        )
        .unwrap();
        let otlp = otlp
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["records"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| {
                r["attributes"]["log.record.uid"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        let webhook = hooks.ids.lock().unwrap().clone();
        rt.block_on(async {
            Held {
                webhook,
                otlp,
                s3: jsonl_ids(&s3, &bucket, "stream/").await,
                export: jsonl_ids(&s3, &export_bucket, &format!("jobs/exports/{export_id}/")).await,
            }
        })
    };
    let queue_depth = || {
        rt.block_on(async {
            let a = sqs
                .get_queue_attributes()
                .queue_url(queue("deliveries"))
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .unwrap();
            a.attributes()
                .unwrap()
                .values()
                .map(|n| n.parse::<u64>().unwrap())
                .sum::<u64>()
        })
    };
    let job_status = || -> String {
        let (_, body) = try_http(
            &addr,
            "GET",
            &format!("/v1/audit/exports/{export_id}"),
            &owner,
            "",
        )
        .unwrap_or_default();
        serde_json::from_str::<Value>(&body).unwrap_or_default()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let mut report_at = drain_began + Duration::from_secs(15);
    let mut complete_at: Option<Instant> = None;
    let mut left_in_queue = 0;
    let held = loop {
        let held = read_all(&hooks);
        let complete = want_hook.is_subset(&distinct(&held.webhook))
            && want.is_subset(&distinct(&held.otlp))
            && want.is_subset(&distinct(&held.s3))
            && job_status() == "completed";
        let complete_since = *complete_at.get_or_insert_with(Instant::now);
        if !complete {
            complete_at = None;
        }
        // The queue empties once what the killed processes held is redelivered and dropped as
        // already delivered; a message waiting out a retry delay is given 30 s, then reported.
        let depth = queue_depth();
        if complete && (depth == 0 || complete_since.elapsed() > Duration::from_secs(30)) {
            left_in_queue = depth;
            // Late copies (a redelivered message) would show within a flush or two.
            std::thread::sleep(Duration::from_secs(3));
            break read_all(&hooks);
        }
        if Instant::now() > deadline {
            break held;
        }
        if Instant::now() >= report_at {
            report_at += Duration::from_secs(15);
            let missing = |held: &[String], want: &HashSet<&str>| {
                want.len() - distinct(held).intersection(want).count()
            };
            println!(
                "crash: draining {:.0} s: missing webhook {}, otlp {}, s3 {}; export job {}; deliveries queue {}",
                drain_began.elapsed().as_secs_f64(),
                missing(&held.webhook, &want_hook),
                missing(&held.otlp, &want),
                missing(&held.s3, &want),
                job_status(),
                queue_depth()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let drained = drain_began.elapsed();

    // The report.
    let total_kills: usize = v.kills.values().sum();
    println!(
        "crash: {} events accepted, {total_kills} kills {:?}, kills over in {:.1} s, drained {:.1} s later ({left_in_queue} messages still waiting in the deliveries queue)",
        expected.len(),
        v.kills,
        kills_done.as_secs_f64(),
        drained.as_secs_f64()
    );
    let starts: Vec<f64> = v.starts.iter().map(Duration::as_secs_f64).collect();
    println!(
        "crash: serve accepting again {:.2}–{:.2} s after a restart",
        starts.iter().cloned().fold(f64::MAX, f64::min),
        starts.iter().cloned().fold(0.0, f64::max)
    );
    let mut bad = Vec::new();
    for (dest, ids, exp) in [
        ("webhook", &held.webhook, &expected_hook),
        ("otlp", &held.otlp, &expected),
        ("s3", &held.s3, &expected),
        ("export", &held.export, &exported),
    ] {
        let per_event_copies = if dest == "webhook" || dest == "otlp" {
            // Raw receipts: a redelivery after a kill reuses the id; reported, not judged.
            format!("{} raw receipts", ids.len())
        } else {
            format!("{} rows", ids.len())
        };
        println!("crash: {dest}: {per_event_copies}");
        for (phase, (held_n, doubled, lost)) in tally(exp, ids) {
            if held_n + lost == 0 {
                continue;
            }
            println!(
                "crash:   {dest:<7} {phase:<7} kills {:>2}  events {:>4}  lost {lost}  {} {doubled}",
                v.kills.get(phase).copied().unwrap_or(0),
                held_n + lost,
                if dest == "webhook" || dest == "otlp" {
                    "redelivered"
                } else {
                    "doubled"
                }
            );
            if lost > 0 || (doubled > 0 && (dest == "s3" || dest == "export")) {
                bad.push(format!("{dest}/{phase}: lost {lost}, doubled {doubled}"));
            }
        }
        let unknown: HashSet<&str> = distinct(ids)
            .difference(match dest {
                "export" => &want_export,
                "webhook" => &want_hook,
                _ => &want,
            })
            .copied()
            .collect();
        if !unknown.is_empty() {
            bad.push(format!("{dest}: events never sent: {unknown:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "seed {seed}: {bad:?} (export job {}; serve log {:?})",
        job_status(),
        v.log
    );

    // The summary counters, the stream's other consumer, were killed with the rest: each
    // accepted event is counted once (a count above the events would be a double count).
    let deadline = Instant::now() + Duration::from_secs(120);
    let counted = loop {
        let body = until_answered(&v.addr, "GET", "/v1/audit/summary", &owner, "");
        let total = serde_json::from_str::<Value>(&body).unwrap()["total_events"]
            .as_u64()
            .unwrap();
        if total >= expected.len() as u64 || Instant::now() > deadline {
            break total;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    println!(
        "crash: summary: {counted} events counted of {} accepted",
        expected.len()
    );
    assert_eq!(
        counted,
        expected.len() as u64,
        "seed {seed}: the summary counts every accepted event once"
    );

    // How long a restart takes to resume the stream: a new event's webhook after a restart
    // with the persisted position, then with the position deleted (the old behaviour: the
    // whole stream is read again, every event fanned out again and suppressed downstream).
    let resume = |v: &mut Victim, forget: bool, id: &str| -> Duration {
        v.kill("resume");
        if forget {
            rt.block_on(forget_positions(
                &ddb,
                &format!("{}-config", v.ctl.prefix()),
            ));
        }
        let began = Instant::now();
        v.start();
        ingest(&v.addr, &writer, &[id.to_string()], 1);
        let deadline = began + Duration::from_secs(300);
        while !distinct(&hooks.ids.lock().unwrap()).contains(id) {
            assert!(Instant::now() < deadline, "{id} not delivered in 300 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        began.elapsed()
    };
    let n = expected.len();
    let kept = resume(&mut v, false, "evt_resume_kept");
    println!(
        "crash: restart after {n} events with the recorded stream position: a new event delivered {:.1} s after spawn",
        kept.as_secs_f64(),
    );
    let mut sent = 1;
    if std::env::var_os("CRASH_REREAD").is_some() {
        let forgot = resume(&mut v, true, "evt_resume_forgot");
        println!(
            "crash: restart after {n} events reading the stream from its start: a new event delivered {:.1} s after spawn",
            forgot.as_secs_f64(),
        );
        sent += 1;
    }
    let after = distinct(&hooks.ids.lock().unwrap()).len();
    assert_eq!(
        after,
        want_hook.len() + sent,
        "re-reading the stream delivered nothing twice"
    );
    println!("crash: total {:.1} s", began.elapsed().as_secs_f64());
}

/// Deletes the stream positions the pollers of `config_table` recorded.
async fn forget_positions(ddb: &aws_sdk_dynamodb::Client, config_table: &str) {
    let out = ddb
        .query()
        .table_name(config_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("STREAM#POSITION".into()))
        .send()
        .await
        .unwrap();
    assert!(!out.items().is_empty(), "the poller recorded a position");
    for item in out.items() {
        ddb.delete_item()
            .table_name(config_table)
            .key("pk", item["pk"].clone())
            .key("sk", item["sk"].clone())
            .send()
            .await
            .unwrap();
    }
}
