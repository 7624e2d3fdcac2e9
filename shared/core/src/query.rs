//! The filters of `GET /v1/audit/logs`, parsed and validated from the query string.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Error;
use crate::model::event::{is_valid_action, parse_time};
use crate::model::ActorType;
use crate::shapes::Schema;

/// Default page size (`GET /v1/audit/logs`: "Default 100, max 1000").
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size (`GET /v1/audit/logs`: "Default 100, max 1000").
pub const MAX_LIMIT: usize = 1000;
/// Most actions one `action` filter may list.
pub const MAX_ACTIONS: usize = 50;
/// Longest `q` (search text), in bytes.
pub const MAX_SEARCH_BYTES: usize = 256;

/// Which events a query selects. Time bounds are `from <= timestamp < to`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    /// Inclusive lower bound on `timestamp`.
    pub from: Option<OffsetDateTime>,
    /// Exclusive upper bound on `timestamp`.
    pub to: Option<OffsetDateTime>,
    /// Any of these actions.
    pub actions: Vec<String>,
    /// `actor.user_id` equals (index-backed).
    pub identity_id: Option<String>,
    /// `actor.type` equals.
    pub identity_type: Option<ActorType>,
    /// `resource.id` starts with.
    pub path_prefix: Option<String>,
    /// `success` equals.
    pub success: Option<bool>,
    /// `actor.ip_address` equals.
    pub source_ip: Option<String>,
    /// `request_id` equals.
    pub request_id: Option<String>,
    /// Free-text search: the stored event JSON contains this text (see [`search_variants`]).
    pub q: Option<String>,
    /// One resource's events: (`resource.type`, `resource.id`), index-backed (`by_resource`).
    /// Set by the resource trail routes from their path, never by a query parameter.
    pub resource: Option<(String, String)>,
}

/// A parsed `GET /v1/audit/logs` request.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    /// The filters.
    pub filter: LogFilter,
    /// Page size, 1..=1000.
    pub limit: usize,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    /// The shape of the answered events (`schema`: canonical, entry or ocsf).
    pub schema: Schema,
}

/// The `schema` parameter of the logs API: the shape events are answered in.
pub fn answer_schema(v: &str) -> Result<Schema, Error> {
    match Schema::parse(v) {
        Some(s @ (Schema::Canonical | Schema::Entry | Schema::Ocsf)) => Ok(s),
        Some(Schema::Columnar) => Err(Error::invalid(
            "schema",
            "columnar is a file shape (CSV, Parquet): use canonical, entry or ocsf",
        )),
        None => Err(Error::invalid("schema", "must be canonical, entry or ocsf")),
    }
}

impl LogFilter {
    /// Whether any filter must be applied after the key condition (costs reads of non-matches).
    pub fn has_post_filters(&self) -> bool {
        !self.actions.is_empty()
            || self.identity_type.is_some()
            || self.path_prefix.is_some()
            || self.success.is_some()
            || self.source_ip.is_some()
            || self.request_id.is_some()
            || self.q.is_some()
    }

    /// A canonical description of the filters: a cursor is bound to it. JSON, so that no
    /// value can pass for another filter (a `request_id` containing `|q=` stays a request id).
    pub fn fingerprint(&self) -> String {
        let t = |v: &Option<OffsetDateTime>| v.map(crate::model::event::sortable_time);
        serde_json::json!({
            "from": t(&self.from),
            "to": t(&self.to),
            "action": self.actions,
            "identity_id": self.identity_id,
            "identity_type": self.identity_type.map(|a| a.as_str()),
            "path_prefix": self.path_prefix,
            "success": self.success,
            "source_ip": self.source_ip,
            "request_id": self.request_id,
            "q": self.q,
            "resource": self.resource,
        })
        .to_string()
    }
}

