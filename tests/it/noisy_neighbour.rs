//! One org's slow and failing webhook receivers must not delay another org's deliveries: the
//! local stack (`auditctl serve`'s wiring, both delivery lanes on moto queues, receivers on
//! 127.0.0.1) with org A flooding three receivers that answer after 14 s and three that answer
//! 500 with 60 events, while org B sends an event every half second.

use std::time::Duration;

use relay_app::deliver::Deliverer;
use relay_app::local::QueuePoller;
use relay_app::pipeline::consumer::DeliverySettings;
use relay_app::pipeline::http_client::WebhookClient;
use relay_app::pipeline::lanes::{Lane, FAST_ALLOWANCE, ORG_CAP};
use relay_app::pipeline::pause::Notifier;
use relay_app::pipeline::queues::{ensure_delivery_queues, slow_queue_name, DeliveryQueues};
use relay_app::pipeline::ssrf::SsrfPolicy;
use relay_core::retry::RetrySchedule;
use support::noisy::{run, NoisyOptions};
use support::webhooks::{Receiver, Reply};
use support::TestEnv;

/// Both lanes on fresh moto queues, one org with one endpoint answering `reply`, and `n`
/// events (`{id}-{i}`, or `id` alone for one) ingested and fanned out.
struct Lanes {
    env: TestEnv,
    sqs: aws_sdk_sqs::Client,
    slow: DeliveryQueues,
    receiver: Receiver,
    endpoint: String,
    fast_poller: QueuePoller,
    slow_poller: QueuePoller,
}

impl Lanes {
    async fn new(reply: Reply, id: &str, n: usize) -> Lanes {
        let sdk = support::sdk().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let name = format!("nr{}", ulid::Ulid::new().to_string().to_lowercase());
        let fast = ensure_delivery_queues(&sqs, &name, 4).await.unwrap();
        let slow = ensure_delivery_queues(&sqs, &slow_queue_name(&name), 4)
            .await
            .unwrap();
        let (fast_url, slow_url) = (fast.queue_url.clone(), slow.queue_url.clone());
        let env = TestEnv::with_config(move |c| {
            c.deliveries_queue_url = Some(fast_url);
            c.slow_deliveries_queue_url = Some(slow_url);
        })
        .await;
        let receiver = Receiver::start().await;
        receiver.always(reply);
        let endpoint = support::noisy::endpoint(&env, &env.a, &receiver.url("/hook")).await;
        let deliverer = Deliverer::with_lanes(
            env.store.clone(),
            sqs.clone(),
            fast.queue_url.clone(),
            Some(slow.queue_url.clone()),
            WebhookClient::with_timeout(SsrfPolicy::new(true), Duration::from_secs(5)).unwrap(),
            Notifier::new(aws_sdk_sns::Client::new(&sdk), None),
            DeliverySettings {
                // No waiting between attempts: each retry is visible at once.
                schedule: RetrySchedule::new(vec![Duration::ZERO; 3], 0.0).unwrap(),
                ..Default::default()
            },
        );
        let fanout =
            relay_app::fanout::Fanout::new(env.store.clone(), sqs.clone(), fast.queue_url.clone())
                .with_slow_lane(Some(slow.queue_url.clone()));
        let mut stream = relay_app::local::StreamPoller::new(
            env.store.client(),
            aws_sdk_dynamodbstreams::Client::new(&sdk),
            &env.config.events_table,
            fanout,
        )
        .await
        .unwrap();
        let events: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let id = if n == 1 {
                    id.to_string()
                } else {
                    format!("{id}-{i:03}")
                };
                support::noisy::event(&id)
            })
            .collect();
        env.ingest(&env.a.writer, &serde_json::json!({ "events": events }))
            .await;
        while stream.poll_once().await.unwrap() > 0 {}
        let fast_poller = QueuePoller::of_lane(sqs.clone(), deliverer.clone(), Lane::Fast).unwrap();
        let slow_poller = QueuePoller::of_lane(sqs.clone(), deliverer.clone(), Lane::Slow).unwrap();
        Lanes {
            env,
            sqs,
            slow,
            receiver,
            endpoint,
            fast_poller,
            slow_poller,
        }
    }

    /// Polls `poller` until it receives nothing; the messages it received.
    async fn drain(poller: &QueuePoller) -> usize {
        let mut received = 0;
        loop {
            let p = poller.poll_once(0).await.unwrap();
            if p.received == 0 {
                return received;
            }
            received += p.received;
        }
    }
}

