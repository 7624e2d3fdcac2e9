//! Stored upload credentials, admin/owner only: `GET|POST /orgs/{orgId}/audit-export/credentials`
//! and `GET|DELETE .../credentials/{name}`. Secret values go in once and never come back.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use relay_app::credentials as service;
use relay_app::credentials::CredentialList;

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, put))
        .routes(routes!(show, delete))
}

#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/credentials",
    operation_id = "list_credentials",
    tag = "credentials",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 200, description = "The stored credentials (no secret values)", body = CredentialList))
)]
async fn list(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    let data = service::list(state.store(), &org_id).await?;
    Ok(Json(CredentialList { data }).into_response())
}

/// Creates a credential (201), or rotates one of the same type (200).
#[utoipa::path(
    post,
    path = "/orgs/{org_id}/audit-export/credentials",
    operation_id = "put_credential",
    tag = "credentials",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body(
        content = crate::openapi::Object,
        description = "`name`, `type` and the type's secret fields",
        example = json!({"name": "minio-main", "type": "s3_access_key", "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "example-secret"})
    ),
    responses((status = 201, description = "Created", body = relay_core::model::credentials::CredentialView, links(("get_credential" = (operation_id = "get_credential", parameters(("org_id" = "$request.path.org_id"), ("name" = "$response.body#/name")))), ("delete_credential" = (operation_id = "delete_credential", parameters(("org_id" = "$request.path.org_id"), ("name" = "$response.body#/name")))))), (status = 200, description = "Rotated", body = relay_core::model::credentials::CredentialView, links(("get_credential" = (operation_id = "get_credential", parameters(("org_id" = "$request.path.org_id"), ("name" = "$response.body#/name")))), ("delete_credential" = (operation_id = "delete_credential", parameters(("org_id" = "$request.path.org_id"), ("name" = "$response.body#/name")))))))
)]
async fn put(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (view, created) = service::put(
        state.store(),
        state.buckets().sealer(),
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

#[utoipa::path(
    get,
    path = "/orgs/{org_id}/audit-export/credentials/{name}",
    operation_id = "get_credential",
    tag = "credentials",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("name" = String, Path, description = "The credential's name")),
    responses((status = 200, description = "The credential (no secret values)", body = relay_core::model::credentials::CredentialView))
)]
async fn show(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), &org_id, &name).await?).into_response())
}

#[utoipa::path(
    delete,
    path = "/orgs/{org_id}/audit-export/credentials/{name}",
    operation_id = "delete_credential",
    tag = "credentials",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)"), ("name" = String, Path, description = "The credential's name")),
    responses((status = 204, description = "Deleted"))
)]
async fn delete(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    service::delete(state.store(), &org_id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
