//! Authentication and org isolation on every endpoint: 401, 403, 404 — and no leaks.

use http::{Method, StatusCode};
use serde_json::json;
use support::{assert_error, seed_event, TestEnv};

#[tokio::test]
async fn missing_or_invalid_tokens_are_401_on_every_endpoint() {
    let env = TestEnv::new().await;
    let routes = [
        (Method::POST, "/v1/audit/events"),
        (Method::GET, "/v1/audit/logs"),
        (Method::GET, "/v1/audit/logs/evt_1"),
        (Method::GET, "/v1/whoami"),
    ];
    let forged = format!("{}x", env.a.owner);
    for (m, uri) in routes {
        for token in [None, Some("nonsense"), Some(forged.as_str()), Some("ar_")] {
            let r = env.call(m.clone(), uri, token, Some(&seed_event())).await;
            assert_error(&r, StatusCode::UNAUTHORIZED, None);
            assert_eq!(r.body["code"], "unauthorized");
        }
    }
}

#[tokio::test]
async fn wrong_scope_is_403() {
    let env = TestEnv::new().await;
    let a = &env.a;
    // Readers, members and admins cannot write; writers and members cannot read.
    for t in [&a.reader, &a.member, &a.admin, &a.owner] {
        let r = env
            .call(
                Method::POST,
                "/v1/audit/events",
                Some(t),
                Some(&seed_event()),
            )
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, None);
    }
    for t in [&a.writer, &a.member] {
        for uri in ["/v1/audit/logs", "/v1/audit/logs/evt_01HXYZABCDEF"] {
            let r = env.call(Method::GET, uri, Some(t), None).await;
            assert_error(&r, StatusCode::FORBIDDEN, None);
        }
    }
    for t in [&a.reader, &a.admin, &a.owner] {
        let r = env.call(Method::GET, "/v1/audit/logs", Some(t), None).await;
        assert_eq!(r.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn another_orgs_events_are_invisible() {
    let env = TestEnv::new().await;
    let b = env.new_org("Org B", Some("ten_b")).await;
    env.ingest(&env.a.writer, &seed_event()).await;

    // B cannot read A's event by id: 404 exactly like a missing one.
    let theirs = env
        .call(
            Method::GET,
            "/v1/audit/logs/evt_01HXYZABCDEF",
            Some(&b.owner),
            None,
        )
        .await;
    let missing = env
        .call(Method::GET, "/v1/audit/logs/evt_nope", Some(&b.owner), None)
        .await;
    assert_error(&theirs, StatusCode::NOT_FOUND, None);
    assert_eq!(
        theirs.text, missing.text,
        "indistinguishable from a missing event"
    );

    // B's listing is empty; with every filter that matches A's event, still empty.
    for q in [
        "",
        "identity_id=usr_01ABCDEFG",
        "action=document.opened",
        "source_ip=203.0.113.42",
    ] {
        let r = env
            .call(
                Method::GET,
                &format!("/v1/audit/logs?{q}"),
                Some(&b.owner),
                None,
            )
            .await;
        assert_eq!(r.body["logs"], json!([]), "{q}");
    }

    // B cannot write into A by naming A's tenant; the same event id in B is B's own event.
    let r = env
        .call(
            Method::POST,
            "/v1/audit/events",
            Some(&b.writer),
            Some(&seed_event()),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("tenant_id"));
    let mut mine = seed_event();
    mine["tenant_id"] = json!("ten_b");
    let r = env.ingest(&b.writer, &mine).await;
    assert_eq!(
        r["events"][0]["status"], "created",
        "ids are scoped per org"
    );
    let a_copy = env
        .call(
            Method::GET,
            "/v1/audit/logs/evt_01HXYZABCDEF",
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_eq!(a_copy.body["tenant_id"], "ten_01ABCDEFG");
}

#[tokio::test]
async fn whoami_shows_the_key_never_the_token() {
    let env = TestEnv::new().await;
    let r = env
        .call(Method::GET, "/v1/whoami", Some(&env.a.owner), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["org_id"], env.a.org.org_id.as_str());
    assert_eq!(r.body["role"], "owner");
    assert!(!r.text.contains(&env.a.owner));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let env = TestEnv::new().await;
    let r = env
        .call(Method::GET, "/nope", Some(&env.a.owner), None)
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let r = env
        .call(Method::DELETE, "/v1/audit/logs", Some(&env.a.owner), None)
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, None);
}

#[tokio::test]
async fn keys_are_stored_hashed_and_revocable() {
    let env = TestEnv::new().await;
    let keys = env.store.list_keys(&env.a.org.org_id).await.unwrap();
    assert_eq!(keys.len(), 5);
    // Nothing in the config table contains a token in clear.
    let scan = env
        .store
        .client()
        .scan()
        .table_name(&env.config.config_table)
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", scan.items());
    for t in [&env.a.owner, &env.a.writer, &env.a.reader] {
        assert!(!dump.contains(t.as_str()), "token stored in clear");
        assert!(dump.contains(&relay_core::auth::token_hash(t)));
    }
    let owner_key = keys
        .iter()
        .find(|k| k.role == relay_core::model::Role::Owner)
        .unwrap();
    assert!(env
        .store
        .revoke_key(&env.a.org.org_id, &owner_key.key_id)
        .await
        .unwrap());
    let r = env
        .call(Method::GET, "/v1/whoami", Some(&env.a.owner), None)
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, None);
    // Both items went together (one transaction): neither the listing nor the token's lookup
    // is left, and a second revocation finds nothing.
    let hash = relay_core::auth::token_hash(&env.a.owner);
    for (pk, sk) in [
        (
            format!("ORG#{}", env.a.org.org_id),
            format!("KEY#{}", owner_key.key_id),
        ),
        (format!("KEY#{hash}"), "KEY".to_string()),
    ] {
        let got = env
            .store
            .client()
            .get_item()
            .table_name(&env.config.config_table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.clone()))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        assert!(got.item().is_none(), "{pk} is left");
    }
    assert!(!env
        .store
        .revoke_key(&env.a.org.org_id, &owner_key.key_id)
        .await
        .unwrap());
    // Revoking two keys at once: each goes, once.
    let (k1, t1) = env
        .store
        .create_key(
            &env.a.org.org_id,
            relay_core::model::Role::Admin,
            vec![],
            None,
            "t",
        )
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        env.store.revoke_key(&env.a.org.org_id, &k1.key_id),
        env.store.revoke_key(&env.a.org.org_id, &k1.key_id)
    );
    assert_eq!(
        u8::from(a.unwrap()) + u8::from(b.unwrap()),
        1,
        "exactly one revocation took effect"
    );
    let r = env.call(Method::GET, "/v1/whoami", Some(&t1), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, None);
}
