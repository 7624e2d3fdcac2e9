//! One org's slow and failing webhook receivers must not delay another org's deliveries: the
//! local stack (`auditctl serve`'s wiring, both delivery lanes on moto queues, receivers on
//! 127.0.0.1) with org A flooding three receivers that answer after 14 s and three that answer
//! 500 with 60 events, while org B sends an event every half second.

use std::time::Duration;

use support::noisy::{run, NoisyOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooding_org_does_not_delay_another_orgs_webhooks() {
    let opts = NoisyOptions {
        give_up: Duration::from_secs(60),
        ..NoisyOptions::default()
    };
    let report = run(&opts).await;
    println!("{}", report.line());
    let p95 = report.quantile(0.95).expect("B's events are delivered");
    assert!(p95 < Duration::from_secs(5), "{}", report.line());
}
