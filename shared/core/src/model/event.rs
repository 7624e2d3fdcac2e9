//! The canonical audit event (the documented "Example event", extended with the audit-log
//! attributes and the fields of `GET /v1/audit/logs`) and its validation. The canonical JSON is
//! the wire format everywhere: query results, webhooks, S3 files, exports.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::error::Error;

/// Largest accepted `metadata` object, serialised.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Largest accepted event, serialised.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// How far in the future an event's `timestamp` may lie (clock skew allowance).
pub const MAX_FUTURE_SKEW: Duration = Duration::hours(24);

/// Kind of principal that performed the action (the audit-log attributes: machine sessions are
/// recorded as such).
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// A person.
    User,
    /// A machine session with an API key.
    ApiKey,
    /// A machine session with an OAuth2 client.
    OauthClient,
    /// A service account.
    ServiceAccount,
    /// The platform itself.
    System,
    /// A group of principals acting as one (the audit-logs API's `identity_type` lists `group`).
    Group,
}

impl ActorType {
    /// The wire name (`user`, `api_key`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::ApiKey => "api_key",
            ActorType::OauthClient => "oauth_client",
            ActorType::ServiceAccount => "service_account",
            ActorType::System => "system",
            ActorType::Group => "group",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }
}

/// Who performed the action.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// The identity (user id, service account id, ...). Queried as `identity_id`.
    pub user_id: String,
    /// E-mail of the person, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Source IP. Queried as `source_ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Kind of principal. Queried as `identity_type`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub actor_type: Option<ActorType>,
    /// Client user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// What the action was performed on.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Resource type, e.g. `document`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Resource id (or path); `path_prefix` matches its prefix.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An audit event as stored and delivered. Field order is the wire order.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"event_id": "evt_01HXYZABCDEF", "timestamp": "2026-05-22T10:30:00Z", "action": "document.opened", "actor": {"user_id": "usr_01ABCDEFG", "email": "jane@example.com", "ip_address": "203.0.113.42"}, "resource": {"type": "document", "id": "doc_01ABCDEF", "name": "Contract_v2.docx"}}))]
pub struct AuditEvent {
    /// Unique per org; the idempotency key of ingest. Generated (`evt_` + ULID) when omitted.
    #[serde(default)]
    pub event_id: String,
    /// When the action happened, RFC 3339 exactly as sent. Defaults to `received_at`.
    #[schema(format = DateTime)]
    #[serde(default)]
    pub timestamp: String,
    /// Dotted lowercase action name, e.g. `document.opened` (also `user_login`).
    pub action: String,
    /// Who did it.
    pub actor: Actor,
    /// What it was done to; organisation-level actions have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// The org's tenant id; filled in from the API key when omitted.
    #[serde(default)]
    pub tenant_id: String,
    /// Project the action targeted (an audit-log attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Whether the action succeeded (a `GET /v1/audit/logs` field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Correlation id of the request that caused it (a `GET /v1/audit/logs` field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// How long the action took (a `GET /v1/audit/logs` field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Event-specific payload (the audit-log `Metadata` attribute), at most 16 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Set by the server when the event was accepted; ignored if sent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub received_at: String,
}

/// What validation needs to know about the caller.
#[derive(Debug, Clone)]
pub struct IngestContext<'a> {
    /// The org's tenant id (events must carry this one, or none).
    pub tenant_id: &'a str,
    /// The server's time of acceptance.
    pub now: OffsetDateTime,
}

/// A validated event with the derived keys the store indexes it by.
#[derive(Debug, Clone)]
pub struct ValidEvent {
    /// The canonical event, ready to serialise.
    pub event: AuditEvent,
    /// The canonical JSON.
    pub json: String,
    /// `timestamp` normalised to fixed-width UTC (sortable).
    pub time_key: String,
    /// `received_at` normalised likewise.
    pub received_key: String,
    /// SHA-256 of the content as sent (without `received_at`), to tell a re-send from a conflict.
    pub content_hash: String,
}

/// Formats a time as fixed-width UTC with nanoseconds, so that string order is time order.
pub fn sortable_time(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "0000-00-00T00:00:00.000000000Z".into())
}

/// Formats a time as RFC 3339 UTC with milliseconds, the form the server writes.
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".into())
}

