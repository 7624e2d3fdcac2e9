//! An org's notification settings: the e-mail addresses told when one of its destinations
//! starts failing or is paused (the audit-export documentation: "automatically paused and the
//! admin is notified"). The input of `PUT /orgs/{orgId}/notifications`, its validation, and
//! the view the API returns (camelCase, like the other `/orgs/{orgId}/...` routes).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// Most addresses per org: each is an SNS subscription, and a handful of people is what a
/// "notify the admin" list is for.
pub const MAX_EMAILS: usize = 10;
/// Longest accepted address (RFC 5321's path limit less the angle brackets).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL_BYTES: usize = 64;
/// Longest domain label (RFC 1035).
const MAX_LABEL_BYTES: usize = 63;

/// Body of `PUT /orgs/{orgId}/notifications`.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"emails": ["secops@example.invalid"]}))]
pub struct NotificationSettingsInput {
    /// The addresses, replacing the stored list. Taken as any JSON value so that a wrong type
    /// gets a clear error naming the field.
    #[schema(value_type = Vec<String>)]
    pub emails: Value,
}

impl NotificationSettingsInput {
    /// The validated list: at most [`MAX_EMAILS`] syntactically valid addresses, no two the
    /// same ignoring case, in the order given (surrounding whitespace trimmed).
    pub fn validate(&self) -> Result<Vec<String>, Error> {
        let Value::Array(items) = &self.emails else {
            return Err(Error::invalid(
                "emails",
                "must be an array of e-mail addresses",
            ));
        };
        if items.len() > MAX_EMAILS {
            return Err(Error::invalid(
                "emails",
                format!("at most {MAX_EMAILS} addresses, got {}", items.len()),
            ));
        }
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let field = format!("emails[{i}]");
            let Some(email) = item.as_str().map(str::trim) else {
                return Err(Error::invalid(field, "must be a string"));
            };
            validate_email(email).map_err(|why| Error::invalid(&field, why))?;
            if out.iter().any(|e| same_address(e, email)) {
                return Err(Error::invalid(
                    field,
                    format!("{email} is listed twice (addresses are compared ignoring case)"),
                ));
            }
            out.push(email.to_string());
        }
        Ok(out)
    }
}

/// Whether two addresses are the same one for this list (ignoring ASCII case: a person types
/// their address in whichever case, and mail systems deliver both alike).
pub fn same_address(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The key under which an address is claimed (one org per address on a deployment).
pub fn address_key(email: &str) -> String {
    email.to_ascii_lowercase()
}

/// A syntax check of the `local@domain` form SNS e-mail subscriptions accept: a dot-atom
/// local part, a domain of dot-separated letter/digit/hyphen labels with at least one dot. It
/// does not try to accept every address RFC 5322 allows (quoted local parts, IP literals):
/// such an address is refused with a clear message rather than stored and never delivered.
fn validate_email(email: &str) -> Result<(), String> {
    if email.is_empty() {
        return Err("must not be empty".into());
    }
    if email.len() > MAX_EMAIL_BYTES {
        return Err(format!("must be at most {MAX_EMAIL_BYTES} bytes"));
    }
    let invalid = || format!("{email:?} is not a valid e-mail address");
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= MAX_LOCAL_BYTES
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c))
        });
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= MAX_LABEL_BYTES
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// Whether the person behind an address has confirmed the subscription.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// SNS sent a confirmation e-mail; nothing is delivered until its link is followed.
    PendingConfirmation,
    /// Confirmed: notifications are delivered.
    Confirmed,
    /// The subscription no longer exists (the person unsubscribed through a notification's
    /// link); `PUT` the list again to send a new confirmation.
    Unsubscribed,
}

/// One address of the list and its subscription's state.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailSubscriptionView {
    /// The address.
    pub email: String,
    /// Its subscription's state.
    pub status: SubscriptionStatus,
}

/// The answer of `GET` and `PUT /orgs/{orgId}/notifications`.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSettingsView {
    /// The addresses, in the order they were given.
    pub emails: Vec<String>,
    /// Each address with its subscription's state, in the same order.
    pub subscriptions: Vec<EmailSubscriptionView>,
    /// Last change (null when the list was never set).
    pub updated_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate(v: Value) -> Result<Vec<String>, Error> {
        NotificationSettingsInput { emails: v }.validate()
    }

    fn field_of(r: Result<Vec<String>, Error>) -> String {
        r.err()
            .and_then(|e| e.field().map(str::to_string))
            .unwrap_or_default()
    }

    #[test]
    fn valid_lists_are_trimmed_and_kept_in_order() {
        let got = validate(json!([
            " sec@example.com",
            "Ops.Team+audit@mail.example.co.uk"
        ]));
        assert_eq!(
            got.unwrap(),
            ["sec@example.com", "Ops.Team+audit@mail.example.co.uk"]
        );
        assert_eq!(validate(json!([])).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn bad_lists_name_the_field() {
        assert_eq!(field_of(validate(json!("a@example.com"))), "emails");
        assert_eq!(field_of(validate(json!(null))), "emails");
        let eleven: Vec<String> = (0..11).map(|i| format!("u{i}@example.com")).collect();
        assert_eq!(field_of(validate(json!(eleven))), "emails");
        assert_eq!(field_of(validate(json!(["a@example.com", 3]))), "emails[1]");
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a..b@example.com",
            "a@-x.example.com",
            "a@exa_mple.com",
            "a@example..com",
        ] {
            assert_eq!(field_of(validate(json!([bad]))), "emails[0]", "{bad:?}");
        }
    }

    #[test]
    fn duplicates_are_refused_ignoring_case() {
        let r = validate(json!(["a@example.com", "A@Example.COM"]));
        assert_eq!(field_of(r), "emails[1]");
    }
}
