//! Handler tests from `events/`: each API Gateway HTTP API (v2) fixture is decoded by
//! lambda_http exactly as the Lambda runtime would, and served by the router.

use http::StatusCode;
use serde_json::Value;
use support::fixtures::{self, Placeholders};
use support::{seed_event, TestEnv};

fn fixture(env: &TestEnv, name: &str) -> lambda_http::Request {
    fixtures::request(name, &Placeholders::org_a(env))
}

#[tokio::test]
async fn every_fixture_is_served_by_its_route() {
    let env = TestEnv::new().await;
    let r = env.send(fixture(&env, "api-post-events.json")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["events"][0]["event_id"], "evt_01HXYZABCDEF");

    let r = env.send(fixture(&env, "api-post-events-batch.json")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["accepted"], 2);

    let r = env.send(fixture(&env, "api-get-log.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut back = r.body.clone();
    back.as_object_mut().unwrap().remove("received_at");
    assert_eq!(back, seed_event());

    let r = env.send(fixture(&env, "api-get-logs.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let actions: Vec<&str> = r.body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.login", "document.opened"]);

    let r = env.send(fixture(&env, "api-get-whoami.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["role"], "owner");
}

#[tokio::test]
async fn export_config_fixtures_are_served() {
    let env = TestEnv::new().await;
    let r = env.send(fixture(&env, "api-get-export-config.json")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = env.send(fixture(&env, "api-get-export-setup.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["externalId"].is_string());
    let r = env.send(fixture(&env, "api-post-export-config.json")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["format"], "jsonl.gz");
    let r = env.send(fixture(&env, "api-get-export-config.json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The fixture's bucket does not exist in the emulator: a failed test, explained.
    let r = env
        .send(fixture(&env, "api-post-export-test-connection.json"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["success"], false);
    let r = env.send(fixture(&env, "api-get-export-runs.json")).await;
    assert_eq!(r.body, serde_json::json!([]));
    let r = env
        .send(fixture(&env, "api-delete-export-config.json"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn fixtures_without_a_real_key_are_refused() {
    let env = TestEnv::new().await;
    let req = fixtures::request("api-get-logs.json", &Placeholders::default());
    let r = env.send(req).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let v: Value = r.body;
    assert_eq!(v["code"], "unauthorized");
}

/// Every API fixture in `events/` names a route the router serves: none falls through to the
/// "route not found" answer or a 405, whatever its resource's state (a webhook or export that
/// does not exist yet answers its own 404).
#[tokio::test]
async fn every_api_fixture_names_a_route() {
    let env = TestEnv::new().await;
    let api: Vec<String> = fixtures::names()
        .into_iter()
        .filter(|n| n.starts_with("api-"))
        .collect();
    assert!(api.len() >= 35, "{api:?}");
    for name in api {
        let r = env.send(fixture(&env, &name)).await;
        assert_ne!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{name}: {}",
            r.text
        );
        assert_ne!(r.body["error"], "route not found", "{name}");
        assert_ne!(r.status, StatusCode::UNAUTHORIZED, "{name}: {}", r.text);
    }
}
