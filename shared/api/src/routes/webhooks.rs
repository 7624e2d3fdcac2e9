//! Webhook endpoints: `/orgs/{orgId}/audit-export/webhooks[/{id}[/rotate-secret|/test|
//! /attempts|/replay]]`, for admin and owner keys of the org (another org's → 404).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_app::destinations::webhook::service;
use relay_core::model::ids::EndpointId;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/orgs/{org_id}/audit-export/webhooks",
            post(create).get(list),
        )
        .route(
            "/orgs/{org_id}/audit-export/webhooks/{id}",
            get(show).patch(update).delete(remove),
        )
        .route(
            "/orgs/{org_id}/audit-export/webhooks/{id}/rotate-secret",
            post(rotate_secret),
        )
        .route("/orgs/{org_id}/audit-export/webhooks/{id}/test", post(test))
        .route(
            "/orgs/{org_id}/audit-export/webhooks/{id}/attempts",
            get(attempts),
        )
        .route(
            "/orgs/{org_id}/audit-export/webhooks/{id}/replay",
            post(replay),
        )
}

/// `POST /orgs/{orgId}/audit-export/webhooks` → 201 with the secret.
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
pub async fn list(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::list(state.store(), &org_id).await?).into_response())
}

/// `GET /orgs/{orgId}/audit-export/webhooks/{id}`.
pub async fn show(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, id)): Path<(String, EndpointId)>,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id, &id).await?).into_response())
}

/// `PATCH /orgs/{orgId}/audit-export/webhooks/{id}`.
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
pub async fn remove(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, id)): Path<(String, EndpointId)>,
) -> Result<Response, ApiError> {
    service::delete(state.store(), &org_id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST .../{id}/rotate-secret` → the endpoint with its new secret.
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
