//! Handlers, one module per resource: decode, check access (by extractor), call the service in
//! `relay_app`, encode. No storage calls here.

pub mod actions;
pub mod audit;
pub mod class_overrides;
pub mod console;
pub mod credentials;
pub mod export_jobs;
pub mod health;
pub mod integrity;
pub mod logs;
pub mod notifications;
pub mod otlp;
pub mod s3_stream;
pub mod webhooks;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Every documented route (all but the console's files), with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(logs::routes())
        .merge(s3_stream::routes())
        .merge(credentials::routes())
        .merge(webhooks::routes())
        .merge(actions::routes())
        .merge(otlp::routes())
        .merge(audit::routes())
        .merge(export_jobs::routes())
        .merge(notifications::routes())
        .merge(class_overrides::routes())
        .merge(integrity::routes())
        .merge(health::routes())
        .routes(routes!(crate::openapi::serve))
}
