//! CPU cost of a batch file per shape and format: 1,000 stored events as canonical JSONL
//! (plain and gzip), columnar CSV, columnar Parquet and OCSF JSONL
//! (`cargo bench -p relay-app --bench export`; throughput is events/s on one core).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relay_app::files::{encode, StoredEvent};
use relay_core::model::file_format::FileFormat;
use relay_core::shapes::{Schema, ShapeContext};

fn events(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "event_id": format!("evt_01HXYZ{i:020}"),
                "timestamp": "2026-05-22T10:30:00Z",
                "action": "document.opened",
                "actor": {"user_id": format!("usr_{}", i % 97), "email": "jane@example.com", "ip_address": "203.0.113.42"},
                "resource": {"type": "document", "id": format!("doc_{i}"), "name": "Contract_v2.docx"},
                "tenant_id": "ten_01ABCDEFG",
                "received_at": "2026-05-22T10:30:00.123Z"
            })
            .to_string()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = events(1000);
    let stored: Vec<StoredEvent<'_>> = docs
        .iter()
        .map(|d| StoredEvent {
            doc: d,
            received_at: "2026-05-22T10:30:00.123456789Z",
        })
        .collect();
    let ctx = ShapeContext::new("ten_01ABCDEFG");
    let mut g = c.benchmark_group("batch_1000_events");
    g.throughput(Throughput::Elements(docs.len() as u64));
    for (schema, format) in [
        (Schema::Canonical, FileFormat::Jsonl),
        (Schema::Canonical, FileFormat::JsonlGz),
        (Schema::Columnar, FileFormat::Csv),
        (Schema::Columnar, FileFormat::Parquet),
        (Schema::Ocsf, FileFormat::Jsonl),
    ] {
        g.bench_function(format!("{}_{}", schema.as_str(), format.as_str()), |b| {
            b.iter(|| encode(&stored, schema, format, &ctx).expect("encode"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
