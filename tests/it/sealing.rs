//! Secrets at rest, against moto's KMS and DynamoDB: webhook secrets (current and previous)
//! and OTLP header values are stored only sealed (envelope encryption under the credentials
//! key, one data key per org), deliveries still verify, a sealed value copied to another org,
//! endpoint or field does not open, items stored in clear before sealing still work and are
//! sealed by their next write, and warm deliveries make no KMS call.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use http::{Method, StatusCode};
use relay_app::local::QueuePoller;
use relay_app::wiring::Wiring;
use relay_store::Item;
use serde_json::json;
use support::otel::OtlpReceiver;
use support::webhooks::{verify_with_standardwebhooks, Receiver, WebhookEnv};
use support::{assert_error, seed_event};

const WAIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "Bearer otlp-sealed-token-0123456789abcdef";

async fn raw_item(w: &WebhookEnv, pk: String, sk: String) -> Item {
    w.env
        .store
        .client()
        .get_item()
        .table_name(&w.env.config.config_table)
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S(sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("item")
}

async fn raw_endpoint(w: &WebhookEnv, org: &str, id: &str) -> Item {
    raw_item(w, format!("ORG#{org}"), format!("WEBHOOK#{id}")).await
}

async fn set_attr(w: &WebhookEnv, org: &str, sk: String, name: &str, value: AttributeValue) {
    w.env
        .store
        .client()
        .update_item()
        .table_name(&w.env.config.config_table)
        .key("pk", AttributeValue::S(format!("ORG#{org}")))
        .key("sk", AttributeValue::S(sk))
        .update_expression("SET #n = :v")
        .expression_attribute_names("#n", name)
        .expression_attribute_values(":v", value)
        .send()
        .await
        .unwrap();
}

fn sealed(item: &Item, name: &str) -> Vec<u8> {
    match item.get(name) {
        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
        other => panic!("{name} is not sealed: {other:?}"),
    }
}

/// Whether any part of `secret` (its text, or the base64 of its key) is in the item's text.
fn shows(item: &Item, secret: &str) -> bool {
    let text = format!("{item:?}");
    text.contains(secret) || text.contains(secret.trim_start_matches("whsec_"))
}

async fn get_raw(w: &WebhookEnv, id: &str) -> support::Resp {
    w.admin(Method::GET, &format!("{}/{id}", w.path()), None)
        .await
}

fn kms_calls(w: &WebhookEnv) -> u64 {
    w.env
        .store
        .sealer()
        .expect("the test store seals")
        .kms_calls()
}

/// A process of its own (a deliver Lambda's cold start): its own wiring, sealer and cache.
async fn cold_process(w: &WebhookEnv) -> (Wiring, QueuePoller) {
    let wiring = Wiring::new(
        w.env.config.clone(),
        relay_app::clients::Clients::new(&support::sdk().await),
    );
    let poller = QueuePoller::new(
        w.sqs.clone(),
        w.queues.queue_url.clone(),
        wiring.deliverer().expect("deliverer"),
    );
    (wiring, poller)
}

#[tokio::test]
async fn webhook_secrets_are_sealed_at_rest_and_warm_deliveries_call_no_kms() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let org = w.env.a.org.org_id.to_string();
    let before = kms_calls(&w);
    let (id, secret) = w.endpoint(&rx.url("/")).await;
    // The org's first secret: one GenerateDataKey, nothing else.
    assert_eq!(kms_calls(&w) - before, 1);

    let item = raw_endpoint(&w, &org, &id).await;
    let ciphertext = sealed(&item, "secret");
    assert_eq!(ciphertext[0], 1, "format version");
    assert_eq!(ciphertext.len(), 1 + 12 + secret.len() + 16);
    assert!(!shows(&item, &secret), "{item:?}");
    // The data key is stored only encrypted by KMS.
    let key = raw_item(&w, format!("ORG#{org}"), "DATAKEY".into()).await;
    assert!(sealed(&key, "ciphertext").len() > 32);

    // A second endpoint of the same org: sealed with the cached key, no KMS call.
    let calls = kms_calls(&w);
    let (id2, secret2) = w.endpoint(&rx.url("/second")).await;
    assert_eq!(kms_calls(&w), calls);
    assert_ne!(
        sealed(&raw_endpoint(&w, &org, &id2).await, "secret"),
        ciphertext
    );

    // Warm: the API's process fans out and delivers; the deliveries verify, with 0 KMS calls.
    let calls = kms_calls(&w);
    w.ingest(&seed_event()).await;
    w.pump().await;
    w.drain().await;
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(kms_calls(&w), calls, "warm deliveries call KMS");
    let first = got.iter().find(|r| r.path == "/").expect("first endpoint");
    let second = got.iter().find(|r| r.path == "/second").expect("second");
    let verdicts =
        verify_with_standardwebhooks(&[(&secret, first), (&secret2, second), (&secret2, first)])
            .await;
    assert_eq!(verdicts[0]["ok"], true, "{verdicts:?}");
    assert_eq!(verdicts[1]["ok"], true, "{verdicts:?}");
    assert_eq!(verdicts[2]["ok"], false, "{verdicts:?}");

    // Cold: a new deliver process opens the org's data key once (one Decrypt), then never.
    let (cold, poller) = cold_process(&w).await;
    w.ingest(
        &json!({"events": [{"event_id": "evt_sealed_cold_1", "action": "user.login",
        "actor": {"user_id": "usr_1"}}]}),
    )
    .await;
    w.pump().await;
    while poller.poll_once(0).await.expect("poll").received > 0 {}
    assert_eq!(
        cold.sealer().kms_calls(),
        1,
        "a cold start opens the data key once"
    );
    w.ingest(
        &json!({"events": [{"event_id": "evt_sealed_warm_2", "action": "user.login",
        "actor": {"user_id": "usr_1"}}]}),
    )
    .await;
    w.pump().await;
    while poller.poll_once(0).await.expect("poll").received > 0 {}
    let got = rx.wait_for(6, WAIT).await;
    assert_eq!(got.len(), 6);
    assert_eq!(cold.sealer().kms_calls(), 1, "warm deliveries call KMS");
    let last = got.iter().rfind(|r| r.path == "/").unwrap();
    assert_eq!(
        verify_with_standardwebhooks(&[(&secret, last)]).await[0]["ok"],
        true
    );
}

