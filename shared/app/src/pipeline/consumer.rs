//! What every queue-driven destination's deliverer shares: the settings (retry schedule,
//! pause rule, lease), the received message and its disposition, and the visibility-timeout
//! backoff (a failed attempt sets the message's visibility timeout to the next delay; nothing
//! sleeps).

use std::time::Duration;

use super::pause::PauseRule;
use relay_core::config::Config;
use relay_core::retry::RetrySchedule;

/// Retry delay after an internal failure (storage unavailable) before anything was sent.
pub(crate) const INTERNAL_RETRY: Duration = Duration::from_secs(10);

/// How long a claimed delivery is reserved for its sender by default: longer than an HTTP
/// attempt (15 s), shorter than the deliver function's timeout.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(60);

/// Tunables of the deliver function.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Retry delays.
    pub schedule: RetrySchedule,
    /// Auto-pause rule.
    pub pause: PauseRule,
    /// How long a claimed message is reserved for its sender (longer than an HTTP attempt).
    pub lease: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            schedule: RetrySchedule::seed(),
            pause: PauseRule::default(),
            lease: DELIVERY_LEASE,
        }
    }
}

impl DeliverySettings {
    /// The defaults, with the schedule and pause threshold of the configuration.
    pub fn from_config(config: &Config) -> Self {
        let mut s = DeliverySettings {
            schedule: config.retry_schedule.clone(),
            ..Default::default()
        };
        if let Some(n) = config.pause_after_exhausted {
            s.pause.after_exhausted = n;
        }
        s
    }
}

/// A message as received from SQS (from a Lambda event or a ReceiveMessage call).
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// SQS message id (what a batch item failure names).
    pub message_id: String,
    /// Receipt handle (for ChangeMessageVisibility).
    pub receipt_handle: String,
    /// Body.
    pub body: String,
    /// `ApproximateReceiveCount`: 1 on the first receive.
    pub receive_count: u32,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Finished (delivered, dropped, disabled): delete it.
    Done,
    /// Keep it: it comes back after the visibility timeout that was set (or goes to the DLQ).
    Retry,
}

/// Sets a received message's visibility timeout: when it comes back for its next attempt.
pub(crate) async fn change_visibility(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    m: &Received,
    delay: Duration,
) {
    let secs = i32::try_from(delay.as_secs()).unwrap_or(i32::MAX);
    if let Err(e) = sqs
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(&m.receipt_handle)
        .visibility_timeout(secs)
        .send()
        .await
    {
        // The message then comes back after the queue's default visibility timeout.
        tracing::warn!(message_id = %m.message_id,
            error = %aws_sdk_sqs::error::DisplayErrorContext(&e),
            "ChangeMessageVisibility failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_the_documented_schedule() {
        let s = DeliverySettings::default();
        assert_eq!(s.schedule, RetrySchedule::seed());
        assert_eq!(s.schedule.max_attempts(), 4);
        assert!(s.lease > crate::pipeline::http_client::DELIVERY_TIMEOUT);
    }
}
