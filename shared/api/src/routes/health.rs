//! The destinations' health report, admin/owner only: `GET /orgs/{orgId}/audit-export/health`
//! (per destination: state, last success, failure streak, lag, and 24 hourly counts).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::AppState;
use relay_app::health as service;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/orgs/{org_id}/audit-export/health", get(report))
}

async fn report(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    let report = service::report(state.store(), &org_id, OffsetDateTime::now_utc()).await?;
    Ok(Json(report).into_response())
}
