//! AuditRelay's shared library: everything the Lambda functions and `auditctl` run.
//!
//! Organised by concern: [`model`] (events, orgs, keys, ids), [`store`] (DynamoDB),
//! [`auth`] (API keys), [`cursor`] (pagination tokens), [`query`] (log filters),
//! [`ingest`] and [`logs`] (the services behind the endpoints), [`webhooks`] (the webhook
//! endpoints API), [`delivery`] (signing, retries, SSRF guard, fanout and deliver), [`otel`]
//! (OTLP log export over the same delivery path), [`http`]
//! (routing and the one mapping of errors to HTTP), [`error`], [`config`], [`clients`],
//! [`telemetry`]; [`summary`] (aggregate counters), [`trails`] (identity and resource trails)
//! and [`export_job`] (on-demand jsonl/csv exports).

pub mod actions;
pub mod auth;
pub mod clients;
pub mod config;
pub mod console;
pub mod cursor;
pub mod decode;
pub mod delivery;
pub mod error;
pub mod export;
pub mod export_job;
pub mod http;
pub mod ingest;
pub mod invocation;
pub mod logs;
pub mod model;
pub mod notify;
pub mod otel;
pub mod query;
pub mod store;
pub mod summary;
pub mod telemetry;
pub mod trail;
pub mod trails;
pub mod webhooks;

pub use config::Config;
pub use error::ApiError;
