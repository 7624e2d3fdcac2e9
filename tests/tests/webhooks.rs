//! Webhook delivery (issue 4) against moto and real HTTP receivers on 127.0.0.1: the durable
//! path (stream → fanout → SQS → deliver), signatures (ours and the `standardwebhooks`
//! package), retries by visibility timeout, the DLQ, 410, Retry-After, auto-pause, replay,
//! rotation, SSRF, idempotency, the endpoints API.

use std::time::{Duration, Instant};

use auditrelay_tests::webhooks::{verify_with_standardwebhooks, Receiver, Reply, WebhookEnv};
use auditrelay_tests::{assert_error, seed_event};
use http::{Method, StatusCode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn an_ingested_event_reaches_the_receiver_signed() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let (id, secret) = w.endpoint(&rx.url("/hook")).await;
    w.ingest(&seed_event()).await;
    assert_eq!(w.pump().await, 1);
    let p = w.drain().await;
    assert_eq!((p.received, p.done), (1, 1));
    let got = rx.wait_for(1, WAIT).await;
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook");
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("webhook-id"), "evt_01HXYZABCDEF");
    // The body is the canonical event, byte for byte as the API returns it.
    let stored = w
        .env
        .call(Method::GET, "/v1/audit/logs/evt_01HXYZABCDEF", Some(&w.env.a.owner), None)
        .await;
    assert_eq!(r.body, stored.text);
    let verdicts = verify_with_standardwebhooks(&[(&secret, r)]).await;
    assert_eq!(verdicts[0]["ok"], true, "{verdicts:?}");
    assert_eq!(verdicts[0]["event_id"], "evt_01HXYZABCDEF");
    let attempts = w.attempts(&id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status"], "delivered");
    assert_eq!(attempts[0]["statusCode"], 200);
    assert_eq!(attempts[0]["attempt"], 1);
}
