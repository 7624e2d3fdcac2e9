//! Typed errors. `ApiError` is the one error type the HTTP layer renders; every other layer's
//! error converts into it exactly once, here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error the API answers with. 4xx variants say what the caller did wrong and, where one
/// field is at fault, name it; `Internal` is opaque to the caller and logged in full.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a field (body, path or query) failed validation.
    #[error("{field}: {message}")]
    Invalid {
        /// Path of the offending field, e.g. `events[3].timestamp` or `limit`.
        field: String,
        /// What is wrong with it, in words a person can act on.
        message: String,
    },
    /// 400: the body is not JSON, or not the JSON shape expected.
    #[error("{0}")]
    MalformedBody(String),
    /// 401: no bearer token, or one that is not a live API key.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// 403: the key is valid for this org but lacks the scope or role.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource, or one that belongs to another org (the two are indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with stored state.
    #[error("{message}")]
    Conflict {
        /// Field at fault.
        field: String,
        /// Why.
        message: String,
    },
    /// 413: body larger than the limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: body is not `application/json`.
    #[error("content-type must be application/json")]
    UnsupportedMediaType,
    /// 503: a dependency is throttling or unavailable; the request is safe to retry.
    #[error("service temporarily unavailable, retry with the same event_id")]
    Unavailable(String),
    /// 500: a bug or an unexpected dependency failure. The detail is logged, never returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for a field validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } | ApiError::MalformedBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid { .. } => "invalid_field",
            ApiError::MalformedBody(_) => "malformed_body",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { field, .. } | ApiError::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// Human-readable message; names the field when one is at fault.
    pub error: String,
    /// Stable machine-readable code.
    pub code: &'a str,
    /// The offending field, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            ApiError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "dependency unavailable")
            }
            _ => {}
        }
        let body = ErrorBody {
            error: self.to_string(),
            code: self.code(),
            field: self.field(),
        };
        (self.status(), axum::Json(body)).into_response()
    }
}

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
    /// No randomness for a new id or secret.
    #[error(transparent)]
    Rng(#[from] crate::model::ids::RngError),
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled(d) => ApiError::Unavailable(d),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
