//! Aggregate statistics of an org's trail (seed 004's `GET /v1/audit/summary`, and the
//! summaries of identity and resource trails), kept as counters so that a summary never
//! reads the events of its range.
//!
//! [`buckets`] says where counters live and which of them a range reads; [`counts`] reads the
//! facts of an event; [`count`] is what the stream fanout calls to count new events exactly
//! once; [`read`] answers summaries.

pub mod buckets;
pub mod count;
pub mod counts;
pub mod read;
