//! Counts and the facts of one event that feed them (pure logic).

use std::collections::BTreeMap;

use super::buckets::{is_time_key, Dim};
use crate::model::event::{parse_time, sortable_time};
use crate::model::event_view::EventView;

/// Counts of a set of events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events.
    pub total: u64,
    /// Events with `success: false`.
    pub failed: u64,
    /// Events per action.
    pub actions: BTreeMap<String, u64>,
}

impl Counts {
    /// Counts one event.
    pub fn add_event(&mut self, action: &str, failed: bool) {
        self.total += 1;
        self.failed += u64::from(failed);
        *self.actions.entry(action.to_string()).or_default() += 1;
    }

    /// Adds `other` to these counts.
    pub fn merge(&mut self, other: &Counts) {
        self.total += other.total;
        self.failed += other.failed;
        for (a, n) in &other.actions {
            *self.actions.entry(a.clone()).or_default() += n;
        }
    }
}

/// What the summary needs of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    /// Event id.
    pub event_id: String,
    /// `timestamp` as a sortable UTC time (the events table's `ts_sk` without the id).
    pub ts_key: String,
    /// Action.
    pub action: String,
    /// `actor.user_id`.
    pub identity: String,
    /// `resource.type` and `resource.id`.
    pub resource: Option<(String, String)>,
    /// `success` is `false` (an event without `success` records something that happened).
    pub failed: bool,
}

impl EventFacts {
    /// Reads the facts from an event's canonical JSON.
    pub fn from_doc(doc: &str) -> Result<Self, String> {
        let d: EventView<'_> = serde_json::from_str(doc).map_err(|e| e.to_string())?;
        let t = parse_time("timestamp", &d.timestamp).map_err(|e| e.to_string())?;
        let ts_key = sortable_time(t);
        if !is_time_key(&ts_key) {
            return Err(format!("timestamp {} is out of range", d.timestamp));
        }
        Ok(EventFacts {
            event_id: d.event_id.into_owned(),
            ts_key,
            action: d.action.into_owned(),
            identity: d.actor.user_id.into_owned(),
            resource: d
                .resource
                .map(|r| (r.resource_type.into_owned(), r.id.into_owned())),
            failed: d.success == Some(false),
        })
    }

    /// The dimensions the event counts in.
    pub fn dims(&self) -> Vec<Dim> {
        let mut dims = vec![Dim::Total, Dim::Identity(self.identity.clone())];
        if let Some((t, id)) = &self.resource {
            dims.push(Dim::Resource(t.clone(), id.clone()));
        }
        dims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_from_the_canonical_event() {
        let doc = r#"{"event_id":"evt_1","timestamp":"2026-05-22T12:30:00+02:00","action":"document.opened","actor":{"user_id":"usr_\"q\""},"resource":{"type":"document","id":"doc_1","name":"x"},"tenant_id":"t","success":false,"metadata":{"a":1},"received_at":"2026-05-22T10:31:00.000Z"}"#;
        let f = EventFacts::from_doc(doc).unwrap();
        assert_eq!(f.ts_key, "2026-05-22T10:30:00.000000000Z");
        assert_eq!(f.identity, "usr_\"q\"");
        assert_eq!(f.resource, Some(("document".into(), "doc_1".into())));
        assert!(f.failed);
        assert_eq!(f.dims().len(), 3);
        let ok = EventFacts::from_doc(
            r#"{"event_id":"e","timestamp":"2026-05-22T10:30:00Z","action":"a","actor":{"user_id":"u"}}"#,
        )
        .unwrap();
        assert!(!ok.failed, "no success field: counted as successful");
        assert_eq!(ok.dims(), vec![Dim::Total, Dim::Identity("u".into())]);
        assert!(EventFacts::from_doc("{}").is_err());
    }

    #[test]
    fn counts_merge() {
        let mut a = Counts::default();
        a.add_event("read", false);
        a.add_event("write", true);
        let mut b = Counts::default();
        b.add_event("read", true);
        a.merge(&b);
        assert_eq!(a.total, 3);
        assert_eq!(a.failed, 2);
        assert_eq!(a.actions["read"], 2);
    }
}
