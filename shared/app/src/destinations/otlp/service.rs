//! OTLP log export: every new audit event is forwarded to the org's
//! OpenTelemetry-compatible receiver as one OTLP Log record, over HTTP.
//!
//! It rides the webhook delivery path rather than a second pipeline: the fanout groups each
//! stream batch's events of an org into [`OtelMessage`](crate::pipeline::message::OtelMessage)s
//! of at most `maxBatchSize` events, and the deliver function sends each as one
//! `ExportLogsServiceRequest` ([`super::deliver`]), with per-event delivered markers for
//! exactly-once.
//!
//! [`super::encode`] (the record mapping and encoding), [`super::send`] (one request and what
//! its answer means), [`super::deliver`] (the deliver function's part), [`super::health`]
//! (pausing); this module holds the services behind `/orgs/{orgId}/audit-export/otel…`.
//! Callers have checked that the key is an admin/owner key of the org.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::send::{export, ExportVerdict};
use crate::pipeline::http_client::WebhookClient;
use crate::pipeline::message::otel_messages;
use crate::pipeline::replay::{enqueue_range, ReplayRange, ReplayTarget};
use crate::pipeline::ssrf::SsrfPolicy;
use crate::system_events::SystemEvent;
use relay_core::cursor::CursorSigner;
use relay_core::error::Error;
use relay_core::model::event::rfc3339_millis;
use relay_core::model::ids::new_id;
use relay_core::model::ids::OrgId;
use relay_core::model::otlp::{OtelConfig, OtelConfigInput, OtelConfigView, OtelStatus};
use relay_core::model::AuditEvent;
use relay_core::shapes::{Schema, ShapeContext};
use relay_store::otlp::ExportRecord;
use relay_store::Store;

/// The action of test records.
pub const TEST_ACTION: &str = "otel.test";

fn not_found() -> Error {
    Error::NotFound("otel export config")
}

fn parse_input(body: Value) -> Result<OtelConfigInput, Error> {
    relay_core::decode::from_value(body, "")
}

/// The SSRF guard on `endpointUrl` (with DNS): the same rules as webhooks, `http` allowed.
async fn check_destination(policy: SsrfPolicy, url: &str) -> Result<(), Error> {
    policy
        .allowing_http()
        .validate(url)
        .await
        .map(|_| ())
        .map_err(|e| Error::invalid("endpointUrl", format!("endpointUrl {e}")))
}

/// `GET /orgs/{orgId}/audit-export/otel`.
pub async fn get(store: &Store, org_id: &OrgId) -> Result<OtelConfigView, Error> {
    Ok(store
        .get_otel_config(org_id, true)
        .await?
        .ok_or_else(not_found)?
        .view())
}

/// `POST /orgs/{orgId}/audit-export/otel`: creates or replaces the org's export; returns the
/// view and whether it was created.
pub async fn upsert(
    store: &Store,
    policy: SsrfPolicy,
    org_id: &OrgId,
    body: Value,
    now: OffsetDateTime,
) -> Result<(OtelConfigView, bool), Error> {
    let input = parse_input(body)?;
    let stored = store.get_otel_config(org_id, true).await?;
    let dest = input.validate(stored.as_ref())?;
    check_destination(policy, &dest.endpoint_url).await?;
    let enabled = input.enabled.unwrap_or(true);
    let config = store
        .upsert_otel_config(org_id, &new_id("otl"), &dest, enabled, &rfc3339_millis(now))
        .await?;
    // Never the headers: their values are secrets.
    tracing::info!(org_id = %org_id, config_id = %config.id, enabled, max_batch_size = config.max_batch_size,
        "OTLP export configured");
    Ok((config.view(), stored.is_none()))
}

/// `DELETE /orgs/{orgId}/audit-export/otel`. Messages still queued for it are dropped.
pub async fn delete(store: &Store, org_id: &OrgId) -> Result<(), Error> {
    if store.delete_otel_config(org_id).await? {
        tracing::info!(org_id = %org_id, "OTLP export deleted");
        Ok(())
    } else {
        Err(not_found())
    }
}

/// Answer of `POST .../otel/test`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OtelTestResult)]
pub struct TestResult {
    /// Whether the receiver accepted the record (2xx, nothing rejected).
    pub success: bool,
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// Milliseconds until its answer (or the failure).
    pub latency_ms: u64,
    /// What went wrong (or the receiver's partial-success message).
    pub error: Option<String>,
    /// Records the receiver reported as rejected (OTLP partial success).
    pub rejected_records: i64,
    /// The test event's id (`log.record.uid` of the record).
    pub event_id: String,
    /// Where the record was sent.
    pub export_url: String,
}

/// The `otel.test` event sent by `POST .../otel/test`.
pub fn test_event(config_id: &str, tenant_id: &str, now: OffsetDateTime) -> AuditEvent {
    let mut metadata = Map::new();
    metadata.insert("test".into(), Value::Bool(true));
    SystemEvent {
        event_id: new_id("evt"),
        action: TEST_ACTION,
        resource: ("otel_export", config_id, None),
        success: true,
        metadata,
    }
    .into_event(tenant_id, &rfc3339_millis(now))
}

