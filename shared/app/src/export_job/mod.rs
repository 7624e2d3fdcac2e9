//! On-demand export jobs (`POST /v1/audit/export`): a range of the trail, filtered
//! like `GET /v1/audit/logs`, written as JSONL or CSV files of at most 100,000 events into an
//! S3 bucket through the customer's role, asynchronously.
//!
//! [`service`] is what the API calls (create, read, list); [`queue`] the job queue and its
//! messages; [`run`] the runner (streamed, checkpointed per file, continued across
//! invocations, manifest last); [`upload`] the bounded-memory S3 writer; [`encode`] JSONL and
//! spreadsheet-safe CSV; [`trigger`] the `export` function's SQS handler and [`local`] its
//! stand-in for `auditctl serve`.

pub mod encode;
pub mod local;
pub mod queue;
pub mod run;
pub mod service;
pub mod trigger;
pub mod upload;
