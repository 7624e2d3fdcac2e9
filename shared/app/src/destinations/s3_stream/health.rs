//! When the S3 stream is paused: every failed flush run extends the org's failure streak, and
//! after `pause_after_failures` runs in a row over at least `pause_after` the export is paused;
//! the pause is recorded in the trail and announced once
//! ([`notify_pause`]). The first failed run of a streak is announced as a warning
//! ([`notify_failing`]). A successful run ends the streak,
//! and nothing is lost: the watermark stays where it stopped.
//!
//! [`report`] reads the export's health back from its configuration item (status, streak,
//! watermark) and its run records.

use time::OffsetDateTime;

use super::flush::Flusher;
use crate::pipeline::pause::{notify_failing, notify_pause, streak_began};
use relay_core::error::Error;
use relay_core::model::event::parse_time;
use relay_core::model::health::{seconds_since, DestinationHealth, Window};
use relay_core::model::ids::{id_floor, OrgId};
use relay_store::error::StoreError;
use relay_store::s3_stream::ExportRun;
use relay_store::Store;

/// Most runs the report reads for its 24 hours (a five-minute schedule makes 288, early
/// flushes a few more).
const REPORT_MAX_RUNS: usize = 2_000;

/// The health of the org's continuous export, if it has one, from its configuration item
/// and its run records (runs with nothing to export are not recorded):
///
/// * `hourly`: runs per hour of their start (`unit` `runs`): `delivered` = runs that wrote
///   their batches (`succeeded`, and `partial`: stopped at the time budget, continued by the
///   next run); `failed` = failed runs. Runs still going are not counted.
/// * `lastSuccessAt`: `lastExportedAt`, the end of the last run that wrote events.
/// * `failureStreak`: the auto-pause counter, failed runs in a row.
/// * `lagSeconds`: now minus the watermark, the acceptance time up to which every event has
///   been exported (runs stop a settle time short of now, so a healthy export shows a few
///   minutes). It keeps growing while the export is paused, disabled or unverified.
pub async fn report(
    store: &Store,
    org_id: &OrgId,
    now: OffsetDateTime,
) -> Result<Option<DestinationHealth>, Error> {
    let Some(state) = store.get_s3_state(org_id).await? else {
        return Ok(None);
    };
    let window = Window::ending_at(now);
    let (runs, truncated) = store
        .runs_since(org_id, &id_floor("run", window.start()), REPORT_MAX_RUNS)
        .await?;
    let config = &state.config;
    Ok(Some(DestinationHealth {
        kind: super::DESTINATION.kind,
        id: config.id.clone(),
        name: config.dest.target.location(),
        status: config.status().to_string(),
        last_success_at: config.last_exported_at.clone(),
        failure_streak: u64::from(config.consecutive_failures),
        lag_seconds: watermark_lag(&state.watermark, now),
        unit: "runs",
        truncated,
        hourly: hourly(&runs, window),
    }))
}

fn hourly(runs: &[ExportRun], window: Window) -> Vec<relay_core::model::health::HourCount> {
    let mut counts = window.counts();
    for run in runs {
        let Ok(at) = parse_time("startedAt", &run.started_at) else {
            continue;
        };
        match run.status.as_str() {
            "succeeded" | "partial" => counts.delivered(at),
            "failed" => counts.failed(at),
            _ => {}
        }
    }
    counts.series()
}

/// The watermark is an `rcv_sk` (`{sortable time}#{event id}`) or a bare sortable time (a
/// run's upper bound); its time part is RFC 3339.
fn watermark_lag(watermark: &str, now: OffsetDateTime) -> Option<i64> {
    let time = watermark.split('#').next()?;
    parse_time("watermark", time)
        .ok()
        .map(|t| seconds_since(now, t))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn run(started_at: &str, status: &str) -> ExportRun {
        ExportRun {
            id: "run_1".into(),
            started_at: started_at.into(),
            finished_at: None,
            status: status.into(),
            event_count: 1,
            object_keys: vec![],
            bytes: 1,
            error: None,
        }
    }

    #[test]
    fn runs_are_counted_by_the_hour_they_started() {
        let w = Window::ending_at(datetime!(2026-05-22 10:30 UTC));
        let s = hourly(
            &[
                run("2026-05-22T10:05:00.000Z", "succeeded"),
                run("2026-05-22T10:10:00.000Z", "failed"),
                run("2026-05-22T09:10:00.000Z", "partial"),
                run("2026-05-22T10:15:00.000Z", "running"),
            ],
            w,
        );
        assert_eq!((s[23].delivered, s[23].failed), (Some(1), Some(1)));
        assert_eq!((s[22].delivered, s[22].failed), (Some(1), Some(0)));
    }

    #[test]
    fn lag_is_the_watermarks_age() {
        let now = datetime!(2026-05-22 10:30 UTC);
        assert_eq!(
            watermark_lag("2026-05-22T10:25:00.000000000Z#evt_01HX", now),
            Some(300)
        );
        assert_eq!(
            watermark_lag("2026-05-22T10:28:00.000000000Z", now),
            Some(120)
        );
        assert_eq!(watermark_lag("garbage", now), None);
    }
}
