//! The webhook side of the deliver function, per message:
//! 1. load the endpoint (once per batch); gone → drop; paused/disabled → log `skipped`, drop;
//! 2. claim the delivered marker `(endpoint, event, generation)` with a lease: already
//!    delivered → drop without sending (SQS redelivered it, or the fanout enqueued it twice);
//!    leased by a concurrent copy → retry after the lease;
//! 3. sign and POST the canonical event ([`super::send`]);
//! 4. 2xx → delivered; 410 → the endpoint is disabled at once; anything else is a failure:
//!    `ChangeMessageVisibility` to the schedule's next delay and a batch item failure, or after
//!    the last attempt `exhausted`, visibility 0, and SQS's redrive (`maxReceiveCount` =
//!    attempts) moves the message to the dead-letter queue on its next receive. Exhausted
//!    events count towards the auto-pause rule ([`super::health`]).
//!
//! The attempt number is SQS's `ApproximateReceiveCount`, the same counter the redrive policy
//! uses, so "attempt 4 exhausted" and "moved to the DLQ" cannot disagree.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use time::OffsetDateTime;

use super::send::{send_event, Verdict};
use crate::class_overrides::ShapeContexts;
use crate::pipeline::consumer::{
    change_visibility, DeliverySettings, Disposition, Received, INTERNAL_RETRY,
};
use crate::pipeline::http_client::WebhookClient;
use crate::pipeline::lanes::LaneMarks;
use crate::pipeline::message::{DeliveryMessage, DestinationKind};
use crate::pipeline::pause::Notifier;
use relay_core::model::event::rfc3339_millis;
use relay_core::model::ids::new_id;
use relay_core::model::ids::{EndpointId, OrgId};
use relay_core::model::webhook::{
    Attempt, AttemptStatus, EndpointStatus, Trigger, WebhookEndpoint,
};
use relay_core::retry::random_unit;
use relay_core::shapes::{Schema, ShapeContext};
use relay_store::webhooks::Claim;
use relay_store::Store;

/// The endpoints a batch names, by `(org, endpoint id)`: `None` for a deleted one; an endpoint
/// that could not be read is missing, and its messages are retried.
pub type EndpointCache = HashMap<(OrgId, EndpointId), Option<WebhookEndpoint>>;

/// Delivers webhook messages; built once per cold start, inside the deliver pipeline.
#[derive(Debug, Clone)]
pub struct WebhookDeliverer {
    pub(super) store: Store,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    client: WebhookClient,
    pub(super) notifier: Notifier,
    pub(super) settings: DeliverySettings,
    shapes: ShapeContexts,
    marks: Option<LaneMarks>,
}

impl WebhookDeliverer {
    /// A deliverer for the webhook messages of `queue_url`; OCSF bodies take the org's
    /// context from `shapes`.
    pub fn new(
        store: Store,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        client: WebhookClient,
        notifier: Notifier,
        settings: DeliverySettings,
        shapes: ShapeContexts,
    ) -> Self {
        WebhookDeliverer {
            store,
            sqs,
            queue_url,
            client,
            notifier,
            settings,
            shapes,
            marks: None,
        }
    }

    /// Marks endpoints slow in `marks` (when there is a slow lane): an attempt still running
    /// after [`SLOW_AFTER`](crate::pipeline::lanes::SLOW_AFTER), or a failed one.
    pub fn with_marks(mut self, marks: Option<LaneMarks>) -> Self {
        self.marks = marks;
        self
    }

