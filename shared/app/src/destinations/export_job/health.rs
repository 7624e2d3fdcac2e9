//! When an export job fails: a job whose run keeps failing is retried by SQS (each receive
//! resumes from its last file) until the queue's last receive, when it is marked failed with
//! the last error, in words the admin reads in `GET /v1/audit/exports/{id}`. Jobs are
//! one-off, so there is no destination to pause; a failed job is announced to the org's
//! admins once, as a failing destination of kind `export_job`.

use std::fmt::Display;

use super::queue::{JobMessage, EXPORT_QUEUE};
use super::run::ExportRunner;
use crate::pipeline::pause::FailingNotice;
use relay_core::model::ids::{ExportId, OrgId};
use relay_store::error::StoreError;

/// Whether a failed run on this receive is the job's last chance.
pub fn gives_up(receive_count: u32) -> bool {
    receive_count >= EXPORT_QUEUE.max_receive_count
}

/// Marks the job failed; `true` when that is stored (the message may then be deleted).
pub async fn fail(
    runner: &ExportRunner,
    msg: &JobMessage,
    receive_count: u32,
    error: &impl Display,
) -> bool {
    let why = format!("gave up after {receive_count} attempts; last error: {error}");
    tracing::error!(org_id = %msg.org_id, export_id = %msg.export_id, error = %why, "export job failed");
    // If even this fails, the message goes to the DLQ (alarmed) with the job running.
    mark_failed(runner, &msg.org_id, &msg.export_id, &why)
        .await
        .is_ok()
}

/// Marks the job failed and, on the transition (once per job), notifies the org.
pub async fn mark_failed(
    runner: &ExportRunner,
    org_id: &OrgId,
    export_id: &ExportId,
    reason: &str,
) -> Result<(), StoreError> {
    if !runner
        .store()
        .fail_export(org_id, export_id, reason)
        .await?
    {
        return Ok(());
    }
    if let Some(org) = runner.store().get_org(org_id).await? {
        runner
            .notifier()
            .destination_failing(&FailingNotice {
                org: &org,
                kind: "export_job",
                destination_id: export_id,
                reason,
            })
            .await;
    }
    Ok(())
}
