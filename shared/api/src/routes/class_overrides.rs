//! An org's OCSF class overrides, admin/owner only: `GET|PUT
//! /orgs/{orgId}/ocsf/class-overrides` (which OCSF class and activity the actions matching a
//! pattern map to), and `GET /orgs/{orgId}/ocsf/classification?action=` (how one action is
//! classified with them, to try a pattern before events arrive).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_app::class_overrides as service;
use relay_core::error::Error;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_overrides, put_overrides))
        .routes(routes!(classification))
}

#[utoipa::path(
    get,
    path = "/orgs/{org_id}/ocsf/class-overrides",
    operation_id = "get_class_overrides",
    tag = "org",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 200, description = "The overrides", body = relay_core::model::class_overrides::ClassOverridesView))
)]
async fn get_overrides(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id).await?).into_response())
}

#[utoipa::path(
    put,
    path = "/orgs/{org_id}/ocsf/class-overrides",
    operation_id = "put_class_overrides",
    tag = "org",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body = relay_core::model::class_overrides::ClassOverridesInput,
    responses((status = 200, description = "The overrides, replaced", body = relay_core::model::class_overrides::ClassOverridesView))
)]
async fn put_overrides(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let view = service::put(state.store(), &org_id, body, OffsetDateTime::now_utc()).await?;
    Ok(Json(view).into_response())
}

#[utoipa::path(
    get,
    path = "/orgs/{org_id}/ocsf/classification",
    operation_id = "classify_action",
    tag = "org",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("action" = String, Query, description = "An action name")),
    responses((status = 200, description = "How the action is classified", body = relay_core::model::class_overrides::ClassificationView))
)]
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
