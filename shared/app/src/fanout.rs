//! The `fanout` function's logic: DynamoDB stream records of the events table (the durable
//! outbox) → one SQS message per (matching active endpoint, event), and for an org with an
//! active OTLP export one message per up to `maxBatchSize` of its events in the batch.
//!
//! With a slow lane configured, the messages of destinations marked slow
//! ([`crate::pipeline::lanes`]) go to the slow deliveries queue instead.
//!
//! A record only counts as done once every message it produced is in the queue. The handler
//! reports the first record that is not done as the batch item failure, so Lambda retries from
//! there (records before it are checkpointed); messages enqueued twice by such a retry are
//! deduplicated by the deliver function's delivered marker.
//!
//! The summary counters are the stream's other consumer ([`crate::summary::stream`]), so a
//! failure to count never holds a delivery back.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use futures::future::join_all;

use crate::pipeline::lanes::{FastAllowance, LaneMarks, Marked};
use crate::pipeline::message::{
    enqueue, otel_messages as group_otel, DeliveryMessage, EnqueueReport, OtelMessage, LIVE,
};
use crate::pipeline::stream::{inserts_of, retry_from, StreamInsert};
use relay_core::model::ids::OrgId;
use relay_core::model::otlp::OtelRoute;
use relay_core::model::webhook::WebhookRoute;
use relay_store::Store;

/// What a fanout of some inserts did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FanoutReport {
    /// Messages enqueued.
    pub enqueued: usize,
    /// Index of the first insert not fully enqueued (retry from there).
    pub first_failed: Option<usize>,
}

/// Turns inserted events into delivery messages; built once per cold start.
#[derive(Debug, Clone)]
pub struct Fanout {
    store: Store,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    early_flush: Option<EarlyFlush>,
    slow: Option<(String, LaneMarks, FastAllowance)>,
}

/// Enqueues each message to the fast or the slow lane (`slow[i]`), as one report over the input
/// indexes.
async fn enqueue_lanes<M: serde::Serialize + Clone>(
    sqs: &aws_sdk_sqs::Client,
    fast_url: &str,
    slow_url: Option<&str>,
    messages: &[M],
    slow: &[bool],
) -> EnqueueReport {
    let Some(slow_url) = slow_url.filter(|_| slow.contains(&true)) else {
        return enqueue(sqs, fast_url, messages).await;
    };
    let (mut fast_idx, mut slow_idx) = (Vec::new(), Vec::new());
    for (i, s) in slow.iter().enumerate() {
        if *s {
            slow_idx.push(i);
        } else {
            fast_idx.push(i);
        }
    }
    let pick = |idx: &[usize]| -> Vec<M> { idx.iter().map(|i| messages[*i].clone()).collect() };
    let (fast_msgs, slow_msgs) = (pick(&fast_idx), pick(&slow_idx));
    let (f, s) = tokio::join!(
        enqueue(sqs, fast_url, &fast_msgs),
        enqueue(sqs, slow_url, &slow_msgs)
    );
    let mut failed: Vec<usize> = f
        .failed
        .iter()
        .filter_map(|i| fast_idx.get(*i).copied())
        .chain(s.failed.iter().filter_map(|i| slow_idx.get(*i).copied()))
        .collect();
    failed.sort_unstable();
    EnqueueReport {
        failed,
        error: f.error.or(s.error),
    }
}

/// Where the S3 export's early-flush requests go (the documented batch frequency: "or when
/// 1,000 events accumulate").
#[derive(Debug, Clone)]
struct EarlyFlush {
    queue_url: String,
    settle_secs: i32,
}

impl Fanout {
    /// A fanout into `queue_url`.
    pub fn new(store: Store, sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Fanout {
            store,
            sqs,
            queue_url,
            early_flush: None,
            slow: None,
        }
    }

    /// Routes the messages of destinations marked slow to `slow_queue_url` (when given).
    pub fn with_slow_lane(mut self, slow_queue_url: Option<String>) -> Self {
        self.slow = slow_queue_url.map(|u| {
            (
                u,
                LaneMarks::new(self.store.clone()),
                FastAllowance::default(),
            )
        });
        self
    }

    /// Also counts accepted events for orgs with an S3 export, and requests an early flush
    /// (delayed by `settle_secs`) when one passes a multiple of 1,000 pending events.
    pub fn with_early_flush(mut self, flush_queue_url: Option<String>, settle_secs: u64) -> Self {
        self.early_flush = flush_queue_url.map(|queue_url| EarlyFlush {
            queue_url,
            settle_secs: i32::try_from(settle_secs).unwrap_or(900),
        });
        self
    }

    /// Counting is an optimisation (the schedule flushes every five minutes regardless), so
    /// its failures are logged and never make the stream batch retry.
    async fn count_pending(&self, inserts: &[StreamInsert]) {
        let Some(early) = &self.early_flush else {
            return;
        };
        let mut per_org: HashMap<&OrgId, u64> = HashMap::new();
        for ins in inserts {
            *per_org.entry(&ins.org_id).or_default() += 1;
        }
        let notes = per_org.into_iter().map(|(org, n)| async move {
            let res = crate::destinations::s3_stream::pending::note_accepted(
                &self.store,
                &self.sqs,
                Some(&early.queue_url),
                org,
                n,
                early.settle_secs,
            )
            .await;
            if let Err(e) = res {
                tracing::warn!(org_id = %org, error = %e, "counting pending S3 export events failed");
            }
        });
        join_all(notes).await;
    }

