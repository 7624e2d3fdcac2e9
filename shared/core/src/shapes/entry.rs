//! The entry shape: one log entry of the audit-logs API (`GET /v1/audit/logs`), with exactly
//! its field names. Every field is present, `null` when the event has no value, and
//! `extra_data` is `{}` without metadata, as in the API's example.

use serde_json::{json, Value};

use crate::model::event::AuditEvent;

/// The event as the audit-logs API's log entry: `id` (the event id), `timestamp` (as sent),
/// `action`, `identity_type` and `identity_id` (the actor's type and id), `secret_path` (the
/// resource's id), `source_ip`, `user_agent`, `success`, `duration_ms`, `request_id` and
/// `extra_data` (the metadata).
pub fn entry(event: &AuditEvent) -> Value {
    let actor = &event.actor;
    json!({
        "id": event.event_id,
        "timestamp": event.timestamp,
        "action": event.action,
        "identity_type": actor.actor_type.map(|t| t.as_str()),
        "identity_id": actor.user_id,
        "secret_path": event.resource.as_ref().map(|r| r.id.as_str()),
        "source_ip": actor.ip_address,
        "user_agent": actor.user_agent,
        "success": event.success,
        "duration_ms": event.duration_ms,
        "request_id": event.request_id,
        "extra_data": Value::Object(event.metadata.clone().unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::parse_event;
    use crate::shapes::test_support::example;

    /// The log entry of the audit-logs API's example response, verbatim except `timestamp`,
    /// which the page elides (`"2026-04-23T..."`).
    const PAGE_EXAMPLE: &str = r#"{
      "id": "log_abc",
      "timestamp": "2026-04-23T20:00:00Z",
      "action": "read",
      "identity_type": "service_account",
      "identity_id": "sa:reporting",
      "secret_path": "integrations/salesforce/oauth",
      "source_ip": "10.0.1.50",
      "user_agent": "scaivault-python/1.0",
      "success": true,
      "duration_ms": 12,
      "request_id": "req_xyz",
      "extra_data": {}
    }"#;

    #[test]
    fn reproduces_the_apis_example_entry_field_for_field() {
        let canonical = json!({
            "event_id": "log_abc",
            "timestamp": "2026-04-23T20:00:00Z",
            "action": "read",
            "actor": {
                "user_id": "sa:reporting",
                "type": "service_account",
                "ip_address": "10.0.1.50",
                "user_agent": "scaivault-python/1.0"
            },
            "resource": {"type": "secret", "id": "integrations/salesforce/oauth"},
            "tenant_id": "ten_1",
            "success": true,
            "duration_ms": 12,
            "request_id": "req_xyz"
        });
        let ev = parse_event(canonical, "").unwrap();
        let expected: Value = serde_json::from_str(PAGE_EXAMPLE).unwrap();
        let got = entry(&ev);
        let (got, expected) = (got.as_object().unwrap(), expected.as_object().unwrap());
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
        for (k, v) in expected {
            assert_eq!(&got[k], v, "{k}");
        }
    }

    #[test]
    fn absent_fields_are_null_and_metadata_is_extra_data() {
        let mut ev = example();
        ev.metadata = json!({"k": [1, 2]}).as_object().cloned();
        let e = entry(&ev);
        assert_eq!(e["id"], "evt_01HXYZABCDEF");
        assert_eq!(e["identity_id"], "usr_01ABCDEFG");
        assert_eq!(e["identity_type"], Value::Null);
        assert_eq!(e["secret_path"], "doc_01ABCDEF");
        assert_eq!(e["source_ip"], "203.0.113.42");
        for k in ["user_agent", "success", "duration_ms", "request_id"] {
            assert_eq!(e[k], Value::Null, "{k}");
        }
        assert_eq!(e["extra_data"], json!({"k": [1, 2]}));
        ev.resource = None;
        assert_eq!(entry(&ev)["secret_path"], Value::Null);
    }

    #[test]
    fn a_group_identity_is_accepted_and_named() {
        let ev = parse_event(
            json!({"action": "read", "actor": {"user_id": "grp_ops", "type": "group"}}),
            "",
        )
        .unwrap();
        assert_eq!(entry(&ev)["identity_type"], "group");
    }
}
