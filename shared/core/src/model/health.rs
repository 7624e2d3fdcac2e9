//! The destinations' health report (`GET /orgs/{orgId}/audit-export/health`): per destination
//! its state, last success, current failure streak, lag, and 24 hourly counts of deliveries
//! and failures. Every number is derived from what the delivery paths already store; the
//! report adds no write to them.

use serde::Serialize;
use time::{Duration, OffsetDateTime, Time};

use crate::model::event::rfc3339_millis;

/// How many hours the report's series covers (the current, partial hour last).
pub const HOURS: usize = 24;

/// The whole report.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
pub struct HealthReport {
    /// Webhook endpoints (oldest first), then the OTLP export, then the continuous export.
    pub destinations: Vec<DestinationHealth>,
}

/// One destination's health.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DestinationHealth {
    /// `webhook`, `otel` or `s3` (the names of notifications and trail events).
    #[schema(pattern = "^(webhook|otel|s3)$")]
    pub kind: &'static str,
    /// The destination's id (`whk_…`, `otl_…`, `s3x_…`).
    pub id: String,
    /// What a person recognises it by: the URL, the export URL, or the bucket location.
    pub name: String,
    /// Its configuration's status (`active`, `paused`, `disabled`, and for the continuous
    /// export `pendingVerification`).
    #[schema(pattern = "^(active|paused|disabled|pendingVerification)$")]
    pub status: String,
    /// When it last worked (see each kind's `report` for what counts).
    pub last_success_at: Option<String>,
    /// The current failure streak, the auto-pause rule's counter: events lost for good in a
    /// row (webhook, OTLP) or failed runs in a row (continuous export).
    pub failure_streak: u64,
    /// How far behind it is, in seconds; `null` when nothing tells (see each kind's
    /// `report`).
    pub lag_seconds: Option<i64>,
    /// What `hourly` counts: `attempts` (webhook requests), `runs` (continuous export), or
    /// `none` when the destination keeps no per-request record (OTLP).
    #[schema(pattern = "^(attempts|runs|none)$")]
    pub unit: &'static str,
    /// Whether more was recorded in the window than the report read (then the oldest hours
    /// undercount).
    pub truncated: bool,
    /// The last [`HOURS`] hours, oldest first.
    pub hourly: Vec<HourCount>,
}

/// One hour of a destination's series.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
pub struct HourCount {
    /// Start of the hour (RFC 3339, UTC).
    pub hour: String,
    /// Deliveries that worked in the hour; `null` when not recorded.
    pub delivered: Option<u64>,
    /// Deliveries that failed in the hour; `null` when not recorded.
    pub failed: Option<u64>,
}

/// The report's window: [`HOURS`] whole hours, the last being the one `now` is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: OffsetDateTime,
}

impl Window {
    /// The window that ends with the hour of `now`.
    pub fn ending_at(now: OffsetDateTime) -> Self {
        let hour = now.replace_time(Time::from_hms(now.hour(), 0, 0).unwrap_or(Time::MIDNIGHT));
        Window {
            start: hour - Duration::hours(HOURS as i64 - 1),
        }
    }

    /// Its first instant.
    pub fn start(&self) -> OffsetDateTime {
        self.start
    }

    /// The hour (0 = oldest) that `t` falls in, if inside the window.
    pub fn index(&self, t: OffsetDateTime) -> Option<usize> {
        let secs = (t - self.start).whole_seconds();
        if secs < 0 {
            return None;
        }
        usize::try_from(secs / 3600).ok().filter(|i| *i < HOURS)
    }

    /// Empty counts over this window.
    pub fn counts(&self) -> HourlyCounts {
        HourlyCounts {
            window: *self,
            delivered: [0; HOURS],
            failed: [0; HOURS],
        }
    }

    /// A series that says nothing was recorded (`null` counts).
    pub fn unrecorded(&self) -> Vec<HourCount> {
        (0..HOURS)
            .map(|i| HourCount {
                hour: self.hour_start(i),
                delivered: None,
                failed: None,
            })
            .collect()
    }

