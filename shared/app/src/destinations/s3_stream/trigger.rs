//! Decoding the `flush` function's two triggers: an EventBridge scheduled event (flush every
//! enabled org) or an SQS batch of flush requests (flush those orgs now).

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use crate::pipeline::sqs_batch;
use serde_json::{json, Value};

use super::flush::Flusher;
use super::pending::FlushRequest;
use relay_store::error::StoreError;

/// Stop starting new batches this long before the invocation's deadline.
pub const MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Handles one invocation's payload; returns the function's response (an `SqsBatchResponse`
/// for SQS, so that only failed requests are retried).
pub async fn handle(
    flusher: &Flusher,
    payload: Value,
    deadline: Instant,
) -> Result<Value, StoreError> {
    if payload.get("Records").is_none() {
        let outcomes = flusher.flush_all(deadline).await?;
        return Ok(json!({ "orgs": outcomes.len() }));
    }
    let sqs: SqsEvent = serde_json::from_value(payload)
        .map_err(|e| StoreError::Corrupt(format!("not an SQS event: {e}")))?;
    serde_json::to_value(handle_requests(flusher, sqs, deadline).await)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Flushes the org of each early-flush request now; the response names the requests to retry.
pub async fn handle_requests(
    flusher: &Flusher,
    sqs: SqsEvent,
    deadline: Instant,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in sqs.records {
        let id = record.message_id.clone().unwrap_or_default();
        let req: Option<FlushRequest> = record
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        let Some(req) = req else {
            // A malformed request can never succeed: drop it rather than retry it forever.
            tracing::warn!(message_id = %id, "ignoring malformed flush request");
            continue;
        };
        if let Err(e) = flusher.flush_org(&req.org_id, deadline).await {
            tracing::error!(org_id = %req.org_id, error = %e, "flush failed");
            failures.push(id);
        }
    }
    sqs_batch::response(failures)
}
