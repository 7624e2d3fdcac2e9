//! Export jobs: `POST /v1/audit/export` (202), `GET /v1/audit/exports` and
//! `GET /v1/audit/exports/{id}`. Scope `audit:export`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::access::Exporter;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_app::destinations::export_job::service;
use relay_core::model::ids::ExportId;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/export", post(create))
        .route("/v1/audit/exports", get(list))
        .route("/v1/audit/exports/{export_id}", get(get_one))
}

async fn create(
    State(state): State<AppState>,
    exporter: Exporter,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let org = exporter.org(&state).await?;
    let out = service::create(
        state.store(),
        state.buckets(),
        &state.clients().sqs,
        state.config().export_queue_url.as_deref(),
        (&org, exporter.0.key.role),
        body,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

async fn list(
    State(state): State<AppState>,
    Exporter(principal): Exporter,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let out = service::list(state.store(), state.cursors(), principal.org_id(), &pairs).await?;
    Ok(Json(out).into_response())
}

async fn get_one(
    State(state): State<AppState>,
    Exporter(principal): Exporter,
    Path(export_id): Path<ExportId>,
) -> Result<Response, ApiError> {
    let out = service::get(state.store(), principal.org_id(), &export_id).await?;
    Ok(Json(out).into_response())
}
