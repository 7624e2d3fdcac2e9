//! The `deliver` function's logic: process SQS messages of delivery, each idempotently and
//! each by the destination its `kind` names: webhooks ([`WebhookDeliverer`]) and OTLP
//! ([`OtelDeliverer`]). What they share is [`crate::pipeline::consumer`].
//!
//! Messages come from one of two lanes ([`crate::pipeline::lanes`]). In the fast lane a
//! message whose destination is marked slow, or whose org already has
//! [`ORG_CAP`](crate::pipeline::lanes::ORG_CAP) messages in flight in this process, is
//! forwarded to the slow lane without being sent, carrying the attempts it used up; in the
//! slow lane, a message whose destination has been marked fast since is forwarded back. Within a
//! batch, messages are processed concurrently, so one slow receiver does not hold up the
//! others' sends.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::join_all;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::class_overrides::ShapeContexts;
use crate::destinations::otlp::deliver::OtelDeliverer;
use crate::destinations::webhook::deliver::WebhookDeliverer;
use crate::pipeline::consumer::{change_visibility, DeliverySettings, Disposition, Received};
use crate::pipeline::http_client::WebhookClient;
use crate::pipeline::lanes::{same_queue, Lane, LaneMarks, Marked, OrgGate, Pass, ORG_CAP};
use crate::pipeline::message::{enqueue, DeliveryMessage, DestinationKind, Envelope, OtelMessage};
use crate::pipeline::pause::Notifier;
use crate::pipeline::sqs_batch;
use relay_core::model::ids::{EndpointId, OrgId};
use relay_store::Store;

/// Retry delay when forwarding to the slow lane failed.
const FORWARD_RETRY: Duration = Duration::from_secs(5);

/// The deliverers of one queue.
#[derive(Debug, Clone)]
struct LaneDeliverers {
    queue_url: String,
    webhook: WebhookDeliverer,
    otel: OtelDeliverer,
}

/// The slow lane and what routes messages to it.
#[derive(Debug, Clone)]
struct SlowLane {
    lane: LaneDeliverers,
    marks: LaneMarks,
    gate: OrgGate,
}

/// Processes deliveries; built once per cold start.
#[derive(Debug, Clone)]
pub struct Deliverer {
    sqs: aws_sdk_sqs::Client,
    settings: DeliverySettings,
    fast: LaneDeliverers,
    slow: Option<SlowLane>,
}

/// A message body, decoded by its `kind`.
#[derive(Debug)]
enum Parsed {
    Webhook(DeliveryMessage),
    Otel(OtelMessage),
}

impl Parsed {
    fn org(&self) -> &OrgId {
        match self {
            Parsed::Webhook(d) => &d.org_id,
            Parsed::Otel(o) => &o.org_id,
        }
    }

    /// The id its slow mark is kept under: the endpoint's, or the OTLP configuration's.
    fn destination(&self) -> &str {
        match self {
            Parsed::Webhook(d) => d.endpoint_id.as_str(),
            Parsed::Otel(o) => o.config_id.as_str(),
        }
    }

    /// The body of the copy for the slow lane: `used` more attempts behind it.
    fn forwarded(&self, used: u32) -> Result<String, serde_json::Error> {
        match self {
            Parsed::Webhook(d) => {
                let mut d = d.clone();
                d.prior_attempts = d.prior_attempts.saturating_add(used);
                serde_json::to_string(&d)
            }
            Parsed::Otel(o) => {
                let mut o = o.clone();
                o.prior_attempts = o.prior_attempts.saturating_add(used);
                serde_json::to_string(&o)
            }
        }
    }
}

fn parse(m: &Received) -> Option<Parsed> {
    let decoded = serde_json::from_str::<Envelope>(&m.body).and_then(|env| match env.kind {
        DestinationKind::Webhook => serde_json::from_str(&m.body).map(Parsed::Webhook),
        DestinationKind::Otel => serde_json::from_str(&m.body).map(Parsed::Otel),
    });
    match decoded {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::error!(message_id = %m.message_id, error = %e,
                "undecodable delivery message; it will go to the dead-letter queue");
            None
        }
    }
}

/// What to do with one message of a batch.
#[derive(Debug)]
enum Route {
    /// Send it here (holding the org's place while it runs, in the fast lane).
    Deliver(Option<Pass>),
    /// Forward it to the other lane.
    Forward,
    /// Its org has its cap of messages in flight.
    OverCap,
    /// Undecodable.
    Reject,
}

