//! Events the service itself writes into an org's trail (the documented `security.*` actions),
//! through the same validation and conditional put as ingested events.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use relay_core::error::Error;
use relay_core::model::event::{validate, IngestContext};
use relay_core::model::{Actor, ActorType, AuditEvent, Org, Resource};
use relay_store::Store;

/// The actor of events the service writes.
pub const SYSTEM_ACTOR: &str = "auditrelay";

/// A service-generated event.
#[derive(Debug, Clone)]
pub struct SystemEvent<'a> {
    /// Deterministic id, so that a retried write is stored once.
    pub event_id: String,
    /// Action, e.g. `security.audit_export_paused`.
    pub action: &'a str,
    /// `(type, id, name)` of the resource concerned.
    pub resource: (&'a str, &'a str, Option<&'a str>),
    /// Whether it reports a success.
    pub success: bool,
    /// Details.
    pub metadata: Map<String, Value>,
}

impl SystemEvent<'_> {
    /// The event, with the service as its actor. `at` becomes `timestamp` and `received_at`,
    /// and `tenant_id` the tenant; left empty, validation fills them (now, the org's tenant).
    pub fn into_event(self, tenant_id: &str, at: &str) -> AuditEvent {
        let (rtype, rid, rname) = self.resource;
        AuditEvent {
            event_id: self.event_id,
            timestamp: at.to_string(),
            action: self.action.to_string(),
            actor: Actor {
                user_id: SYSTEM_ACTOR.into(),
                email: None,
                ip_address: None,
                actor_type: Some(ActorType::System),
                user_agent: None,
            },
            resource: Some(Resource {
                resource_type: rtype.into(),
                id: rid.into(),
                name: rname.map(str::to_string),
            }),
            tenant_id: tenant_id.to_string(),
            project: None,
            success: Some(self.success),
            request_id: None,
            duration_ms: None,
            metadata: Some(self.metadata),
            received_at: at.to_string(),
        }
    }
}

/// Writes `ev` into `org`'s trail (a re-write of the same id is a no-op).
pub async fn record(store: &Store, org: &Org, ev: SystemEvent<'_>) -> Result<(), Error> {
    let now = OffsetDateTime::now_utc();
    let action = ev.action;
    let event = ev.into_event("", "");
    let ctx = IngestContext {
        tenant_id: &org.tenant_id,
        now,
    };
    let valid = validate(event, &ctx, "")?;
    let expires_at = now.unix_timestamp() + i64::from(org.retention_days) * 86_400;
    store
        .record_actions(
            &org.org_id,
            [action],
            &relay_core::model::event::rfc3339_millis(now),
        )
        .await?;
    store.put_event(&org.org_id, &valid, expires_at).await?;
    Ok(())
}
