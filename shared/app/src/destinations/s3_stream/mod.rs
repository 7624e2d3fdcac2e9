//! The S3 stream (the documented "S3-Compatible Storage" destination and the AuditExport
//! API): five-minute JSONL batches into the customer's bucket, written through the IAM role
//! the customer grants.
//!
//! [`service`] is the configuration API; [`encode`] encodes batches and names objects;
//! [`flush`] moves the watermark, exactly once, as the customer's role
//! ([`crate::pipeline::role`]); [`send`] puts one batch object; [`health`] pauses after a
//! streak of failed runs; [`pending`]
//! asks for an early flush at 1,000 events; [`trigger`] is the flush function's handler and
//! [`local`] its stand-in for `auditctl serve`.

pub mod encode;
pub mod flush;
pub mod health;
pub mod local;
pub mod pending;
pub mod send;
pub mod service;
pub mod trigger;

/// The registry's entry.
pub const DESTINATION: super::Destination = super::Destination {
    kind: "s3",
    api: "/orgs/{orgId}/audit-export/config",
    trigger: "EventBridge rate(5 minutes) and the flush queue (flush function)",
};
