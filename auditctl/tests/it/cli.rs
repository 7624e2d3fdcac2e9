//! `auditctl` as an operator runs it, against moto (`make test` sets `AWS_ENDPOINT_URL`).

use crate::ctl::{http, Ctl};
use serde_json::Value;

#[test]
fn provision_org_key_and_serve() {
    let ctl = Ctl::new("cli");
    let first = ctl.json(&["provision"]);
    assert_eq!(first["created"].as_array().unwrap().len(), 2);
    let again = ctl.json(&["provision"]);
    assert_eq!(again["created"].as_array().unwrap().len(), 0, "idempotent");

    let org = ctl.json(&["org", "create", "--name", "CLI Org"]);
    let org_id = org["org_id"].as_str().unwrap();
    assert!(org_id.starts_with("org_"));
    assert_eq!(org["tenant_id"], org_id);
    assert_eq!(org["retention_days"], 365);

    let owner = ctl.json(&["key", "create", "--org", org_id, "--role", "owner"]);
    let writer = ctl.json(&[
        "key",
        "create",
        "--org",
        org_id,
        "--role",
        "service",
        "--scope",
        "audit:write",
    ]);
    let owner_token = owner["token"].as_str().unwrap();
    let writer_token = writer["token"].as_str().unwrap();
    assert!(owner_token.starts_with("ar_"));
    assert_eq!(writer["scopes"], serde_json::json!(["audit:write"]));

    let listed = ctl.json(&["key", "list", "--org", org_id]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains(owner_token),
        "tokens are never shown again"
    );

    let bad = ctl.run(&["key", "create", "--org", org_id, "--role", "emperor"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--role"));
    let bad = ctl.run(&["key", "create", "--org", "org_missing", "--role", "owner"]);
    assert!(!bad.status.success());

    let server = ctl.serve(&[]);
    let addr = &server.addr;
    let (status, body) = http(
        addr,
        "POST",
        "/v1/audit/events",
        writer_token,
        r#"{"action":"user.login","actor":{"user_id":"usr_1"}}"#,
    );
    assert_eq!(status, 202, "{body}");
    let (status, body) = http(addr, "GET", "/v1/audit/logs", owner_token, "");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["logs"][0]["action"], "user.login");

    let key_id = owner["key_id"].as_str().unwrap();
    ctl.json(&["key", "revoke", "--org", org_id, key_id]);
    let (status, _) = http(addr, "GET", "/v1/audit/logs", owner_token, "");
    assert_eq!(status, 401);
}
