//! Webhook delivery against moto and real HTTP receivers on 127.0.0.1: the durable
//! path (stream → fanout → SQS → deliver), signatures (ours and the `standardwebhooks`
//! package), retries by visibility timeout, the DLQ, 410, Retry-After, auto-pause, replay,
//! rotation, SSRF, idempotency, the endpoints API and the Lambda handlers with `events/`.

use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use http::{Method, StatusCode};
use relay_app::deliver::handle_sqs_event;
use relay_app::fanout::{handle_stream_event, Fanout};
use relay_app::local::StreamPoller;
use relay_app::pipeline::consumer::Received;
use relay_app::pipeline::message::{DeliveryMessage, LIVE};
use relay_app::pipeline::pause::PauseRule;
use relay_app::summary::stream::{self as summary_stream, Summarizer};
use relay_core::model::webhook::WebhookEndpoint;
use relay_core::retry::RetrySchedule;
use relay_core::signing::{verify_auditrelay, SignatureHeaderName, WebhookSecret};
use relay_store::Store;
use serde_json::{json, Value};
use support::fixtures::{self, Placeholders};
use support::webhooks::{
    verify_with_hmac_snippet, verify_with_standardwebhooks, Receiver, Recorded, Reply, WebhookEnv,
    WebhookOptions, HMAC_VERIFY_PY,
};
use support::{assert_error, seed_event};

const WAIT: Duration = Duration::from_secs(10);

fn event(id: &str, action: &str) -> Value {
    json!({"event_id": id, "action": action, "actor": {"user_id": "usr_1"}})
}

fn now_plus(secs: i64) -> String {
    relay_core::model::event::rfc3339_millis(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(secs),
    )
}

/// Checks our own header the way the README tells receivers to.
fn auditrelay_verifies(secret: &str, r: &Recorded) -> bool {
    signature_header_verifies("x-auditrelay-signature", secret, r)
}

/// Checks the single-header signature under `header` (lowercase, as the receiver records
/// names): a `v1=` matches and its `t` is the delivery's `webhook-timestamp`.
fn signature_header_verifies(header: &str, secret: &str, r: &Recorded) -> bool {
    let s = WebhookSecret::parse(secret).unwrap();
    verify_auditrelay(&s, r.header(header), r.body.as_bytes())
        == r.header("webhook-timestamp").parse().ok()
}

/// The documented value: `t=<webhook-timestamp>,v1=<hex HMAC-SHA256(key, "{t}.{body}")>`
/// (the HMAC itself is pinned by a reference vector in relay-core and, here, by Python's
/// `hmac` through the documented snippet).
fn recipe(secret: &str, r: &Recorded) -> String {
    let s = WebhookSecret::parse(secret).unwrap();
    let t: i64 = r.header("webhook-timestamp").parse().unwrap();
    format!("t={t},v1={}", s.sign_auditrelay(t, r.body.as_bytes()))
}

#[tokio::test]
async fn the_signature_header_takes_the_configured_name_and_the_documented_value() {
    let custom = WebhookEnv::with(WebhookOptions {
        signature_header: Some(SignatureHeaderName::parse("X-Optimaite-Signature").unwrap()),
        ..Default::default()
    })
    .await;
    let default = WebhookEnv::new().await;
    for (w, name, other) in [
        (&custom, "x-optimaite-signature", "x-auditrelay-signature"),
        (&default, "x-auditrelay-signature", "x-optimaite-signature"),
    ] {
        let rx = Receiver::start().await;
        let (id, secret) = w.endpoint(&rx.url("/siem")).await;
        // A delivery through the whole pipeline, then a test send through the API.
        w.ingest(&seed_event()).await;
        w.pump().await;
        assert_eq!(w.drain().await.done, 1);
        rx.wait_for(1, WAIT).await;
        let test = w
            .admin(Method::POST, &format!("{}/{id}/test", w.path()), None)
            .await;
        assert_eq!(test.body["success"], true, "{}", test.text);
        let got = rx.wait_for(2, WAIT).await;
        assert_eq!(got[1].json()["action"], "webhook.test");
        for r in &got {
            // Exactly one single-header signature, under the configured name, beside the
            // Standard Webhooks headers.
            assert_eq!(r.header(other), "", "{name}: {:?}", r.headers);
            let value = r.header(name);
            assert_eq!(value, recipe(&secret, r), "{name}");
            assert!(signature_header_verifies(name, &secret, r));
            for std in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
                assert!(!r.header(std).is_empty(), "{name}: {std} missing");
            }
        }
        // Standard Webhooks receivers are unaffected.
        let v = verify_with_standardwebhooks(&[(&secret, &got[0]), (&secret, &got[1])]).await;
        assert!(v.iter().all(|v| v["ok"] == true), "{v:?}");
        // The documented Python snippet, given the header's value, accepts both requests and
        // refuses a stranger's secret and a changed body; the header name is matched the way
        // receivers' frameworks do, case-insensitively.
        let stranger = WebhookSecret::generate().unwrap().expose();
        let mut tampered = got[0].clone();
        tampered.body = tampered.body.replace("document.opened", "document.deleted");
        let header = if name == "x-optimaite-signature" {
            "X-Optimaite-Signature"
        } else {
            "X-AuditRelay-Signature"
        };
        let verdicts = verify_with_hmac_snippet(
            header,
            &[
                (&secret, &got[0]),
                (&secret, &got[1]),
                (&stranger, &got[0]),
                (&secret, &tampered),
            ],
        )
        .await;
        assert_eq!(verdicts, [true, true, false, false], "{name}");
    }
}

