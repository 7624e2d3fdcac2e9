//! The trail: ingest (`POST /v1/audit/events`), query (`GET /v1/audit/logs[/{id}]`), whoami.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Reader, Writer};
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_core::auth::Principal;
use relay_core::model::ids::{KeyId, OrgId};
use relay_core::model::{Role, Scope};
use relay_core::query::LogQuery;
use utoipa::ToSchema;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest))
        .routes(routes!(list_logs))
        .routes(routes!(get_log))
        .routes(routes!(whoami))
}

/// `POST /v1/audit/events` (scope `audit:write`).
#[utoipa::path(
    post,
    path = "/v1/audit/events",
    operation_id = "ingest_events",
    tag = "trail",
    request_body = crate::openapi::IngestBody,
    responses((status = 202, description = "Accepted (stored durably)", body = relay_app::ingest::IngestResponse, links(("get_log" = (operation_id = "get_log", parameters(("event_id" = "$response.body#/events/0/event_id")))))))
)]
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
#[utoipa::path(
    get,
    path = "/v1/audit/logs",
    operation_id = "list_logs",
    tag = "trail",
    params(crate::openapi::LogParams),
    responses((status = 200, description = "A page of events, newest first", body = relay_app::logs::LogsResponse))
)]
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
#[utoipa::path(
    get,
    path = "/v1/audit/logs/{event_id}",
    operation_id = "get_log",
    tag = "trail",
    params(
        ("event_id" = String, Path, description = "The event's id"),
        ("schema" = Option<String>, Query, description = "`canonical` (default), `entry` or `ocsf`"),
    ),
    responses((status = 200, description = "The event", body = crate::openapi::Object))
)]
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
#[utoipa::path(
    get,
    path = "/v1/whoami",
    operation_id = "whoami",
    tag = "meta",
    responses((status = 200, description = "The key's org, role and scopes", body = WhoAmI))
)]
pub async fn whoami(principal: Principal) -> Json<WhoAmI> {
    let k = principal.key;
    Json(WhoAmI {
        org_id: k.org_id,
        key_id: k.key_id,
        role: k.role,
        scopes: k.scopes,
    })
}

/// The answer of `GET /v1/whoami`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The key's org.
    pub org_id: OrgId,
    /// The key's id (never its token).
    pub key_id: KeyId,
    /// The holder's role.
    pub role: Role,
    /// The key's explicit scopes.
    pub scopes: Vec<Scope>,
}
