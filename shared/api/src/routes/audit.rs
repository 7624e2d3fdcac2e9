//! The `/v1/audit/` aggregate reads: `GET /v1/audit/summary`, the identity trail and the resource
//! trails (`/v1/audit/resources/{type}/{id}`, `/v1/audit/secrets/{path}`). Scope `audit:read`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::access::Reader;
use crate::error::ApiError;
use crate::extract::QueryPairs;
use crate::AppState;
use relay_app::summary::read::{org_summary, SummaryParams};
use relay_app::trails::ResourceRef;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/summary", get(summary))
        .route("/v1/audit/identities/{identity_id}", get(identity_trail))
        .route(
            "/v1/audit/resources/{resource_type}/{*resource_id}",
            get(resource_trail),
        )
        .route("/v1/audit/secrets/{*path}", get(secret_trail))
}

/// `GET /v1/audit/summary?from&to[&top]`.
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
