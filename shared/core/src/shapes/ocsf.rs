//! The OCSF shape: each event as one record of the Open Cybersecurity Schema Framework,
//! version [`OCSF_VERSION`], in one of three classes chosen from the action's words:
//!
//! - logins, failed logins and logouts → Authentication (3002, category 3);
//! - changes to users, roles, passwords and MFA → Account Change (3001, category 3);
//! - everything else → API Activity (6003, category 6), its activity from the action's verb.
//!
//! An org may override the choice per action pattern ([`ClassOverride`]). Every record carries
//! the attributes its class requires (API Activity's `api`, `actor`, `src_endpoint`;
//! Authentication's `user` and a `service`; Account Change's `user`), and what OCSF has no
//! place for goes under `unmapped`, so that nothing of the event is lost.

use serde_json::{json, Map, Value};
use wildmatch::WildMatch;

use super::{event_time, received_time, ShapeContext};
use crate::model::event::{Actor, ActorType, AuditEvent};

/// The OCSF schema version the records follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.3.0";

/// `severity_id` of every record: audit events are informational.
const SEVERITY_INFORMATIONAL: u8 = 1;

/// Activity id that every class reserves for an activity it has no name for.
pub const ACTIVITY_OTHER: u8 = 99;

/// The OCSF classes the records use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Authentication (3002): logon and logoff, successful or not.
    Authentication,
    /// Account Change (3001): a user or role created, changed, locked, its password or MFA.
    AccountChange,
    /// API Activity (6003): create, read, update, delete through the product's API.
    ApiActivity,
}

impl Class {
    /// `class_uid`.
    pub fn uid(self) -> u32 {
        match self {
            Class::Authentication => 3002,
            Class::AccountChange => 3001,
            Class::ApiActivity => 6003,
        }
    }

    /// The class for a `class_uid`, if it is one of those the records use.
    pub fn from_uid(uid: u32) -> Option<Self> {
        [
            Class::Authentication,
            Class::AccountChange,
            Class::ApiActivity,
        ]
        .into_iter()
        .find(|c| c.uid() == uid)
    }

    /// `class_name`.
    pub fn name(self) -> &'static str {
        match self {
            Class::Authentication => "Authentication",
            Class::AccountChange => "Account Change",
            Class::ApiActivity => "API Activity",
        }
    }

    /// `category_uid`.
    pub fn category_uid(self) -> u32 {
        self.uid() / 1000
    }

    /// `category_name`.
    pub fn category_name(self) -> &'static str {
        match self {
            Class::Authentication | Class::AccountChange => "Identity & Access Management",
            Class::ApiActivity => "Application Activity",
        }
    }

    /// The caption of one of the class's activity ids, as the schema names it; `None` for an
    /// id the class does not define.
    pub fn activity_caption(self, activity_id: u8) -> Option<&'static str> {
        let name = match (self, activity_id) {
            (_, 0) => "Unknown",
            (_, ACTIVITY_OTHER) => "Other",
            (Class::Authentication, 1) => "Logon",
            (Class::Authentication, 2) => "Logoff",
            (Class::Authentication, 3) => "Authentication Ticket",
            (Class::Authentication, 4) => "Service Ticket Request",
            (Class::Authentication, 5) => "Service Ticket Renew",
            (Class::Authentication, 6) => "Preauth",
            (Class::AccountChange, 1) => "Create",
            (Class::AccountChange, 2) => "Enable",
            (Class::AccountChange, 3) => "Password Change",
            (Class::AccountChange, 4) => "Password Reset",
            (Class::AccountChange, 5) => "Disable",
            (Class::AccountChange, 6) => "Delete",
            (Class::AccountChange, 7) => "Attach Policy",
            (Class::AccountChange, 8) => "Detach Policy",
            (Class::AccountChange, 9) => "Lock",
            (Class::AccountChange, 10) => "MFA Factor Enable",
            (Class::AccountChange, 11) => "MFA Factor Disable",
            (Class::ApiActivity, 1) => "Create",
            (Class::ApiActivity, 2) => "Read",
            (Class::ApiActivity, 3) => "Update",
            (Class::ApiActivity, 4) => "Delete",
            _ => return None,
        };
        Some(name)
    }
}

