//! What the local pollers share (they stand in for the Lambda triggers in `auditctl serve`):
//! their error, with an SDK failure's full context, and the loop that runs them.

use std::future::Future;
use std::time::Duration;

/// A poller failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The table has no stream.
    #[error("table {0} has no stream (run `auditctl provision`)")]
    NoStream(String),
    /// An AWS call failed.
    #[error("{0}")]
    Aws(String),
}

impl PollError {
    /// Any SDK's error (they share one `SdkError` type) with its full context.
    pub fn aws<E: std::error::Error + 'static, R: std::fmt::Debug>(
        e: aws_sdk_sqs::error::SdkError<E, R>,
    ) -> Self {
        PollError::Aws(format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))
    }
}

/// Runs `poll` until the process ends: again at once when it found work, after `idle` when
/// its queue was empty, after a second when it failed (logged with `what`).
pub async fn poll_forever<F, Fut>(what: &str, idle: Duration, mut poll: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, PollError>>,
{
    loop {
        match poll().await {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(idle).await,
            Err(e) => {
                tracing::warn!(error = %e, "{what} poll failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Deletes a message this poller has handled.
pub async fn delete(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handle: &str,
) -> Result<(), PollError> {
    sqs.delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .send()
        .await
        .map_err(PollError::aws)?;
    Ok(())
}