#[test]
fn the_documented_hmac_snippet_is_the_one_tested() {
    let page = include_str!("../../docs/destinations.md");
    assert!(
        page.contains(HMAC_VERIFY_PY),
        "docs/destinations.md no longer holds the verifier the tests run"
    );
}

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
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert!((time::OffsetDateTime::now_utc().unix_timestamp() - ts).abs() < 60);
    assert!(r.header("webhook-signature").starts_with("v1,"));
    let ours = r.header("x-auditrelay-signature");
    assert!(ours.starts_with(&format!("t={ts},v1=")), "{ours}");
    // The body is the canonical event, byte for byte as the API returns it.
    let stored = w
        .env
        .call(
            Method::GET,
            "/v1/audit/logs/evt_01HXYZABCDEF",
            Some(&w.env.a.owner),
            None,
        )
        .await;
    assert_eq!(r.body, stored.text);
    // A receiver using the standardwebhooks package verifies it; so does our own header.
    let verdicts = verify_with_standardwebhooks(&[(&secret, r)]).await;
    assert_eq!(verdicts[0]["ok"], true, "{verdicts:?}");
    assert_eq!(verdicts[0]["event_id"], "evt_01HXYZABCDEF");
    assert!(auditrelay_verifies(&secret, r));
    // A wrong secret or a changed body is refused by the same library.
    let other = WebhookSecret::generate().unwrap().expose();
    let mut tampered = r.clone();
    tampered.body = tampered.body.replace("document.opened", "document.deleted");
    let verdicts = verify_with_standardwebhooks(&[(&other, r), (&secret, &tampered)]).await;
    assert_eq!(verdicts[0]["ok"], false);
    assert_eq!(verdicts[1]["ok"], false);

    let attempts = w.attempts(&id).await;
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!(a["eventId"], "evt_01HXYZABCDEF");
    assert_eq!(a["status"], "delivered");
    assert_eq!(a["statusCode"], 200);
    assert_eq!(a["attempt"], 1);
    assert_eq!(a["trigger"], "event");
    assert!(a["latencyMs"].as_u64().is_some());
    assert_eq!(a["error"], Value::Null);
}

#[tokio::test]
async fn failures_back_off_by_visibility_timeout_then_go_to_the_dlq_exhausted() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    rx.always(Reply::status(500));
    let (id, secret) = w.endpoint(&rx.url("/siem")).await;
    w.ingest(&event("evt_retry", "user.login")).await;
    w.pump().await;

    // As documented: retried 3 times after the first attempt, at 30 s, 5 min, 30 min (±10%).
    let expected = [(27, 33), (270, 330), (1620, 1980)];
    for (n, (lo, hi)) in expected.iter().enumerate() {
        w.recorder.clear();
        let p = w.deliver_once().await;
        assert_eq!((p.received, p.retried), (1, 1), "attempt {}", n + 1);
        let calls = w.recorder.calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        let (receipt, secs) = &calls[0];
        assert!(
            (*lo..=*hi).contains(secs),
            "attempt {} set visibility {secs}, expected {lo}..={hi}",
            n + 1
        );
        // The message is invisible for that long: nothing to receive now.
        assert_eq!(w.deliver_once().await.received, 0);
        // Skip the wait.
        w.make_visible(receipt).await;
    }
    w.recorder.clear();
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.retried), (1, 1), "attempt 4");
    // The last attempt makes the message visible at once so the redrive moves it.
    assert_eq!(w.recorder.calls()[0].1, 0);
    assert_eq!(w.deliver_once().await.received, 0, "moved to the DLQ");
    assert_eq!(w.depth().await, (0, 0));
    let dlq = w.dlq().await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0]["event_id"], "evt_retry");
    assert_eq!(dlq[0]["endpoint_id"], id.as_str());

    let got = rx.requests();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|r| r.header("webhook-id") == "evt_retry"));
    let verdicts =
        verify_with_standardwebhooks(&got.iter().map(|r| (secret.as_str(), r)).collect::<Vec<_>>())
            .await;
    assert!(verdicts.iter().all(|v| v["ok"] == true), "{verdicts:?}");

    let attempts = w.attempts(&id).await;
    let statuses: Vec<(&str, u64)> = attempts
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap(),
                a["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("exhausted", 4),
            ("failed", 3),
            ("failed", 2),
            ("failed", 1)
        ],
        "newest first"
    );
    for a in &attempts {
        assert_eq!(a["statusCode"], 500);
        assert!(a["error"].as_str().unwrap().starts_with("HTTP 500"), "{a}");
    }
    assert!(attempts[1]["nextAttemptAt"].is_string());
    assert_eq!(attempts[0]["nextAttemptAt"], Value::Null);
    let ep = w.get(&id).await;
    assert_eq!(ep["consecutiveFailures"], 1);
    assert_eq!(ep["status"], "active", "one exhausted event does not pause");
}

