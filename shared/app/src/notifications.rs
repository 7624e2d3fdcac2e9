//! The org's notification settings: the service behind `GET|PUT /orgs/{orgId}/notifications`.
//!
//! Each address is an SNS e-mail subscription on the stack's notification topic (the one the
//! operators subscribe to), with a filter policy on the `org_id` message attribute that every
//! notification carries ([`crate::pipeline::pause`]), so an org's admins hear only of their
//! own destinations. SNS sends each new address a confirmation e-mail; until its link is
//! followed the subscription is `pending_confirmation` and nothing is delivered to it.
//!
//! A `PUT` replaces the list: it claims and subscribes the new addresses, unsubscribes the
//! removed ones, then stores the list with the subscriptions' ARNs. Callers have checked that
//! the key is an admin/owner key of the org.

use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use futures::future::join_all;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::pipeline::pause::ORG_ID_ATTRIBUTE;
use relay_core::error::Error;
use relay_core::model::event::rfc3339_millis;
use relay_core::model::ids::OrgId;
use relay_core::model::notifications::{
    same_address, EmailSubscriptionView, NotificationSettingsInput, NotificationSettingsView,
    SubscriptionStatus,
};
use relay_store::notifications::{EmailSubscription, NotificationSettings};
use relay_store::Store;

/// The stack's notification topic, as the API reaches it.
#[derive(Debug, Clone, Copy)]
pub struct Topic<'a> {
    /// The SNS client.
    pub sns: &'a aws_sdk_sns::Client,
    /// The topic (`AUDITRELAY_NOTIFY_TOPIC_ARN`); `None` on a deployment without one.
    pub arn: Option<&'a str>,
}

/// An SNS failure as the domain sees it: throttling and outages can be retried, an SNS
/// refusal of an address is the caller's to fix, anything else is ours.
fn sns_error<E, R>(what: &str, field: &str, e: &SdkError<E, R>) -> Error
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let detail = format!("SNS {what}: {}", DisplayErrorContext(e));
    match e.code() {
        Some("InvalidParameter") => {
            let message = e.message().unwrap_or("refused by SNS").to_string();
            if message.contains("already exists") {
                Error::Conflict {
                    field: field.into(),
                    message: format!(
                        "{field}: this address is already subscribed to the topic with other \
                         settings (an operator's subscription?): {message}"
                    ),
                }
            } else {
                Error::invalid(field, message)
            }
        }
        Some("FilterPolicyLimitExceeded") | Some("SubscriptionLimitExceeded") => Error::Conflict {
            field: field.into(),
            message: format!(
                "{field}: the notification topic has reached its SNS subscription quota; ask \
                 the operators to raise it"
            ),
        },
        Some("Throttled") | Some("Throttling") | Some("InternalError") => {
            Error::Unavailable(detail)
        }
        _ if matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)) => {
            Error::Unavailable(detail)
        }
        _ => Error::Internal(detail),
    }
}

/// The filter policy of an org's subscriptions: only messages about its own destinations.
fn filter_policy(org_id: &OrgId) -> String {
    json!({ ORG_ID_ATTRIBUTE: [org_id.as_str()] }).to_string()
}

/// `GET /orgs/{orgId}/notifications`: the list, each address with its subscription's state
/// (asked of SNS, which alone knows whether the person confirmed).
pub async fn get(
    store: &Store,
    topic: Topic<'_>,
    org_id: &OrgId,
) -> Result<NotificationSettingsView, Error> {
    let settings = store.get_notification_settings(org_id).await?;
    view(topic, &settings).await
}

async fn status_of(topic: Topic<'_>, sub: &EmailSubscription) -> Result<SubscriptionStatus, Error> {
    let res = topic
        .sns
        .get_subscription_attributes()
        .subscription_arn(&sub.subscription_arn)
        .send()
        .await;
    match res {
        Ok(out) => {
            let pending = out
                .attributes()
                .and_then(|a| a.get("PendingConfirmation"))
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            Ok(if pending {
                SubscriptionStatus::PendingConfirmation
            } else {
                SubscriptionStatus::Confirmed
            })
        }
        // The person unsubscribed through a notification's link.
        Err(e) if e.code() == Some("NotFound") => Ok(SubscriptionStatus::Unsubscribed),
        Err(e) => Err(sns_error("GetSubscriptionAttributes", "emails", &e)),
    }
}

