//! Stored upload credentials: created and rotated once, shown masked, sealed with KMS at rest
//! (never in clear in the config table), scoped to the org, and not deletable while a
//! destination writes with them.

use aws_sdk_dynamodb::types::AttributeValue;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{assert_error, TestEnv};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n";

fn uri(env: &TestEnv, rest: &str) -> String {
    format!("/orgs/{}/audit-export/credentials{rest}", env.a.org.org_id)
}

fn s3_key(name: &str) -> Value {
    json!({"name": name, "type": "s3_access_key", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": SECRET})
}

#[tokio::test]
async fn each_type_is_stored_masked_and_listed() {
    let env = TestEnv::new().await;
    let bodies = [
        s3_key("minio-prod"),
        json!({"name": "gcp", "type": "gcs_service_account", "serviceAccountJson": {
            "type": "service_account", "project_id": "acme", "private_key_id": "3f1c9a7e5b2d4c6f",
            "private_key": PEM, "client_email": "audit@acme.iam.gserviceaccount.com"}}),
        json!({"name": "az-key", "type": "azure_shared_key", "accountName": "acmeaudit",
            "accountKey": "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="}),
        json!({"name": "az-sas", "type": "azure_sas", "accountName": "acmeaudit",
            "sasToken": "?sv=2022-11-02&ss=b&srt=co&sp=cw&se=2030-01-01T00:00:00Z&sig=Zm9vYmFyYmF6cXV4Q0xJRU5U"}),
    ];
    for body in &bodies {
        let r = env
            .call(Method::POST, &uri(&env, ""), Some(&env.a.admin), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["name"], body["name"]);
        assert_eq!(r.body["type"], body["type"]);
        assert!(r.body["createdAt"].is_string(), "{}", r.text);
    }
    let r = env
        .call(
            Method::GET,
            &uri(&env, "/minio-prod"),
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["secretAccessKey"], "****EKEY");
    assert_eq!(r.body["accessKeyId"], "****MPLE");
    let r = env
        .call(Method::GET, &uri(&env, ""), Some(&env.a.admin), None)
        .await;
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 4, "{}", r.text);
    let gcp = data.iter().find(|c| c["name"] == "gcp").unwrap();
    assert_eq!(
        gcp["serviceAccountJson"]["client_email"],
        "audit@acme.iam.gserviceaccount.com"
    );
    assert_eq!(gcp["serviceAccountJson"]["private_key_id"], "****4c6f");
    let az = data.iter().find(|c| c["name"] == "az-sas").unwrap();
    assert_eq!(az["accountName"], "acmeaudit");
    assert_eq!(az["sasToken"], "****RU5U");
    // No secret value in any answer.
    for secret in [
        SECRET,
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "Eby8vdM02xNOcqFl",
        "Zm9vYmFyYmF6cXV4",
    ] {
        assert!(!r.text.contains(secret), "{secret} leaked: {}", r.text);
    }

    // At rest: the config table holds ciphertext, never the secret.
    let items = env
        .store
        .client()
        .scan()
        .table_name(&env.config.config_table)
        .send()
        .await
        .unwrap();
    let mut sealed = 0;
    for item in items.items() {
        let text = format!("{item:?}");
        for secret in [
            SECRET,
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            "Eby8vdM02xNOcqFl",
            "sig=Zm9v",
        ] {
            assert!(!text.contains(secret), "{secret} stored in clear: {text}");
        }
        if matches!(item.get("ciphertext"), Some(AttributeValue::B(_))) {
            sealed += 1;
        }
    }
    assert_eq!(sealed, 4);
}

#[tokio::test]
async fn rotation_conflicts_and_bad_input() {
    let env = TestEnv::new().await;
    let post = |body: Value| {
        let env = &env;
        async move {
            env.call(Method::POST, &uri(env, ""), Some(&env.a.admin), Some(&body))
                .await
        }
    };
    assert_eq!(post(s3_key("k")).await.status, StatusCode::CREATED);
    // Same name and type: a rotation, answered 200, creation time kept.
    let first = env
        .call(Method::GET, &uri(&env, "/k"), Some(&env.a.admin), None)
        .await;
    let mut rotated = s3_key("k");
    rotated["secretAccessKey"] = json!("a-brand-new-secret-value-9876");
    let r = post(rotated).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["secretAccessKey"], "****9876");
    assert_eq!(r.body["createdAt"], first.body["createdAt"]);
    // Same name, another type: 409.
    let r = post(json!({"name": "k", "type": "azure_sas", "accountName": "acme", "sasToken": "sv=1&sig=abc"})).await;
    assert_error(&r, StatusCode::CONFLICT, Some("type"));
    for (body, field) in [
        (json!({"type": "s3_access_key"}), "name"),
        (json!({"name": "../x", "type": "s3_access_key"}), "name"),
        (json!({"name": "x", "type": "ftp_password"}), "type"),
        (
            json!({"name": "x", "type": "s3_access_key", "accessKeyId": "A"}),
            "secretAccessKey",
        ),
        (
            json!({"name": "x", "type": "gcs_service_account", "serviceAccountJson": "{}"}),
            "serviceAccountJson",
        ),
        (
            json!({"name": "x", "type": "azure_sas", "accountName": "acme", "sasToken": "sv=1"}),
            "sasToken",
        ),
        (
            json!({"name": "x", "type": "azure_shared_key", "accountName": "acme", "accountKey": "Zm9v", "extra": 1}),
            "extra",
        ),
    ] {
        assert_error(&post(body).await, StatusCode::BAD_REQUEST, Some(field));
    }
    // Members cannot manage credentials; another org's are not found.
    let r = env
        .call(Method::GET, &uri(&env, ""), Some(&env.a.member), None)
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, None);
    let b = env.new_org("Org B", None).await;
    for (method, path) in [(Method::GET, "/k"), (Method::DELETE, "/k")] {
        let r = env
            .call(method, &uri(&env, path), Some(&b.admin), None)
            .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
    }
    let r = env
        .call(
            Method::GET,
            &format!("/orgs/{}/audit-export/credentials/k", b.org.org_id),
            Some(&b.admin),
            None,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn a_credential_in_use_cannot_be_deleted() {
    let env = TestEnv::new().await;
    let r = env
        .call(
            Method::POST,
            &uri(&env, ""),
            Some(&env.a.admin),
            Some(&s3_key("minio")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let cfg = format!("/orgs/{}/audit-export/config", env.a.org.org_id);
    // A destination must name an existing credential of its store's type.
    let body =
        json!({"bucket": "audit", "endpointUrl": "http://127.0.0.1:9", "credentialsPath": "nope"});
    let r = env
        .call(Method::POST, &cfg, Some(&env.a.admin), Some(&body))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("credentialsPath"));
    let body = json!({"type": "gcs", "bucket": "audit", "credentialsPath": "minio"});
    let r = env
        .call(Method::POST, &cfg, Some(&env.a.admin), Some(&body))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("credentialsPath"));
    let body = json!({"bucket": "audit", "region": "garage", "endpointUrl": "http://127.0.0.1:9", "credentialsPath": "minio"});
    let r = env
        .call(Method::POST, &cfg, Some(&env.a.admin), Some(&body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["type"], "s3");
    assert_eq!(r.body["access"], "credentials");
    assert_eq!(r.body["credentialsPath"], "minio");
    assert_eq!(r.body["endpointUrl"], "http://127.0.0.1:9");
    assert_eq!(r.body["region"], "garage");
    assert_eq!(r.body["forcePathStyle"], true);
    assert!(r.body["roleArnMasked"].is_null());
    let r = env
        .call(
            Method::DELETE,
            &uri(&env, "/minio"),
            Some(&env.a.admin),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, Some("name"));
    let r = env
        .call(Method::DELETE, &cfg, Some(&env.a.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = env
        .call(
            Method::DELETE,
            &uri(&env, "/minio"),
            Some(&env.a.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = env
        .call(Method::GET, &uri(&env, "/minio"), Some(&env.a.admin), None)
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn endpoints_pass_the_ssrf_guard() {
    // A deployment without the private-destinations flag.
    let env = TestEnv::with_config(|c| c.allow_private_destinations = false).await;
    let r = env
        .call(
            Method::POST,
            &uri(&env, ""),
            Some(&env.a.admin),
            Some(&s3_key("minio")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let cfg = format!("/orgs/{}/audit-export/config", env.a.org.org_id);
    for url in [
        "http://minio.example.com",
        "https://127.0.0.1:9000",
        "https://10.0.0.8",
        "https://169.254.169.254",
        "https://[::ffff:127.0.0.1]",
        "https://localhost:9000",
    ] {
        let body = json!({"bucket": "audit", "endpointUrl": url, "credentialsPath": "minio"});
        let r = env
            .call(Method::POST, &cfg, Some(&env.a.admin), Some(&body))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("endpointUrl"));
        let test = format!("/orgs/{}/audit-export/test-connection", env.a.org.org_id);
        let r = env
            .call(Method::POST, &test, Some(&env.a.admin), Some(&body))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("endpointUrl"));
    }
    // Metadata addresses are refused even where private ones are allowed.
    let env = TestEnv::new().await;
    let r = env
        .call(
            Method::POST,
            &uri(&env, ""),
            Some(&env.a.admin),
            Some(&s3_key("minio")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let cfg = format!("/orgs/{}/audit-export/config", env.a.org.org_id);
    let body = json!({"bucket": "audit", "endpointUrl": "http://169.254.169.254", "credentialsPath": "minio"});
    let r = env
        .call(Method::POST, &cfg, Some(&env.a.admin), Some(&body))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("endpointUrl"));
}
