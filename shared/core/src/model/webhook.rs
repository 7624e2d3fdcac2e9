//! Webhook endpoints (the documented "Webhook (SIEM)" destination) and their delivery attempts,
//! as stored and as the API shows them (camelCase, like the AuditExport API's schemas).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::Error;
use crate::model::event::rfc3339_millis;
use crate::model::ids::{EndpointId, OrgId};
use crate::shapes::Schema;
use crate::signing::WebhookSecret;

/// Most endpoints one org may have.
pub const MAX_ENDPOINTS_PER_ORG: usize = 20;
/// Most action patterns one endpoint may have.
pub const MAX_ACTION_PATTERNS: usize = 50;
/// Longest accepted URL.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest accepted description.
pub const MAX_DESCRIPTION_BYTES: usize = 512;
/// How long the previous secret keeps signing after a rotation (24 h).
pub const ROTATION_OVERLAP: time::Duration = time::Duration::hours(24);

/// What state an endpoint is in.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointStatus {
    /// Enabled and receiving events.
    Active,
    /// Enabled, but paused automatically after failing consistently; re-enable with
    /// `PATCH {"enabled": true}`, then replay what it missed.
    Paused,
    /// Disabled by an admin, or by the receiver answering 410 Gone.
    Disabled,
}

/// Whether `action` matches one of the patterns (`*` and `?` wildcards).
pub fn actions_match(patterns: &[String], action: &str) -> bool {
    patterns
        .iter()
        .any(|p| wildmatch::WildMatch::new(p).matches(action))
}

/// What the fanout needs of an endpoint to route events to it: never its secrets, so routing
/// reads no secret and opens none.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRoute {
    /// The endpoint.
    pub id: EndpointId,
    /// Its action patterns.
    pub actions: Vec<String>,
    /// Enabled and not paused.
    pub active: bool,
}

impl WebhookRoute {
    /// Whether events with `action` go to this endpoint.
    pub fn matches(&self, action: &str) -> bool {
        actions_match(&self.actions, action)
    }
}

/// A webhook endpoint. `Debug` masks the secrets (they are `WebhookSecret`s).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpoint {
    /// `whk_…` id.
    pub id: EndpointId,
    /// Owning org.
    pub org_id: OrgId,
    /// Destination URL.
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// The admin's switch (also turned off by a 410).
    pub enabled: bool,
    /// Action patterns (`*` wildcards); an event is sent when any matches.
    pub actions: Vec<String>,
    /// The body's shape.
    pub schema: Schema,
    /// The signing secret.
    pub secret: WebhookSecret,
    /// The secret before the last rotation and when it stops signing (unix seconds).
    pub previous_secret: Option<(WebhookSecret, i64)>,
    /// When the secret was last rotated.
    pub secret_rotated_at: Option<String>,
    /// Events exhausted in a row (reset by any delivery).
    pub consecutive_exhausted: u32,
    /// When the current run of exhausted events began (unix seconds).
    pub failing_since: Option<i64>,
    /// When it was paused automatically.
    pub paused_at: Option<String>,
    /// When it was disabled.
    pub disabled_at: Option<String>,
    /// Why it is paused or disabled.
    pub status_reason: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change of its configuration.
    pub updated_at: String,
}

impl WebhookEndpoint {
    /// Its state.
    pub fn status(&self) -> EndpointStatus {
        if !self.enabled {
            EndpointStatus::Disabled
        } else if self.paused_at.is_some() {
            EndpointStatus::Paused
        } else {
            EndpointStatus::Active
        }
    }

    /// Whether events with `action` go to this endpoint.
    pub fn matches(&self, action: &str) -> bool {
        actions_match(&self.actions, action)
    }

    /// The secrets that sign at `now` (unix seconds): the current one, and the previous one
    /// during the 24 h after a rotation.
    pub fn active_secrets(&self, now: i64) -> Vec<&WebhookSecret> {
        let mut out = vec![&self.secret];
        if let Some((prev, until)) = &self.previous_secret {
            if now < *until {
                out.push(prev);
            }
        }
        out
    }

