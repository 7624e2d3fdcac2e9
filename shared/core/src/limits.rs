//! Rate limits: which class a request belongs to, the budgets of each class per key and per
//! org, an org's overrides, and the fixed windows the counters live in. Pure rules; the shared
//! counters are DynamoDB items (`relay_store::limits`).
//!
//! A budget is a number of requests per window (default a minute), counted once per request
//! whatever its body holds. Replays have their own budget: messages enqueued per org per hour.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Length of the window the replay budget counts in.
pub const REPLAY_WINDOW_SECS: u64 = 3600;

/// What a request costs against: each class has its own budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// `POST /v1/audit/events` (one request counts once, whatever its number of events).
    Ingest,
    /// Everything else an authenticated key does: queries, whoami, configuration reads and
    /// changes.
    Read,
    /// Requests that make the service send traffic out or start work: webhook, OTLP and bucket
    /// tests, replays, export jobs, bucket verification.
    Outbound,
}

impl LimitClass {
    /// The class's name in counters, errors and settings.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitClass::Ingest => "ingest",
            LimitClass::Read => "read",
            LimitClass::Outbound => "outbound",
        }
    }

    /// The class of a request, from its method and its matched route template (such as
    /// `/orgs/{org_id}/audit-export/webhooks/{id}/test`).
    pub fn of(method: &str, route: &str) -> LimitClass {
        if !method.eq_ignore_ascii_case("POST") {
            return LimitClass::Read;
        }
        if route == "/v1/audit/events" {
            return LimitClass::Ingest;
        }
        const OUTBOUND_TAILS: [&str; 4] = ["/test", "/test-connection", "/replay", "/verify"];
        if route == "/v1/audit/export" || OUTBOUND_TAILS.iter().any(|t| route.ends_with(t)) {
            return LimitClass::Outbound;
        }
        LimitClass::Read
    }
}

/// Requests per window for one key and for a whole org.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests one key may make per window.
    pub per_key: u64,
    /// Requests all of an org's keys together may make per window.
    pub per_org: u64,
}

/// Every limit in force for one org.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Length of a request window.
    pub window: Duration,
    /// `POST /v1/audit/events`.
    pub ingest: Budget,
    /// Reads and configuration.
    pub read: Budget,
    /// Tests, replays, export jobs.
    pub outbound: Budget,
    /// Messages an org's replays may enqueue per hour.
    pub replay_messages_per_hour: u64,
}

impl Default for RateLimits {
    /// Generous defaults: far above what a console user, a backend sending events in
    /// batches, or a test suite does, low enough to stop a runaway loop.
    fn default() -> Self {
        RateLimits {
            window: Duration::from_secs(60),
            ingest: Budget {
                per_key: 6_000,
                per_org: 12_000,
            },
            read: Budget {
                per_key: 6_000,
                per_org: 12_000,
            },
            outbound: Budget {
                per_key: 300,
                per_org: 600,
            },
            replay_messages_per_hour: 100_000,
        }
    }
}

impl RateLimits {
    /// The budget of `class`.
    pub fn budget(&self, class: LimitClass) -> Budget {
        match class {
            LimitClass::Ingest => self.ingest,
            LimitClass::Read => self.read,
            LimitClass::Outbound => self.outbound,
        }
    }

    /// These limits with an org's overrides applied.
    pub fn with(&self, o: &LimitOverrides) -> RateLimits {
        let pick = |b: Budget, key: Option<u64>, org: Option<u64>| Budget {
            per_key: key.unwrap_or(b.per_key),
            per_org: org.unwrap_or(b.per_org),
        };
        RateLimits {
            window: self.window,
            ingest: pick(self.ingest, o.ingest_per_key, o.ingest_per_org),
            read: pick(self.read, o.read_per_key, o.read_per_org),
            outbound: pick(self.outbound, o.outbound_per_key, o.outbound_per_org),
            replay_messages_per_hour: o
                .replay_messages_per_hour
                .unwrap_or(self.replay_messages_per_hour),
        }
    }
}

/// An org's limits as the operator set them; an absent field keeps the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Ingest requests per key per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_per_key: Option<u64>,
    /// Ingest requests per org per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_per_org: Option<u64>,
    /// Read requests per key per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_per_key: Option<u64>,
    /// Read requests per org per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_per_org: Option<u64>,
    /// Outbound requests per key per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_per_key: Option<u64>,
    /// Outbound requests per org per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_per_org: Option<u64>,
    /// Messages the org's replays may enqueue per hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_messages_per_hour: Option<u64>,
}

