//! The `/v1/audit/` aggregate reads against moto: `GET /v1/audit/summary` compared with counts
//! computed from the raw events (and unchanged when the stream redelivers every record), and
//! the identity, resource and secret trails (index-backed, paginated, with a summary).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use http::{Method, StatusCode};
use relay_app::local::StreamPoller;
use relay_app::pipeline::stream::StreamInsert;
use relay_app::summary::stream::Summarizer;
use relay_core::model::event::{parse_time, rfc3339_millis};
use relay_store::Store;
use serde_json::{json, Value};
use support::webhooks::{Receiver, WebhookEnv};
use support::{assert_error, TestEnv};
use time::{Duration, OffsetDateTime};

const ACTIONS: [&str; 4] = ["read", "write", "delete", "rotate"];
const SECRET: &str = "integrations/salesforce/oauth";

/// `n` events over the last ~`n * 10` minutes: 7 identities, documents and one secret,
/// every 7th failed.
fn events(n: usize, now: OffsetDateTime) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let ts = now - Duration::minutes(10 * i as i64 + 1);
            let resource = if i % 5 == 0 {
                json!({"type": "secret", "id": SECRET})
            } else {
                json!({"type": "document", "id": format!("doc_{}", i % 4)})
            };
            let mut e = json!({
                "event_id": format!("evt_q_{i:05}"),
                "timestamp": rfc3339_millis(ts),
                "action": ACTIONS[i % ACTIONS.len()],
                "actor": {"user_id": format!("usr_{}", i % 7)},
                "resource": resource,
            });
            if i % 7 == 3 {
                e["success"] = json!(false);
            }
            e
        })
        .collect()
}

/// The summary computed from raw events in `[from, to)`.
fn expected_summary(events: &[Value], from: OffsetDateTime, to: OffsetDateTime) -> Value {
    let mut total = 0u64;
    let mut failed = 0u64;
    let mut actions: BTreeMap<String, u64> = BTreeMap::new();
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut res: HashMap<(String, String), u64> = HashMap::new();
    for e in events {
        let t = parse_time("t", e["timestamp"].as_str().unwrap()).unwrap();
        if t < from || t >= to {
            continue;
        }
        total += 1;
        if e["success"] == json!(false) {
            failed += 1;
        }
        *actions
            .entry(e["action"].as_str().unwrap().into())
            .or_default() += 1;
        *ids.entry(e["actor"]["user_id"].as_str().unwrap().into())
            .or_default() += 1;
        let r = &e["resource"];
        *res.entry((
            r["type"].as_str().unwrap().into(),
            r["id"].as_str().unwrap().into(),
        ))
        .or_default() += 1;
    }
    let mut ids: Vec<(String, u64)> = ids.into_iter().collect();
    ids.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut res: Vec<((String, String), u64)> = res.into_iter().collect();
    res.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    json!({
        "total_events": total,
        "successful_events": total - failed,
        "failed_events": failed,
        "actions_breakdown": actions,
        "top_identities": ids.iter().take(10).map(|(id, c)| json!({"identity_id": id, "count": c})).collect::<Vec<_>>(),
        "top_resources": res.iter().take(10).map(|((t, id), c)| json!({"path": id, "type": t, "count": c})).collect::<Vec<_>>(),
    })
}

async fn ingest_all(env: &TestEnv, events: &[Value]) {
    for chunk in events.chunks(100) {
        env.ingest_retrying(&env.a.writer, &json!({ "events": chunk }))
            .await;
    }
}

fn range_query(from: OffsetDateTime, to: OffsetDateTime) -> String {
    let enc = |t: OffsetDateTime| rfc3339_millis(t).replace(':', "%3A");
    format!("from={}&to={}", enc(from), enc(to))
}

