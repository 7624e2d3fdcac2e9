//! An org's OCSF class overrides against moto: `GET|PUT /orgs/{orgId}/ocsf/class-overrides`
//! (round trip, validation naming each field, access), `GET .../ocsf/classification`, and the
//! outputs that follow them: the logs API's `schema=ocsf` answers and an OCSF webhook
//! endpoint's body.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::webhooks::{Receiver, WebhookEnv};
use support::{assert_error, seed_event, TestEnv};

fn path(env: &TestEnv) -> String {
    format!("/orgs/{}/ocsf/class-overrides", env.a.org.org_id)
}

async fn put(env: &TestEnv, overrides: Value) -> support::Resp {
    env.call(
        Method::PUT,
        &path(env),
        Some(&env.a.admin),
        Some(&json!({ "overrides": overrides })),
    )
    .await
}

#[tokio::test]
async fn overrides_round_trip_and_each_mistake_names_its_field() {
    let env = TestEnv::new().await;
    let r = env
        .call(Method::GET, &path(&env), Some(&env.a.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, json!({"overrides": [], "updatedAt": null}));

    let r = put(
        &env,
        json!([
            {"pattern": "document.*", "class_uid": 6003, "activity_id": 2},
            {"pattern": "sso.*", "class_uid": 3002, "activity_id": 1},
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["overrides"][0],
        json!({"pattern": "document.*", "class_uid": 6003, "class_name": "API Activity",
               "activity_id": 2, "activity_name": "Read"})
    );
    let got = env
        .call(Method::GET, &path(&env), Some(&env.a.owner), None)
        .await;
    assert_eq!(got.body, r.body, "a GET shows what the PUT stored");

    for (body, field) in [
        (json!({"overrides": "x"}), "overrides"),
        (json!({}), "overrides"),
        (json!({"overrides": [], "extra": 1}), "extra"),
        (
            json!({"overrides": [{"pattern": "a", "class_uid": 4001, "activity_id": 1}]}),
            "overrides[0].class_uid",
        ),
        (
            json!({"overrides": [{"pattern": "a", "class_uid": 6003, "activity_id": 1},
                                 {"pattern": "b", "class_uid": 3002, "activity_id": 42}]}),
            "overrides[1].activity_id",
        ),
        (
            json!({"overrides": [{"class_uid": 6003, "activity_id": 1}]}),
            "overrides[0].pattern",
        ),
    ] {
        let r = env
            .call(Method::PUT, &path(&env), Some(&env.a.admin), Some(&body))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
    // A refused change leaves the list as it was.
    let after = env
        .call(Method::GET, &path(&env), Some(&env.a.admin), None)
        .await;
    assert_eq!(after.body["overrides"], got.body["overrides"]);

    // Only the org's admins and owners; another org's list is not found.
    for token in [&env.a.member, &env.a.reader, &env.a.writer] {
        let r = env.call(Method::GET, &path(&env), Some(token), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
    let b = env.new_org("Other", None).await;
    let r = env
        .call(Method::GET, &path(&env), Some(&b.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = env
        .call(
            Method::PUT,
            &path(&env),
            Some(&b.admin),
            Some(&json!({"overrides": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let theirs = format!("/orgs/{}/ocsf/class-overrides", b.org.org_id);
    let r = env.call(Method::GET, &theirs, Some(&b.admin), None).await;
    assert_eq!(
        r.body["overrides"],
        json!([]),
        "orgs do not share overrides"
    );
}

#[tokio::test]
async fn classification_shows_which_rule_chose_the_class() {
    let env = TestEnv::new().await;
    put(
        &env,
        json!([{"pattern": "document.*", "class_uid": 3001, "activity_id": 99}]),
    )
    .await;
    let ask = |action: &str| {
        format!(
            "/orgs/{}/ocsf/classification?action={action}",
            env.a.org.org_id
        )
    };
    let r = env
        .call(
            Method::GET,
            &ask("document.opened"),
            Some(&env.a.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["class_uid"], 3001);
    assert_eq!(r.body["type_uid"], 300199);
    assert_eq!(r.body["pattern"], "document.*");
    let r = env
        .call(Method::GET, &ask("user.login"), Some(&env.a.admin), None)
        .await;
    assert_eq!(
        (r.body["class_uid"].as_u64(), r.body["pattern"].clone()),
        (Some(3002), Value::Null),
        "{}",
        r.text
    );
    let r = env
        .call(
            Method::GET,
            &format!("/orgs/{}/ocsf/classification", env.a.org.org_id),
            Some(&env.a.admin),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("action"));
}

#[tokio::test]
async fn the_logs_api_answers_ocsf_with_the_orgs_classes() {
    let env = TestEnv::new().await;
    let r = env
        .call(
            Method::POST,
            "/v1/audit/events",
            Some(&env.a.writer),
            Some(&seed_event()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let one = "/v1/audit/logs/evt_01HXYZABCDEF?schema=ocsf";
    let list = "/v1/audit/logs?schema=ocsf";
    let before = env.call(Method::GET, one, Some(&env.a.reader), None).await;
    assert_eq!(before.body["type_uid"], 600302, "{}", before.text);

    put(
        &env,
        json!([{"pattern": "document.open*", "class_uid": 3001, "activity_id": 99}]),
    )
    .await;
    let after = env.call(Method::GET, one, Some(&env.a.reader), None).await;
    assert_eq!(after.body["class_uid"], 3001, "{}", after.text);
    assert_eq!(after.body["type_uid"], 300199);
    assert_eq!(after.body["metadata"]["uid"], "evt_01HXYZABCDEF");
    let page = env.call(Method::GET, list, Some(&env.a.reader), None).await;
    assert_eq!(page.body["logs"][0]["class_uid"], 3001, "{}", page.text);
    // Canonical answers are untouched.
    let canonical = env
        .call(
            Method::GET,
            "/v1/audit/logs/evt_01HXYZABCDEF",
            Some(&env.a.reader),
            None,
        )
        .await;
    assert_eq!(canonical.body["action"], "document.opened");
}

#[tokio::test]
async fn an_ocsf_webhook_carries_the_orgs_class() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    w.create(json!({"url": rx.url("/ocsf"), "schema": "ocsf"}))
        .await;
    let r = w
        .admin(
            Method::PUT,
            &format!("/orgs/{}/ocsf/class-overrides", w.env.a.org.org_id),
            Some(&json!({"overrides": [
                {"pattern": "document.*", "class_uid": 6003, "activity_id": 1}
            ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    w.ingest(&seed_event()).await;
    assert_eq!(w.pump().await, 1);
    w.drain().await;
    let got = rx.wait_for(1, Duration::from_secs(20)).await;
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(
        (body["class_uid"].clone(), body["type_uid"].clone()),
        (json!(6003), json!(600301)),
        "{body}"
    );
}
