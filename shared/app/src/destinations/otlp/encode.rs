//! The wire format: audit events → one OTLP `LogRecord` each, in an `ExportLogsServiceRequest`
//! built from the official OpenTelemetry protobuf definitions (`opentelemetry-proto`),
//! encoded with prost and gzipped above 1 KiB.
//!
//! | LogRecord | from the event |
//! |---|---|
//! | `time_unix_nano` | `timestamp` |
//! | `observed_time_unix_nano` | `received_at` |
//! | `severity_number` / `severity_text` | `INFO` (9), `WARN` (13) when `success` is false |
//! | `body` | the canonical event JSON (string) |
//! | `event_name` and attribute `event.name` | `action` |
//! | `log.record.uid` | `event_id` |
//! | `user.id`, `user.email` | `actor.user_id`, `actor.email` |
//! | `client.address` | `actor.ip_address` |
//! | `user_agent.original` | `actor.user_agent` |
//! | `audit.actor.type` | `actor.type` |
//! | `audit.resource.type`, `audit.resource.id`, `audit.resource.name` | `resource.*` |
//! | `audit.project`, `audit.tenant_id`, `audit.success`, `audit.request_id`, `audit.duration_ms` | the fields of the same name |
//!
//! Resource attributes: `service.name` = `auditrelay`, `audit.tenant_id`; instrumentation scope
//! `auditrelay` with the crate's version.
//!
//! With the `ocsf` schema the body is the event's OCSF record (JSON string) instead, and the
//! record's classification rides along as attributes: `ocsf.class_uid`, `ocsf.category_uid`,
//! `ocsf.activity_id`, `ocsf.type_uid`, `ocsf.status_id`, `ocsf.version`.

use std::io::Write;

use crate::pipeline::http_client::{failure_reason, sanitize_reason};
use relay_core::model::event::AuditEvent;
use relay_core::shapes::{ocsf, Schema, ShapeContext};

use flate2::write::GzEncoder;
use flate2::Compression;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use relay_core::model::event_view::EventView;

/// `service.name` of every record's resource.
pub const SERVICE_NAME: &str = "auditrelay";
/// Bodies larger than this are gzipped.
pub const GZIP_ABOVE: usize = 1024;
/// `Content-Type` of OTLP/HTTP protobuf requests.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// A stored event that is not the canonical JSON (never expected: the API wrote it).
#[derive(Debug, thiserror::Error)]
#[error("event {event_id}: not a canonical event: {detail}")]
pub struct RecordError {
    /// The event.
    pub event_id: String,
    /// What failed.
    pub detail: String,
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn unix_nanos(field: &str, text: &str) -> Result<u64, String> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| format!("{field}: {e}"))?;
    u64::try_from(t.unix_timestamp_nanos()).map_err(|_| format!("{field}: before 1970"))
}

