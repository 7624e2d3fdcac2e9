//! Delivered markers with a send lease, shared by the webhook and OTLP deliveries: before a
//! copy of a message is sent, its marker is claimed with a conditional write, so a redelivered
//! or duplicated message is never sent twice and of two copies processed at once only the
//! lease holder sends. Each destination chooses the key (`WHDLV#…`, `OTDLV#…`) and which
//! states are final.

use aws_sdk_dynamodb::types::{
    AttributeValue, PutRequest, ReturnValuesOnConditionCheckFailure, WriteRequest,
};
use futures::stream::{self, StreamExt};

use super::{is_condition_failure, n, opt_s, s, Item, Store};
use crate::error::StoreError;

/// How long delivered markers are kept (SQS keeps messages at most 14 days).
pub const MARKER_TTL: i64 = 15 * 86_400;
/// BatchWriteItem's limit.
const WRITE_BATCH: usize = 25;
/// Concurrent BatchWriteItem calls.
const WRITE_CONCURRENCY: usize = 4;
/// Passes over items DynamoDB left unprocessed (throttling) before giving up.
const WRITE_PASSES: u32 = 4;

/// What claiming a message for sending found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller holds the send lease.
    Claimed,
    /// The message was delivered before (or reached another final state): do not send it again.
    AlreadyDelivered,
    /// Another caller is sending it right now (lease until this unix time).
    InFlight {
        /// Lease end.
        until: i64,
    },
}

fn opt_n(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn marker_item(pk: &str, sk: &str, state: &str, now_unix: i64) -> Item {
    [
        ("pk", s(pk)),
        ("sk", s(sk)),
        ("state", s(state)),
        ("lease_until", n(0)),
        ("updated_at", n(now_unix)),
        ("expires_at", n(now_unix + MARKER_TTL)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Store {
    /// Takes the send lease of marker (`pk`, `sk`) until `lease_until`, unless its state is one
    /// of `final_states` or someone else holds an unexpired lease.
    pub(crate) async fn claim_marker(
        &self,
        pk: &str,
        sk: &str,
        final_states: &[&str],
        now_unix: i64,
        lease_until: i64,
    ) -> Result<Claim, StoreError> {
        let mut condition = String::from("attribute_not_exists(pk) OR (lease_until < :now");
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(
                "SET #state = :sending, lease_until = :lease, updated_at = :now, expires_at = :exp",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":lease", n(lease_until))
            .expression_attribute_values(":now", n(now_unix))
            .expression_attribute_values(":exp", n(now_unix + MARKER_TTL))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (i, state) in final_states.iter().enumerate() {
            condition.push_str(&format!(" AND #state <> :f{i}"));
            req = req.expression_attribute_values(format!(":f{i}"), s(*state));
        }
        condition.push(')');
        let err = match req.condition_expression(condition).send().await {
            Ok(_) => return Ok(Claim::Claimed),
            Err(e) if is_condition_failure(&e) => e,
            Err(e) => return Err(StoreError::from_sdk(e)),
        };
        let old = match err.as_service_error() {
            Some(
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c),
            ) if c.item().is_some() => c.item().cloned(),
            // Emulators may not return the old item: read it.
            _ => self
                .ddb
                .get_item()
                .table_name(&self.config_table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::from_sdk)?
                .item,
        };
        let Some(old) = old else {
            // Deleted in between (TTL): let the caller retry.
            return Ok(Claim::InFlight { until: now_unix });
        };
        let state = opt_s(&old, "state").unwrap_or_default();
        if final_states.contains(&state.as_str()) {
            Ok(Claim::AlreadyDelivered)
        } else {
            Ok(Claim::InFlight {
                until: opt_n(&old, "lease_until").unwrap_or(now_unix),
            })
        }
    }

    /// Records how a leased send ended (`state`) and releases the lease.
    pub(crate) async fn finish_marker(
        &self,
        pk: &str,
        sk: &str,
        state: &str,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .set_item(Some(marker_item(pk, sk, state, now_unix)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// [`Store::finish_marker`] for many markers at once (BatchWriteItem, 25 per call, several
    /// calls at once; unprocessed items are retried). Returns how many could not be written.
    pub(crate) async fn finish_markers(
        &self,
        keys: &[(String, String)],
        state: &str,
        now_unix: i64,
    ) -> Result<usize, StoreError> {
        // Owned chunks: a closure over borrowed ones makes the future not `Send` for every
        // lifetime, which spawning it requires.
        let chunks: Vec<Vec<(String, String)>> =
            keys.chunks(WRITE_BATCH).map(<[_]>::to_vec).collect();
        let results: Vec<Result<usize, StoreError>> = stream::iter(chunks)
            .map(|chunk| async move {
                let mut pending: Vec<WriteRequest> = Vec::with_capacity(chunk.len());
                for (pk, sk) in &chunk {
                    let put = PutRequest::builder()
                        .set_item(Some(marker_item(pk, sk, state, now_unix)))
                        .build()
                        .map_err(|e| StoreError::Sdk(e.to_string()))?;
                    pending.push(WriteRequest::builder().put_request(put).build());
                }
                for pass in 0..WRITE_PASSES {
                    if pending.is_empty() {
                        break;
                    }
                    if pass > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(50 * 2u64.pow(pass)))
                            .await;
                    }
                    let out = self
                        .ddb
                        .batch_write_item()
                        .request_items(&self.config_table, std::mem::take(&mut pending))
                        .send()
                        .await
                        .map_err(StoreError::from_sdk)?;
                    pending = out
                        .unprocessed_items
                        .and_then(|mut m| m.remove(&self.config_table))
                        .unwrap_or_default();
                }
                Ok(pending.len())
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .collect()
            .await;
        let mut left = 0;
        for r in results {
            left += r?;
        }
        Ok(left)
    }
}
