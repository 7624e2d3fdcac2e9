//! The one mapping of errors to HTTP: every domain error, and the few that only the HTTP layer
//! can raise, become a status and a `{"error", "code"}` JSON body here and nowhere else.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use relay_core::error::Error;
use relay_store::error::StoreError;
use serde::Serialize;

/// An error the API answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A domain error from the layers below.
    #[error(transparent)]
    Domain(#[from] Error),
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413: body larger than the limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: body is not `application/json`.
    #[error("content-type must be application/json")]
    UnsupportedMediaType,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Domain(e.into())
    }
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Domain(e) => match e {
                Error::Invalid { .. } | Error::MalformedBody(_) => StatusCode::BAD_REQUEST,
                Error::Unauthorized => StatusCode::UNAUTHORIZED,
                Error::Forbidden(_) => StatusCode::FORBIDDEN,
                Error::NotFound(_) => StatusCode::NOT_FOUND,
                Error::Conflict { .. } => StatusCode::CONFLICT,
                Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// The stable machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Domain(e) => match e {
                Error::Invalid { .. } => "invalid_field",
                Error::MalformedBody(_) => "malformed_body",
                Error::Unauthorized => "unauthorized",
                Error::Forbidden(_) => "forbidden",
                Error::NotFound(_) => "not_found",
                Error::Conflict { .. } => "conflict",
                Error::RateLimited { .. } => "rate_limited",
                Error::Unavailable(_) => "unavailable",
                Error::Internal(_) => "internal_error",
            },
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
        }
    }

    /// Whole seconds the caller should wait before sending the request again (`Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Domain(Error::RateLimited {
                retry_after_secs, ..
            }) => Some(*retry_after_secs),
            _ => None,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::Domain(e) => e.field(),
            _ => None,
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
            ApiError::Domain(Error::Internal(detail)) => {
                tracing::error!(error = %detail, "internal error")
            }
            ApiError::Domain(Error::Unavailable(detail)) => {
                tracing::warn!(error = %detail, "dependency unavailable")
            }
            _ => {}
        }
        let body = ErrorBody {
            error: self.to_string(),
            code: self.code(),
            field: self.field(),
        };
        let mut resp = (self.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
