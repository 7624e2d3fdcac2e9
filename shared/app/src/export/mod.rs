//! S3 export (the documented "S3-Compatible Storage" destination and the AuditExport API):
//! five-minute JSONL batches into the customer's bucket, written through the IAM role the
//! customer grants.
//!
//! [`role`] assumes the customer's role with the org's ExternalId; [`batch`] encodes batches
//! and names objects; [`connection`] is the write+delete dry run; [`flush`] moves the
//! watermark, exactly once; [`pending`] asks for an early flush at 1,000 events.

pub mod batch;
pub mod connection;
pub mod flush;
pub mod local;
pub mod pending;
pub mod role;
pub mod trigger;
