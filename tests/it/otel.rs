//! OTLP log export against moto and a real OTLP/HTTP receiver on 127.0.0.1 that
//! decodes every request with the official protobuf definitions (`opentelemetry-proto` from
//! PyPI): the configuration API, the record mapping, batching by `maxBatchSize`, headers,
//! gzip, exactly-once under duplicated and redelivered messages, retries, `lastError`, the
//! DLQ, auto-pause with its notification, replay and the test endpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use http::{Method, StatusCode};
use relay_app::local::StreamPoller;
use relay_app::pipeline::consumer::Received;
use relay_app::pipeline::message::{otel_messages, LIVE};
use relay_app::pipeline::pause::PauseRule;
use relay_core::retry::RetrySchedule;
use serde_json::{json, Value};
use support::otel::{uid, OtlpReceiver};
use support::webhooks::{WebhookEnv, WebhookOptions};
use support::{assert_error, TestEnv};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

const TOKEN: &str = "Bearer otlp-token-0123456789abcdef";

fn otel_path(org_id: &str) -> String {
    format!("/orgs/{org_id}/audit-export/otel")
}

fn now_plus(secs: i64) -> String {
    relay_core::model::event::rfc3339_millis(
        OffsetDateTime::now_utc() + time::Duration::seconds(secs),
    )
}

/// An event with every field, `success: false` for every fifth, and a timestamp with an offset.
fn rich_event(i: usize) -> Value {
    let ts = (OffsetDateTime::now_utc() - time::Duration::minutes(10))
        .to_offset(UtcOffset::from_hms(2, 0, 0).unwrap())
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    json!({
        "event_id": format!("evt_otel_{i:03}"),
        "timestamp": ts,
        "action": if i.is_multiple_of(2) { "document.opened" } else { "user.login" },
        "actor": {"user_id": format!("usr_{i}"), "email": "jane@example.com",
                  "ip_address": "203.0.113.42", "type": "user", "user_agent": "Mozilla/5.0"},
        "resource": {"type": "document", "id": format!("doc_{i}"), "name": "Contract_v2.docx"},
        "tenant_id": "ten_01ABCDEFG",
        "project": "prj_website",
        "success": !i.is_multiple_of(5),
        "request_id": format!("req_{i}"),
        "duration_ms": i,
        "metadata": {"i": i, "note": "x".repeat(200)}
    })
}

fn simple_event(id: &str) -> Value {
    json!({"event_id": id, "action": "user.login", "actor": {"user_id": "usr_1"}})
}

