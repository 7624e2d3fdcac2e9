//! When a webhook endpoint is paused: an event that exhausted every attempt counts towards
//! the pipeline's [`PauseRule`](crate::pipeline::pause::PauseRule); when the rule says so the
//! endpoint is paused, and the pause is recorded and announced once
//! ([`notify_pause`]). The first exhausted event of a streak is announced as a warning
//! ([`notify_failing`]). A delivery resets the streak.
//!
//! [`report`] reads the endpoints' health back from what delivery already stores: the
//! endpoint item (its streak) and the attempt log.

use time::OffsetDateTime;

use super::deliver::WebhookDeliverer;
use crate::pipeline::pause::{notify_failing, notify_pause, streak_began};
use relay_core::error::Error;
use relay_core::model::event::{parse_time, rfc3339_millis};
use relay_core::model::health::{seconds_since, DestinationHealth, Window};
use relay_core::model::ids::{id_floor, OrgId};
use relay_core::model::webhook::{AttemptStatus, EndpointStatus, Trigger, WebhookEndpoint};
use relay_store::webhooks::AttemptOutcome;
use relay_store::Store;

/// Most attempts of one endpoint the report reads for its 24 hours (about 1 MB per 3,000).
pub const REPORT_MAX_ATTEMPTS: usize = 20_000;
/// Most older attempts read back to find the last delivery when the window has none.
const LOOK_BACK_ATTEMPTS: usize = 2_000;

/// The health of each of the org's endpoints (oldest first), from the attempt log:
///
/// * `hourly`: attempts per hour (`unit` `attempts`): `delivered` = 2xx answers; `failed` =
///   failed, exhausted, and 410 Gone attempts. Tests (`POST …/test`) and messages skipped
///   while the endpoint was paused or disabled are not deliveries of the trail and are left
///   out.
/// * `lastSuccessAt`: the newest delivered attempt of an event or a replay (in the window,
///   else up to [`LOOK_BACK_ATTEMPTS`] attempts further back; the log keeps 30 days).
/// * `failureStreak`: the auto-pause counter, events that exhausted every attempt in a row.
/// * `lagSeconds`: 0 when the newest attempt delivered; while the newest attempts fail, the
///   time since the last success (else since the oldest of those failures in the window):
///   every event accepted before that was delivered, later ones may still be waiting. `null`
///   when the window holds no attempt (nothing was sent, so nothing is behind).
pub async fn report(
    store: &Store,
    org_id: &OrgId,
    now: OffsetDateTime,
) -> Result<Vec<DestinationHealth>, Error> {
    let window = Window::ending_at(now);
    let since = id_floor("att", window.start());
    let mut out = Vec::new();
    for endpoint in store.list_webhooks(org_id, true).await? {
        let (attempts, truncated) = store
            .attempts_since(&endpoint.id, &since, REPORT_MAX_ATTEMPTS)
            .await?;
        let mut health = summarize(&endpoint, &attempts, window, now);
        health.truncated = truncated;
        if health.last_success_at.is_none() {
            health.last_success_at = store
                .last_delivered_before(&endpoint.id, &since, LOOK_BACK_ATTEMPTS)
                .await?;
            health.lag_seconds = lag(&attempts, health.last_success_at.as_deref(), now);
        }
        out.push(health);
    }
    Ok(out)
}

/// Whether an attempt is a delivery of the trail (not a test, not a skipped message).
fn counts(a: &AttemptOutcome) -> bool {
    a.trigger != Trigger::Test && a.status != AttemptStatus::Skipped
}

/// The report of one endpoint from its attempts in the window, newest first.
fn summarize(
    endpoint: &WebhookEndpoint,
    attempts: &[AttemptOutcome],
    window: Window,
    now: OffsetDateTime,
) -> DestinationHealth {
    let mut hourly = window.counts();
    for a in attempts.iter().filter(|a| counts(a)) {
        let Ok(at) = parse_time("at", &a.at) else {
            continue;
        };
        if a.status == AttemptStatus::Delivered {
            hourly.delivered(at);
        } else {
            hourly.failed(at);
        }
    }
    let last_success_at = attempts
        .iter()
        .filter(|a| counts(a))
        .find(|a| a.status == AttemptStatus::Delivered)
        .map(|a| a.at.clone());
    let status = match endpoint.status() {
        EndpointStatus::Active => "active",
        EndpointStatus::Paused => "paused",
        EndpointStatus::Disabled => "disabled",
    };
    DestinationHealth {
        kind: super::DESTINATION.kind,
        id: endpoint.id.to_string(),
        name: endpoint.url.clone(),
        status: status.to_string(),
        lag_seconds: lag(attempts, last_success_at.as_deref(), now),
        last_success_at,
        failure_streak: u64::from(endpoint.consecutive_exhausted),
        unit: "attempts",
        truncated: false,
        hourly: hourly.series(),
    }
}

