//! CPU cost of an OTLP export request: canonical events → `ExportLogsServiceRequest` (one
//! LogRecord each, attributes from the event's JSON) → protobuf, and → protobuf + gzip, for
//! requests of 100 and 1,000 records (`cargo bench -p relay-app --bench otel`). Throughput is in
//! records per second.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prost::Message;
use relay_app::destinations::otlp::encode::{encode, export_request};
use relay_core::shapes::{Schema, ShapeContext};

/// The documented example event with every optional field set (about 560 bytes of JSON).
fn events(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "event_id": format!("evt_01HXYZ{i:020}"),
                "timestamp": "2026-05-22T10:30:00Z",
                "action": "document.opened",
                "actor": {"user_id": format!("usr_{}", i % 97), "email": "jane@example.com",
                          "ip_address": "203.0.113.42", "type": "user", "user_agent": "Mozilla/5.0"},
                "resource": {"type": "document", "id": format!("doc_{i}"), "name": "Contract_v2.docx"},
                "tenant_id": "ten_01ABCDEFG",
                "project": "prj_website", "success": i % 10 != 0, "request_id": format!("req_{i}"),
                "duration_ms": 12,
                "metadata": {"via": "share-link"},
                "received_at": "2026-05-22T10:30:00.123Z"
            })
            .to_string()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("otlp_request");
    for n in [100usize, 1000] {
        let docs = events(n);
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("protobuf", n), &refs, |b, refs| {
            b.iter(|| {
                export_request(refs, Schema::Canonical, &ShapeContext::new(""))
                    .expect("records")
                    .encode_to_vec()
            })
        });
        g.bench_with_input(BenchmarkId::new("protobuf_gzip", n), &refs, |b, refs| {
            b.iter(|| encode(refs, Schema::Canonical, &ShapeContext::new("")).expect("encode"))
        });
    }
    g.finish();
    // Sizes, for the README: bytes per record before and after compression.
    let docs = events(1000);
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let body = encode(&refs, Schema::Canonical, &ShapeContext::new("")).expect("encode");
    let json: usize = docs.iter().map(String::len).sum();
    println!(
        "1000 records: canonical JSON {json} B, protobuf {} B, gzip {} B ({:.0} B per record on the wire)",
        body.raw_len,
        body.bytes.len(),
        body.bytes.len() as f64 / 1000.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
