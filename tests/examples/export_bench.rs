//! End-to-end export-job figure against moto: loads N events for one org straight into the
//! events table (BatchWriteItem, as the API would have stored them), then times one export
//! job (JSONL or CSV, parts of 100,000 records) into a bucket and reports records/s, files
//! and the process's peak memory.
//!
//! `make bench` runs it (moto started for it): `export_bench [N=100000] [jsonl|csv]`.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::stream::{self, StreamExt};
use serde_json::json;
use shared::clients::Clients;
use shared::export_job::queue::JobMessage;
use shared::export_job::run::{ExportRunner, ExportSettings, RunOutcome};
use shared::ingest::validate_body;
use shared::model::event::rfc3339_millis;
use shared::model::export_job::{bound, ExportJob, JobDestination, JobFormat, JobStatus};
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
        .unwrap_or(100_000);
    let format = match std::env::args().nth(2).as_deref() {
        Some("csv") => JobFormat::Csv,
        _ => JobFormat::Jsonl,
    };
    let clients = Clients::from_env().await;
    let prefix = format!("xbench{}", ulid::Ulid::new().to_string().to_lowercase());
    let config = Config::with_prefix(&prefix);
    schema::ensure_table(&clients.ddb, &config.events_table, &schema::events_table()).await?;
    schema::ensure_table(&clients.ddb, &config.config_table, &schema::config_table()).await?;
    let store = Store::new(clients.ddb.clone(), &config);
    let now = OffsetDateTime::now_utc();
    let org = store
        .create_org("Bench", None, None, &rfc3339_millis(now))
        .await?;
    let bucket = format!("xbench-{}", ulid::Ulid::new().to_string().to_lowercase());
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&clients.sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(&bucket).send().await?;

    let start = now - time::Duration::days(2);
    let t_load = Instant::now();
    let idx: Vec<usize> = (0..n).collect();
    stream::iter(idx.chunks(25).map(<[usize]>::to_vec))
        .map(|chunk| {
            let (store, org, table) = (store.clone(), org.clone(), config.events_table.clone());
            async move {
                let reqs: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|&i| {
                        let body = json!({"event_id": format!("evt_bench_{i:08}"),
                            "timestamp": rfc3339_millis(start + time::Duration::milliseconds(i as i64 * 500)),
                            "action": "document.opened", "actor": {"user_id": format!("usr_{}", i % 97), "email": "jane@example.com", "ip_address": "203.0.113.42"},
                            "resource": {"type": "document", "id": format!("doc_{i}"), "name": "Contract_v2.docx"},
                            "metadata": {"n": i}});
                        let ev = validate_body(body, &org, now).expect("valid").remove(0);
                        let put = PutRequest::builder().set_item(Some(event_item(&org.org_id, &ev, 0))).build().expect("put");
                        WriteRequest::builder().put_request(put).build()
                    })
                    .collect();
                let mut pending = Some(reqs);
                while let Some(r) = pending.take() {
                    let out = store.client().batch_write_item().request_items(&table, r).send().await.expect("batch write");
                    pending = out.unprocessed_items().and_then(|m| m.get(&table)).filter(|v| !v.is_empty()).cloned();
                }
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let load_secs = t_load.elapsed().as_secs_f64();
    let rss_before = peak_rss_mib();

    let job = ExportJob {
        export_id: shared::model::ids::new_id("exp"),
        org_id: org.org_id.clone(),
        status: JobStatus::Queued,
        format,
        from: bound(start),
        to: bound(now),
        filters: vec![],
        dest: JobDestination {
            bucket: bucket.clone(),
            region: "us-east-1".into(),
            role_arn: "arn:aws:iam::123456789012:role/bench".into(),
            prefix: "audit-logs".into(),
        },
        estimated_records: n as u64,
        record_count: 0,
        files: vec![],
        manifest_key: None,
        created_at: rfc3339_millis(now),
        started_at: None,
        completed_at: None,
        error: None,
        position: None,
        upload: None,
        failures: 0,
    };
    store.create_export_job(&job, now.unix_timestamp()).await?;
    let runner = ExportRunner::new(
        store.clone(),
        clients.clone(),
        None,
        None,
        ExportSettings::default(),
    );
    let msg = JobMessage {
        org_id: org.org_id.clone(),
        export_id: job.export_id.clone(),
    };
    let t = Instant::now();
    let outcome = runner
        .run(&msg, Instant::now() + Duration::from_secs(3600))
        .await?;
    let secs = t.elapsed().as_secs_f64();
    let RunOutcome::Completed { records, files } = outcome else {
        return Err(format!("export did not complete: {outcome:?}").into());
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "events": n,
            "format": format.as_str(),
            "load_secs": (load_secs * 10.0).round() / 10.0,
            "records": records,
            "files": files,
            "export_secs": (secs * 100.0).round() / 100.0,
            "records_per_sec": (records as f64 / secs).round(),
            "peak_rss_mib_before_export": (rss_before * 10.0).round() / 10.0,
            "peak_rss_mib_after_export": (peak_rss_mib() * 10.0).round() / 10.0,
        }))?
    );
    Ok(())
}
