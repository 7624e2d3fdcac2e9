//! Data model: the canonical audit event, orgs, API keys, webhook endpoints, notification
//! settings, destination health reports and typed ids.

pub mod bucket;
pub mod class_overrides;
pub mod credentials;
pub mod event;
pub mod event_view;
pub mod export_job;
pub mod file_format;
pub mod health;
pub mod ids;
pub mod notifications;
pub mod org;
pub mod otlp;
pub mod s3_stream;
pub mod webhook;

pub use event::{Actor, ActorType, AuditEvent, Resource};
pub use org::{ApiKey, Org, Role, Scope};
