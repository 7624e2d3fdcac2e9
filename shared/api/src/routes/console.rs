//! `GET /console`: the admin console, served by the API itself (no separate hosting). The page
//! signs in with an API key and calls the same endpoints as any client.

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::console;
use crate::error::ApiError;
use crate::AppState;
use relay_core::error::Error;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(redirect))
        .route("/console/", get(index))
        .route("/console/{file}", get(file))
}

/// `/console` → `console/` (relative, so it also works under an API Gateway stage path), with
/// the query kept: the page's state lives in it, and its assets and API calls are relative.
async fn redirect(uri: Uri) -> Response {
    let location = match uri.query() {
        Some(q) => format!("console/?{q}"),
        None => "console/".to_string(),
    };
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(LOCATION, v)]).into_response(),
        Err(_) => {
            ApiError::from(Error::invalid("query", "is not a valid URL query")).into_response()
        }
    }
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some((asset, etag)) = console::asset(name) else {
        return ApiError::from(Error::NotFound("console file")).into_response();
    };
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let common = [
        (ETAG, HeaderValue::from_static(etag)),
        // Revalidate every time (a 304 is cheap): a deploy is visible on the next load.
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(console::CONTENT_SECURITY_POLICY),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
        asset.body,
    )
        .into_response()
}
