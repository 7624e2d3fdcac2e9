//! An org's OCSF class overrides, admin/owner only: `GET|PUT
//! /orgs/{orgId}/ocsf/class-overrides` (which OCSF class and activity the actions matching a
//! pattern map to), and `GET /orgs/{orgId}/ocsf/classification?action=` (how one action is
//! classified with them, to try a pattern before events arrive).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_app::class_overrides as service;
use relay_core::error::Error;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/orgs/{org_id}/ocsf/class-overrides",
            get(get_overrides).put(put_overrides),
        )
        .route("/orgs/{org_id}/ocsf/classification", get(classification))
}

async fn get_overrides(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id).await?).into_response())
}

async fn put_overrides(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let view = service::put(state.store(), &org_id, body, OffsetDateTime::now_utc()).await?;
    Ok(Json(view).into_response())
}

async fn classification(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    if let Some((k, _)) = pairs.iter().find(|(k, _)| k != "action") {
        return Err(Error::invalid(k.as_str(), "is not a parameter (action)").into());
    }
    let action = pairs
        .iter()
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| Error::invalid("action", "is required"))?;
    Ok(Json(service::classify(state.store(), &org_id, action).await?).into_response())
}
