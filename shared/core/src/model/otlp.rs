//! The OTLP log export destination (the "Configure OTEL Export" drawer): its input, validation,
//! state, and the masked view the API returns (camelCase, like the AuditExport API).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::model::ids::OrgId;
use crate::model::webhook::unix_to_rfc3339;
use crate::shapes::Schema;

/// `maxBatchSize` when none is given.
pub const DEFAULT_MAX_BATCH_SIZE: u32 = 100;
/// Largest `maxBatchSize` (the OTLP export contract: "an integer between 1 and 1000").
pub const MAX_BATCH_SIZE: u32 = 1000;
/// Longest accepted `endpointUrl`.
pub const MAX_URL_BYTES: usize = 2048;
/// Most headers per destination.
pub const MAX_HEADERS: usize = 20;
/// Longest header name.
pub const MAX_HEADER_NAME_BYTES: usize = 128;
/// Longest header value.
pub const MAX_HEADER_VALUE_BYTES: usize = 4096;
/// The OTLP/HTTP path of logs.
pub const LOGS_PATH: &str = "/v1/logs";

/// Headers the exporter sets itself, or that would change how the request is framed or routed.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "proxy-authorization",
    "proxy-connection",
];

/// Headers attached to every export request. They typically carry a receiver's token, so
/// `Debug` masks the values and the API only ever shows them masked.
#[derive(Clone, Default, PartialEq)]
pub struct OtelHeaders(BTreeMap<String, String>);

impl std::fmt::Debug for OtelHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, mask_value(v))))
            .finish()
    }
}

impl OtelHeaders {
    /// Headers from stored (already validated) pairs.
    pub fn from_stored(pairs: BTreeMap<String, String>) -> Self {
        OtelHeaders(pairs)
    }

    /// The name/value pairs, values in clear (for sending and storing only).
    pub fn expose(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The values masked, as every API answer shows them.
    pub fn masked(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), mask_value(v)))
            .collect()
    }

    fn get_ignore_case(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `****` and, for values of 16 characters or more, their last four: enough to tell two tokens
/// apart, too little to guess one.
pub fn mask_value(v: &str) -> String {
    let n = v.chars().count();
    if n >= 16 {
        let tail: String = v.chars().skip(n - 4).collect();
        format!("****{tail}")
    } else {
        "****".into()
    }
}

/// State of the export.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OtelStatus {
    /// Enabled and exporting.
    Active,
    /// Enabled, but paused automatically after failing consistently; `POST` the
    /// configuration with `enabled: true` to resume, then replay what it missed.
    Paused,
    /// Disabled by an admin.
    Disabled,
}

/// What the fanout needs of an org's OTLP export to route events to it: never its header
/// values, so routing reads no secret and opens none.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelRoute {
    /// The configuration's id.
    pub id: String,
    /// Enabled and not paused.
    pub active: bool,
    /// Most records per request.
    pub max_batch_size: u32,
}

/// A stored OTLP export configuration with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelConfig {
    /// `otl_…` id: kept across updates; a deleted and re-created configuration gets a new one,
    /// so messages queued for the old one are dropped.
    pub id: String,
    /// Owning org.
    pub org_id: OrgId,
    /// The receiver URL as configured.
    pub endpoint_url: String,
    /// Headers sent with every request.
    pub headers: OtelHeaders,
    /// Most records per request.
    pub max_batch_size: u32,
    /// The records' shape: `canonical` (the event JSON as body) or `ocsf`.
    pub schema: Schema,
    /// The admin's switch.
    pub enabled: bool,
    /// When it was paused automatically.
    pub paused_at: Option<String>,
    /// Why.
    pub paused_reason: Option<String>,
    /// The most recent error (the OTLP export contract: "the most recent error is shown").
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<String>,
    /// Last request the receiver accepted.
    pub last_exported_at: Option<String>,
    /// Events in a row that failed every attempt or were refused (reset by any success).
    pub consecutive_exhausted: u32,
    /// When that streak began (unix seconds).
    pub failing_since: Option<i64>,
    /// Creation time.
    pub created_at: String,
    /// Last configuration change.
    pub updated_at: String,
}

