//! Delivery of events to webhook endpoints (the documented "Webhook (SIEM)" destination):
//!
//! ```text
//! events table ──stream──▶ fanout ──SQS (one message per endpoint × event)──▶ deliver ──▶ receiver
//!                                                     ▲   visibility-timeout backoff │
//!                                                     └──────────────────────────────┘──▶ DLQ
//! ```
//!
//! Signing and the retry schedule are pure and live in `relay_core` ([`relay_core::signing`],
//! [`relay_core::retry`]);
//! [`ssrf`] (destination rules), [`http_client`] (the one outbound client), [`message`] (the
//! queue's message format), [`fanout`] and [`deliver`] (the two functions' logic),
//! [`queues`] (provisioning), [`local`] (pollers standing in for the Lambda triggers).

pub mod deliver;
pub mod fanout;
pub mod http_client;
pub mod local;
pub mod message;
pub mod queues;
pub mod replay;
pub mod ssrf;
