//! When an OTLP export is paused: events lost for good (every attempt failed, or the receiver
//! rejected them) count towards the pipeline's
//! [`PauseRule`](crate::pipeline::pause::PauseRule); when it says so the export is paused, and
//! the pause is recorded and announced once
//! ([`notify_pause`]). Events lost when none were before begin a streak, announced as a
//! warning ([`notify_failing`]). An accepted request resets it.
//!
//! [`report`] reads the export's health back from its configuration item, the only record the
//! deliver path keeps of it.

use time::OffsetDateTime;

use super::deliver::OtelDeliverer;
use crate::pipeline::pause::{notify_failing, notify_pause, streak_began};
use relay_core::error::Error;
use relay_core::model::event::{parse_time, rfc3339_millis};
use relay_core::model::health::{seconds_since, DestinationHealth, Window};
use relay_core::model::ids::OrgId;
use relay_core::model::otlp::{OtelConfig, OtelStatus};
use relay_store::otlp::ExportRecord;
use relay_store::Store;

/// The health of the org's OTLP export, if it has one. The deliver path records no
/// per-request log for OTLP (only the configuration's `lastExportedAt`, `lastError`/
/// `lastErrorAt` and the streak, one write per request), and per-event markers are keyed by
/// event, not time, so:
///
/// * `hourly`: not recorded: 24 hours with `null` counts (`unit` `none`). Counting them
///   would need a write per request, which the delivery path does not make.
/// * `lastSuccessAt`: `lastExportedAt`, the last request the receiver accepted.
/// * `failureStreak`: the auto-pause counter, events lost for good in a row.
/// * `lagSeconds`: 0 when the latest recorded outcome is an accepted request; when a
///   failure is newer (`lastErrorAt` after `lastExportedAt`, a failed test included), the
///   time since the last accepted request (or since the export was created, if none was):
///   events accepted after it may be waiting. `null` when nothing was sent yet.
pub async fn report(
    store: &Store,
    org_id: &OrgId,
    now: OffsetDateTime,
) -> Result<Option<DestinationHealth>, Error> {
    let Some(config) = store.get_otel_config(org_id, true).await? else {
        return Ok(None);
    };
    Ok(Some(summarize(&config, Window::ending_at(now), now)))
}

fn summarize(config: &OtelConfig, window: Window, now: OffsetDateTime) -> DestinationHealth {
    let status = match config.status() {
        OtelStatus::Active => "active",
        OtelStatus::Paused => "paused",
        OtelStatus::Disabled => "disabled",
    };
    DestinationHealth {
        kind: super::DESTINATION.kind,
        id: config.id.clone(),
        name: config.export_url(),
        status: status.to_string(),
        last_success_at: config.last_exported_at.clone(),
        failure_streak: u64::from(config.consecutive_exhausted),
        lag_seconds: lag(config, now),
        unit: "none",
        truncated: false,
        hourly: window.unrecorded(),
    }
}

/// See [`report`].
fn lag(config: &OtelConfig, now: OffsetDateTime) -> Option<i64> {
    let time = |s: &Option<String>| s.as_deref().and_then(|t| parse_time("at", t).ok());
    let exported = time(&config.last_exported_at);
    let failed = time(&config.last_error_at);
    match (exported, failed) {
        (None, None) => None,
        (Some(e), f) if f.is_none_or(|f| f <= e) => Some(0),
        (e, _) => {
            let since = e.or_else(|| parse_time("createdAt", &config.created_at).ok())?;
            Some(seconds_since(now, since))
        }
    }
}

impl OtelDeliverer {
    /// Counts `events` lost for good towards the pause rule; pauses and notifies when it says so.
    pub(super) async fn lost(
        &self,
        config: &OtelConfig,
        events: usize,
        error: &str,
        now: OffsetDateTime,
    ) {
        let now_unix = now.unix_timestamp();
        let at = rfc3339_millis(now);
        let lost = u32::try_from(events).unwrap_or(u32::MAX);
        let Some(updated) = self
            .record(
                config,
                &ExportRecord::Lost {
                    at: &at,
                    now_unix,
                    error,
                    events: lost,
                },
            )
            .await
        else {
            return;
        };
        if streak_began(updated.consecutive_exhausted, lost) {
            let reason = format!("{events} events could not be exported; last error: {error}");
            notify_failing(
                &self.store,
                &self.notifier,
                &config.org_id,
                "otel",
                &config.id,
                &reason,
            )
            .await;
        }
        let Some(reason) = self.settings.pause.reason(
            updated.consecutive_exhausted,
            updated.failing_since,
            now_unix,
        ) else {
            return;
        };
        match self
            .store
            .pause_otel(&config.org_id, &config.id, &at, &reason)
            .await
        {
            Ok(true) => {
                notify_pause(
                    &self.store,
                    &self.notifier,
                    &config.org_id,
                    "otel",
                    &config.id,
                    &reason,
                    &now_unix.to_string(),
                )
                .await
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "pausing the OTLP export failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_core::model::otlp::OtelHeaders;
    use time::macros::datetime;

    fn config() -> OtelConfig {
        OtelConfig {
            id: "otl_1".into(),
            org_id: "org_1".into(),
            endpoint_url: "https://otlp.example.com:4318".into(),
            headers: OtelHeaders::from_stored(Default::default()),
            max_batch_size: 100,
            schema: relay_core::shapes::Schema::Canonical,
            enabled: true,
            paused_at: None,
            paused_reason: None,
            last_error: None,
            last_error_at: None,
            last_exported_at: None,
            consecutive_exhausted: 0,
            failing_since: None,
            created_at: "2026-05-22T09:00:00.000Z".into(),
            updated_at: "2026-05-22T09:00:00.000Z".into(),
        }
    }

    #[test]
    fn lag_follows_the_newest_recorded_outcome_and_hours_are_unrecorded() {
        let now = datetime!(2026-05-22 10:30 UTC);
        let mut c = config();
        assert_eq!(lag(&c, now), None);
        c.last_error_at = Some("2026-05-22T10:00:00.000Z".into());
        assert_eq!(lag(&c, now), Some(90 * 60), "since creation");
        c.last_exported_at = Some("2026-05-22T10:10:00.000Z".into());
        assert_eq!(lag(&c, now), Some(0));
        c.last_error_at = Some("2026-05-22T10:20:00.000Z".into());
        assert_eq!(lag(&c, now), Some(20 * 60));
        let h = summarize(&c, Window::ending_at(now), now);
        assert_eq!(h.name, "https://otlp.example.com:4318/v1/logs");
        assert_eq!(h.unit, "none");
        assert!(h
            .hourly
            .iter()
            .all(|x| x.delivered.is_none() && x.failed.is_none()));
    }
}
