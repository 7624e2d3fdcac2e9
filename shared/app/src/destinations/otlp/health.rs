//! When an OTLP export is paused: events lost for good (every attempt failed, or the receiver
//! rejected them) count towards the pipeline's
//! [`PauseRule`](crate::pipeline::pause::PauseRule); when it says so the export is paused, and
//! the pause is recorded and announced once
//! ([`notify_pause`]). Events lost when none were before begin a streak, announced as a
//! warning ([`notify_failing`]). An accepted request resets it.

use time::OffsetDateTime;

use super::deliver::OtelDeliverer;
use crate::pipeline::pause::{notify_failing, notify_pause, streak_began};
use relay_core::model::event::rfc3339_millis;
use relay_core::model::otlp::OtelConfig;
use relay_store::otlp::ExportRecord;

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
