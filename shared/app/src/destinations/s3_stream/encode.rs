//! Batch encoding and object naming.
//!
//! Object keys follow the documented path pattern:
//! `{prefix}/{tenant_id}/{YYYY-MM-DD}/{batch_id}.jsonl`, where the date is the UTC day the
//! batch's first event was accepted and the batch id is derived from that event's position
//! (`{yyyymmddThhmmss}Z-{hash}`): the same batch always gets the same key, so a retried or
//! resumed flush overwrites instead of duplicating.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use relay_core::auth::sha256_hex;
use relay_core::model::s3_stream::ExportFormat;

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
    format: ExportFormat,
) -> String {
    let date = first_rcv_sk.get(..10).unwrap_or("1970-01-01");
    format!("{prefix}/{tenant_id}/{date}/{batch_id}.{}", format.as_str())
}

/// Encodes canonical events (one JSON document each) as JSONL, gzip-compressed for
/// `jsonl.gz`.
pub fn encode<'a>(
    docs: impl IntoIterator<Item = &'a str>,
    format: ExportFormat,
) -> std::io::Result<Vec<u8>> {
    let mut jsonl = Vec::new();
    for d in docs {
        jsonl.extend_from_slice(d.as_bytes());
        jsonl.push(b'\n');
    }
    match format {
        ExportFormat::Jsonl => Ok(jsonl),
        ExportFormat::JsonlGz => {
            let mut gz = GzEncoder::new(Vec::with_capacity(jsonl.len() / 4), Compression::new(6));
            gz.write_all(&jsonl)?;
            gz.finish()
        }
    }
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
        let key = object_key("audit-logs", "ten_01ABCDEFG", RCV, &id, ExportFormat::Jsonl);
        assert_eq!(
            key,
            format!("audit-logs/ten_01ABCDEFG/2026-05-22/{id}.jsonl")
        );
        let gz = object_key("p", "t", RCV, &id, ExportFormat::JsonlGz);
        assert!(gz.ends_with(".jsonl.gz"));
    }

    #[test]
    fn jsonl_and_gzip_round_trip() {
        let docs = [r#"{"a":1}"#, r#"{"b":"x\ny"}"#];
        let plain = encode(docs, ExportFormat::Jsonl).unwrap();
        assert_eq!(plain, b"{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
        let gz = encode(docs, ExportFormat::JsonlGz).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
        assert_eq!(
            gz,
            encode(docs, ExportFormat::JsonlGz).unwrap(),
            "deterministic bytes"
        );
    }
}
