//! The HTTP API: one axum router, run by the `api` Lambda (through lambda_http) and by
//! `auditctl serve` (through hyper), so both execute the same handlers.

pub mod access;
pub mod console;
pub mod error;
mod extract;
pub mod openapi;
mod routes;

use std::sync::Arc;

use axum::Router;

use crate::error::ApiError;
use relay_app::clients::Clients;
use relay_app::pipeline::bucket::Buckets;
use relay_app::pipeline::http_client::{ClientBuildError, WebhookClient};
use relay_app::wiring::Wiring;
use relay_core::config::Config;
use relay_core::cursor::CursorSigner;
use relay_core::error::Error;
use relay_store::error::StoreError;
use relay_store::Store;

pub use extract::MAX_BODY_BYTES;

/// Everything a request handler needs; built once per cold start.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    cursors: CursorSigner,
    config: Config,
    clients: Clients,
    webhook_client: WebhookClient,
    buckets: Buckets,
}

/// Why the API state could not be built at cold start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Reading or creating the server secrets failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The outbound HTTP client (webhook tests) could not be built.
    #[error(transparent)]
    HttpClient(#[from] ClientBuildError),
}

impl AppState {
    /// Builds the state from the process's wiring: its store and outbound HTTP client, and the
    /// cursor key (read, or created on the very first start, from the config table).
    pub async fn new(wiring: Wiring) -> Result<Self, StartupError> {
        let store = wiring.store();
        let cursors = CursorSigner::new(store.system_secret("cursor").await?);
        let webhook_client = wiring.webhook_client()?;
        let buckets = wiring.buckets();
        Ok(AppState {
            inner: Arc::new(Inner {
                store,
                cursors,
                config: wiring.config,
                clients: wiring.clients,
                webhook_client,
                buckets,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The AWS clients.
    pub fn clients(&self) -> &Clients {
        &self.inner.clients
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The cursor signer.
    pub fn cursors(&self) -> &CursorSigner {
        &self.inner.cursors
    }

    /// Customers' buckets (connection tests, endpoint and credential checks, sealing).
    pub fn buckets(&self) -> &Buckets {
        &self.inner.buckets
    }

    /// The outbound client of webhook deliveries (for `POST .../test`).
    pub fn webhook_client(&self) -> &WebhookClient {
        &self.inner.webhook_client
    }
}

/// The API's routes: the documented ones ([`openapi::document`]) and the console's files.
pub fn router(state: AppState) -> Router {
    let (api, _) = routes::api().split_for_parts();
    api.merge(routes::console::routes())
        .fallback(|| async { ApiError::from(Error::NotFound("route")) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}
