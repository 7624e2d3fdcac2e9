//! The one pause mechanism of every destination: the failure-streak rule ([`PauseRule`]),
//! and what happens when a destination is paused (the audit-export documentation: "automatically
//! paused and the admin is notified"): a `security.audit_export_paused` event in the org's own
//! trail, and a message on the stack's SNS topic. A destination whose failure streak just began
//! gets a warning on the same topic first ([`notify_failing`]).
//!
//! Every message carries the org's id as the `org_id` message attribute: the org admins'
//! e-mail subscriptions filter on it (each hears only of its own org's destinations), and the
//! operators' subscriptions, without a filter, hear of everything.

use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::{json, Map, Value};

use crate::system_events::{record, SystemEvent};
use relay_core::error::Error;
use relay_core::model::ids::OrgId;
use relay_core::model::webhook::unix_to_rfc3339;
use relay_core::model::Org;
use relay_store::Store;

/// The trail action of a pause.
pub const PAUSED_ACTION: &str = "security.audit_export_paused";
/// `type` of the message published when a destination is paused.
pub const PAUSED_MESSAGE: &str = "audit_export_paused";
/// `type` of the message published when a destination starts failing.
pub const FAILING_MESSAGE: &str = "audit_export_failing";
/// The message attribute every notification carries, and org subscriptions filter on.
pub const ORG_ID_ATTRIBUTE: &str = "org_id";

/// A destination that was just paused.
#[derive(Debug, Clone)]
pub struct PauseNotice<'a> {
    /// The org.
    pub org: &'a Org,
    /// Kind: `s3`, `webhook`, `otel`.
    pub kind: &'a str,
    /// The destination's id.
    pub destination_id: &'a str,
    /// Why, in words an admin can act on.
    pub reason: &'a str,
    /// Unique per pause (e.g. the time it was decided); makes the trail event idempotent.
    pub pause_id: &'a str,
}

/// A destination whose failure streak just began (its first exhausted delivery, or its first
/// failed run, since it last worked).
#[derive(Debug, Clone)]
pub struct FailingNotice<'a> {
    /// The org.
    pub org: &'a Org,
    /// Kind: `s3`, `webhook`, `otel`.
    pub kind: &'a str,
    /// The destination's id.
    pub destination_id: &'a str,
    /// What failed, in words an admin can act on (the destination's admin-facing last
    /// error, never a secret).
    pub reason: &'a str,
}

/// Publishes notifications to the stack's topic.
#[derive(Debug, Clone)]
pub struct Notifier {
    sns: aws_sdk_sns::Client,
    topic_arn: Option<String>,
}

impl Notifier {
    /// A notifier on `topic_arn` (None: notifications are logged only).
    pub fn new(sns: aws_sdk_sns::Client, topic_arn: Option<String>) -> Self {
        Notifier { sns, topic_arn }
    }

    /// Records a pause in the org's trail and notifies operators. The trail write must succeed
    /// (it is retried by the caller's next run); the SNS publish is logged if it fails.
    pub async fn destination_paused(
        &self,
        store: &Store,
        notice: &PauseNotice<'_>,
    ) -> Result<(), Error> {
        let mut metadata = Map::new();
        metadata.insert("destination".into(), Value::String(notice.kind.into()));
        metadata.insert("reason".into(), Value::String(notice.reason.into()));
        record(
            store,
            notice.org,
            SystemEvent {
                event_id: format!("evt_paused_{}_{}", notice.destination_id, notice.pause_id),
                action: PAUSED_ACTION,
                resource: (
                    "audit_export_destination",
                    notice.destination_id,
                    Some(notice.kind),
                ),
                success: false,
                metadata,
            },
        )
        .await?;
        let message = json!({
            "type": PAUSED_MESSAGE,
            "org_id": notice.org.org_id,
            "org_name": notice.org.name,
            "destination": notice.kind,
            "destination_id": notice.destination_id,
            "reason": notice.reason,
        });
        tracing::warn!(org_id = %notice.org.org_id, destination = notice.kind,
            destination_id = notice.destination_id, reason = notice.reason, "destination paused");
        let subject = format!(
            "AuditRelay: {} export paused for {}",
            notice.kind, notice.org.name
        );
        self.publish(notice.org, &subject, &message).await;
        Ok(())
    }

    /// Warns that a destination started failing (once per failure streak: the caller decides
    /// from the streak counter it keeps). Only the SNS message: the trail records the pause
    /// that may follow, not each warning. A failed publish is logged.
    pub async fn destination_failing(&self, notice: &FailingNotice<'_>) {
        let message = json!({
            "type": FAILING_MESSAGE,
            "org_id": notice.org.org_id,
            "org_name": notice.org.name,
            "destination": notice.kind,
            "destination_id": notice.destination_id,
            "reason": notice.reason,
        });
        tracing::warn!(org_id = %notice.org.org_id, destination = notice.kind,
            destination_id = notice.destination_id, reason = notice.reason, "destination failing");
        let subject = format!(
            "AuditRelay: {} export failing for {}",
            notice.kind, notice.org.name
        );
        self.publish(notice.org, &subject, &message).await;
    }