async fn view(
    topic: Topic<'_>,
    settings: &NotificationSettings,
) -> Result<NotificationSettingsView, Error> {
    let statuses = join_all(
        settings
            .subscriptions
            .iter()
            .map(|sub| status_of(topic, sub)),
    )
    .await;
    let subscriptions = settings
        .subscriptions
        .iter()
        .zip(statuses)
        .map(|(sub, status)| {
            Ok(EmailSubscriptionView {
                email: sub.email.clone(),
                status: status?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(NotificationSettingsView {
        emails: settings
            .subscriptions
            .iter()
            .map(|s| s.email.clone())
            .collect(),
        subscriptions,
        updated_at: settings.updated_at.clone(),
    })
}

/// `PUT /orgs/{orgId}/notifications`: replaces the org's list with the body's `emails`.
pub async fn put(
    store: &Store,
    topic: Topic<'_>,
    org_id: &OrgId,
    body: Value,
    now: OffsetDateTime,
) -> Result<NotificationSettingsView, Error> {
    let input: NotificationSettingsInput = relay_core::decode::from_value(body, "")?;
    let emails = input.validate()?;
    let current = store.get_notification_settings(org_id).await?;
    let kept = |email: &str| {
        current
            .subscriptions
            .iter()
            .find(|s| same_address(&s.email, email))
    };
    let added: Vec<(usize, &str)> = emails
        .iter()
        .enumerate()
        .filter(|(_, e)| kept(e).is_none())
        .map(|(i, e)| (i, e.as_str()))
        .collect();
    let removed: Vec<&EmailSubscription> = current
        .subscriptions
        .iter()
        .filter(|s| !emails.iter().any(|e| same_address(e, &s.email)))
        .collect();
    // Removing addresses needs only their ARNs; adding one needs the topic.
    let topic_arn = match topic.arn {
        Some(arn) => arn,
        None if added.is_empty() => "",
        None => {
            return Err(Error::Conflict {
                field: "emails".into(),
                message: "emails: this deployment has no notification topic \
                          (AUDITRELAY_NOTIFY_TOPIC_ARN), so no address can be subscribed"
                    .into(),
            })
        }
    };

    claim_all(store, org_id, &added).await?;
    let mut fresh = Vec::with_capacity(added.len());
    for &(i, email) in &added {
        match subscribe(topic, topic_arn, org_id, i, email).await {
            Ok(arn) => fresh.push(arn),
            Err(e) => {
                // Nothing is stored: give back what this request took.
                undo(store, topic, org_id, &added, &fresh).await;
                return Err(e);
            }
        }
    }
    // Before the list is stored without them: an address that stayed subscribed but is no
    // longer listed would keep hearing of the org with no one able to see or stop it.
    for sub in &removed {
        unsubscribe(topic, &sub.subscription_arn).await?;
    }

    let mut fresh_arns = fresh.iter();
    let subscriptions: Vec<EmailSubscription> = emails
        .iter()
        .map(|email| {
            let subscription_arn = match kept(email) {
                Some(s) => s.subscription_arn.clone(),
                None => fresh_arns.next().cloned().unwrap_or_default(),
            };
            EmailSubscription {
                email: email.clone(),
                subscription_arn,
            }
        })
        .collect();
    let at = rfc3339_millis(now);
    if !store
        .put_notification_settings(org_id, &subscriptions, current.version, &at)
        .await?
    {
        // Another change was stored first: keep what it listed, take back the rest.
        let winner = store.get_notification_settings(org_id).await?;
        let listed = |email: &str| {
            winner
                .subscriptions
                .iter()
                .any(|s| same_address(&s.email, email))
        };
        let ours: Vec<(usize, &str)> = added.iter().copied().filter(|(_, e)| !listed(e)).collect();
        let arns: Vec<String> = added
            .iter()
            .zip(&fresh)
            .filter(|((_, e), _)| !listed(e))
            .map(|(_, arn)| arn.clone())
            .collect();
        undo(store, topic, org_id, &ours, &arns).await;
        return Err(Error::Conflict {
            field: "emails".into(),
            message: "emails: the notification settings were changed at the same time; read \
                      them and send the list again"
                .into(),
        });
    }
    for sub in &removed {
        if let Err(e) = store.release_notification_email(org_id, &sub.email).await {
            // Only blocks another org from this address until the next change; logged.
            tracing::warn!(error = %e, "releasing a notification address failed");
        }
    }
    tracing::info!(org_id = %org_id, emails = subscriptions.len(), added = added.len(),
        removed = removed.len(), "notification settings changed");
    let stored = NotificationSettings {
        subscriptions,
        updated_at: Some(at),
        version: current.version + 1,
    };
    view(topic, &stored).await
}

/// Claims every added address for the org, or none: an address another org holds is refused
/// (SNS keeps one subscription, with one filter policy, per address and topic).
async fn claim_all(store: &Store, org_id: &OrgId, added: &[(usize, &str)]) -> Result<(), Error> {
    for (n, &(i, email)) in added.iter().enumerate() {
        if !store.claim_notification_email(org_id, email).await? {
            release(store, org_id, &added[..n]).await;
            return Err(Error::Conflict {
                field: format!("emails[{i}]"),
                message: format!(
                    "emails[{i}]: {email} already receives another org's notifications on this \
                     deployment"
                ),
            });
        }
    }
    Ok(())
}

async fn release(store: &Store, org_id: &OrgId, emails: &[(usize, &str)]) {
    for &(_, email) in emails {
        if let Err(e) = store.release_notification_email(org_id, email).await {
            tracing::warn!(error = %e, "releasing a notification address failed");
        }
    }
}

/// Best effort: unsubscribes `arns` and releases the claims of `emails` (a failed request's
/// leftovers; a pending subscription left behind expires unconfirmed after three days).
async fn undo(
    store: &Store,
    topic: Topic<'_>,
    org_id: &OrgId,
    emails: &[(usize, &str)],
    arns: &[String],
) {
    for arn in arns {
        if let Err(e) = unsubscribe(topic, arn).await {
            tracing::warn!(error = %e, "removing a subscription of a failed change failed");
        }
    }
    release(store, org_id, emails).await;
}

/// Subscribes `email` (the `i`th of the list) with the org's filter policy; returns the
/// subscription's ARN, which SNS gives at once when asked (`ReturnSubscriptionArn`) instead of
/// "pending confirmation", so that it can be unsubscribed before the person confirms.
async fn subscribe(
    topic: Topic<'_>,
    topic_arn: &str,
    org_id: &OrgId,
    i: usize,
    email: &str,
) -> Result<String, Error> {
    let field = format!("emails[{i}]");
    let out = topic
        .sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("email")
        .endpoint(email)
        .attributes("FilterPolicy", filter_policy(org_id))
        .attributes("FilterPolicyScope", "MessageAttributes")
        .return_subscription_arn(true)
        .send()
        .await
        .map_err(|e| sns_error("Subscribe", &field, &e))?;
    out.subscription_arn()
        .filter(|arn| arn.starts_with("arn:"))
        .map(str::to_string)
        .ok_or_else(|| Error::Internal(format!("SNS Subscribe returned no ARN for {field}")))
}

/// Unsubscribes `arn`; one that is already gone (the person unsubscribed) is done.
async fn unsubscribe(topic: Topic<'_>, arn: &str) -> Result<(), Error> {
    match topic.sns.unsubscribe().subscription_arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("NotFound") => Ok(()),
        Err(e) => Err(sns_error("Unsubscribe", "emails", &e)),
    }
}
