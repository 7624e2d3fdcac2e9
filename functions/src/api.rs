//! The `api` handler: API Gateway HTTP API (payload v2) → the axum router.

use relay_app::wiring::Wiring;

/// Builds what this function serves once per cold start, then serves its invocations.
pub async fn run() -> Result<(), lambda_http::Error> {
    let wiring = Wiring::from_env().await?;
    let state = relay_api::AppState::new(wiring).await?;
    lambda_http::run(relay_api::router(state)).await
}