    /// Loads each endpoint that `keys` name once, concurrently.
    pub async fn load(&self, mut keys: Vec<(OrgId, EndpointId)>) -> EndpointCache {
        keys.sort();
        keys.dedup();
        let loaded = join_all(keys.iter().map(|(org, id)| self.store.get_webhook(org, id))).await;
        let mut cache: EndpointCache = HashMap::new();
        let mut unavailable = false;
        for (key, res) in keys.into_iter().zip(loaded) {
            match res {
                Ok(ep) => {
                    cache.insert(key, ep);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "loading a webhook endpoint failed");
                    unavailable = true;
                }
            }
        }
        if unavailable {
            tracing::warn!("some endpoints could not be loaded; their messages are retried");
        }
        cache
    }

    /// Delivers one message (see the module's steps).
    pub async fn process(
        &self,
        m: &Received,
        msg: &DeliveryMessage,
        cache: &EndpointCache,
    ) -> Disposition {
        if msg.kind != DestinationKind::Webhook {
            return Disposition::Done;
        }
        let Some(endpoint) = cache.get(&(msg.org_id.clone(), msg.endpoint_id.clone())) else {
            self.set_visibility(m, INTERNAL_RETRY).await;
            return Disposition::Retry;
        };
        let Some(endpoint) = endpoint else {
            tracing::info!(endpoint_id = %msg.endpoint_id, event_id = %msg.event_id,
                "endpoint deleted; delivery dropped");
            return Disposition::Done;
        };
        let now = OffsetDateTime::now_utc();
        let now_unix = now.unix_timestamp();
        let trigger = if msg.replay_id().is_some() {
            Trigger::Replay
        } else {
            Trigger::Event
        };
        // A copy forwarded to the slow lane continues its first copy's count.
        let attempt_no = msg.prior_attempts.saturating_add(m.receive_count.max(1));
        if endpoint.status() != EndpointStatus::Active {
            let why = match endpoint.status() {
                EndpointStatus::Paused => {
                    "endpoint is paused; replay the event after re-enabling it"
                }
                _ => "endpoint is disabled; replay the event after re-enabling it",
            };
            let attempt = self.attempt(msg, attempt_no, trigger, now, AttemptStatus::Skipped);
            self.log_attempt(Attempt {
                error: Some(why.into()),
                ..attempt
            })
            .await;
            return Disposition::Done;
        }
        if attempt_no > self.settings.schedule.max_attempts() {
            // Only when the queue's maxReceiveCount is larger than the schedule: never send
            // more attempts than the schedule allows; let the redrive catch up.
            tracing::warn!(message_id = %m.message_id, receive_count = m.receive_count,
                "message received more often than the retry schedule allows; check the queue's maxReceiveCount");
            self.set_visibility(m, Duration::ZERO).await;
            return Disposition::Retry;
        }

        // Read before the claim: a failure here leaves nothing claimed to undo.
        let ctx = if endpoint.schema == Schema::Ocsf {
            match self.shapes.context(&endpoint.org_id, "").await {
                Ok(ctx) => ctx,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the class overrides failed; retrying later");
                    self.set_visibility(m, INTERNAL_RETRY).await;
                    return Disposition::Retry;
                }
            }
        } else {
            ShapeContext::new("")
        };
        let marker = format!("{}#{}", msg.event_id, msg.generation);
        let lease_until = now_unix + i64::try_from(self.settings.lease.as_secs()).unwrap_or(60);
        match self
            .store
            .claim_delivery(&endpoint.id, &marker, now_unix, lease_until)
            .await
        {
            Ok(Claim::Claimed) => {}
            Ok(Claim::AlreadyDelivered) => {
                tracing::info!(endpoint_id = %endpoint.id, event_id = %msg.event_id,
                    "already delivered; duplicate message dropped without sending");
                return Disposition::Done;
            }
            Ok(Claim::InFlight { until }) => {
                let wait = u64::try_from(until.saturating_sub(now_unix)).unwrap_or(0) + 1;
                self.set_visibility(m, Duration::from_secs(wait)).await;
                return Disposition::Retry;
            }
            Err(e) => {
                tracing::warn!(error = %e, "claiming a delivery failed; retrying later");
                self.set_visibility(m, INTERNAL_RETRY).await;
                return Disposition::Retry;
            }
        }

        let send = send_event(&self.client, endpoint, &ctx, &msg.event_id, &msg.doc, now);
        let started = std::time::Instant::now();
        let outcome = match &self.marks {
            Some(marks) => marks.watch(&endpoint.org_id, &endpoint.id, send).await,
            None => send.await,
        };
        let took = started.elapsed();
        let mut attempt = self.attempt(msg, attempt_no, trigger, now, AttemptStatus::Delivered);
        attempt.status_code = outcome.status_code;
        attempt.latency_ms = Some(outcome.latency_ms);
        attempt.error = outcome.error.clone();
        match outcome.verdict {
            Verdict::Delivered => {
                let reset = async {
                    if endpoint.consecutive_exhausted > 0 {
                        if let Err(e) = self
                            .store
                            .reset_webhook_failures(&endpoint.org_id, &endpoint.id)
                            .await
                        {
                            tracing::warn!(error = %e, "resetting the failure streak failed");
                        }
                    }
                };
                let fast = async {
                    if let Some(marks) = &self.marks {
                        marks
                            .delivered(&endpoint.org_id, &endpoint.id, took, now_unix)
                            .await;
                    }
                };
                tokio::join!(
                    self.finish(&endpoint.id, &marker, AttemptStatus::Delivered, now_unix),
                    self.log_attempt(attempt),
                    reset,
                    fast
                );
                Disposition::Done
            }
            Verdict::Gone => {
                attempt.status = AttemptStatus::EndpointDisabled;
                let reason = format!("the receiver answered 410 Gone at {}", rfc3339_millis(now));
                match self
                    .store
                    .disable_webhook(
                        &endpoint.org_id,
                        &endpoint.id,
                        &rfc3339_millis(now),
                        &reason,
                    )
                    .await
                {
                    Ok(_) => {
                        tracing::warn!(endpoint_id = %endpoint.id, "410 Gone: endpoint disabled")
                    }
                    Err(e) => {
                        // Not disabled: retry the message, the next 410 disables it.
                        tracing::warn!(error = %e, "disabling the endpoint failed");
                        self.set_visibility(m, INTERNAL_RETRY).await;
                        self.finish(&endpoint.id, &marker, AttemptStatus::Failed, now_unix)
                            .await;
                        return Disposition::Retry;
                    }
                }
                tokio::join!(
                    self.finish(
                        &endpoint.id,
                        &marker,
                        AttemptStatus::EndpointDisabled,
                        now_unix
                    ),
                    self.log_attempt(attempt)
                );
                Disposition::Done
            }
            Verdict::Failed { retry_after } => {
                if let Some(marks) = &self.marks {
                    marks
                        .mark(
                            &endpoint.org_id,
                            &endpoint.id,
                            now_unix,
                            "an attempt failed",
                        )
                        .await;
                }
                match self
                    .settings
                    .schedule
                    .next_delay(attempt_no, retry_after, random_unit())
                {
                    Some(delay) => {
                        attempt.status = AttemptStatus::Failed;
                        let next = now + delay;
                        attempt.next_attempt_at = Some(rfc3339_millis(next));
                        tokio::join!(
                            self.finish(&endpoint.id, &marker, AttemptStatus::Failed, now_unix),
                            self.log_attempt(attempt),
                            self.set_visibility(m, delay)
                        );
                    }
                    None => {
                        attempt.status = AttemptStatus::Exhausted;
                        tokio::join!(
                            self.finish(&endpoint.id, &marker, AttemptStatus::Exhausted, now_unix),
                            self.log_attempt(attempt),
                            // Visible at once, so the redrive moves it to the DLQ now.
                            self.set_visibility(m, Duration::ZERO)
                        );
                        self.count_exhausted(endpoint, now, outcome.error.as_deref())
                            .await;
                    }
                }
                Disposition::Retry
            }
        }
    }

    fn attempt(
        &self,
        msg: &DeliveryMessage,
        attempt: u32,
        trigger: Trigger,
        now: OffsetDateTime,
        status: AttemptStatus,
    ) -> Attempt {
        Attempt {
            id: new_id("att"),
            endpoint_id: msg.endpoint_id.clone(),
            event_id: msg.event_id.clone(),
            attempt,
            trigger,
            replay_id: msg.replay_id().map(str::to_string),
            at: rfc3339_millis(now),
            status,
            status_code: None,
            latency_ms: None,
            error: None,
            next_attempt_at: None,
        }
    }

    async fn log_attempt(&self, a: Attempt) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Err(e) = self.store.put_attempt(&a, now).await {
            tracing::warn!(error = %e, endpoint_id = %a.endpoint_id, event_id = %a.event_id,
                "writing the attempt log failed");
        }
    }

    async fn finish(&self, endpoint_id: &EndpointId, marker: &str, state: AttemptStatus, now: i64) {
        if let Err(e) = self
            .store
            .finish_delivery(endpoint_id, marker, state, now)
            .await
        {
            tracing::warn!(error = %e, endpoint_id = %endpoint_id, marker, "writing the delivery marker failed");
        }
    }

    async fn set_visibility(&self, m: &Received, delay: Duration) {
        change_visibility(&self.sqs, &self.queue_url, m, delay).await;
    }
}
