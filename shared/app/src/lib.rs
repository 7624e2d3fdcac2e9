//! AuditRelay's use cases and pipelines: everything the Lambda functions and `auditctl` run
//! below the HTTP layer, talking to DynamoDB (through `relay_store`), SQS, SNS, S3 and STS
//! through the real SDK clients.
//!
//! [`ingest`] and [`logs`] (the services behind the log endpoints), [`trails`] (identity and
//! resource trails), [`summary`] (aggregate counters), [`actions`] (the action catalogue),
//! [`destinations`] (webhooks, OTLP, the S3 stream and export jobs, one folder each with the
//! same files), [`pipeline`] (what they share: fanout, deliver, retries, pausing, replay, the
//! SSRF-guarded client, the customer's role, SQS batch failures), [`system_events`] (the
//! service's own events in the trail), [`notifications`] (who hears of a failing or paused
//! destination), [`health`] (the destinations' health report), [`clients`] (the AWS
//! clients), [`wiring`] (every
//! pipeline, built once per cold start, for the functions and `auditctl serve` alike) and
//! [`telemetry`].

pub mod actions;
pub mod class_overrides;
pub mod clients;
pub mod credentials;
pub mod deliver;
pub mod destinations;
pub mod fanout;
pub mod files;
pub mod health;
pub mod ingest;
pub mod integrity;
pub mod local;
pub mod logs;
pub mod notifications;
pub mod pipeline;
pub mod summary;
pub mod system_events;
pub mod telemetry;
pub mod trails;
pub mod wiring;
