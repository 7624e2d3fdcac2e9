//! AuditRelay's use cases and pipelines: everything the Lambda functions and `auditctl` run
//! below the HTTP layer, talking to DynamoDB (through `relay_store`), SQS, SNS, S3 and STS
//! through the real SDK clients.
//!
//! [`ingest`] and [`logs`] (the services behind the log endpoints), [`trails`] (identity and
//! resource trails), [`summary`] (aggregate counters), [`actions`] (the action catalogue),
//! [`webhooks`] (the webhook endpoints API), [`delivery`] (fanout, deliver, the SSRF-guarded
//! client, queues, replay), [`otel`] (OTLP log export over the same delivery path),
//! [`export`] (the five-minute S3 stream), [`export_job`] (on-demand jsonl/csv exports),
//! [`notify`] and [`system_events`] (pauses recorded in the trail and announced), [`clients`]
//! (the AWS clients), [`wiring`] (every pipeline, built once per cold start, for the
//! functions and `auditctl serve` alike) and [`telemetry`].

pub mod actions;
pub mod clients;
pub mod delivery;
pub mod export;
pub mod export_job;
pub mod ingest;
pub mod logs;
pub mod notify;
pub mod otel;
pub mod summary;
pub mod system_events;
pub mod telemetry;
pub mod trails;
pub mod webhooks;
pub mod wiring;