    fn hour_start(&self, i: usize) -> String {
        rfc3339_millis(self.start + Duration::hours(i as i64))
    }
}

/// Hourly counts being added up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlyCounts {
    window: Window,
    delivered: [u64; HOURS],
    failed: [u64; HOURS],
}

impl HourlyCounts {
    /// Counts a delivery at `t` (ignored outside the window).
    pub fn delivered(&mut self, t: OffsetDateTime) {
        if let Some(i) = self.window.index(t) {
            self.delivered[i] += 1;
        }
    }

    /// Counts a failure at `t` (ignored outside the window).
    pub fn failed(&mut self, t: OffsetDateTime) {
        if let Some(i) = self.window.index(t) {
            self.failed[i] += 1;
        }
    }

    /// The series, oldest hour first.
    pub fn series(&self) -> Vec<HourCount> {
        (0..HOURS)
            .map(|i| HourCount {
                hour: self.window.hour_start(i),
                delivered: Some(self.delivered[i]),
                failed: Some(self.failed[i]),
            })
            .collect()
    }
}

/// Whole seconds from `since` to `now`, never negative (clocks of different writers differ).
pub fn seconds_since(now: OffsetDateTime, since: OffsetDateTime) -> i64 {
    (now - since).whole_seconds().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_window_ends_with_the_current_hour() {
        let now = datetime!(2026-05-22 10:30:15 UTC);
        let w = Window::ending_at(now);
        assert_eq!(w.start(), datetime!(2026-05-21 11:00 UTC));
        assert_eq!(w.index(now), Some(HOURS - 1));
        assert_eq!(w.index(datetime!(2026-05-21 11:00 UTC)), Some(0));
        assert_eq!(w.index(datetime!(2026-05-21 10:59:59 UTC)), None);
        assert_eq!(w.index(datetime!(2026-05-22 11:00 UTC)), None);
    }

    #[test]
    fn counts_land_in_their_hour_oldest_first() {
        let w = Window::ending_at(datetime!(2026-05-22 10:30 UTC));
        let mut c = w.counts();
        c.delivered(datetime!(2026-05-22 10:01 UTC));
        c.failed(datetime!(2026-05-22 10:02 UTC));
        c.failed(datetime!(2026-05-21 11:59 UTC));
        c.delivered(datetime!(2026-05-20 00:00 UTC));
        let s = c.series();
        assert_eq!(s.len(), HOURS);
        assert_eq!(s[0].hour, "2026-05-21T11:00:00.000Z");
        assert_eq!((s[0].delivered, s[0].failed), (Some(0), Some(1)));
        assert_eq!(s[23].hour, "2026-05-22T10:00:00.000Z");
        assert_eq!((s[23].delivered, s[23].failed), (Some(1), Some(1)));
        let total: u64 = s.iter().filter_map(|h| h.delivered).sum();
        assert_eq!(total, 1, "a delivery before the window is not counted");
        assert!(w.unrecorded().iter().all(|h| h.delivered.is_none()));
    }

    #[test]
    fn id_floors_sort_before_ids_made_later_and_after_earlier_ones() {
        use crate::model::ids::{id_floor, new_id};
        let before = new_id("att");
        std::thread::sleep(std::time::Duration::from_millis(3));
        let floor = id_floor("att", OffsetDateTime::now_utc());
        let after = new_id("att");
        assert!(before < floor, "{before} {floor}");
        assert!(floor <= after, "{floor} {after}");
    }

    #[test]
    fn lag_is_never_negative() {
        let now = datetime!(2026-05-22 10:30 UTC);
        assert_eq!(seconds_since(now, datetime!(2026-05-22 10:29 UTC)), 60);
        assert_eq!(seconds_since(now, datetime!(2026-05-22 10:31 UTC)), 0);
    }
}
