//! CPU cost of an S3 batch: validating-free encoding of 1,000 canonical events as JSONL, and
//! as gzip-compressed JSONL (`cargo bench -p relay-app --bench export`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relay_app::destinations::s3_stream::encode::encode;
use relay_core::model::s3_stream::ExportFormat;

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
    let mut g = c.benchmark_group("s3_batch_1000_events");
    g.throughput(Throughput::Elements(docs.len() as u64));
    for format in [ExportFormat::Jsonl, ExportFormat::JsonlGz] {
        g.bench_function(format.as_str(), |b| {
            b.iter(|| encode(docs.iter().map(String::as_str), format).expect("encode"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
