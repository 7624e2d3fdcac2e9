//! The deliver function's handling of [`OtelMessage`]s: one OTLP export request per message
//! (more if `maxBatchSize` was lowered after it was queued), with the webhook path's retry
//! machinery: the schedule as visibility timeouts, the DLQ after the last attempt, the
//! auto-pause rule and its notification.
//!
//! Per message:
//! 1. the org's configuration (read once per SQS batch): gone, or replaced by a new one →
//!    drop; paused/disabled → drop (replay after re-enabling);
//! 2. claim every event's delivered marker `(config, event, generation)`: events delivered (or
//!    refused) before are left out, events leased by a concurrent copy are waited for;
//! 3. send the claimed events in requests of at most `maxBatchSize` records;
//! 4. 2xx → the markers say delivered (a partial success is recorded as `lastError`, not
//!    retried, as OTLP requires); 408/429/5xx/no answer → retried on the schedule
//!    (`Retry-After` honoured on 429/503), exhausted after the last attempt (DLQ); any other
//!    4xx → not retried, recorded as `lastError`. Events that failed for good count towards
//!    the auto-pause rule.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use time::OffsetDateTime;

use super::send::{export, ExportVerdict};
use crate::class_overrides::ShapeContexts;
use crate::pipeline::consumer::{
    change_visibility, DeliverySettings, Disposition, Received, INTERNAL_RETRY,
};
use crate::pipeline::http_client::WebhookClient;
use crate::pipeline::lanes::LaneMarks;
use crate::pipeline::message::{OtelEvent, OtelMessage};
use crate::pipeline::pause::Notifier;
use relay_core::model::event::rfc3339_millis;
use relay_core::model::ids::OrgId;
use relay_core::model::otlp::{OtelConfig, OtelStatus};
use relay_core::retry::random_unit;
use relay_core::shapes::{Schema, ShapeContext};
use relay_store::markers::Claim;
use relay_store::otlp::{ExportRecord, DELIVERED, EXHAUSTED, FAILED, REJECTED};
use relay_store::Store;

/// Concurrent marker claims per message.
const CLAIM_CONCURRENCY: usize = 32;
/// Requests of one message are started only within this time (the function's timeout is
/// 30 s and a request may take 15 s); the rest wait for the message's next receive.
const SEND_BUDGET: Duration = Duration::from_secs(12);

/// Configurations by org, loaded once per SQS batch; an org missing from the map could not be
/// read (its messages are retried), `None` means there is no configuration.
pub type ConfigCache = HashMap<OrgId, Option<OtelConfig>>;

/// Sends OTLP export messages; built once per cold start (by the deliver function's
/// [`Deliverer`](crate::deliver::Deliverer)).
#[derive(Debug, Clone)]
pub struct OtelDeliverer {
    pub(super) store: Store,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    client: WebhookClient,
    pub(super) notifier: Notifier,
    pub(super) settings: DeliverySettings,
    shapes: ShapeContexts,
    marks: Option<LaneMarks>,
}

/// How the events of a message stand after claiming.
#[derive(Debug, Default)]
struct Claims<'a> {
    /// Claimed: to send now.
    send: Vec<&'a OtelEvent>,
    /// Leased by another copy until this time, or not claimable now (storage failure).
    wait_until: Option<i64>,
}

