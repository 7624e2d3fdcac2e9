//! Webhook endpoints: `/orgs/{orgId}/audit-export/webhooks[/{id}[/rotate-secret|/test|
//! /attempts|/replay]]`, for admin and owner keys of the org (another org's → 404).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_app::destinations::webhook::service;
use relay_core::model::ids::EndpointId;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, update, remove))
        .routes(routes!(rotate_secret))
        .routes(routes!(test))
        .routes(routes!(attempts))
        .routes(routes!(replay))
}

/// `POST /orgs/{orgId}/audit-export/webhooks` → 201 with the secret.
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body = relay_core::model::webhook::CreateWebhook,
    responses((status = 201, description = "Created, with its signing secret", body = relay_core::model::webhook::EndpointView, links(("get_webhook" = (operation_id = "get_webhook", parameters(("org_id" = "$request.path.org_id"), ("id" = "$response.body#/id")))), ("update_webhook" = (operation_id = "update_webhook", parameters(("org_id" = "$request.path.org_id"), ("id" = "$response.body#/id")))), ("delete_webhook" = (operation_id = "delete_webhook", parameters(("org_id" = "$request.path.org_id"), ("id" = "$response.body#/id")))), ("rotate_webhook_secret" = (operation_id = "rotate_webhook_secret", parameters(("org_id" = "$request.path.org_id"), ("id" = "$response.body#/id")))), ("test_webhook" = (operation_id = "test_webhook", parameters(("org_id" = "$request.path.org_id"), ("id" = "$response.body#/id")))), ("list_webhook_attempts" = (operation_id = "list_webhook_attempts", parameters(("org_id" = "$request.path.org_id"), ("id" = "$response.body#/id")))), ("replay_webhook" = (operation_id = "replay_webhook", parameters(("org_id" = "$request.path.org_id"), ("id" = "$response.body#/id")))))))
)]
pub async fn create(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let policy = state.webhook_client().policy();
    let view = service::create(
        state.store(),
        policy,
        &org_id,
        body,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `GET /orgs/{orgId}/audit-export/webhooks`.
#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 200, description = "The endpoints", body = Vec<relay_core::model::webhook::EndpointView>))
)]
pub async fn list(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::list(state.store(), &org_id).await?).into_response())
}

/// `GET /orgs/{orgId}/audit-export/webhooks/{id}`.
#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/webhooks/{id}",
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("id" = String, Path, description = "The endpoint's id (`whk_…`)")),
    responses((status = 200, description = "The endpoint", body = relay_core::model::webhook::EndpointView))
)]
pub async fn show(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, id)): Path<(String, EndpointId)>,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id, &id).await?).into_response())
}

/// `PATCH /orgs/{orgId}/audit-export/webhooks/{id}`.
#[utoipa::path(
    patch,
    path = "/orgs/{org_id}/audit-export/webhooks/{id}",
    operation_id = "update_webhook",
    tag = "webhooks",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("id" = String, Path, description = "The endpoint's id (`whk_…`)")),
    request_body = relay_core::model::webhook::UpdateWebhook,
    responses((status = 200, description = "The endpoint, updated", body = relay_core::model::webhook::EndpointView))
)]
pub async fn update(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, id)): Path<(String, EndpointId)>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let policy = state.webhook_client().policy();
    let view = service::update(
        state.store(),
        policy,
        &org_id,
        &id,
        body,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(view).into_response())
}

/// `DELETE /orgs/{orgId}/audit-export/webhooks/{id}` → 204.
#[utoipa::path(
    delete,
    path = "/orgs/{org_id}/audit-export/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("id" = String, Path, description = "The endpoint's id (`whk_…`)")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn remove(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, id)): Path<(String, EndpointId)>,
) -> Result<Response, ApiError> {
    service::delete(state.store(), &org_id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST .../{id}/rotate-secret` → the endpoint with its new secret.
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/webhooks/{id}/rotate-secret",
    operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("id" = String, Path, description = "The endpoint's id (`whk_…`)")),
    responses((status = 200, description = "The endpoint with its new secret", body = relay_core::model::webhook::EndpointView))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, id)): Path<(String, EndpointId)>,
) -> Result<Response, ApiError> {
    let view =
        service::rotate_secret(state.store(), &org_id, &id, OffsetDateTime::now_utc()).await?;
    Ok(Json(view).into_response())
}

/// `POST .../{id}/test` → the receiver's status and latency.
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/webhooks/{id}/test",
    operation_id = "test_webhook",
    tag = "webhooks",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("id" = String, Path, description = "The endpoint's id (`whk_…`)")),
    responses((status = 200, description = "The receiver's status and latency", body = relay_app::destinations::webhook::service::TestResult))
)]
pub async fn test(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, id)): Path<(String, EndpointId)>,
) -> Result<Response, ApiError> {
    let result = service::test(
        state.store(),
        state.webhook_client(),
        &org_id,
        &id,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(result).into_response())
}

/// `GET .../{id}/attempts?limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/webhooks/{id}/attempts",
    operation_id = "list_webhook_attempts",
    tag = "webhooks",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("id" = String, Path, description = "The endpoint's id (`whk_…`)"), crate::openapi::PageParams),
    responses((status = 200, description = "A page of delivery attempts", body = relay_app::destinations::webhook::service::AttemptsPage))
)]
pub async fn attempts(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, id)): Path<(String, EndpointId)>,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let page = service::attempts(state.store(), state.cursors(), &org_id, &id, &pairs).await?;
    Ok(Json(page).into_response())
}

/// `POST .../{id}/replay` with `from`/`to` → 202 with what was enqueued.
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/webhooks/{id}/replay",
    operation_id = "replay_webhook",
    tag = "webhooks",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("id" = String, Path, description = "The endpoint's id (`whk_…`)")),
    request_body = relay_core::model::webhook::ReplayRequest,
    responses((status = 202, description = "What was enqueued", body = relay_app::destinations::webhook::service::ReplayResult))
)]
pub async fn replay(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, id)): Path<(String, EndpointId)>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let result = service::replay(
        state.store(),
        &state.clients().sqs,
        state.config().deliveries_queue_url.as_deref(),
        state.cursors(),
        &org_id,
        &id,
        body,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(result)).into_response())
}