/// A deployment with an OTLP receiver and the org's export pointed at it.
async fn setup(opts: WebhookOptions, config: Value) -> (WebhookEnv, OtlpReceiver, Value) {
    let w = WebhookEnv::with(opts).await;
    let rx = OtlpReceiver::start();
    let mut body = json!({"endpointUrl": rx.endpoint()});
    for (k, v) in config.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = w
        .admin(Method::POST, &otel_path(&w.env.a.org.org_id), Some(&body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    (w, rx, r.body)
}

async fn config(w: &WebhookEnv) -> Value {
    let r = w
        .admin(Method::GET, &otel_path(&w.env.a.org.org_id), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

/// Event ids and how often the receiver accepted each.
fn count_ids(records: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in records {
        *out.entry(uid(r)).or_default() += 1;
    }
    out
}

fn nanos(rfc3339: &str) -> u64 {
    u64::try_from(
        OffsetDateTime::parse(rfc3339, &Rfc3339)
            .unwrap()
            .unix_timestamp_nanos(),
    )
    .unwrap()
}

#[tokio::test]
async fn every_event_arrives_once_as_one_record_in_batches_of_max_batch_size() {
    let (w, rx, created) = setup(
        WebhookOptions::default(),
        json!({"maxBatchSize": 7, "headers": {"Authorization": TOKEN, "X-Scope-OrgID": "acme"}}),
    )
    .await;
    assert_eq!(created["maxBatchSize"], 7);
    assert_eq!(created["exportUrl"], format!("{}/v1/logs", rx.endpoint()));
    let events: Vec<Value> = (0..60).map(rich_event).collect();
    w.ingest(&json!({ "events": events })).await;
    w.pump().await;
    // The fanout put the batch's 60 events into ceil(60 / 7) messages, not 60.
    let polled = w.drain().await;
    assert_eq!((polled.received, polled.done), (9, 9));

    let requests = rx.requests().await;
    assert_eq!(requests.len(), 9);
    let mut records = vec![];
    for req in &requests {
        assert_eq!(req["answered"], 200);
        assert_eq!(req["path"], "/v1/logs");
        let h = &req["headers"];
        assert_eq!(h["content-type"], "application/x-protobuf");
        assert_eq!(h["authorization"], TOKEN);
        assert_eq!(h["x-scope-orgid"], "acme");
        assert!(h["user-agent"]
            .as_str()
            .unwrap()
            .starts_with("AuditRelay-OTLP/"));
        let n = req["records"].as_array().unwrap().len();
        assert!((1..=7).contains(&n), "{n} records in one request");
        // Gzip above 1 KiB only.
        let raw = req["raw_bytes"].as_u64().unwrap();
        if raw > 1024 {
            assert_eq!(h["content-encoding"], "gzip");
            assert!(req["bytes"].as_u64().unwrap() < raw);
        } else {
            assert!(h.get("content-encoding").is_none());
        }
        records.extend(req["records"].as_array().unwrap().iter().cloned());
    }
    let counts = count_ids(&records);
    let want: BTreeSet<String> = (0..60).map(|i| format!("evt_otel_{i:03}")).collect();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), want);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");

    // One record in full, against what the API stored.
    let r = records.iter().find(|r| uid(r) == "evt_otel_005").unwrap();
    let stored = w
        .env
        .call(
            Method::GET,
            "/v1/audit/logs/evt_otel_005",
            Some(&w.env.a.owner),
            None,
        )
        .await
        .body;
    assert_eq!(
        r["time_unix_nano"].as_u64().unwrap(),
        nanos(stored["timestamp"].as_str().unwrap())
    );
    assert_eq!(
        r["observed_time_unix_nano"].as_u64().unwrap(),
        nanos(stored["received_at"].as_str().unwrap())
    );
    assert_eq!(r["severity_text"], "WARN", "success is false");
    assert_eq!(r["severity_number"], 13);
    assert_eq!(r["event_name"], "user.login");
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, stored, "the body is the canonical event JSON");
    let a = &r["attributes"];
    for (k, v) in [
        ("event.name", json!("user.login")),
        ("log.record.uid", json!("evt_otel_005")),
        ("user.id", json!("usr_5")),
        ("user.email", json!("jane@example.com")),
        ("client.address", json!("203.0.113.42")),
        ("user_agent.original", json!("Mozilla/5.0")),
        ("audit.actor.type", json!("user")),
        ("audit.resource.type", json!("document")),
        ("audit.resource.id", json!("doc_5")),
        ("audit.resource.name", json!("Contract_v2.docx")),
        ("audit.project", json!("prj_website")),
        ("audit.tenant_id", json!("ten_01ABCDEFG")),
        ("audit.success", json!(false)),
        ("audit.request_id", json!("req_5")),
        ("audit.duration_ms", json!(5)),
    ] {
        assert_eq!(a[k], v, "{k}");
    }
    assert_eq!(r["resource"]["service.name"], "auditrelay");
    assert_eq!(r["resource"]["audit.tenant_id"], "ten_01ABCDEFG");
    assert_eq!(r["scope"]["name"], "auditrelay");
    let info = records.iter().find(|r| uid(r) == "evt_otel_006").unwrap();
    assert_eq!(info["severity_text"], "INFO");
    assert_eq!(info["severity_number"], 9);

    let c = config(&w).await;
    assert!(c["lastExportedAt"].is_string(), "{c}");
    assert_eq!(c["lastError"], Value::Null);
    assert_eq!(c["status"], "active");
    assert_eq!(w.depth().await, (0, 0));
}

// Copies of a message are processed one after the other here, never at the same instant:
// moto's conditional writes are not atomic under concurrency (two threads can both pass
// `attribute_not_exists`; 6 keys in 100 with four racing writers, measured), whereas
// DynamoDB's are. What a concurrent copy sees — the other's lease — is set up explicitly.
#[tokio::test]
async fn duplicated_regrouped_and_redelivered_messages_send_each_event_once() {
    let (w, rx, _) = setup(WebhookOptions::default(), json!({"maxBatchSize": 5})).await;
    let org = w.env.a.org.org_id.clone();
    let ids: Vec<String> = (0..12).map(|i| format!("evt_dup_{i:02}")).collect();
    let events: Vec<Value> = ids.iter().map(|i| simple_event(i)).collect();
    w.ingest(&json!({ "events": events })).await;
    w.pump().await;
    assert_eq!(w.depth().await.0, 3, "5 + 5 + 2");
    // maxBatchSize lowered while messages wait: they are cut to the new size.
    let r = w
        .admin(
            Method::POST,
            &otel_path(&org),
            Some(&json!({"endpointUrl": rx.endpoint(), "maxBatchSize": 3})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    w.drain().await;
    for req in rx.requests().await {
        assert!(req["records"].as_array().unwrap().len() <= 3);
    }
    let counts = count_ids(&rx.accepted_records().await);
    assert_eq!(counts.len(), 12);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");

    // A retried fanout batch: the same events again, grouped differently (3+3+3+3). Nothing
    // is sent again.
    let mut again = StreamPoller::new(
        w.env.store.client(),
        aws_sdk_dynamodbstreams::Client::new(&support::sdk().await),
        &w.env.config.events_table,
        w.fanout.clone(),
    )
    .await
    .unwrap();
    assert_eq!(again.poll_once().await.unwrap(), 12);
    assert_eq!(w.depth().await.0, 4);
    let before = rx.requests().await.len();
    let p = w.drain().await;
    assert_eq!((p.received, p.done), (4, 4));
    assert_eq!(rx.requests().await.len(), before, "nothing sent again");

    // A message whose deletion was lost (the function crashed after sending): SQS hands it
    // out again, and it is acknowledged without sending.
    w.ingest(&simple_event("evt_redeliver")).await;
    w.pump().await;
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
    let before = rx.requests().await.len();
    w.make_visible(&received.receipt_handle).await;
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.done), (1, 1));
    assert_eq!(rx.requests().await.len(), before, "nothing sent again");

    // A copy that meets another copy's lease (it is sending the events right now) waits for
    // it, then finds the events delivered and sends nothing.
    let cfg = config(&w).await;
    let config_id = cfg["id"].as_str().unwrap();
    let at = now_plus(0);
    let docs: Vec<(String, String)> = (0..3)
        .map(|i| {
            let id = format!("evt_twin_{i}");
            let doc = json!({"event_id": id, "timestamp": at, "action": "user.login",
                "actor": {"user_id": "usr_1"}, "tenant_id": "ten_01ABCDEFG", "received_at": at});
            (id, doc.to_string())
        })
        .collect();
    let pairs: Vec<(&str, &str)> = docs.iter().map(|(i, d)| (i.as_str(), d.as_str())).collect();
    let (msg, _) = otel_messages(&org, config_id, LIVE, 10, &pairs)
        .pop()
        .unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for (id, _) in &docs {
        let claim = w
            .env
            .store
            .claim_otel_event(config_id, id, LIVE, now, now + 60)
            .await
            .unwrap();
        assert_eq!(claim, relay_store::markers::Claim::Claimed);
    }
    w.sqs
        .send_message()
        .queue_url(&w.queues.queue_url)
        .message_body(serde_json::to_string(&msg).unwrap())
        .send()
        .await
        .unwrap();
    w.recorder.clear();
    let before = rx.requests().await.len();
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.retried), (1, 1));
    let (receipt, wait) = w.recorder.calls()[0].clone();
    assert!((55..=62).contains(&wait), "waits for the lease: {wait}");
    assert_eq!(rx.requests().await.len(), before);
    // The other copy finished.
    let twin_ids: Vec<&str> = docs.iter().map(|(i, _)| i.as_str()).collect();
    w.env
        .store
        .finish_otel_events(config_id, &twin_ids, LIVE, "delivered", now)
        .await
        .unwrap();
    w.make_visible(&receipt).await;
    assert_eq!(w.deliver_once().await.done, 1);
    assert_eq!(rx.requests().await.len(), before, "nothing sent");

    // A deliverer that claimed an event and died before sending: its lease blocks others
    // until it expires, then the event is sent, once.
    // The lease is in whole seconds and must outlast the ingest and pump below on a busy
    // machine, so it is not 1-2 s.
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let lease_until = now + 8;
    w.env
        .store
        .claim_otel_event(config_id, "evt_crash", LIVE, now, lease_until)
        .await
        .unwrap();
    w.ingest(&json!({"events": [simple_event("evt_crash"), simple_event("evt_fine")]}))
        .await;
    w.pump().await;
    w.recorder.clear();
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.retried), (1, 1));
    let counts_now = count_ids(&rx.accepted_records().await);
    assert_eq!(counts_now.get("evt_fine"), Some(&1));
    assert_eq!(counts_now.get("evt_crash"), None);
    let left = lease_until + 1 - OffsetDateTime::now_utc().unix_timestamp();
    tokio::time::sleep(Duration::from_secs(left.max(0) as u64)).await;
    let (receipt, _) = w.recorder.calls()[0].clone();
    w.make_visible(&receipt).await;
    assert_eq!(w.deliver_once().await.done, 1);
    let counts_now = count_ids(&rx.accepted_records().await);
    assert_eq!(counts_now.get("evt_crash"), Some(&1));
    assert_eq!(counts_now.get("evt_fine"), Some(&1));
}

