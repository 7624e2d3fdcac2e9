//! The deliveries queue's messages. A webhook message is one event for one endpoint, carrying
//! the canonical event JSON itself so that delivery needs no read of the events table (and
//! still works for an event whose retention expired while it waited).
//!
//! ```json
//! {"v":1,"kind":"webhook","org_id":"org_…","endpoint_id":"whk_…","event_id":"evt_…",
//!  "generation":"live","doc":"{\"event_id\":\"evt_…\",…}"}
//! ```
//! `generation` is `live` for the stream's copy and the replay id for a replay: the delivered
//! marker is keyed by (endpoint, event, generation), so a redelivered message is never sent
//! twice, while a replay deliberately sends the event again (with the same `webhook-id`).
//!
//! A copy forwarded to the slow lane carries `"prior_attempts":n`, the attempts its first copy
//! used up, so the attempt number (and the retry schedule) continue where they were.
//!
//! An OTLP message ([`OtelMessage`], `"kind":"otel"`) is one export request's worth of one
//! org's events; see [`otel_messages`].

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use relay_core::model::ids::{EndpointId, OrgId};

/// Current message format version.
pub const MESSAGE_VERSION: u8 = 1;
/// Generation of messages written by the fanout.
pub const LIVE: &str = "live";
/// SendMessageBatch's limits: 10 entries and 256 KiB of bodies (kept under, with room for
/// the request's own overhead).
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 240 * 1024;
/// Concurrent SendMessageBatch calls.
const SEND_CONCURRENCY: usize = 8;
/// Passes over entries SQS refused (throttling, internal errors) before giving up.
const SEND_PASSES: usize = 3;

/// Kind of destination a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DestinationKind {
    /// A webhook endpoint ([`DeliveryMessage`]).
    Webhook,
    /// An org's OTLP log export ([`OtelMessage`]).
    Otel,
}

/// Just the `kind` of a message body, to pick the type to decode it as.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// Destination kind.
    pub kind: DestinationKind,
}

/// One OTLP export request to make: events of one org, in acceptance order, at most the
/// configuration's `maxBatchSize` of them and at most [`MAX_OTEL_MESSAGE_BYTES`] of JSON.
///
/// ```json
/// {"v":1,"kind":"otel","org_id":"org_…","config_id":"otl_…","generation":"live",
///  "events":[{"id":"evt_…","doc":"{\"event_id\":\"evt_…\",…}"},…]}
/// ```
/// Exactly-once is per event, not per message: each event has its own delivered marker
/// `(config, event, generation)`, so a fanout retry that groups events differently, or a
/// message received twice, never sends an event twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtelMessage {
    /// Format version.
    pub v: u8,
    /// Always [`DestinationKind::Otel`].
    pub kind: DestinationKind,
    /// Org of the events and the configuration.
    pub org_id: OrgId,
    /// The configuration's id (a deleted and re-created configuration drops old messages).
    pub config_id: String,
    /// `live`, or the replay id.
    pub generation: String,
    /// The events.
    pub events: Vec<OtelEvent>,
    /// Attempts made before this copy was forwarded to the slow lane (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prior_attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One event of an [`OtelMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtelEvent {
    /// Event id.
    pub id: String,
    /// Canonical event JSON.
    pub doc: String,
}

/// Largest OTLP message body: under SQS's 256 KiB with room for the envelope. An event is at
/// most 32 KiB (up to 6× that escaped in JSON in the worst case), so any event fits alone.
pub const MAX_OTEL_MESSAGE_BYTES: usize = 200 * 1024;

impl OtelMessage {
    /// The replay id, for a replayed message.
    pub fn replay_id(&self) -> Option<&str> {
        (self.generation != LIVE).then_some(self.generation.as_str())
    }
}