impl OtelConfig {
    /// Its state.
    pub fn status(&self) -> OtelStatus {
        if !self.enabled {
            OtelStatus::Disabled
        } else if self.paused_at.is_some() {
            OtelStatus::Paused
        } else {
            OtelStatus::Active
        }
    }

    /// Where requests go: `endpointUrl` with `/v1/logs` appended unless it already ends so.
    pub fn export_url(&self) -> String {
        export_url(&self.endpoint_url).unwrap_or_else(|_| self.endpoint_url.clone())
    }

    /// The API view: header values masked.
    pub fn view(&self) -> OtelConfigView {
        OtelConfigView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            endpoint_url: self.endpoint_url.clone(),
            export_url: self.export_url(),
            headers: self.headers.masked(),
            max_batch_size: self.max_batch_size,
            schema: self.schema.as_str(),
            enabled: self.enabled,
            status: self.status(),
            paused_at: self.paused_at.clone(),
            paused_reason: self.paused_reason.clone(),
            last_error: self.last_error.clone(),
            last_error_at: self.last_error_at.clone(),
            last_exported_at: self.last_exported_at.clone(),
            consecutive_failures: self.consecutive_exhausted,
            failing_since: self.failing_since.map(unix_to_rfc3339),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// The configuration as the API returns it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OtelConfigView {
    /// `otl_…`.
    pub id: String,
    /// Owning org.
    pub org_id: OrgId,
    /// The receiver URL as configured.
    pub endpoint_url: String,
    /// The URL requests are POSTed to (`…/v1/logs`).
    pub export_url: String,
    /// Header names with masked values.
    pub headers: BTreeMap<String, String>,
    /// Most records per request.
    pub max_batch_size: u32,
    /// The records' shape (`canonical` or `ocsf`).
    #[schema(pattern = "^(canonical|ocsf)$")]
    pub schema: &'static str,
    /// The admin's switch.
    pub enabled: bool,
    /// `active`, `paused` or `disabled`.
    pub status: OtelStatus,
    /// When it was paused automatically.
    pub paused_at: Option<String>,
    /// Why.
    pub paused_reason: Option<String>,
    /// The most recent error.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<String>,
    /// Last request the receiver accepted.
    pub last_exported_at: Option<String>,
    /// Events in a row that failed (the auto-pause counter).
    pub consecutive_failures: u32,
    /// Start of the current failing streak.
    pub failing_since: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last configuration change.
    pub updated_at: String,
}

/// Body of `POST /orgs/{orgId}/audit-export/otel` (and, optionally, of `.../otel/test`).
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"endpointUrl": "https://otel.example.invalid:4318", "headers": {"x-api-key": "k"}, "maxBatchSize": 100}))]
pub struct OtelConfigInput {
    /// The OTLP/HTTP receiver (http or https).
    #[schema(pattern = "^https?://")]
    pub endpoint_url: String,
    /// Header name → value (an object). Absent: unchanged on an update, none on creation.
    /// Taken as any JSON value (`null` included) so that a wrong type gets a clear error.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    #[serde(default, deserialize_with = "present")]
    pub headers: Option<Value>,
    /// 1 to 1000; absent: unchanged on an update, 100 on creation. Taken as any JSON value so
    /// that `0`, `1.5`, `"10"` or `null` all get the same clear error.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "present")]
    pub max_batch_size: Option<Value>,
    /// Default true; `true` also resumes an automatically paused export.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `canonical` (default) or `ocsf`; absent: unchanged on an update.
    #[schema(pattern = "^(canonical|ocsf)$")]
    #[serde(default)]
    pub schema: Option<String>,
}

/// A field that is present, whatever its value (`null` included: `Option<Value>` alone would
/// read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A validated destination: where and how to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelDestination {
    /// Receiver URL as given.
    pub endpoint_url: String,
    /// Headers.
    pub headers: OtelHeaders,
    /// Most records per request.
    pub max_batch_size: u32,
    /// The records' shape.
    pub schema: Schema,
}

