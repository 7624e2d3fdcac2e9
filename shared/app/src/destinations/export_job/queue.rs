//! The export-jobs queue: its settings (shared by `template.yaml` and `auditctl provision`,
//! pinned by a test) and its messages.

use serde::{Deserialize, Serialize};

use crate::pipeline::queues::QueueSpec;
use relay_core::model::ids::{ExportId, OrgId};

/// The export-jobs queue as `template.yaml` declares it (`ExportJobsQueue`): visibility above
/// the export function's 900 s timeout (a message is never handed out twice at once, and a
/// dead invocation's lease has expired when it reappears), four days of retention, parked in
/// the DLQ after 3 receives that never finished.
pub const EXPORT_QUEUE: QueueSpec = QueueSpec {
    visibility_secs: 960,
    retention_secs: 4 * 86_400,
    max_receive_count: 3,
};

/// Body of a message on the export-jobs queue: "work on this job".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobMessage {
    /// The job's org.
    pub org_id: OrgId,
    /// The job.
    pub export_id: ExportId,
}

/// Sends `msg` (delayed by up to 900 s).
pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    msg: &JobMessage,
    delay_secs: i32,
) -> Result<(), String> {
    let body = serde_json::to_string(msg).map_err(|e| e.to_string())?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .delay_seconds(delay_secs.clamp(0, 900))
        .send()
        .await
        .map_err(|e| format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
    Ok(())
}
