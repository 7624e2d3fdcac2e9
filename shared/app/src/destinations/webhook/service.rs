//! The webhook endpoints API (`/orgs/{orgId}/audit-export/webhooks…`): the services behind the
//! handlers. Callers have checked that the key is an admin/owner key of the org.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::send::{send_event, Verdict};
use crate::pipeline::http_client::WebhookClient;
use crate::pipeline::message::DeliveryMessage;
use crate::pipeline::replay::{enqueue_range, ReplayRange, ReplayTarget};
use crate::pipeline::ssrf::SsrfPolicy;
use crate::system_events::SystemEvent;
use relay_core::cursor::CursorSigner;
use relay_core::error::Error;
use relay_core::model::event::rfc3339_millis;
use relay_core::model::ids::new_id;
use relay_core::model::ids::{EndpointId, OrgId};
use relay_core::model::webhook::{
    delivery_schema, parse_body, validate_actions, validate_description, Attempt, AttemptStatus,
    CreateWebhook, EndpointStatus, EndpointView, Trigger, UpdateWebhook, WebhookEndpoint,
    MAX_ENDPOINTS_PER_ORG, MAX_URL_BYTES, ROTATION_OVERLAP,
};
use relay_core::model::AuditEvent;
use relay_core::query::page_limit;
use relay_core::shapes::{Schema, ShapeContext};
use relay_core::signing::WebhookSecret;
use relay_store::webhooks::EndpointChanges;
use relay_store::Store;

/// Default page size of `GET .../attempts`.
pub const DEFAULT_ATTEMPTS_LIMIT: usize = 25;
/// Largest page size of `GET .../attempts`.
pub const MAX_ATTEMPTS_LIMIT: usize = 100;
/// The action of test deliveries.
pub const TEST_ACTION: &str = "webhook.test";

fn not_found() -> Error {
    Error::NotFound("webhook")
}

async fn validate_url(policy: SsrfPolicy, url: &str) -> Result<(), Error> {
    if url.len() > MAX_URL_BYTES {
        return Err(Error::invalid(
            "url",
            format!("must be at most {MAX_URL_BYTES} bytes"),
        ));
    }
    policy
        .validate(url)
        .await
        .map(|_| ())
        .map_err(|e| Error::invalid("url", format!("url {e}")))
}

/// `POST /orgs/{orgId}/audit-export/webhooks`: the endpoint with its full secret (the only
/// time besides a rotation that the secret is shown).
pub async fn create(
    store: &Store,
    policy: SsrfPolicy,
    org_id: &OrgId,
    body: Value,
    now: OffsetDateTime,
) -> Result<EndpointView, Error> {
    let req: CreateWebhook = parse_body(body)?;
    validate_url(policy, &req.url).await?;
    if let Some(d) = &req.description {
        validate_description(d)?;
    }
    let actions = validate_actions(req.actions.unwrap_or_else(|| vec!["*".into()]))?;
    let schema = req
        .schema
        .as_deref()
        .map(delivery_schema)
        .transpose()?
        .unwrap_or(Schema::Canonical);
    if store.list_webhooks(org_id, true).await?.len() >= MAX_ENDPOINTS_PER_ORG {
        return Err(Error::Conflict {
            field: "url".into(),
            message: format!("an org can have at most {MAX_ENDPOINTS_PER_ORG} webhook endpoints"),
        });
    }
    let at = rfc3339_millis(now);
    let endpoint = WebhookEndpoint {
        id: EndpointId::generate(),
        org_id: org_id.clone(),
        url: req.url,
        description: req.description.filter(|d| !d.is_empty()),
        enabled: req.enabled.unwrap_or(true),
        actions,
        schema,
        secret: WebhookSecret::generate().map_err(|e| Error::Internal(e.to_string()))?,
        previous_secret: None,
        secret_rotated_at: None,
        consecutive_exhausted: 0,
        failing_since: None,
        paused_at: None,
        disabled_at: (req.enabled == Some(false)).then(|| at.clone()),
        status_reason: None,
        created_at: at.clone(),
        updated_at: at,
    };
    store.put_new_webhook(&endpoint).await?;
    tracing::info!(org_id = %org_id, endpoint_id = %endpoint.id, "webhook endpoint created");
    Ok(endpoint.view(true))
}

/// `GET /orgs/{orgId}/audit-export/webhooks`: every endpoint, secrets masked.
pub async fn list(store: &Store, org_id: &OrgId) -> Result<Vec<EndpointView>, Error> {
    Ok(store
        .list_webhooks(org_id, true)
        .await?
        .iter()
        .map(|e| e.view(false))
        .collect())
}

async fn load(store: &Store, org_id: &OrgId, id: &EndpointId) -> Result<WebhookEndpoint, Error> {
    if !id.is_well_formed() {
        return Err(not_found());
    }
    store.get_webhook(org_id, id).await?.ok_or_else(not_found)
}

