//! `GET /v1/audit/actions` (scope `audit:read`, or an admin/owner key).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Reader;
use crate::error::ApiError;
use crate::extract::QueryPairs;
use crate::AppState;
use relay_core::error::Error;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_actions))
}

/// The actions that occur in the caller's org, for the event-type filter.
#[utoipa::path(
    get,
    path = "/v1/audit/actions",
    operation_id = "list_actions",
    tag = "trail",
    responses((status = 200, description = "The org's actions", body = relay_app::actions::ActionsResponse))
)]
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
