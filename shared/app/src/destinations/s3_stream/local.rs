//! The flush function's SQS trigger, locally: a poller that feeds early-flush requests from
//! the flush queue to the handler the Lambda runs for them, and deletes the ones it reports
//! done.
//! (The schedule's side is a timer in `auditctl serve`.)

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};

use super::flush::Flusher;
use super::trigger::handle_requests;
use crate::pipeline::poll::{delete, poll_forever, PollError};

/// Polls the flush queue and runs each batch of requests through [`handle_requests`].
#[derive(Debug, Clone)]
pub struct FlushRequestPoller {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    flusher: Flusher,
    budget: Duration,
}

impl FlushRequestPoller {
    /// A poller of `queue_url`; each batch gets `budget` before its deadline, as an invocation
    /// would.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        flusher: Flusher,
        budget: Duration,
    ) -> Self {
        FlushRequestPoller {
            sqs,
            queue_url,
            flusher,
            budget,
        }
    }

    /// Receives one batch and handles it; `Ok(false)` when the queue was empty.
    pub async fn poll_once(&self) -> Result<bool, PollError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(PollError::aws)?;
        let messages = out.messages();
        if messages.is_empty() {
            return Ok(false);
        }
        let mut event = SqsEvent::default();
        event.records = messages
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = m.message_id().map(str::to_string);
                r.body = m.body().map(str::to_string);
                r
            })
            .collect();
        let failed = handle_requests(&self.flusher, event, Instant::now() + self.budget).await;
        for m in messages {
            let failed_here = failed
                .batch_item_failures
                .iter()
                .any(|f| Some(f.item_identifier.as_str()) == m.message_id());
            if let (false, Some(receipt)) = (failed_here, m.receipt_handle()) {
                delete(&self.sqs, &self.queue_url, receipt).await?;
            }
        }
        Ok(true)
    }

    /// Polls until the process ends, sleeping `idle` when the queue is empty.
    pub async fn run(self, idle: Duration) {
        poll_forever("flush queue", idle, || self.poll_once()).await
    }
}
