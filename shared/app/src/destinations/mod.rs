//! Where an org's trail goes. Every destination is one folder with the same files:
//!
//! | file | what |
//! |---|---|
//! | `service.rs` | its configuration API: what the routes call (read, write, test, replay) |
//! | `encode.rs` | what the receiver gets: the bytes of one request or file |
//! | `send.rs` | one request or upload, and what the answer means |
//! | `health.rs` | when it is paused (or, for a job, failed), through [`crate::pipeline::pause`]; its part of the health report (`report`) |
//!
//! plus the driver its trigger runs (`deliver.rs` for queue-driven destinations, `flush.rs`
//! for the S3 stream, `run.rs` for export jobs). What they share (fanout, the deliveries queue,
//! retries, pausing, replay, the SSRF-guarded client, the customer's role, SQS batch failures)
//! is in [`crate::pipeline`], once.
//!
//! [`REGISTRY`] lists them; adding one is a folder here and a line there (see
//! `docs/architecture.md`, "How to add a destination").

pub mod export_job;
pub mod otlp;
pub mod s3_stream;
pub mod webhook;

/// A kind of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// Its name in trail events and notifications (`security.audit_export_paused`'s
    /// `metadata.destination`).
    pub kind: &'static str,
    /// Its configuration API, under `/orgs/{orgId}/audit-export/` or `/v1/audit/`.
    pub api: &'static str,
    /// What triggers its delivery.
    pub trigger: &'static str,
}

/// Every destination, in the order the docs describe them.
pub const REGISTRY: &[Destination] = &[
    webhook::DESTINATION,
    otlp::DESTINATION,
    s3_stream::DESTINATION,
    export_job::DESTINATION,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique() {
        let mut kinds: Vec<&str> = REGISTRY.iter().map(|d| d.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), REGISTRY.len());
    }
}
