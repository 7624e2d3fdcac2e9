//! The mechanisms every destination shares, each written once. The stages that use them sit
//! above the destinations: [`crate::fanout`] (the events stream's consumer) and
//! [`crate::deliver`] (the deliveries queue's consumer), with [`crate::local`] standing in for
//! their Lambda triggers in `auditctl serve`.
//!
//! ```text
//! events table ──stream──▶ fanout ──SQS (delivery messages)──▶ deliver ──▶ webhook / OTLP receiver
//!                                                ▲   visibility-timeout backoff │
//!                                                └──────────────────────────────┘──▶ DLQ
//! ```
//!
//! [`stream`] (the events table's stream records, decoded); [`message`] (the queue's message
//! format) and [`queues`] (provisioning); [`consumer`] (what a queue-driven deliverer shares:
//! settings, the received message, visibility backoff); [`sqs_batch`] (batch-failure
//! reporting); [`pause`] (failure streak → pause → trail event → notification); [`replay`]
//! (re-enqueueing a range); [`lanes`] (the fast and slow delivery lanes: slow marks, per-org caps); [`http_client`] and [`ssrf`] (the one outbound HTTP client and its
//! destination rules); [`role`], [`bucket`] and [`bucket_writer`] (the customer's role,
//! opening their bucket on any store, and writing to it); [`poll`] (the local pollers' loop and error). Signing and the retry schedule are
//! pure and live in `relay_core` ([`relay_core::signing`], [`relay_core::retry`]).

pub mod bucket;
pub mod bucket_writer;
pub mod consumer;
pub mod http_client;
pub mod lanes;
pub mod message;
pub mod pause;
pub mod poll;
pub mod queues;
pub mod replay;
pub mod role;
pub mod sqs_batch;
pub mod ssrf;
pub mod stream;