    /// Enqueues one message per (active endpoint whose actions match, insert), and for an
    /// org with an active OTLP export, its inserts grouped into messages of at most
    /// `maxBatchSize` events.
    pub async fn process(&self, inserts: &[StreamInsert]) -> FanoutReport {
        let mut orgs: Vec<&OrgId> = inserts.iter().map(|i| &i.org_id).collect();
        orgs.sort_unstable();
        orgs.dedup();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (lists, otel_configs, marks) = tokio::join!(
            join_all(orgs.iter().map(|o| self.store.list_webhook_routes(o))),
            join_all(orgs.iter().map(|o| self.store.get_otel_route(o))),
            join_all(orgs.iter().map(|o| async move {
                match &self.slow {
                    Some((_, marks, _)) => marks.marked(o, now).await,
                    None => Marked::default(),
                }
            }))
        );
        let marked: HashMap<&str, Marked> = orgs.iter().map(|o| o.as_str()).zip(marks).collect();
        // The slow lane for a destination marked slow, and for one with no mark yet beyond its
        // small fast-lane allowance (a new destination's burst must not queue up ahead of
        // other orgs' messages before its first attempts show how it answers).
        let is_slow = |org: &OrgId, destination: &str| {
            let Some((_, _, allowance)) = &self.slow else {
                return false;
            };
            match marked.get(org.as_str()) {
                Some(m) if m.slow.contains(destination) => true,
                Some(m) if m.fast.contains(destination) => false,
                _ => !allowance.take(org, destination),
            }
        };
        let mut endpoints: HashMap<&str, Vec<WebhookRoute>> = HashMap::new();
        let mut failed: Vec<usize> = Vec::new();
        for (org, res) in orgs.iter().zip(lists) {
            match res {
                Ok(list) => {
                    let active = list.into_iter().filter(|e| e.active).collect();
                    endpoints.insert(org, active);
                }
                Err(e) => {
                    tracing::warn!(org_id = %org, error = %e, "listing webhook endpoints failed");
                }
            }
        }
        // Some(config) for an active export, None for none; absent: could not be read.
        let mut otel: HashMap<&str, Option<OtelRoute>> = HashMap::new();
        for (org, res) in orgs.iter().zip(otel_configs) {
            match res {
                Ok(c) => {
                    otel.insert(org, c.filter(|c| c.active));
                }
                Err(e) => {
                    tracing::warn!(org_id = %org, error = %e, "reading the OTLP export failed");
                }
            }
        }
        let mut messages: Vec<DeliveryMessage> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        let mut otel_events: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, ins) in inserts.iter().enumerate() {
            let (Some(list), Some(export)) = (
                endpoints.get(ins.org_id.as_str()),
                otel.get(ins.org_id.as_str()),
            ) else {
                failed.push(i);
                continue;
            };
            for ep in list.iter().filter(|e| e.matches(&ins.action)) {
                messages.push(DeliveryMessage::webhook(
                    &ins.org_id,
                    &ep.id,
                    &ins.event_id,
                    LIVE,
                    &ins.doc,
                ));
                owner.push(i);
            }
            if export.is_some() {
                otel_events.entry(ins.org_id.as_str()).or_default().push(i);
            }
        }
        let slow: Vec<bool> = messages
            .iter()
            .map(|m| is_slow(&m.org_id, &m.endpoint_id))
            .collect();
        let mut otel_messages: Vec<OtelMessage> = Vec::new();
        let mut otel_owners: Vec<Vec<usize>> = Vec::new();
        for (org, indexes) in &otel_events {
            let Some(Some(config)) = otel.get(org) else {
                continue;
            };
            let events: Vec<(&str, &str)> = indexes
                .iter()
                .map(|i| (inserts[*i].event_id.as_str(), inserts[*i].doc.as_str()))
                .collect();
            let max = usize::try_from(config.max_batch_size).unwrap_or(1);
            for (m, held) in group_otel(org, &config.id, LIVE, max, &events) {
                otel_messages.push(m);
                otel_owners.push(held.into_iter().map(|h| indexes[h]).collect());
            }
        }
        let otel_slow: Vec<bool> = otel_messages
            .iter()
            .map(|m| is_slow(&m.org_id, &m.config_id))
            .collect();
        let slow_url = self.slow.as_ref().map(|(u, _, _)| u.as_str());
        let (report, otel_report, ()) = tokio::join!(
            enqueue_lanes(&self.sqs, &self.queue_url, slow_url, &messages, &slow),
            enqueue_lanes(
                &self.sqs,
                &self.queue_url,
                slow_url,
                &otel_messages,
                &otel_slow
            ),
            self.count_pending(inserts),
        );
        if let Some(e) = &report.error {
            tracing::warn!(error = %e, failed = report.failed.len(), "enqueueing deliveries failed");
        }
        if let Some(e) = &otel_report.error {
            tracing::warn!(error = %e, failed = otel_report.failed.len(), "enqueueing OTLP exports failed");
        }
        failed.extend(report.failed.iter().filter_map(|m| owner.get(*m).copied()));
        for m in &otel_report.failed {
            if let Some(held) = otel_owners.get(*m) {
                failed.extend(held.iter().copied());
            }
        }
        FanoutReport {
            enqueued: messages.len() - report.failed.len() + otel_messages.len()
                - otel_report.failed.len(),
            first_failed: failed.into_iter().min(),
        }
    }
}

/// The `fanout` Lambda's handler: a DynamoDB stream batch in, the checkpoint out.
pub async fn handle_stream_event(fanout: &Fanout, event: DynamoDbEvent) -> DynamoDbEventResponse {
    let inserts = inserts_of(&event);
    let report = fanout.process(&inserts).await;
    tracing::info!(
        records = event.records.len(),
        events = inserts.len(),
        enqueued = report.enqueued,
        "fanout"
    );
    retry_from(&inserts, report.first_failed)
}