/// Follows a trail's cursors; returns every event and the first page's summary.
async fn trail(env: &TestEnv, token: &str, path: &str) -> (Vec<Value>, Value) {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut summary = Value::Null;
    loop {
        let mut uri = format!("{path}?limit=17");
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let r = env.call(Method::GET, &uri, Some(token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
        let mut s = r.body["summary"].clone();
        if summary.is_null() {
            summary = s;
        } else {
            // The range moves with the clock (30 days up to now); the counts do not.
            for k in ["from", "to"] {
                s[k] = summary[k].clone();
            }
            assert_eq!(s, summary, "every page has the same summary");
        }
        out.extend(r.body["logs"].as_array().unwrap().iter().cloned());
        match r.body["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (out, summary),
        }
    }
}

#[tokio::test]
async fn summary_matches_the_raw_events_and_survives_redelivery() {
    let w = WebhookEnv::new().await;
    let env = &w.env;
    // In milliseconds, as the events' timestamps and the ranges are sent.
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap();
    let evs = events(120, now);
    ingest_all(env, &evs).await;
    assert_eq!(w.pump().await, 120);

    // Ranges with sub-minute edges (read from the events), whole minutes, hours and days
    // (counters).
    let ranges = [
        (now - Duration::days(30), now + Duration::minutes(1)),
        (
            now - Duration::hours(47) - Duration::minutes(13),
            now - Duration::minutes(37),
        ),
        (now - Duration::minutes(95), now - Duration::minutes(5)),
        // Events at both ends' edges: `from` inclusive, `to` exclusive.
        (now - Duration::minutes(21), now - Duration::minutes(1)),
    ];
    for (from, to) in ranges {
        let uri = format!("/v1/audit/summary?{}", range_query(from, to));
        let r = env.call(Method::GET, &uri, Some(&env.a.reader), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body, expected_summary(&evs, from, to), "{uri}");
        let keys: BTreeSet<&str> = r
            .body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "total_events",
                "successful_events",
                "failed_events",
                "actions_breakdown",
                "top_identities",
                "top_resources"
            ]),
            "the documented shape"
        );
    }

    // The stream delivers records again (a retried batch, here 40 of them, at or before the
    // position counted, mixed with nothing new): nothing is counted twice.
    let logs = env.all_pages(&env.a.reader, "limit=1000").await;
    assert_eq!(logs.len(), 120);
    let inserts: Vec<StreamInsert> = logs[..40]
        .iter()
        .enumerate()
        .map(|(i, e)| StreamInsert {
            sequence_number: format!("{i:021}"),
            org_id: env.a.org.org_id.clone(),
            event_id: e["event_id"].as_str().unwrap().into(),
            action: e["action"].as_str().unwrap().into(),
            doc: e.to_string(),
        })
        .collect();
    assert_eq!(w.summarizer.process(&inserts).await, None);
    let (from, to) = ranges[0];
    let uri = format!("/v1/audit/summary?{}", range_query(from, to));
    let r = env.call(Method::GET, &uri, Some(&env.a.reader), None).await;
    assert_eq!(r.body, expected_summary(&evs, from, to));
    assert_eq!(r.body["total_events"], 120);

    // The default range is the last 30 days; `top` bounds the lists.
    let r = env
        .call(
            Method::GET,
            "/v1/audit/summary?top=2",
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["total_events"], 120);
    assert_eq!(r.body["top_identities"].as_array().unwrap().len(), 2);

    // Another org sees none of it.
    let b = env.new_org("Org B", None).await;
    let r = env
        .call(Method::GET, "/v1/audit/summary", Some(&b.reader), None)
        .await;
    assert_eq!(r.body["total_events"], 0);
}

/// The summary counters are the stream's second consumer, with a position of their own:
/// while counting fails (here their table cannot be reached, on every batch), every webhook is
/// delivered all the same; once counting works again, every event is counted, once.
#[tokio::test]
async fn a_summary_that_cannot_be_counted_holds_no_delivery_back() {
    let w = WebhookEnv::new().await;
    let env = &w.env;
    let rx = Receiver::start().await;
    w.endpoint(&rx.url("/hook")).await;
    let now = OffsetDateTime::now_utc();
    let evs = events(30, now);
    ingest_all(env, &evs).await;

    let mut unreachable = env.config.clone();
    unreachable.config_table = format!("{}-missing", env.config.config_table);
    let failing = Summarizer::new(Store::new(env.store.client().clone(), &unreachable));
    let mut failing_stream = StreamPoller::new(
        env.store.client(),
        aws_sdk_dynamodbstreams::Client::new(&support::sdk().await),
        &env.config.events_table,
        failing,
    )
    .await
    .unwrap();
    for _ in 0..3 {
        // Read, not counted, read again from the same record.
        assert_eq!(failing_stream.poll_once().await.unwrap(), 30);
    }

    assert_eq!(w.pump_fanout().await, 30);
    w.drain().await;
    let got = rx.wait_for(30, std::time::Duration::from_secs(20)).await;
    let ids: BTreeSet<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(
        ids.len(),
        30,
        "every event delivered while the summary is failing"
    );
    let (from, to) = (now - Duration::days(1), now + Duration::minutes(1));
    let uri = format!("/v1/audit/summary?{}", range_query(from, to));
    let r = env.call(Method::GET, &uri, Some(&env.a.reader), None).await;
    assert_eq!(r.body["total_events"], 0, "nothing counted yet: {}", r.text);

    // Counting works again: its own poller resumes where counting stopped (here: the start).
    w.pump().await;
    w.pump().await;
    let r = env.call(Method::GET, &uri, Some(&env.a.reader), None).await;
    assert_eq!(r.body, expected_summary(&evs, from, to));
    assert_eq!(r.body["total_events"], 30);
}

