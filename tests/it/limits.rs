//! Rate limits and the replay budget against moto: 429 with `Retry-After` and the JSON error,
//! per key and per org, shared by two API instances through the config table, the operator's
//! per-org overrides, refill after the window, the outbound and ingest classes, the writes a
//! request costs, and a replay over the org's budget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use axum::body::Body;
use axum::Router;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use relay_api::{router, AppState};
use relay_app::wiring::Wiring;
use relay_core::limits::{LimitClass, LimitOverrides};
use relay_store::Store;
use serde_json::{json, Value};
use support::webhooks::{Receiver, WebhookEnv};
use support::TestEnv;
use tower::ServiceExt;

const NOW: &str = "2026-11-21T00:00:00.000Z";

/// A response with the headers the support harness leaves out.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    token: &str,
    body: Option<&Value>,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let retry_after = resp.headers().get("retry-after").map(|v| {
        v.to_str()
            .unwrap()
            .parse()
            .expect("Retry-After is whole seconds")
    });
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        retry_after,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Asserts the documented refusal: 429, `Retry-After` within the window, `rate_limited`.
fn assert_limited(a: &Answer, window: u64) {
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    let secs = a.retry_after.expect("Retry-After header");
    assert!((1..=window).contains(&secs), "Retry-After {secs}");
    assert_eq!(a.body["code"], "rate_limited", "{}", a.body);
    assert!(
        a.body["error"].as_str().unwrap().contains("rate limit"),
        "{}",
        a.body
    );
}

fn epoch() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as u64
}

/// Waits for the start of a fresh window of `len` seconds when the current one is nearly
/// over, so that counting `n` requests is not split by a window boundary.
async fn fresh_window(len: u64, needed: u64) {
    let left = len - epoch() % len;
    if left < needed {
        tokio::time::sleep(Duration::from_millis(left * 1000 + 50)).await;
    }
}

async fn set_limits(store: &Store, org_id: &relay_core::model::ids::OrgId, o: LimitOverrides) {
    store.put_limit_overrides(org_id, &o, NOW).await.unwrap();
}

/// A second "Lambda instance": its own state (and in-process memory), the same tables.
async fn second_instance(env: &TestEnv) -> Router {
    let sdk = support::sdk().await;
    let state = AppState::new(Wiring::new(
        env.config.clone(),
        relay_app::clients::Clients::new(&sdk),
    ))
    .await
    .unwrap();
    router(state)
}

