//! Export jobs: `POST /v1/audit/export` (202), `GET /v1/audit/exports` and
//! `GET /v1/audit/exports/{id}`. Scope `audit:export`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Exporter;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_app::destinations::export_job::service;
use relay_core::model::ids::ExportId;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(list))
        .routes(routes!(get_one))
}

#[utoipa::path(
    post,
    path = "/v1/audit/export",
    operation_id = "create_export",
    tag = "exports",
    request_body = relay_core::model::export_job::ExportRequest,
    responses((status = 202, description = "Queued", body = relay_app::destinations::export_job::service::Created, links(("get_export" = (operation_id = "get_export", parameters(("export_id" = "$response.body#/export_id")))))))
)]
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

#[utoipa::path(
    get,
    path = "/v1/audit/exports",
    operation_id = "list_exports",
    tag = "exports",
    params(crate::openapi::PageParams),
    responses((status = 200, description = "A page of export jobs", body = relay_app::destinations::export_job::service::ExportList))
)]
async fn list(
    State(state): State<AppState>,
    Exporter(principal): Exporter,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let out = service::list(state.store(), state.cursors(), principal.org_id(), &pairs).await?;
    Ok(Json(out).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/audit/exports/{export_id}",
    operation_id = "get_export",
    tag = "exports",
    params(("export_id" = String, Path, description = "The job's id (`exp_…`)")),
    responses((status = 200, description = "The export job", body = relay_core::model::export_job::ExportJobView))
)]
async fn get_one(
    State(state): State<AppState>,
    Exporter(principal): Exporter,
    Path(export_id): Path<ExportId>,
) -> Result<Response, ApiError> {
    let out = service::get(state.store(), principal.org_id(), &export_id).await?;
    Ok(Json(out).into_response())
}
