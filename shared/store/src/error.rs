//! The storage layer's error, and its one conversion into the domain error.

use crate::sealing::SealError;
use relay_core::error::Error;

/// Errors of the storage layer (DynamoDB).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The conditional write lost: the item already exists (or a guard failed).
    #[error("condition failed")]
    ConditionFailed,
    /// DynamoDB throttled us or is unavailable; retry later.
    #[error("throttled or unavailable: {0}")]
    Throttled(String),
    /// A stored item does not have the shape we wrote.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    /// Any other SDK failure.
    #[error("dynamodb: {0}")]
    Sdk(String),
    /// A stored secret could not be sealed or opened.
    #[error(transparent)]
    Sealing(#[from] crate::sealing::SealError),
    /// No randomness for a new id or secret.
    #[error(transparent)]
    Rng(#[from] relay_core::model::ids::RngError),
}

impl StoreError {
    /// Classifies an SDK error: throttling and 5xx become `Throttled`, the rest `Sdk`.
    pub fn from_sdk<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
        let code = err.code().unwrap_or_default().to_string();
        let detail = match &err {
            SdkError::ServiceError(se) => {
                format!("{}: {}", code, se.err().message().unwrap_or("no message"))
            }
            other => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(other)),
        };
        let throttled = matches!(
            code.as_str(),
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
        ) || matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
        );
        if throttled {
            StoreError::Throttled(detail)
        } else {
            StoreError::Sdk(detail)
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled(d) => Error::Unavailable(d),
            StoreError::Sealing(e @ (SealError::NoKey | SealError::Unavailable(_))) => {
                Error::Unavailable(e.to_string())
            }
            // Tampering (or a copy between items) is fixed by replacing the secret, not by a
            // retry: say which field, and how.
            StoreError::Sealing(SealError::Unopenable { field }) => Error::Conflict {
                message: format!(
                    "the stored {field} does not open: it was not sealed for this org and resource; \
                     delete this configuration and create it again"
                ),
                field,
            },
            other => Error::Internal(other.to_string()),
        }
    }
}
