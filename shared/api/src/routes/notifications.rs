//! An org's notification settings, admin/owner only: `GET|PUT /orgs/{orgId}/notifications`
//! (the e-mail addresses told when one of its destinations starts failing or is paused).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::access::OrgAdmin;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use relay_app::notifications::{self as service, Topic};

/// This module's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/orgs/{org_id}/notifications",
        get(get_settings).put(put_settings),
    )
}

fn topic(state: &AppState) -> Topic<'_> {
    Topic {
        sns: &state.clients().sns,
        arn: state.config().notify_topic_arn.as_deref(),
    }
}

async fn get_settings(
    State(state): State<AppState>,
    OrgAdmin { org_id, .. }: OrgAdmin,
) -> Result<Response, ApiError> {
    Ok(Json(service::get(state.store(), topic(&state), &org_id).await?).into_response())
}

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