/// `GET /orgs/{orgId}/audit-export/webhooks/{id}`.
pub async fn get(store: &Store, org_id: &OrgId, id: &EndpointId) -> Result<EndpointView, Error> {
    Ok(load(store, org_id, id).await?.view(false))
}

/// `PATCH /orgs/{orgId}/audit-export/webhooks/{id}`.
pub async fn update(
    store: &Store,
    policy: SsrfPolicy,
    org_id: &OrgId,
    id: &EndpointId,
    body: Value,
    now: OffsetDateTime,
) -> Result<EndpointView, Error> {
    let req: UpdateWebhook = parse_body(body)?;
    load(store, org_id, id).await?;
    if let Some(url) = &req.url {
        validate_url(policy, url).await?;
    }
    if let Some(Some(d)) = &req.description {
        validate_description(d)?;
    }
    let actions = req.actions.map(validate_actions).transpose()?;
    let schema = req.schema.as_deref().map(delivery_schema).transpose()?;
    let changes = EndpointChanges {
        url: req.url,
        description: req.description.map(|d| d.filter(|d| !d.is_empty())),
        actions,
        schema,
        enabled: req.enabled,
    };
    let updated = store
        .update_webhook(org_id, id, &changes, &rfc3339_millis(now))
        .await?
        .ok_or_else(not_found)?;
    Ok(updated.view(false))
}

/// `DELETE /orgs/{orgId}/audit-export/webhooks/{id}`.
pub async fn delete(store: &Store, org_id: &OrgId, id: &EndpointId) -> Result<(), Error> {
    if !id.is_well_formed() || !store.delete_webhook(org_id, id).await? {
        return Err(not_found());
    }
    Ok(())
}

/// `POST .../{id}/rotate-secret`: a new secret (shown in full, once); the old one keeps
/// signing beside it for 24 hours so receivers can switch without losing a delivery.
pub async fn rotate_secret(
    store: &Store,
    org_id: &OrgId,
    id: &EndpointId,
    now: OffsetDateTime,
) -> Result<EndpointView, Error> {
    let current = load(store, org_id, id).await?;
    let new = WebhookSecret::generate().map_err(|e| Error::Internal(e.to_string()))?;
    let until = (now + ROTATION_OVERLAP).unix_timestamp();
    match store
        .rotate_webhook_secret(
            org_id,
            id,
            &current.secret,
            &new,
            until,
            &rfc3339_millis(now),
        )
        .await?
    {
        Some(rotated) => {
            tracing::info!(org_id = %org_id, endpoint_id = %id, "webhook secret rotated");
            Ok(rotated.view(true))
        }
        None => {
            load(store, org_id, id).await?;
            Err(Error::Conflict {
                field: "secret".into(),
                message: "the secret was rotated by another request at the same time; retry".into(),
            })
        }
    }
}

/// Answer of `POST .../{id}/test`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookTestResult)]
pub struct TestResult {
    /// Whether the receiver answered 2xx.
    pub success: bool,
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// Milliseconds until its answer (or the failure).
    pub latency_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// The test event's id (its `webhook-id`).
    pub event_id: String,
}

/// The `webhook.test` event sent by `POST .../{id}/test`.
pub fn test_event(endpoint: &WebhookEndpoint, tenant_id: &str, now: OffsetDateTime) -> AuditEvent {
    let mut metadata = Map::new();
    metadata.insert("test".into(), Value::Bool(true));
    SystemEvent {
        event_id: new_id("evt"),
        action: TEST_ACTION,
        resource: ("webhook", &endpoint.id, None),
        success: true,
        metadata,
    }
    .into_event(tenant_id, &rfc3339_millis(now))
}

/// `POST .../{id}/test`: sends a `webhook.test` event now (whatever the endpoint's state) and
/// reports the receiver's answer. It is logged as an attempt, and changes nothing else.
pub async fn test(
    store: &Store,
    client: &WebhookClient,
    org_id: &OrgId,
    id: &EndpointId,
    now: OffsetDateTime,
) -> Result<TestResult, Error> {
    let endpoint = load(store, org_id, id).await?;
    let org = store.get_org(org_id).await?.ok_or_else(not_found)?;
    let event = test_event(&endpoint, &org.tenant_id, now);
    let doc = serde_json::to_string(&event).map_err(|e| Error::Internal(e.to_string()))?;
    let mut ctx = ShapeContext::new(&org.tenant_id);
    if endpoint.schema == Schema::Ocsf {
        ctx = ctx.with_class_overrides(store.get_class_overrides(org_id).await?.overrides);
    }
    let outcome = send_event(client, &endpoint, &ctx, &event.event_id, &doc, now).await;
    let success = outcome.verdict == Verdict::Delivered;
    let attempt = Attempt {
        id: new_id("att"),
        endpoint_id: endpoint.id.clone(),
        event_id: event.event_id.clone(),
        attempt: 1,
        trigger: Trigger::Test,
        replay_id: None,
        at: rfc3339_millis(now),
        status: if success {
            AttemptStatus::Delivered
        } else {
            AttemptStatus::Failed
        },
        status_code: outcome.status_code,
        latency_ms: Some(outcome.latency_ms),
        error: outcome.error.clone(),
        next_attempt_at: None,
    };
    store.put_attempt(&attempt, now.unix_timestamp()).await?;
    Ok(TestResult {
        success,
        status_code: outcome.status_code,
        latency_ms: outcome.latency_ms,
        error: outcome.error,
        event_id: event.event_id,
    })
}