/// A new endpoint's burst: only its allowance takes the fast lane before anything is known of
/// it, the rest the slow lane; of the allowance, its org's cap is sent and the rest forwarded
/// too. Those first quick answers mark it fast, and the slow lane then hands everything back to
/// the fast lane unsent, where a destination marked fast has no cap. Every event arrives
/// exactly once.
#[tokio::test]
async fn a_new_endpoints_burst_beyond_its_allowance_comes_back_once_it_answers_in_time() {
    let n = 30;
    let lanes = Lanes::new(Reply::status(200), "evt_burst", n).await;
    let allowance = usize::try_from(FAST_ALLOWANCE).unwrap();
    assert_eq!(Lanes::drain(&lanes.fast_poller).await, allowance);
    assert_eq!(lanes.receiver.requests().len(), ORG_CAP);
    // Marked fast by those answers: the slow lane forwards the rest without sending them.
    assert_eq!(Lanes::drain(&lanes.slow_poller).await, n - ORG_CAP);
    assert_eq!(lanes.receiver.requests().len(), ORG_CAP);
    assert_eq!(Lanes::drain(&lanes.fast_poller).await, n - ORG_CAP);
    let ids: std::collections::BTreeSet<String> = lanes
        .receiver
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    assert_eq!((lanes.receiver.requests().len(), ids.len()), (n, n));
}

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

/// A failing endpoint's message keeps its retry schedule across the lanes: attempt 1 in the
/// fast lane marks the endpoint, its retry is forwarded to the slow lane with the attempt it
/// used up, attempts 2 to 4 happen there, and after the 4th the message is in the slow lane's
/// dead-letter queue. The receiver gets exactly four requests, all with the same webhook-id.
#[tokio::test]
async fn a_failing_endpoints_retries_continue_in_the_slow_lane_up_to_its_dlq() {
    let Lanes {
        env,
        sqs,
        slow,
        receiver,
        endpoint,
        fast_poller,
        slow_poller,
        ..
    } = Lanes::new(Reply::status(500), "evt_retry_lanes", 1).await;

    // Attempt 1 (fast lane) fails and marks the endpoint; the retry is forwarded, not sent.
    let first = fast_poller.poll_once(0).await.unwrap();
    assert_eq!((first.received, first.retried), (1, 1));
    let forwarded = fast_poller.poll_once(0).await.unwrap();
    assert_eq!((forwarded.received, forwarded.done), (1, 1));
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(fast_poller.poll_once(0).await.unwrap().received, 0);

    // Attempts 2, 3 and 4 in the slow lane; then the redrive takes it to the slow DLQ.
    for _ in 0..8 {
        if slow_poller.poll_once(0).await.unwrap().received == 0 {
            break;
        }
    }
    let got = receiver.requests();
    assert_eq!(
        got.len(),
        4,
        "one first attempt and three retries, never more"
    );
    assert!(got
        .iter()
        .all(|r| r.header("webhook-id") == "evt_retry_lanes"));
    let dlq = sqs
        .receive_message()
        .queue_url(&slow.dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(
        dlq.messages().len(),
        1,
        "the exhausted message is in the slow lane's DLQ"
    );
    let r = env
        .call(
            http::Method::GET,
            &format!(
                "/orgs/{}/audit-export/webhooks/{endpoint}/attempts",
                env.a.org.org_id
            ),
            Some(&env.a.admin),
            None,
        )
        .await;
    let log: Vec<(u64, String)> = r.body["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            (4, "exhausted".to_string()),
            (3, "failed".to_string()),
            (2, "failed".to_string()),
            (1, "failed".to_string())
        ],
        "{}",
        r.text
    );
}
