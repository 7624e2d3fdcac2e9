//! The mechanisms every destination shares, each written once:
//!
//! ```text
//! events table ──stream──▶ fanout ──SQS (delivery messages)──▶ deliver ──▶ webhook / OTLP receiver
//!                                                ▲   visibility-timeout backoff │
//!                                                └──────────────────────────────┘──▶ DLQ
//! ```
//!
//! [`stream`] (the events table's stream records, decoded), [`fanout`] (the stream's consumer: delivery messages, counters, early-flush requests) and
//! [`deliver`] (the deliveries queue's consumer, dispatching to each destination's deliverer);
//! [`message`] (the queue's message format) and [`queues`] (provisioning); [`sqs_batch`]
//! (batch-failure reporting); [`pause`] (failure streak → pause → trail event →
//! notification); [`replay`] (re-enqueueing a range); [`http_client`] and [`ssrf`] (the one
//! outbound HTTP client and its destination rules); [`role`] and [`bucket`] (the customer's
//! role, and writing to their bucket); [`local`] (pollers standing in for the Lambda
//! triggers in `auditctl serve`). Signing and the retry schedule are pure and live in
//! `relay_core` ([`relay_core::signing`], [`relay_core::retry`]).

pub mod bucket;
pub mod consumer;
pub mod http_client;
pub mod message;
pub mod pause;
pub mod poll;
pub mod queues;
pub mod replay;
pub mod role;
pub mod sqs_batch;
pub mod ssrf;
pub mod stream;
