//! The domain error: what went wrong, in terms of the request and the data, not of HTTP.
//! Every layer below the API returns it (or converts its own error into it once); the API
//! crate alone decides which status and code each variant is answered with.

/// A failed operation. Variants that the caller can fix say what to change and, where one
/// field is at fault, name it; `Internal` is opaque to the caller and logged in full.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field (body, path or query) failed validation.
    #[error("{field}: {message}")]
    Invalid {
        /// Path of the offending field, e.g. `events[3].timestamp` or `limit`.
        field: String,
        /// What is wrong with it, in words a person can act on.
        message: String,
    },
    /// The body is not JSON, or not the JSON shape expected.
    #[error("{0}")]
    MalformedBody(String),
    /// No bearer token, or one that is not a live API key.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// The key is valid for this org but lacks the scope or role.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource, or one that belongs to another org (the two are indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with stored state.
    #[error("{message}")]
    Conflict {
        /// Field at fault.
        field: String,
        /// Why.
        message: String,
    },
    /// A dependency is throttling or unavailable; the request is safe to retry.
    #[error("service temporarily unavailable, retry with the same event_id")]
    Unavailable(String),
    /// A rate limit or the replay budget is spent; the request may be sent again after
    /// `retry_after_secs`.
    #[error("rate limit exceeded: {what}; retry after {retry_after_secs} s")]
    RateLimited {
        /// Which limit, in words (e.g. `outbound requests per key`).
        what: String,
        /// Whole seconds until the window that refused it is over.
        retry_after_secs: u64,
    },
    /// A bug or an unexpected dependency failure. The detail is logged, never returned.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// Shorthand for a field validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } | Error::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }
}
