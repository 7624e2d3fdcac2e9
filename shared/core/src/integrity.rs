//! Tamper evidence: the digest files that prove a destination's objects are complete and
//! unaltered. Each period (an hour by default) of an org's continuous export gets one digest
//! object, written once every event accepted before the period's end is exported; it lists
//! every object holding those events with its SHA-256 and event count, and is chained to the
//! previous digest by that digest's key, hash and signature. The signature (made by a key the
//! service never exposes) covers a short canonical string ([`signing_string`]) that includes
//! the digest's hash, so the digest's every byte is signed.
//!
//! This module holds the format, the names and the period arithmetic, and nothing that does
//! I/O: the writer and the verifier are in `relay_app::integrity`.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// The version of the digest format (`digestFormatVersion`).
pub const FORMAT_VERSION: &str = "1.0";
/// The signature algorithm of every digest and manifest (KMS `ECDSA_SHA_256` over the
/// [`signing_string`] as a raw message, an ASN.1 DER signature, hex-encoded).
pub const SIGNATURE_ALGORITHM: &str = "ECDSA_SHA_256";
/// Shortest period the settings accept.
pub const MIN_PERIOD_SECS: u64 = 60;
/// The default period: an hour, like CloudTrail's digests.
pub const DEFAULT_PERIOD_SECS: u64 = 3600;
/// The folder under `{prefix}/{tenant_id}/` that holds the digests.
pub const DIGEST_FOLDER: &str = "_digest";
/// The extension of a digest's detached signature (`{digest key}.sig`).
pub const SIGNATURE_SUFFIX: &str = ".sig";
/// The object metadata entry that carries a digest's signature (`x-amz-meta-signature` on S3).
pub const SIGNATURE_METADATA: &str = "signature";

/// One object a digest lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    /// The object's key.
    pub key: String,
    /// Hex SHA-256 of the object's bytes as stored.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// Events it holds.
    pub events: u64,
    /// Its first event's id (acceptance order).
    pub first_event_id: String,
    /// Its last event's id.
    pub last_event_id: String,
    /// When its oldest event was accepted (RFC 3339).
    pub oldest_received_at: String,
    /// When its newest event was accepted.
    pub newest_received_at: String,
}

/// The events a digest covers, in the export's own terms: accepted after `from` and up to
/// `to` (the flush's watermarks, `{received_at}#{event_id}` positions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatermarkRange {
    /// Exclusive lower bound.
    pub from: String,
    /// Inclusive upper bound.
    pub to: String,
}

/// A digest file, as written (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    /// [`FORMAT_VERSION`].
    pub digest_format_version: String,
    /// The org.
    pub org_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Start of the period (inclusive, RFC 3339, whole seconds, UTC).
    pub digest_start_time: String,
    /// End of the period (exclusive).
    pub digest_end_time: String,
    /// The acceptance positions covered.
    pub watermark: WatermarkRange,
    /// Events in all files.
    pub event_count: u64,
    /// The objects holding the events accepted in the period, in acceptance order.
    pub files: Vec<DigestFile>,
    /// The previous digest's key; `None` for the first digest of a chain.
    pub previous_digest_key: Option<String>,
    /// Hex SHA-256 of the previous digest's bytes.
    pub previous_digest_sha256: Option<String>,
    /// The previous digest's signature (hex).
    pub previous_digest_signature: Option<String>,
    /// [`SIGNATURE_ALGORITHM`].
    pub signature_algorithm: String,
    /// Hex SHA-256 of the signing key's public key (DER SubjectPublicKeyInfo).
    pub public_key_fingerprint: String,
}

/// What is signed for a digest (or a manifest): its end time, its key below the export's
/// prefix ([`relative_key`]), the hex SHA-256 of its bytes and the previous signature (empty
/// for the first), one per line. Signing this small string instead of the whole file keeps the
/// KMS request small, and the hash in it binds every byte of the file; the previous signature
/// in it binds the chain. The key is the one below the prefix so that a copy of the bucket
/// under another prefix (or in a local folder) verifies the same.
pub fn signing_string(end_time: &str, key: &str, sha256_hex: &str, previous: &str) -> String {
    format!("{end_time}\n{key}\n{sha256_hex}\n{previous}")
}

/// Whole seconds, UTC, `Z`: how period bounds are written.
pub fn period_time(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(UtcOffset::UTC).format(&fmt).unwrap_or_default()
}

