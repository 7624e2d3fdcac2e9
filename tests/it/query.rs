//! `GET /v1/audit/logs` against moto: every filter, pagination, cursor safety.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{assert_error, TestEnv};

/// A varied set of 60 events with known properties.
fn corpus() -> Vec<Value> {
    (0..60)
        .map(|i| {
            let action = ["document.opened", "user.login", "settings.updated"][i % 3];
            let actor_type = ["user", "api_key", "service_account"][i % 3];
            let mut e = json!({
                "event_id": format!("evt_q_{i:03}"),
                "timestamp": format!("2026-05-{:02}T{:02}:00:00Z", 1 + i / 24, i % 24),
                "action": action,
                "actor": {
                    "user_id": format!("usr_{}", i % 4),
                    "ip_address": format!("10.0.0.{}", i % 5),
                    "type": actor_type,
                },
                "success": i % 6 != 0,
                "request_id": format!("req_{}", i % 10),
            });
            if i % 2 == 0 {
                let system = ["salesforce", "github"][i % 4 / 2];
                e["resource"] =
                    json!({"type": "secret", "id": format!("integrations/{system}/oauth")});
            }
            e
        })
        .collect()
}

type Predicate = Box<dyn Fn(&Value) -> bool>;

fn ids(logs: &[Value]) -> Vec<String> {
    logs.iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect()
}

/// Expected ids for a predicate, newest first.
fn expect(pred: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut v: Vec<&Value> = Vec::new();
    let events = corpus();
    for e in &events {
        if pred(e) {
            v.push(e);
        }
    }
    v.sort_by(|a, b| b["timestamp"].as_str().cmp(&a["timestamp"].as_str()));
    ids(&v.into_iter().cloned().collect::<Vec<_>>())
}

#[tokio::test]
async fn every_filter_selects_exactly_the_matching_events() {
    let env = TestEnv::new().await;
    env.ingest(&env.a.writer, &json!({ "events": corpus() }))
        .await;
    let t = &env.a.owner;

    let all = env.all_pages(t, "limit=7").await;
    assert_eq!(ids(&all), expect(|_| true), "newest first");

    let cases: Vec<(&str, Predicate)> = vec![
        (
            "from=2026-05-02T00:00:00Z",
            Box::new(|e| e["timestamp"].as_str().unwrap() >= "2026-05-02"),
        ),
        (
            "to=2026-05-02T00:00:00Z",
            Box::new(|e| e["timestamp"].as_str().unwrap() < "2026-05-02"),
        ),
        (
            "from=2026-05-01T10:00:00Z&to=2026-05-02T05:00:00Z",
            Box::new(|e| {
                let ts = e["timestamp"].as_str().unwrap();
                ("2026-05-01T10:00:00Z".."2026-05-02T05:00:00Z").contains(&ts)
            }),
        ),
        (
            "action=user.login",
            Box::new(|e| e["action"] == "user.login"),
        ),
        (
            "action=user.login,settings.updated",
            Box::new(|e| e["action"] != "document.opened"),
        ),
        (
            "identity_id=usr_2",
            Box::new(|e| e["actor"]["user_id"] == "usr_2"),
        ),
        (
            "identity_type=api_key",
            Box::new(|e| e["actor"]["type"] == "api_key"),
        ),
        (
            "path_prefix=integrations/github",
            Box::new(|e| {
                e["resource"]["id"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("integrations/github"))
            }),
        ),
        ("success=false", Box::new(|e| e["success"] == false)),
        ("success=true", Box::new(|e| e["success"] == true)),
        (
            "source_ip=10.0.0.3",
            Box::new(|e| e["actor"]["ip_address"] == "10.0.0.3"),
        ),
        ("request_id=req_7", Box::new(|e| e["request_id"] == "req_7")),
        (
            "identity_id=usr_1&action=user.login&from=2026-05-01T12:00:00Z",
            Box::new(|e| {
                e["actor"]["user_id"] == "usr_1"
                    && e["action"] == "user.login"
                    && e["timestamp"].as_str().unwrap() >= "2026-05-01T12"
            }),
        ),
    ];
    for (q, pred) in cases {
        for limit in [1000, 3] {
            let got = env.all_pages(t, &format!("{q}&limit={limit}")).await;
            let want = expect(&pred);
            assert!(!want.is_empty(), "{q} selects something");
            assert_eq!(ids(&got), want, "{q} limit={limit}");
        }
    }
}