#[tokio::test]
async fn a_key_over_its_limit_gets_429_while_another_org_is_served() {
    let env = TestEnv::new().await;
    let b = env.new_org("Org B", None).await;
    set_limits(
        &env.store,
        &env.a.org.org_id,
        LimitOverrides {
            read_per_key: Some(3),
            ..Default::default()
        },
    )
    .await;
    // Requests without a live key are answered 401 and charge no one.
    for _ in 0..5 {
        let a = call(&env.router, Method::GET, "/v1/whoami", "ar_live_nope", None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    fresh_window(60, 10).await;
    for i in 0..3 {
        let a = call(&env.router, Method::GET, "/v1/whoami", &env.a.reader, None).await;
        assert_eq!(a.status, StatusCode::OK, "request {i}: {}", a.body);
    }
    let over = call(&env.router, Method::GET, "/v1/whoami", &env.a.reader, None).await;
    assert_limited(&over, 60);
    assert!(
        over.body["error"].as_str().unwrap().contains("per key"),
        "{}",
        over.body
    );
    // Queries are the same class: refused too, and without a write (the process remembers).
    let logs = call(
        &env.router,
        Method::GET,
        "/v1/audit/logs",
        &env.a.reader,
        None,
    )
    .await;
    assert_limited(&logs, 60);
    // Another key of the same org, and another org (on the defaults), are still served.
    let a = call(&env.router, Method::GET, "/v1/whoami", &env.a.admin, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = call(&env.router, Method::GET, "/v1/whoami", &b.reader, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = call(&env.router, Method::GET, "/v1/audit/logs", &b.reader, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn the_org_budget_is_shared_by_its_keys_and_by_two_instances() {
    let env = TestEnv::new().await;
    set_limits(
        &env.store,
        &env.a.org.org_id,
        LimitOverrides {
            read_per_org: Some(4),
            ..Default::default()
        },
    )
    .await;
    let other = second_instance(&env).await;
    fresh_window(60, 10).await;
    // Two keys, two instances, one org budget of 4.
    let plan = [
        (&env.router, &env.a.reader),
        (&other, &env.a.admin),
        (&env.router, &env.a.owner),
        (&other, &env.a.reader),
    ];
    for (i, (router, token)) in plan.into_iter().enumerate() {
        let a = call(router, Method::GET, "/v1/whoami", token, None).await;
        assert_eq!(a.status, StatusCode::OK, "request {i}: {}", a.body);
    }
    for router in [&env.router, &other] {
        let a = call(router, Method::GET, "/v1/whoami", &env.a.member, None).await;
        assert_limited(&a, 60);
        assert!(
            a.body["error"].as_str().unwrap().contains("per org"),
            "{}",
            a.body
        );
    }
}

#[tokio::test]
async fn overrides_are_the_operators_and_removing_them_restores_the_defaults() {
    let env = TestEnv::new().await;
    let org = &env.a.org.org_id;
    assert_eq!(env.store.get_limit_overrides(org).await.unwrap(), None);
    let o = LimitOverrides {
        outbound_per_org: Some(7),
        replay_messages_per_hour: Some(900),
        ..Default::default()
    };
    set_limits(&env.store, org, o.clone()).await;
    assert_eq!(env.store.get_limit_overrides(org).await.unwrap(), Some(o));
    // A fresh store (a new instance) sees them; the rest are the configured defaults.
    let fresh = Store::new(env.store.client().clone(), &env.config);
    let l = fresh.rate_limits(org).await.unwrap();
    assert_eq!(l.outbound.per_org, 7);
    assert_eq!(l.replay_messages_per_hour, 900);
    assert_eq!(l.read, env.config.rate_limits.read);
    env.store
        .put_limit_overrides(org, &LimitOverrides::default(), NOW)
        .await
        .unwrap();
    assert_eq!(env.store.get_limit_overrides(org).await.unwrap(), None);
    let l = Store::new(env.store.client().clone(), &env.config)
        .rate_limits(org)
        .await
        .unwrap();
    assert_eq!(l, env.config.rate_limits);
}

#[tokio::test]
async fn the_budget_refills_after_the_window() {
    let env = TestEnv::with_config(|c| c.rate_limits.window = Duration::from_secs(2)).await;
    set_limits(
        &env.store,
        &env.a.org.org_id,
        LimitOverrides {
            read_per_key: Some(2),
            ..Default::default()
        },
    )
    .await;
    // Three quick requests may straddle a 2 s boundary: count until the first refusal.
    let mut refused = None;
    for _ in 0..8 {
        let a = call(&env.router, Method::GET, "/v1/whoami", &env.a.reader, None).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(a);
            break;
        }
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    let refused = refused.expect("a refusal within 8 requests");
    assert_limited(&refused, 2);
    tokio::time::sleep(Duration::from_secs(refused.retry_after.unwrap())).await;
    let a = call(&env.router, Method::GET, "/v1/whoami", &env.a.reader, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn ingest_counts_requests_not_events_and_has_its_own_budget() {
    let env = TestEnv::new().await;
    set_limits(
        &env.store,
        &env.a.org.org_id,
        LimitOverrides {
            ingest_per_key: Some(2),
            ..Default::default()
        },
    )
    .await;
    fresh_window(60, 10).await;
    for batch in 0..2 {
        let events: Vec<Value> = (0..50)
            .map(|i| {
                json!({"event_id": format!("evt_l{batch}_{i}"), "action": "user.login",
                "actor": {"user_id": "usr_1"}})
            })
            .collect();
        let a = call(
            &env.router,
            Method::POST,
            "/v1/audit/events",
            &env.a.writer,
            Some(&json!({ "events": events })),
        )
        .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    }
    let one = json!({"event_id": "evt_l_over", "action": "user.login", "actor": {"user_id": "u"}});
    let a = call(
        &env.router,
        Method::POST,
        "/v1/audit/events",
        &env.a.writer,
        Some(&one),
    )
    .await;
    assert_limited(&a, 60);
    // Reads by the same org are another class.
    let a = call(
        &env.router,
        Method::GET,
        "/v1/audit/logs",
        &env.a.reader,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn outbound_requests_share_a_smaller_budget() {
    let env = TestEnv::new().await;
    let rx = Receiver::start().await;
    let org = env.a.org.org_id.clone();
    set_limits(
        &env.store,
        &org,
        LimitOverrides {
            outbound_per_key: Some(2),
            ..Default::default()
        },
    )
    .await;
    let defaults = env.config.rate_limits;
    assert!(defaults.outbound.per_key < defaults.read.per_key);
    assert!(defaults.outbound.per_org < defaults.read.per_org);
    let hooks = format!("/orgs/{org}/audit-export/webhooks");
    let ep = call(
        &env.router,
        Method::POST,
        &hooks,
        &env.a.admin,
        Some(&json!({"url": rx.url("/")})),
    )
    .await;
    assert_eq!(ep.status, StatusCode::CREATED, "{}", ep.body);
    let test = format!("{hooks}/{}/test", ep.body["id"].as_str().unwrap());
    fresh_window(60, 10).await;
    for _ in 0..2 {
        let a = call(&env.router, Method::POST, &test, &env.a.admin, None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    assert_eq!(rx.requests().len(), 2);
    let a = call(&env.router, Method::POST, &test, &env.a.admin, None).await;
    assert_limited(&a, 60);
    assert_eq!(rx.requests().len(), 2, "a refused test sends nothing");
    // The other outbound routes draw on the same budget; reads do not.
    for path in [
        format!("/orgs/{org}/audit-export/otel/test"),
        format!("/orgs/{org}/audit-export/test-connection"),
        "/v1/audit/export".to_string(),
    ] {
        let a = call(
            &env.router,
            Method::POST,
            &path,
            &env.a.admin,
            Some(&json!({})),
        )
        .await;
        assert_limited(&a, 60);
    }
    let a = call(&env.router, Method::GET, &hooks, &env.a.admin, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// Counts the `UpdateItem` calls of a DynamoDB client.
#[derive(Debug, Clone, Default)]
struct UpdateCounter(Arc<Mutex<usize>>);

impl Intercept for UpdateCounter {
    fn name(&self) -> &'static str {
        "UpdateCounter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if context.input().downcast_ref::<UpdateItemInput>().is_some() {
            *self.0.lock().unwrap() += 1;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_request_costs_two_writes_and_a_known_refusal_none() {
    let env = TestEnv::new().await;
    let org = env.a.org.org_id.clone();
    set_limits(
        &env.store,
        &org,
        LimitOverrides {
            read_per_key: Some(3),
            ..Default::default()
        },
    )
    .await;
    let sdk = support::sdk().await;
    let counter = UpdateCounter::default();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    );
    let store = Store::new(ddb, &env.config);
    let key = env.store.list_keys(&org).await.unwrap()[0].key_id.clone();
    fresh_window(60, 10).await;
    let now = epoch();
    for _ in 0..3 {
        let r = store
            .charge_request(&key, &org, LimitClass::Read, now)
            .await
            .unwrap();
        assert_eq!(r, None);
    }
    assert_eq!(
        *counter.0.lock().unwrap(),
        6,
        "one write per key and one per org"
    );
    let r = store
        .charge_request(&key, &org, LimitClass::Read, now)
        .await
        .unwrap();
    assert!(r.is_some());
    assert_eq!(*counter.0.lock().unwrap(), 7, "the refused write");
    for _ in 0..100 {
        let r = store
            .charge_request(&key, &org, LimitClass::Read, now)
            .await
            .unwrap();
        assert!(r.is_some());
    }
    assert_eq!(
        *counter.0.lock().unwrap(),
        7,
        "a known refusal costs no write"
    );
}

#[tokio::test]
async fn a_replay_over_the_orgs_budget_is_cut_then_refused() {
    let w = WebhookEnv::new().await;
    let org = w.env.a.org.org_id.clone();
    set_limits(
        &w.env.store,
        &org,
        LimitOverrides {
            replay_messages_per_hour: Some(3),
            ..Default::default()
        },
    )
    .await;
    let rx = Receiver::start().await;
    let (id, _) = w.endpoint(&rx.url("/")).await;
    let from = relay_core::model::event::rfc3339_millis(
        time::OffsetDateTime::now_utc() - time::Duration::seconds(5),
    );
    let events: Vec<Value> = (0..5)
        .map(|i| {
            json!({"event_id": format!("evt_rp{i}"), "action": "user.login",
            "actor": {"user_id": "usr_1"}})
        })
        .collect();
    w.ingest(&json!({ "events": events })).await;
    let to = relay_core::model::event::rfc3339_millis(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(5),
    );
    let replay = format!("{}/{id}/replay", w.path());
    let r = w
        .admin(
            Method::POST,
            &replay,
            Some(&json!({"from": from, "to": to})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["enqueued"], 3, "{}", r.text);
    assert_eq!(r.body["hasMore"], true, "{}", r.text);
    let cursor = r.body["cursor"].as_str().unwrap().to_string();
    let a = call(
        &w.env.router,
        Method::POST,
        &replay,
        &w.env.a.admin,
        Some(&json!({"from": from, "to": to, "cursor": cursor})),
    )
    .await;
    assert_limited(&a, 3600);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("replayed messages"),
        "{}",
        a.body
    );
}

#[test]
fn the_template_passes_the_documented_defaults_to_the_api() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let t: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let d = relay_core::limits::RateLimits::default();
    let env = &t["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"];
    for (param, var, value) in [
        (
            "RateLimitWindowSecs",
            "AUDITRELAY_RATE_LIMIT_WINDOW_SECS",
            d.window.as_secs(),
        ),
        (
            "RateLimitIngestPerKey",
            "AUDITRELAY_RATE_LIMIT_INGEST_PER_KEY",
            d.ingest.per_key,
        ),
        (
            "RateLimitIngestPerOrg",
            "AUDITRELAY_RATE_LIMIT_INGEST_PER_ORG",
            d.ingest.per_org,
        ),
        (
            "RateLimitReadPerKey",
            "AUDITRELAY_RATE_LIMIT_READ_PER_KEY",
            d.read.per_key,
        ),
        (
            "RateLimitReadPerOrg",
            "AUDITRELAY_RATE_LIMIT_READ_PER_ORG",
            d.read.per_org,
        ),
        (
            "RateLimitOutboundPerKey",
            "AUDITRELAY_RATE_LIMIT_OUTBOUND_PER_KEY",
            d.outbound.per_key,
        ),
        (
            "RateLimitOutboundPerOrg",
            "AUDITRELAY_RATE_LIMIT_OUTBOUND_PER_ORG",
            d.outbound.per_org,
        ),
        (
            "ReplayMessagesPerHour",
            "AUDITRELAY_REPLAY_MESSAGES_PER_HOUR",
            d.replay_messages_per_hour,
        ),
    ] {
        assert_eq!(
            t["Parameters"][param]["Default"].as_u64(),
            Some(value),
            "{param}"
        );
        let v = format!("{:?}", env[var]);
        assert!(v.contains("Ref") && v.contains(param), "{var}: {v}");
    }
}