#[tokio::test]
async fn failures_are_retried_by_the_rules_and_shown_in_last_error() {
    let (w, rx, _) = setup(WebhookOptions::default(), json!({})).await;
    let visible_again = |w: &WebhookEnv| {
        let (receipt, delay) = w.recorder.calls().last().cloned().unwrap();
        (receipt, delay)
    };

    // 503 with Retry-After: retried after that delay (within the schedule's next two steps).
    rx.script(vec![
        json!({"status": 503, "retry_after": "120", "message": "collector overloaded"}),
    ])
    .await;
    w.ingest(&json!({"events": [simple_event("evt_f1"), simple_event("evt_f2")]}))
        .await;
    w.pump().await;
    w.recorder.clear();
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.retried), (1, 1));
    let (receipt, delay) = visible_again(&w);
    assert_eq!(delay, 120);
    let c = config(&w).await;
    assert_eq!(c["lastError"], "HTTP 503: collector overloaded", "{c}");
    assert!(c["lastErrorAt"].is_string());
    assert_eq!(c["lastExportedAt"], Value::Null);
    w.make_visible(&receipt).await;
    assert_eq!(w.deliver_once().await.done, 1);
    let c = config(&w).await;
    assert!(c["lastExportedAt"].is_string());
    // The most recent error stays shown.
    assert_eq!(c["lastError"], "HTTP 503: collector overloaded");

    // 429 with a too-short Retry-After: the schedule's next step (30 s); 408: retried too.
    for reply in [
        json!({"status": 429, "retry_after": "1"}),
        json!({"status": 408}),
        json!({"status": 502}),
    ] {
        rx.script(vec![reply.clone()]).await;
        let id = format!("evt_r{}", reply["status"]);
        w.ingest(&simple_event(&id)).await;
        w.pump().await;
        w.recorder.clear();
        let p = w.deliver_once().await;
        assert_eq!(p.retried, 1, "{reply}");
        let (receipt, delay) = visible_again(&w);
        assert!((27..=33).contains(&delay), "{reply}: {delay}");
        w.make_visible(&receipt).await;
        assert_eq!(w.deliver_once().await.done, 1, "{reply}");
    }

    // Any other 4xx: not retried, recorded, counted towards the pause rule.
    rx.script(vec![
        json!({"status": 400, "message": "attribute value too long"}),
    ])
    .await;
    w.ingest(&json!({"events": [simple_event("evt_bad1"), simple_event("evt_bad2")]}))
        .await;
    w.pump().await;
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.done), (1, 1));
    assert_eq!(w.drain().await.received, 0);
    let c = config(&w).await;
    assert_eq!(c["lastError"], "HTTP 400: attribute value too long");
    assert_eq!(c["consecutiveFailures"], 2);
    assert!(c["failingSince"].is_string());

    // A partial success: accepted, not retried, the receiver's message shown; the streak ends.
    rx.script(vec![
        json!({"status": 200, "rejected": 1, "message": "record too old"}),
    ])
    .await;
    w.ingest(&json!({"events": [simple_event("evt_ps1"), simple_event("evt_ps2")]}))
        .await;
    w.pump().await;
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.done), (1, 1));
    let c = config(&w).await;
    assert_eq!(
        c["lastError"],
        "the receiver rejected 1 of 2 records: record too old"
    );
    assert_eq!(c["consecutiveFailures"], 0);
    assert_eq!(c["failingSince"], Value::Null);

    // Every event was accepted exactly once, except the two the receiver refused.
    let counts = count_ids(&rx.accepted_records().await);
    for id in [
        "evt_f1", "evt_f2", "evt_r429", "evt_r408", "evt_r502", "evt_ps1", "evt_ps2",
    ] {
        assert_eq!(counts.get(id), Some(&1), "{id}");
    }
    assert_eq!(counts.get("evt_bad1"), None);
}

