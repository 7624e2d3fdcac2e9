//! Ingest against moto: round trip, idempotency, concurrency, validation.

use futures::future::join_all;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{assert_error, seed_event, TestEnv, SEED_EVENT};

fn event(i: usize) -> Value {
    json!({
        "event_id": format!("evt_test_{i:05}"),
        "timestamp": format!("2026-05-22T10:{:02}:{:02}Z", (i / 60) % 60, i % 60),
        "action": "document.opened",
        "actor": {"user_id": format!("usr_{}", i % 7)},
    })
}

#[tokio::test]
async fn seed_event_is_accepted_verbatim_and_read_back_unchanged() {
    let env = TestEnv::new().await;
    let r = env
        .call_raw(
            Method::POST,
            "/v1/audit/events",
            Some(&env.a.writer),
            Some(SEED_EVENT),
            Some("application/json"),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["events"][0]["event_id"], "evt_01HXYZABCDEF");
    assert_eq!(r.body["events"][0]["status"], "created");

    let got = env
        .call(
            Method::GET,
            "/v1/audit/logs/evt_01HXYZABCDEF",
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    let mut back = got.body.clone();
    let received = back
        .as_object_mut()
        .unwrap()
        .remove("received_at")
        .expect("received_at added");
    assert!(received.as_str().unwrap().ends_with('Z'));
    assert_eq!(back, seed_event(), "every field unchanged");
    // Field order on the wire is the documented example's too.
    assert!(got.text.starts_with(
        r#"{"event_id":"evt_01HXYZABCDEF","timestamp":"2026-05-22T10:30:00Z","action""#
    ));

    let list = env
        .call(Method::GET, "/v1/audit/logs", Some(&env.a.owner), None)
        .await;
    assert_eq!(list.body["logs"][0], got.body);
}

#[tokio::test]
async fn resending_an_event_stores_it_once() {
    let env = TestEnv::new().await;
    let first = env.ingest(&env.a.writer, &seed_event()).await;
    assert_eq!(first["duplicates"], 0);
    for _ in 0..3 {
        let again = env.ingest(&env.a.writer, &seed_event()).await;
        assert_eq!(again["events"][0]["status"], "duplicate");
        assert_eq!(again["duplicates"], 1);
    }
    let all = env.all_pages(&env.a.owner, "limit=10").await;
    assert_eq!(all.len(), 1);

    // A retried batch whose events carry an event_id but no timestamp (the server fills in the
    // receive time, different on each send) is the same events again, not a conflict.
    let batch = json!({"events": [
        {"event_id": "evt_no_ts_1", "action": "user.login", "actor": {"user_id": "u"}},
        {"event_id": "evt_no_ts_2", "action": "user.logout", "actor": {"user_id": "u"}},
    ]});
    let sent = env.ingest(&env.a.writer, &batch).await;
    assert_eq!(sent["accepted"], 2, "{sent}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let retried = env.ingest(&env.a.writer, &batch).await;
    assert_eq!(retried["duplicates"], 2, "{retried}");

    // The same id with other content is a conflict, named, not a silent overwrite.
    let mut other = seed_event();
    other["action"] = json!("document.deleted");
    let r = env
        .call(
            Method::POST,
            "/v1/audit/events",
            Some(&env.a.writer),
            Some(&other),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, Some("event_id"));
    let stored = env
        .call(
            Method::GET,
            "/v1/audit/logs/evt_01HXYZABCDEF",
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_eq!(stored.body["action"], "document.opened");
}

#[tokio::test]
async fn generated_ids_are_sortable_evt_ids() {
    let env = TestEnv::new().await;
    let r = env
        .ingest(
            &env.a.writer,
            &json!({"events": [
                {"action": "user_login", "actor": {"user_id": "u1"}},
                {"action": "user_logout", "actor": {"user_id": "u1"}}
            ]}),
        )
        .await;
    let ids: Vec<&str> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert!(ids
        .iter()
        .all(|id| id.starts_with("evt_") && id.len() == 30));
    let got = env
        .call(
            Method::GET,
            &format!("/v1/audit/logs/{}", ids[0]),
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_eq!(
        got.body["tenant_id"], "ten_01ABCDEFG",
        "tenant filled from the key's org"
    );
    assert_eq!(got.body["timestamp"], got.body["received_at"]);
}

/// 50 clients send 500 events each at the same time, overlapping heavily (each event is in
/// many requests): every event is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_batches_of_500_store_each_event_once() {
    let env = TestEnv::new().await;
    const POOL: usize = 1000;
    let bodies: Vec<Value> = (0..50)
        .map(|c| {
            let events: Vec<Value> = (0..500).map(|k| event((c * 10 + k) % POOL)).collect();
            json!({ "events": events })
        })
        .collect();
    let results = join_all(bodies.iter().map(|b| env.ingest_retrying(&env.a.writer, b))).await;
    let created: usize = results
        .iter()
        .map(|r| {
            r["accepted"].as_u64().unwrap() as usize - r["duplicates"].as_u64().unwrap() as usize
        })
        .sum();
    let covered: std::collections::BTreeSet<usize> = (0..50)
        .flat_map(|c| (0..500).map(move |k| (c * 10 + k) % POOL))
        .collect();
    // A request retried after a 503 may find some of its events already created by the
    // failed attempt, so `created` can only be at most the distinct count; what is stored
    // must be exactly the distinct events.
    assert!(created <= covered.len());
    let all = env.all_pages(&env.a.owner, "limit=1000").await;
    let ids: std::collections::BTreeSet<String> = all
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), covered.len(), "no duplicates stored");
    assert_eq!(ids.len(), covered.len());
}

#[tokio::test]
async fn bad_input_gets_a_named_4xx_never_a_5xx() {
    let env = TestEnv::new().await;
    let w = Some(env.a.writer.as_str());
    let post = |body: &str| {
        let body = body.to_string();
        let env = &env;
        async move {
            env.call_raw(
                Method::POST,
                "/v1/audit/events",
                w,
                Some(&body),
                Some("application/json"),
            )
            .await
        }
    };

    assert_error(&post("{not json").await, StatusCode::BAD_REQUEST, None);
    assert_error(&post("").await, StatusCode::BAD_REQUEST, None);
    assert_error(&post("[]").await, StatusCode::BAD_REQUEST, None);
    assert_error(&post("null").await, StatusCode::BAD_REQUEST, None);
    assert_eq!(post("{not json").await.body["code"], "malformed_body");

    let cases: Vec<(Value, &str)> = vec![
        (json!({"action": 7, "actor": {"user_id": "u"}}), "action"),
        (json!({"action": "a", "actor": "u"}), "actor"),
        (
            json!({"action": "a", "actor": {"user_id": "u"}, "success": "yes"}),
            "success",
        ),
        (
            json!({"action": "a", "actor": {"user_id": "u"}, "duration_ms": 1.5}),
            "duration_ms",
        ),
        (
            json!({"action": "a", "actor": {"user_id": "u"}, "timestamp": "2026-13-01T00:00:00Z"}),
            "timestamp",
        ),
        (
            json!({"action": "a", "actor": {"user_id": "u"}, "timestamp": "22/05/2026"}),
            "timestamp",
        ),
        (
            json!({"action": "a", "actor": {"user_id": "u"}, "timestamp": 1716373800}),
            "timestamp",
        ),
        (
            json!({"action": "a", "actor": {"user_id": "u"}, "tenant_id": "ten_someone_else"}),
            "tenant_id",
        ),
        (
            json!({"action": "a", "actor": {"user_id": "u"}, "unknown_field": 1}),
            "unknown_field",
        ),
        (
            json!({"action": "a", "actor": {"user_id": "u", "ip_address": "999.1.1.1"}}),
            "actor.ip_address",
        ),
        (
            json!({"action": "Not Valid", "actor": {"user_id": "u"}}),
            "action",
        ),
        (
            json!({"action": "a", "actor": {"user_id": "u"}, "metadata": {"blob": "x".repeat(17 * 1024)}}),
            "metadata",
        ),
        (
            json!({"events": [event(1), {"action": "a"}]}),
            "events[1].actor",
        ),
        (
            json!({"events": [event(1), event(2), {"action": "a", "actor": {"user_id": "u"}, "timestamp": "nope"}]}),
            "events[2].timestamp",
        ),
        (json!({"events": []}), "events"),
        (json!({"events": "x"}), "events"),
    ];
    for (body, field) in cases {
        let r = post(&body.to_string()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
    // 501 events, oversized event (metadata within limit, whole event over 32 KiB).
    let many: Vec<Value> = (0..501).map(event).collect();
    assert_error(
        &post(&json!({"events": many}).to_string()).await,
        StatusCode::BAD_REQUEST,
        Some("events"),
    );
    let big = json!({"action": "a", "actor": {"user_id": "u", "user_agent": "a".repeat(1000)},
        "metadata": {"m": "x".repeat(16_000)},
        "resource": {"type": "t", "id": "i".repeat(500), "name": "n".repeat(1000)},
        "request_id": "r".repeat(256), "project": "p".repeat(256)});
    assert_eq!(post(&big.to_string()).await.status, StatusCode::ACCEPTED);

    // A body over the 6 MiB limit, and the wrong content type.
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(7 * 1024 * 1024));
    let r = post(&huge).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, None);
    // Every route has the one limit and the one JSON answer, the test endpoints included
    // (which take an optional body): 3 MB is a JSON 400 about the content, 7 MB a JSON 413.
    let org = env.a.org.org_id.clone();
    for path in [
        format!("/orgs/{org}/audit-export/otel/test"),
        format!("/orgs/{org}/audit-export/test-connection"),
        format!("/orgs/{org}/audit-export/webhooks"),
    ] {
        let r = env
            .call_raw(
                Method::POST,
                &path,
                Some(&env.a.admin),
                Some(&huge),
                Some("application/json"),
            )
            .await;
        assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, None);
        let three = format!("{{\"endpointUrl\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
        let r = env
            .call_raw(
                Method::POST,
                &path,
                Some(&env.a.admin),
                Some(&three),
                Some("application/json"),
            )
            .await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
        assert_ne!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert!(
            r.body["code"].is_string(),
            "{path}: a JSON error: {}",
            &r.text[..r.text.len().min(200)]
        );
    }
    let r = env
        .call_raw(
            Method::POST,
            "/v1/audit/events",
            w,
            Some("{}"),
            Some("text/plain"),
        )
        .await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);

    // Nothing of the rejected requests was stored.
    assert_eq!(env.all_pages(&env.a.owner, "").await.len(), 1);
}

#[tokio::test]
async fn write_units_per_event_are_counted() {
    let env = TestEnv::new().await;
    let org = env.a.org.clone();
    let now = time::OffsetDateTime::now_utc();
    let valid = relay_app::ingest::validate_body(seed_event(), &org, now).unwrap();
    let item = relay_store::events::event_item(&org.org_id, &valid[0], 0);
    let size = relay_store::events::item_size(&item);
    let wru = relay_store::events::write_units(&item);
    println!("seed event: item {size} bytes, {wru} write request units (table + 4 GSIs)");
    assert!(size < 1024, "a typical event fits one write unit per copy");
    assert_eq!(wru, 5);
}
