//! What the admin console needs from the API, against moto: `/console` served by the router
//! (types, CSP, validators), the `q` search of `GET /v1/audit/logs`, and `GET /v1/audit/actions`.
//! The console itself is tested in Chromium by `e2e/` (`make e2e-test`).

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use support::fixtures::{self, Placeholders};
use support::{assert_error, TestEnv};

fn ev(i: usize, action: &str, extra: Value) -> Value {
    let mut e = json!({
        "event_id": format!("evt_c_{i:03}"),
        "timestamp": format!("2026-05-01T{:02}:{:02}:00Z", i / 60, i % 60),
        "action": action,
        "actor": {"user_id": format!("usr_{}", i % 3), "email": format!("user{}@example.com", i % 3)},
    });
    if let (Value::Object(m), Value::Object(x)) = (&mut e, extra) {
        m.extend(x);
    }
    e
}

fn ids(body: &Value) -> Vec<String> {
    body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn console_files_are_served_with_types_csp_and_validators() {
    let env = TestEnv::new().await;
    let get = |uri: &str, etag: Option<&str>| {
        let mut req = Request::builder().uri(uri);
        if let Some(t) = etag {
            req = req.header("if-none-match", t);
        }
        env.send(req.body(Body::empty()).unwrap())
    };
    let redirect = env
        .router
        .clone()
        .oneshot_req(Request::get("/console?q=jane").body(Body::empty()).unwrap())
        .await;
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers()["location"], "console/?q=jane");

    for (uri, ct) in [
        ("/console/", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
    ] {
        let resp = env
            .router
            .clone()
            .oneshot_req(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        let h = resp.headers();
        assert_eq!(h["content-type"], ct, "{uri}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert!(!csp.contains("http") && !csp.contains("unsafe"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-cache");
        let etag = h["etag"].to_str().unwrap().to_string();
        let again = get(uri, Some(&etag)).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(again.text.is_empty());
    }
    // No token needed for the page; unknown files are the API's JSON 404.
    let missing = get("/console/secrets.js", None).await;
    assert_error(&missing, StatusCode::NOT_FOUND, None);
    let traversal = get("/console/..%2FCargo.toml", None).await;
    assert_eq!(traversal.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn q_searches_the_event_text_in_its_common_spellings() {
    let env = TestEnv::new().await;
    let events: Vec<Value> = (0..30)
        .map(|i| {
            let extra = match i {
                3 => json!({"resource": {"type": "document", "id": "doc_3", "name": "Contract_v2.docx"}}),
                7 => json!({"metadata": {"note": "quarterly CONTRACT review"}}),
                11 => json!({"metadata": {"nested": {"deep": "contract"}}}),
                _ => json!({}),
            };
            ev(i, "document.opened", extra)
        })
        .collect();
    env.ingest(&env.a.writer, &json!({ "events": events }))
        .await;
    let env = &env;
    let q = |query: &str| {
        let uri = format!("/v1/audit/logs?{query}");
        async move { env.call(Method::GET, &uri, Some(&env.a.reader), None).await }
    };
    // "contract" finds contract, Contract and CONTRACT; newest first.
    let r = q("q=contract").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(ids(&r.body), ["evt_c_011", "evt_c_007", "evt_c_003"]);
    // As typed: a mixed spelling matches exactly that spelling (and its variants).
    assert_eq!(ids(&q("q=Contract_v2").await.body), ["evt_c_003"]);
    assert_eq!(
        ids(&q("q=cOnTrAcT").await.body),
        ["evt_c_011", "evt_c_007", "evt_c_003"],
        "lower-case variant"
    );
    // Text of any field, including keys and the actor.
    assert_eq!(ids(&q("q=%22deep%22").await.body), ["evt_c_011"]);
    assert_eq!(
        q("q=user2%40example.com").await.body["logs"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    // Combined with other filters, and paged with a cursor bound to q.
    let page = q("q=contract&limit=2").await;
    assert_eq!(ids(&page.body), ["evt_c_011", "evt_c_007"]);
    let cursor = page.body["cursor"].as_str().unwrap().to_string();
    let next = q(&format!("q=contract&limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&next.body), ["evt_c_003"]);
    assert_eq!(next.body["has_more"], false);
    let other = q(&format!("q=report&limit=2&cursor={cursor}")).await;
    assert_error(&other, StatusCode::BAD_REQUEST, Some("cursor"));
    assert_eq!(
        ids(&q("q=contract&identity_id=usr_0").await.body),
        ["evt_c_003"]
    );
    assert!(ids(&q("q=nothing-like-this").await.body).is_empty());
    // Bounded, and never another org's events.
    let long = "x".repeat(257);
    assert_error(
        &q(&format!("q={long}")).await,
        StatusCode::BAD_REQUEST,
        Some("q"),
    );
    let b = env.new_org("Org B", None).await;
    let r = env
        .call(
            Method::GET,
            "/v1/audit/logs?q=contract",
            Some(&b.owner),
            None,
        )
        .await;
    assert_eq!(r.body["logs"], json!([]));
}

#[tokio::test]
async fn actions_lists_each_orgs_actions_written_once_per_process() {
    let env = TestEnv::new().await;
    let batch: Vec<Value> = ["user.login", "document.opened", "user.login", "a.b"]
        .iter()
        .enumerate()
        .map(|(i, a)| ev(i, a, json!({})))
        .collect();
    env.ingest(&env.a.writer, &json!({ "events": batch })).await;
    let b = env.new_org("Org B", None).await;
    env.ingest(&b.writer, &json!(ev(50, "billing.charged", json!({}))))
        .await;

    let env = &env;
    let list = |token: String| async move {
        env.call(Method::GET, "/v1/audit/actions", Some(&token), None)
            .await
    };
    let r = list(env.a.owner.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"actions": ["a.b", "document.opened", "user.login"], "truncated": false})
    );
    assert_eq!(list(env.a.reader.clone()).await.status, StatusCode::OK);
    assert_eq!(
        list(b.admin.clone()).await.body["actions"],
        json!(["billing.charged"])
    );
    assert_error(
        &list(env.a.writer.clone()).await,
        StatusCode::FORBIDDEN,
        None,
    );
    assert_error(
        &list(env.a.member.clone()).await,
        StatusCode::FORBIDDEN,
        None,
    );
    let r = env
        .call(
            Method::GET,
            "/v1/audit/actions?limit=5",
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("limit"));

    // Known actions cost nothing more: the process remembers them.
    let now = "2026-05-01T00:00:00.000Z";
    let org = &env.a.org.org_id;
    assert_eq!(
        env.state
            .store()
            .record_actions(org, ["user.login", "a.b"], now)
            .await
            .unwrap(),
        0
    );
    // A fresh process (another Lambda instance) re-sends a conditional put, which changes
    // nothing: the set holds each action once.
    let fresh = relay_store::Store::new(env.store.client().clone(), &env.config);
    assert_eq!(
        fresh
            .record_actions(org, ["user.login", "new.one", "new.one"], now)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        list(env.a.owner.clone()).await.body["actions"],
        json!(["a.b", "document.opened", "new.one", "user.login"])
    );
}

#[tokio::test]
async fn service_written_events_are_listed_too() {
    let env = TestEnv::new().await;
    let org = env.a.org.clone();
    relay_app::system_events::record(
        env.state.store(),
        &org,
        relay_app::system_events::SystemEvent {
            event_id: "evt_sys_1".into(),
            action: "security.audit_export_paused",
            resource: ("webhook", "whk_1", None),
            success: false,
            metadata: serde_json::Map::new(),
        },
    )
    .await
    .unwrap();
    let r = env
        .call(Method::GET, "/v1/audit/actions", Some(&env.a.owner), None)
        .await;
    assert_eq!(r.body["actions"], json!(["security.audit_export_paused"]));
}

fn fixture(env: &TestEnv, name: &str) -> lambda_http::Request {
    fixtures::request(name, &Placeholders::org_a(env))
}

/// Through API Gateway's `$default` route (template.yaml), as the Lambda receives them.
#[tokio::test]
async fn console_and_actions_fixtures_are_served_through_lambda_http() {
    let env = TestEnv::new().await;
    env.ingest(&env.a.writer, &ev(1, "user.login", json!({})))
        .await;
    let page = env.send(fixture(&env, "api-get-console.json")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.starts_with("<!doctype html>"), "{}", page.text);
    assert!(page.text.contains(r#"<script type="module" src="app.js">"#));
    let actions = env.send(fixture(&env, "api-get-audit-actions.json")).await;
    assert_eq!(actions.status, StatusCode::OK, "{}", actions.text);
    assert_eq!(actions.body["actions"], json!(["user.login"]));
}

/// `oneshot` returning the raw response (headers included).
trait OneshotReq {
    async fn oneshot_req(self, req: Request<Body>) -> axum::response::Response;
}

impl OneshotReq for axum::Router {
    async fn oneshot_req(self, req: Request<Body>) -> axum::response::Response {
        use tower::ServiceExt;
        self.oneshot(req).await.expect("infallible")
    }
}
