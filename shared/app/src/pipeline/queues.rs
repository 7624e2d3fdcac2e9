//! The deliveries queues (the fast and the slow lane, the same settings), their dead-letter queues and the notification topic, for `auditctl
//! provision` and the tests (the SAM template declares the same settings; a test compares).

use aws_sdk_sqs::types::QueueAttributeName;

/// Visibility timeout of the deliveries queue, seconds: well above the deliver function's
/// timeout (30 s), so a message is never handed out again while it is being processed.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 180;
/// How long the deliveries queue keeps a message (4 days: retries end after about 36 min).
pub const RETENTION_SECS: u32 = 4 * 86_400;
/// How long the dead-letter queue keeps a message (the SQS maximum, 14 days).
pub const DLQ_RETENTION_SECS: u32 = 14 * 86_400;

/// A queue or topic could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// SQS refused.
    #[error("sqs: {0}")]
    Sqs(String),
    /// SNS refused.
    #[error("sns: {0}")]
    Sns(String),
}

/// The deliveries queue and its DLQ.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryQueues {
    /// Deliveries queue URL (`AUDITRELAY_DELIVERIES_QUEUE_URL`).
    pub queue_url: String,
    /// Its dead-letter queue's URL.
    pub dlq_url: String,
    /// The dead-letter queue's ARN.
    pub dlq_arn: String,
}

fn sqs_err<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_sqs::error::SdkError<E, R>,
) -> ProvisionError {
    ProvisionError::Sqs(format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))
}

async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attrs: &[(QueueAttributeName, String)],
) -> Result<String, ProvisionError> {
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), v);
    }
    match req.send().await {
        Ok(out) => out
            .queue_url
            .ok_or_else(|| ProvisionError::Sqs("CreateQueue returned no URL".into())),
        // Exists with other attributes: bring it to the wanted ones.
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_queue_name_exists()) =>
        {
            let url = sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(sqs_err)?
                .queue_url
                .ok_or_else(|| ProvisionError::Sqs("GetQueueUrl returned no URL".into()))?;
            let mut set = sqs.set_queue_attributes().queue_url(&url);
            for (k, v) in attrs {
                set = set.attributes(k.clone(), v);
            }
            set.send().await.map_err(sqs_err)?;
            Ok(url)
        }
        Err(e) => Err(sqs_err(e)),
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, ProvisionError> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs_err)?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| ProvisionError::Sqs(format!("no QueueArn for {url}")))
}

/// Settings of a queue with a dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueSpec {
    /// Visibility timeout, seconds.
    pub visibility_secs: u32,
    /// Retention, seconds.
    pub retention_secs: u32,
    /// Receives before a message moves to the DLQ.
    pub max_receive_count: u32,
}

/// Creates (or updates) queue `name` and its DLQ `{name}-dlq` (kept 14 days), with the
/// redrive policy `maxReceiveCount = spec.max_receive_count`.
pub async fn ensure_queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    spec: QueueSpec,
) -> Result<DeliveryQueues, ProvisionError> {
    let dlq_url = ensure_queue(
        sqs,
        &format!("{name}-dlq"),
        &[(
            QueueAttributeName::MessageRetentionPeriod,
            DLQ_RETENTION_SECS.to_string(),
        )],
    )
    .await?;
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": spec.max_receive_count,
    })
    .to_string();
    let queue_url = ensure_queue(
        sqs,
        name,
        &[
            (
                QueueAttributeName::VisibilityTimeout,
                spec.visibility_secs.to_string(),
            ),
            (
                QueueAttributeName::MessageRetentionPeriod,
                spec.retention_secs.to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive),
        ],
    )
    .await?;
    Ok(DeliveryQueues {
        queue_url,
        dlq_url,
        dlq_arn,
    })
}

/// Creates (or updates) the deliveries queue `name` and its DLQ, with
/// `maxReceiveCount = max_attempts`: the message moves to the DLQ right after its last attempt.
pub async fn ensure_delivery_queues(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_attempts: u32,
) -> Result<DeliveryQueues, ProvisionError> {
    let spec = QueueSpec {
        visibility_secs: VISIBILITY_TIMEOUT_SECS,
        retention_secs: RETENTION_SECS,
        max_receive_count: max_attempts,
    };
    ensure_queue_with_dlq(sqs, name, spec).await
}

/// The slow delivery lane's queue name beside the deliveries queue `name` (its DLQ is
/// `{name}-slow-dlq`).
pub fn slow_queue_name(name: &str) -> String {
    format!("{name}-slow")
}

/// The URL of an existing queue.
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, ProvisionError> {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(sqs_err)?
        .queue_url
        .ok_or_else(|| ProvisionError::Sqs(format!("no URL for queue {name}")))
}

/// Creates the notification topic `name` (idempotent); returns its ARN.
pub async fn ensure_topic(sns: &aws_sdk_sns::Client, name: &str) -> Result<String, ProvisionError> {
    sns.create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| {
            ProvisionError::Sns(format!("{}", aws_sdk_sns::error::DisplayErrorContext(&e)))
        })?
        .topic_arn
        .ok_or_else(|| ProvisionError::Sns("CreateTopic returned no ARN".into()))
}
