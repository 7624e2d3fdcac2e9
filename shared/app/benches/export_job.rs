//! CPU cost of an export job's encoding: 10,000 stored events through the streaming file
//! writer, taken into an upload buffer event by event as the runner does, in each of the
//! job's formats (`cargo bench -p relay-app --bench export_job`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relay_app::files::{FileWriter, StoredEvent};
use relay_core::model::file_format::FileFormat;
use relay_core::shapes::{Schema, ShapeContext};

fn events(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "event_id": format!("evt_01HXYZ{i:020}"),
                "timestamp": "2026-05-22T10:30:00Z",
                "action": "document.opened",
                "actor": {"user_id": format!("usr_{}", i % 97), "email": "jane@example.com",
                    "ip_address": "203.0.113.42", "user_agent": "Mozilla/5.0 (X11; Linux, \"x\")"},
                "resource": {"type": "document", "id": format!("doc_{i}"),
                    "name": if i % 10 == 0 { "=SUM(A1)" } else { "Contract_v2.docx" }},
                "tenant_id": "ten_01ABCDEFG",
                "success": i % 7 != 0,
                "duration_ms": i % 1000,
                "metadata": {"via": "share-link", "n": i},
                "received_at": "2026-05-22T10:30:00.123Z"
            })
            .to_string()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = events(10_000);
    let mut g = c.benchmark_group("export_job_10000_events");
    g.throughput(Throughput::Elements(docs.len() as u64));
    let ctx = ShapeContext::new("ten_01ABCDEFG");
    for (schema, format) in [
        (Schema::Canonical, FileFormat::Jsonl),
        (Schema::Canonical, FileFormat::JsonlGz),
        (Schema::Columnar, FileFormat::Csv),
        (Schema::Columnar, FileFormat::CsvGz),
        (Schema::Columnar, FileFormat::Parquet),
        (Schema::Ocsf, FileFormat::Jsonl),
    ] {
        let name = format!("{}_{}", schema.as_str(), format.as_str());
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut w = FileWriter::new(schema, format, ctx.clone()).expect("writer");
                let mut out = Vec::with_capacity(8 << 20);
                for d in &docs {
                    w.push(&StoredEvent {
                        doc: d,
                        received_at: "",
                    })
                    .expect("push");
                    w.take(&mut out);
                }
                out.extend(w.finish().expect("finish"));
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