/// The spellings `q` is matched in: DynamoDB's `contains` is case-sensitive, so the text as
/// typed, in lower case, in upper case and with a capital first letter (deduplicated). "jane"
/// finds "jane", "Jane" and "JANE"; only mixed spellings like "jAne" need to be typed exactly.
pub fn search_variants(q: &str) -> Vec<String> {
    let mut capital = String::with_capacity(q.len());
    let mut chars = q.chars();
    if let Some(c) = chars.next() {
        capital.extend(c.to_uppercase());
        capital.push_str(&chars.as_str().to_lowercase());
    }
    let mut out: Vec<String> = Vec::with_capacity(4);
    for v in [q.to_string(), q.to_lowercase(), q.to_uppercase(), capital] {
        if !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn non_empty(field: &str, v: &str, max: usize) -> Result<String, Error> {
    if v.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if v.len() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    Ok(v.to_string())
}

impl LogQuery {
    /// Parses query-string pairs. Unknown and repeated parameters are refused (400 naming them),
    /// so that a typo never silently widens a query.
    pub fn parse(pairs: &[(String, String)]) -> Result<LogQuery, Error> {
        let mut filter = LogFilter::default();
        let mut limit = DEFAULT_LIMIT;
        let mut cursor = None;
        let mut schema = Schema::Canonical;
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in pairs {
            if seen.contains(&k.as_str()) {
                return Err(Error::invalid(k, "is given more than once"));
            }
            seen.push(k);
            match k.as_str() {
                "from" => filter.from = Some(parse_time("from", v)?),
                "to" => filter.to = Some(parse_time("to", v)?),
                "action" => {
                    let actions: Vec<String> =
                        v.split(',').map(|a| a.trim().to_string()).collect();
                    if actions.len() > MAX_ACTIONS {
                        return Err(Error::invalid(
                            "action",
                            format!("lists more than {MAX_ACTIONS} actions"),
                        ));
                    }
                    if let Some(bad) = actions.iter().find(|a| !is_valid_action(a)) {
                        return Err(Error::invalid(
                            "action",
                            format!("{bad:?} is not an action name (dotted lowercase, comma-separated)"),
                        ));
                    }
                    filter.actions = actions;
                }
                "identity_id" => filter.identity_id = Some(non_empty(k, v, 256)?),
                "identity_type" => {
                    filter.identity_type = Some(ActorType::parse(v).ok_or_else(|| {
                        Error::invalid(
                            "identity_type",
                            "must be one of user, api_key, oauth_client, service_account, system, group",
                        )
                    })?)
                }
                "path_prefix" => filter.path_prefix = Some(non_empty(k, v, 512)?),
                "success" => {
                    filter.success = Some(match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(Error::invalid("success", "must be true or false")),
                    })
                }
                "source_ip" => filter.source_ip = Some(non_empty(k, v, 64)?),
                "request_id" => filter.request_id = Some(non_empty(k, v, 256)?),
                "q" => {
                    let text = v.trim();
                    if !text.is_empty() {
                        filter.q = Some(non_empty(k, text, MAX_SEARCH_BYTES)?);
                    }
                }
                "limit" => limit = page_limit(v, MAX_LIMIT)?,
                "cursor" => cursor = Some(non_empty(k, v, 2048)?),
                "schema" => schema = answer_schema(v)?,
                other => {
                    return Err(Error::invalid(
                        other,
                        "is not a known parameter (from, to, action, identity_id, identity_type, path_prefix, success, source_ip, request_id, q, limit, cursor, schema)",
                    ))
                }
            }
        }
        if let (Some(f), Some(t)) = (filter.from, filter.to) {
            if f >= t {
                return Err(Error::invalid("from", "must be before to"));
            }
        }
        Ok(LogQuery {
            schema,
            filter,
            limit,
            cursor,
        })
    }
}

/// A page size from a `limit` query parameter: a whole number from 1 to `max`, or an error
/// naming `limit` (every listing endpoint answers the same way).
pub fn page_limit(value: &str, max: usize) -> Result<usize, Error> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| Error::invalid("limit", format!("must be an integer from 1 to {max}")))
}