/// Counting is exactly once by the stream's order, not by a marker per event: a batch retried
/// from the middle, the same batch twice, and two copies of one batch counted at once (a
/// Lambda retry racing a slow first run) each count an event once.
#[tokio::test]
async fn summary_counts_each_record_once_by_its_stream_position() {
    let env = TestEnv::new().await;
    let summarizer = Summarizer::new(env.store.clone());
    let org = &env.a.org.org_id;
    // From yesterday's midnight: the ranges below are whole minutes, read from counters alone.
    let t0 = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT) - Duration::days(1);
    let evs: Vec<Value> = (0..60)
        .map(|i| {
            json!({
                "event_id": format!("evt_pos_{i:03}"),
                "timestamp": rfc3339_millis(t0 + Duration::seconds(7 * i as i64)),
                "action": ACTIONS[i % ACTIONS.len()],
                "actor": {"user_id": format!("usr_{}", i % 3)},
                "resource": {"type": "document", "id": format!("doc_{}", i % 5)},
            })
        })
        .collect();
    // Sequence numbers as DynamoDB writes them: 21 digits and more, increasing.
    let insert = |i: usize| StreamInsert {
        sequence_number: (99_999_999_999_999_999_990u128 + i as u128).to_string(),
        org_id: org.clone(),
        event_id: evs[i]["event_id"].as_str().unwrap().into(),
        action: evs[i]["action"].as_str().unwrap().into(),
        doc: evs[i].to_string(),
    };
    let batch = |r: std::ops::Range<usize>| -> Vec<StreamInsert> { r.map(insert).collect() };

    assert_eq!(summarizer.process(&batch(0..20)).await, None);
    // Retried from the middle, with new records after it (the digits grow past 21 here).
    assert_eq!(summarizer.process(&batch(10..40)).await, None);
    assert_eq!(summarizer.process(&batch(10..40)).await, None);
    // Two copies of the next batch at once.
    let (first, second) = (batch(40..60), batch(40..60));
    let (a, b) = tokio::join!(summarizer.process(&first), summarizer.process(&second));
    assert_eq!((a, b), (None, None));

    let (from, to) = (t0, t0 + Duration::hours(1));
    let uri = format!("/v1/audit/summary?{}", range_query(from, to));
    let r = env.call(Method::GET, &uri, Some(&env.a.reader), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, expected_summary(&evs, from, to));
    assert_eq!(r.body["total_events"], 60);
    // A minute-aligned slice reads the minute counters.
    let (from, to) = (t0 + Duration::minutes(2), t0 + Duration::minutes(5));
    let uri = format!("/v1/audit/summary?{}", range_query(from, to));
    let r = env.call(Method::GET, &uri, Some(&env.a.reader), None).await;
    assert_eq!(r.body, expected_summary(&evs, from, to));
}

#[tokio::test]
async fn summary_bad_input_and_scopes() {
    let env = TestEnv::new().await;
    let get = |q: &str, token: &str| {
        let uri = format!("/v1/audit/summary?{q}");
        let token = token.to_string();
        let env = &env;
        async move { env.call(Method::GET, &uri, Some(&token), None).await }
    };
    let r = get(
        "from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z",
        &env.a.reader,
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("from"));
    let r = get(
        "from=2020-01-01T00:00:00Z&to=2026-05-01T00:00:00Z",
        &env.a.reader,
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("from"));
    let r = get("to=yesterday", &env.a.reader).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("to"));
    let r = get("top=0", &env.a.reader).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("top"));
    let r = get("", &env.a.writer).await;
    assert_error(&r, StatusCode::FORBIDDEN, None);
    let r = env.call(Method::GET, "/v1/audit/summary", None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, None);
}

