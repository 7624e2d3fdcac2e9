//! The destinations' health report (`GET /orgs/{orgId}/audit-export/health`) against moto
//! and a real receiver: webhook attempts counted in their hour, the continuous export's
//! watermark lag, tests left out, another org's report refused.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::fixtures::{self, Placeholders};
use support::webhooks::{Receiver, Reply, WebhookEnv};
use support::{assert_error, TestEnv};
use time::OffsetDateTime;

fn event(id: &str) -> Value {
    json!({"event_id": id, "action": "user.login", "actor": {"user_id": "usr_1"}})
}

/// The start of the hour `at` (RFC 3339) is in, as the report writes it.
fn hour_of(at: &str) -> String {
    let t = OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap();
    let t = t.replace_time(time::Time::from_hms(t.hour(), 0, 0).unwrap());
    relay_core::model::event::rfc3339_millis(t)
}

#[tokio::test]
async fn a_delivered_and_a_failed_event_show_up_in_their_hour() {
    let w = WebhookEnv::new().await;
    let rx = Receiver::start().await;
    rx.always(Reply::status(200));
    let (id, _) = w.endpoint(&rx.url("/hook")).await;
    let org = w.env.a.org.org_id.clone();
    let path = format!("/orgs/{org}/audit-export/health");

    // One event delivered, then the receiver fails and a second one is not.
    w.ingest(&event("evt_health_ok")).await;
    w.pump().await;
    w.drain().await;
    rx.wait_for(1, Duration::from_secs(10)).await;
    rx.always(Reply::status(500));
    w.ingest(&event("evt_health_fail")).await;
    w.pump().await;
    let p = w.deliver_once().await;
    assert_eq!((p.received, p.retried), (1, 1));
    // A test request is not a delivery of the trail: it is left out.
    let r = w
        .admin(Method::POST, &format!("{}/{id}/test", w.path()), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let r = w.admin(Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let dests = r.body["destinations"].as_array().unwrap();
    assert_eq!(dests.len(), 1, "{}", r.text);
    let d = &dests[0];
    assert_eq!(d["kind"], "webhook");
    assert_eq!(d["id"], id.as_str());
    assert_eq!(d["name"], rx.url("/hook"));
    assert_eq!(d["status"], "active");
    assert_eq!(d["unit"], "attempts");
    assert_eq!(d["truncated"], false);
    // The failed attempt will be retried: no event was lost, the streak has not begun.
    assert_eq!(d["failureStreak"], 0);
    let attempts = w.attempts(&id).await;
    let at = |eid: &str| {
        attempts
            .iter()
            .find(|a| a["eventId"] == eid && a["trigger"] == "event")
            .unwrap()["at"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ok_at, fail_at) = (at("evt_health_ok"), at("evt_health_fail"));
    assert_eq!(d["lastSuccessAt"], ok_at.as_str());
    // Failing since that success: the lag is the time since.
    let lag = d["lagSeconds"].as_i64().unwrap();
    assert!((0..120).contains(&lag), "{lag}");

    let hourly = d["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 24);
    let hours: Vec<&str> = hourly.iter().map(|h| h["hour"].as_str().unwrap()).collect();
    let mut sorted = hours.clone();
    sorted.sort();
    assert_eq!(hours, sorted, "oldest first");
    let count = |hour: &str, what: &str| -> u64 {
        hourly
            .iter()
            .filter(|h| h["hour"] == hour)
            .map(|h| h[what].as_u64().unwrap())
            .sum()
    };
    if hour_of(&ok_at) == hour_of(&fail_at) {
        assert_eq!(count(&hour_of(&ok_at), "delivered"), 1, "{hourly:?}");
        assert_eq!(count(&hour_of(&ok_at), "failed"), 1, "{hourly:?}");
    } else {
        // The two attempts straddled an hour boundary.
        assert_eq!(count(&hour_of(&ok_at), "delivered"), 1, "{hourly:?}");
        assert_eq!(count(&hour_of(&fail_at), "failed"), 1, "{hourly:?}");
    }
    let total = |what: &str| -> u64 { hourly.iter().map(|h| h[what].as_u64().unwrap()).sum() };
    assert_eq!((total("delivered"), total("failed")), (1, 1), "{hourly:?}");
    assert_eq!(hours[23], hour_of(&fail_at));
}

#[tokio::test]
async fn the_continuous_export_reports_its_watermark_lag_and_other_orgs_get_404() {
    let env = TestEnv::new().await;
    let org = env.a.org.org_id.clone();
    let path = format!("/orgs/{org}/audit-export/health");
    let r = env.call(Method::GET, &path, Some(&env.a.admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, json!({"destinations": []}));
    // The route's fixture, as the Lambda runtime hands it over.
    let r = env
        .send(fixtures::request(
            "api-get-export-health.json",
            &Placeholders::org_a(&env),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["destinations"].is_array());

    let cfg = json!({"bucket": "acme-audit", "region": "us-east-1",
        "roleArn": "arn:aws:iam::123456789012:role/AuditRelayExport", "prefix": "trail"});
    let r = env
        .call(
            Method::POST,
            &format!("/orgs/{org}/audit-export/config"),
            Some(&env.a.admin),
            Some(&cfg),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = env.call(Method::GET, &path, Some(&env.a.owner), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let d = &r.body["destinations"][0];
    assert_eq!(d["kind"], "s3");
    assert_eq!(d["name"], "s3://acme-audit/trail/");
    assert_eq!(d["status"], "active");
    assert_eq!(d["unit"], "runs");
    assert_eq!(d["lastSuccessAt"], Value::Null);
    assert_eq!(d["failureStreak"], 0);
    // A new export starts at its creation: its watermark is seconds old.
    let lag = d["lagSeconds"].as_i64().unwrap();
    assert!((0..60).contains(&lag), "{lag}");
    assert_eq!(d["hourly"].as_array().unwrap().len(), 24);
    assert_eq!(d["hourly"][23]["delivered"], 0);

    // Another org's admin, a member and no key at all.
    let b = env.new_org("Org B", None).await;
    let r = env.call(Method::GET, &path, Some(&b.admin), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let r = env
        .call(Method::GET, &path, Some(&env.a.reader), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = env.call(Method::GET, &path, None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
