//! Org notification settings against moto: `GET|PUT /orgs/{orgId}/notifications` (round trip,
//! validation, access), the e-mail subscriptions on the stack's topic with their filter policy
//! on the org, and what a failing then paused webhook publishes: one warning when its failure
//! streak begins, the pause notice, each with the `org_id` message attribute, read from an SQS
//! queue subscribed to the topic as an operator would (raw delivery off).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use http::{Method, StatusCode};
use relay_app::pipeline::pause::PauseRule;
use relay_core::retry::RetrySchedule;
use serde_json::{json, Value};
use support::fixtures::{self, Placeholders};
use support::webhooks::{Receiver, Reply, WebhookEnv, WebhookOptions};
use support::{assert_error, Resp};

fn path(w: &WebhookEnv) -> String {
    format!("/orgs/{}/notifications", w.env.a.org.org_id)
}

async fn put(w: &WebhookEnv, emails: Value) -> Resp {
    w.admin(Method::PUT, &path(w), Some(&json!({ "emails": emails })))
        .await
}

/// The topic's e-mail subscriptions: address → (subscription ARN, its attributes).
async fn email_subscriptions(
    w: &WebhookEnv,
) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    let sns = aws_sdk_sns::Client::new(&support::sdk().await);
    let mut out = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = sns
            .list_subscriptions_by_topic()
            .topic_arn(&w.topic_arn)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        for sub in page.subscriptions() {
            if sub.protocol() != Some("email") {
                continue;
            }
            let arn = sub.subscription_arn().unwrap().to_string();
            let attrs = sns
                .get_subscription_attributes()
                .subscription_arn(&arn)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap_or_default()
                .into_iter()
                .collect();
            out.insert(sub.endpoint().unwrap().to_string(), (arn, attrs));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}

#[tokio::test]
async fn settings_round_trip_as_filtered_email_subscriptions_and_removed_addresses_are_unsubscribed(
) {
    let w = WebhookEnv::new().await;
    let org = w.env.a.org.org_id.to_string();
    let r = w.admin(Method::GET, &path(&w), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["emails"], json!([]));
    assert_eq!(r.body["updatedAt"], Value::Null);

    let r = put(&w, json!(["sec@example.com", " Ops@Example.com "])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["emails"],
        json!(["sec@example.com", "Ops@Example.com"])
    );
    assert!(r.body["updatedAt"].is_string());
    let subs = r.body["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    for (sub, email) in subs.iter().zip(["sec@example.com", "Ops@Example.com"]) {
        assert_eq!(sub["email"], email);
        // Real SNS: pending until the person confirms; moto confirms at once.
        assert!(
            ["pending_confirmation", "confirmed"].contains(&sub["status"].as_str().unwrap()),
            "{sub}"
        );
    }
    let got = w.admin(Method::GET, &path(&w), None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body, r.body, "GET shows what PUT stored");

    let on_topic = email_subscriptions(&w).await;
    assert_eq!(
        on_topic.keys().collect::<Vec<_>>(),
        ["Ops@Example.com", "sec@example.com"]
    );
    for (_, attrs) in on_topic.values() {
        let policy: Value = serde_json::from_str(&attrs["FilterPolicy"]).unwrap();
        assert_eq!(policy, json!({ "org_id": [org] }));
        assert_eq!(attrs["FilterPolicyScope"], "MessageAttributes");
    }
    let ops_arn = on_topic["Ops@Example.com"].0.clone();

    // Replaced: the address kept (in another case) keeps its subscription, the removed one is
    // unsubscribed, the new one subscribed.
    let r = put(&w, json!(["ops@example.com", "new@example.com"])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["emails"],
        json!(["ops@example.com", "new@example.com"])
    );
    let on_topic = email_subscriptions(&w).await;
    assert_eq!(
        on_topic.keys().collect::<Vec<_>>(),
        ["Ops@Example.com", "new@example.com"]
    );
    assert_eq!(on_topic["Ops@Example.com"].0, ops_arn);
    assert_eq!(
        w.env
            .store
            .notification_email_owner("sec@example.com")
            .await
            .unwrap(),
        None,
        "a removed address is free for another org"
    );

    // Emptied: nothing left on the topic.
    let r = put(&w, json!([])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["emails"], json!([]));
    assert!(email_subscriptions(&w).await.is_empty());
}