impl LimitOverrides {
    /// The fields by name, in a fixed order (storage and display).
    pub fn fields(&self) -> [(&'static str, Option<u64>); 7] {
        [
            ("ingest_per_key", self.ingest_per_key),
            ("ingest_per_org", self.ingest_per_org),
            ("read_per_key", self.read_per_key),
            ("read_per_org", self.read_per_org),
            ("outbound_per_key", self.outbound_per_key),
            ("outbound_per_org", self.outbound_per_org),
            ("replay_messages_per_hour", self.replay_messages_per_hour),
        ]
    }

    /// Sets the field called `name`; `false` when there is none.
    pub fn set(&mut self, name: &str, value: Option<u64>) -> bool {
        let slot = match name {
            "ingest_per_key" => &mut self.ingest_per_key,
            "ingest_per_org" => &mut self.ingest_per_org,
            "read_per_key" => &mut self.read_per_key,
            "read_per_org" => &mut self.read_per_org,
            "outbound_per_key" => &mut self.outbound_per_key,
            "outbound_per_org" => &mut self.outbound_per_org,
            "replay_messages_per_hour" => &mut self.replay_messages_per_hour,
            _ => return false,
        };
        *slot = value;
        true
    }

    /// Every set value must be a positive whole number (a zero budget would lock the org out;
    /// revoking its keys is the way to do that).
    pub fn validate(&self) -> Result<(), Error> {
        for (name, value) in self.fields() {
            if value == Some(0) {
                return Err(Error::invalid(name, "must be a positive whole number"));
            }
        }
        Ok(())
    }
}

/// One fixed window of `len` seconds: the one holding `now` (epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First second of the window (epoch seconds, a multiple of its length).
    pub start: u64,
    /// First second after it.
    pub end: u64,
}

impl Window {
    /// The window of `len` seconds (at least one) holding `now`.
    pub fn holding(now: u64, len: u64) -> Window {
        let len = len.max(1);
        let start = now - now % len;
        Window {
            start,
            end: start + len,
        }
    }

    /// Whole seconds from `now` until the window is over, at least one (the `Retry-After`).
    pub fn retry_after(&self, now: u64) -> u64 {
        self.end.saturating_sub(now).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classed_by_method_and_route() {
        use LimitClass::*;
        let cases = [
            ("POST", "/v1/audit/events", Ingest),
            ("GET", "/v1/audit/logs", Read),
            ("GET", "/v1/whoami", Read),
            ("GET", "/orgs/{org_id}/audit-export/webhooks", Read),
            ("POST", "/orgs/{org_id}/audit-export/webhooks", Read),
            (
                "POST",
                "/orgs/{org_id}/audit-export/webhooks/{id}/test",
                Outbound,
            ),
            (
                "POST",
                "/orgs/{org_id}/audit-export/webhooks/{id}/replay",
                Outbound,
            ),
            ("POST", "/orgs/{org_id}/audit-export/otel/test", Outbound),
            ("POST", "/orgs/{org_id}/audit-export/otel/replay", Outbound),
            (
                "POST",
                "/orgs/{org_id}/audit-export/test-connection",
                Outbound,
            ),
            ("POST", "/orgs/{org_id}/audit-export/verify", Outbound),
            ("POST", "/v1/audit/export", Outbound),
            ("GET", "/v1/audit/exports", Read),
        ];
        for (method, route, class) in cases {
            assert_eq!(LimitClass::of(method, route), class, "{method} {route}");
        }
    }

    #[test]
    fn windows_are_aligned_and_retry_after_is_whole_seconds() {
        let w = Window::holding(125, 60);
        assert_eq!(
            w,
            Window {
                start: 120,
                end: 180
            }
        );
        assert_eq!(w.retry_after(125), 55);
        assert_eq!(w.retry_after(180), 1);
        assert_eq!(Window::holding(7, 0), Window { start: 7, end: 8 });
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let d = RateLimits::default();
        let o = LimitOverrides {
            read_per_key: Some(5),
            replay_messages_per_hour: Some(10),
            ..Default::default()
        };
        let l = d.with(&o);
        assert_eq!(l.read.per_key, 5);
        assert_eq!(l.read.per_org, d.read.per_org);
        assert_eq!(l.ingest, d.ingest);
        assert_eq!(l.replay_messages_per_hour, 10);
        assert!(d.outbound.per_key < d.read.per_key);
        let zero = LimitOverrides {
            outbound_per_org: Some(0),
            ..Default::default()
        };
        match zero.validate() {
            Err(Error::Invalid { field, .. }) => assert_eq!(field, "outbound_per_org"),
            other => panic!("{other:?}"),
        }
        let mut o = LimitOverrides::default();
        assert!(o.set("ingest_per_org", Some(3)));
        assert!(!o.set("nope", Some(3)));
        assert_eq!(o.ingest_per_org, Some(3));
    }
}
