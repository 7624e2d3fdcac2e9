//! Noisy-neighbour figure: the local stack (`auditctl serve`'s wiring on moto), org A floods
//! three webhook receivers that answer after 14 s and three that answer 500 with 60 events,
//! and org B sends an event every half second; prints B's time from ingest to delivery
//! (p50, p95, max).
//!
//! `make bench` runs it: `noisy_bench [B_EVENTS=20]` (with `RUST_LOG` set, it logs the
//! pipeline's tracing; with `NOISY_TRACE=1`, it prints B's latencies in sending order).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use support::noisy::{run, NoisyOptions};

#[tokio::main]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        relay_app::telemetry::init();
    }
    let mut opts = NoisyOptions::default();
    if let Some(n) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        opts.b_events = n;
    }
    let report = run(&opts).await;
    println!("{}", report.line());
}
