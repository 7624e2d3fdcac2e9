//! The continuous export's configuration API (the AuditExport API, to the letter, camelCase),
//! admin/owner only: `GET|POST|DELETE /orgs/{orgId}/audit-export/config`,
//! `POST .../test-connection`, `POST .../verify` (the ownership token of bucket-policy access),
//! `GET .../runs`, and `GET .../setup` (the ExternalId and the policies to paste).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody, QueryPairs};
use crate::AppState;
use relay_app::destinations::s3_stream::service;

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/orgs/{org_id}/audit-export/config",
            get(get_config).post(upsert_config).delete(delete_config),
        )
        .route("/orgs/{org_id}/audit-export/test-connection", post(test))
        .route("/orgs/{org_id}/audit-export/verify", post(verify))
        .route("/orgs/{org_id}/audit-export/runs", get(runs))
        .route("/orgs/{org_id}/audit-export/setup", get(setup))
}

async fn get_config(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id).await?).into_response())
}

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
async fn verify(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let view = service::verify(state.store(), &org_id, body, OffsetDateTime::now_utc()).await?;
    Ok(Json(view).into_response())
}

async fn delete_config(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    service::delete(state.store(), &org_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Tests the config in the body (before it is saved), or the stored one when the body is
/// empty.
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

async fn runs(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    Ok(Json(service::runs(state.store(), &org_id, &pairs).await?).into_response())
}

/// What a customer needs to grant access: the ExternalId and the exact policies.
async fn setup(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    let access_role = state.config().access_role_arn.as_deref();
    Ok(Json(service::setup(state.store(), access_role, &org_id).await?).into_response())
}
