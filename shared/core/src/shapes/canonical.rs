//! The canonical shape: the event JSON exactly as the API, webhooks and JSONL files carry it
//! (the [`AuditEvent`] serialisation). Nothing is renamed or added, so a reader of one
//! destination can read any other.

use serde_json::Value;

use crate::error::Error;
use crate::model::event::AuditEvent;

/// The event's canonical JSON as a value.
pub fn value(event: &AuditEvent) -> Result<Value, Error> {
    serde_json::to_value(event).map_err(|e| Error::Internal(e.to_string()))
}

/// The event's canonical JSON text (one JSONL line, without the newline).
pub fn json(event: &AuditEvent) -> Result<String, Error> {
    serde_json::to_string(event).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::DOCUMENTED_EXAMPLE;
    use crate::shapes::test_support::example;

    #[test]
    fn canonical_is_the_events_own_serialisation() {
        let ev = example();
        let mut v = value(&ev).unwrap();
        assert_eq!(v["received_at"], "2026-05-22T10:30:01.250Z");
        v.as_object_mut().unwrap().remove("received_at");
        let documented: Value = serde_json::from_str(DOCUMENTED_EXAMPLE).unwrap();
        assert_eq!(v, documented);
        assert_eq!(json(&ev).unwrap(), serde_json::to_string(&ev).unwrap());
    }
}