#[tokio::test]
async fn pagination_over_2500_events_has_no_gap_and_no_duplicate() {
    let env = TestEnv::new().await;
    let mut expected = BTreeSet::new();
    for batch in 0..5 {
        let events: Vec<Value> = (0..500)
            .map(|k| {
                let i = batch * 500 + k;
                expected.insert(format!("evt_p_{i:05}"));
                // Pairs of events share a timestamp, to exercise the id tiebreak.
                json!({"event_id": format!("evt_p_{i:05}"), "timestamp": format!("2026-06-01T00:{:02}:{:02}Z", (i / 2) / 60 % 60, (i / 2) % 60),
                       "action": "document.opened", "actor": {"user_id": "u"}})
            })
            .collect();
        env.ingest(&env.a.writer, &json!({ "events": events }))
            .await;
    }
    for limit in [100, 1000, 999] {
        let got = env
            .all_pages(&env.a.reader, &format!("limit={limit}"))
            .await;
        let got_ids = ids(&got);
        let unique: BTreeSet<String> = got_ids.iter().cloned().collect();
        assert_eq!(got_ids.len(), 2500, "limit {limit}");
        assert_eq!(unique, expected, "limit {limit}");
        let times: Vec<&str> = got
            .iter()
            .map(|e| e["timestamp"].as_str().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    }
    // Default page size is 100.
    let r = env
        .call(Method::GET, "/v1/audit/logs", Some(&env.a.reader), None)
        .await;
    assert_eq!(r.body["logs"].as_array().unwrap().len(), 100);
    assert_eq!(r.body["has_more"], true);
}

#[tokio::test]
async fn cursors_are_tamper_proof_and_bound_to_org_and_filters() {
    let env = TestEnv::new().await;
    let b = env.new_org("Org B", None).await;
    let events: Vec<Value> = (0..5)
        .map(|i| json!({"event_id": format!("e{i}"), "action": "a.b", "actor": {"user_id": "u"}}))
        .collect();
    env.ingest(&env.a.writer, &json!({ "events": events }))
        .await;
    let page = env
        .call(
            Method::GET,
            "/v1/audit/logs?limit=2",
            Some(&env.a.owner),
            None,
        )
        .await;
    let cursor = page.body["cursor"].as_str().unwrap().to_string();

    // Org B replaying org A's cursor: 400, never A's rows.
    let r = env
        .call(
            Method::GET,
            &format!("/v1/audit/logs?limit=2&cursor={cursor}"),
            Some(&b.owner),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("cursor"));
    // Edited cursor.
    let mut edited = cursor.clone().into_bytes();
    edited[3] = if edited[3] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    let r = env
        .call(
            Method::GET,
            &format!("/v1/audit/logs?limit=2&cursor={edited}"),
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("cursor"));
    // Same org, other filters.
    let r = env
        .call(
            Method::GET,
            &format!("/v1/audit/logs?limit=2&action=a.b&cursor={cursor}"),
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("cursor"));
    // Garbage.
    let r = env
        .call(
            Method::GET,
            "/v1/audit/logs?cursor=%00%01",
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("cursor"));
    // The genuine cursor works.
    let r = env
        .call(
            Method::GET,
            &format!("/v1/audit/logs?limit=2&cursor={cursor}"),
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["logs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    let env = TestEnv::new().await;
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("from=yesterday", "from"),
        ("to=2026-01-01", "to"),
        ("success=maybe", "success"),
        ("identity_type=robot", "identity_type"),
        ("action=NOT%20AN%20ACTION", "action"),
        ("secret_path=x", "secret_path"),
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
    ] {
        let r = env
            .call(
                Method::GET,
                &format!("/v1/audit/logs?{q}"),
                Some(&env.a.owner),
                None,
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
}

#[tokio::test]
async fn logs_answer_in_the_asked_shape() {
    let env = TestEnv::new().await;
    env.ingest(&env.a.writer, &support::seed_event()).await;
    let get = |uri: String| {
        let env = &env;
        async move { env.call(Method::GET, &uri, Some(&env.a.reader), None).await }
    };
    let r = get("/v1/audit/logs?schema=entry".into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let e = &r.body["logs"][0];
    assert_eq!(e["id"], "evt_01HXYZABCDEF");
    assert_eq!(e["identity_id"], "usr_01ABCDEFG");
    assert_eq!(e["secret_path"], "doc_01ABCDEF");
    assert!(
        e.get("extra_data").is_some() && e.get("event_id").is_none(),
        "{e}"
    );
    let r = get("/v1/audit/logs/evt_01HXYZABCDEF?schema=ocsf".into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["class_uid"], 6003);
    assert_eq!(r.body["metadata"]["uid"], "evt_01HXYZABCDEF");
    let r = get("/v1/audit/logs/evt_01HXYZABCDEF".into()).await;
    assert_eq!(
        r.body["event_id"], "evt_01HXYZABCDEF",
        "canonical by default"
    );
    for uri in [
        "/v1/audit/logs?schema=columnar",
        "/v1/audit/logs?schema=xml",
        "/v1/audit/logs/evt_01HXYZABCDEF?schema=columnar",
    ] {
        assert_error(
            &get(uri.into()).await,
            StatusCode::BAD_REQUEST,
            Some("schema"),
        );
    }
    let r = get("/v1/audit/logs/evt_01HXYZABCDEF?limit=3".into()).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("limit"));
}
