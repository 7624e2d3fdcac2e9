//! Aggregate statistics of an org's trail (`GET /v1/audit/summary`, and the summaries of
//! identity and resource trails), kept as counters so that a summary never reads the events
//! of its range. Where counters live is `relay_core::summary`.
//!
//! [`stream`] is the events stream's consumer that counts new events exactly once, through
//! [`update`]; [`read`] answers summaries.

pub mod read;
pub mod stream;
pub mod update;