/// Answer of `GET .../{id}/attempts`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptsPage {
    /// Attempts, newest first.
    pub attempts: Vec<Attempt>,
    /// Pass as `cursor` for the next page; null on the last.
    pub cursor: Option<String>,
    /// Whether another page may follow.
    pub has_more: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct AttemptCursor {
    a: String,
}

/// `GET .../{id}/attempts?limit=&cursor=`.
pub async fn attempts(
    store: &Store,
    cursors: &CursorSigner,
    org_id: &OrgId,
    id: &EndpointId,
    pairs: &[(String, String)],
) -> Result<AttemptsPage, Error> {
    let mut limit = DEFAULT_ATTEMPTS_LIMIT;
    let mut cursor = None;
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in pairs {
        if seen.contains(&k.as_str()) {
            return Err(Error::invalid(k.clone(), "is given more than once"));
        }
        seen.push(k);
        match k.as_str() {
            "limit" => limit = page_limit(v, MAX_ATTEMPTS_LIMIT)?,
            "cursor" => cursor = Some(v.as_str()),
            other => {
                return Err(Error::invalid(
                    other,
                    "is not a parameter of this endpoint (limit, cursor)",
                ))
            }
        }
    }
    let endpoint = load(store, org_id, id).await?;
    let context = format!("attempts|{}", endpoint.id);
    let after: Option<AttemptCursor> = cursor
        .map(|c| cursors.decode(org_id, &context, c))
        .transpose()?;
    let (attempts, next) = store
        .list_attempts(&endpoint.id, limit, after.as_ref().map(|a| a.a.as_str()))
        .await?;
    let cursor = next.map(|a| cursors.encode(org_id, &context, &AttemptCursor { a }));
    Ok(AttemptsPage {
        has_more: cursor.is_some(),
        cursor,
        attempts,
    })
}

/// Answer of `POST .../{id}/replay`.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookReplayResult)]
pub struct ReplayResult {
    /// Id of this replay (in the attempt log of its deliveries).
    pub replay_id: String,
    /// Events read in the range.
    pub scanned: usize,
    /// Deliveries enqueued (events matching the endpoint's actions).
    pub enqueued: usize,
    /// Whether the range holds more events: send the same request with `cursor` to go on.
    pub has_more: bool,
    /// Continuation of the range.
    pub cursor: Option<String>,
}

/// `POST .../{id}/replay` with `from`/`to` (the time events were accepted, `to` exclusive):
/// re-enqueues those of the org's events that match the endpoint's actions. They are delivered
/// again even if they were delivered before, with their original `webhook-id`, so receivers
/// that deduplicate by it keep exactly one copy.
pub async fn replay(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    queue_url: Option<&str>,
    cursors: &CursorSigner,
    org_id: &OrgId,
    id: &EndpointId,
    body: Value,
) -> Result<ReplayResult, Error> {
    let range = ReplayRange::parse(parse_body(body)?)?;
    let endpoint = load(store, org_id, id).await?;
    if endpoint.status() != EndpointStatus::Active {
        return Err(Error::Conflict {
            field: "enabled".into(),
            message: format!(
                "the endpoint is {}: re-enable it (PATCH {{\"enabled\": true}}) before replaying",
                match endpoint.status() {
                    EndpointStatus::Paused => "paused",
                    _ => "disabled",
                }
            ),
        });
    }
    let target = ReplayTarget {
        queue_url,
        context: &format!("replay|{}", endpoint.id),
        noun: "deliveries",
    };
    let done = enqueue_range(
        store,
        sqs,
        cursors,
        org_id,
        &range,
        target,
        |events, replay_id| {
            events
                .iter()
                .filter(|e| endpoint.matches(&e.action))
                .map(|e| {
                    DeliveryMessage::webhook(org_id, &endpoint.id, &e.event_id, replay_id, &e.doc)
                })
                .collect()
        },
    )
    .await?;
    tracing::info!(org_id = %org_id, endpoint_id = %id, replay_id = %done.replay_id, scanned = done.scanned,
        enqueued = done.enqueued, "replay enqueued");
    Ok(ReplayResult {
        replay_id: done.replay_id,
        scanned: done.scanned,
        enqueued: done.enqueued,
        has_more: done.cursor.is_some(),
        cursor: done.cursor,
    })
}