#[tokio::test]
async fn retry_after_is_honoured_within_the_next_two_steps() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let far = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(86_400));
    rx.script(vec![
        Reply::status(429).header("retry-after", "120"),
        Reply::status(503).header("retry-after", "5"),
        Reply::status(503).header("retry-after", far),
        Reply::status(200),
    ]);
    let (id, _) = w.endpoint(&rx.url("/")).await;
    w.ingest(&event("evt_ra", "user.login")).await;
    w.pump().await;
    let mut set = vec![];
    for _ in 0..3 {
        w.recorder.clear();
        w.deliver_once().await;
        let (receipt, secs) = w.recorder.calls()[0].clone();
        set.push(secs);
        w.make_visible(&receipt).await;
    }
    // 120 s lies within [30 s, 5 min]; 5 s is raised to 5 min; a day is cut to 30 min.
    assert_eq!(set, [120, 300, 1800]);
    assert_eq!(w.deliver_once().await.done, 1);
    let codes: Vec<u64> = w
        .attempts(&id)
        .await
        .iter()
        .map(|a| a["statusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [200, 503, 503, 429]);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_at_once() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    rx.always(Reply::status(410));
    let (id, _) = w.endpoint(&rx.url("/gone")).await;
    w.ingest(&event("evt_gone", "user.login")).await;
    w.pump().await;
    let p = w.deliver_once().await;
    assert_eq!((p.done, p.retried), (1, 0), "no retry after 410");
    assert_eq!(w.depth().await, (0, 0));
    assert!(w.dlq().await.is_empty());
    let ep = w.get(&id).await;
    assert_eq!(ep["status"], "disabled");
    assert_eq!(ep["enabled"], false);
    assert!(ep["statusReason"].as_str().unwrap().contains("410"), "{ep}");
    let a = &w.attempts(&id).await[0];
    assert_eq!(a["status"], "endpoint_disabled");
    assert_eq!(a["statusCode"], 410);
    // Later events are not even enqueued for it.
    w.ingest(&event("evt_after", "user.login")).await;
    w.pump().await;
    assert_eq!(w.depth().await, (0, 0));
    assert_eq!(rx.requests().len(), 1);
}

#[tokio::test]
async fn timeouts_refused_connections_and_redirects_fail_with_clear_errors() {
    let w = WebhookEnv::with(WebhookOptions {
        timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let slow = Receiver::start().await;
    slow.always(Reply::status(200).after(Duration::from_secs(3)));
    let redirect = Receiver::start().await;
    redirect.always(Reply::status(302).header("location", redirect.url("/elsewhere")));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}/hook")
    };
    let (slow_id, _) = w.endpoint(&slow.url("/")).await;
    let (redirect_id, _) = w.endpoint(&redirect.url("/start")).await;
    let (closed_id, _) = w.endpoint(&closed).await;
    w.ingest(&event("evt_errors", "user.login")).await;
    w.pump().await;
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.retried), (3, 3));
    let error = |attempts: Vec<Value>| attempts[0]["error"].as_str().unwrap().to_string();
    let e = error(w.attempts(&slow_id).await);
    assert_eq!(e, "timed out after 1 s");
    let e = error(w.attempts(&closed_id).await);
    assert!(e.starts_with("connection failed"), "{e}");
    let a = &w.attempts(&redirect_id).await[0];
    assert_eq!(a["statusCode"], 302);
    assert!(
        a["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{a}"
    );
    let paths: Vec<String> = redirect.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/start"], "the redirect was not followed");
}

#[tokio::test]
async fn a_slow_endpoint_does_not_delay_the_others() {
    let w = WebhookEnv::new().await;
    let slow = Receiver::start().await;
    slow.always(Reply::status(200).after(Duration::from_secs(3)));
    let fast = Receiver::start().await;
    w.endpoint(&slow.url("/")).await;
    w.endpoint(&fast.url("/")).await;
    w.ingest(&json!({"events": [event("evt_s1", "a.b"), event("evt_s2", "a.b")]}))
        .await;
    w.pump().await;
    let started = Instant::now();
    let round = tokio::spawn({
        let poller = w.queue_poller.clone();
        async move { poller.poll_once(0).await.unwrap() }
    });
    let got = fast.wait_for(2, WAIT).await;
    let fast_done = got.iter().map(|r| r.at).max().unwrap() - started;
    let p = round.await.unwrap();
    assert_eq!((p.received, p.done), (4, 4), "one batch, both endpoints");
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(
        fast_done < Duration::from_millis(1500),
        "the fast endpoint waited {fast_done:?} for the slow one"
    );
}

