//! AuditRelay's core: the event model, its validation, typed ids, the query filters and
//! cursors, the settings, webhook signing and the retry schedule. Pure code: no AWS SDK, no
//! HTTP server. Every other crate builds on it; it builds on none of them.
//!
//! [`model`] (events, orgs, keys, destination configs, ids), [`decode`] (JSON with field
//! paths), [`query`] (log filters and page positions), [`cursor`] (signed pagination tokens),
//! [`auth`] (API-key tokens and the caller's access), [`summary`] (where counters live),
//! [`signing`] (Standard Webhooks signatures), [`retry`] (the delivery schedule),
//! [`invocation`] (deadlines), [`config`] (settings), [`error`] (the domain error), [`shapes`]
//! (the export shapes: canonical, columnar, the log entry, OCSF).

pub mod auth;
pub mod config;
pub mod cursor;
pub mod decode;
pub mod error;
pub mod integrity;
pub mod invocation;
pub mod limits;
pub mod model;
pub mod query;
pub mod retry;
pub mod shapes;
pub mod signing;
pub mod summary;

pub use config::Config;
pub use error::Error;
