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