#[tokio::test]
async fn redelivered_and_duplicated_messages_are_sent_once() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let (id, _) = w.endpoint(&rx.url("/")).await;
    let org = w.env.a.org.org_id.clone();
    w.ingest(&seed_event()).await;
    w.pump().await;
    // A delivery whose deletion was lost (the function crashed after sending): SQS hands
    // the same message out again.
    let got = w
        .sqs
        .receive_message()
        .queue_url(&w.queues.queue_url)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    let received = Received {
        message_id: m.message_id().unwrap().into(),
        receipt_handle: m.receipt_handle().unwrap().into(),
        body: m.body().unwrap().into(),
        receive_count: 1,
    };
    w.deliverer
        .process_batch(std::slice::from_ref(&received))
        .await;
    assert_eq!(rx.requests().len(), 1);
    w.make_visible(&received.receipt_handle).await;
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.done), (1, 1), "acknowledged without sending");
    assert_eq!(rx.requests().len(), 1);

    // The fanout re-reading the stream (a retried batch) enqueues the event again: not sent.
    let mut again = StreamPoller::new(
        w.env.store.client(),
        aws_sdk_dynamodbstreams::Client::new(&support::sdk().await),
        &w.env.config.events_table,
        w.fanout.clone(),
    )
    .await
    .unwrap();
    assert_eq!(again.poll_once().await.unwrap(), 1);
    assert_eq!(w.drain().await.done, 1);
    assert_eq!(rx.requests().len(), 1);

    // Two copies in one batch: one is sent, the other waits for the lease and is then dropped.
    let body = serde_json::to_string(&DeliveryMessage::webhook(
        &org,
        &id,
        "evt_twin",
        LIVE,
        r#"{"event_id":"evt_twin"}"#,
    ))
    .unwrap();
    for _ in 0..2 {
        w.sqs
            .send_message()
            .queue_url(&w.queues.queue_url)
            .message_body(&body)
            .send()
            .await
            .unwrap();
    }
    w.recorder.clear();
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.done, p.retried), (2, 1, 1));
    let twins: Vec<_> = rx
        .requests()
        .into_iter()
        .filter(|r| r.header("webhook-id") == "evt_twin")
        .collect();
    assert_eq!(twins.len(), 1);
    let (receipt, wait) = w.recorder.calls()[0].clone();
    assert!(wait > 0, "waits for the lease");
    w.make_visible(&receipt).await;
    assert_eq!(w.deliver_once().await.done, 1);
    assert_eq!(rx.requests().len(), 2);
    let delivered = w
        .attempts(&id)
        .await
        .iter()
        .filter(|a| a["status"] == "delivered")
        .count();
    assert_eq!(delivered, 2);
}

