//! The `api` Lambda: API Gateway HTTP API (payload v2) → the shared axum router.

use relay_app::{clients, telemetry};
use relay_core::Config;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let clients = clients::Clients::from_env().await;
    let state = relay_api::AppState::new(config, clients).await?;
    lambda_http::run(relay_api::router(state)).await
}
