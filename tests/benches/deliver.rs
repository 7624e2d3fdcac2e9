//! Deliver throughput: one SQS batch of 10 messages processed concurrently by the deliver
//! function's logic (claim, sign, POST, attempt log, marker), against receivers on 127.0.0.1
//! and DynamoDB in moto. Needs moto: `VENV=... scripts/with-moto.sh cargo bench -p
//! auditrelay-tests --bench deliver` (`make bench`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relay_app::pipeline::consumer::{Disposition, Received};
use relay_app::pipeline::message::DeliveryMessage;
use support::webhooks::{Receiver, Reply, WebhookEnv};

const BATCH: usize = 10;

fn batch(org: &str, endpoint: &str, round: u64, doc: &str) -> Vec<Received> {
    (0..BATCH)
        .map(|i| {
            // A fresh generation per round: every message is a new delivery, never a duplicate.
            let m = DeliveryMessage::webhook(
                org,
                endpoint,
                &format!("evt_bench_{i}"),
                &format!("bench{round}"),
                doc,
            );
            Received {
                message_id: format!("m{round}-{i}"),
                receipt_handle: format!("r{round}-{i}"),
                body: serde_json::to_string(&m).expect("message"),
                receive_count: 1,
            }
        })
        .collect()
}

fn deliver(c: &mut Criterion) {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!("deliver bench skipped: needs moto (run it through scripts/with-moto.sh)");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (w, fast, slow) = rt.block_on(async {
        let w = WebhookEnv::new().await;
        let fast = Receiver::start().await;
        let slow = Receiver::start().await;
        slow.always(Reply::status(200).after(Duration::from_millis(50)));
        (w, fast, slow)
    });
    let org = w.env.a.org.org_id.clone();
    let (fast_id, slow_id) = rt.block_on(async {
        (
            w.endpoint(&fast.url("/")).await.0,
            w.endpoint(&slow.url("/")).await.0,
        )
    });
    let doc = support::SEED_EVENT.replace(['\n', ' '], "");
    let mut g = c.benchmark_group("deliver");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    let mut round = 0u64;
    for (name, endpoint) in [
        ("batch_of_10_receiver_instant", &fast_id),
        ("batch_of_10_receiver_50ms", &slow_id),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let msgs: Vec<Vec<Received>> = (0..iters)
                    .map(|_| {
                        round += 1;
                        batch(&org, endpoint, round, &doc)
                    })
                    .collect();
                let d = w.deliverer.clone();
                async move {
                    let started = Instant::now();
                    for m in msgs {
                        let out = d.process_batch(&m).await;
                        assert!(out.iter().all(|x| *x == Disposition::Done));
                    }
                    started.elapsed()
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, deliver);
criterion_main!(benches);
