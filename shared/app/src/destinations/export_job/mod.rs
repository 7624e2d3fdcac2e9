//! On-demand export jobs (`POST /v1/audit/export`): a range of the trail, filtered
//! like `GET /v1/audit/logs`, written in a shape (`schema`) and `format` of the continuous
//! export's table (JSONL, CSV, Parquet, gzip; `crate::files` writes them) as files of at most
//! 100,000 events into an S3 bucket through the customer's role, asynchronously.
//!
//! [`service`] is what the API calls (create, read, list); [`queue`] the job queue and its
//! messages; [`run`] the runner (streamed, checkpointed per file, continued across
//! invocations, manifest last); [`send`] the bounded-memory S3 writer; [`health`] when a job
//! is given up; [`trigger`] the `export` function's SQS handler and [`local`] its
//! stand-in for `auditctl serve`.

pub mod health;
pub mod local;
pub mod queue;
pub mod run;
pub mod send;
pub mod service;
pub mod trigger;

/// The registry's entry.
pub const DESTINATION: super::Destination = super::Destination {
    kind: "export_job",
    api: "/v1/audit/export",
    trigger: "the export-jobs queue (export function)",
};