/// One event's record in `schema` (OCSF records in `ctx`, the org's context), and its tenant
/// (for the resource).
pub fn log_record(
    doc: &str,
    schema: Schema,
    ctx: &ShapeContext,
) -> Result<(LogRecord, String), RecordError> {
    let ev: EventView<'_> = serde_json::from_str(doc).map_err(|e| RecordError {
        event_id: String::new(),
        detail: e.to_string(),
    })?;
    let err = |detail: String| RecordError {
        event_id: ev.event_id.to_string(),
        detail,
    };
    let time_unix_nano = unix_nanos("timestamp", &ev.timestamp).map_err(err)?;
    let received_at = ev.received_at.as_deref().unwrap_or_default();
    let observed_time_unix_nano = unix_nanos("received_at", received_at).map_err(err)?;
    let tenant_id = ev
        .tenant_id
        .as_deref()
        .ok_or_else(|| err("missing field `tenant_id`".to_string()))?;
    let (severity, text) = if ev.success == Some(false) {
        (SeverityNumber::Warn, "WARN")
    } else {
        (SeverityNumber::Info, "INFO")
    };
    let mut attributes = Vec::with_capacity(16);
    attributes.push(string_kv("event.name", &ev.action));
    attributes.push(string_kv("log.record.uid", &ev.event_id));
    attributes.push(string_kv("user.id", &ev.actor.user_id));
    if let Some(v) = &ev.actor.email {
        attributes.push(string_kv("user.email", v));
    }
    if let Some(v) = &ev.actor.ip_address {
        attributes.push(string_kv("client.address", v));
    }
    if let Some(v) = &ev.actor.user_agent {
        attributes.push(string_kv("user_agent.original", v));
    }
    if let Some(v) = &ev.actor.actor_type {
        attributes.push(string_kv("audit.actor.type", v));
    }
    if let Some(r) = &ev.resource {
        attributes.push(string_kv("audit.resource.type", &r.resource_type));
        attributes.push(string_kv("audit.resource.id", &r.id));
        if let Some(name) = &r.name {
            attributes.push(string_kv("audit.resource.name", name));
        }
    }
    if let Some(v) = &ev.project {
        attributes.push(string_kv("audit.project", v));
    }
    attributes.push(string_kv("audit.tenant_id", tenant_id));
    if let Some(v) = ev.success {
        attributes.push(kv("audit.success", any_value::Value::BoolValue(v)));
    }
    if let Some(v) = &ev.request_id {
        attributes.push(string_kv("audit.request_id", v));
    }
    if let Some(v) = ev.duration_ms {
        let v = i64::try_from(v).unwrap_or(i64::MAX);
        attributes.push(kv("audit.duration_ms", any_value::Value::IntValue(v)));
    }
    let body = match schema {
        Schema::Ocsf => {
            let event: AuditEvent = serde_json::from_str(doc).map_err(|e| err(e.to_string()))?;
            let record = ocsf::record(&event, None, ctx);
            for key in [
                "class_uid",
                "category_uid",
                "activity_id",
                "type_uid",
                "status_id",
            ] {
                if let Some(n) = record.get(key).and_then(serde_json::Value::as_i64) {
                    attributes.push(kv(&format!("ocsf.{key}"), any_value::Value::IntValue(n)));
                }
            }
            attributes.push(string_kv("ocsf.version", ocsf::OCSF_VERSION));
            record.to_string()
        }
        _ => doc.to_string(),
    };
    let record = LogRecord {
        time_unix_nano,
        observed_time_unix_nano,
        severity_number: severity as i32,
        severity_text: text.to_string(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body)),
        }),
        attributes,
        event_name: ev.action.to_string(),
        ..Default::default()
    };
    Ok((record, tenant_id.to_string()))
}

/// The request for `docs` (canonical event JSON, in order): one `ResourceLogs` per tenant (one,
/// in practice: all events of an org share its tenant), records in the given order.
pub fn export_request(
    docs: &[&str],
    schema: Schema,
    ctx: &ShapeContext,
) -> Result<ExportLogsServiceRequest, RecordError> {
    let mut groups: Vec<(String, Vec<LogRecord>)> = Vec::new();
    for doc in docs {
        let (record, tenant) = log_record(doc, schema, ctx)?;
        match groups.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, records)) => records.push(record),
            None => groups.push((tenant, vec![record])),
        }
    }
    let resource_logs = groups
        .into_iter()
        .map(|(tenant, log_records)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", SERVICE_NAME),
                    string_kv("audit.tenant_id", &tenant),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SERVICE_NAME.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    Ok(ExportLogsServiceRequest { resource_logs })
}

/// An encoded request body.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedBody {
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// Whether they are gzipped (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// Protobuf size before compression.
    pub raw_len: usize,
}

/// Encodes `docs` as an `ExportLogsServiceRequest` of `schema` records, gzipped when larger
/// than [`GZIP_ABOVE`].
pub fn encode(
    docs: &[&str],
    schema: Schema,
    ctx: &ShapeContext,
) -> Result<EncodedBody, RecordError> {
    let raw = export_request(docs, schema, ctx)?.encode_to_vec();
    let raw_len = raw.len();
    if raw_len <= GZIP_ABOVE {
        return Ok(EncodedBody {
            bytes: raw,
            gzip: false,
            raw_len,
        });
    }
    // Level 1: audit JSON compresses about 5× even so, at several times the speed of the
    // default level (`make bench`).
    let mut gz = GzEncoder::new(Vec::with_capacity(raw_len / 4), Compression::fast());
    let done = gz.write_all(&raw).and_then(|()| gz.finish());
    match done {
        Ok(bytes) => Ok(EncodedBody {
            bytes,
            gzip: true,
            raw_len,
        }),
        // Writing to memory cannot fail; should it, the plain body is still valid.
        Err(_) => Ok(EncodedBody {
            bytes: raw,
            gzip: false,
            raw_len,
        }),
    }
}

