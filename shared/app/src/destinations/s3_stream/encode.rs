//! Batch encoding and object naming.
//!
//! A batch is written in the destination's shape and format ([`crate::files`]). In the
//! standard layout it is one object, named after the documented path pattern:
//! `{prefix}/{tenant_id}/{YYYY-MM-DD}/{batch_id}.jsonl` (the extension is the format's:
//! `.jsonl.gz`, `.csv`, `.csv.gz`, `.parquet`), where the date is the UTC day the batch's
//! first event was accepted and the batch id is derived from that event's position
//! (`{yyyymmddThhmmss}Z-{hash}`): the same batch always gets the same key, so a retried or
//! resumed flush overwrites instead of duplicating.
//!
//! In the Amazon Security Lake layout a batch is one nested-Parquet object per OCSF class and
//! UTC event day it holds ([`crate::files::ocsf_parquet`]), each under its class's custom
//! source: `ext/{source}/region={region}/accountId={account}/eventDay={YYYYMMDD}/{batch_id}.parquet`.
//! The grouping depends only on the batch's events, and every object of a batch carries the
//! batch's id, so the same batch again gives the same objects under the same keys.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;

use crate::files::{self, ocsf_parquet, FileError, StoredEvent};
use relay_core::auth::sha256_hex;
use relay_core::model::event::AuditEvent;
use relay_core::model::file_format::FileFormat;
use relay_core::model::s3_stream::{Layout, S3Destination, SecurityLake};
use relay_core::shapes::ocsf::{self, Class};
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

/// The object key of a batch in the standard layout.
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

/// One object of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchObject {
    /// Its key in the bucket.
    pub key: String,
    /// Its bytes.
    pub body: Vec<u8>,
}

fn stored(batch: &[Received]) -> Vec<StoredEvent<'_>> {
    batch
        .iter()
        .map(|r| StoredEvent {
            doc: &r.doc,
            // `rcv_sk` is `{received_at}#{event_id}`.
            received_at: r.rcv_sk.split('#').next().unwrap_or_default(),
        })
        .collect()
}

/// Encodes a batch of stored events as `dest`'s file in the org's context `ctx` (its tenant
/// and OCSF class overrides): the standard layout's one object.
pub fn encode(
    batch: &[Received],
    dest: &S3Destination,
    ctx: &ShapeContext,
) -> Result<Vec<u8>, FileError> {
    files::encode(&stored(batch), dest.schema, dest.format, ctx)
}

/// The UTC day (`YYYYMMDD`) of an OCSF record's `time` (epoch milliseconds).
pub fn event_day(record: &Value) -> String {
    let millis = record.get("time").and_then(Value::as_i64).unwrap_or(0);
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The Security Lake objects of a batch: its events as OCSF records, grouped by class and
/// event day (each group in acceptance order), one Parquet object per group.
pub fn security_lake_objects(
    events: &[StoredEvent<'_>],
    lake: &SecurityLake,
    prefix: &str,
    batch_id: &str,
    ctx: &ShapeContext,
) -> Result<Vec<BatchObject>, FileError> {
    let mut groups: BTreeMap<(u32, String), (Class, Vec<Value>)> = BTreeMap::new();
    for e in events {
        let event: AuditEvent =
            serde_json::from_str(e.doc).map_err(|err| FileError::Event(err.to_string()))?;
        let record = ocsf::record(&event, Some(e.received_at), ctx);
        let class = ocsf_parquet::class_of(&record)
            .ok_or_else(|| FileError::Encode("an OCSF record without a class".into()))?;
        groups
            .entry((class.uid(), event_day(&record)))
            .or_insert_with(|| (class, Vec::new()))
            .1
            .push(record);
    }
    groups
        .into_iter()
        .map(|((_, day), (class, records))| {
            let body = ocsf_parquet::encode(class, &records)
                .map_err(|err| FileError::Encode(err.to_string()))?;
            Ok(BatchObject {
                key: lake.object_key(prefix, class, &day, batch_id),
                body,
            })
        })
        .collect()
}

/// Every object of a batch in `dest`'s layout, for the org `org_id` whose tenant is
/// `tenant_id`: the same batch always gives the same keys and bytes.
pub fn batch_objects(
    batch: &[Received],
    dest: &S3Destination,
    org_id: &str,
    ctx: &ShapeContext,
) -> Result<Vec<BatchObject>, FileError> {
    let tenant_id = ctx.tenant_id.as_str();
    let Some(first) = batch.first() else {
        return Ok(Vec::new());
    };
    let id = batch_id(org_id, &first.rcv_sk);
    match &dest.layout {
        Layout::Standard => Ok(vec![BatchObject {
            key: object_key(
                &dest.target.prefix,
                tenant_id,
                &first.rcv_sk,
                &id,
                dest.format,
            ),
            body: encode(batch, dest, ctx)?,
        }]),
        Layout::SecurityLake(lake) => {
            security_lake_objects(&stored(batch), lake, &dest.target.prefix, &id, ctx)
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
        let key = object_key("audit-logs", "ten_01ABCDEFG", RCV, &id, FileFormat::Jsonl);
        assert_eq!(
            key,
            format!("audit-logs/ten_01ABCDEFG/2026-05-22/{id}.jsonl")
        );
        let gz = object_key("p", "t", RCV, &id, FileFormat::JsonlGz);
        assert!(gz.ends_with(".jsonl.gz"));
    }

    #[test]
    fn security_lake_batches_split_by_class_and_event_day_with_stable_keys() {
        let lake = SecurityLake {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            sources: ["ar_acct".into(), "ar_auth".into(), "ar_api".into()],
        };
        let docs: Vec<String> = [
            ("user_login", "2026-05-22T23:59:59.999Z"),
            ("document.opened", "2026-05-22T10:00:00Z"),
            ("user.password_reset", "2026-05-23T01:00:00+02:00"),
            ("document.deleted", "2026-05-23T00:00:00Z"),
            ("user_logout", "2026-05-22T12:00:00Z"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (a, t))| {
            serde_json::json!({"event_id": format!("evt_{i}"), "timestamp": t, "action": a,
                "actor": {"user_id": "u"}, "tenant_id": "ten_1", "received_at": "2026-05-23T00:00:01Z"})
            .to_string()
        })
        .collect();
        let events: Vec<StoredEvent<'_>> = docs
            .iter()
            .map(|d| StoredEvent {
                doc: d,
                received_at: "2026-05-23T00:00:01Z",
            })
            .collect();
        let ctx = ShapeContext::new("ten_1");
        let objs = security_lake_objects(&events, &lake, "", "B", &ctx).unwrap();
        let keys: Vec<&str> = objs.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ext/ar_acct/region=us-east-1/accountId=123456789012/eventDay=20260522/B.parquet",
                "ext/ar_auth/region=us-east-1/accountId=123456789012/eventDay=20260522/B.parquet",
                "ext/ar_api/region=us-east-1/accountId=123456789012/eventDay=20260522/B.parquet",
                "ext/ar_api/region=us-east-1/accountId=123456789012/eventDay=20260523/B.parquet",
            ]
        );
        assert_eq!(
            objs,
            security_lake_objects(&events, &lake, "", "B", &ctx).unwrap(),
            "same batch, same objects"
        );
        assert_eq!(event_day(&serde_json::json!({"time": 0})), "19700101");
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
