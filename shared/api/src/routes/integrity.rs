//! `GET /v1/audit/integrity/keys`: the public keys that sign integrity digests and export
//! manifests, without authentication (an auditor verifying a copy of a bucket has no key of
//! the service); `GET /v1/audit/integrity/counts` (scope `audit:read`): the events the org
//! accepted per digest period, to tie the digests back to the trail.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Reader;
use crate::error::ApiError;
use crate::extract::QueryPairs;
use crate::AppState;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(keys))
        .routes(routes!(counts))
}

#[utoipa::path(
    get,
    path = "/v1/audit/integrity/counts",
    operation_id = "integrity_counts",
    tag = "integrity",
    params(crate::openapi::RangeParams),
    responses((status = 200, description = "Accepted events per digest period", body = relay_app::integrity::CountsView))
)]
async fn counts(
    State(state): State<AppState>,
    Reader(principal): Reader,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let view = relay_app::integrity::accepted_counts(
        state.store(),
        principal.org_id(),
        &pairs,
        state.config().digest_period,
    )
    .await?;
    Ok(Json(view).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/audit/integrity/keys",
    operation_id = "integrity_keys",
    tag = "integrity",
    security(()),
    responses((status = 200, description = "The public keys (no key needed)", body = relay_app::integrity::PublicKeysView))
)]
async fn keys(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(relay_app::integrity::public_keys(state.store()).await?).into_response())
}