#[tokio::test]
async fn settings_are_validated_admin_only_and_scoped_to_the_org() {
    let w = WebhookEnv::new().await;
    let p = path(&w);
    for (body, field) in [
        (json!({}), "emails"),
        (json!({"emails": "a@example.com"}), "emails"),
        (json!({"emails": ["a@example.com"], "extra": 1}), "extra"),
        (
            json!({"emails": ["a@example.com", "not-an-address"]}),
            "emails[1]",
        ),
        (json!({"emails": ["a@example.com", 7]}), "emails[1]"),
        (
            json!({"emails": ["a@example.com", "A@EXAMPLE.com"]}),
            "emails[1]",
        ),
        (
            json!({"emails": (0..11).map(|i| format!("u{i}@example.com")).collect::<Vec<_>>()}),
            "emails",
        ),
    ] {
        let r = w.admin(Method::PUT, &p, Some(&body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
        assert_eq!(r.body["code"], "invalid_field", "{}", r.text);
    }
    let r = w
        .env
        .call_raw(
            Method::PUT,
            &p,
            Some(&w.env.a.admin),
            Some("{"),
            Some("application/json"),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, None);
    assert!(
        email_subscriptions(&w).await.is_empty(),
        "nothing subscribed"
    );

    // Admins and owners only; another org's path is not found, whoever asks.
    let body = json!({"emails": ["a@example.com"]});
    let r = w
        .env
        .call(Method::PUT, &p, Some(&w.env.a.member), Some(&body))
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, None);
    let r = w
        .env
        .call(Method::GET, &p, Some(&w.env.a.reader), None)
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, None);
    let b = w.env.new_org("Org B", None).await;
    for method in [Method::GET, Method::PUT] {
        let r = w
            .env
            .call(method.clone(), &p, Some(&b.owner), Some(&body))
            .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
    }
    let r = w.env.call(Method::GET, &p, None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, None);

    // An address receives one org's notifications: SNS keeps one subscription (one filter
    // policy) per address and topic.
    let r = w.admin(Method::PUT, &p, Some(&body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let b_path = format!("/orgs/{}/notifications", b.org.org_id);
    let r = w
        .env
        .call(
            Method::PUT,
            &b_path,
            Some(&b.admin),
            Some(&json!({"emails": ["b@example.com", "A@example.com"]})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, Some("emails[1]"));
    let on_topic = email_subscriptions(&w).await;
    assert_eq!(on_topic.keys().collect::<Vec<_>>(), ["a@example.com"]);
    let policy: Value = serde_json::from_str(&on_topic["a@example.com"].1["FilterPolicy"]).unwrap();
    assert_eq!(policy, json!({ "org_id": [w.env.a.org.org_id.as_str()] }));
    assert_eq!(
        w.env
            .store
            .notification_email_owner("b@example.com")
            .await
            .unwrap(),
        None,
        "a refused change claims nothing"
    );
}

#[tokio::test]
async fn the_fixtures_are_served() {
    let w = WebhookEnv::new().await;
    let with = Placeholders::org_a(&w.env);
    let r = w
        .env
        .send(fixtures::request("api-put-notifications.json", &with))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w
        .env
        .send(fixtures::request("api-get-notifications.json", &with))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["emails"],
        json!(["security@example.com", "oncall@example.com"])
    );
}

/// A queue subscribed to the topic with `filter` (a filter policy on the message attributes).
async fn filtered_queue(w: &WebhookEnv, name: &str, filter: Value) -> String {
    let url = w
        .sqs
        .create_queue()
        .queue_name(format!(
            "{name}{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = w
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::QueueArn)
        .unwrap();
    aws_sdk_sns::Client::new(&support::sdk().await)
        .subscribe()
        .topic_arn(&w.topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("FilterPolicy", filter.to_string())
        .attributes("FilterPolicyScope", "MessageAttributes")
        .send()
        .await
        .unwrap();
    url
}

/// The SNS envelopes in a queue (each received once, then deleted).
async fn envelopes(w: &WebhookEnv, url: &str) -> Vec<Value> {
    let mut out = vec![];
    loop {
        let got = w
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            return out;
        }
        for m in got.messages() {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            w.sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

fn message(envelope: &Value) -> Value {
    serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_failing_webhook_warns_once_per_streak_and_its_pause_is_announced_to_its_org() {
    let w = WebhookEnv::with(WebhookOptions {
        schedule: RetrySchedule::new(vec![Duration::ZERO], 0.0).unwrap(),
        pause: PauseRule {
            after_exhausted: 3,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let org = w.env.a.org.org_id.to_string();
    let own = filtered_queue(&w, "own", json!({ "org_id": [org] })).await;
    let other = filtered_queue(&w, "other", json!({ "org_id": ["org_someone_else"] })).await;
    let rx = Receiver::start().await;
    rx.always(Reply::status(503));
    let (id, _) = w.endpoint(&rx.url("/siem")).await;
    // Three events exhaust their attempts in the same receive, concurrently: one begins the
    // streak, the third pauses.
    let events: Vec<Value> = (1..=3)
        .map(|i| json!({"event_id": format!("evt_f{i}"), "action": "user.login", "actor": {"user_id": "usr_1"}}))
        .collect();
    w.ingest(&json!({ "events": events })).await;
    w.pump().await;
    w.drain().await;
    assert_eq!(w.dlq().await.len(), 3);
    assert_eq!(w.get(&id).await["status"], "paused");

    // The operators' queue (no filter) hears of everything.
    let all = envelopes(&w, &w.notifications_url).await;
    let kinds: Vec<String> = all
        .iter()
        .map(|e| message(e)["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "audit_export_failing")
            .count(),
        1,
        "one warning per streak: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "audit_export_paused").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(all.len(), 2, "{kinds:?}");
    for envelope in &all {
        assert_eq!(
            envelope["MessageAttributes"]["org_id"],
            json!({"Type": "String", "Value": org}),
            "{envelope}"
        );
        let m = message(envelope);
        assert_eq!(m["org_id"], org.as_str());
        assert_eq!(m["org_name"], "Org A");
        assert_eq!(m["destination"], "webhook");
        assert_eq!(m["destination_id"], id.as_str());
        assert!(m["reason"].is_string(), "{m}");
        assert!(envelope["Subject"].as_str().unwrap().contains("Org A"));
    }
    let failing = all
        .iter()
        .map(message)
        .find(|m| m["type"] == "audit_export_failing")
        .unwrap();
    assert!(
        failing["reason"].as_str().unwrap().contains("HTTP 503"),
        "{failing}"
    );

    // The org's own filter lets both through; another org's lets nothing through.
    assert_eq!(envelopes(&w, &own).await.len(), 2);
    assert!(envelopes(&w, &other).await.is_empty());

    // Re-enabled, it fails again: a new streak, a new warning (and no pause yet).
    let r = w
        .admin(
            Method::PATCH,
            &format!("{}/{id}", w.path()),
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    w.ingest(&json!({"event_id": "evt_f4", "action": "user.login", "actor": {"user_id": "usr_1"}}))
        .await;
    w.pump().await;
    w.drain().await;
    let again: Vec<Value> = envelopes(&w, &w.notifications_url)
        .await
        .iter()
        .map(message)
        .collect();
    let kinds: Vec<&str> = again.iter().filter_map(|m| m["type"].as_str()).collect();
    assert_eq!(kinds, ["audit_export_failing"], "{again:?}");
}

#[tokio::test]
async fn a_failed_export_job_is_announced_once_to_its_org() {
    use relay_app::destinations::export_job::queue::JobMessage;
    use relay_app::destinations::export_job::run::{ExportRunner, ExportSettings, RunOutcome};
    use relay_core::model::bucket::{Access, BucketTarget, StoreType};
    use relay_core::model::export_job::{ExportJob, JobStatus};
    use relay_core::model::file_format::FileFormat;
    use relay_core::shapes::Schema;
    let w = WebhookEnv::with(WebhookOptions::default()).await;
    let org = w.env.a.org.org_id.clone();
    let mine = filtered_queue(&w, "jobs", json!({"org_id": [org.to_string()]})).await;
    let now = time::OffsetDateTime::now_utc();
    let job = ExportJob {
        export_id: relay_core::model::ids::ExportId::generate(),
        org_id: org.clone(),
        status: JobStatus::Queued,
        schema: Schema::Canonical,
        format: FileFormat::Jsonl,
        from: relay_core::model::export_job::bound(now - time::Duration::hours(1)),
        to: relay_core::model::export_job::bound(now),
        filters: vec![],
        dest: BucketTarget {
            store: StoreType::S3,
            bucket: "no-such-bucket-for-jobs".into(),
            region: "us-east-1".into(),
            prefix: "audit-logs".into(),
            access: Access::Role("arn:aws:iam::123456789012:role/r".into()),
            endpoint_url: None,
            force_path_style: false,
            account_name: None,
        },
        estimated_records: 0,
        record_count: 0,
        files: vec![],
        manifest_key: None,
        manifest_seal: None,
        created_at: relay_core::model::event::rfc3339_millis(now),
        started_at: None,
        completed_at: None,
        error: None,
        position: None,
        upload: None,
        failures: 0,
    };
    w.env
        .store
        .create_export_job(&job, now.unix_timestamp())
        .await
        .unwrap();
    let sdk = support::sdk().await;
    let runner = ExportRunner::new(
        w.env.store.clone(),
        relay_app::clients::Clients::new(&sdk),
        support::buckets(&w.env.config, &sdk),
        relay_app::pipeline::pause::Notifier::new(
            aws_sdk_sns::Client::new(&sdk),
            Some(w.topic_arn.clone()),
        ),
        None,
        ExportSettings::default(),
    );
    let msg = JobMessage {
        org_id: org.clone(),
        export_id: job.export_id.clone(),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let out = runner.run(&msg, deadline).await.unwrap();
    assert!(
        matches!(&out, RunOutcome::Failed(e) if e.contains("does not exist")),
        "{out:?}"
    );
    // A second delivery of the same message finds the job finished: no second notice.
    assert!(matches!(
        runner.run(&msg, deadline).await.unwrap(),
        RunOutcome::Skipped
    ));
    relay_app::destinations::export_job::health::mark_failed(
        &runner,
        &org,
        &job.export_id,
        "again",
    )
    .await
    .unwrap();
    let got = envelopes(&w, &mine).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let m = message(&got[0]);
    assert_eq!(m["type"], "audit_export_failing");
    assert_eq!(m["destination"], "export_job");
    assert_eq!(m["destination_id"], job.export_id.to_string());
    assert_eq!(
        got[0]["MessageAttributes"]["org_id"]["Value"],
        org.to_string()
    );
}
