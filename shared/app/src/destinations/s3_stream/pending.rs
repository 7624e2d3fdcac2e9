//! The early flush (the documented batch frequency: "every 5 minutes or when 1,000 events
//! accumulate"): the stream fanout counts accepted events per org; when an org's pending count
//! crosses a multiple of 1,000, a flush request is queued for it. Losing a request loses no
//! event — the schedule flushes within five minutes anyway — it only delays the batch.

use serde::{Deserialize, Serialize};

use relay_core::model::ids::OrgId;
use relay_store::error::StoreError;
use relay_store::Store;

/// Events per S3 object, and the pending count that triggers an early flush (as documented).
pub const BATCH_EVENTS: u64 = 1000;

/// The flush-request queue as `template.yaml` declares it (`FlushQueue`): visibility far above
/// the flush function's 900 s timeout, a day of retention, parked after 3 failed receives
/// (the schedule flushes the org regardless).
pub const FLUSH_QUEUE: crate::pipeline::queues::QueueSpec = crate::pipeline::queues::QueueSpec {
    visibility_secs: 5400,
    retention_secs: 86_400,
    max_receive_count: 3,
};

/// Body of a flush request on the flush queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlushRequest {
    /// The org to flush.
    pub org_id: OrgId,
}

/// Whether going from `old` to `new` pending events crosses a multiple of [`BATCH_EVENTS`].
pub fn crosses_threshold(old: u64, new: u64) -> bool {
    old / BATCH_EVENTS < new / BATCH_EVENTS
}

/// Counts `count` newly accepted events of `org_id`; queues a flush request (delayed by the
/// settle time, so the events are old enough to be exported) when a threshold is crossed.
pub async fn note_accepted(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    flush_queue_url: Option<&str>,
    org_id: &OrgId,
    count: u64,
    settle_secs: i32,
) -> Result<bool, StoreError> {
    let Some(new) = store.add_pending(org_id, count).await? else {
        return Ok(false);
    };
    if !crosses_threshold(new.saturating_sub(count), new) {
        return Ok(false);
    }
    let Some(url) = flush_queue_url else {
        return Ok(false);
    };
    let body = serde_json::to_string(&FlushRequest {
        org_id: org_id.into(),
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if let Err(e) = sqs
        .send_message()
        .queue_url(url)
        .message_body(body)
        .delay_seconds(settle_secs.clamp(0, 900))
        .send()
        .await
    {
        tracing::warn!(org_id = %org_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e),
            "early flush request not queued; the schedule will flush");
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert!(!crosses_threshold(0, 999));
        assert!(crosses_threshold(999, 1000));
        assert!(crosses_threshold(500, 2600));
        assert!(!crosses_threshold(1000, 1999));
    }
}
