//! Handler tests from `events/`: each API Gateway HTTP API (v2) fixture is decoded by
//! lambda_http exactly as the Lambda runtime would, and served by the router.

use auditrelay_tests::{seed_event, TestEnv};
use http::StatusCode;
use serde_json::Value;

const SERVICE_PLACEHOLDER: &str = "ar_REPLACE_WITH_A_SERVICE_KEY";
const OWNER_PLACEHOLDER: &str = "ar_REPLACE_WITH_AN_OWNER_KEY";
const ORG_PLACEHOLDER: &str = "org_REPLACE_WITH_AN_ORG_ID";

fn fixture(env: &TestEnv, name: &str) -> lambda_http::Request {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = text
        .replace(SERVICE_PLACEHOLDER, &env.a.writer)
        .replace(OWNER_PLACEHOLDER, &env.a.owner)
        .replace(ORG_PLACEHOLDER, &env.a.org.org_id);
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
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
    let path = format!("{}/../events/api-get-logs.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let req = lambda_http::request::from_str(&text).unwrap();
    let r = env.send(req).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let v: Value = r.body;
    assert_eq!(v["code"], "unauthorized");
}