/// What a 2xx answer said about the records (OTLP's partial success).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialSuccess {
    /// Records the receiver rejected (not to be retried).
    pub rejected: i64,
    /// Its message (an explanation, or a warning when nothing was rejected).
    pub message: String,
}

/// Reads an `ExportLogsServiceResponse` (protobuf, or OTLP/JSON when the content type says
/// JSON). An empty or unreadable body is a full success: the status already said so.
pub fn parse_response(content_type: Option<&str>, body: &[u8]) -> PartialSuccess {
    if body.is_empty() {
        return PartialSuccess::default();
    }
    let json = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    if json {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let p = &v["partialSuccess"];
        let rejected = match &p["rejectedLogRecords"] {
            serde_json::Value::Number(n) => n.as_i64().unwrap_or(0),
            serde_json::Value::String(s) => s.parse().unwrap_or(0),
            _ => 0,
        };
        return PartialSuccess {
            rejected,
            message: p["errorMessage"].as_str().unwrap_or("").to_string(),
        };
    }
    match ExportLogsServiceResponse::decode(body) {
        Ok(r) => r
            .partial_success
            .map(|p| PartialSuccess {
                rejected: p.rejected_log_records,
                message: p.error_message,
            })
            .unwrap_or_default(),
        Err(_) => PartialSuccess::default(),
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP error answers (only the fields read here; not
/// part of the OTLP definitions the crate ships).
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The reason of an error answer, short and sanitised: `google.rpc.Status.message` for
/// protobuf, else what [`failure_reason`] finds (a JSON `message`, or the status's reason
/// phrase; never the body's text).
pub fn error_message(status: u16, content_type: Option<&str>, body: &[u8]) -> String {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("protobuf") {
        let message = RpcStatus::decode(body)
            .map(|s| sanitize_reason(&s.message))
            .unwrap_or_default();
        if !message.is_empty() {
            return message;
        }
    }
    failure_reason(status, content_type, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;

    const DOC: &str = r#"{"event_id":"evt_01HXYZABCDEF","timestamp":"2026-05-22T12:30:00+02:00","action":"document.opened","actor":{"user_id":"usr_01ABCDEFG","email":"jane@example.com","ip_address":"203.0.113.42","type":"user","user_agent":"Mozilla/5.0"},"resource":{"type":"document","id":"doc_01ABCDEF","name":"Contract_v2.docx"},"tenant_id":"ten_01ABCDEFG","project":"prj_web","success":false,"request_id":"req_1","duration_ms":12,"metadata":{"via":"link","nested":{"a":[1,2]}},"received_at":"2026-05-22T10:30:01.500Z"}"#;

    const SMALL: &str = r#"{"event_id":"e1","timestamp":"2026-05-22T10:30:00Z","action":"user.login","actor":{"user_id":"u1"},"tenant_id":"t","received_at":"2026-05-22T10:30:00Z"}"#;

    fn attr<'a>(r: &'a LogRecord, key: &str) -> Option<&'a any_value::Value> {
        r.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    fn text(r: &LogRecord, key: &str) -> String {
        match attr(r, key) {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn an_event_maps_to_one_record() {
        let (r, tenant) = log_record(DOC, Schema::Canonical, &ShapeContext::new("")).unwrap();
        assert_eq!(tenant, "ten_01ABCDEFG");
        // 2026-05-22T10:30:00Z
        assert_eq!(r.time_unix_nano, 1_779_445_800_000_000_000);
        assert_eq!(r.observed_time_unix_nano, 1_779_445_801_500_000_000);
        assert_eq!(r.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(r.severity_text, "WARN");
        assert_eq!(
            r.body.as_ref().and_then(|b| b.value.clone()),
            Some(any_value::Value::StringValue(DOC.into()))
        );
        assert_eq!(r.event_name, "document.opened");
        for (k, v) in [
            ("event.name", "document.opened"),
            ("log.record.uid", "evt_01HXYZABCDEF"),
            ("user.id", "usr_01ABCDEFG"),
            ("user.email", "jane@example.com"),
            ("client.address", "203.0.113.42"),
            ("user_agent.original", "Mozilla/5.0"),
            ("audit.actor.type", "user"),
            ("audit.resource.type", "document"),
            ("audit.resource.id", "doc_01ABCDEF"),
            ("audit.resource.name", "Contract_v2.docx"),
            ("audit.project", "prj_web"),
            ("audit.tenant_id", "ten_01ABCDEFG"),
            ("audit.request_id", "req_1"),
        ] {
            assert_eq!(text(&r, k), v, "{k}");
        }
        assert_eq!(
            attr(&r, "audit.success"),
            Some(&any_value::Value::BoolValue(false))
        );
        assert_eq!(
            attr(&r, "audit.duration_ms"),
            Some(&any_value::Value::IntValue(12))
        );
    }

    #[test]
    fn optional_fields_are_left_out_and_success_is_info() {
        let doc = SMALL.replace(r#""u1""#, r#""u\"1""#);
        let doc = doc.as_str();
        let (r, _) = log_record(doc, Schema::Canonical, &ShapeContext::new("")).unwrap();
        assert_eq!(r.severity_text, "INFO");
        assert_eq!(r.severity_number, SeverityNumber::Info as i32);
        assert_eq!(text(&r, "user.id"), "u\"1");
        for k in [
            "user.email",
            "client.address",
            "user_agent.original",
            "audit.resource.type",
            "audit.project",
            "audit.success",
            "audit.duration_ms",
        ] {
            assert!(attr(&r, k).is_none(), "{k}");
        }
        assert!(log_record("{}", Schema::Canonical, &ShapeContext::new("")).is_err());
        assert!(log_record(
            &doc.replace("2026-05-22T10:30:00Z", "yesterday"),
            Schema::Canonical,
            &ShapeContext::new("")
        )
        .is_err());
    }

    #[test]
    fn requests_round_trip_and_large_ones_are_gzipped() {
        let small = encode(&[SMALL], Schema::Canonical, &ShapeContext::new("")).unwrap();
        assert!(!small.gzip);
        let req = ExportLogsServiceRequest::decode(small.bytes.as_slice()).unwrap();
        let rl = &req.resource_logs[0];
        let res = rl.resource.as_ref().unwrap();
        assert_eq!(res.attributes[0].key, "service.name");
        assert_eq!(res.attributes[1].key, "audit.tenant_id");
        assert_eq!(rl.scope_logs[0].log_records.len(), 1);

        let docs = vec![DOC; 50];
        let big = encode(&docs, Schema::Canonical, &ShapeContext::new("")).unwrap();
        assert!(big.gzip);
        assert!(
            big.bytes.len() * 4 < big.raw_len,
            "{} {}",
            big.bytes.len(),
            big.raw_len
        );
        let mut raw = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(big.bytes.as_slice()),
            &mut raw,
        )
        .unwrap();
        let req = ExportLogsServiceRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.resource_logs[0].scope_logs[0].log_records.len(), 50);
    }

    #[test]
    fn partial_success_is_read_from_protobuf_and_json() {
        let body = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 3,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            parse_response(Some("application/x-protobuf"), &body),
            PartialSuccess {
                rejected: 3,
                message: "too old".into()
            }
        );
        assert_eq!(
            parse_response(
                Some("application/json"),
                br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"x"}}"#
            ),
            PartialSuccess {
                rejected: 2,
                message: "x".into()
            }
        );
        assert_eq!(parse_response(None, b""), PartialSuccess::default());
        assert_eq!(
            parse_response(Some("application/x-protobuf"), b"\xff\xff"),
            PartialSuccess::default()
        );
        let status = RpcStatus {
            code: 3,
            message: "bad token".into(),
        }
        .encode_to_vec();
        assert_eq!(
            error_message(400, Some("application/x-protobuf"), &status),
            "bad token"
        );
        assert_eq!(
            error_message(
                400,
                Some("application/json"),
                br#"{"code":3,"message":"nope"}"#
            ),
            "nope"
        );
        // A page's text is never read back: only the status's reason phrase.
        assert_eq!(
            error_message(404, Some("text/html"), b"<html>secret page</html>"),
            "Not Found"
        );
        assert_eq!(
            error_message(
                400,
                Some("application/json"),
                br#"{"message":"a\u0007b\n  c"}"#
            ),
            "ab c"
        );
    }
}