#[tokio::test]
async fn failing_endpoints_are_paused_notified_and_replayed_once_re_enabled() {
    let w = WebhookEnv::with(WebhookOptions {
        schedule: RetrySchedule::new(vec![Duration::ZERO], 0.0).unwrap(),
        pause: PauseRule {
            after_exhausted: 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let rx = Receiver::start().await;
    rx.always(Reply::status(500));
    let (id, _) = w.endpoint(&rx.url("/")).await;
    let from = now_plus(-5);
    w.ingest(&json!({"events": [event("evt_p1", "user.login"), event("evt_p2", "user.login")]}))
        .await;
    w.pump().await;
    w.drain().await;
    assert_eq!(rx.requests().len(), 4, "two attempts per event");
    assert_eq!(w.dlq().await.len(), 2);
    let ep = w.get(&id).await;
    assert_eq!(ep["status"], "paused", "{ep}");
    assert_eq!(ep["enabled"], true);
    assert!(ep["statusReason"]
        .as_str()
        .unwrap()
        .contains("2 events in a row"));
    assert!(ep["pausedAt"].is_string());

    // The admin is told: in the org's trail, and on the stack's SNS topic.
    let trail = w
        .env
        .all_pages(&w.env.a.owner, "action=security.audit_export_paused")
        .await;
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0]["resource"]["id"], id.as_str());
    assert_eq!(trail[0]["metadata"]["destination"], "webhook");
    // First a warning that it started failing, then the pause.
    let notes = w.notifications().await;
    let types: Vec<&str> = notes.iter().filter_map(|n| n["type"].as_str()).collect();
    assert_eq!(types.len(), 2, "{notes:?}");
    assert!(types.contains(&"audit_export_failing"), "{notes:?}");
    let paused: Vec<&Value> = notes
        .iter()
        .filter(|n| n["type"] == "audit_export_paused")
        .collect();
    assert_eq!(paused.len(), 1, "{notes:?}");
    assert_eq!(paused[0]["destination_id"], id.as_str());

    // Paused: events are kept but not sent (the pause event itself included).
    w.ingest(&event("evt_p3", "user.login")).await;
    w.pump().await;
    assert_eq!(w.depth().await, (0, 0));
    let replay = format!("{}/{id}/replay", w.path());
    let body = json!({"from": from, "to": now_plus(5)});
    let r = w.admin(Method::POST, &replay, Some(&body)).await;
    assert_error(&r, StatusCode::CONFLICT, Some("enabled"));

    // Re-enabled: the streak is cleared, and a replay sends what it missed.
    rx.always(Reply::status(204));
    let r = w
        .admin(
            Method::PATCH,
            &format!("{}/{id}", w.path()),
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["consecutiveFailures"], 0);
    assert_eq!(r.body["pausedAt"], Value::Null);
    let r = w.admin(Method::POST, &replay, Some(&body)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(
        r.body["enqueued"], 4,
        "p1, p2, the pause event, p3: {}",
        r.text
    );
    assert_eq!(r.body["hasMore"], false);
    let replay_id = r.body["replayId"].as_str().unwrap().to_string();
    assert_eq!(w.drain().await.done, 4);
    let mut ids: Vec<String> = rx.requests()[4..]
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 4);
    assert_eq!(&ids[..2], ["evt_p1", "evt_p2"]);
    assert!(ids.contains(&"evt_p3".to_string()));
    let replayed = w
        .attempts(&id)
        .await
        .into_iter()
        .filter(|a| a["trigger"] == "replay")
        .collect::<Vec<_>>();
    assert_eq!(replayed.len(), 4);
    assert!(replayed.iter().all(|a| a["replayId"] == replay_id.as_str()));
}

#[tokio::test]
async fn replay_resends_delivered_events_of_the_range_matching_the_actions() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let ep = w
        .create(json!({"url": rx.url("/"), "actions": ["document.*"]}))
        .await;
    let id = ep["id"].as_str().unwrap();
    let from = now_plus(-5);
    w.ingest(&json!({"events": [
        event("evt_r1", "document.opened"),
        event("evt_r2", "user.login"),
        event("evt_r3", "document.deleted"),
    ]}))
    .await;
    w.pump().await;
    w.drain().await;
    assert_eq!(rx.requests().len(), 2, "only document.* is sent");
    let to = now_plus(5);
    let replay = format!("{}/{id}/replay", w.path());
    let r = w
        .admin(
            Method::POST,
            &replay,
            Some(&json!({"from": from, "to": to})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(
        (r.body["scanned"].as_u64(), r.body["enqueued"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(w.drain().await.done, 2);
    let ids: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[2..].iter().filter(|i| *i == "evt_r1").count(), 1);
    assert_eq!(ids[2..].iter().filter(|i| *i == "evt_r3").count(), 1);
    // An empty range, and bad bodies.
    let r = w
        .admin(
            Method::POST,
            &replay,
            Some(&json!({"from": to, "to": now_plus(60)})),
        )
        .await;
    assert_eq!(r.body["enqueued"], 0, "{}", r.text);
    for (body, field) in [
        (json!({"from": to, "to": from}), "to"),
        (json!({"to": to}), "from"),
        (json!({"from": "yesterday", "to": to}), "from"),
        (
            json!({"from": from, "to": to, "cursor": "forged.cursor"}),
            "cursor",
        ),
        (json!({"from": from, "to": to, "limit": 5}), "limit"),
    ] {
        let r = w.admin(Method::POST, &replay, Some(&body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let (id, old) = w.endpoint(&rx.url("/")).await;
    let r = w
        .admin(
            Method::POST,
            &format!("{}/{id}/rotate-secret", w.path()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new = r.body["secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_") && new != old);
    let until = time::OffsetDateTime::parse(
        r.body["previousSecretExpiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = until - time::OffsetDateTime::now_utc();
    assert!(left > time::Duration::hours(23) && left <= time::Duration::hours(24));
    // Masked everywhere else.
    let shown = w.get(&id).await;
    let masked = shown["secret"].as_str().unwrap();
    assert!(masked.starts_with("whsec_****") && new.ends_with(&masked[10..]));
    assert!(!shown.to_string().contains(&new[6..]) && !shown.to_string().contains(&old[6..]));

    w.ingest(&seed_event()).await;
    w.pump().await;
    w.drain().await;
    let r = &rx.wait_for(1, WAIT).await[0];
    assert_eq!(r.header("webhook-signature").split(' ').count(), 2);
    assert_eq!(r.header("x-auditrelay-signature").matches("v1=").count(), 2);
    let stranger = WebhookSecret::generate().unwrap().expose();
    let verdicts = verify_with_standardwebhooks(&[(&new, r), (&old, r), (&stranger, r)]).await;
    assert_eq!(verdicts[0]["ok"], true, "{verdicts:?}");
    assert_eq!(verdicts[1]["ok"], true, "{verdicts:?}");
    assert_eq!(verdicts[2]["ok"], false);
    assert!(auditrelay_verifies(&new, r) && auditrelay_verifies(&old, r));
    assert!(!auditrelay_verifies(&stranger, r));
}

#[tokio::test]
async fn the_ssrf_guard_refuses_private_destinations() {
    let w = WebhookEnv::with(WebhookOptions {
        allow_private: false,
        ..Default::default()
    })
    .await;
    let rx = Receiver::start().await;
    let port = rx.addr.port();
    for url in [
        format!("http://{}/hook", "siem.example.com"),
        format!("https://127.0.0.1:{port}/"),
        format!("https://localhost:{port}/"),
        "https://169.254.169.254/latest/meta-data/iam/".into(),
        "https://[::ffff:10.0.0.1]/".into(),
        "https://[::1]/".into(),
        "https://100.64.0.1/".into(),
        "https://[fd00::1]/".into(),
        "https://0.0.0.0/".into(),
        "https://192.168.1.10/".into(),
        "https://user:pw@siem.example.com/".into(),
        "ftp://siem.example.com/".into(),
        "not a url".into(),
    ] {
        let r = w
            .admin(Method::POST, &w.path(), Some(&json!({ "url": url })))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("url"));
    }
    // A name is checked after resolution.
    let r = w
        .admin(
            Method::POST,
            &w.path(),
            Some(&json!({"url": format!("https://localhost:{port}/")})),
        )
        .await;
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("localhost resolves to 127.0.0.1, a loopback address"),
        "{}",
        r.text
    );

    // At send time too: an endpoint whose name resolves to loopback by now (DNS rebinding
    // after creation) gets nothing sent.
    let ep = WebhookEndpoint {
        id: "whk_01REBOUND0000000000000000".into(),
        org_id: w.env.a.org.org_id.clone(),
        url: format!("https://localhost:{port}/"),
        description: None,
        enabled: true,
        actions: vec!["*".into()],
        schema: relay_core::shapes::Schema::Canonical,
        secret: WebhookSecret::generate().unwrap(),
        previous_secret: None,
        secret_rotated_at: None,
        consecutive_exhausted: 0,
        failing_since: None,
        paused_at: None,
        disabled_at: None,
        status_reason: None,
        created_at: now_plus(0),
        updated_at: now_plus(0),
    };
    w.env.store.put_new_webhook(&ep).await.unwrap();
    let r = w
        .admin(
            Method::PATCH,
            &format!("{}/{}", w.path(), ep.id),
            Some(&json!({"url": "https://10.0.0.1/"})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("url"));
    w.ingest(&event("evt_ssrf", "user.login")).await;
    w.pump().await;
    let p = w.deliver_once().await;
    assert_eq!(p.retried, 1);
    let a = &w.attempts(&ep.id).await[0];
    let e = a["error"].as_str().unwrap();
    assert!(
        e.contains("destination refused") && e.contains("loopback"),
        "{e}"
    );
    assert_eq!(a["statusCode"], Value::Null);
    let r = w
        .admin(Method::POST, &format!("{}/{}/test", w.path(), ep.id), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["success"], false);
    assert!(
        rx.requests().is_empty(),
        "nothing reached the loopback receiver"
    );
}

#[tokio::test]
async fn the_test_endpoint_sends_a_signed_webhook_test_event() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let (id, secret) = w.endpoint(&rx.url("/t")).await;
    let test = format!("{}/{id}/test", w.path());
    let r = w.admin(Method::POST, &test, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["statusCode"], 200);
    assert!(r.body["latencyMs"].as_u64().unwrap() < 5_000);
    let got = rx.wait_for(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(body["action"], "webhook.test");
    assert_eq!(body["event_id"], r.body["eventId"]);
    assert_eq!(body["tenant_id"], "ten_01ABCDEFG");
    assert_eq!(body["resource"]["id"], id.as_str());
    let v = verify_with_standardwebhooks(&[(&secret, &got[0])]).await;
    assert_eq!(v[0]["ok"], true, "{v:?}");
    // A failing receiver is reported, and a test never disables the endpoint.
    rx.always(Reply::status(410));
    let r = w.admin(Method::POST, &test, None).await;
    assert_eq!(r.body["success"], false);
    assert_eq!(r.body["statusCode"], 410);
    assert_eq!(w.get(&id).await["status"], "active");
    // The receiver's page is never read back: the status and its reason phrase only.
    rx.always(Reply::status(500));
    let r = w.admin(Method::POST, &test, None).await;
    assert_eq!(
        r.body["error"], "HTTP 500: Internal Server Error",
        "{}",
        r.text
    );
    assert!(!r.text.contains("receiver says hi"), "{}", r.text);
    let triggers: Vec<Value> = w
        .attempts(&id)
        .await
        .iter()
        .map(|a| a["trigger"].clone())
        .collect();
    assert_eq!(triggers, [json!("test"), json!("test"), json!("test")]);
}

#[tokio::test]
async fn attempts_are_listed_newest_first_with_a_cursor() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let (id, _) = w.endpoint(&rx.url("/")).await;
    let test = format!("{}/{id}/test", w.path());
    let mut events = vec![];
    for _ in 0..3 {
        let r = w.admin(Method::POST, &test, None).await;
        events.push(r.body["eventId"].as_str().unwrap().to_string());
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let base = format!("{}/{id}/attempts", w.path());
    let r = w.admin(Method::GET, &format!("{base}?limit=2"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let page1 = r.body["attempts"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 2);
    assert_eq!(r.body["hasMore"], true);
    let cursor = r.body["cursor"].as_str().unwrap();
    let r = w
        .admin(
            Method::GET,
            &format!("{base}?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    let page2 = r.body["attempts"].as_array().unwrap().clone();
    let order: Vec<&str> = page1
        .iter()
        .chain(&page2)
        .map(|a| a["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(order, [&events[2], &events[1], &events[0]]);
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=abc.def", "cursor"),
        ("status=failed", "status"),
        ("limit=1&limit=2", "limit"),
    ] {
        let r = w.admin(Method::GET, &format!("{base}?{q}"), None).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
    // A cursor of another endpoint is refused.
    let (other, _) = w.endpoint(&rx.url("/")).await;
    let r = w
        .admin(
            Method::GET,
            &format!("{}/{other}/attempts?cursor={cursor}", w.path()),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("cursor"));
}

#[tokio::test]
async fn the_endpoints_api_is_admin_only_org_scoped_and_validated() {
    let w = WebhookEnv::new().await;
    let path = w.path();
    let created = w
        .create(json!({
            "url": "http://127.0.0.1:9/siem",
            "description": "Splunk HEC",
            "actions": ["document.*", "user.login", "document.*"],
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("whk_"));
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    assert_eq!(created["orgId"], w.env.a.org.org_id.as_str());
    assert_eq!(created["enabled"], true);
    assert_eq!(created["status"], "active");
    assert_eq!(created["actions"], json!(["document.*", "user.login"]));
    for k in [
        "statusReason",
        "previousSecretExpiresAt",
        "secretRotatedAt",
        "failingSince",
        "pausedAt",
        "disabledAt",
    ] {
        assert_eq!(created[k], Value::Null, "{k}");
    }
    assert!(created["createdAt"].is_string() && created["updatedAt"].is_string());

    // Owner and admin: yes. Member, reader, service key: 403. Another org: 404.
    for token in [&w.env.a.owner, &w.env.a.admin] {
        let r = w.env.call(Method::GET, &path, Some(token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let list = r.body.as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert!(!r.text.contains(&secret[6..]), "list masks the secret");
    }
    for token in [&w.env.a.member, &w.env.a.reader, &w.env.a.writer] {
        let r = w.env.call(Method::GET, &path, Some(token), None).await;
        assert_error(&r, StatusCode::FORBIDDEN, None);
    }
    let b = w.env.new_org("Org B", None).await;
    let r = w.env.call(Method::GET, &path, Some(&b.admin), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let b_path = format!("/orgs/{}/audit-export/webhooks/{id}", b.org.org_id);
    let r = w.env.call(Method::GET, &b_path, Some(&b.admin), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let r = w
        .env
        .call(Method::DELETE, &b_path, Some(&b.admin), None)
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let r = w.env.call(Method::GET, &path, None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, None);

    // PATCH: only what is sent changes; null clears the description.
    let one = format!("{path}/{id}");
    let r = w
        .admin(
            Method::PATCH,
            &one,
            Some(&json!({"description": null, "actions": ["*"], "url": "http://127.0.0.1:9/v2"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["description"], Value::Null);
    assert_eq!(r.body["actions"], json!(["*"]));
    assert_eq!(r.body["url"], "http://127.0.0.1:9/v2");
    assert!(!r.text.contains(&secret[6..]));
    let r = w
        .admin(Method::PATCH, &one, Some(&json!({"enabled": false})))
        .await;
    assert_eq!(r.body["status"], "disabled");
    assert_eq!(r.body["statusReason"], "disabled by an admin");
    assert_eq!(w.get(&id).await["status"], "disabled");

    // Bad input: 4xx naming the field, never a 5xx.
    for (body, field) in [
        (json!({}), "url"),
        (json!({"url": 5}), "url"),
        (
            json!({"url": "http://127.0.0.1:9/", "actions": ["*", "Bad.Action"]}),
            "actions[1]",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "actions": []}),
            "actions",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "enabled": "yes"}),
            "enabled",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "secret": "whsec_x"}),
            "secret",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "description": "a\u{7}b"}),
            "description",
        ),
        (
            json!({"url": format!("http://127.0.0.1:9/{}", "x".repeat(3000))}),
            "url",
        ),
    ] {
        let r = w.admin(Method::POST, &path, Some(&body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
    let r = w
        .env
        .call_raw(
            Method::POST,
            &path,
            Some(&w.env.a.admin),
            Some("url=x"),
            Some("text/plain"),
        )
        .await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    let r = w
        .admin(Method::PATCH, &one, Some(&json!({"enabled": 1})))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("enabled"));
    for bad in ["whk_nope", "../../etc", "whk_01%2F..%2F"] {
        let r = w.admin(Method::GET, &format!("{path}/{bad}"), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
    }

    // DELETE.
    let r = w.admin(Method::DELETE, &one, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = w.admin(Method::GET, &one, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let r = w.admin(Method::DELETE, &one, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn disabled_and_filtered_endpoints_get_nothing() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    w.create(json!({"url": rx.url("/off"), "enabled": false}))
        .await;
    w.create(json!({"url": rx.url("/docs"), "actions": ["document.*"]}))
        .await;
    w.ingest(
        &json!({"events": [event("evt_f1", "user.login"), event("evt_f2", "document.shared")]}),
    )
    .await;
    w.pump().await;
    assert_eq!(w.drain().await.done, 1);
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/docs");
    assert_eq!(got[0].header("webhook-id"), "evt_f2");
}

fn fixture(name: &str, org_id: &str, endpoint_id: &str) -> String {
    let with = Placeholders {
        org_id: Some(org_id.into()),
        webhook_id: Some(endpoint_id.into()),
        ..Placeholders::default()
    };
    fixtures::text(name, &with)
}

#[tokio::test]
async fn lambda_handlers_process_the_events_fixtures() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let (id, secret) = w.endpoint(&rx.url("/")).await;
    let org = w.env.a.org.org_id.clone();

    // DynamoDB stream → fanout: two inserts (one message each; the first with its document
    // as a string, as items written before compression hold it, the second deflated), a TTL
    // removal (ignored).
    let stream: DynamoDbEvent =
        serde_json::from_str(&fixture("dynamodb-stream-events.json", &org, &id)).unwrap();
    let resp = handle_stream_event(&w.fanout, stream.clone()).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(w.depth().await.0, 2);
    // The same batch → summarize, the stream's other consumer: counted; with the counters'
    // table unreachable, the first record not counted is reported, so Lambda retries from it.
    let resp = summary_stream::handle_stream_event(&w.summarizer, stream.clone()).await;
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    let mut unreachable = w.env.config.clone();
    unreachable.config_table = format!("{}-missing", w.env.config.config_table);
    let failing = Summarizer::new(Store::new(w.env.store.client().clone(), &unreachable));
    let resp = summary_stream::handle_stream_event(&failing, stream.clone()).await;
    assert_eq!(
        serde_json::to_value(&resp).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "100000000000000000001"}]})
    );
    // SQS unavailable: the first record not enqueued is reported, so Lambda retries from it.
    let broken = Fanout::new(
        w.env.store.clone(),
        w.sqs.clone(),
        format!("{}-missing", w.queues.queue_url),
    );
    let resp = handle_stream_event(&broken, stream).await;
    let ids: Vec<_> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(ids, ["100000000000000000001"]);
    assert_eq!(
        serde_json::to_value(&resp).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "100000000000000000001"}]})
    );

    // SQS → deliver.
    let sqs: SqsEvent = serde_json::from_str(&fixture("sqs-deliveries.json", &org, &id)).unwrap();
    let resp = handle_sqs_event(&w.deliverer, sqs.clone()).await;
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    let r = &rx.wait_for(1, WAIT).await[0];
    assert_eq!(r.header("webhook-id"), "evt_01HXYZABCDEF");
    assert_eq!(r.json()["action"], "document.opened");
    assert_eq!(
        verify_with_standardwebhooks(&[(&secret, r)]).await[0]["ok"],
        true
    );
    // The same record again (SQS redelivery): acknowledged, not sent.
    let resp = handle_sqs_event(&w.deliverer, sqs.clone()).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(rx.requests().len(), 1);
    // A failing receiver: the record is reported as a batch item failure.
    rx.always(Reply::status(500));
    let other =
        fixture("sqs-deliveries.json", &org, &id).replace("\\\"live\\\"", "\\\"rpl_fixture\\\"");
    let resp = handle_sqs_event(&w.deliverer, serde_json::from_str(&other).unwrap()).await;
    assert_eq!(
        serde_json::to_value(&resp).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]})
    );
}

#[tokio::test]
async fn an_ocsf_endpoint_receives_the_signed_ocsf_record() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let created = w
        .create(json!({"url": rx.url("/ocsf"), "schema": "ocsf"}))
        .await;
    assert_eq!(created["schema"], "ocsf");
    let secret = created["secret"].as_str().unwrap().to_string();
    w.ingest(&seed_event()).await;
    assert_eq!(w.pump().await, 1);
    w.drain().await;
    let got = rx.wait_for(1, WAIT).await;
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["class_uid"], 6003, "{body}");
    assert_eq!(body["metadata"]["uid"], "evt_01HXYZABCDEF");
    let verdicts = verify_with_standardwebhooks(&[(&secret, &got[0])]).await;
    assert_eq!(
        verdicts[0]["ok"], true,
        "the OCSF body is what is signed: {verdicts:?}"
    );
    // Only canonical and ocsf suit a stream of single events.
    for schema in ["columnar", "entry", "xml"] {
        let r = w
            .admin(
                Method::POST,
                &w.path(),
                Some(&json!({"url": rx.url("/x"), "schema": schema})),
            )
            .await;
        support::assert_error(&r, StatusCode::BAD_REQUEST, Some("schema"));
    }
    let id = created["id"].as_str().unwrap();
    let r = w
        .admin(
            Method::PATCH,
            &format!("{}/{id}", w.path()),
            Some(&json!({"schema": "canonical"})),
        )
        .await;
    assert_eq!(r.body["schema"], "canonical", "{}", r.text);
}
