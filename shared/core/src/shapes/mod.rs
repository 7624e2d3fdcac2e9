//! The shapes an event can be exported in, each a pure mapping from the canonical
//! [`AuditEvent`](crate::model::event::AuditEvent): [`canonical`] (the wire JSON as is),
//! [`columnar`] (the Event Data Schema's upper-case columns, for CSV and Parquet), [`entry`] (the
//! audit-logs API's log entry) and [`ocsf`] (an OCSF record). No I/O: a writer or a destination
//! calls these and encodes the result.

use time::OffsetDateTime;

use crate::model::event::{parse_time, AuditEvent};

pub mod canonical;
pub mod columnar;
pub mod entry;
pub mod ocsf;

/// Which shape an export carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schema {
    /// The canonical event JSON, as the API serves it.
    Canonical,
    /// The Event Data Schema's columns (CSV, Parquet).
    Columnar,
    /// The audit-logs API's log entry.
    Entry,
    /// An OCSF record.
    Ocsf,
}

impl Schema {
    /// Every shape, in documentation order.
    pub const ALL: [Schema; 4] = [
        Schema::Canonical,
        Schema::Columnar,
        Schema::Entry,
        Schema::Ocsf,
    ];

    /// The wire name (`canonical`, `columnar`, `entry`, `ocsf`).
    pub fn as_str(self) -> &'static str {
        match self {
            Schema::Canonical => "canonical",
            Schema::Columnar => "columnar",
            Schema::Entry => "entry",
            Schema::Ocsf => "ocsf",
        }
    }

    /// Parses a wire name; `None` for anything else (names are case-sensitive, like every
    /// other enum on the wire).
    pub fn parse(s: &str) -> Option<Self> {
        Schema::ALL.into_iter().find(|schema| schema.as_str() == s)
    }
}

/// What the mappings need beyond the event itself: who exports it and as which product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeContext {
    /// The org's tenant id; stands in when an event carries none (stored events always do).
    pub tenant_id: String,
    /// The product that writes the records (OCSF `metadata.product.name`).
    pub product_name: String,
    /// Its vendor (OCSF `metadata.product.vendor_name`, which OCSF requires).
    pub vendor_name: String,
    /// Its version (OCSF `metadata.product.version`).
    pub product_version: String,
    /// The org's OCSF class choices per action pattern, first match wins (empty: the
    /// built-in rules alone).
    pub class_overrides: Vec<ocsf::ClassOverride>,
}

impl ShapeContext {
    /// The context for `tenant_id` as written by this build of AuditRelay.
    pub fn new(tenant_id: impl Into<String>) -> Self {
        ShapeContext {
            tenant_id: tenant_id.into(),
            product_name: "AuditRelay".into(),
            vendor_name: "AuditRelay".into(),
            product_version: env!("CARGO_PKG_VERSION").into(),
            class_overrides: Vec::new(),
        }
    }

    /// The same context with the org's OCSF class overrides.
    pub fn with_class_overrides(mut self, overrides: Vec<ocsf::ClassOverride>) -> Self {
        self.class_overrides = overrides;
        self
    }

    /// The event's tenant id, or the context's when the event has none.
    pub(crate) fn tenant_of<'a>(&'a self, event: &'a AuditEvent) -> &'a str {
        if event.tenant_id.is_empty() {
            &self.tenant_id
        } else {
            &event.tenant_id
        }
    }
}

/// The event's `timestamp` as a time; `None` when it does not parse (a stored event's always
/// does: ingest validated it).
pub(crate) fn event_time(event: &AuditEvent) -> Option<OffsetDateTime> {
    parse_time("timestamp", &event.timestamp).ok()
}

/// When the event was accepted: the caller's `received_at` if given, else the event's own
/// (stored events carry it), parsed; `None` when neither is a time.
pub(crate) fn received_time(
    event: &AuditEvent,
    received_at: Option<&str>,
) -> Option<OffsetDateTime> {
    let text = match received_at {
        Some(s) => s,
        None if !event.received_at.is_empty() => &event.received_at,
        None => return None,
    };
    parse_time("received_at", text).ok()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::model::event::DOCUMENTED_EXAMPLE;

    /// The documented example event, with the server's `received_at`.
    pub fn example() -> AuditEvent {
        let mut ev: AuditEvent = serde_json::from_str(DOCUMENTED_EXAMPLE).unwrap();
        ev.received_at = "2026-05-22T10:30:01.250Z".into();
        ev
    }

    /// The context the tests export with.
    pub fn ctx() -> ShapeContext {
        ShapeContext {
            tenant_id: "ten_01ABCDEFG".into(),
            product_name: "AuditRelay".into(),
            vendor_name: "AuditRelay".into(),
            product_version: "1.2.3".into(),
            class_overrides: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_round_trip() {
        for s in Schema::ALL {
            assert_eq!(Schema::parse(s.as_str()), Some(s));
        }
        assert_eq!(Schema::parse("OCSF"), None);
        assert_eq!(Schema::parse(""), None);
    }

    #[test]
    fn received_at_argument_wins_over_the_events_own() {
        let ev = test_support::example();
        let own = received_time(&ev, None).unwrap();
        let given = received_time(&ev, Some("2026-05-22T11:00:00Z")).unwrap();
        assert_eq!(own.unix_timestamp(), 1_779_445_801);
        assert_eq!(given.unix_timestamp(), 1_779_447_600);
    }
}