    /// The API's view; `reveal` shows the full secret (creation and rotation only).
    pub fn view(&self, reveal: bool) -> EndpointView {
        EndpointView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            url: self.url.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            status: self.status(),
            status_reason: self.status_reason.clone(),
            actions: self.actions.clone(),
            schema: self.schema.as_str(),
            secret: if reveal {
                self.secret.expose()
            } else {
                self.secret.masked()
            },
            previous_secret_expires_at: self
                .previous_secret
                .as_ref()
                .map(|(_, until)| unix_to_rfc3339(*until)),
            secret_rotated_at: self.secret_rotated_at.clone(),
            consecutive_failures: self.consecutive_exhausted,
            failing_since: self.failing_since.map(unix_to_rfc3339),
            paused_at: self.paused_at.clone(),
            disabled_at: self.disabled_at.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// RFC 3339 (milliseconds, UTC) of a unix time.
pub fn unix_to_rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .map(rfc3339_millis)
        .unwrap_or_default()
}

/// An endpoint as the API returns it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    /// `whk_…`.
    pub id: EndpointId,
    /// Owning org.
    pub org_id: OrgId,
    /// Destination.
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// The admin's switch.
    pub enabled: bool,
    /// `active`, `paused` or `disabled`.
    pub status: EndpointStatus,
    /// Why it is paused or disabled.
    pub status_reason: Option<String>,
    /// Action patterns.
    pub actions: Vec<String>,
    /// The body's shape: `canonical` or `ocsf`.
    #[schema(pattern = "^(canonical|ocsf)$")]
    pub schema: &'static str,
    /// The full secret at creation and rotation; `whsec_****` + last 4 characters otherwise.
    pub secret: String,
    /// Until when the previous secret also signs.
    pub previous_secret_expires_at: Option<String>,
    /// Last rotation.
    pub secret_rotated_at: Option<String>,
    /// Events exhausted in a row (the auto-pause counter).
    pub consecutive_failures: u32,
    /// Start of the current failing streak.
    pub failing_since: Option<String>,
    /// When it was paused.
    pub paused_at: Option<String>,
    /// When it was disabled.
    pub disabled_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last configuration change.
    pub updated_at: String,
}

/// Body of `POST /orgs/{orgId}/audit-export/webhooks`.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"url": "https://siem.example.invalid/hook", "description": "SIEM", "actions": ["document.*"]}))]
pub struct CreateWebhook {
    /// Destination (https).
    #[schema(pattern = "^https?://")]
    pub url: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Default `["*"]`.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// The body's shape: `canonical` (default) or `ocsf`.
    #[schema(pattern = "^(canonical|ocsf)$")]
    #[serde(default)]
    pub schema: Option<String>,
}

/// Body of `PATCH /orgs/{orgId}/audit-export/webhooks/{id}`: absent fields are unchanged,
/// `"description": null` clears the description.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"description": "SIEM (primary)", "enabled": true}))]
pub struct UpdateWebhook {
    /// New destination.
    #[schema(pattern = "^https?://")]
    #[serde(default)]
    pub url: Option<String>,
    /// New description; `Some(None)` clears it.
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    /// `true` also resumes a paused endpoint and clears its failure streak.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// New action patterns.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// New body shape (`canonical` or `ocsf`).
    #[schema(pattern = "^(canonical|ocsf)$")]
    #[serde(default)]
    pub schema: Option<String>,
}

/// The `schema` of a destination that sends one event at a time (webhooks, OTLP):
/// `canonical` or `ocsf`.
pub fn delivery_schema(v: &str) -> Result<Schema, Error> {
    match Schema::parse(v) {
        Some(s @ (Schema::Canonical | Schema::Ocsf)) => Ok(s),
        _ => Err(Error::invalid(
            "schema",
            "must be canonical or ocsf (columnar is a file shape, entry an API answer)",
        )),
    }
}