    /// Publishes `message` with the org's id as the `org_id` attribute (what the org admins'
    /// filter policies match). Logged, never returned: a notification must not fail the
    /// delivery or run that raised it.
    async fn publish(&self, org: &Org, subject: &str, message: &Value) {
        let Some(topic) = &self.topic_arn else {
            return;
        };
        // SNS refuses subjects over 100 characters.
        let subject: String = subject.chars().take(100).collect();
        let attribute = match MessageAttributeValue::builder()
            .data_type("String")
            .string_value(org.org_id.as_str())
            .build()
        {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "building the org_id message attribute failed");
                return;
            }
        };
        if let Err(e) = self
            .sns
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(message.to_string())
            .message_attributes(ORG_ID_ATTRIBUTE, attribute)
            .send()
            .await
        {
            tracing::error!(error = %aws_sdk_sns::error::DisplayErrorContext(&e), "SNS publish failed");
        }
    }
}

/// When an endpoint is paused (the audit-export documentation: "if a destination is
/// consistently failing, it is automatically paused and the admin is notified"): after
/// `after_exhausted` events in a row exhausted all their attempts, or when every event for
/// `after_failing_for` did (the streak started that long ago and no delivery succeeded since).
/// Any successful delivery ends the streak.
#[derive(Debug, Clone, PartialEq)]
pub struct PauseRule {
    /// Exhausted events in a row.
    pub after_exhausted: u32,
    /// Length of an unbroken failing streak.
    pub after_failing_for: Duration,
}

impl Default for PauseRule {
    fn default() -> Self {
        PauseRule {
            after_exhausted: 50,
            after_failing_for: Duration::from_secs(24 * 3600),
        }
    }
}

impl PauseRule {
    /// Why an endpoint with this streak should be paused now, if it should.
    pub fn reason(&self, exhausted: u32, failing_since: Option<i64>, now: i64) -> Option<String> {
        if exhausted >= self.after_exhausted {
            return Some(format!(
                "{exhausted} events in a row failed every delivery attempt"
            ));
        }
        let since = failing_since?;
        let hours = self.after_failing_for.as_secs() / 3600;
        (exhausted > 0
            && now.saturating_sub(since)
                >= i64::try_from(self.after_failing_for.as_secs()).unwrap_or(i64::MAX))
        .then(|| {
            format!(
                "every delivery has failed for {hours} h (since {})",
                unix_to_rfc3339(since)
            )
        })
    }
}

/// Records a destination's automatic pause in the org's trail and notifies the operators'
/// topic. The pause itself is already stored; the trail event and the SNS message are retried
/// a few times (the trail write is idempotent by its event id).
pub async fn notify_pause(
    store: &Store,
    notifier: &Notifier,
    org_id: &OrgId,
    kind: &str,
    destination_id: &str,
    reason: &str,
    pause_id: &str,
) {
    let org = match store.get_org(org_id).await {
        Ok(Some(org)) => org,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, destination_id,
                "destination paused, but the org could not be read to notify");
            return;
        }
    };
    for attempt in 1..=3u64 {
        let notice = PauseNotice {
            org: &org,
            kind,
            destination_id,
            reason,
            pause_id,
        };
        match notifier.destination_paused(store, &notice).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, attempt, "recording the pause in the trail failed");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
        }
    }
}

/// Whether a failure streak counter that an update just raised by `added` began with this
/// update (it was 0 before). Exactly one update observes that, however many run at once:
/// the counter is raised atomically, so this is what sends the warning once per streak.
pub fn streak_began(count_now: u32, added: u32) -> bool {
    added > 0 && count_now == added
}

/// Warns the org's admins and the operators that a destination started failing. Reads the
/// org for its name; a failure to read it or to publish is logged (a warning is never worth
/// failing the delivery or run that raised it).
pub async fn notify_failing(
    store: &Store,
    notifier: &Notifier,
    org_id: &OrgId,
    kind: &str,
    destination_id: &str,
    reason: &str,
) {
    let org = match store.get_org(org_id).await {
        Ok(Some(org)) => org,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, destination_id,
                "destination failing, but the org could not be read to notify");
            return;
        }
    };
    notifier
        .destination_failing(&FailingNotice {
            org: &org,
            kind,
            destination_id,
            reason,
        })
        .await;
}

#[cfg(test)]
mod pause_rule_tests {
    use super::*;

    #[test]
    fn pause_rule_counts_and_times_the_streak() {
        let rule = PauseRule::default();
        let day = 86_400;
        assert_eq!(rule.reason(49, Some(0), 3600), None);
        assert!(rule
            .reason(50, Some(0), 3600)
            .unwrap()
            .contains("50 events in a row"));
        assert_eq!(rule.reason(3, Some(1000), 1000 + day - 1), None);
        assert!(rule
            .reason(3, Some(1000), 1000 + day)
            .unwrap()
            .contains("for 24 h"));
        assert_eq!(rule.reason(0, None, day * 10), None);
    }

    #[test]
    fn a_streak_begins_only_when_the_counter_leaves_zero() {
        assert!(streak_began(1, 1));
        assert!(
            streak_began(5, 5),
            "several events lost at once start it too"
        );
        assert!(!streak_began(2, 1));
        assert!(!streak_began(6, 5));
        assert!(!streak_began(0, 0));
    }
}