/// See [`report`]: `attempts` newest first.
fn lag(
    attempts: &[AttemptOutcome],
    last_success: Option<&str>,
    now: OffsetDateTime,
) -> Option<i64> {
    let mut counted = attempts.iter().filter(|a| counts(a));
    let newest = counted.next()?;
    if newest.status == AttemptStatus::Delivered {
        return Some(0);
    }
    let since = match last_success {
        Some(t) => t,
        // The oldest failure of the current run of failures in the window.
        None => attempts
            .iter()
            .filter(|a| counts(a))
            .take_while(|a| a.status != AttemptStatus::Delivered)
            .last()
            .map_or(newest.at.as_str(), |a| a.at.as_str()),
    };
    parse_time("since", since)
        .ok()
        .map(|t| seconds_since(now, t))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use relay_core::signing::WebhookSecret;
    use time::macros::datetime;

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint {
            id: "whk_1".into(),
            org_id: "org_1".into(),
            url: "https://siem.example.com/hook".into(),
            description: None,
            enabled: true,
            actions: vec!["*".into()],
            schema: relay_core::shapes::Schema::Canonical,
            secret: WebhookSecret::generate().unwrap(),
            previous_secret: None,
            secret_rotated_at: None,
            consecutive_exhausted: 3,
            failing_since: None,
            paused_at: None,
            disabled_at: None,
            status_reason: None,
            created_at: "2026-05-01T00:00:00.000Z".into(),
            updated_at: "2026-05-01T00:00:00.000Z".into(),
        }
    }

    fn outcome(at: &str, status: AttemptStatus, trigger: Trigger) -> AttemptOutcome {
        AttemptOutcome {
            at: at.into(),
            status,
            trigger,
        }
    }

    #[test]
    fn attempts_are_counted_by_hour_and_tests_left_out() {
        let now = datetime!(2026-05-22 10:30 UTC);
        let attempts = [
            outcome(
                "2026-05-22T10:20:00Z",
                AttemptStatus::Failed,
                Trigger::Event,
            ),
            outcome(
                "2026-05-22T10:15:00Z",
                AttemptStatus::Delivered,
                Trigger::Test,
            ),
            outcome(
                "2026-05-22T10:10:00Z",
                AttemptStatus::Exhausted,
                Trigger::Event,
            ),
            outcome(
                "2026-05-22T09:10:00Z",
                AttemptStatus::Delivered,
                Trigger::Replay,
            ),
            outcome(
                "2026-05-22T09:05:00Z",
                AttemptStatus::Skipped,
                Trigger::Event,
            ),
        ];
        let h = summarize(&endpoint(), &attempts, Window::ending_at(now), now);
        assert_eq!(h.kind, "webhook");
        assert_eq!(h.status, "active");
        assert_eq!(h.failure_streak, 3);
        assert_eq!(h.last_success_at.as_deref(), Some("2026-05-22T09:10:00Z"));
        assert_eq!(h.hourly[23].delivered, Some(0));
        assert_eq!(h.hourly[23].failed, Some(2));
        assert_eq!(h.hourly[22].delivered, Some(1));
        assert_eq!(h.hourly[22].failed, Some(0));
        // Failing since the last success, 80 minutes ago.
        assert_eq!(h.lag_seconds, Some(80 * 60));
    }

    #[test]
    fn lag_is_zero_after_a_delivery_and_null_without_attempts() {
        let now = datetime!(2026-05-22 10:30 UTC);
        let ok = [outcome(
            "2026-05-22T10:20:00Z",
            AttemptStatus::Delivered,
            Trigger::Event,
        )];
        assert_eq!(lag(&ok, Some("2026-05-22T10:20:00Z"), now), Some(0));
        assert_eq!(lag(&[], None, now), None);
        let failing = [
            outcome(
                "2026-05-22T10:20:00Z",
                AttemptStatus::Failed,
                Trigger::Event,
            ),
            outcome(
                "2026-05-22T10:00:00Z",
                AttemptStatus::Failed,
                Trigger::Event,
            ),
        ];
        assert_eq!(lag(&failing, None, now), Some(30 * 60));
    }
}