/// Position of a page boundary: the last row returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// `ts_sk` of the row.
    pub t: String,
    /// Event id of the row.
    pub e: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &[(&str, &str)]) -> Result<LogQuery, Error> {
        let pairs: Vec<(String, String)> = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogQuery::parse(&pairs)
    }

    fn field(r: Result<LogQuery, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_full_parse() {
        let q = p(&[]).unwrap();
        assert_eq!(q.limit, 100);
        assert!(!q.filter.has_post_filters());
        let q = p(&[
            ("from", "2026-01-01T00:00:00Z"),
            ("to", "2026-02-01T00:00:00Z"),
            ("action", "document.opened, user_login"),
            ("identity_id", "usr_1"),
            ("identity_type", "service_account"),
            ("path_prefix", "integrations/"),
            ("success", "false"),
            ("source_ip", "10.0.1.50"),
            ("request_id", "req_xyz"),
            ("limit", "1000"),
        ])
        .unwrap();
        assert_eq!(q.filter.actions, vec!["document.opened", "user_login"]);
        assert_eq!(q.filter.identity_type, Some(ActorType::ServiceAccount));
        assert_eq!(q.filter.success, Some(false));
        assert!(q.filter.has_post_filters());
        assert_eq!(q.limit, 1000);
    }

    #[test]
    fn bad_values_name_their_parameter() {
        assert_eq!(field(p(&[("limit", "0")])), "limit");
        assert_eq!(field(p(&[("limit", "1001")])), "limit");
        assert_eq!(field(p(&[("limit", "ten")])), "limit");
        assert_eq!(field(p(&[("from", "monday")])), "from");
        assert_eq!(field(p(&[("success", "yes")])), "success");
        assert_eq!(field(p(&[("identity_type", "robot")])), "identity_type");
        assert_eq!(field(p(&[("action", "Bad Action")])), "action");
        assert_eq!(field(p(&[("colour", "red")])), "colour");
        assert_eq!(field(p(&[("limit", "1"), ("limit", "2")])), "limit");
        assert_eq!(
            field(p(&[
                ("from", "2026-02-01T00:00:00Z"),
                ("to", "2026-01-01T00:00:00Z")
            ])),
            "from"
        );
    }

    #[test]
    fn search_text_is_trimmed_bounded_and_fingerprinted() {
        assert_eq!(
            p(&[("q", "  Jane ")]).unwrap().filter.q.as_deref(),
            Some("Jane")
        );
        assert_eq!(
            p(&[("q", "  ")]).unwrap().filter.q,
            None,
            "blank q is no filter"
        );
        assert!(p(&[("q", "x")]).unwrap().filter.has_post_filters());
        assert_eq!(field(p(&[("q", &"x".repeat(257))])), "q");
        assert_ne!(
            p(&[("q", "a")]).unwrap().filter.fingerprint(),
            p(&[("q", "b")]).unwrap().filter.fingerprint()
        );
    }

    #[test]
    fn search_variants_cover_common_spellings() {
        assert_eq!(search_variants("jane"), vec!["jane", "JANE", "Jane"]);
        assert_eq!(
            search_variants("contract_V2"),
            vec!["contract_V2", "contract_v2", "CONTRACT_V2", "Contract_v2"]
        );
        assert_eq!(search_variants("42"), vec!["42"]);
        assert_eq!(search_variants("élan"), vec!["élan", "ÉLAN", "Élan"]);
    }

    #[test]
    fn fingerprint_distinguishes_filters() {
        let a = p(&[("action", "a")]).unwrap().filter.fingerprint();
        let b = p(&[("action", "b")]).unwrap().filter.fingerprint();
        assert_ne!(a, b);
        let c = p(&[("action", "a"), ("limit", "5")])
            .unwrap()
            .filter
            .fingerprint();
        assert_eq!(a, c, "limit is not part of the filter");
        // No value passes for another filter, whatever separators it contains.
        let two = p(&[("request_id", "R"), ("q", "Z")]).unwrap().filter;
        let one = p(&[("request_id", "R|q=Z")]).unwrap().filter;
        assert_ne!(two.fingerprint(), one.fingerprint());
        let both = p(&[("action", "a,b")]).unwrap().filter.fingerprint();
        let joined = p(&[("action", "a"), ("identity_id", ",b")])
            .unwrap()
            .filter
            .fingerprint();
        assert_ne!(both, joined);
    }
}
