//! When a webhook endpoint is paused: an event that exhausted every attempt counts towards
//! the pipeline's [`PauseRule`](crate::pipeline::pause::PauseRule); when the rule says so the
//! endpoint is paused, and the pause is recorded and announced once
//! ([`notify_pause`]). The first exhausted event of a streak is announced as a warning
//! ([`notify_failing`]). A delivery resets the streak.

use time::OffsetDateTime;

use super::deliver::WebhookDeliverer;
use crate::pipeline::pause::{notify_failing, notify_pause, streak_began};
use relay_core::model::event::rfc3339_millis;
use relay_core::model::webhook::WebhookEndpoint;

impl WebhookDeliverer {
    /// Counts an exhausted event towards the pause rule, pausing and notifying when it says so;
    /// warns when the event begins a streak. `error`: its last attempt's error.
    pub(super) async fn count_exhausted(
        &self,
        endpoint: &WebhookEndpoint,
        now: OffsetDateTime,
        error: Option<&str>,
    ) {
        let now_unix = now.unix_timestamp();
        let updated = match self
            .store
            .record_webhook_exhausted(&endpoint.org_id, &endpoint.id, now_unix)
            .await
        {
            Ok(Some(u)) => u,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "counting an exhausted event failed");
                return;
            }
        };
        if streak_began(updated.consecutive_exhausted, 1) {
            let reason = format!(
                "an event failed every delivery attempt; last error: {}",
                error.unwrap_or("unknown")
            );
            notify_failing(
                &self.store,
                &self.notifier,
                &endpoint.org_id,
                "webhook",
                &endpoint.id,
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
        let paused_at = rfc3339_millis(now);
        match self
            .store
            .pause_webhook(&endpoint.org_id, &endpoint.id, &paused_at, &reason)
            .await
        {
            Ok(true) => self.notify_paused(endpoint, &reason, now_unix).await,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "pausing the endpoint failed"),
        }
    }

    async fn notify_paused(&self, endpoint: &WebhookEndpoint, reason: &str, now_unix: i64) {
        notify_pause(
            &self.store,
            &self.notifier,
            &endpoint.org_id,
            "webhook",
            &endpoint.id,
            reason,
            &now_unix.to_string(),
        )
        .await;
    }
}