/// Authentication's activity ids.
pub mod auth_activity {
    /// A new logon session was requested (successful or failed).
    pub const LOGON: u8 = 1;
    /// A logon session ended.
    pub const LOGOFF: u8 = 2;
}

/// Account Change's activity ids.
pub mod account_activity {
    /// A user or role was created.
    pub const CREATE: u8 = 1;
    /// A user or role was enabled (or unlocked).
    pub const ENABLE: u8 = 2;
    /// A password was changed.
    pub const PASSWORD_CHANGE: u8 = 3;
    /// A password was reset.
    pub const PASSWORD_RESET: u8 = 4;
    /// A user or role was disabled.
    pub const DISABLE: u8 = 5;
    /// A user or role was deleted.
    pub const DELETE: u8 = 6;
    /// A role, scope or permission was given to a user or role.
    pub const ATTACH_POLICY: u8 = 7;
    /// A role, scope or permission was taken from a user or role.
    pub const DETACH_POLICY: u8 = 8;
    /// An account was locked.
    pub const LOCK: u8 = 9;
    /// An authentication factor was enabled.
    pub const MFA_ENABLE: u8 = 10;
    /// An authentication factor was disabled.
    pub const MFA_DISABLE: u8 = 11;
}

/// API Activity's activity ids.
pub mod api_activity {
    /// Something was created.
    pub const CREATE: u8 = 1;
    /// Something was read.
    pub const READ: u8 = 2;
    /// Something was changed.
    pub const UPDATE: u8 = 3;
    /// Something was deleted.
    pub const DELETE: u8 = 4;
}

/// The class and activity an action maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// The class.
    pub class: Class,
    /// The class's activity id.
    pub activity_id: u8,
}

/// An org's choice of class and activity for the actions matching `pattern`, instead of the
/// rules of [`classify`]. The first matching override of a list wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassOverride {
    /// A glob over action names (`*` any run, `?` one character), e.g. `document.*`.
    pub pattern: String,
    /// One of the classes of [`Class`] (3001, 3002, 6003).
    pub class_uid: u32,
    /// An activity id the class defines.
    pub activity_id: u8,
}

impl ClassOverride {
    /// Checks that the override names a class the records use and one of its activities;
    /// the message says what is wrong. [`record`] skips an override that fails this check.
    pub fn check(&self) -> Result<Classification, String> {
        if self.pattern.is_empty() {
            return Err("pattern must not be empty".into());
        }
        let class = Class::from_uid(self.class_uid).ok_or_else(|| {
            format!(
                "class_uid {} is not one of 3001 (Account Change), 3002 (Authentication), 6003 (API Activity)",
                self.class_uid
            )
        })?;
        if class.activity_caption(self.activity_id).is_none() {
            return Err(format!(
                "activity_id {} is not an activity of {} ({})",
                self.activity_id,
                class.name(),
                class.uid()
            ));
        }
        Ok(Classification {
            class,
            activity_id: self.activity_id,
        })
    }

    /// Whether the override applies to `action`.
    pub fn matches(&self, action: &str) -> bool {
        WildMatch::new(&self.pattern).matches(action)
    }
}

/// The action's words: its dotted and underscored parts (`user.password_changed` →
/// `user`, `password`, `changed`).
fn words(action: &str) -> Vec<&str> {
    action.split(['.', '_']).filter(|w| !w.is_empty()).collect()
}

fn has_any(words: &[&str], set: &[&str]) -> bool {
    words.iter().any(|w| set.contains(w))
}

fn has_pair(words: &[&str], firsts: &[&str], seconds: &[&str]) -> bool {
    words
        .windows(2)
        .any(|p| firsts.contains(&p[0]) && seconds.contains(&p[1]))
}

fn is_logout(w: &[&str]) -> bool {
    has_any(w, &["logout", "logoff", "signout"])
        || has_pair(w, &["log", "logged", "sign", "signed"], &["out", "off"])
}

