//! Signing throughput: what one delivery costs in HMACs (`cargo bench -p relay-core --bench signing`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relay_core::signing::{sign, WebhookSecret};
use std::hint::black_box;

/// A typical canonical event (the documented example, ~420 bytes).
const BODY: &[u8] = br#"{"event_id":"evt_01HXYZABCDEF","timestamp":"2026-05-22T10:30:00Z","action":"document.opened","actor":{"user_id":"usr_01ABCDEFG","email":"jane@example.com","ip_address":"203.0.113.42"},"resource":{"type":"document","id":"doc_01ABCDEF","name":"Contract_v2.docx"},"tenant_id":"ten_01ABCDEFG","received_at":"2026-05-22T10:30:00.120Z"}"#;

fn signing(c: &mut Criterion) {
    let current = WebhookSecret::generate().expect("secret");
    let previous = WebhookSecret::generate().expect("secret");
    let mut g = c.benchmark_group("signing");
    g.throughput(Throughput::Elements(1));
    g.bench_function("standard_webhooks_v1_signature", |b| {
        b.iter(|| {
            current.sign_standard(
                black_box("evt_01HXYZABCDEF"),
                1_779_445_800,
                black_box(BODY),
            )
        })
    });
    g.bench_function("delivery_headers_one_secret", |b| {
        b.iter(|| {
            sign(
                &[&current],
                black_box("evt_01HXYZABCDEF"),
                1_779_445_800,
                black_box(BODY),
            )
        })
    });
    g.bench_function("delivery_headers_two_secrets_rotation", |b| {
        b.iter(|| {
            sign(
                &[&current, &previous],
                black_box("evt_01HXYZABCDEF"),
                1_779_445_800,
                black_box(BODY),
            )
        })
    });
    let big = vec![b'x'; 32 * 1024];
    g.bench_function("delivery_headers_one_secret_32KiB_event", |b| {
        b.iter(|| {
            sign(
                &[&current],
                black_box("evt_big"),
                1_779_445_800,
                black_box(&big),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
