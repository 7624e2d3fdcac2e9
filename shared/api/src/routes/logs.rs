//! The trail: ingest (`POST /v1/audit/events`), query (`GET /v1/audit/logs[/{id}]`), whoami.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use time::OffsetDateTime;

use crate::access::{Reader, Writer};
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_core::auth::Principal;
use relay_core::query::LogQuery;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/events", post(ingest))
        .route("/v1/audit/logs", get(list_logs))
        .route("/v1/audit/logs/{event_id}", get(get_log))
        .route("/v1/whoami", get(whoami))
}

/// `POST /v1/audit/events` (scope `audit:write`).
pub async fn ingest(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let org = writer.org(&state).await?;
    let now = OffsetDateTime::now_utc();
    let events = relay_app::ingest::validate_body(body, &org, now)?;
    let out = relay_app::ingest::store_events(state.store(), &org, events, now).await?;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

/// `GET /v1/audit/logs` (scope `audit:read`, or an admin/owner key).
pub async fn list_logs(
    State(state): State<AppState>,
    Reader(principal): Reader,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let query = LogQuery::parse(&pairs)?;
    let out =
        relay_app::logs::list(state.store(), state.cursors(), principal.org_id(), &query).await?;
    Ok(Json(out).into_response())
}

/// `GET /v1/audit/logs/{event_id}`.
pub async fn get_log(
    State(state): State<AppState>,
    Reader(principal): Reader,
    Path(event_id): Path<String>,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let schema = relay_app::logs::single_schema(&pairs)?;
    let doc = relay_app::logs::get(state.store(), principal.org_id(), &event_id, schema).await?;
    Ok(Json(doc).into_response())
}

/// `GET /v1/whoami`: the key's org, role and scopes (never the token).
pub async fn whoami(principal: Principal) -> Json<serde_json::Value> {
    let k = &principal.key;
    Json(json!({
        "org_id": k.org_id,
        "key_id": k.key_id,
        "role": k.role,
        "scopes": k.scopes,
    }))
}