fn is_login(w: &[&str]) -> bool {
    has_any(w, &["login", "logon", "signin"])
        || has_pair(w, &["log", "logged", "sign", "signed"], &["in", "on"])
}

const FAILURE_WORDS: &[&str] = &[
    "failed",
    "failure",
    "fail",
    "invalid",
    "denied",
    "rejected",
    "unsuccessful",
];

/// Whether the action names a failed login (`invalid_login`, `user.login_failed`): such a
/// record's status is Failure even when the event does not say `success`.
pub fn is_failed_login(action: &str) -> bool {
    let w = words(action);
    !is_logout(&w) && is_login(&w) && has_any(&w, FAILURE_WORDS)
}

/// Words that make an action an account change: it is about a user, a role, a password or
/// an authentication factor.
const ACCOUNT_SUBJECTS: &[&str] = &[
    "user", "users", "role", "roles", "account", "member", "password", "mfa", "totp",
];
const MFA_WORDS: &[&str] = &["mfa", "totp", "passkey", "authenticator"];
const PRIVILEGE_NOUNS: &[&str] = &[
    "role",
    "roles",
    "scope",
    "scopes",
    "permission",
    "permissions",
    "policy",
    "policies",
    "group",
    "groups",
];
const ATTACH_VERBS: &[&str] = &["added", "assigned", "granted", "attached"];
const DETACH_VERBS: &[&str] = &["removed", "revoked", "unassigned", "detached"];
const ENABLE_VERBS: &[&str] = &[
    "enabled",
    "enable",
    "activated",
    "reactivated",
    "unlocked",
    "restored",
    "unsuspended",
];
const DISABLE_VERBS: &[&str] = &[
    "disabled",
    "disable",
    "deactivated",
    "suspended",
    "blocked",
    "banned",
];
const LOCK_WORDS: &[&str] = &["locked", "lock", "lockout"];

/// The verbs of API Activity, by activity. The verb is looked for from the action's last word
/// backwards (`document.opened`, and the verb-first `deleted_api_key` alike).
const CREATE_VERBS: &[&str] = &[
    "created",
    "create",
    "added",
    "add",
    "new",
    "inserted",
    "uploaded",
    "generated",
    "issued",
    "cloned",
    "copied",
    "imported",
    "provisioned",
    "registered",
];
const READ_VERBS: &[&str] = &[
    "opened",
    "open",
    "viewed",
    "view",
    "read",
    "accessed",
    "downloaded",
    "exported",
    "listed",
    "list",
    "fetched",
    "get",
    "searched",
    "queried",
    "retrieved",
    "previewed",
];
const UPDATE_VERBS: &[&str] = &[
    "updated", "update", "changed", "change", "modified", "modify", "renamed", "rename", "edited",
    "edit", "moved", "patched", "replaced", "rotated", "write", "written",
];
const DELETE_VERBS: &[&str] = &[
    "deleted",
    "delete",
    "removed",
    "remove",
    "destroyed",
    "purged",
    "erased",
    "trashed",
];

fn crud_verb(w: &[&str]) -> u8 {
    for word in w.iter().rev() {
        if CREATE_VERBS.contains(word) {
            return api_activity::CREATE;
        }
        if READ_VERBS.contains(word) {
            return api_activity::READ;
        }
        if UPDATE_VERBS.contains(word) {
            return api_activity::UPDATE;
        }
        if DELETE_VERBS.contains(word) {
            return api_activity::DELETE;
        }
    }
    ACTIVITY_OTHER
}

