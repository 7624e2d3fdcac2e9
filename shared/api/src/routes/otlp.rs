//! OTLP log export (the "Configure OTEL Export" contract):
//! `GET|POST|DELETE /orgs/{orgId}/audit-export/otel`, `POST .../otel/test` and
//! `POST .../otel/replay`, for admin and owner keys of the org (another org's → 404).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody};
use crate::AppState;
use relay_app::destinations::otlp::service;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, upsert, remove))
        .routes(routes!(test))
        .routes(routes!(replay))
}

/// `GET /orgs/{orgId}/audit-export/otel` (404 until configured).
#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/otel",
    operation_id = "get_otel",
    tag = "otel",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 200, description = "The configuration (header values masked)", body = relay_core::model::otlp::OtelConfigView))
)]
pub async fn show(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id).await?).into_response())
}

/// `POST /orgs/{orgId}/audit-export/otel` → 201 when created, 200 when updated.
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/otel",
    operation_id = "put_otel",
    tag = "otel",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body = relay_core::model::otlp::OtelConfigInput,
    responses((status = 201, description = "Created", body = relay_core::model::otlp::OtelConfigView, links(("get_otel" = (operation_id = "get_otel", parameters(("org_id" = "$request.path.org_id")))), ("delete_otel" = (operation_id = "delete_otel", parameters(("org_id" = "$request.path.org_id")))), ("test_otel" = (operation_id = "test_otel", parameters(("org_id" = "$request.path.org_id")))), ("replay_otel" = (operation_id = "replay_otel", parameters(("org_id" = "$request.path.org_id")))))), (status = 200, description = "Updated", body = relay_core::model::otlp::OtelConfigView, links(("get_otel" = (operation_id = "get_otel", parameters(("org_id" = "$request.path.org_id")))), ("delete_otel" = (operation_id = "delete_otel", parameters(("org_id" = "$request.path.org_id")))), ("test_otel" = (operation_id = "test_otel", parameters(("org_id" = "$request.path.org_id")))), ("replay_otel" = (operation_id = "replay_otel", parameters(("org_id" = "$request.path.org_id")))))))
)]
pub async fn upsert(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (view, created) = service::upsert(
        state.store(),
        state.webhook_client().policy(),
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

/// `DELETE /orgs/{orgId}/audit-export/otel` → 204.
#[utoipa::path(
    delete,
    path = "/orgs/{org_id}/audit-export/otel",
    operation_id = "delete_otel",
    tag = "otel",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn remove(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    service::delete(state.store(), &org_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST .../otel/test`: no body tests the stored configuration; a JSON body tests that one.
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/otel/test",
    operation_id = "test_otel",
    tag = "otel",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body(content = Option<relay_core::model::otlp::OtelConfigInput>, description = "A configuration to test; none tests the stored one"),
    responses((status = 200, description = "The collector's answer", body = relay_app::destinations::otlp::service::TestResult))
)]
pub async fn test(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Response, ApiError> {
    let result = service::test(
        state.store(),
        state.webhook_client(),
        &org_id,
        body,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(result).into_response())
}

/// `POST .../otel/replay` with `from`/`to` → 202 with what was enqueued.
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/otel/replay",
    operation_id = "replay_otel",
    tag = "otel",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body = relay_core::model::webhook::ReplayRequest,
    responses((status = 202, description = "What was enqueued", body = relay_app::destinations::otlp::service::ReplayResult))
)]
pub async fn replay(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let result = service::replay(
        state.store(),
        &state.clients().sqs,
        state.config().deliveries_queue_url.as_deref(),
        state.cursors(),
        &org_id,
        body,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(result)).into_response())
}