impl OtelConfigInput {
    /// Validates everything but the URL's DNS (the caller runs the SSRF guard). `stored` is
    /// the current configuration: absent fields keep its values, and a header value equal
    /// to the stored value's mask (what `GET` shows) keeps the stored value, so a form can
    /// send back what it read. Both only while the endpoint's origin (scheme, host, port) is
    /// the stored one: stored header values are the receiver's secrets, and must never follow
    /// a changed URL to another host, so with a new origin they must be sent again.
    pub fn validate(&self, stored: Option<&OtelConfig>) -> Result<OtelDestination, Error> {
        if self.endpoint_url.len() > MAX_URL_BYTES {
            return Err(Error::invalid(
                "endpointUrl",
                format!("must be at most {MAX_URL_BYTES} bytes"),
            ));
        }
        export_url(&self.endpoint_url)?;
        let same_origin = stored.is_some_and(|c| {
            origin(&c.endpoint_url).is_some()
                && origin(&c.endpoint_url) == origin(&self.endpoint_url)
        });
        let headers = match (&self.headers, stored) {
            (Some(Value::Object(h)), _) => {
                let kept = stored.map(|c| &c.headers);
                if !same_origin {
                    if let Some(name) = masked_names(h, kept).next() {
                        return Err(Error::invalid(
                            format!("headers.{name}"),
                            "is the stored value's mask, but the endpoint's origin changed: send the value itself (stored header values never follow a new URL)",
                        ));
                    }
                }
                validate_headers(h, kept.filter(|_| same_origin))?
            }
            (Some(_), _) => {
                return Err(Error::invalid(
                    "headers",
                    "must be an object of header names to string values",
                ))
            }
            (None, Some(c)) if same_origin || c.headers.0.is_empty() => c.headers.clone(),
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "headers",
                    "must be given when the endpoint's origin changes (send {} for none): stored header values never follow a new URL",
                ))
            }
            (None, None) => OtelHeaders::default(),
        };
        let max_batch_size = match (&self.max_batch_size, stored) {
            (Some(v), _) => validate_max_batch_size(v)?,
            (None, Some(c)) => c.max_batch_size,
            (None, None) => DEFAULT_MAX_BATCH_SIZE,
        };
        let schema = match (&self.schema, stored) {
            (Some(v), _) => crate::model::webhook::delivery_schema(v)?,
            (None, Some(c)) => c.schema,
            (None, None) => Schema::Canonical,
        };
        Ok(OtelDestination {
            endpoint_url: self.endpoint_url.clone(),
            headers,
            max_batch_size,
            schema,
        })
    }
}

/// The OTLP export contract: "Must be an integer between 1 and 1000".
pub fn validate_max_batch_size(v: &Value) -> Result<u32, Error> {
    v.as_u64()
        .filter(|n| (1..=u64::from(MAX_BATCH_SIZE)).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            Error::invalid(
                "maxBatchSize",
                format!("must be an integer between 1 and {MAX_BATCH_SIZE}, got {v}"),
            )
        })
}

/// A URL's origin: scheme, host and port (the default port filled in).
fn origin(url: &str) -> Option<(String, String, u16)> {
    let u = url::Url::parse(url).ok()?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default()?,
    ))
}

/// The names in `input` whose value is the mask of the stored value of the same name.
fn masked_names<'a>(
    input: &'a Map<String, Value>,
    stored: Option<&'a OtelHeaders>,
) -> impl Iterator<Item = &'a String> + 'a {
    input.iter().filter_map(move |(name, value)| {
        let old = stored?.get_ignore_case(name)?;
        (value.as_str() == Some(mask_value(old).as_str())).then_some(name)
    })
}