impl OtelDeliverer {
    /// A deliverer for the OTLP messages of `queue_url`; OCSF records take the org's context
    /// from `shapes`.
    pub fn new(
        store: Store,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        client: WebhookClient,
        notifier: Notifier,
        settings: DeliverySettings,
        shapes: ShapeContexts,
    ) -> Self {
        OtelDeliverer {
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

    /// Marks exports slow in `marks` (when there is a slow lane): a request still running
    /// after [`SLOW_AFTER`](crate::pipeline::lanes::SLOW_AFTER), or a failed one.
    pub fn with_marks(mut self, marks: Option<LaneMarks>) -> Self {
        self.marks = marks;
        self
    }

    /// Reads the configurations of `orgs` (strongly consistent: a pause or a deletion is seen
    /// at once).
    pub async fn load_configs(&self, orgs: &[&OrgId]) -> ConfigCache {
        let mut orgs: Vec<&OrgId> = orgs.to_vec();
        orgs.sort_unstable();
        orgs.dedup();
        let loaded =
            futures::future::join_all(orgs.iter().map(|org| self.store.get_otel_config(org, true)))
                .await;
        let mut cache = ConfigCache::new();
        for (org, res) in orgs.into_iter().zip(loaded) {
            match res {
                Ok(c) => {
                    cache.insert(org.clone(), c);
                }
                Err(e) => {
                    tracing::warn!(org_id = %org, error = %e, "loading an OTLP export configuration failed")
                }
            }
        }
        cache
    }

    async fn set_visibility(&self, m: &Received, delay: Duration) {
        change_visibility(&self.sqs, &self.queue_url, m, delay).await;
    }

    /// Processes one message.
    pub async fn process(
        &self,
        m: &Received,
        msg: &OtelMessage,
        cache: &ConfigCache,
    ) -> Disposition {
        let Some(config) = cache.get(&msg.org_id) else {
            self.set_visibility(m, INTERNAL_RETRY).await;
            return Disposition::Retry;
        };
        let Some(config) = config.as_ref().filter(|c| c.id == msg.config_id) else {
            tracing::info!(org_id = %msg.org_id, config_id = %msg.config_id,
                events = msg.events.len(), "OTLP export deleted; its queued events are dropped");
            return Disposition::Done;
        };
        if config.status() != OtelStatus::Active {
            tracing::info!(org_id = %msg.org_id, config_id = %config.id,
                events = msg.events.len(), status = ?config.status(),
                "OTLP export not active; queued events skipped (replay them after re-enabling)");
            return Disposition::Done;
        }
        // A copy forwarded to the slow lane continues its first copy's count.
        let attempt_no = msg.prior_attempts.saturating_add(m.receive_count.max(1));
        if attempt_no > self.settings.schedule.max_attempts() {
            tracing::warn!(message_id = %m.message_id, receive_count = m.receive_count,
                "message received more often than the retry schedule allows; check the queue's maxReceiveCount");
            self.set_visibility(m, Duration::ZERO).await;
            return Disposition::Retry;
        }
        // Read before the claims: a failure here leaves nothing claimed to undo.
        let ctx = if config.schema == Schema::Ocsf {
            match self.shapes.context(&config.org_id, "").await {
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
        let started = Instant::now();
        let now = OffsetDateTime::now_utc();
        let now_unix = now.unix_timestamp();
        let claims = self.claim(config, msg, now_unix).await;
        let mut wait_until = claims.wait_until;
        let chunk = usize::try_from(config.max_batch_size).unwrap_or(1).max(1);
        let chunks: Vec<&[&OtelEvent]> = claims.send.chunks(chunk).collect();
        let mut retry: Option<Duration> = None;
        let mut reset_streak = config.consecutive_exhausted > 0;
        let url = config.export_url();
        for (i, events) in chunks.iter().enumerate() {
            if i > 0 && started.elapsed() > SEND_BUDGET {
                // Not a failure: the rest go out on the message's next receive.
                let rest: Vec<&OtelEvent> =
                    chunks[i..].iter().flat_map(|c| c.iter().copied()).collect();
                self.finish(config, msg, &rest, FAILED, now_unix).await;
                wait_until = Some(wait_until.unwrap_or(now_unix).max(now_unix));
                break;
            }
            let docs: Vec<&str> = events.iter().map(|e| e.doc.as_str()).collect();
            let request = export(
                &self.client,
                &url,
                &config.headers,
                config.schema,
                &ctx,
                &docs,
            );
            let started = std::time::Instant::now();
            let outcome = match &self.marks {
                Some(marks) => marks.watch(&config.org_id, &config.id, request).await,
                None => request.await,
            };
            let took = started.elapsed();
            let at = rfc3339_millis(OffsetDateTime::now_utc());
            match outcome.verdict {
                ExportVerdict::Accepted { partial } => {
                    if let Some(p) = &partial {
                        tracing::warn!(org_id = %config.org_id, rejected = p.rejected,
                            message = %p.message, "OTLP receiver reported a partial success");
                    }
                    if let Some(marks) = &self.marks {
                        marks
                            .delivered(&config.org_id, &config.id, took, now_unix)
                            .await;
                    }
                    self.finish(config, msg, events, DELIVERED, now_unix).await;
                    self.record(
                        config,
                        &ExportRecord::Accepted {
                            at: &at,
                            warning: outcome.error.as_deref(),
                            reset_streak,
                        },
                    )
                    .await;
                    reset_streak = false;
                }
                ExportVerdict::Rejected => {
                    let error = outcome.error.unwrap_or_else(|| "refused".into());
                    tracing::warn!(org_id = %config.org_id, events = events.len(), error = %error,
                        "OTLP receiver refused a request; not retried");
                    self.finish(config, msg, events, REJECTED, now_unix).await;
                    self.lost(config, events.len(), &error, now).await;
                }
                ExportVerdict::Retry { retry_after } => {
                    if let Some(marks) = &self.marks {
                        marks
                            .mark(&config.org_id, &config.id, now_unix, "an attempt failed")
                            .await;
                    }
                    let error = outcome.error.unwrap_or_else(|| "failed".into());
                    let rest: Vec<&OtelEvent> =
                        chunks[i..].iter().flat_map(|c| c.iter().copied()).collect();
                    match self
                        .settings
                        .schedule
                        .next_delay(attempt_no, retry_after, random_unit())
                    {
                        Some(delay) => {
                            tracing::info!(org_id = %config.org_id, attempt = attempt_no,
                                delay_s = delay.as_secs(), error = %error, "OTLP export failed; retrying");
                            self.finish(config, msg, &rest, FAILED, now_unix).await;
                            self.record(
                                config,
                                &ExportRecord::Failed {
                                    at: &at,
                                    error: &error,
                                },
                            )
                            .await;
                            retry = Some(delay);
                        }
                        None => {
                            tracing::warn!(org_id = %config.org_id, attempt = attempt_no,
                                events = rest.len(), error = %error,
                                "OTLP export failed every attempt; the message goes to the dead-letter queue");
                            self.finish(config, msg, &rest, EXHAUSTED, now_unix).await;
                            let text = format!("{error} (attempt {attempt_no}, the last)");
                            self.lost(config, rest.len(), &text, now).await;
                            retry = Some(Duration::ZERO);
                        }
                    }
                    break;
                }
            }
        }
        if let Some(delay) = retry {
            self.set_visibility(m, delay).await;
            return Disposition::Retry;
        }
        if let Some(until) = wait_until {
            let wait = u64::try_from(until.saturating_sub(now_unix)).unwrap_or(0) + 1;
            self.set_visibility(m, Duration::from_secs(wait)).await;
            return Disposition::Retry;
        }
        Disposition::Done
    }

    async fn claim<'a>(
        &self,
        config: &OtelConfig,
        msg: &'a OtelMessage,
        now_unix: i64,
    ) -> Claims<'a> {
        let lease_until = now_unix + i64::try_from(self.settings.lease.as_secs()).unwrap_or(60);
        // Indexes, not references, go through the stream: a closure over borrowed items makes
        // the future not `Send` for every lifetime, which spawning it requires.
        let results: Vec<(usize, _)> = stream::iter(0..msg.events.len())
            .map(|i| async move {
                let e = &msg.events[i];
                let r = self
                    .store
                    .claim_otel_event(&config.id, &e.id, &msg.generation, now_unix, lease_until)
                    .await;
                (i, r)
            })
            .buffered(CLAIM_CONCURRENCY)
            .collect()
            .await;
        let mut claims = Claims::default();
        let mut duplicates = 0;
        for (i, r) in results {
            let e = &msg.events[i];
            match r {
                Ok(Claim::Claimed) => claims.send.push(e),
                Ok(Claim::AlreadyDelivered) => duplicates += 1,
                Ok(Claim::InFlight { until }) => {
                    claims.wait_until = Some(claims.wait_until.map_or(until, |w| w.max(until)));
                }
                Err(err) => {
                    tracing::warn!(error = %err, event_id = %e.id, "claiming an OTLP event failed; retrying later");
                    let until = now_unix + i64::try_from(INTERNAL_RETRY.as_secs()).unwrap_or(10);
                    claims.wait_until = Some(claims.wait_until.map_or(until, |w| w.max(until)));
                }
            }
        }
        if duplicates > 0 {
            tracing::info!(org_id = %msg.org_id, duplicates,
                "events already delivered are left out without sending");
        }
        claims
    }

    async fn finish(
        &self,
        config: &OtelConfig,
        msg: &OtelMessage,
        events: &[&OtelEvent],
        state: &str,
        now_unix: i64,
    ) {
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        match self
            .store
            .finish_otel_events(&config.id, &ids, &msg.generation, state, now_unix)
            .await
        {
            Ok(0) => {}
            Ok(left) => tracing::warn!(left, state, "some OTLP delivered markers were not written"),
            Err(e) => tracing::warn!(error = %e, state, "writing OTLP delivered markers failed"),
        }
    }

    pub(super) async fn record(
        &self,
        config: &OtelConfig,
        record: &ExportRecord<'_>,
    ) -> Option<OtelConfig> {
        match self
            .store
            .record_otel_export(&config.org_id, &config.id, record)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "recording the OTLP export's state failed");
                None
            }
        }
    }
}