/// Distinguishes a field sent as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `POST .../{id}/replay`.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}))]
pub struct ReplayRequest {
    /// Inclusive lower bound on the time events were accepted (`received_at`).
    #[schema(format = DateTime)]
    pub from: String,
    /// Exclusive upper bound.
    #[schema(format = DateTime)]
    pub to: String,
    /// The `cursor` of a previous replay answer, to continue a large range.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Parses a JSON body into `T`, naming the offending field on failure.
pub fn parse_body<T: DeserializeOwned>(body: Value) -> Result<T, Error> {
    if !body.is_object() {
        return Err(Error::MalformedBody("body must be a JSON object".into()));
    }
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let mut field = if path == "." { String::new() } else { path };
        // "missing field `x`" is reported at the parent; the caller wants to hear about `x`.
        if let Some(name) = backticked(&message) {
            if message.starts_with("missing field") {
                field = if field.is_empty() {
                    name.to_string()
                } else {
                    format!("{field}.{name}")
                };
            }
        }
        if field.is_empty() {
            field = "body".into();
        }
        Error::invalid(field, message)
    })
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Whether `p` is a valid action pattern: dotted lowercase words where `*` stands for any
/// run of characters (`*`, `document.*`, `*.deleted`, `user.role_*`).
pub fn is_valid_pattern(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 128
        && p.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '*'))
        })
}