/// Parses a period bound (any RFC 3339 time).
pub fn parse_period_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// The start of the period of `period_secs` that holds `t` (periods are aligned on the Unix
/// epoch, so hourly periods start on the hour).
pub fn period_start(t: OffsetDateTime, period_secs: u64) -> OffsetDateTime {
    let p = i64::try_from(period_secs.max(1)).unwrap_or(i64::MAX);
    let secs = t.unix_timestamp().div_euclid(p) * p;
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The key of the digest of the period ending at `end`:
/// `{prefix}/{tenant_id}/_digest/{YYYY-MM-DD}/{YYYYMMDDTHHMMSSZ}.json`, the date being the
/// end's UTC day.
pub fn digest_key(prefix: &str, tenant_id: &str, end: OffsetDateTime) -> String {
    let end = end.to_offset(UtcOffset::UTC);
    let day = format_description!("[year]-[month]-[day]");
    let stamp = format_description!("[year][month][day]T[hour][minute][second]Z");
    let base = if prefix.is_empty() {
        tenant_id.to_string()
    } else {
        format!("{prefix}/{tenant_id}")
    };
    format!(
        "{base}/{DIGEST_FOLDER}/{}/{}.json",
        end.format(&day).unwrap_or_default(),
        end.format(&stamp).unwrap_or_default()
    )
}

/// A digest's key from its tenant folder on (`{tenant_id}/_digest/{day}/{stamp}.json`, the
/// last four segments): the name a copy keeps wherever it is put.
pub fn relative_key(key: &str) -> &str {
    last_segments(key, 4)
}

/// An export job's manifest key from its `exports` folder on
/// (`exports/{export_id}/manifest.json`): what its signature covers, for the same reason.
pub fn manifest_relative_key(key: &str) -> &str {
    last_segments(key, 3)
}

fn last_segments(key: &str, n: usize) -> &str {
    let mut cut = key.len();
    for _ in 0..n {
        match key[..cut].rfind('/') {
            Some(i) => cut = i,
            None => return key,
        }
    }
    &key[cut + 1..]
}

/// Whether `key` names a digest (`…/_digest/…/….json`).
pub fn is_digest_key(key: &str) -> bool {
    key.contains(&format!("/{DIGEST_FOLDER}/")) && key.ends_with(".json")
}

/// Hex encoding (lower case).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hex; `None` when it is not.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn periods_align_on_the_epoch() {
        let t = datetime!(2026-05-22 10:31:07.5 UTC);
        assert_eq!(period_start(t, 3600), datetime!(2026-05-22 10:00 UTC));
        assert_eq!(period_start(t, 60), datetime!(2026-05-22 10:31 UTC));
        assert_eq!(
            period_time(datetime!(2026-05-22 11:00 UTC)),
            "2026-05-22T11:00:00Z"
        );
    }

    #[test]
    fn digest_keys_follow_the_documented_pattern() {
        let end = datetime!(2026-05-23 00:00 UTC);
        assert_eq!(
            digest_key("audit-logs", "ten_1", end),
            "audit-logs/ten_1/_digest/2026-05-23/20260523T000000Z.json"
        );
        assert_eq!(
            digest_key("", "ten_1", end),
            "ten_1/_digest/2026-05-23/20260523T000000Z.json"
        );
        assert!(is_digest_key(
            "audit-logs/ten_1/_digest/2026-05-23/20260523T000000Z.json"
        ));
        assert!(!is_digest_key("audit-logs/ten_1/2026-05-23/x.jsonl"));
    }

    #[test]
    fn relative_keys_start_at_the_tenant() {
        assert_eq!(
            relative_key("a/b/ten_1/_digest/2026-05-23/20260523T000000Z.json"),
            "ten_1/_digest/2026-05-23/20260523T000000Z.json"
        );
        assert_eq!(
            relative_key("ten_1/_digest/2026-05-23/20260523T000000Z.json"),
            "ten_1/_digest/2026-05-23/20260523T000000Z.json"
        );
    }

    #[test]
    fn the_signing_string_binds_end_key_hash_and_chain() {
        assert_eq!(signing_string("E", "K", "H", ""), "E\nK\nH\n");
        assert_eq!(signing_string("E", "K", "H", "P"), "E\nK\nH\nP");
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("000fff"), Some(vec![0, 15, 255]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn digests_are_camel_case_json() {
        let d = Digest {
            digest_format_version: FORMAT_VERSION.into(),
            org_id: "org_1".into(),
            tenant_id: "ten_1".into(),
            digest_start_time: "2026-05-22T10:00:00Z".into(),
            digest_end_time: "2026-05-22T11:00:00Z".into(),
            watermark: WatermarkRange {
                from: "a".into(),
                to: "b".into(),
            },
            event_count: 0,
            files: vec![],
            previous_digest_key: None,
            previous_digest_sha256: None,
            previous_digest_signature: None,
            signature_algorithm: SIGNATURE_ALGORITHM.into(),
            public_key_fingerprint: "f".into(),
        };
        let v = serde_json::to_value(&d).unwrap();
        for k in [
            "orgId",
            "tenantId",
            "digestStartTime",
            "digestEndTime",
            "files",
            "previousDigestKey",
            "previousDigestSha256",
            "previousDigestSignature",
            "signatureAlgorithm",
            "publicKeyFingerprint",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["previousDigestKey"], serde_json::Value::Null);
    }
}
