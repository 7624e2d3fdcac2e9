//! Request extraction: the authenticated principal, JSON bodies and query pairs, each failing
//! with an `ApiError` (never axum's plain-text rejections).

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde_json::Value;

use super::AppState;
use crate::error::ApiError;
use relay_core::auth::{bearer_token, token_hash, Principal};
use relay_core::error::Error;

/// Largest accepted request body (Lambda's synchronous payload limit).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = bearer_token(header)?;
        let key = state
            .store()
            .key_by_hash(&token_hash(token))
            .await?
            .ok_or(ApiError::from(Error::Unauthorized))?;
        let principal = Principal { key };
        crate::access::charge(parts, state, &principal).await?;
        Ok(principal)
    }
}

/// A JSON request body, size-limited and parsed, with errors in the API's format.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, _: &S) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            })?;
        if bytes.is_empty() {
            return Err(ApiError::from(Error::MalformedBody(
                "body is empty; send a JSON object".into(),
            )));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::from(Error::MalformedBody(format!("body is not valid JSON: {e}")))
        })?;
        Ok(JsonBody(value))
    }
}

/// An optional JSON request body: none when the body is empty (or only white space), else
/// exactly [`JsonBody`]'s rules (content type, the one size limit, a JSON 4xx on failure).
pub struct OptionalJsonBody(pub Option<Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        let req = Request::from_parts(parts, Body::from(bytes));
        let JsonBody(value) = JsonBody::from_request(req, state).await?;
        Ok(OptionalJsonBody(Some(value)))
    }
}

/// The query string as ordered key/value pairs (percent-decoded).
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        Ok(QueryPairs(
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}
