//! End-to-end S3 flush figure against moto: loads N events for one org straight into the
//! events table (BatchWriteItem, as the API would have stored them), then times one flush
//! into a bucket and reports events/s, objects, and the process's peak memory.
//!
//! `make bench` runs it (moto started for it): `flush_bench [N=200000]`.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::stream::{self, StreamExt};
use serde_json::json;
use shared::clients::Clients;
use shared::export::flush::{FlushOutcome, FlushSettings, Flusher};
use shared::ingest::validate_body;
use shared::model::event::{rfc3339_millis, sortable_time};
use shared::model::export::{ExportFormat, S3Destination};
use shared::notify::Notifier;
use shared::store::{events::event_item, schema, Store};
use shared::Config;
use time::OffsetDateTime;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let format = match std::env::args().nth(2).as_deref() {
        Some("gz") => ExportFormat::JsonlGz,
        _ => ExportFormat::Jsonl,
    };
    let clients = Clients::from_env().await;
    let prefix = format!("bench{}", ulid::Ulid::new().to_string().to_lowercase());
    let config = Config::with_prefix(&prefix);
    schema::ensure_table(&clients.ddb, &config.events_table, &schema::events_table()).await?;
    schema::ensure_table(&clients.ddb, &config.config_table, &schema::config_table()).await?;
    let store = Store::new(clients.ddb.clone(), &config);
    let start = OffsetDateTime::now_utc();
    let org = store
        .create_org("Bench", None, None, &rfc3339_millis(start))
        .await?;
    let bucket = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&clients.sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(&bucket).send().await?;
    let dest = S3Destination {
        bucket: bucket.clone(),
        region: "us-east-1".into(),
        role_arn: "arn:aws:iam::123456789012:role/bench".into(),
        prefix: "audit-logs".into(),
        format,
    };
    let wm = sortable_time(start - time::Duration::seconds(1));
    store
        .upsert_s3_config(&org.org_id, &dest, true, &rfc3339_millis(start), &wm)
        .await?;

    let t_load = Instant::now();
    let chunks: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(25)
        .map(<[usize]>::to_vec)
        .collect();
    let loaded: usize = stream::iter(chunks)
        .map(|chunk| {
            let store = store.clone();
            let org = org.clone();
            let table = config.events_table.clone();
            async move {
                let now = OffsetDateTime::now_utc();
                let mut reqs = Vec::new();
                for i in &chunk {
                    let body = json!({"event_id": format!("evt_bench_{i:08}"), "timestamp": "2026-05-22T10:30:00Z",
                        "action": "document.opened", "actor": {"user_id": format!("usr_{}", i % 97), "email": "jane@example.com", "ip_address": "203.0.113.42"},
                        "resource": {"type": "document", "id": format!("doc_{i}"), "name": "Contract_v2.docx"}});
                    let ev = validate_body(body, &org, now).expect("valid").remove(0);
                    let put = PutRequest::builder().set_item(Some(event_item(&org.org_id, &ev, 0))).build().expect("put");
                    reqs.push(WriteRequest::builder().put_request(put).build());
                }
                let mut pending = Some(reqs);
                while let Some(r) = pending.take() {
                    let out = store.client().batch_write_item().request_items(&table, r).send().await.expect("batch write");
                    pending = out.unprocessed_items().and_then(|m| m.get(&table)).filter(|v| !v.is_empty()).cloned();
                }
                chunk.len()
            }
        })
        .buffer_unordered(8)
        .fold(0, |a, b| async move { a + b })
        .await;
    let load_secs = t_load.elapsed().as_secs_f64();
    let rss_before = peak_rss_mib();

    let settings = FlushSettings {
        settle: Duration::from_millis(10),
        ..FlushSettings::default()
    };
    let flusher = Flusher::new(
        store.clone(),
        clients.clone(),
        Notifier::new(clients.sns.clone(), None),
        None,
        settings,
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    let outcome = flusher
        .flush_org(&org.org_id, Instant::now() + Duration::from_secs(900))
        .await?;
    let secs = t.elapsed().as_secs_f64();
    let FlushOutcome::Ran(run) = outcome else {
        return Err(format!("flush did not run: {outcome:?}").into());
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "events": loaded,
            "format": format.as_str(),
            "load_secs": (load_secs * 10.0).round() / 10.0,
            "flush_status": run.status,
            "flush_events": run.event_count,
            "objects": run.object_keys.len(),
            "bytes": run.bytes,
            "flush_secs": (secs * 100.0).round() / 100.0,
            "flush_events_per_sec": (run.event_count as f64 / secs).round(),
            "peak_rss_mib_before_flush": (rss_before * 10.0).round() / 10.0,
            "peak_rss_mib_after_flush": (peak_rss_mib() * 10.0).round() / 10.0,
        }))?
    );
    Ok(())
}
