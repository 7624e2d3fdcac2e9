//! The events table's stream records, decoded: the inserts that the fanout (with the
//! early-flush count) and the summary counters, the stream's two consumers, start from,
//! whether they arrive in a Lambda event or from the DynamoDB Streams API (the local poller);
//! and the answer that tells Lambda where to retry from.

use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use relay_core::model::ids::OrgId;
use relay_store::events::doc_from_bytes;
use serde::Deserialize;

/// An event inserted into the events table, as its stream record carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInsert {
    /// The record's sequence number (the checkpoint Lambda resumes from).
    pub sequence_number: String,
    /// Org (`pk`).
    pub org_id: OrgId,
    /// Event id (`sk`).
    pub event_id: String,
    /// Action.
    pub action: String,
    /// Canonical event JSON.
    pub doc: String,
}

/// The attributes of an events-table item the fanout needs (besides `doc`, which is a string
/// or a deflated binary: [`relay_store::events::doc_value`]).
#[derive(Debug, Deserialize)]
struct EventImage {
    pk: String,
    sk: String,
    action: String,
}

/// A record that is not an event insert (a TTL removal) or cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    /// The record has no sequence number.
    #[error("stream record without a sequence number")]
    NoSequenceNumber,
    /// The new image lacks an attribute of an event item.
    #[error("stream record {0}: not an event item: {1}")]
    NotAnEvent(String, String),
}

/// Reads an `INSERT` record of a Lambda DynamoDB stream event; `Ok(None)` for other records.
pub fn insert_from_lambda(record: &EventRecord) -> Result<Option<StreamInsert>, RecordError> {
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    let seq = record
        .change
        .sequence_number
        .clone()
        .ok_or(RecordError::NoSequenceNumber)?;
    let not_an_event = |why: String| RecordError::NotAnEvent(seq.clone(), why);
    let image: EventImage = serde_dynamo::from_item(record.change.new_image.clone())
        .map_err(|e| not_an_event(e.to_string()))?;
    let doc = match record.change.new_image.get("doc") {
        Some(serde_dynamo::AttributeValue::S(json)) => json.clone(),
        Some(serde_dynamo::AttributeValue::B(bytes)) => {
            doc_from_bytes(bytes).map_err(|e| not_an_event(e.to_string()))?
        }
        _ => return Err(not_an_event("attribute doc missing".into())),
    };
    Ok(Some(StreamInsert {
        sequence_number: seq,
        org_id: image.pk.into(),
        event_id: image.sk,
        action: image.action,
        doc,
    }))
}

/// Reads an `INSERT` record of the DynamoDB Streams API (the local poller); `Ok(None)` for
/// other records.
pub fn insert_from_streams_api(
    record: &aws_sdk_dynamodbstreams::types::Record,
) -> Result<Option<StreamInsert>, RecordError> {
    use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType};
    if record.event_name() != Some(&OperationType::Insert) {
        return Ok(None);
    }
    let change = record.dynamodb();
    let seq = change
        .and_then(|c| c.sequence_number())
        .ok_or(RecordError::NoSequenceNumber)?
        .to_string();
    let image = change.and_then(|c| c.new_image());
    let get = |name: &str| match image.and_then(|i| i.get(name)) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(RecordError::NotAnEvent(
            seq.clone(),
            format!("attribute {name} missing"),
        )),
    };
    let doc = match image.and_then(|i| i.get("doc")) {
        Some(AttributeValue::S(json)) => json.clone(),
        Some(AttributeValue::B(bytes)) => doc_from_bytes(bytes.as_ref())
            .map_err(|e| RecordError::NotAnEvent(seq.clone(), e.to_string()))?,
        _ => {
            return Err(RecordError::NotAnEvent(
                seq.clone(),
                "attribute doc missing".into(),
            ))
        }
    };
    Ok(Some(StreamInsert {
        org_id: get("pk")?.into(),
        event_id: get("sk")?,
        action: get("action")?,
        doc,
        sequence_number: seq.clone(),
    }))
}

/// The inserts of a Lambda stream event, in order. A record that is not an event item is
/// logged and skipped: it can never be handled, and retrying it would block the shard.
pub fn inserts_of(event: &DynamoDbEvent) -> Vec<StreamInsert> {
    let mut inserts = Vec::with_capacity(event.records.len());
    for record in &event.records {
        match insert_from_lambda(record) {
            Ok(Some(ins)) => inserts.push(ins),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "skipping an unreadable stream record"),
        }
    }
    inserts
}

/// The answer of a stream consumer that handled `inserts` up to `first_failed` (exclusive):
/// that record as the batch item failure, so Lambda checkpoints what came before it and
/// retries from there; no failure when everything was handled.
pub fn retry_from(inserts: &[StreamInsert], first_failed: Option<usize>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    if let Some(ins) = first_failed.and_then(|i| inserts.get(i)) {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(ins.sequence_number.clone());
        response.batch_item_failures.push(failure);
    }
    response
}
