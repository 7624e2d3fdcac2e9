//! The noisy-neighbour scenario, shared by `it::noisy_neighbour` and the `noisy_bench` example:
//! the local stack as `auditctl serve` runs it (the same [`Wiring`], the stream poller and the
//! deliver pool on real moto queues), org A flooding slow and failing webhook receivers, and
//! org B's time from ingest to delivery at its own receiver (all receivers real servers on
//! 127.0.0.1).

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use relay_app::clients::Clients;
use relay_app::local::{run_delivery_pools, StreamPoller};
use relay_app::pipeline::queues::{ensure_delivery_queues, slow_queue_name};
use relay_app::wiring::Wiring;
use serde_json::{json, Value};

use crate::webhooks::{Receiver, Reply};
use crate::{TestEnv, TestOrg};

/// The scenario's knobs.
#[derive(Debug, Clone)]
pub struct NoisyOptions {
    /// Events org A sends at once.
    pub a_events: usize,
    /// A's endpoints that answer 200 after [`NoisyOptions::slow_reply`].
    pub a_slow: usize,
    /// A's endpoints that answer 500 at once.
    pub a_failing: usize,
    /// How long A's slow receivers take.
    pub slow_reply: Duration,
    /// Events org B sends, one every [`NoisyOptions::b_every`], after A's flood.
    pub b_events: usize,
    /// Time between two of B's events.
    pub b_every: Duration,
    /// How long to wait for B's last event before reporting it as not delivered.
    pub give_up: Duration,
}

impl Default for NoisyOptions {
    fn default() -> Self {
        NoisyOptions {
            a_events: 60,
            a_slow: 3,
            a_failing: 3,
            slow_reply: Duration::from_secs(14),
            b_events: 20,
            b_every: Duration::from_millis(500),
            give_up: Duration::from_secs(300),
        }
    }
}

/// What B saw.
#[derive(Debug, Clone)]
pub struct NoisyReport {
    /// B's event before A's flood: ingest to delivery.
    pub baseline: Duration,
    /// Each of B's events during the flood, ingest to delivery, sorted (`None`: not delivered
    /// within [`NoisyOptions::give_up`], sorted last).
    pub latencies: Vec<Option<Duration>>,
    /// How long each of B's ingest calls took (part of the latencies), sorted.
    pub ingest: Vec<Duration>,
}

impl NoisyReport {
    /// The `q` quantile (0..=1) of B's latencies, nearest rank; `None` if that event was not
    /// delivered.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let rank =
            ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }

    /// One line: baseline, p50, p95, max, in seconds.
    pub fn line(&self) -> String {
        let f = |d: Option<Duration>| {
            d.map_or("not delivered".into(), |d| {
                format!("{:.2} s", d.as_secs_f64())
            })
        };
        format!(
            "org B, {} events during the flood: p50 {}, p95 {}, max {} (before the flood: {:.2} s; the ingest call alone: p50 {:.2} s, max {:.2} s)",
            self.latencies.len(),
            f(self.quantile(0.5)),
            f(self.quantile(0.95)),
            f(self.quantile(1.0)),
            self.baseline.as_secs_f64(),
            self.ingest
                .get(self.ingest.len() / 2)
                .map_or(0.0, Duration::as_secs_f64),
            self.ingest.last().map_or(0.0, Duration::as_secs_f64),
        )
    }
}

