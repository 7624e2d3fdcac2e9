//! When an export job fails: a job whose run keeps failing is retried by SQS (each receive
//! resumes from its last file) until the queue's last receive, when it is marked failed with
//! the last error, in words the admin reads in `GET /v1/audit/exports/{id}`. Jobs are
//! one-off, so there is no destination to pause.

use std::fmt::Display;

use super::queue::{JobMessage, EXPORT_QUEUE};
use super::run::ExportRunner;

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
    runner
        .store()
        .fail_export(&msg.org_id, &msg.export_id, &why)
        .await
        .is_ok()
}