/// `POST .../otel/test`: sends one `otel.test` record now and reports the receiver's answer.
/// With an empty body the stored configuration is tested (whatever its state) and a failure is
/// recorded as its `lastError`; with a configuration in the body (same fields as `POST
/// .../otel`) that one is tested, before saving it, and nothing is recorded.
pub async fn test(
    store: &Store,
    client: &WebhookClient,
    org_id: &OrgId,
    body: Option<Value>,
    now: OffsetDateTime,
) -> Result<TestResult, Error> {
    let stored = store.get_otel_config(org_id, true).await?;
    let (config_id, url, headers, schema, record_on) = match body {
        None => {
            let c = stored.ok_or_else(not_found)?;
            (
                c.id.clone(),
                c.export_url(),
                c.headers.clone(),
                c.schema,
                Some(c),
            )
        }
        Some(value) => {
            let dest = parse_input(value)?.validate(stored.as_ref())?;
            check_destination(client.policy(), &dest.endpoint_url).await?;
            let url = relay_core::model::otlp::export_url(&dest.endpoint_url)?;
            ("unsaved".to_string(), url, dest.headers, dest.schema, None)
        }
    };
    let org = store.get_org(org_id).await?.ok_or_else(not_found)?;
    let event = test_event(&config_id, &org.tenant_id, now);
    let doc = serde_json::to_string(&event).map_err(|e| Error::Internal(e.to_string()))?;
    let mut ctx = ShapeContext::new(&org.tenant_id);
    if schema == Schema::Ocsf {
        ctx = ctx.with_class_overrides(store.get_class_overrides(org_id).await?.overrides);
    }
    let outcome = export(client, &url, &headers, schema, &ctx, &[doc.as_str()]).await;
    let (success, rejected) = match &outcome.verdict {
        ExportVerdict::Accepted { partial } => {
            let rejected = partial.as_ref().map_or(0, |p| p.rejected);
            (rejected == 0, rejected)
        }
        _ => (false, 0),
    };
    if let (Some(c), false) = (record_on, success) {
        let at = rfc3339_millis(now);
        let error = format!(
            "test: {}",
            outcome
                .error
                .as_deref()
                .unwrap_or("the receiver refused the record")
        );
        store
            .record_otel_export(
                org_id,
                &c.id,
                &ExportRecord::Failed {
                    at: &at,
                    error: &error,
                },
            )
            .await?;
    }
    Ok(TestResult {
        success,
        status_code: outcome.status_code,
        latency_ms: outcome.latency_ms,
        error: outcome.error,
        rejected_records: rejected,
        event_id: event.event_id,
        export_url: url,
    })
}

/// Answer of `POST .../otel/replay`.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OtelReplayResult)]
pub struct ReplayResult {
    /// Id of this replay.
    pub replay_id: String,
    /// Events read (and enqueued) in the range.
    pub scanned: usize,
    /// Export requests enqueued (at most `maxBatchSize` events each).
    pub batches: usize,
    /// Whether the range holds more events: send the same request with `cursor` to go on.
    pub has_more: bool,
    /// Continuation of the range.
    pub cursor: Option<String>,
}

/// `POST .../otel/replay` with `from`/`to` (the time events were accepted, `to` exclusive):
/// re-enqueues the org's events of that range, at most 5,000 per request. They are exported
/// again even if they were before (same `log.record.uid`, so a receiver can deduplicate).
pub async fn replay(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    queue_url: Option<&str>,
    cursors: &CursorSigner,
    org_id: &OrgId,
    body: Value,
) -> Result<ReplayResult, Error> {
    let range = ReplayRange::parse(relay_core::decode::from_value(body, "")?)?;
    let config: OtelConfig = store
        .get_otel_config(org_id, true)
        .await?
        .ok_or_else(not_found)?;
    if config.status() != OtelStatus::Active {
        return Err(Error::Conflict {
            field: "enabled".into(),
            message: format!(
                "the OTLP export is {}: POST it with \"enabled\": true before replaying",
                match config.status() {
                    OtelStatus::Paused => "paused",
                    _ => "disabled",
                }
            ),
        });
    }
    let max = usize::try_from(config.max_batch_size).unwrap_or(1);
    let target = ReplayTarget {
        queue_url,
        context: &format!("otel-replay|{}", config.id),
        noun: "export requests",
    };
    let done = enqueue_range(
        store,
        sqs,
        cursors,
        org_id,
        &range,
        target,
        |events, replay_id| {
            let pairs: Vec<(&str, &str)> = events
                .iter()
                .map(|e| (e.event_id.as_str(), e.doc.as_str()))
                .collect();
            otel_messages(org_id, &config.id, replay_id, max, &pairs)
                .into_iter()
                .map(|(m, _)| m)
                .collect()
        },
    )
    .await?;
    tracing::info!(org_id = %org_id, replay_id = %done.replay_id, scanned = done.scanned,
        batches = done.enqueued, "OTLP replay enqueued");
    Ok(ReplayResult {
        replay_id: done.replay_id,
        scanned: done.scanned,
        batches: done.enqueued,
        has_more: done.cursor.is_some(),
        cursor: done.cursor,
    })
}
