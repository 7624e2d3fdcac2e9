//! Batch encoding and object naming.
//!
//! A batch is written in the destination's shape and format ([`crate::files`]). Object keys
//! follow the documented path pattern: `{prefix}/{tenant_id}/{YYYY-MM-DD}/{batch_id}.jsonl`
//! (the extension is the format's: `.jsonl.gz`, `.csv`, `.csv.gz`, `.parquet`), where the date is the UTC day the
//! batch's first event was accepted and the batch id is derived from that event's position
//! (`{yyyymmddThhmmss}Z-{hash}`): the same batch always gets the same key, so a retried or
//! resumed flush overwrites instead of duplicating.

use crate::files::{self, FileError, StoredEvent};
use relay_core::auth::sha256_hex;
use relay_core::model::file_format::FileFormat;
use relay_core::model::s3_stream::S3Destination;
use relay_core::shapes::ShapeContext;
use relay_store::events::Received;

/// The deterministic id of the batch that starts at `first_rcv_sk` (a `rcv_sk`:
/// `{fixed-width UTC time}#{event_id}`).
pub fn batch_id(org_id: &str, first_rcv_sk: &str) -> String {
    // "2026-05-22T10:31:00.123456789Z#…" → "20260522T103100123Z" (millisecond precision).
    let digits: String = first_rcv_sk
        .chars()
        .take(23)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let hash = sha256_hex(format!("{org_id}\n{first_rcv_sk}").as_bytes());
    format!("{digits}Z-{}", &hash[..16])
}

/// The object key of a batch.
pub fn object_key(
    prefix: &str,
    tenant_id: &str,
    first_rcv_sk: &str,
    batch_id: &str,
    format: FileFormat,
) -> String {
    let date = first_rcv_sk.get(..10).unwrap_or("1970-01-01");
    format!("{prefix}/{tenant_id}/{date}/{batch_id}.{}", format.as_str())
}

/// Encodes a batch of stored events as `dest`'s file, for the org whose tenant is
/// `tenant_id`.
pub fn encode(
    batch: &[Received],
    dest: &S3Destination,
    tenant_id: &str,
) -> Result<Vec<u8>, FileError> {
    let events: Vec<StoredEvent<'_>> = batch
        .iter()
        .map(|r| StoredEvent {
            doc: &r.doc,
            // `rcv_sk` is `{received_at}#{event_id}`.
            received_at: r.rcv_sk.split('#').next().unwrap_or_default(),
        })
        .collect();
    files::encode(
        &events,
        dest.schema,
        dest.format,
        &ShapeContext::new(tenant_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const RCV: &str = "2026-05-22T10:31:00.123456789Z#evt_01";

    #[test]
    fn keys_follow_the_seed_pattern_and_are_deterministic() {
        let id = batch_id("org_1", RCV);
        assert_eq!(id, batch_id("org_1", RCV));
        assert_ne!(id, batch_id("org_2", RCV));
        assert!(id.starts_with("20260522T103100123Z-"), "{id}");
        let key = object_key("audit-logs", "ten_01ABCDEFG", RCV, &id, FileFormat::Jsonl);
        assert_eq!(
            key,
            format!("audit-logs/ten_01ABCDEFG/2026-05-22/{id}.jsonl")
        );
        let gz = object_key("p", "t", RCV, &id, FileFormat::JsonlGz);
        assert!(gz.ends_with(".jsonl.gz"));
    }

    #[test]
    fn jsonl_and_gzip_round_trip() {
        use relay_core::shapes::Schema;
        let docs = [r#"{"a":1}"#, r#"{"b":"x\ny"}"#];
        let events: Vec<StoredEvent<'_>> = docs
            .iter()
            .map(|d| StoredEvent {
                doc: d,
                received_at: "2026-05-22T10:31:00Z",
            })
            .collect();
        let ctx = ShapeContext::new("t");
        let plain = files::encode(&events, Schema::Canonical, FileFormat::Jsonl, &ctx).unwrap();
        assert_eq!(plain, b"{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
        let gz = files::encode(&events, Schema::Canonical, FileFormat::JsonlGz, &ctx).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
        assert_eq!(
            gz,
            files::encode(&events, Schema::Canonical, FileFormat::JsonlGz, &ctx).unwrap(),
            "deterministic bytes"
        );
    }
}