fn account_activity(w: &[&str]) -> u8 {
    use account_activity::*;
    let mfa = has_any(w, MFA_WORDS) || has_pair(w, &["two", "multi"], &["factor"]);
    if has_any(w, &["password", "passwords"]) {
        return if has_any(w, &["reset", "forgot", "forgotten"]) {
            PASSWORD_RESET
        } else {
            PASSWORD_CHANGE
        };
    }
    if mfa {
        return if has_any(w, ENABLE_VERBS)
            || has_any(w, &["added", "registered", "enrolled", "configured"])
        {
            MFA_ENABLE
        } else if has_any(w, DISABLE_VERBS) || has_any(w, &["removed", "deleted", "reset"]) {
            MFA_DISABLE
        } else {
            ACTIVITY_OTHER
        };
    }
    if has_any(w, ENABLE_VERBS) {
        return ENABLE;
    }
    if has_any(w, LOCK_WORDS) {
        return LOCK;
    }
    if has_any(w, DISABLE_VERBS) {
        return DISABLE;
    }
    // A privilege named after the subject (`user_role_added`, `role.permission_granted`) is
    // given or taken; a privilege that is the subject (`role.removed`) is itself deleted.
    if w.iter().skip(1).any(|x| PRIVILEGE_NOUNS.contains(x)) {
        if has_any(w, ATTACH_VERBS) {
            return ATTACH_POLICY;
        }
        if has_any(w, DETACH_VERBS) {
            return DETACH_POLICY;
        }
    }
    match crud_verb(w) {
        api_activity::CREATE => CREATE,
        api_activity::DELETE => DELETE,
        _ => ACTIVITY_OTHER,
    }
}

/// The class and activity of an action, by its words (split at `.` and `_`):
///
/// - a logout (`logout`, `logoff`, `signout`, `logged_out`, ...) → Authentication, Logoff;
/// - a login (`login`, `logon`, `signin`, `logged_in`, ...), failed or not → Authentication,
///   Logon;
/// - a user, role, account, member, password or MFA word → Account Change: password reset or
///   change; MFA enable or disable; enable (also unlock); lock; disable; a role, scope,
///   permission or policy given (attach) or taken (detach); create; delete; else Other;
/// - anything else → API Activity, its activity from the verb nearest the end: create
///   (`created`, `added`, `new`, ...), read (`opened`, `viewed`, `downloaded`, ...), update
///   (`updated`, `changed`, `renamed`, ...), delete (`deleted`, `removed`, ...), else Other.
pub fn classify(action: &str) -> Classification {
    let w = words(action);
    if is_logout(&w) {
        return Classification {
            class: Class::Authentication,
            activity_id: auth_activity::LOGOFF,
        };
    }
    if is_login(&w) {
        return Classification {
            class: Class::Authentication,
            activity_id: auth_activity::LOGON,
        };
    }
    if has_any(&w, ACCOUNT_SUBJECTS) || has_pair(&w, &["two", "multi"], &["factor"]) {
        return Classification {
            class: Class::AccountChange,
            activity_id: account_activity(&w),
        };
    }
    Classification {
        class: Class::ApiActivity,
        activity_id: crud_verb(&w),
    }
}

/// The classification of `action`: the first valid override that matches, else [`classify`].
pub fn classify_with(action: &str, overrides: &[ClassOverride]) -> Classification {
    overrides
        .iter()
        .filter(|o| o.matches(action))
        .find_map(|o| o.check().ok())
        .unwrap_or_else(|| classify(action))
}

