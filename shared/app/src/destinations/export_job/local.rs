//! The local stand-in for the export function's SQS trigger (`auditctl serve`): receives one
//! job message at a time and calls the very handler the Lambda calls.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::run::ExportRunner;
use super::trigger::{handle_message, MARGIN};
use crate::pipeline::poll::{delete, poll_forever, PollError};

/// How long a local invocation may work on a job before continuing in the next (the Lambda's
/// 900 s timeout minus its margin).
pub const LOCAL_BUDGET: Duration = Duration::from_secs(840);

/// Polls the export-jobs queue.
#[derive(Debug, Clone)]
pub struct ExportPoller {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    runner: ExportRunner,
    budget: Duration,
}

impl ExportPoller {
    /// A poller of `queue_url`; each job gets `budget` per invocation.
    ///
    /// A local invocation has no timeout that ends it: it stops between parts once its budget
    /// is spent. Its lease outlasts the budget by the smaller of the Lambda's margin and the
    /// budget itself, so a killed `serve` holds a job for at most twice a short budget.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        runner: ExportRunner,
        budget: Duration,
    ) -> Self {
        ExportPoller {
            sqs,
            queue_url,
            runner: runner.with_lease_margin(budget.min(MARGIN)),
            budget,
        }
    }

    /// Receives at most one message and handles it; returns whether there was one.
    pub async fn poll_once(&self) -> Result<bool, PollError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(PollError::aws)?;
        let Some(m) = out.messages().first() else {
            return Ok(false);
        };
        let count = m
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let done = handle_message(
            &self.runner,
            m.body().unwrap_or_default(),
            count,
            Instant::now() + self.budget,
        )
        .await;
        if done {
            if let Some(receipt) = m.receipt_handle() {
                delete(&self.sqs, &self.queue_url, receipt).await?;
            }
        }
        Ok(true)
    }

    /// Polls forever (every `idle` when the queue is empty).
    pub async fn run(self, idle: Duration) {
        poll_forever("export queue", idle, || self.poll_once()).await
    }
}