/// Creates a webhook endpoint for all actions at `url` in `org`.
pub async fn endpoint(env: &TestEnv, org: &TestOrg, url: &str) -> String {
    let r = env
        .call(
            Method::POST,
            &format!("/orgs/{}/audit-export/webhooks", org.org.org_id),
            Some(&org.admin),
            Some(&json!({ "url": url })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_str().expect("endpoint id").to_string()
}

/// An event `id` (`user.login`).
pub fn event(id: &str) -> Value {
    json!({"event_id": id, "action": "user.login", "actor": {"user_id": "usr_1"}})
}

/// When `receiver` first got event `id` (polling every 20 ms until `deadline`).
async fn arrival(receiver: &Receiver, id: &str, deadline: Instant) -> Option<Instant> {
    loop {
        let got = receiver
            .requests()
            .into_iter()
            .find(|r| r.json()["event_id"] == id)
            .map(|r| r.at);
        if got.is_some() || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh deployment with the local stack running, as `auditctl serve` starts it.
async fn local_stack() -> TestEnv {
    let sdk = crate::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("nn{}", ulid::Ulid::new().to_string().to_lowercase());
    let fast = ensure_delivery_queues(&sqs, &name, 4)
        .await
        .expect("queues");
    let slow = ensure_delivery_queues(&sqs, &slow_queue_name(&name), 4)
        .await
        .expect("slow queues");
    let env = TestEnv::with_config(move |c| {
        c.deliveries_queue_url = Some(fast.queue_url);
        c.slow_deliveries_queue_url = Some(slow.queue_url);
        c.allow_private_destinations = true;
    })
    .await;
    let wiring = Wiring::new(env.config.clone(), Clients::new(&sdk));
    let stream = StreamPoller::new(
        &wiring.clients.ddb,
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        &wiring.config.events_table,
        wiring.fanout().expect("fanout"),
    )
    .await
    .expect("stream poller");
    tokio::spawn(stream.run(Duration::from_millis(200)));
    tokio::spawn(run_delivery_pools(
        sqs,
        wiring.deliverer().expect("deliverer"),
        Duration::from_millis(200),
    ));
    env
}

/// Runs the scenario: B's baseline event, A's flood, then B's events one by one.
pub async fn run(opts: &NoisyOptions) -> NoisyReport {
    let env = local_stack().await;
    let b = env.new_org("Org B", None).await;
    let b_receiver = Receiver::start().await;
    endpoint(&env, &b, &b_receiver.url("/b")).await;
    let mut a_receivers = Vec::new();
    for i in 0..opts.a_slow + opts.a_failing {
        let r = Receiver::start().await;
        r.always(if i < opts.a_slow {
            Reply::status(200).after(opts.slow_reply)
        } else {
            Reply::status(500)
        });
        endpoint(&env, &env.a, &r.url("/a")).await;
        a_receivers.push(r);
    }

    let sent = Instant::now();
    env.ingest(&b.writer, &event("evt_b_baseline")).await;
    let baseline = arrival(&b_receiver, "evt_b_baseline", sent + opts.give_up)
        .await
        .expect("B's first event is delivered")
        - sent;

    let ids: Vec<String> = (0..opts.a_events)
        .map(|i| format!("evt_a_{i:03}"))
        .collect();
    for chunk in ids.chunks(10) {
        let events: Vec<Value> = chunk.iter().map(|id| event(id)).collect();
        env.ingest_retrying(&env.a.writer, &json!({ "events": events }))
            .await;
    }
    let mut sent = Vec::new();
    let mut ingest = Vec::new();
    for i in 0..opts.b_events {
        let id = format!("evt_b_{i:03}");
        let at = Instant::now();
        env.ingest(&b.writer, &event(&id)).await;
        ingest.push(at.elapsed());
        sent.push((id, at));
        tokio::time::sleep(opts.b_every).await;
    }
    let deadline = Instant::now() + opts.give_up;
    let mut latencies = Vec::new();
    for (id, at) in &sent {
        latencies.push(arrival(&b_receiver, id, deadline).await.map(|t| t - *at));
    }
    if std::env::var_os("NOISY_TRACE").is_some() {
        let line: Vec<String> = latencies
            .iter()
            .map(|l| l.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64())))
            .collect();
        println!("B's latencies in sending order: {}", line.join(" "));
    }
    latencies.sort_by_key(|l| l.unwrap_or(Duration::MAX));
    ingest.sort();
    NoisyReport {
        baseline,
        latencies,
        ingest,
    }
}
