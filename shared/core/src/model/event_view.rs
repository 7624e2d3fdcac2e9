//! A borrowed view of a stored event's canonical JSON, for the paths that read events in bulk
//! (OTLP records, CSV rows, trail counts): it borrows strings from the document instead of
//! building an [`AuditEvent`](super::AuditEvent), and leaves `metadata` as raw JSON.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of a canonical event. `tenant_id` and `received_at` are always set on stored
/// events; they are optional here so a reader decides what their absence means.
#[derive(Debug, Deserialize)]
pub struct EventView<'a> {
    /// `event_id`.
    #[serde(borrow)]
    pub event_id: Cow<'a, str>,
    /// `timestamp`, RFC 3339.
    #[serde(borrow)]
    pub timestamp: Cow<'a, str>,
    /// `action`.
    #[serde(borrow)]
    pub action: Cow<'a, str>,
    /// `actor`.
    #[serde(borrow)]
    pub actor: ActorView<'a>,
    /// `resource`.
    #[serde(borrow, default)]
    pub resource: Option<ResourceView<'a>>,
    /// `tenant_id`.
    #[serde(borrow, default)]
    pub tenant_id: Option<Cow<'a, str>>,
    /// `project`.
    #[serde(borrow, default)]
    pub project: Option<Cow<'a, str>>,
    /// `success`.
    #[serde(default)]
    pub success: Option<bool>,
    /// `request_id`.
    #[serde(borrow, default)]
    pub request_id: Option<Cow<'a, str>>,
    /// `duration_ms`.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// `metadata`, as its JSON text.
    #[serde(borrow, default)]
    pub metadata: Option<&'a RawValue>,
    /// `received_at`, RFC 3339.
    #[serde(borrow, default)]
    pub received_at: Option<Cow<'a, str>>,
}

/// The event's `actor`.
#[derive(Debug, Deserialize)]
pub struct ActorView<'a> {
    /// `actor.user_id`.
    #[serde(borrow)]
    pub user_id: Cow<'a, str>,
    /// `actor.email`.
    #[serde(borrow, default)]
    pub email: Option<Cow<'a, str>>,
    /// `actor.ip_address`.
    #[serde(borrow, default)]
    pub ip_address: Option<Cow<'a, str>>,
    /// `actor.type`.
    #[serde(borrow, default, rename = "type")]
    pub actor_type: Option<Cow<'a, str>>,
    /// `actor.user_agent`.
    #[serde(borrow, default)]
    pub user_agent: Option<Cow<'a, str>>,
}

/// The event's `resource`.
#[derive(Debug, Deserialize)]
pub struct ResourceView<'a> {
    /// `resource.type`.
    #[serde(borrow, rename = "type")]
    pub resource_type: Cow<'a, str>,
    /// `resource.id`.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// `resource.name`.
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_strings_and_keeps_metadata_raw() {
        let doc = r#"{"event_id":"e1","timestamp":"2026-05-22T10:30:00Z","action":"a.b","actor":{"user_id":"u1","type":"user"},"resource":{"type":"doc","id":"d1"},"tenant_id":"t","duration_ms":7,"metadata":{"k":[1,2]},"received_at":"2026-05-22T10:30:01Z"}"#;
        let v: EventView<'_> = serde_json::from_str(doc).unwrap();
        assert!(matches!(v.event_id, Cow::Borrowed("e1")));
        assert_eq!(v.actor.actor_type.as_deref(), Some("user"));
        assert_eq!(v.resource.as_ref().map(|r| &*r.id), Some("d1"));
        assert_eq!(v.metadata.map(RawValue::get), Some(r#"{"k":[1,2]}"#));
        assert_eq!(v.duration_ms, Some(7));
        assert!(v.project.is_none() && v.success.is_none());
    }

    #[test]
    fn requires_the_identity_fields() {
        let err = serde_json::from_str::<EventView<'_>>(
            r#"{"event_id":"e1","timestamp":"t","action":"a","actor":{}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("user_id"), "{err}");
    }
}
