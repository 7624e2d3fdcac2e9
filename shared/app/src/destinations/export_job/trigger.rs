//! The `export` function's trigger: an SQS batch of [`JobMessage`]s (the mapping's batch size
//! is 1: a job may use the whole invocation). Each message is worked on until the job is done
//! or the deadline; a message whose work hit a storage failure is reported as a batch item
//! failure (SQS delivers it again), and on its last receive the job is failed instead, so that
//! no job stays `running` forever behind a message in the dead-letter queue.

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::pipeline::sqs_batch;

use super::health::{fail, gives_up};
use super::queue::JobMessage;
use super::run::{ExportRunner, RunOutcome};

/// Stop starting new files this long before the invocation's deadline.
pub const MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// The SQS receive count of a message (1 on the first delivery).
pub fn receive_count(m: &SqsMessage) -> u32 {
    m.attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Handles one message; `false`: leave it on the queue for another attempt.
pub async fn handle_message(
    runner: &ExportRunner,
    body: &str,
    receive_count: u32,
    deadline: Instant,
) -> bool {
    let Ok(msg) = serde_json::from_str::<JobMessage>(body) else {
        // Can never succeed: drop it rather than retry it forever.
        tracing::warn!("ignoring a malformed export-job message");
        return true;
    };
    match runner.run(&msg, deadline).await {
        Ok(outcome) => {
            tracing::info!(org_id = %msg.org_id, export_id = %msg.export_id, ?outcome, "export job");
            // Not requeued (no queue configured): let SQS deliver this message again.
            !matches!(outcome, RunOutcome::Continued { requeued: false })
        }
        Err(e) if gives_up(receive_count) => fail(runner, &msg, receive_count, &e).await,
        Err(e) => {
            tracing::warn!(org_id = %msg.org_id, export_id = %msg.export_id, error = %e, "export job failed; SQS will retry");
            false
        }
    }
}

/// The `export` function's handler.
pub async fn handle(runner: &ExportRunner, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let mut failed = Vec::new();
    for record in &event.records {
        let body = record.body.as_deref().unwrap_or_default();
        if !handle_message(runner, body, receive_count(record), deadline).await {
            failed.push(record.message_id.clone().unwrap_or_default());
        }
    }
    sqs_batch::response(failed)
}