#[tokio::test]
async fn identity_resource_and_secret_trails() {
    let w = WebhookEnv::new().await;
    let env = &w.env;
    let now = OffsetDateTime::now_utc();
    let evs = events(100, now);
    ingest_all(env, &evs).await;
    w.pump().await;
    let b = env.new_org("Org B", None).await;

    let ids = |pred: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
        evs.iter()
            .filter(|e| pred(e))
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect()
    };
    let got = |logs: &[Value]| -> Vec<String> {
        logs.iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect()
    };
    let check_summary = |s: &Value, pred: &dyn Fn(&Value) -> bool| {
        let mine: Vec<&Value> = evs.iter().filter(|e| pred(e)).collect();
        let failed = mine.iter().filter(|e| e["success"] == json!(false)).count();
        assert_eq!(s["total_events"], mine.len(), "{s}");
        assert_eq!(s["failed_events"], failed, "{s}");
        assert_eq!(s["successful_events"], mine.len() - failed, "{s}");
        let mut actions: BTreeMap<&str, u64> = BTreeMap::new();
        for e in &mine {
            *actions.entry(e["action"].as_str().unwrap()).or_default() += 1;
        }
        assert_eq!(s["actions_breakdown"], json!(actions));
        // 30 days up to now.
        let from = parse_time("from", s["from"].as_str().unwrap()).unwrap();
        let to = parse_time("to", s["to"].as_str().unwrap()).unwrap();
        assert_eq!(to - from, Duration::days(30));
    };

    // Identity: every page newest first, exactly that identity's events.
    let is_usr3 = |e: &Value| e["actor"]["user_id"] == "usr_3";
    let (logs, summary) = trail(env, &env.a.reader, "/v1/audit/identities/usr_3").await;
    let order = got(&logs);
    assert_eq!(
        order.iter().cloned().collect::<BTreeSet<_>>(),
        ids(&is_usr3)
    );
    assert_eq!(
        order.len(),
        ids(&is_usr3).len(),
        "no duplicates across pages"
    );
    let times: Vec<&str> = logs
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    check_summary(&summary, &is_usr3);

    // Filters of /v1/audit/logs apply within the trail.
    let r = env
        .call(
            Method::GET,
            "/v1/audit/identities/usr_3?action=read&limit=1000",
            Some(&env.a.reader),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let want = ids(&|e: &Value| is_usr3(e) && e["action"] == "read");
    assert_eq!(
        got(r.body["logs"].as_array().unwrap())
            .into_iter()
            .collect::<BTreeSet<_>>(),
        want
    );

    // A resource of any type.
    let is_doc2 = |e: &Value| e["resource"] == json!({"type": "document", "id": "doc_2"});
    let (logs, summary) = trail(env, &env.a.reader, "/v1/audit/resources/document/doc_2").await;
    assert_eq!(
        got(&logs).into_iter().collect::<BTreeSet<_>>(),
        ids(&is_doc2)
    );
    assert_eq!(logs.len(), ids(&is_doc2).len());
    check_summary(&summary, &is_doc2);

    // A secret by its path (slashes included), as `GET /v1/audit/secrets/{path}` names it.
    let is_secret = |e: &Value| e["resource"]["type"] == "secret";
    let (logs, summary) = trail(env, &env.a.reader, &format!("/v1/audit/secrets/{SECRET}")).await;
    assert_eq!(
        got(&logs).into_iter().collect::<BTreeSet<_>>(),
        ids(&is_secret)
    );
    check_summary(&summary, &is_secret);
    let r = env
        .call(
            Method::GET,
            &format!("/v1/audit/secrets/{SECRET}?limit=1"),
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_eq!(r.body["path"], SECRET);
    assert_eq!(r.body["resource"], json!({"type": "secret", "id": SECRET}));
    assert_eq!(r.body["has_more"], true);
    let (alt, _) = trail(
        env,
        &env.a.reader,
        &format!("/v1/audit/resources/secret/{SECRET}"),
    )
    .await;
    assert_eq!(got(&alt).len(), got(&logs).len());

    // Scoped to the caller's org; bad input named; scope required.
    let (logs, summary) = trail(env, &b.reader, "/v1/audit/identities/usr_3").await;
    assert!(logs.is_empty());
    assert_eq!(summary["total_events"], 0);
    let r = env
        .call(
            Method::GET,
            "/v1/audit/identities/usr_3?limit=0",
            Some(&env.a.reader),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("limit"));
    let r = env
        .call(
            Method::GET,
            "/v1/audit/identities/usr_3?from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z",
            Some(&env.a.reader),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = env
        .call(
            Method::GET,
            "/v1/audit/identities/usr_3?identity_id=x",
            Some(&env.a.reader),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("identity_id"));
    let r = env
        .call(
            Method::GET,
            "/v1/audit/resources/document/doc_2",
            Some(&env.a.writer),
            None,
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, None);
}

#[tokio::test]
async fn resource_trails_do_not_mix_types_and_ids_that_share_separators() {
    let env = TestEnv::new().await;
    let a = json!({"event_id": "evt_res_a", "action": "secret.read", "actor": {"user_id": "u"},
                   "resource": {"type": "secret#a", "id": "b"}});
    let b = json!({"event_id": "evt_res_b", "action": "secret.read", "actor": {"user_id": "u"},
                   "resource": {"type": "secret", "id": "a#b"}});
    ingest_all(&env, &[a, b]).await;
    let (one, _) = trail(&env, &env.a.reader, "/v1/audit/resources/secret%23a/b").await;
    let (two, _) = trail(&env, &env.a.reader, "/v1/audit/resources/secret/a%23b").await;
    let ids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&one), vec!["evt_res_a"]);
    assert_eq!(ids(&two), vec!["evt_res_b"]);
}