/// Groups `events` (id, canonical JSON) of one org, in order, into messages of at most
/// `max_events` events and [`MAX_OTEL_MESSAGE_BYTES`]; returns each message with the indexes
/// (into `events`) it holds.
pub fn otel_messages(
    org_id: &str,
    config_id: &str,
    generation: &str,
    max_events: usize,
    events: &[(&str, &str)],
) -> Vec<(OtelMessage, Vec<usize>)> {
    const ENVELOPE: usize = 256;
    let new = || OtelMessage {
        v: MESSAGE_VERSION,
        kind: DestinationKind::Otel,
        org_id: org_id.into(),
        config_id: config_id.into(),
        generation: generation.into(),
        events: Vec::new(),
        prior_attempts: 0,
    };
    let mut out: Vec<(OtelMessage, Vec<usize>)> = Vec::new();
    let mut current = (new(), Vec::new());
    let mut size = ENVELOPE;
    for (i, (id, doc)) in events.iter().enumerate() {
        let event = OtelEvent {
            id: (*id).to_string(),
            doc: (*doc).to_string(),
        };
        // The escaped size, as it will be in the body (`,` included).
        let bytes = serde_json::to_string(&event).map_or(doc.len() * 2, |t| t.len()) + 1;
        if !current.0.events.is_empty()
            && (current.0.events.len() >= max_events.max(1)
                || size + bytes > MAX_OTEL_MESSAGE_BYTES)
        {
            out.push(std::mem::replace(&mut current, (new(), Vec::new())));
            size = ENVELOPE;
        }
        size += bytes;
        current.0.events.push(event);
        current.1.push(i);
    }
    if !current.0.events.is_empty() {
        out.push(current);
    }
    out
}

/// One delivery to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    /// Format version.
    pub v: u8,
    /// Destination kind.
    pub kind: DestinationKind,
    /// Org of the event and the endpoint.
    pub org_id: OrgId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// The event (`webhook-id`).
    pub event_id: String,
    /// `live`, or the replay id.
    pub generation: String,
    /// The canonical event JSON: the request body, verbatim.
    pub doc: String,
    /// Attempts made before this copy was forwarded to the slow lane (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prior_attempts: u32,
}

impl DeliveryMessage {
    /// A webhook delivery of `event_id` (with body `doc`) to `endpoint_id`.
    pub fn webhook(
        org_id: &str,
        endpoint_id: &str,
        event_id: &str,
        generation: &str,
        doc: &str,
    ) -> Self {
        DeliveryMessage {
            v: MESSAGE_VERSION,
            kind: DestinationKind::Webhook,
            org_id: org_id.into(),
            endpoint_id: endpoint_id.into(),
            event_id: event_id.into(),
            generation: generation.into(),
            doc: doc.into(),
            prior_attempts: 0,
        }
    }

    /// The replay id, for a replayed message.
    pub fn replay_id(&self) -> Option<&str> {
        (self.generation != LIVE).then_some(self.generation.as_str())
    }
}

/// Messages that could not be enqueued.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnqueueReport {
    /// Indexes (into the input) of messages not enqueued.
    pub failed: Vec<usize>,
    /// The first error seen, for the log.
    pub error: Option<String>,
}

/// Sends `messages` ([`DeliveryMessage`]s or [`OtelMessage`]s) to `queue_url` with
/// SendMessageBatch (10 per call, several calls at once), retrying refused entries. Reports
/// which messages could not be sent.
pub async fn enqueue<M: Serialize>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[M],
) -> EnqueueReport {
    let mut report = EnqueueReport::default();
    let mut bodies: Vec<(usize, String)> = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match serde_json::to_string(m) {
            Ok(b) => bodies.push((i, b)),
            Err(e) => {
                report.failed.push(i);
                report.error.get_or_insert(e.to_string());
            }
        }
    }
    let mut pending = bodies;
    for _ in 0..SEND_PASSES {
        if pending.is_empty() {
            break;
        }
        let batches = chunk(&pending);
        let results: Vec<(Vec<usize>, Option<String>)> = stream::iter(batches)
            .map(|batch| send_batch(sqs, queue_url, batch))
            .buffer_unordered(SEND_CONCURRENCY)
            .collect()
            .await;
        let mut retry: Vec<usize> = Vec::new();
        for (failed, err) in results {
            retry.extend(failed);
            if let Some(e) = err {
                report.error.get_or_insert(e);
            }
        }
        pending.retain(|(i, _)| retry.contains(i));
    }
    report.failed.extend(pending.into_iter().map(|(i, _)| i));
    report.failed.sort_unstable();
    report
}

