//! Aggregate statistics of an org's trail (`GET /v1/audit/summary`, and the summaries of
//! identity and resource trails), kept as counters so that a summary never reads the events
//! of its range. Where counters live is `relay_core::summary`.
//!
//! [`update`] is what the stream fanout calls to count new events exactly once; [`read`]
//! answers summaries.

pub mod read;
pub mod update;
