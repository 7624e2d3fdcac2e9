//! An org's notification settings, admin/owner only: `GET|PUT /orgs/{orgId}/notifications`
//! (the e-mail addresses told when one of its destinations starts failing or is paused).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use relay_app::notifications::{self as service, Topic};

/// This module's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, put_settings))
}

fn topic(state: &AppState) -> Topic<'_> {
    Topic {
        sns: &state.clients().sns,
        arn: state.config().notify_topic_arn.as_deref(),
    }
}

#[utoipa::path(
    get,
    path = "/orgs/{org_id}/notifications",
    operation_id = "get_notifications",
    tag = "org",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    responses((status = 200, description = "The settings", body = relay_core::model::notifications::NotificationSettingsView))
)]
async fn get_settings(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), topic(&state), &org_id).await?).into_response())
}

#[utoipa::path(
    put,
    path = "/orgs/{org_id}/notifications",
    operation_id = "put_notifications",
    tag = "org",
    params(("org_id" = String, Path, description = "The org's id (the caller's own)")),
    request_body = relay_core::model::notifications::NotificationSettingsInput,
    responses((status = 200, description = "The settings, replaced", body = relay_core::model::notifications::NotificationSettingsView))
)]
async fn put_settings(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let view = service::put(
        state.store(),
        topic(&state),
        &org_id,
        body,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(view).into_response())
}
