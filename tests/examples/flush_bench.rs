//! End-to-end S3 flush figure against moto: loads N events for one org straight into the
//! events table (BatchWriteItem, as the API would have stored them), then times one flush
//! into a bucket and reports events/s, objects, and the process's peak memory.
//!
//! `make bench` runs it (moto started for it): `flush_bench [N=200000]`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use std::time::{Duration, Instant};

use relay_app::destinations::s3_stream::flush::{FlushOutcome, FlushSettings, Flusher};
use relay_app::pipeline::pause::Notifier;
use relay_core::model::event::{rfc3339_millis, sortable_time};
use relay_core::model::s3_stream::{ExportFormat, S3Destination};
use relay_store::s3_stream::Verification;
use serde_json::json;
use support::bench::{peak_rss_mib, BenchWorld};
use time::OffsetDateTime;

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
    let start = OffsetDateTime::now_utc();
    let world = BenchWorld::new("bench", start).await?;
    let (store, org) = (&world.store, &world.org);
    let dest = S3Destination {
        target: world.target(),
        format,
    };
    let wm = sortable_time(start - time::Duration::seconds(1));
    store
        .upsert_s3_config(
            &org.org_id,
            &dest,
            true,
            Verification::NotNeeded,
            &rfc3339_millis(start),
            &wm,
        )
        .await?;

    let t_load = Instant::now();
    world
        .load(n, OffsetDateTime::now_utc(), |i| {
            json!({"event_id": format!("evt_bench_{i:08}"), "timestamp": "2026-05-22T10:30:00Z",
                "action": "document.opened", "actor": {"user_id": format!("usr_{}", i % 97), "email": "jane@example.com", "ip_address": "203.0.113.42"},
                "resource": {"type": "document", "id": format!("doc_{i}"), "name": "Contract_v2.docx"}})
        })
        .await;
    let load_secs = t_load.elapsed().as_secs_f64();
    let rss_before = peak_rss_mib();

    let settings = FlushSettings {
        settle: Duration::from_millis(10),
        ..FlushSettings::default()
    };
    let flusher = Flusher::new(
        store.clone(),
        world.buckets(),
        Notifier::new(world.clients.sns.clone(), None),
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
            "events": n,
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
