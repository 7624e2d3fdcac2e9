//! OTLP log export (the "Configure OTEL Export" contract):
//! `GET|POST|DELETE /orgs/{orgId}/audit-export/otel`, `POST .../otel/test` and
//! `POST .../otel/replay`, for admin and owner keys of the org (another org's → 404).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody};
use crate::AppState;
use relay_app::destinations::otlp::service;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/orgs/{org_id}/audit-export/otel",
            get(show).post(upsert).delete(remove),
        )
        .route("/orgs/{org_id}/audit-export/otel/test", post(test))
        .route("/orgs/{org_id}/audit-export/otel/replay", post(replay))
}

/// `GET /orgs/{orgId}/audit-export/otel` (404 until configured).
pub async fn show(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id).await?).into_response())
}

/// `POST /orgs/{orgId}/audit-export/otel` → 201 when created, 200 when updated.
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
pub async fn remove(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    service::delete(state.store(), &org_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST .../otel/test`: no body tests the stored configuration; a JSON body tests that one.
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