#[tokio::test]
async fn a_cold_process_opens_each_orgs_data_key_once_under_concurrent_reads() {
    let w = WebhookEnv::new().await;
    let b = w.env.new_org("Org B", None).await;
    let (a1, _) = w.endpoint("http://127.0.0.1:9/a").await;
    let (a2, _) = w.endpoint("http://127.0.0.1:9/b").await;
    let r = w
        .env
        .call(
            Method::POST,
            &format!("/orgs/{}/audit-export/webhooks", b.org.org_id),
            Some(&b.admin),
            Some(&json!({"url": "http://127.0.0.1:9/c"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let b1: relay_core::model::ids::EndpointId = r.body["id"].as_str().unwrap().into();
    let (cold, _) = cold_process(&w).await;
    let store = cold.store();
    let a_org = &w.env.a.org.org_id;
    let (a1, a2) = (a1.as_str().into(), a2.as_str().into());
    let reads = (0..8).map(|i| {
        let store = store.clone();
        let (org, id) = match i % 3 {
            0 => (a_org.clone(), &a1),
            1 => (a_org.clone(), &a2),
            _ => (b.org.org_id.clone(), &b1),
        };
        async move { store.get_webhook(&org, id).await }
    });
    for got in futures::future::join_all(reads).await {
        assert!(got.unwrap().is_some());
    }
    // Two orgs: two Decrypts, however many reads raced for them.
    assert_eq!(cold.sealer().kms_calls(), 2);
}

#[tokio::test]
async fn rotation_keeps_both_secrets_sealed_and_both_sign() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let org = w.env.a.org.org_id.to_string();
    let (id, old) = w.endpoint(&rx.url("/")).await;
    let r = w
        .admin(
            Method::POST,
            &format!("{}/{id}/rotate-secret", w.path()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new = r.body["secret"].as_str().unwrap().to_string();
    let item = raw_endpoint(&w, &org, &id).await;
    sealed(&item, "secret");
    sealed(&item, "prev_secret");
    assert!(!shows(&item, &old) && !shows(&item, &new), "{item:?}");

    w.ingest(&seed_event()).await;
    w.pump().await;
    w.drain().await;
    let r = &rx.wait_for(1, WAIT).await[0];
    assert_eq!(r.header("webhook-signature").split(' ').count(), 2);
    let verdicts = verify_with_standardwebhooks(&[(&new, r), (&old, r)]).await;
    assert_eq!(verdicts[0]["ok"], true, "{verdicts:?}");
    assert_eq!(verdicts[1]["ok"], true, "{verdicts:?}");

    // The previous secret moved into `secret` does not open there (another field).
    let prev = item.get("prev_secret").unwrap().clone();
    set_attr(&w, &org, format!("WEBHOOK#{id}"), "secret", prev).await;
    assert_error(
        &get_raw(&w, &id).await,
        StatusCode::CONFLICT,
        Some("secret"),
    );
}

#[tokio::test]
async fn a_secret_copied_to_another_endpoint_or_org_does_not_open() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let org = w.env.a.org.org_id.to_string();
    let (a1, _) = w.endpoint(&rx.url("/a1")).await;
    let (a2, _) = w.endpoint(&rx.url("/a2")).await;
    let b = w.env.new_org("Org B", None).await;
    let b_org = b.org.org_id.to_string();
    let r = w
        .env
        .call(
            Method::POST,
            &format!("/orgs/{b_org}/audit-export/webhooks"),
            Some(&b.admin),
            Some(&json!({"url": rx.url("/b1")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let b1 = r.body["id"].as_str().unwrap().to_string();

    // A message for a2 is queued while its secret is still its own.
    w.ingest(&seed_event()).await;
    w.pump().await;

    let a1_secret = raw_endpoint(&w, &org, &a1).await["secret"].clone();
    set_attr(
        &w,
        &org,
        format!("WEBHOOK#{a2}"),
        "secret",
        a1_secret.clone(),
    )
    .await;
    set_attr(&w, &b_org, format!("WEBHOOK#{b1}"), "secret", a1_secret).await;

    // The API answers a 409 naming the field, never a 5xx.
    assert_error(
        &get_raw(&w, &a2).await,
        StatusCode::CONFLICT,
        Some("secret"),
    );
    let r = w
        .env
        .call(
            Method::GET,
            &format!("/orgs/{b_org}/audit-export/webhooks/{b1}"),
            Some(&b.admin),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, Some("secret"));
    assert!(r.body["error"]
        .as_str()
        .unwrap()
        .contains("not sealed for this org"));
    // a1 is untouched.
    assert_eq!(get_raw(&w, &a1).await.status, StatusCode::OK);
    // The whole item copied into org B's partition (attributes and all) does not open either:
    // the binding is to the key the item is stored under.
    let mut copy = raw_endpoint(&w, &org, &a1).await;
    copy.insert("pk".into(), AttributeValue::S(format!("ORG#{b_org}")));
    w.env
        .store
        .client()
        .put_item()
        .table_name(&w.env.config.config_table)
        .set_item(Some(copy))
        .send()
        .await
        .unwrap();
    let r = w
        .env
        .call(
            Method::GET,
            &format!("/orgs/{b_org}/audit-export/webhooks/{a1}"),
            Some(&b.admin),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, Some("secret"));

    // Delivery: nothing is sent to a2 (with any secret); its message stays queued for a
    // retry, and the queue's redrive policy dead-letters it if the secret is never replaced.
    let polled = w.drain().await;
    assert!(polled.retried >= 1, "{polled:?}");
    let got = rx.wait_for(1, Duration::from_millis(500)).await;
    assert!(got.iter().all(|r| r.path != "/a2"), "a2 was sent to");
    // Deleting the endpoint and creating it again is the remedy.
    let r = w
        .admin(Method::DELETE, &format!("{}/{a2}", w.path()), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

#[tokio::test]
async fn otlp_header_values_are_sealed_still_sent_and_bound_to_their_org() {
    let w = WebhookEnv::new().await;
    let rx = OtlpReceiver::start();
    let org = w.env.a.org.org_id.to_string();
    let path = format!("/orgs/{org}/audit-export/otel");
    let body = json!({"endpointUrl": rx.endpoint(),
        "headers": {"Authorization": TOKEN, "X-Scope-OrgID": "acme-tenant-77"}});
    let r = w.admin(Method::POST, &path, Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let item = raw_item(&w, format!("ORG#{org}"), "OTEL".into()).await;
    let headers = item.get("headers").unwrap().as_m().unwrap();
    for name in ["Authorization", "X-Scope-OrgID"] {
        assert!(
            matches!(headers.get(name), Some(AttributeValue::B(_))),
            "{name}"
        );
    }
    let text = format!("{item:?}");
    assert!(!text.contains("otlp-sealed-token") && !text.contains("acme-tenant-77"));

    let calls = kms_calls(&w);
    w.ingest(&seed_event()).await;
    w.pump().await;
    w.drain().await;
    let records = rx.wait_for_records(1, WAIT).await;
    assert_eq!(records.len(), 1);
    let reqs = rx.requests().await;
    assert_eq!(reqs[0]["headers"]["authorization"], TOKEN);
    assert_eq!(reqs[0]["headers"]["x-scope-orgid"], "acme-tenant-77");
    assert_eq!(kms_calls(&w), calls, "warm OTLP deliveries call KMS");

    // Copied into another org's configuration, the value does not open there.
    let b = w.env.new_org("Org B", None).await;
    let b_org = b.org.org_id.to_string();
    let b_path = format!("/orgs/{b_org}/audit-export/otel");
    let r = w
        .env
        .call(
            Method::POST,
            &b_path,
            Some(&b.admin),
            Some(&json!({"endpointUrl": rx.endpoint(), "headers": {"Authorization": "Bearer b"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    set_attr(
        &w,
        &b_org,
        "OTEL".into(),
        "headers",
        item["headers"].clone(),
    )
    .await;
    let r = w.env.call(Method::GET, &b_path, Some(&b.admin), None).await;
    assert_error(&r, StatusCode::CONFLICT, None);
    assert!(
        r.body["field"].as_str().unwrap().starts_with("headers."),
        "{}",
        r.text
    );
    // A value moved to another header name does not open either.
    let mut swapped = headers.clone();
    let auth = swapped.remove("Authorization").unwrap();
    swapped.insert("X-Scope-OrgID".into(), auth);
    set_attr(
        &w,
        &org,
        "OTEL".into(),
        "headers",
        AttributeValue::M(swapped),
    )
    .await;
    let r = w.admin(Method::GET, &path, None).await;
    assert_error(&r, StatusCode::CONFLICT, Some("headers.X-Scope-OrgID"));
}

#[tokio::test]
async fn secrets_stored_in_clear_before_sealing_work_and_are_sealed_by_the_next_write() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    let org = w.env.a.org.org_id.to_string();
    let (id, secret) = w.endpoint(&rx.url("/")).await;
    // What an item written before sealing holds: the secret as a string.
    set_attr(
        &w,
        &org,
        format!("WEBHOOK#{id}"),
        "secret",
        AttributeValue::S(secret.clone()),
    )
    .await;
    assert_eq!(get_raw(&w, &id).await.status, StatusCode::OK);
    w.ingest(&seed_event()).await;
    w.pump().await;
    w.drain().await;
    let r = &rx.wait_for(1, WAIT).await[0];
    assert_eq!(
        verify_with_standardwebhooks(&[(&secret, r)]).await[0]["ok"],
        true
    );

    // The next write (a PATCH that does not touch the secret) seals it; it still signs.
    let r = w
        .admin(
            Method::PATCH,
            &format!("{}/{id}", w.path()),
            Some(&json!({"description": "sealed now"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let item = raw_endpoint(&w, &org, &id).await;
    sealed(&item, "secret");
    assert!(!shows(&item, &secret));
    w.ingest(
        &json!({"events": [{"event_id": "evt_after_seal", "action": "user.login",
        "actor": {"user_id": "usr_1"}}]}),
    )
    .await;
    w.pump().await;
    w.drain().await;
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(
        verify_with_standardwebhooks(&[(&secret, &got[1])]).await[0]["ok"],
        true
    );

    // OTLP: headers stored in clear are sent as they are, and sealed by the next PUT.
    let otlp = OtlpReceiver::start();
    let path = format!("/orgs/{org}/audit-export/otel");
    let body = json!({"endpointUrl": otlp.endpoint(), "headers": {"Authorization": TOKEN}});
    assert_eq!(
        w.admin(Method::POST, &path, Some(&body)).await.status,
        StatusCode::CREATED
    );
    let clear =
        AttributeValue::M([("Authorization".to_string(), AttributeValue::S(TOKEN.into()))].into());
    set_attr(&w, &org, "OTEL".into(), "headers", clear).await;
    let shown = w.admin(Method::GET, &path, None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    assert!(!shown.text.contains(TOKEN));
    w.ingest(
        &json!({"events": [{"event_id": "evt_otlp_clear", "action": "user.login",
        "actor": {"user_id": "usr_1"}}]}),
    )
    .await;
    w.pump().await;
    w.drain().await;
    otlp.wait_for_records(1, WAIT).await;
    assert_eq!(otlp.requests().await[0]["headers"]["authorization"], TOKEN);
    assert_eq!(
        w.admin(Method::POST, &path, Some(&body)).await.status,
        StatusCode::OK
    );
    let item = raw_item(&w, format!("ORG#{org}"), "OTEL".into()).await;
    assert!(matches!(
        item["headers"].as_m().unwrap().get("Authorization"),
        Some(AttributeValue::B(_))
    ));
}

/// Which functions may make (`kms:GenerateDataKey`) and open (`kms:Decrypt`) data keys of the
/// secrets' purpose, by template.yaml: the API seals, the fanout and deliver functions open,
/// the others (flush, export) never see an endpoint or an OTLP configuration.
#[test]
fn only_the_api_seals_and_only_the_functions_reading_destinations_open() {
    // The fanout routes with the endpoints' ids, patterns and states only (a projection), so
    // it may not open secrets at all.
    use serde_yaml::Value as Y;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let t: Y = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut may: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, res) in t["Resources"].as_mapping().unwrap() {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        for policy in res["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for st in policy["Statement"].as_sequence().into_iter().flatten() {
                let on_purpose = st["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"]
                    .as_str()
                    == Some(relay_store::sealing::PURPOSE);
                let on_key = format!("{:?}", st["Resource"]).contains("CredentialsKey");
                let actions: Vec<String> = match &st["Action"] {
                    Y::String(a) => vec![a.clone()],
                    Y::Sequence(s) => s
                        .iter()
                        .filter_map(|a| a.as_str().map(String::from))
                        .collect(),
                    _ => vec![],
                };
                for a in actions {
                    // Data keys are only ever made for this purpose, on this key.
                    if a == "kms:GenerateDataKey" {
                        assert!(on_key && on_purpose, "{name}: {st:?}");
                    }
                    if (a == "kms:GenerateDataKey" || a == "kms:Decrypt") && on_key && on_purpose {
                        may.entry(a).or_default().push(name.to_string());
                    }
                }
            }
        }
    }
    assert_eq!(may["kms:GenerateDataKey"], ["ApiFunction"]);
    let mut open = may["kms:Decrypt"].clone();
    open.sort();
    assert_eq!(open, ["ApiFunction", "DeliverFunction"]);
}
