//! The `/v1/audit/` aggregate reads: `GET /v1/audit/summary`, the identity trail and the resource
//! trails (`/v1/audit/resources/{type}/{id}`, `/v1/audit/secrets/{path}`). Scope `audit:read`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Reader;
use crate::error::ApiError;
use crate::extract::QueryPairs;
use crate::AppState;
use relay_app::summary::read::{org_summary, SummaryParams};
use relay_app::trails::ResourceRef;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(identity_trail))
        .routes(routes!(resource_trail))
        .routes(routes!(secret_trail))
}

/// `GET /v1/audit/summary?from&to[&top]`.
#[utoipa::path(
    get,
    path = "/v1/audit/summary",
    operation_id = "summary",
    tag = "trail",
    params(
        ("from" = Option<String>, Query, description = "Start (RFC 3339; default `to` less 30 days)"),
        ("to" = Option<String>, Query, description = "End (RFC 3339; default now)"),
        ("top" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Entries per top list"),
    ),
    responses((status = 200, description = "Counts and top lists", body = relay_app::summary::read::OrgSummary))
)]
async fn summary(
    State(state): State<AppState>,
    reader: Reader,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let org = reader.org(&state).await?;
    let p = SummaryParams::parse(&pairs, OffsetDateTime::now_utc(), org.retention_days)?;
    let (out, _) = org_summary(state.store(), &org.org_id, p.from, p.to, p.top).await?;
    Ok(Json(out).into_response())
}

/// `GET /v1/audit/identities/{identity_id}`.
#[utoipa::path(
    get,
    path = "/v1/audit/identities/{identity_id}",
    operation_id = "identity_trail",
    tag = "trail",
    params(("identity_id" = String, Path, description = "The actor's `user_id`"), crate::openapi::LogParams),
    responses((status = 200, description = "The identity's trail", body = relay_app::trails::IdentityTrail))
)]
async fn identity_trail(
    State(state): State<AppState>,
    reader: Reader,
    Path(identity_id): Path<String>,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let org = reader.org(&state).await?;
    let out = relay_app::trails::identity(
        state.store(),
        state.cursors(),
        &org,
        &identity_id,
        &pairs,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(out).into_response())
}

/// `GET /v1/audit/resources/{type}/{id}` (the id may contain `/`).
#[utoipa::path(
    get,
    path = "/v1/audit/resources/{resource_type}/{*resource_id}",
    operation_id = "resource_trail",
    tag = "trail",
    params(
        ("resource_type" = String, Path, description = "The resource's type"),
        ("resource_id" = String, Path, description = "The resource's id (may contain `/`)"),
        crate::openapi::LogParams,
    ),
    responses((status = 200, description = "The resource's trail", body = relay_app::trails::ResourceTrail))
)]
async fn resource_trail(
    State(state): State<AppState>,
    reader: Reader,
    Path((resource_type, id)): Path<(String, String)>,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let org = reader.org(&state).await?;
    let resource = ResourceRef { resource_type, id };
    let out = relay_app::trails::resource(
        state.store(),
        state.cursors(),
        &org,
        resource,
        None,
        &pairs,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(out).into_response())
}

/// `GET /v1/audit/secrets/{path}`: the trail of resource type `secret`, id `path`.
#[utoipa::path(
    get,
    path = "/v1/audit/secrets/{*path}",
    operation_id = "secret_trail",
    tag = "trail",
    params(
        ("path" = String, Path, description = "The secret's path (may contain `/`)"),
        crate::openapi::LogParams,
    ),
    responses((status = 200, description = "The secret's trail", body = relay_app::trails::ResourceTrail))
)]
async fn secret_trail(
    State(state): State<AppState>,
    reader: Reader,
    Path(path): Path<String>,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let org = reader.org(&state).await?;
    let resource = ResourceRef {
        resource_type: "secret".into(),
        id: path.clone(),
    };
    let out = relay_app::trails::resource(
        state.store(),
        state.cursors(),
        &org,
        resource,
        Some(path),
        &pairs,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(out).into_response())
}