/// Splits bodies into batches within SendMessageBatch's count and size limits.
fn chunk(bodies: &[(usize, String)]) -> Vec<Vec<(usize, String)>> {
    let mut out: Vec<Vec<(usize, String)>> = Vec::new();
    let mut current: Vec<(usize, String)> = Vec::new();
    let mut size = 0;
    for (i, b) in bodies {
        if !current.is_empty() && (current.len() == BATCH_ENTRIES || size + b.len() > BATCH_BYTES) {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += b.len();
        current.push((*i, b.clone()));
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One SendMessageBatch; returns the input indexes that failed and an error text.
async fn send_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    batch: Vec<(usize, String)>,
) -> (Vec<usize>, Option<String>) {
    let all: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
    let mut entries = Vec::with_capacity(batch.len());
    for (i, body) in batch {
        match SendMessageBatchRequestEntry::builder()
            .id(format!("m{i}"))
            .message_body(body)
            .build()
        {
            Ok(e) => entries.push(e),
            Err(e) => return (all, Some(e.to_string())),
        }
    }
    let out = match sqs
        .send_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            return (
                all,
                Some(format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e))),
            )
        }
    };
    let mut failed = Vec::new();
    let mut error = None;
    for f in out.failed() {
        if let Some(i) = f.id().strip_prefix('m').and_then(|n| n.parse().ok()) {
            failed.push(i);
        }
        error.get_or_insert_with(|| format!("{}: {}", f.code(), f.message().unwrap_or("")));
    }
    (failed, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_count_and_size() {
        let small: Vec<(usize, String)> = (0..25).map(|i| (i, "x".repeat(100))).collect();
        let sizes: Vec<usize> = chunk(&small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        // Events of up to 32 KiB: ten would exceed 256 KiB.
        let big: Vec<(usize, String)> = (0..10).map(|i| (i, "x".repeat(33 * 1024))).collect();
        let sizes: Vec<usize> = chunk(&big).iter().map(Vec::len).collect();
        assert_eq!(sizes, [7, 3]);
        assert!(chunk(&[]).is_empty());
    }

    #[test]
    fn otel_messages_respect_the_batch_size_and_the_byte_limit() {
        let docs: Vec<String> = (0..25).map(|i| format!("{{\"n\":{i}}}")).collect();
        let ids: Vec<String> = (0..25).map(|i| format!("evt_{i}")).collect();
        let events: Vec<(&str, &str)> = ids
            .iter()
            .zip(&docs)
            .map(|(i, d)| (i.as_str(), d.as_str()))
            .collect();
        let msgs = otel_messages("org_1", "otl_1", LIVE, 7, &events);
        let sizes: Vec<usize> = msgs.iter().map(|(m, _)| m.events.len()).collect();
        assert_eq!(sizes, [7, 7, 7, 4]);
        let order: Vec<usize> = msgs.iter().flat_map(|(_, idx)| idx.clone()).collect();
        assert_eq!(order, (0..25).collect::<Vec<_>>());
        assert_eq!(msgs[1].0.events[0].id, "evt_7");
        // 32 KiB events full of quotes: every body stays under the limit.
        let big = format!("{{\"m\":\"{}\"}}", "\"".repeat(30 * 1024));
        let events: Vec<(&str, &str)> = (0..12).map(|_| ("evt_x", big.as_str())).collect();
        for (m, _) in otel_messages("org_1", "otl_1", LIVE, 1000, &events) {
            let body = serde_json::to_string(&m).unwrap();
            assert!(body.len() <= MAX_OTEL_MESSAGE_BYTES, "{}", body.len());
            assert!(!m.events.is_empty());
        }
        assert!(otel_messages("org_1", "otl_1", LIVE, 10, &[]).is_empty());
    }

    #[test]
    fn otel_message_format() {
        let (m, _) = otel_messages("org_1", "otl_1", LIVE, 10, &[("evt_1", r#"{"a":1}"#)])
            .pop()
            .unwrap();
        let body = serde_json::to_string(&m).unwrap();
        assert_eq!(
            body,
            r#"{"v":1,"kind":"otel","org_id":"org_1","config_id":"otl_1","generation":"live","events":[{"id":"evt_1","doc":"{\"a\":1}"}]}"#
        );
        let env: Envelope = serde_json::from_str(&body).unwrap();
        assert_eq!(env.kind, DestinationKind::Otel);
        let hook =
            serde_json::to_string(&DeliveryMessage::webhook("o", "w", "e", LIVE, "{}")).unwrap();
        let env: Envelope = serde_json::from_str(&hook).unwrap();
        assert_eq!(env.kind, DestinationKind::Webhook);
    }

    #[test]
    fn message_format_is_stable() {
        let m = DeliveryMessage::webhook("org_1", "whk_1", "evt_1", LIVE, r#"{"a":1}"#);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"v":1,"kind":"webhook","org_id":"org_1","endpoint_id":"whk_1","event_id":"evt_1","generation":"live","doc":"{\"a\":1}"}"#
        );
        assert_eq!(m.replay_id(), None);
        let r = DeliveryMessage::webhook("org_1", "whk_1", "evt_1", "rpl_1", "{}");
        assert_eq!(r.replay_id(), Some("rpl_1"));
    }
}