#[tokio::test]
async fn exhausted_exports_reach_the_dlq_pause_notify_and_replay_once_re_enabled() {
    let (w, rx, created) = setup(
        WebhookOptions {
            schedule: RetrySchedule::new(vec![Duration::ZERO; 3], 0.0).unwrap(),
            pause: PauseRule {
                after_exhausted: 3,
                ..Default::default()
            },
            ..Default::default()
        },
        json!({"maxBatchSize": 10}),
    )
    .await;
    let org = w.env.a.org.org_id.clone();
    let config_id = created["id"].as_str().unwrap().to_string();
    rx.always(json!({"status": 500, "message": "backend down"}))
        .await;
    let from = now_plus(-5);
    let ids = ["evt_x1", "evt_x2", "evt_x3"];
    w.ingest(&json!({"events": ids.iter().map(|i| simple_event(i)).collect::<Vec<_>>()}))
        .await;
    w.pump().await;
    w.drain().await;
    assert_eq!(rx.requests().await.len(), 4, "four attempts of one request");
    let dlq = w.dlq().await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0]["kind"], "otel");
    assert_eq!(dlq[0]["events"].as_array().unwrap().len(), 3);

    let c = config(&w).await;
    assert_eq!(c["status"], "paused", "{c}");
    assert_eq!(c["enabled"], true);
    assert!(c["pausedReason"]
        .as_str()
        .unwrap()
        .contains("3 events in a row"));
    assert!(c["lastError"]
        .as_str()
        .unwrap()
        .starts_with("HTTP 500: backend down (attempt 4, the last)"));
    let trail = w
        .env
        .all_pages(&w.env.a.owner, "action=security.audit_export_paused")
        .await;
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0]["metadata"]["destination"], "otel");
    assert_eq!(trail[0]["resource"]["id"], config_id.as_str());
    // The request's 3 lost events began the streak (a warning) and paused it.
    let notes = w.notifications().await;
    assert_eq!(notes.len(), 2, "{notes:?}");
    for (note, kind) in [
        ("audit_export_failing", "otel"),
        ("audit_export_paused", "otel"),
    ] {
        let n = notes.iter().find(|n| n["type"] == note).expect(note);
        assert_eq!(n["destination"], kind);
        assert_eq!(n["destination_id"], config_id.as_str());
    }

    // Paused: nothing is enqueued, replays are refused.
    w.ingest(&simple_event("evt_x4")).await;
    w.pump().await;
    assert_eq!(w.depth().await, (0, 0));
    let replay = format!("{}/replay", otel_path(&org));
    let range = json!({"from": from, "to": now_plus(5)});
    let r = w.admin(Method::POST, &replay, Some(&range)).await;
    assert_error(&r, StatusCode::CONFLICT, Some("enabled"));

    // Re-enabled: the streak is cleared and a replay exports what was missed, once.
    rx.heal().await;
    let r = w
        .admin(
            Method::POST,
            &otel_path(&org),
            Some(&json!({"endpointUrl": rx.endpoint(), "enabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["consecutiveFailures"], 0);
    assert_eq!(r.body["id"], config_id.as_str(), "the id is kept");
    let r = w.admin(Method::POST, &replay, Some(&range)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["scanned"], 5, "four events and the pause notice");
    assert_eq!(r.body["batches"], 1);
    assert!(r.body["replayId"].as_str().unwrap().starts_with("rpl_"));
    w.drain().await;
    let counts = count_ids(&rx.accepted_records().await);
    for id in ["evt_x1", "evt_x2", "evt_x3", "evt_x4"] {
        assert_eq!(counts.get(id), Some(&1), "{id}");
    }
    assert_eq!(counts.len(), 5);
}

#[tokio::test]
async fn a_deleted_export_drops_its_queued_events_and_sends_nothing() {
    let (w, rx, created) = setup(WebhookOptions::default(), json!({})).await;
    let org = w.env.a.org.org_id.clone();
    w.ingest(&simple_event("evt_gone")).await;
    w.pump().await;
    let r = w.admin(Method::DELETE, &otel_path(&org), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Re-created: a new id, so the old queue entries are not its business.
    let r = w
        .admin(
            Method::POST,
            &otel_path(&org),
            Some(&json!({"endpointUrl": rx.endpoint()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_ne!(r.body["id"], created["id"]);
    let p = w.drain().await;
    assert_eq!((p.received, p.done), (1, 1));
    assert!(rx.requests().await.is_empty());
}

#[tokio::test]
async fn the_test_endpoint_sends_one_record_and_reports_the_answer() {
    let (w, rx, _) = setup(
        WebhookOptions::default(),
        json!({"headers": {"Authorization": TOKEN}}),
    )
    .await;
    let org = w.env.a.org.org_id.clone();
    let test = format!("{}/test", otel_path(&org));
    let r = w.admin(Method::POST, &test, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["success"], true, "{}", r.text);
    assert_eq!(r.body["statusCode"], 200);
    assert_eq!(r.body["rejectedRecords"], 0);
    assert!(r.body["latencyMs"].is_u64());
    let event_id = r.body["eventId"].as_str().unwrap().to_string();
    let reqs = rx.requests().await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["headers"]["authorization"], TOKEN);
    assert!(
        reqs[0]["headers"].get("content-encoding").is_none(),
        "one small record is not compressed"
    );
    let rec = &reqs[0]["records"][0];
    assert_eq!(uid(rec), event_id);
    assert_eq!(rec["event_name"], "otel.test");
    assert_eq!(rec["attributes"]["audit.tenant_id"], "ten_01ABCDEFG");

    // A refusal is reported, and shown as the most recent error.
    rx.script(vec![json!({"status": 401, "message": "invalid token"})])
        .await;
    let r = w.admin(Method::POST, &test, None).await;
    assert_eq!(r.body["success"], false);
    assert_eq!(r.body["statusCode"], 401);
    assert_eq!(r.body["error"], "HTTP 401: invalid token");
    let c = config(&w).await;
    assert_eq!(c["lastError"], "test: HTTP 401: invalid token");

    // A configuration in the body is tested before it is saved (and nothing is recorded).
    let other = OtlpReceiver::start();
    let r = w
        .admin(
            Method::POST,
            &test,
            Some(
                &json!({"endpointUrl": format!("{}/v1/logs", other.endpoint()),
                         "headers": {"X-Token": "abc"}}),
            ),
        )
        .await;
    assert_eq!(r.body["success"], true, "{}", r.text);
    assert_eq!(other.requests().await[0]["headers"]["x-token"], "abc");
    assert_eq!(config(&w).await["endpointUrl"], rx.endpoint());

    // Nothing listening: a connection error, no status.
    let r = w
        .admin(
            Method::POST,
            &test,
            Some(&json!({"endpointUrl": "http://127.0.0.1:9", "headers": {}})),
        )
        .await;
    assert_eq!(r.body["success"], false);
    assert_eq!(r.body["statusCode"], Value::Null);
    assert!(r.body["error"]
        .as_str()
        .unwrap()
        .starts_with("connection failed"));
}

#[tokio::test]
async fn the_config_api_is_validated_masked_admin_only_and_org_scoped() {
    let env = TestEnv::with_config(|c| c.allow_private_destinations = false).await;
    let org = env.a.org.org_id.clone();
    let path = otel_path(&org);
    let call = |token: &str, method: Method, body: Option<Value>| {
        let env = &env;
        let path = path.clone();
        let token = token.to_string();
        async move { env.call(method, &path, Some(&token), body.as_ref()).await }
    };
    let r = call(&env.a.admin, Method::GET, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, None);

    // A public address over plain http is allowed ("both http:// and https:// are supported");
    // an IP literal needs no DNS.
    let good = json!({"endpointUrl": "http://93.184.215.14:4318",
                      "headers": {"Authorization": TOKEN, "X-Scope": "acme"}});
    for (body, field) in [
        (
            json!({"endpointUrl": "http://93.184.215.14", "maxBatchSize": 0}),
            "maxBatchSize",
        ),
        (
            json!({"endpointUrl": "http://93.184.215.14", "maxBatchSize": 1001}),
            "maxBatchSize",
        ),
        (
            json!({"endpointUrl": "http://93.184.215.14", "maxBatchSize": 1.5}),
            "maxBatchSize",
        ),
        (
            json!({"endpointUrl": "http://93.184.215.14", "maxBatchSize": "10"}),
            "maxBatchSize",
        ),
        (
            json!({"endpointUrl": "http://93.184.215.14", "maxBatchSize": null}),
            "maxBatchSize",
        ),
        (json!({"endpointUrl": "ftp://93.184.215.14"}), "endpointUrl"),
        (json!({"endpointUrl": "not a url"}), "endpointUrl"),
        (
            json!({"endpointUrl": "http://127.0.0.1:4318"}),
            "endpointUrl",
        ),
        (
            json!({"endpointUrl": "http://169.254.169.254/"}),
            "endpointUrl",
        ),
        (
            json!({"endpointUrl": "https://localhost:4318"}),
            "endpointUrl",
        ),
        (
            json!({"endpointUrl": "http://10.0.0.8:4318"}),
            "endpointUrl",
        ),
        (
            json!({"endpointUrl": "http://user:pw@93.184.215.14"}),
            "endpointUrl",
        ),
        (json!({"maxBatchSize": 10}), "endpointUrl"),
        (
            json!({"endpointUrl": "http://93.184.215.14", "headers": {"Content-Type": "x"}}),
            "headers.Content-Type",
        ),
        (
            json!({"endpointUrl": "http://93.184.215.14", "headers": {"X-A": "a\r\nb"}}),
            "headers.X-A",
        ),
        (
            json!({"endpointUrl": "http://93.184.215.14", "headers": []}),
            "headers",
        ),
        (
            json!({"endpointUrl": "http://93.184.215.14", "headers": null}),
            "headers",
        ),
        (
            json!({"endpointUrl": "http://93.184.215.14", "enabled": "yes"}),
            "enabled",
        ),
        (
            json!({"endpointUrl": "http://93.184.215.14", "batchSize": 5}),
            "batchSize",
        ),
    ] {
        let r = call(&env.a.admin, Method::POST, Some(body.clone())).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
        assert!(!r.text.contains("otlp-token"), "{}", r.text);
    }

    // Members and other orgs: 403, and 404 exactly like a missing configuration.
    let r = call(&env.a.member, Method::POST, Some(good.clone())).await;
    assert_error(&r, StatusCode::FORBIDDEN, None);
    let b = env.new_org("Org B", None).await;
    let r = call(&b.admin, Method::POST, Some(good.clone())).await;
    assert_error(&r, StatusCode::NOT_FOUND, None);

    let r = call(&env.a.owner, Method::POST, Some(good.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.body["id"].as_str().unwrap().starts_with("otl_"));
    assert_eq!(r.body["orgId"], org.as_str());
    assert_eq!(r.body["endpointUrl"], "http://93.184.215.14:4318");
    assert_eq!(r.body["exportUrl"], "http://93.184.215.14:4318/v1/logs");
    assert_eq!(r.body["maxBatchSize"], 100, "the default");
    assert_eq!(r.body["enabled"], true);
    assert_eq!(r.body["status"], "active");
    assert_eq!(
        r.body["headers"],
        json!({"Authorization": "****cdef", "X-Scope": "****"})
    );
    for k in [
        "lastError",
        "lastErrorAt",
        "lastExportedAt",
        "pausedAt",
        "pausedReason",
    ] {
        assert_eq!(r.body[k], Value::Null, "{k}");
    }
    assert!(!r.text.contains("otlp-token"), "{}", r.text);
    let shown = call(&env.a.admin, Method::GET, None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(!shown.text.contains("otlp-token"), "{}", shown.text);
    for (token, status) in [
        (&b.admin, StatusCode::NOT_FOUND),
        (&env.a.member, StatusCode::FORBIDDEN),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let r = call(token, method.clone(), None).await;
            assert_error(&r, status, None);
        }
        let r = env
            .call(Method::POST, &format!("{path}/test"), Some(token), None)
            .await;
        assert_error(&r, status, None);
    }

    // Stored header values never follow a new origin: neither behind their mask nor left out.
    for (body, field) in [
        (
            json!({"endpointUrl": "https://attacker.example.net/", "headers": {"Authorization": "****cdef"}}),
            "headers.Authorization",
        ),
        (
            json!({"endpointUrl": "https://93.184.215.14/otlp/"}),
            "headers",
        ),
    ] {
        let r = call(&env.a.admin, Method::POST, Some(body.clone())).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
        // Nor through the test endpoint, which would send them at once.
        let r = env
            .call(
                Method::POST,
                &format!("{path}/test"),
                Some(&env.a.admin),
                Some(&body),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
    // An update on the same origin: the masked value sent back keeps the token; absent fields
    // are kept.
    let r = call(
        &env.a.admin,
        Method::POST,
        Some(json!({"endpointUrl": "http://93.184.215.14:4318/otlp/",
                    "headers": {"Authorization": "****cdef"}, "maxBatchSize": 1000,
                    "enabled": false})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["id"], shown.body["id"]);
    assert_eq!(
        r.body["exportUrl"],
        "http://93.184.215.14:4318/otlp/v1/logs"
    );
    assert_eq!(r.body["status"], "disabled");
    assert_eq!(r.body["maxBatchSize"], 1000);
    let stored = env
        .store
        .get_otel_config(&org, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored
            .headers
            .expose()
            .get("Authorization")
            .map(String::as_str),
        Some(TOKEN)
    );
    assert!(!stored.headers.expose().contains_key("X-Scope"));
    assert!(
        !format!("{stored:?}").contains("otlp-token"),
        "Debug masks the headers"
    );
    let r = call(
        &env.a.admin,
        Method::POST,
        Some(json!({"endpointUrl": "http://93.184.215.14:4318/v1/logs"})),
    )
    .await;
    assert_eq!(r.body["maxBatchSize"], 1000, "kept");
    assert_eq!(
        r.body["headers"],
        json!({"Authorization": "****cdef"}),
        "kept"
    );
    assert_eq!(r.body["status"], "active", "enabled defaults to true");

    let r = call(&env.a.admin, Method::DELETE, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(&env.a.admin, Method::GET, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let r = call(&env.a.admin, Method::DELETE, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let r = env
        .call(
            Method::POST,
            &format!("{path}/test"),
            Some(&env.a.admin),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn replay_validates_its_range_and_pages_with_a_cursor() {
    let (w, rx, _) = setup(WebhookOptions::default(), json!({"maxBatchSize": 2})).await;
    let org = w.env.a.org.org_id.clone();
    let replay = format!("{}/replay", otel_path(&org));
    for (body, field) in [
        (json!({"from": "yesterday", "to": now_plus(5)}), "from"),
        (json!({"from": now_plus(5), "to": now_plus(-5)}), "to"),
        (json!({"from": now_plus(-5)}), "to"),
    ] {
        let r = w.admin(Method::POST, &replay, Some(&body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
    let from = now_plus(-5);
    w.ingest(
        &json!({"events": (0..5).map(|i| simple_event(&format!("evt_rp{i}"))).collect::<Vec<_>>()}),
    )
    .await;
    w.pump().await;
    w.drain().await;
    let r = w
        .admin(
            Method::POST,
            &replay,
            Some(&json!({"from": from, "to": now_plus(5)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["scanned"], 5);
    assert_eq!(r.body["batches"], 3);
    assert_eq!(r.body["hasMore"], false);
    w.drain().await;
    // Delivered live, and once more by the replay (a new generation).
    let counts = count_ids(&rx.accepted_records().await);
    assert!(counts.values().all(|n| *n == 2), "{counts:?}");
    let r = w
        .admin(
            Method::POST,
            &replay,
            Some(&json!({"from": from, "to": now_plus(5), "cursor": "forged"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn an_ocsf_export_sends_ocsf_records_with_their_classification() {
    let (w, rx, created) = setup(WebhookOptions::default(), json!({"schema": "ocsf"})).await;
    assert_eq!(created["schema"], "ocsf");
    let events: Vec<Value> = (0..3).map(rich_event).collect();
    w.ingest(&json!({ "events": events })).await;
    w.pump().await;
    w.drain().await;
    let records = rx.accepted_records().await;
    assert_eq!(records.len(), 3, "{records:?}");
    for r in &records {
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        let a = &r["attributes"];
        assert_eq!(body["metadata"]["uid"], a["log.record.uid"], "{body}");
        assert_eq!(a["ocsf.class_uid"], body["class_uid"], "{a}");
        assert_eq!(a["ocsf.type_uid"], body["type_uid"]);
        assert_eq!(a["ocsf.version"], body["metadata"]["version"]);
    }
    // Only canonical and ocsf suit an event stream; an update keeps the schema unless given.
    let path = otel_path(&w.env.a.org.org_id);
    let r = w
        .admin(
            Method::POST,
            &path,
            Some(&json!({"endpointUrl": rx.endpoint(), "schema": "columnar"})),
        )
        .await;
    support::assert_error(&r, StatusCode::BAD_REQUEST, Some("schema"));
    let r = w
        .admin(
            Method::POST,
            &path,
            Some(&json!({"endpointUrl": rx.endpoint()})),
        )
        .await;
    assert_eq!(r.body["schema"], "ocsf", "{}", r.text);
}
