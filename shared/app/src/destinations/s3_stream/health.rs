//! When the S3 stream is paused: every failed flush run extends the org's failure streak, and
//! after `pause_after_failures` runs in a row over at least `pause_after` the export is paused;
//! the pause is recorded in the trail and announced once
//! ([`notify_pause`]). The first failed run of a streak is announced as a warning
//! ([`notify_failing`]). A successful run ends the streak,
//! and nothing is lost: the watermark stays where it stopped.

use time::OffsetDateTime;

use super::flush::Flusher;
use crate::pipeline::pause::{notify_failing, notify_pause, streak_began};
use relay_core::model::event::parse_time;
use relay_core::model::ids::OrgId;
use relay_store::error::StoreError;

impl Flusher {
    /// Counts a failed run towards the pause rule; pauses and notifies when it says so, and
    /// warns when the run begins a streak.
    pub(super) async fn after_failure(
        &self,
        org_id: &OrgId,
        run_id: &str,
        config_id: &str,
        err: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        let Some((count, since)) = self
            .store
            .record_flush_failure(org_id, run_id, err, now)
            .await?
        else {
            return Ok(());
        };
        // The streak counter is raised under the flush lease, so one run sees it begin.
        if streak_began(count, 1) {
            let reason = format!("an export run failed; last error: {err}");
            notify_failing(
                &self.store,
                &self.notifier,
                org_id,
                "s3",
                config_id,
                &reason,
            )
            .await;
        }
        let failing_for = parse_time("failing_since", &since)
            .map(|t| OffsetDateTime::now_utc() - t)
            .unwrap_or_default();
        if count < self.settings.pause_after_failures
            || failing_for < time::Duration::try_from(self.settings.pause_after).unwrap_or_default()
        {
            return Ok(());
        }
        let reason = format!(
            "paused after {count} consecutive failed exports since {since}; last error: {err}. Fix the destination, then set enabled to true: nothing is lost, export resumes from where it stopped."
        );
        if !self.store.pause_s3_export(org_id, &reason, now).await? {
            return Ok(());
        }
        notify_pause(
            &self.store,
            &self.notifier,
            org_id,
            "s3",
            config_id,
            &reason,
            run_id,
        )
        .await;
        Ok(())
    }
}
