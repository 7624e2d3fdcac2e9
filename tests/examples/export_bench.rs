//! End-to-end export-job figure against moto: loads N events for one org straight into the
//! events table (BatchWriteItem, as the API would have stored them), then times one export
//! job (any format of the file table, in the format's default schema, parts of 100,000
//! records) into a bucket and reports records/s, files and the process's peak memory.
//!
//! `make bench` runs it (moto started for it):
//! `export_bench [N=100000] [jsonl|jsonl.gz|csv|csv.gz|parquet]`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use std::time::{Duration, Instant};

use relay_app::destinations::export_job::queue::JobMessage;
use relay_app::destinations::export_job::run::{ExportRunner, ExportSettings, RunOutcome};
use relay_core::model::event::rfc3339_millis;
use relay_core::model::export_job::{bound, ExportJob, JobStatus};
use relay_core::model::file_format::FileFormat;
use serde_json::json;
use support::bench::{peak_rss_mib, BenchWorld};
use time::OffsetDateTime;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let format = std::env::args()
        .nth(2)
        .and_then(|f| FileFormat::parse(&f))
        .unwrap_or(FileFormat::Jsonl);
    let now = OffsetDateTime::now_utc();
    let world = BenchWorld::new("xbench", now).await?;
    let (store, org) = (&world.store, &world.org);
    let start = now - time::Duration::days(2);
    let t_load = Instant::now();
    world
        .load(n, now, |i| {
            json!({"event_id": format!("evt_bench_{i:08}"),
                "timestamp": rfc3339_millis(start + time::Duration::milliseconds(i as i64 * 500)),
                "action": "document.opened", "actor": {"user_id": format!("usr_{}", i % 97), "email": "jane@example.com", "ip_address": "203.0.113.42"},
                "resource": {"type": "document", "id": format!("doc_{i}"), "name": "Contract_v2.docx"},
                "metadata": {"n": i}})
        })
        .await;
    let load_secs = t_load.elapsed().as_secs_f64();
    let rss_before = peak_rss_mib();

    let job = ExportJob {
        export_id: relay_core::model::ids::ExportId::generate(),
        org_id: org.org_id.clone(),
        status: JobStatus::Queued,
        schema: format.default_schema(),
        format,
        from: bound(start),
        to: bound(now),
        filters: vec![],
        dest: world.target(),
        estimated_records: n as u64,
        record_count: 0,
        files: vec![],
        manifest_key: None,
        manifest_seal: None,
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
        world.clients.clone(),
        world.buckets(),
        relay_app::pipeline::pause::Notifier::new(world.clients.sns.clone(), None),
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
            "schema": format.default_schema().as_str(),
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
