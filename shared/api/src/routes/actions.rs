//! `GET /v1/audit/actions` (scope `audit:read`, or an admin/owner key).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::access::Reader;
use crate::error::ApiError;
use crate::extract::QueryPairs;
use crate::AppState;
use relay_core::error::Error;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/audit/actions", get(list_actions))
}

/// The actions that occur in the caller's org, for the event-type filter.
pub async fn list_actions(
    State(state): State<AppState>,
    Reader(principal): Reader,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    if let Some((k, _)) = pairs.first() {
        return Err(ApiError::from(Error::invalid(
            k,
            "is not a known parameter (none)",
        )));
    }
    let out = relay_app::actions::list(state.store(), principal.org_id()).await?;
    Ok(Json(out).into_response())
}