/// Validates and normalises action patterns (deduplicated, order kept).
pub fn validate_actions(actions: Vec<String>) -> Result<Vec<String>, Error> {
    if actions.is_empty() || actions.len() > MAX_ACTION_PATTERNS {
        return Err(Error::invalid(
            "actions",
            format!(
                "must hold 1 to {MAX_ACTION_PATTERNS} patterns such as \"*\" or \"document.*\""
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(actions.len());
    for (i, a) in actions.into_iter().enumerate() {
        if !is_valid_pattern(&a) {
            return Err(Error::invalid(
                format!("actions[{i}]"),
                "must be an action name with optional * wildcards, such as document.* or user.login",
            ));
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

/// Validates a description.
pub fn validate_description(d: &str) -> Result<(), Error> {
    if d.len() > MAX_DESCRIPTION_BYTES {
        return Err(Error::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }
    if d.chars().any(char::is_control) {
        return Err(Error::invalid(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// What started an attempt.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// An accepted event (through the stream).
    Event,
    /// `POST .../replay`.
    Replay,
    /// `POST .../test`.
    Test,
}

impl Trigger {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Event => "event",
            Trigger::Replay => "replay",
            Trigger::Test => "test",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "event" => Some(Trigger::Event),
            "replay" => Some(Trigger::Replay),
            "test" => Some(Trigger::Test),
            _ => None,
        }
    }
}

/// What an attempt came to.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// 2xx.
    Delivered,
    /// Failed; another attempt is scheduled (`nextAttemptAt`).
    Failed,
    /// The last attempt failed: the message went to the dead-letter queue.
    Exhausted,
    /// The receiver answered 410 Gone: the endpoint was disabled.
    EndpointDisabled,
    /// Not sent: the endpoint was paused or disabled when the message came up.
    Skipped,
}

impl AttemptStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Delivered => "delivered",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Exhausted => "exhausted",
            AttemptStatus::EndpointDisabled => "endpoint_disabled",
            AttemptStatus::Skipped => "skipped",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }
}

/// One delivery attempt, as logged (kept 30 days) and listed by `GET .../attempts`.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// `att_…` id (sortable by time).
    pub id: String,
    /// The endpoint.
    #[serde(skip)]
    pub endpoint_id: EndpointId,
    /// The event (= `webhook-id`).
    pub event_id: String,
    /// 1 for the first attempt of a message, then 2, 3, 4.
    pub attempt: u32,
    /// What started it.
    pub trigger: Trigger,
    /// The replay it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<String>,
    /// When it was made.
    pub at: String,
    /// Outcome.
    pub status: AttemptStatus,
    /// HTTP status, when there was a response.
    pub status_code: Option<u16>,
    /// Milliseconds until the response (or the failure).
    pub latency_ms: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// When the next attempt is due (failed attempts).
    pub next_attempt_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoint(actions: &[&str]) -> WebhookEndpoint {
        WebhookEndpoint {
            id: "whk_1".into(),
            org_id: "org_1".into(),
            url: "https://siem.example.com/hook".into(),
            description: None,
            enabled: true,
            actions: actions.iter().map(|s| s.to_string()).collect(),
            schema: Schema::Canonical,
            secret: WebhookSecret::generate().unwrap(),
            previous_secret: None,
            secret_rotated_at: None,
            consecutive_exhausted: 0,
            failing_since: None,
            paused_at: None,
            disabled_at: None,
            status_reason: None,
            created_at: "2026-05-22T10:30:00.000Z".into(),
            updated_at: "2026-05-22T10:30:00.000Z".into(),
        }
    }

    #[test]
    fn wildcards_match_actions() {
        let e = endpoint(&["document.*", "user.login"]);
        assert!(e.matches("document.opened"));
        assert!(e.matches("document.shared"));
        assert!(e.matches("user.login"));
        assert!(!e.matches("user.logout"));
        assert!(!e.matches("documents.opened"));
        assert!(endpoint(&["*"]).matches("security.audit_export_paused"));
        assert!(endpoint(&["*.deleted"]).matches("document.deleted"));
        assert!(endpoint(&["user.role_*"]).matches("user.role_changed"));
    }

    #[test]
    fn patterns_are_validated_and_named() {
        assert_eq!(
            validate_actions(vec!["*".into(), "document.*".into(), "*".into()]).unwrap(),
            vec!["*", "document.*"]
        );
        for (bad, field) in [
            (vec![], "actions"),
            (vec!["Document.*".to_string()], "actions[0]"),
            (vec!["*".into(), "a..b".into()], "actions[1]"),
            (vec!["user.?".into()], "actions[0]"),
            (vec!["".into()], "actions[0]"),
        ] {
            match validate_actions(bad) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn status_follows_enabled_and_pause() {
        let mut e = endpoint(&["*"]);
        assert_eq!(e.status(), EndpointStatus::Active);
        e.paused_at = Some("2026-05-22T10:30:00.000Z".into());
        assert_eq!(e.status(), EndpointStatus::Paused);
        e.enabled = false;
        assert_eq!(e.status(), EndpointStatus::Disabled);
    }

    #[test]
    fn secrets_are_masked_unless_revealed_and_never_in_debug() {
        let e = endpoint(&["*"]);
        let full = e.secret.expose();
        assert_eq!(e.view(true).secret, full);
        let masked = serde_json::to_string(&e.view(false)).unwrap();
        assert!(!masked.contains(&full), "{masked}");
        assert!(masked.contains("whsec_****"));
        assert!(!format!("{e:?}").contains(&full[6..]));
    }

    #[test]
    fn previous_secret_signs_for_its_overlap_only() {
        let mut e = endpoint(&["*"]);
        let old = WebhookSecret::generate().unwrap();
        e.previous_secret = Some((old.clone(), 1_000));
        assert_eq!(e.active_secrets(999), vec![&e.secret, &old]);
        assert_eq!(e.active_secrets(1_000), vec![&e.secret]);
    }

    #[test]
    fn bodies_name_their_bad_fields() {
        let field = |v: Value| match parse_body::<UpdateWebhook>(v) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"enabled": "yes"})), "enabled");
        assert_eq!(field(json!({"colour": 1})), "colour");
        assert_eq!(field(json!({"actions": [1]})), "actions[0]");
        match parse_body::<CreateWebhook>(json!({"description": "x"})) {
            Err(Error::Invalid { field, .. }) => assert_eq!(field, "url"),
            other => panic!("{other:?}"),
        }
        let p: UpdateWebhook = parse_body(json!({"description": null})).unwrap();
        assert_eq!(p.description, Some(None));
        let p: UpdateWebhook = parse_body(json!({})).unwrap();
        assert_eq!(p, UpdateWebhook::default());
    }
}