/// Validates header names and values; see [`OtelConfigInput::validate`] for masked values.
pub fn validate_headers(
    input: &Map<String, Value>,
    stored: Option<&OtelHeaders>,
) -> Result<OtelHeaders, Error> {
    if input.len() > MAX_HEADERS {
        return Err(Error::invalid(
            "headers",
            format!("at most {MAX_HEADERS} headers"),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, value) in input {
        let field = format!("headers.{name}");
        if name.is_empty()
            || name.len() > MAX_HEADER_NAME_BYTES
            || http::HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            return Err(Error::invalid(
                field,
                format!(
                    "is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~, at most {MAX_HEADER_NAME_BYTES})"
                ),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Error::invalid(
                field,
                "is set by the exporter itself and cannot be configured",
            ));
        }
        if out
            .keys()
            .any(|k: &String| k.eq_ignore_ascii_case(name.as_str()))
        {
            return Err(Error::invalid(
                field,
                "is given twice (header names are case-insensitive)",
            ));
        }
        let Value::String(value) = value else {
            return Err(Error::invalid(field, "must be a string"));
        };
        if value.is_empty()
            || value.len() > MAX_HEADER_VALUE_BYTES
            || !value
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(Error::invalid(
                field,
                format!(
                    "must be 1 to {MAX_HEADER_VALUE_BYTES} printable ASCII characters (no line breaks)"
                ),
            ));
        }
        let keep = stored
            .and_then(|h| h.get_ignore_case(name))
            .filter(|old| mask_value(old) == *value);
        let value = keep.map(str::to_string).unwrap_or_else(|| value.clone());
        out.insert(name.clone(), value);
    }
    Ok(OtelHeaders(out))
}

/// The URL requests go to: OTLP/HTTP receivers listen on `{base}/v1/logs`; an endpoint given
/// with that path is used as is, one without gets it appended (query kept).
pub fn export_url(endpoint: &str) -> Result<String, Error> {
    let mut url = url::Url::parse(endpoint).map_err(|e| {
        Error::invalid(
            "endpointUrl",
            format!("is not a valid URL ({e}); expected e.g. https://collector.example.com:4318"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid(
            "endpointUrl",
            format!("must use http or https (got {})", url.scheme()),
        ));
    }
    if url.fragment().is_some() {
        return Err(Error::invalid(
            "endpointUrl",
            "must not contain a fragment (#…)",
        ));
    }
    let path = url.path().trim_end_matches('/').to_string();
    if path.ends_with(LOGS_PATH) {
        url.set_path(&path);
    } else {
        url.set_path(&format!("{path}{LOGS_PATH}"));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_logs_path_is_appended_once() {
        for (given, want) in [
            (
                "https://collector.example.com:4318",
                "https://collector.example.com:4318/v1/logs",
            ),
            (
                "https://collector.example.com:4318/",
                "https://collector.example.com:4318/v1/logs",
            ),
            (
                "https://collector.example.com/v1/logs",
                "https://collector.example.com/v1/logs",
            ),
            (
                "https://collector.example.com/v1/logs/",
                "https://collector.example.com/v1/logs",
            ),
            (
                "http://otel.example.com/otlp",
                "http://otel.example.com/otlp/v1/logs",
            ),
            (
                "https://in.example.com/tenant/v1/logs?token=abc",
                "https://in.example.com/tenant/v1/logs?token=abc",
            ),
            (
                "https://in.example.com/base?x=1",
                "https://in.example.com/base/v1/logs?x=1",
            ),
        ] {
            assert_eq!(export_url(given).unwrap(), want, "{given}");
        }
        for bad in [
            "ftp://x.example.com/",
            "not a url",
            "https://x.example.com/#frag",
        ] {
            let e = export_url(bad).unwrap_err();
            assert!(e.to_string().starts_with("endpointUrl"), "{bad}: {e}");
        }
    }

    #[test]
    fn max_batch_size_is_an_integer_from_1_to_1000() {
        assert_eq!(validate_max_batch_size(&json!(1)).unwrap(), 1);
        assert_eq!(validate_max_batch_size(&json!(1000)).unwrap(), 1000);
        for bad in [
            json!(0),
            json!(1001),
            json!(-1),
            json!(1.5),
            json!("10"),
            json!(null),
            json!(true),
            json!(1e9),
        ] {
            let e = validate_max_batch_size(&bad).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("maxBatchSize: must be an integer"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn headers_are_validated_and_masked() {
        let h = validate_headers(
            json!({"Authorization": "Bearer 0123456789abcdefXYZW", "X-Scope": "t1"})
                .as_object()
                .unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(
            h.masked(),
            BTreeMap::from([
                ("Authorization".to_string(), "****XYZW".to_string()),
                ("X-Scope".to_string(), "****".to_string()),
            ])
        );
        let debug = format!("{h:?}");
        assert!(!debug.contains("0123456789"), "{debug}");
        for (bad, field) in [
            (json!({"Bad Name": "x"}), "headers.Bad Name"),
            (json!({"Content-Type": "x"}), "headers.Content-Type"),
            (json!({"host": "x"}), "headers.host"),
            (json!({"X-A": "line\nbreak"}), "headers.X-A"),
            (json!({"X-A": ""}), "headers.X-A"),
            (json!({"X-A": 5}), "headers.X-A"),
            (json!({"X-A": "1", "x-a": "2"}), "headers.x-a"),
        ] {
            match validate_headers(bad.as_object().unwrap(), None) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let many: Map<String, Value> = (0..21).map(|i| (format!("X-{i}"), json!("v"))).collect();
        assert!(validate_headers(&many, None).is_err());
    }

    #[test]
    fn a_masked_value_sent_back_keeps_the_stored_one() {
        let stored = validate_headers(
            json!({"Authorization": "Bearer 0123456789abcdefXYZW"})
                .as_object()
                .unwrap(),
            None,
        )
        .unwrap();
        let again = validate_headers(
            json!({"authorization": "****XYZW", "X-New": "v"})
                .as_object()
                .unwrap(),
            Some(&stored),
        )
        .unwrap();
        assert_eq!(
            again.expose().get("authorization").map(String::as_str),
            Some("Bearer 0123456789abcdefXYZW")
        );
        let changed = validate_headers(
            json!({"Authorization": "Bearer new"}).as_object().unwrap(),
            Some(&stored),
        )
        .unwrap();
        assert_eq!(
            changed.expose().get("Authorization").map(String::as_str),
            Some("Bearer new")
        );
    }

    #[test]
    fn stored_header_values_never_follow_a_new_origin() {
        let stored = OtelConfig {
            id: "otl_1".into(),
            org_id: OrgId::from("org_1".to_string()),
            endpoint_url: "https://collector.example.com:4318".into(),
            headers: validate_headers(
                json!({"Authorization": "Bearer 0123456789abcdef9876"})
                    .as_object()
                    .unwrap(),
                None,
            )
            .unwrap(),
            max_batch_size: 100,
            schema: Schema::Canonical,
            enabled: true,
            paused_at: None,
            paused_reason: None,
            last_error: None,
            last_error_at: None,
            last_exported_at: None,
            consecutive_exhausted: 0,
            failing_since: None,
            created_at: "t".into(),
            updated_at: "t".into(),
        };
        let input = |v: Value| -> OtelConfigInput { serde_json::from_value(v).unwrap() };
        let field = |r: Result<OtelDestination, Error>| match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        };
        // Another host: the mask is refused, and so is leaving the headers out.
        let masked = json!({"endpointUrl": "https://attacker.example.net", "headers": {"Authorization": "****9876"}});
        assert_eq!(
            field(input(masked).validate(Some(&stored))),
            "headers.Authorization"
        );
        let omitted = json!({"endpointUrl": "https://attacker.example.net"});
        assert_eq!(field(input(omitted).validate(Some(&stored))), "headers");
        // Another port or scheme is another origin too.
        let port = json!({"endpointUrl": "https://collector.example.com:4319", "headers": {"Authorization": "****9876"}});
        assert_eq!(
            field(input(port).validate(Some(&stored))),
            "headers.Authorization"
        );
        // New values may go anywhere; the same origin keeps the stored value behind its mask.
        let fresh = json!({"endpointUrl": "https://other.example.net", "headers": {"Authorization": "Bearer new"}});
        assert!(input(fresh).validate(Some(&stored)).is_ok());
        let same = json!({"endpointUrl": "https://COLLECTOR.example.com:4318/v1/logs", "headers": {"Authorization": "****9876"}});
        let kept = input(same).validate(Some(&stored)).unwrap();
        assert_eq!(
            kept.headers
                .expose()
                .get("Authorization")
                .map(String::as_str),
            Some("Bearer 0123456789abcdef9876")
        );
        let unchanged = json!({"endpointUrl": "https://collector.example.com:4318"});
        assert!(input(unchanged).validate(Some(&stored)).is_ok());
    }
}