/// Whether `s` passes OCSF's `email_addr` pattern
/// (`^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`). Ingest accepts any
/// text with an `@`; an address OCSF would refuse goes under `unmapped` instead.
fn is_ocsf_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+,-./=?^_`{|}~".contains(c));
    let Some((first, rest)) = domain.split_once('.') else {
        return false;
    };
    local_ok
        && !first.is_empty()
        && first.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// OCSF `user.type_id` and `user.type` for an actor type: people are Users, the platform is
/// System, and every machine or group principal is Other with our wire name as its type.
fn user_type(t: ActorType) -> (u8, &'static str) {
    match t {
        ActorType::User => (1, "User"),
        ActorType::System => (3, "System"),
        other => (99, other.as_str()),
    }
}

/// The actor as an OCSF `user`.
fn actor_user(actor: &Actor, unmapped: &mut Map<String, Value>) -> Value {
    let mut user = Map::new();
    user.insert("uid".into(), json!(actor.user_id));
    if let Some(email) = &actor.email {
        if is_ocsf_email(email) {
            user.insert("email_addr".into(), json!(email));
        } else {
            unmapped.insert("actor_email".into(), json!(email));
        }
    }
    if let Some(t) = actor.actor_type {
        let (id, name) = user_type(t);
        user.insert("type_id".into(), json!(id));
        user.insert("type".into(), json!(name));
    }
    Value::Object(user)
}

fn millis(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The event as an OCSF record (see the module's documentation for the classes). `received_at`
/// overrides the event's own; the context's `class_overrides` are the org's class choices,
/// first match wins.
///
/// - `time` is the event's `timestamp` in epoch milliseconds (`received_at` if the timestamp
///   does not parse, which a stored event's always does); `metadata.original_time` keeps the
///   timestamp as sent, `metadata.logged_time` is `received_at`, `metadata.event_code` the action.
/// - `status_id` is 1 (Success) or 2 (Failure) from `success`; without it, a failed login is a
///   Failure and anything else 0 (Unknown).
/// - `duration` is `duration_ms`; `src_endpoint.ip` the actor's IP; `http_request.user_agent`
///   the actor's user agent.
/// - API Activity: `api.operation` is the action, `resources` the resource; without an IP the
///   required `src_endpoint` is `{"name": "unknown"}`.
/// - Authentication: `user` is the actor (the subject who logs in); the required `service` is
///   the tenant (`uid`), named after the event's `project` when it has one.
/// - Account Change: `user` (the target) is the resource when that is a user, account or
///   member, else the actor (a change to one's own account, such as `password_change`).
/// - `unmapped` holds the rest: `metadata`, `project`, `request_id`, and the resource where
///   the class has no place for it.
pub fn record(event: &AuditEvent, received_at: Option<&str>, ctx: &ShapeContext) -> Value {
    let Classification { class, activity_id } = classify_with(&event.action, &ctx.class_overrides);
    let caption = class.activity_caption(activity_id).unwrap_or("Other");
    let activity_name = if activity_id == ACTIVITY_OTHER {
        // OCSF: with Other, activity_name carries the source's own name for the activity.
        event.action.as_str()
    } else {
        caption
    };
    let (status_id, status) = match event.success {
        Some(true) => (1, "Success"),
        Some(false) => (2, "Failure"),
        None if is_failed_login(&event.action) => (2, "Failure"),
        None => (0, "Unknown"),
    };
    let received = received_time(event, received_at);
    let time = event_time(event).or(received).map_or(0, millis);
    let tenant = ctx.tenant_of(event);
    let mut unmapped = Map::new();

    let mut metadata = json!({
        "uid": event.event_id,
        "version": OCSF_VERSION,
        "product": {
            "name": ctx.product_name,
            "vendor_name": ctx.vendor_name,
            "version": ctx.product_version,
        },
        "tenant_uid": tenant,
        "event_code": event.action,
        "original_time": event.timestamp,
    });
    if let (Some(r), Some(m)) = (received, metadata.as_object_mut()) {
        m.insert("logged_time".into(), json!(millis(r)));
    }

    let mut rec = Map::new();
    rec.insert("activity_id".into(), json!(activity_id));
    rec.insert("activity_name".into(), json!(activity_name));
    rec.insert("category_uid".into(), json!(class.category_uid()));
    rec.insert("category_name".into(), json!(class.category_name()));
    rec.insert("class_uid".into(), json!(class.uid()));
    rec.insert("class_name".into(), json!(class.name()));
    rec.insert(
        "type_uid".into(),
        json!(u64::from(class.uid()) * 100 + u64::from(activity_id)),
    );
    rec.insert(
        "type_name".into(),
        json!(format!("{}: {}", class.name(), caption)),
    );
    rec.insert("severity_id".into(), json!(SEVERITY_INFORMATIONAL));
    rec.insert("severity".into(), json!("Informational"));
    rec.insert("time".into(), json!(time));
    rec.insert("status_id".into(), json!(status_id));
    rec.insert("status".into(), json!(status));
    rec.insert("metadata".into(), metadata);

    let user = actor_user(&event.actor, &mut unmapped);
    rec.insert("actor".into(), json!({ "user": user }));
    match &event.actor.ip_address {
        Some(ip) => {
            rec.insert("src_endpoint".into(), json!({ "ip": ip }));
        }
        None if class == Class::ApiActivity => {
            rec.insert("src_endpoint".into(), json!({ "name": "unknown" }));
        }
        None => {}
    }
    if let Some(ua) = &event.actor.user_agent {
        rec.insert("http_request".into(), json!({ "user_agent": ua }));
    }
    if let Some(d) = event.duration_ms {
        rec.insert(
            "duration".into(),
            json!(i64::try_from(d).unwrap_or(i64::MAX)),
        );
    }

    let resource_json = event.resource.as_ref().map(|r| {
        let mut m = Map::new();
        m.insert("uid".into(), json!(r.id));
        m.insert("type".into(), json!(r.resource_type));
        if let Some(name) = &r.name {
            m.insert("name".into(), json!(name));
        }
        Value::Object(m)
    });
    let mut project_used = false;
    match class {
        Class::ApiActivity => {
            rec.insert("api".into(), json!({ "operation": event.action }));
            if let Some(r) = resource_json {
                rec.insert("resources".into(), json!([r]));
            }
        }
        Class::Authentication => {
            rec.insert("user".into(), user);
            let mut service = Map::new();
            service.insert("uid".into(), json!(tenant));
            if let Some(p) = &event.project {
                service.insert("name".into(), json!(p));
                project_used = true;
            }
            rec.insert("service".into(), Value::Object(service));
            if let Some(r) = resource_json {
                unmapped.insert("resource".into(), r);
            }
        }
        Class::AccountChange => {
            let target = event
                .resource
                .as_ref()
                .filter(|r| matches!(r.resource_type.as_str(), "user" | "account" | "member"));
            match target {
                Some(r) => {
                    let mut t = Map::new();
                    t.insert("uid".into(), json!(r.id));
                    if let Some(name) = &r.name {
                        t.insert("name".into(), json!(name));
                    }
                    rec.insert("user".into(), Value::Object(t));
                }
                None => {
                    rec.insert("user".into(), user);
                    if let Some(r) = resource_json {
                        unmapped.insert("resource".into(), r);
                    }
                }
            }
        }
    }

    if let Some(p) = event.project.as_ref().filter(|_| !project_used) {
        unmapped.insert("project".into(), json!(p));
    }
    if let Some(id) = &event.request_id {
        unmapped.insert("request_id".into(), json!(id));
    }
    if let Some(m) = &event.metadata {
        unmapped.insert("metadata".into(), Value::Object(m.clone()));
    }
    if !unmapped.is_empty() {
        rec.insert("unmapped".into(), Value::Object(unmapped));
    }
    Value::Object(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::test_support::{ctx, example};

    fn c(action: &str) -> (u32, u8) {
        let c = classify(action);
        (c.class.uid(), c.activity_id)
    }

    #[test]
    fn logins_failed_logins_and_logouts_are_authentication() {
        for a in [
            "user_login",
            "user.logged_in",
            "auth.signin",
            "session.logon",
            "sso.sign_in",
        ] {
            assert_eq!(c(a), (3002, 1), "{a}");
            assert!(!is_failed_login(a), "{a}");
        }
        for a in ["invalid_login", "user.login_failed", "auth.login_denied"] {
            assert_eq!(c(a), (3002, 1), "{a}");
            assert!(is_failed_login(a), "{a}");
        }
        for a in [
            "user_logout",
            "user.logged_out",
            "auth.signout",
            "session.log_off",
        ] {
            assert_eq!(c(a), (3002, 2), "{a}");
        }
    }

    #[test]
    fn user_role_password_and_mfa_changes_are_account_changes() {
        let cases = [
            ("user_created", 1),
            ("user.invited", 99),
            ("user.reactivated", 2),
            ("user.unlocked", 2),
            ("password_change", 3),
            ("user.password_changed", 3),
            ("user.password_reset", 4),
            ("user.disabled", 5),
            ("user.suspended", 5),
            ("user.deleted", 6),
            ("member.removed", 6),
            ("role.removed", 6),
            ("role.created", 1),
            ("user_role_added", 7),
            ("user_support_scope_assigned", 7),
            ("role.permission_granted", 7),
            ("user_role_removed", 8),
            ("user.role_revoked", 8),
            ("user_locked", 9),
            ("user.mfa_enabled", 10),
            ("account.two_factor_enrolled", 10),
            ("user.mfa_disabled", 11),
            ("user.mfa_challenged", 99),
            ("user.updated", 99),
        ];
        for (a, activity) in cases {
            assert_eq!(c(a), (3001, activity), "{a}");
        }
    }

    #[test]
    fn everything_else_is_api_activity_by_verb() {
        let cases = [
            ("document.opened", 2),
            ("portal_page_view", 2),
            ("report.downloaded", 2),
            ("document.created", 1),
            ("new_api_key", 1),
            ("org_created", 1),
            ("file.uploaded", 1),
            ("document.updated", 3),
            ("modified_notifier", 3),
            ("folder.renamed", 3),
            ("document.deleted", 4),
            ("deleted_api_key", 4),
            ("app_deployed", 99),
            ("request_state", 99),
        ];
        for (a, activity) in cases {
            assert_eq!(c(a), (6003, activity), "{a}");
        }
    }

    #[test]
    fn documented_example_is_an_api_read() {
        let r = record(&example(), None, &ctx());
        assert_eq!(r["class_uid"], 6003);
        assert_eq!(r["category_uid"], 6);
        assert_eq!(r["activity_id"], 2);
        assert_eq!(r["activity_name"], "Read");
        assert_eq!(r["type_uid"], 600302);
        assert_eq!(r["type_name"], "API Activity: Read");
        assert_eq!(r["severity_id"], 1);
        assert_eq!(r["time"], 1_779_445_800_000_i64);
        assert_eq!(r["status_id"], 0);
        assert_eq!(r["status"], "Unknown");
        assert_eq!(
            r["metadata"],
            json!({
                "uid": "evt_01HXYZABCDEF", "version": "1.3.0",
                "product": {"name": "AuditRelay", "vendor_name": "AuditRelay", "version": "1.2.3"},
                "tenant_uid": "ten_01ABCDEFG", "event_code": "document.opened",
                "original_time": "2026-05-22T10:30:00Z", "logged_time": 1_779_445_801_250_i64
            })
        );
        assert_eq!(
            r["actor"],
            json!({"user": {"uid": "usr_01ABCDEFG", "email_addr": "jane@example.com"}})
        );
        assert_eq!(r["src_endpoint"], json!({"ip": "203.0.113.42"}));
        assert_eq!(r["api"], json!({"operation": "document.opened"}));
        assert_eq!(
            r["resources"],
            json!([{"uid": "doc_01ABCDEF", "type": "document", "name": "Contract_v2.docx"}])
        );
        assert!(r.get("unmapped").is_none());
        assert!(r.get("http_request").is_none());
    }

    #[test]
    fn a_failed_login_is_a_failure_authentication_with_a_service() {
        let mut ev = example();
        ev.action = "invalid_login".into();
        ev.resource = None;
        ev.actor.actor_type = Some(ActorType::User);
        ev.actor.user_agent = Some("Mozilla/5.0".into());
        ev.project = Some("billing".into());
        ev.request_id = Some("req_1".into());
        ev.duration_ms = Some(31);
        let r = record(&ev, None, &ctx());
        assert_eq!(r["class_uid"], 3002);
        assert_eq!(r["category_uid"], 3);
        assert_eq!(r["type_uid"], 300201);
        assert_eq!(r["status_id"], 2);
        assert_eq!(r["status"], "Failure");
        assert_eq!(r["user"]["uid"], "usr_01ABCDEFG");
        assert_eq!(r["user"]["type_id"], 1);
        assert_eq!(
            r["service"],
            json!({"uid": "ten_01ABCDEFG", "name": "billing"})
        );
        assert_eq!(r["http_request"], json!({"user_agent": "Mozilla/5.0"}));
        assert_eq!(r["duration"], 31);
        assert_eq!(r["unmapped"], json!({"request_id": "req_1"}));
        ev.success = Some(true);
        assert_eq!(record(&ev, None, &ctx())["status_id"], 1);
    }

    #[test]
    fn an_account_change_targets_the_user_resource_or_else_the_actor() {
        let mut ev = example();
        ev.action = "user.deleted".into();
        ev.resource = Some(crate::model::event::Resource {
            resource_type: "user".into(),
            id: "usr_target".into(),
            name: Some("Bob".into()),
        });
        ev.success = Some(false);
        let r = record(&ev, None, &ctx());
        assert_eq!(r["class_uid"], 3001);
        assert_eq!(r["type_uid"], 300106);
        assert_eq!(r["user"], json!({"uid": "usr_target", "name": "Bob"}));
        assert_eq!(r["actor"]["user"]["uid"], "usr_01ABCDEFG");
        assert_eq!(r["status_id"], 2);

        ev.action = "password_change".into();
        ev.resource = None;
        let r = record(&ev, None, &ctx());
        assert_eq!(r["type_uid"], 300103);
        assert_eq!(r["user"]["uid"], "usr_01ABCDEFG");
    }

    #[test]
    fn other_activity_names_the_action_and_unmapped_keeps_the_rest() {
        let mut ev = example();
        ev.action = "app_deployed".into();
        ev.actor.ip_address = None;
        ev.actor.email = Some("ops@localhost".into());
        ev.actor.actor_type = Some(ActorType::ApiKey);
        ev.project = Some("prj".into());
        ev.metadata = json!({"app_id": "a1"}).as_object().cloned();
        let r = record(&ev, Some("2026-05-22T10:30:05Z"), &ctx());
        assert_eq!(r["activity_id"], 99);
        assert_eq!(r["activity_name"], "app_deployed");
        assert_eq!(r["type_name"], "API Activity: Other");
        assert_eq!(r["src_endpoint"], json!({"name": "unknown"}));
        assert_eq!(
            r["actor"]["user"],
            json!({"uid": "usr_01ABCDEFG", "type_id": 99, "type": "api_key"})
        );
        assert_eq!(r["metadata"]["logged_time"], 1_779_445_805_000_i64);
        assert_eq!(
            r["unmapped"],
            json!({"actor_email": "ops@localhost", "project": "prj", "metadata": {"app_id": "a1"}})
        );
    }

    #[test]
    fn overrides_choose_the_class_first_match_and_valid_only() {
        let ev = example();
        let overrides = vec![
            ClassOverride {
                pattern: "document.*".into(),
                class_uid: 4001,
                activity_id: 1,
            },
            ClassOverride {
                pattern: "document.*".into(),
                class_uid: 6003,
                activity_id: 9,
            },
            ClassOverride {
                pattern: "doc*.open?d".into(),
                class_uid: 3001,
                activity_id: 99,
            },
            ClassOverride {
                pattern: "document.*".into(),
                class_uid: 3002,
                activity_id: 1,
            },
        ];
        assert!(overrides[0].check().unwrap_err().contains("4001"));
        assert!(overrides[1].check().unwrap_err().contains("activity_id 9"));
        let r = record(&ev, None, &ctx().with_class_overrides(overrides.clone()));
        assert_eq!(r["class_uid"], 3001);
        assert_eq!(r["type_uid"], 300199);
        assert_eq!(r["activity_name"], "document.opened");
        assert_eq!(r["user"]["uid"], "usr_01ABCDEFG");
        assert_eq!(r["unmapped"]["resource"]["uid"], "doc_01ABCDEF");
        let none_match = record(
            &ev,
            None,
            &ctx().with_class_overrides(overrides[3..].to_vec()),
        );
        assert_eq!(none_match["class_uid"], 3002);
        assert_eq!(none_match["service"], json!({"uid": "ten_01ABCDEFG"}));
    }

    #[test]
    fn email_pattern_follows_ocsf() {
        assert!(is_ocsf_email("jane@example.com"));
        assert!(is_ocsf_email("a.b+c@sub.example.co.uk"));
        assert!(!is_ocsf_email("ops@localhost"));
        assert!(!is_ocsf_email("@example.com"));
        assert!(!is_ocsf_email("a@b@example.com"));
        assert!(!is_ocsf_email("jané@example.com"));
    }
}
