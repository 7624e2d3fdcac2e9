//! What happens when a destination is paused (the audit-export documentation: "automatically
//! paused and the admin is notified"): a `security.audit_export_paused` event in the org's own
//! trail, and a message on the stack's SNS topic that operators subscribe e-mail or chat to.

use serde_json::{json, Map, Value};

use crate::system_events::{record, SystemEvent};
use relay_core::error::Error;
use relay_core::model::Org;
use relay_store::Store;

/// The trail action of a pause.
pub const PAUSED_ACTION: &str = "security.audit_export_paused";

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
            "type": "audit_export_paused",
            "org_id": notice.org.org_id,
            "org_name": notice.org.name,
            "destination": notice.kind,
            "destination_id": notice.destination_id,
            "reason": notice.reason,
        });
        tracing::warn!(org_id = %notice.org.org_id, destination = notice.kind,
            destination_id = notice.destination_id, reason = notice.reason, "destination paused");
        if let Some(topic) = &self.topic_arn {
            let subject = format!(
                "AuditRelay: {} export paused for {}",
                notice.kind, notice.org.name
            );
            let subject: String = subject.chars().take(100).collect();
            if let Err(e) = self
                .sns
                .publish()
                .topic_arn(topic)
                .subject(subject)
                .message(message.to_string())
                .send()
                .await
            {
                tracing::error!(error = %aws_sdk_sns::error::DisplayErrorContext(&e), "SNS publish failed");
            }
        }
        Ok(())
    }
}