/// Parses an RFC 3339 time, naming `field` on failure.
pub fn parse_time(field: &str, s: &str) -> Result<OffsetDateTime, Error> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        Error::invalid(
            field,
            format!("must be an RFC 3339 timestamp such as 2026-05-22T10:30:00Z, got {s:?}"),
        )
    })?;
    if t.year() < 1970 {
        return Err(Error::invalid(field, "must not be before 1970"));
    }
    Ok(t)
}

/// Parses one event from JSON, naming the offending field (prefixed with `at`) on errors.
pub fn parse_event(value: Value, at: &str) -> Result<AuditEvent, Error> {
    crate::decode::from_value(value, at)
}

fn check_text(field: String, value: &str, max: usize, required: bool) -> Result<(), Error> {
    if required && value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// Characters that change how text is displayed without being seen: bidirectional overrides,
/// embeddings, isolates and marks, zero-width characters, invisible operators. In an
/// identifier they let `usr_admin` and a look-alike pass for each other in a trail or a
/// spreadsheet, so identifiers refuse them (free text such as a resource's name keeps them).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}')
}

/// An identifier field: [`check_text`]'s rules, and no invisible or direction-changing
/// character.
fn check_identifier(field: String, value: &str, max: usize) -> Result<(), Error> {
    if let Some(c) = value.chars().find(|c| is_invisible(*c)) {
        return Err(Error::invalid(
            field,
            format!(
                "must not contain invisible or direction-changing characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    check_text(field, value, max, true)
}

fn check_opt_identifier(field: String, value: &Option<String>, max: usize) -> Result<(), Error> {
    match value {
        Some(v) => check_identifier(field, v, max),
        None => Ok(()),
    }
}

fn check_opt(field: String, value: &Option<String>, max: usize) -> Result<(), Error> {
    match value {
        Some(v) => check_text(field, v, max, true),
        None => Ok(()),
    }
}

/// Whether `s` is an accepted action name: lowercase words of `[a-z0-9_]` joined by dots,
/// each starting with a letter (`document.opened`, `user.role_changed`, `user_login`).
pub fn is_valid_action(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some('a'..='z'))
                && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        })
}

/// Whether `s` is an accepted client-chosen event id.
pub fn is_valid_event_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// Validates a parsed event, fills in the server's fields and computes its keys.
/// `at` prefixes field names in errors (e.g. `events[3]`).
pub fn validate(
    mut ev: AuditEvent,
    ctx: &IngestContext<'_>,
    at: &str,
) -> Result<ValidEvent, Error> {
    let f = |name: &str| crate::decode::field_path(at, name);

    if ev.event_id.is_empty() {
        ev.event_id = crate::model::ids::new_id("evt");
    } else if !is_valid_event_id(&ev.event_id) {
        return Err(Error::invalid(
            f("event_id"),
            "must be 1-128 characters of letters, digits, '_', '-', '.', ':'",
        ));
    }

    if !is_valid_action(&ev.action) {
        return Err(Error::invalid(
            f("action"),
            "must be a dotted lowercase name such as document.opened or user_login (a-z, 0-9, '_', at most 128 bytes)",
        ));
    }

    check_identifier(f("actor.user_id"), &ev.actor.user_id, 256)?;
    check_opt_identifier(f("actor.email"), &ev.actor.email, 320)?;
    if let Some(email) = &ev.actor.email {
        if !email.contains('@') {
            return Err(Error::invalid(
                f("actor.email"),
                "must be an e-mail address",
            ));
        }
    }
    if let Some(ip) = &ev.actor.ip_address {
        if ip.parse::<IpAddr>().is_err() {
            return Err(Error::invalid(
                f("actor.ip_address"),
                "must be an IPv4 or IPv6 address",
            ));
        }
    }
    check_opt(f("actor.user_agent"), &ev.actor.user_agent, 1024)?;

    if let Some(r) = &ev.resource {
        check_identifier(f("resource.type"), &r.resource_type, 128)?;
        check_identifier(f("resource.id"), &r.id, 512)?;
        check_opt(f("resource.name"), &r.name, 1024)?;
    }
    check_opt_identifier(f("project"), &ev.project, 256)?;
    check_opt_identifier(f("request_id"), &ev.request_id, 256)?;

    if ev.tenant_id.is_empty() {
        ev.tenant_id = ctx.tenant_id.to_string();
    } else if ev.tenant_id != ctx.tenant_id {
        return Err(Error::invalid(
            f("tenant_id"),
            "does not match the org of the API key (omit it, or send the org's tenant_id)",
        ));
    }

    if let Some(meta) = &ev.metadata {
        let size = serde_json::to_vec(meta)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_METADATA_BYTES {
            return Err(Error::invalid(
                f("metadata"),
                format!("is {size} bytes, at most {MAX_METADATA_BYTES} are allowed"),
            ));
        }
    }

    // Hash of what the client sent (plus the tenant it may omit), before the server fills in
    // `timestamp` and `received_at`: a re-send of the same event, even one without a
    // timestamp (filled with each send's own receive time), is recognised as one.
    ev.received_at.clear();
    let content = serde_json::to_string(&ev).map_err(|e| Error::Internal(e.to_string()))?;
    let content_hash = crate::auth::sha256_hex(content.as_bytes());

    let received_at = rfc3339_millis(ctx.now);
    let time = if ev.timestamp.is_empty() {
        ev.timestamp = received_at.clone();
        ctx.now
    } else {
        let t = parse_time(&f("timestamp"), &ev.timestamp)?;
        if t > ctx.now + MAX_FUTURE_SKEW {
            return Err(Error::invalid(
                f("timestamp"),
                "is more than 24 hours in the future",
            ));
        }
        t
    };

    ev.received_at = received_at;
    let json = serde_json::to_string(&ev).map_err(|e| Error::Internal(e.to_string()))?;
    if json.len() > MAX_EVENT_BYTES {
        return Err(Error::invalid(
            f(""),
            format!(
                "event is {} bytes, at most {MAX_EVENT_BYTES} are allowed",
                json.len()
            ),
        ));
    }

    Ok(ValidEvent {
        time_key: sortable_time(time),
        received_key: sortable_time(ctx.now),
        event: ev,
        json,
        content_hash,
    })
}

/// The audit-log API's documented example event, verbatim: the one copy that the unit tests,
/// the integration tests and the benchmarks start from.
pub const DOCUMENTED_EXAMPLE: &str = r#"{
  "event_id": "evt_01HXYZABCDEF",
  "timestamp": "2026-05-22T10:30:00Z",
  "action": "document.opened",
  "actor": {
    "user_id": "usr_01ABCDEFG",
    "email": "jane@example.com",
    "ip_address": "203.0.113.42"
  },
  "resource": {
    "type": "document",
    "id": "doc_01ABCDEF",
    "name": "Contract_v2.docx"
  },
  "tenant_id": "ten_01ABCDEFG"
}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The documented example event, verbatim.
    pub(crate) fn seed_event() -> Value {
        serde_json::from_str(DOCUMENTED_EXAMPLE).unwrap()
    }

    fn ctx() -> IngestContext<'static> {
        IngestContext {
            tenant_id: "ten_01ABCDEFG",
            now: OffsetDateTime::parse("2026-05-22T10:31:00.5Z", &Rfc3339).unwrap(),
        }
    }

    fn check(v: Value) -> Result<ValidEvent, Error> {
        validate(parse_event(v, "")?, &ctx(), "")
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::Invalid { field, .. } => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn seed_event_round_trips_field_for_field() {
        let v = check(seed_event()).unwrap();
        let mut back: Value = serde_json::from_str(&v.json).unwrap();
        assert_eq!(back["received_at"], "2026-05-22T10:31:00.500Z");
        back.as_object_mut().unwrap().remove("received_at");
        assert_eq!(back, seed_event());
        assert_eq!(v.time_key, "2026-05-22T10:30:00.000000000Z");
    }

    #[test]
    fn omitted_fields_are_filled_by_the_server() {
        let v = check(json!({"action": "user_login", "actor": {"user_id": "u1"}})).unwrap();
        assert!(v.event.event_id.starts_with("evt_"));
        assert_eq!(v.event.tenant_id, "ten_01ABCDEFG");
        assert_eq!(v.event.timestamp, v.event.received_at);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"action": "Document.Opened", "actor": {"user_id": "u"}}),
                "action",
            ),
            (
                json!({"action": "a..b", "actor": {"user_id": "u"}}),
                "action",
            ),
            (
                json!({"action": "a", "actor": {"user_id": ""}}),
                "actor.user_id",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u", "ip_address": "1.2.3"}}),
                "actor.ip_address",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u", "email": "nope"}}),
                "actor.email",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u", "type": "robot"}}),
                "actor.type",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "timestamp": "yesterday"}),
                "timestamp",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "timestamp": "2030-01-01T00:00:00Z"}),
                "timestamp",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "tenant_id": "ten_other"}),
                "tenant_id",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "duration_ms": -1}),
                "duration_ms",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "success": "yes"}),
                "success",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "metadata": [1]}),
                "metadata",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "colour": "red"}),
                "colour",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u", "name": "x"}}),
                "actor.name",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "event_id": "has space"}),
                "event_id",
            ),
            (json!({"actor": {"user_id": "u"}}), "action"),
            (
                json!({"action": "a", "actor": {"user_id": "usr_\u{202E}nimda"}}),
                "actor.user_id",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "usr_ad\u{200B}min"}}),
                "actor.user_id",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u", "email": "a\u{2066}@x.io"}}),
                "actor.email",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "resource": {"type": "doc", "id": "d\u{FEFF}1"}}),
                "resource.id",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "request_id": "r\u{200F}"}),
                "request_id",
            ),
            (
                json!({"action": "a", "actor": {"user_id": "u"}, "resource": {"type": "doc"}}),
                "resource.id",
            ),
        ];
        for (v, field) in cases {
            let err = check(v.clone()).expect_err(&v.to_string());
            assert_eq!(field_of(err), field, "{v}");
        }
    }

    #[test]
    fn size_limits_are_enforced() {
        let big = "x".repeat(MAX_METADATA_BYTES);
        let err = check(json!({"action": "a", "actor": {"user_id": "u"}, "metadata": {"k": big}}))
            .unwrap_err();
        assert_eq!(field_of(err), "metadata");
        let err = check(
            json!({"action": "a", "actor": {"user_id": "u"}, "metadata": {"k": "x".repeat(15_000)},
            "resource": {"type": "t", "id": "i", "name": "n".repeat(1000)},
            "actor": {"user_id": "u", "user_agent": "a".repeat(1000)}, "project": "p".repeat(200)}),
        );
        assert!(err.is_ok(), "{err:?}");
    }

    #[test]
    fn errors_are_prefixed_with_the_event_index() {
        let err =
            parse_event(json!({"action": 5, "actor": {"user_id": "u"}}), "events[3]").unwrap_err();
        assert_eq!(field_of(err), "events[3].action");
    }

    #[test]
    fn resend_has_the_same_content_hash() {
        let a = check(seed_event()).unwrap();
        let b = check(seed_event()).unwrap();
        assert_eq!(a.content_hash, b.content_hash);
        let mut changed = seed_event();
        changed["action"] = json!("document.deleted");
        assert_ne!(check(changed).unwrap().content_hash, a.content_hash);
        // Without a timestamp the server fills in each send's receive time; the retry is still
        // the same event.
        let bare = json!({"event_id": "evt_retry", "action": "a", "actor": {"user_id": "u"}});
        let first = validate(
            parse_event(bare.clone(), "").unwrap(),
            &IngestContext {
                tenant_id: "t",
                now: OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
            },
            "",
        )
        .unwrap();
        let retry = validate(
            parse_event(bare, "").unwrap(),
            &IngestContext {
                tenant_id: "t",
                now: OffsetDateTime::UNIX_EPOCH
                    + time::Duration::days(20_000)
                    + time::Duration::seconds(7),
            },
            "",
        )
        .unwrap();
        assert_ne!(first.event.timestamp, retry.event.timestamp);
        assert_eq!(first.content_hash, retry.content_hash);
    }

    #[test]
    fn offsets_normalise_to_utc_sort_keys() {
        let mut v = seed_event();
        v["timestamp"] = json!("2026-05-22T12:30:00.25+02:00");
        let e = check(v).unwrap();
        assert_eq!(e.time_key, "2026-05-22T10:30:00.250000000Z");
        assert_eq!(e.event.timestamp, "2026-05-22T12:30:00.25+02:00");
    }
}
