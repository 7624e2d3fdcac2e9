//! The S3 export configuration API (the AuditExport API, to the letter, camelCase), admin/owner only:
//! `GET|POST|DELETE /orgs/{orgId}/audit-export/config`, `POST .../test-connection`,
//! `GET .../runs`, and `GET .../setup` (the ExternalId and the policies to paste).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use time::OffsetDateTime;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryPairs};
use crate::AppState;
use relay_app::export::connection::{test_connection, TestResult};
use relay_core::error::Error;
use relay_core::model::event::{rfc3339_millis, sortable_time};
use relay_core::model::export::{S3ConfigInput, S3Destination};

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/orgs/{org_id}/audit-export/config",
            get(get_config).post(upsert_config).delete(delete_config),
        )
        .route("/orgs/{org_id}/audit-export/test-connection", post(test))
        .route("/orgs/{org_id}/audit-export/runs", get(runs))
        .route("/orgs/{org_id}/audit-export/setup", get(setup))
}

fn parse_input(body: Value) -> Result<S3ConfigInput, ApiError> {
    Ok(relay_core::decode::from_value(body, "")?)
}

async fn get_config(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    let cfg = state
        .store()
        .get_s3_config(&org_id)
        .await?
        .ok_or(ApiError::from(Error::NotFound("audit-export config")))?;
    let external_id = state.store().external_id(&org_id).await?;
    Ok(Json(cfg.view(&external_id)).into_response())
}

async fn upsert_config(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let input = parse_input(body)?;
    let dest = input.validate()?;
    let now = OffsetDateTime::now_utc();
    let cfg = state
        .store()
        .upsert_s3_config(
            &org_id,
            &dest,
            input.enabled.unwrap_or(true),
            &rfc3339_millis(now),
            &sortable_time(now),
        )
        .await?;
    let external_id = state.store().external_id(&org_id).await?;
    Ok((StatusCode::CREATED, Json(cfg.view(&external_id))).into_response())
}

async fn delete_config(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    if state.store().delete_s3_config(&org_id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::from(Error::NotFound("audit-export config")))
    }
}

/// Tests the config in the body (before it is saved), or the stored one when the body is
/// empty. Only a test of the stored destination is recorded on it.
async fn test(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let stored = state.store().get_s3_config(&org_id).await?;
    let dest: S3Destination = if body.iter().all(u8::is_ascii_whitespace) {
        stored
            .as_ref()
            .map(|c| c.dest.clone())
            .ok_or(ApiError::from(Error::NotFound("audit-export config")))?
    } else {
        let value: Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError::from(Error::MalformedBody(format!("body is not valid JSON: {e}")))
        })?;
        parse_input(value)?.validate()?
    };
    let external_id = state.store().external_id(&org_id).await?;
    let now = OffsetDateTime::now_utc();
    let result: TestResult = test_connection(
        state.clients(),
        state.config().access_role_arn.as_deref(),
        &dest,
        &external_id,
        &org_id,
        now,
    )
    .await;
    if stored.is_some_and(|c| c.dest == dest) {
        state
            .store()
            .record_s3_test(
                &org_id,
                result.success,
                result.error.as_deref(),
                &rfc3339_millis(now),
            )
            .await?;
    }
    Ok(Json(result).into_response())
}

async fn runs(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let mut limit = 50usize;
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=200).contains(n))
                    .ok_or_else(|| {
                        ApiError::from(Error::invalid("limit", "must be an integer from 1 to 200"))
                    })?
            }
            other => {
                return Err(ApiError::from(Error::invalid(
                    other,
                    "is not a known parameter (limit)",
                )))
            }
        }
    }
    let runs = state.store().list_runs(&org_id, limit).await?;
    Ok(Json(runs).into_response())
}

/// What a customer needs to grant access: the ExternalId and the exact policies.
async fn setup(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    let external_id = state.store().external_id(&org_id).await?;
    let stored = state.store().get_s3_config(&org_id).await?;
    let (bucket, prefix) = stored
        .map(|c| (c.dest.bucket, c.dest.prefix))
        .unwrap_or_else(|| {
            (
                "YOUR-BUCKET".into(),
                relay_core::model::export::DEFAULT_PREFIX.into(),
            )
        });
    let principal_arn = state
        .config()
        .access_role_arn
        .clone()
        .unwrap_or_else(|| "arn:aws:iam::ACCOUNT:role/auditrelay-customer-access".into());
    Ok(Json(relay_app::export::role::setup_policies(
        &principal_arn,
        &external_id,
        &bucket,
        &prefix,
    ))
    .into_response())
}
