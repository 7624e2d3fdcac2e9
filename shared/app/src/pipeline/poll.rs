//! What the local pollers share (they stand in for the Lambda triggers in `auditctl serve`):
//! their error, with an SDK failure's full context.

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
