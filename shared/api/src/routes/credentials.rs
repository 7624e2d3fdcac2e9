//! Stored upload credentials, admin/owner only: `GET|POST /orgs/{orgId}/audit-export/credentials`
//! and `GET|DELETE .../credentials/{name}`. Secret values go in once and never come back.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use time::OffsetDateTime;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use relay_app::credentials as service;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/orgs/{org_id}/audit-export/credentials",
            get(list).post(put),
        )
        .route(
            "/orgs/{org_id}/audit-export/credentials/{name}",
            get(show).delete(delete),
        )
}

async fn list(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    let data = service::list(state.store(), &org_id).await?;
    Ok(Json(json!({ "data": data })).into_response())
}

/// Creates a credential (201), or rotates one of the same type (200).
async fn put(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (view, created) = service::put(
        state.store(),
        state.buckets().sealer(),
        &org_id,
        body,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

async fn show(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id, &name).await?).into_response())
}

async fn delete(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    service::delete(state.store(), &org_id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
