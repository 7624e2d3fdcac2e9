//! Handlers, one module per concern: decode, authorise, call the service in `shared`, encode.
//! No storage calls here.

pub mod actions;
pub mod audit;
pub mod console;
pub mod export_jobs;
pub mod exports;
pub mod logs;
pub mod otel;
pub mod webhooks;
