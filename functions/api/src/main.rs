//! The `api` Lambda: API Gateway HTTP API (payload v2) → the shared axum router.

use shared::{clients, http, telemetry, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let clients = clients::Clients::from_env().await;
    let state = http::AppState::new(config, clients).await?;
    lambda_http::run(http::router(state)).await
}
