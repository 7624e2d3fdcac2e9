//! An org's notification settings in the config table: the e-mail addresses subscribed to the
//! stack's topic for its destinations' warnings and pauses, and the SNS subscription of each.
//!
//! Items:
//! * `ORG#{org_id}` / `NOTIFY`: `subscriptions` (a list of `{email, subscription_arn}`, in the
//!   order the admin gave), `updated_at`, and `version` (each write expects the version it
//!   read, so two concurrent changes cannot each drop the other's subscriptions unseen).
//! * `EMAIL#{address, lower case}` / `NOTIFY`: `org_id`, the one org an address receives
//!   notifications for. SNS keeps one subscription per (topic, address), with one filter
//!   policy, so a second org subscribing the same address would take the first org's
//!   subscription over (or be refused); the claim says so before SNS is asked.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{conditional, get_n, get_s, n, opt_s, s, Item, Store};
use crate::error::StoreError;
use relay_core::model::ids::OrgId;
use relay_core::model::notifications::address_key;

/// Sort key of both items.
const SK: &str = "NOTIFY";

fn settings_pk(org_id: &OrgId) -> AttributeValue {
    s(format!("ORG#{org_id}"))
}

fn claim_pk(email: &str) -> AttributeValue {
    s(format!("EMAIL#{}", address_key(email)))
}

/// One address and its SNS subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailSubscription {
    /// The address as the admin typed it.
    pub email: String,
    /// The SNS subscription's ARN (SNS returns one at once when asked to, before the person
    /// confirms).
    pub subscription_arn: String,
}

/// An org's stored notification settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotificationSettings {
    /// The addresses, in the admin's order.
    pub subscriptions: Vec<EmailSubscription>,
    /// Last change (RFC 3339), `None` when never set.
    pub updated_at: Option<String>,
    /// The version read (0 when never set); the next write expects it.
    pub version: u64,
}

fn subscription_from(v: &AttributeValue) -> Result<EmailSubscription, StoreError> {
    let m = v
        .as_m()
        .map_err(|_| StoreError::Corrupt("subscription is not a map".into()))?;
    Ok(EmailSubscription {
        email: get_s(m, "email")?.to_string(),
        subscription_arn: get_s(m, "subscription_arn")?.to_string(),
    })
}

fn settings_from_item(item: &Item) -> Result<NotificationSettings, StoreError> {
    let subscriptions = match item.get("subscriptions") {
        Some(AttributeValue::L(l)) => l.iter().map(subscription_from).collect::<Result<_, _>>()?,
        _ => vec![],
    };
    Ok(NotificationSettings {
        subscriptions,
        updated_at: opt_s(item, "updated_at"),
        version: get_n(item, "version")?,
    })
}

fn subscription_value(sub: &EmailSubscription) -> AttributeValue {
    AttributeValue::M(
        [
            ("email".to_string(), s(&sub.email)),
            ("subscription_arn".to_string(), s(&sub.subscription_arn)),
        ]
        .into_iter()
        .collect(),
    )
}

impl Store {
    /// The org's notification settings (empty when never set). Strongly consistent: a `GET`
    /// after a `PUT` shows the new list.
    pub async fn get_notification_settings(
        &self,
        org_id: &OrgId,
    ) -> Result<NotificationSettings, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", settings_pk(org_id))
            .key("sk", s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item()
            .map(settings_from_item)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Replaces the org's list, if it is still at `expected_version` (what
    /// [`Store::get_notification_settings`] returned); `Ok(false)` when another change came
    /// first.
    pub async fn put_notification_settings(
        &self,
        org_id: &OrgId,
        subscriptions: &[EmailSubscription],
        expected_version: u64,
        now: &str,
    ) -> Result<bool, StoreError> {
        let item: Item = [
            ("pk", settings_pk(org_id)),
            ("sk", s(SK)),
            ("org_id", s(org_id)),
            (
                "subscriptions",
                AttributeValue::L(subscriptions.iter().map(subscription_value).collect()),
            ),
            ("updated_at", s(now)),
            ("version", n(expected_version + 1)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let res = self
            .ddb
            .put_item()
            .table_name(&self.config_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR version = :v")
            .expression_attribute_values(":v", n(expected_version))
            .send()
            .await;
        Ok(conditional(res)?.is_some())
    }

    /// Claims `email` for the org's notifications; `Ok(false)` when another org holds it.
    /// Claiming an address the org already holds succeeds (a retried change).
    pub async fn claim_notification_email(
        &self,
        org_id: &OrgId,
        email: &str,
    ) -> Result<bool, StoreError> {
        let res = self
            .ddb
            .put_item()
            .table_name(&self.config_table)
            .item("pk", claim_pk(email))
            .item("sk", s(SK))
            .item("org_id", s(org_id))
            .condition_expression("attribute_not_exists(pk) OR org_id = :org")
            .expression_attribute_values(":org", s(org_id))
            .send()
            .await;
        Ok(conditional(res)?.is_some())
    }

    /// Gives up the org's claim on `email` (nothing happens if the org does not hold it).
    pub async fn release_notification_email(
        &self,
        org_id: &OrgId,
        email: &str,
    ) -> Result<(), StoreError> {
        let res = self
            .ddb
            .delete_item()
            .table_name(&self.config_table)
            .key("pk", claim_pk(email))
            .key("sk", s(SK))
            .condition_expression("org_id = :org")
            .expression_attribute_values(":org", s(org_id))
            .send()
            .await;
        conditional(res).map(|_| ())
    }

    /// The org holding `email`, if any (for tests and operators).
    pub async fn notification_email_owner(&self, email: &str) -> Result<Option<OrgId>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", claim_pk(email))
            .key("sk", s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item()
            .map(|i| get_s(i, "org_id").map(OrgId::from))
            .transpose()
    }
}
