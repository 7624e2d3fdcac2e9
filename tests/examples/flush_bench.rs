//! End-to-end flush figure: loads N events for one org straight into the events table
//! (BatchWriteItem, as the API would have stored them), then times one flush into a bucket and
//! reports events/s, objects, and the flush's peak memory (the process's high-water mark is
//! reset when the flush starts, so the loader's memory does not count). The bucket is on moto's S3
//! through a role (`s3`, the default), or on the emulators `scripts/with-moto.sh` starts:
//! `s3compat` (a second moto, an access key), `gcs`, `azure` (stored credentials).
//!
//! `make bench` runs it: `flush_bench [N=200000] [jsonl|gz|csv|parquet] [s3|s3compat|gcs|azure]` (CSV and
//! Parquet carry the columnar shape).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use std::time::{Duration, Instant};

use relay_app::destinations::s3_stream::flush::{FlushOutcome, FlushSettings, Flusher};
use relay_app::pipeline::pause::Notifier;
use relay_core::model::bucket::FieldNames;
use relay_core::model::event::{rfc3339_millis, sortable_time};
use relay_core::model::file_format::FileFormat;
use relay_core::model::s3_stream::{S3ConfigInput, S3Destination};
use relay_store::s3_stream::Verification;
use serde_json::json;
use support::bench::{peak_rss_mib, reset_peak_rss, rss_mib, BenchWorld};
use support::stores::{self, StoreKind};
use time::OffsetDateTime;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let format = match std::env::args().nth(2).as_deref() {
        Some("gz") => FileFormat::JsonlGz,
        Some("parquet") => FileFormat::Parquet,
        Some("csv") => FileFormat::Csv,
        _ => FileFormat::Jsonl,
    };
    let kind = match std::env::args().nth(3).as_deref() {
        None | Some("s3") => None,
        Some("s3compat") => Some(StoreKind::S3Compat),
        Some("gcs") => Some(StoreKind::Gcs),
        Some("azure") => Some(StoreKind::Azure),
        Some(other) => return Err(format!("unknown store {other}").into()),
    };
    let start = OffsetDateTime::now_utc();
    let mut world = BenchWorld::new("bench", start).await?;
    world.config.credentials_key_id = Some(support::credentials_key(&world.clients.sdk).await);
    let (store, org) = (&world.store, &world.org);
    let target = match kind {
        None => world.target(),
        Some(kind) => {
            let bucket = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
            stores::create_bucket(kind, &bucket).await;
            let name = "bench-key";
            relay_app::credentials::put(
                store,
                world.buckets().sealer(),
                &org.org_id,
                stores::credential_body(kind, name),
                start,
            )
            .await?;
            let input: S3ConfigInput =
                serde_json::from_value(stores::config_body(kind, &bucket, name))?;
            let mut target = input.validate()?.target;
            world
                .buckets()
                .prepare(store, &org.org_id, &mut target, FieldNames::CONFIG)
                .await?;
            target
        }
    };
    let dest = S3Destination {
        target,
        format,
        schema: format.default_schema(),
        layout: Default::default(),
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
    // The flush's own peak: start a new high-water mark from what the process holds now.
    let reset = reset_peak_rss();
    let rss_at_flush = rss_mib();

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
        .flush_org(&org.org_id, Instant::now() + Duration::from_secs(3600))
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
            "store": std::env::args().nth(3).unwrap_or_else(|| "s3".into()),
            "load_secs": (load_secs * 10.0).round() / 10.0,
            "flush_status": run.status,
            "flush_events": run.event_count,
            "objects": run.object_keys.len(),
            "bytes": run.bytes,
            "flush_secs": (secs * 100.0).round() / 100.0,
            "flush_events_per_sec": (run.event_count as f64 / secs).round(),
            "peak_rss_mib_while_loading": (rss_before * 10.0).round() / 10.0,
            "rss_mib_when_the_flush_starts": (rss_at_flush * 10.0).round() / 10.0,
            "peak_rss_mib_during_flush": if reset { json!((peak_rss_mib() * 10.0).round() / 10.0) } else { json!(null) },
        }))?
    );
    Ok(())
}