impl Deliverer {
    /// A deliverer for the messages of `queue_url` (one lane).
    pub fn new(
        store: Store,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        client: WebhookClient,
        notifier: Notifier,
        settings: DeliverySettings,
    ) -> Self {
        Self::with_lanes(store, sqs, queue_url, None, client, notifier, settings)
    }

    /// A deliverer for the fast lane `queue_url` and, when given, the slow lane
    /// `slow_queue_url`.
    pub fn with_lanes(
        store: Store,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        slow_queue_url: Option<String>,
        client: WebhookClient,
        notifier: Notifier,
        settings: DeliverySettings,
    ) -> Self {
        let shapes = ShapeContexts::new(store.clone());
        let marks = slow_queue_url
            .as_ref()
            .map(|_| LaneMarks::new(store.clone()));
        let lane = |url: &String| LaneDeliverers {
            queue_url: url.clone(),
            otel: OtelDeliverer::new(
                store.clone(),
                sqs.clone(),
                url.clone(),
                client.clone(),
                notifier.clone(),
                settings.clone(),
                shapes.clone(),
            )
            .with_marks(marks.clone()),
            webhook: WebhookDeliverer::new(
                store.clone(),
                sqs.clone(),
                url.clone(),
                client.clone(),
                notifier.clone(),
                settings.clone(),
                shapes.clone(),
            )
            .with_marks(marks.clone()),
        };
        let fast = lane(&queue_url);
        let slow = match (slow_queue_url, marks.clone()) {
            (Some(url), Some(marks)) => Some(SlowLane {
                lane: lane(&url),
                marks,
                gate: OrgGate::new(ORG_CAP),
            }),
            _ => None,
        };
        Deliverer {
            sqs,
            settings,
            fast,
            slow,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &DeliverySettings {
        &self.settings
    }

    /// The queue of `lane` (the slow lane's is `None` when there is one lane).
    pub fn queue_url(&self, lane: Lane) -> Option<&str> {
        match lane {
            Lane::Fast => Some(&self.fast.queue_url),
            Lane::Slow => self.slow.as_ref().map(|s| s.lane.queue_url.as_str()),
        }
    }

    /// The lane of a Lambda SQS event, by its records' `eventSourceARN`.
    pub fn lane_of(&self, event_source_arn: Option<&str>) -> Lane {
        match (event_source_arn, self.queue_url(Lane::Slow)) {
            (Some(arn), Some(slow)) if same_queue(arn, slow) => Lane::Slow,
            _ => Lane::Fast,
        }
    }

    /// Processes a batch of the fast lane; returns each message's disposition, in input order.
    pub async fn process_batch(&self, messages: &[Received]) -> Vec<Disposition> {
        self.process(Lane::Fast, messages).await
    }

    async fn routes(&self, lane: Lane, parsed: &[Option<Parsed>]) -> Vec<Route> {
        let Some(slow) = self.slow.as_ref() else {
            return parsed
                .iter()
                .map(|p| match p {
                    Some(_) => Route::Deliver(None),
                    None => Route::Reject,
                })
                .collect();
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut orgs: Vec<&OrgId> = parsed.iter().flatten().map(Parsed::org).collect();
        orgs.sort_unstable();
        orgs.dedup();
        let marked: HashMap<&OrgId, Marked> = orgs
            .iter()
            .copied()
            .zip(join_all(orgs.iter().map(|o| slow.marks.marked(o, now))).await)
            .collect();
        parsed
            .iter()
            .map(|p| {
                let Some(p) = p else {
                    return Route::Reject;
                };
                let m = marked.get(p.org());
                match lane {
                    // A destination marked slow leaves the fast lane unsent.
                    Lane::Fast if m.is_some_and(|m| m.slow.contains(p.destination())) => {
                        Route::Forward
                    }
                    // One that answers in time cannot hold a worker long: no cap.
                    Lane::Fast if m.is_some_and(|m| m.fast.contains(p.destination())) => {
                        Route::Deliver(None)
                    }
                    Lane::Fast => match slow.gate.try_enter(p.org()) {
                        Some(pass) => Route::Deliver(Some(pass)),
                        None => Route::OverCap,
                    },
                    // One marked fast since (a new destination's burst beyond its allowance)
                    // goes back, so it does not wait behind slow receivers.
                    Lane::Slow if m.is_some_and(|m| m.fast.contains(p.destination())) => {
                        Route::Forward
                    }
                    Lane::Slow => Route::Deliver(None),
                }
            })
            .collect()
    }

    /// Processes a batch of `lane`; returns each message's disposition, in input order.
    pub async fn process(&self, lane: Lane, messages: &[Received]) -> Vec<Disposition> {
        let sorted = self.sort(lane, messages.to_vec(), OverCap::Forward).await;
        let mut out = vec![Disposition::Retry; messages.len()];
        for (i, d) in sorted.settled {
            out[i] = d;
        }
        let (indexes, admitted): (Vec<usize>, Vec<Admitted>) = sorted.admitted.into_iter().unzip();
        for (i, d) in indexes.into_iter().zip(self.deliver(lane, admitted).await) {
            out[i] = d;
        }
        out
    }

    /// Sorts a received batch of `lane`: in the fast lane, the messages of destinations marked
    /// slow and of orgs at their cap are forwarded to the slow lane, in the slow lane those of
    /// destinations marked fast to the fast lane (all in one SendMessageBatch); undecodable messages are let go to the dead-letter queue; the rest
    /// are admitted, to be sent by [`Deliverer::deliver`]. Messages of an org at its cap go as
    /// `over_cap` says.
    pub async fn sort(&self, lane: Lane, messages: Vec<Received>, over_cap: OverCap) -> Sorted {
        let here = self.lane(lane);
        let parsed: Vec<Option<Parsed>> = messages.iter().map(parse).collect();
        let routes = self.routes(lane, &parsed).await;
        let mut sorted = Sorted::default();
        let mut forward: Vec<(usize, Received, Box<RawValue>)> = Vec::new();
        for (i, ((m, p), route)) in messages.into_iter().zip(parsed).zip(routes).enumerate() {
            match (p, route) {
                (Some(parsed), Route::Deliver(pass)) => sorted.admitted.push((
                    i,
                    Admitted {
                        m,
                        parsed,
                        _pass: pass,
                    },
                )),
                (Some(parsed), Route::OverCap) if over_cap == OverCap::Hold => {
                    sorted.over_cap.push((i, m, parsed.org().clone()));
                }
                (Some(parsed), Route::Forward | Route::OverCap) => {
                    // Every earlier receive of this copy was an attempt; this one is not.
                    let body = parsed
                        .forwarded(m.receive_count.saturating_sub(1))
                        .and_then(RawValue::from_string);
                    match body {
                        Ok(body) => forward.push((i, m, body)),
                        Err(e) => {
                            tracing::error!(message_id = %m.message_id, error = %e,
                                "re-encoding a message for the slow lane failed");
                            change_visibility(&self.sqs, &here.queue_url, &m, FORWARD_RETRY).await;
                            sorted.settled.push((i, Disposition::Retry));
                        }
                    }
                }
                _ => {
                    // Undecodable: it cannot succeed, so let it reach the DLQ for inspection
                    // quickly.
                    change_visibility(&self.sqs, &here.queue_url, &m, Duration::ZERO).await;
                    sorted.settled.push((i, Disposition::Retry));
                }
            }
        }
        tracing::debug!(?lane, admitted = sorted.admitted.len(), forwarded = forward.len(),
            over_cap = sorted.over_cap.len(),
            orgs = ?sorted.admitted.iter().map(|(_, a)| a.parsed.org().as_str()).collect::<Vec<_>>(),
            "sorted a batch");
        if let (Some(slow), false) = (&self.slow, forward.is_empty()) {
            let bodies: Vec<&RawValue> = forward.iter().map(|(_, _, b)| b.as_ref()).collect();
            let other = match lane {
                Lane::Fast => &slow.lane.queue_url,
                Lane::Slow => &self.fast.queue_url,
            };
            let report = enqueue(&self.sqs, other, &bodies).await;
            if let Some(e) = &report.error {
                tracing::warn!(error = %e, failed = report.failed.len(), ?lane,
                    "forwarding to the other lane failed; retrying later");
            }
            for (k, (i, m, _)) in forward.iter().enumerate() {
                if report.failed.contains(&k) {
                    change_visibility(&self.sqs, &here.queue_url, m, FORWARD_RETRY).await;
                    sorted.settled.push((*i, Disposition::Retry));
                } else {
                    sorted.settled.push((*i, Disposition::Done));
                }
            }
        }
        sorted
    }

    /// Sends admitted messages of `lane` concurrently (each endpoint and OTLP configuration
    /// read once); returns each one's disposition, in order.
    pub async fn deliver(&self, lane: Lane, admitted: Vec<Admitted>) -> Vec<Disposition> {
        let here = self.lane(lane);
        let mut keys: Vec<(OrgId, EndpointId)> = Vec::new();
        let mut otel_orgs: Vec<&OrgId> = Vec::new();
        for a in &admitted {
            match &a.parsed {
                Parsed::Webhook(d) => keys.push((d.org_id.clone(), d.endpoint_id.clone())),
                Parsed::Otel(o) => otel_orgs.push(&o.org_id),
            }
        }
        let (cache, otel_configs) = tokio::join!(
            async {
                if keys.is_empty() {
                    Default::default()
                } else {
                    here.webhook.load(keys).await
                }
            },
            async {
                if otel_orgs.is_empty() {
                    Default::default()
                } else {
                    here.otel.load_configs(&otel_orgs).await
                }
            }
        );
        let (cache, otel_configs) = (&cache, &otel_configs);
        join_all(admitted.iter().map(|a| async move {
            match &a.parsed {
                Parsed::Otel(o) => here.otel.process(&a.m, o, otel_configs).await,
                Parsed::Webhook(w) => here.webhook.process(&a.m, w, cache).await,
            }
        }))
        .await
    }

    fn lane(&self, lane: Lane) -> &LaneDeliverers {
        match (lane, &self.slow) {
            (Lane::Slow, Some(slow)) => &slow.lane,
            _ => &self.fast,
        }
    }
}

/// A message admitted to be sent in its lane; in the fast lane it holds one of its org's
/// places until it is dropped.
#[derive(Debug)]
pub struct Admitted {
    m: Received,
    parsed: Parsed,
    _pass: Option<Pass>,
}

impl Admitted {
    /// The message as received.
    pub fn received(&self) -> &Received {
        &self.m
    }
}

/// A received batch, sorted by [`Deliverer::sort`]; indexes are into the batch.
#[derive(Debug, Default)]
pub struct Sorted {
    /// Messages already settled: forwarded to the slow lane (done), or kept for a retry.
    pub settled: Vec<(usize, Disposition)>,
    /// Messages to send.
    pub admitted: Vec<(usize, Admitted)>,
    /// Messages of orgs at their cap, left to the caller ([`OverCap::Hold`]).
    pub over_cap: Vec<(usize, Received, OrgId)>,
}

/// What [`Deliverer::sort`] does with a fast-lane message whose org is at its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverCap {
    /// Forward it to the slow lane (an invocation cannot wait for places to free).
    Forward,
    /// Hand it back in [`Sorted::over_cap`], to be sorted again when a place may be free (the
    /// local pool: a healthy org briefly over its cap should not queue behind slow
    /// receivers).
    Hold,
}

/// The `deliver` Lambda's handler: an SQS event of either lane in, the batch item failures
/// out.
pub async fn handle_sqs_event(deliverer: &Deliverer, event: SqsEvent) -> SqsBatchResponse {
    let lane = deliverer.lane_of(
        event
            .records
            .first()
            .and_then(|r| r.event_source_arn.as_deref()),
    );
    let mut received = Vec::with_capacity(event.records.len());
    for r in event.records {
        let (Some(message_id), Some(receipt_handle)) = (r.message_id, r.receipt_handle) else {
            tracing::error!("SQS record without message id or receipt handle");
            continue;
        };
        let receive_count = r
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        received.push(Received {
            message_id,
            receipt_handle,
            body: r.body.unwrap_or_default(),
            receive_count,
        });
    }
    let dispositions = deliverer.process(lane, &received).await;
    sqs_batch::response(
        received
            .into_iter()
            .zip(dispositions)
            .filter(|(_, d)| *d == Disposition::Retry)
            .map(|(m, _)| m.message_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::message::LIVE;

    #[test]
    fn a_forwarded_copy_carries_the_attempts_used_up() {
        let first = Parsed::Webhook(DeliveryMessage::webhook(
            "org_1", "whk_1", "evt_1", LIVE, "{}",
        ));
        let body = first.forwarded(2).unwrap();
        assert!(body.contains(r#""prior_attempts":2"#), "{body}");
        let back: DeliveryMessage = serde_json::from_str(&body).unwrap();
        assert_eq!(back.prior_attempts, 2);
        // Forwarded again (after more receives): the counts add up.
        let again: DeliveryMessage =
            serde_json::from_str(&Parsed::Webhook(back).forwarded(1).unwrap()).unwrap();
        assert_eq!(again.prior_attempts, 3);
        // Nothing used up: the body is the fanout's, byte for byte.
        let fresh = DeliveryMessage::webhook("org_1", "whk_1", "evt_1", LIVE, "{}");
        assert_eq!(
            Parsed::Webhook(fresh.clone()).forwarded(0).unwrap(),
            serde_json::to_string(&fresh).unwrap()
        );
    }
}
