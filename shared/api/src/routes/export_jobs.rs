//! Seed 004's export jobs: `POST /v1/audit/export` (202), `GET /v1/audit/exports` and
//! `GET /v1/audit/exports/{id}`. Scope `audit:export`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_app::export_job::service;
use relay_core::auth::Principal;
use relay_core::error::Error;
use relay_core::model::Scope;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/export", post(create))
        .route("/v1/audit/exports", get(list))
        .route("/v1/audit/exports/{export_id}", get(get_one))
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Scope::Export)?;
    let org = state
        .store()
        .get_org(principal.org_id())
        .await?
        .ok_or(ApiError::from(Error::Unauthorized))?;
    let out = service::create(
        state.store(),
        &state.clients().sqs,
        state.config().export_queue_url.as_deref(),
        &org,
        body,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    principal.require(Scope::Export)?;
    let out = service::list(state.store(), state.cursors(), principal.org_id(), &pairs).await?;
    Ok(Json(out).into_response())
}

async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(export_id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Export)?;
    let out = service::get(state.store(), principal.org_id(), &export_id).await?;
    Ok(Json(out).into_response())
}
