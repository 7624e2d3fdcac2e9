//! The continuous export's configuration API (the AuditExport API, to the letter, camelCase),
//! admin/owner only: `GET|POST|DELETE /orgs/{orgId}/audit-export/config`,
//! `POST .../test-connection`, `POST .../verify` (the ownership token of bucket-policy access),
//! `GET .../runs`, and `GET .../setup` (the ExternalId and the policies to paste).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody, QueryPairs};
use crate::AppState;
use relay_app::destinations::s3_stream::service;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_config, upsert_config, delete_config))
        .routes(routes!(test))
        .routes(routes!(verify))
        .routes(routes!(runs))
        .routes(routes!(setup))
}

#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/config",
    operation_id = "get_stream_config",
    tag = "stream",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 200, description = "The configuration", body = relay_core::model::s3_stream::S3ConfigView))
)]
async fn get_config(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/config",
    operation_id = "put_stream_config",
    tag = "stream",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body = relay_core::model::s3_stream::S3ConfigInput,
    responses((status = 201, description = "Saved", body = relay_core::model::s3_stream::S3ConfigView, links(("get_stream_config" = (operation_id = "get_stream_config", parameters(("org_id" = "$request.path.org_id")))), ("delete_stream_config" = (operation_id = "delete_stream_config", parameters(("org_id" = "$request.path.org_id")))), ("test_stream" = (operation_id = "test_stream", parameters(("org_id" = "$request.path.org_id")))), ("verify_stream" = (operation_id = "verify_stream", parameters(("org_id" = "$request.path.org_id")))), ("list_stream_runs" = (operation_id = "list_stream_runs", parameters(("org_id" = "$request.path.org_id")))))))
)]
async fn upsert_config(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let view = service::upsert(
        state.store(),
        state.buckets(),
        &org_id,
        body,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Checks the ownership token of a bucket-policy destination.
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/verify",
    operation_id = "verify_stream",
    tag = "stream",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body = crate::openapi::Object,
    responses((status = 200, description = "The configuration, verified", body = relay_core::model::s3_stream::S3ConfigView))
)]
async fn verify(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let view = service::verify(state.store(), &org_id, body, OffsetDateTime::now_utc()).await?;
    Ok(Json(view).into_response())
}

#[utoipa::path(
    delete,
    path = "/orgs/{org_id}/audit-export/config",
    operation_id = "delete_stream_config",
    tag = "stream",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_config(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    service::delete(state.store(), &org_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Tests the config in the body (before it is saved), or the stored one when the body is
/// empty.
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/test-connection",
    operation_id = "test_stream",
    tag = "stream",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body(content = Option<relay_core::model::s3_stream::S3ConfigInput>, description = "A configuration to test; none tests the stored one"),
    responses((status = 200, description = "What the store answered", body = relay_app::pipeline::bucket::TestResult))
)]
async fn test(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Response, ApiError> {
    let result = service::test(
        state.store(),
        state.buckets(),
        &org_id,
        body,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(result).into_response())
}

#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/runs",
    operation_id = "list_stream_runs",
    tag = "stream",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("limit" = Option<u32>, Query, minimum = 1, description = "How many runs")),
    responses((status = 200, description = "The latest runs", body = Vec<relay_store::s3_stream::ExportRun>))
)]
async fn runs(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    Ok(Json(service::runs(state.store(), &org_id, &pairs).await?).into_response())
}

/// What a customer needs to grant access: the ExternalId and the exact policies.
#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/setup",
    operation_id = "stream_setup",
    tag = "stream",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 200, description = "The ExternalId and the policies to grant", body = relay_app::pipeline::role::SetupView))
)]
async fn setup(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    let access_role = state.config().access_role_arn.as_deref();
    Ok(Json(service::setup(state.store(), access_role, &org_id).await?).into_response())
}
