//! The destinations' health report, admin/owner only: `GET /orgs/{orgId}/audit-export/health`
//! (per destination: state, last success, failure streak, lag, and 24 hourly counts).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::AppState;
use relay_app::health as service;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
}

#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/health",
    operation_id = "destination_health",
    tag = "org",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 200, description = "Per destination: state, last success, failure streak, lag, hourly counts", body = relay_core::model::health::HealthReport))
)]
async fn report(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    let report = service::report(state.store(), &org_id, OffsetDateTime::now_utc()).await?;
    Ok(Json(report).into_response())
}
