//! The `deliver` function's logic: process one SQS batch of [`DeliveryMessage`]s concurrently
//! (so one slow receiver does not hold up the others), each message idempotently.
//!
//! Per message:
//! 1. load the endpoint (once per batch); gone → drop; paused/disabled → log `skipped`, drop;
//! 2. claim the delivered marker `(endpoint, event, generation)` with a lease: already
//!    delivered → drop without sending (SQS redelivered it, or the fanout enqueued it twice);
//!    leased by a concurrent copy → retry after the lease;
//! 3. sign and POST the canonical event;
//! 4. 2xx → delivered; 410 → the endpoint is disabled at once; anything else is a failure:
//!    `ChangeMessageVisibility` to the schedule's next delay and a batch item failure, or after
//!    the last attempt `exhausted`, visibility 0, and SQS's redrive (`maxReceiveCount` =
//!    attempts) moves the message to the dead-letter queue on its next receive. Exhausted
//!    events count towards the auto-pause rule ([`PauseRule`]).
//!
//! The attempt number is SQS's `ApproximateReceiveCount`, the same counter the redrive policy
//! uses, so "attempt 4 exhausted" and "moved to the DLQ" cannot disagree.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::future::join_all;
use time::OffsetDateTime;

use super::http_client::WebhookClient;
use super::message::{DeliveryMessage, DestinationKind, Envelope, OtelMessage};
use crate::notify::{Notifier, PauseNotice};
use crate::otel::deliver::OtelDeliverer;
use relay_core::config::Config;
use relay_core::model::event::rfc3339_millis;
use relay_core::model::ids::new_id;
use relay_core::model::webhook::{
    unix_to_rfc3339, Attempt, AttemptStatus, EndpointStatus, Trigger, WebhookEndpoint,
};
use relay_core::retry::{random_unit, RetrySchedule};
use relay_core::signing::sign;
use relay_store::webhooks::Claim;
use relay_store::Store;

/// Longest error text kept per attempt.
const MAX_ERROR_CHARS: usize = 300;
/// Retry delay after an internal failure (storage unavailable) before anything was sent.
pub(crate) const INTERNAL_RETRY: Duration = Duration::from_secs(10);

/// When an endpoint is paused (the audit-export documentation: "if a destination is
/// consistently failing, it is automatically paused and the admin is notified"): after
/// `after_exhausted` events in a row exhausted all their attempts, or when every event for
/// `after_failing_for` did (the streak started that long ago and no delivery succeeded since).
/// Any successful delivery ends the streak.
#[derive(Debug, Clone, PartialEq)]
pub struct PauseRule {
    /// Exhausted events in a row.
    pub after_exhausted: u32,
    /// Length of an unbroken failing streak.
    pub after_failing_for: Duration,
}

impl Default for PauseRule {
    fn default() -> Self {
        PauseRule {
            after_exhausted: 50,
            after_failing_for: Duration::from_secs(24 * 3600),
        }
    }
}

impl PauseRule {
    /// Why an endpoint with this streak should be paused now, if it should.
    pub fn reason(&self, exhausted: u32, failing_since: Option<i64>, now: i64) -> Option<String> {
        if exhausted >= self.after_exhausted {
            return Some(format!(
                "{exhausted} events in a row failed every delivery attempt"
            ));
        }
        let since = failing_since?;
        let hours = self.after_failing_for.as_secs() / 3600;
        (exhausted > 0
            && now.saturating_sub(since)
                >= i64::try_from(self.after_failing_for.as_secs()).unwrap_or(i64::MAX))
        .then(|| {
            format!(
                "every delivery has failed for {hours} h (since {})",
                unix_to_rfc3339(since)
            )
        })
    }
}

/// Tunables of the deliver function.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Retry delays.
    pub schedule: RetrySchedule,
    /// Auto-pause rule.
    pub pause: PauseRule,
    /// How long a claimed message is reserved for its sender (longer than an HTTP attempt).
    pub lease: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            schedule: RetrySchedule::seed(),
            pause: PauseRule::default(),
            lease: Duration::from_secs(60),
        }
    }
}

impl DeliverySettings {
    /// The defaults, with the schedule and pause threshold of the configuration.
    pub fn from_config(config: &Config) -> Self {
        let mut s = DeliverySettings {
            schedule: config.retry_schedule.clone(),
            ..Default::default()
        };
        if let Some(n) = config.pause_after_exhausted {
            s.pause.after_exhausted = n;
        }
        s
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// 2xx.
    Delivered,
    /// 410 Gone.
    Gone,
    /// Anything else; `retry_after` from a 429/503.
    Failed {
        /// The receiver's `Retry-After`.
        retry_after: Option<Duration>,
    },
}

/// One attempt's result.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    /// Classification.
    pub verdict: Verdict,
    /// HTTP status, if a response came.
    pub status_code: Option<u16>,
    /// Milliseconds to the response or failure.
    pub latency_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
}

fn clip(mut text: String) -> String {
    if text.chars().count() > MAX_ERROR_CHARS {
        text = text.chars().take(MAX_ERROR_CHARS).collect::<String>() + "…";
    }
    text
}

/// Signs `doc` as message `event_id` with the endpoint's active secrets and POSTs it once.
pub async fn send_event(
    client: &WebhookClient,
    endpoint: &WebhookEndpoint,
    event_id: &str,
    doc: &str,
    now: OffsetDateTime,
) -> AttemptOutcome {
    let ts = now.unix_timestamp();
    let headers = sign(&endpoint.active_secrets(ts), event_id, ts, doc.as_bytes());
    let sent = client.post(&endpoint.url, &headers, doc.to_string()).await;
    let latency_ms = u64::try_from(sent.latency.as_millis()).unwrap_or(u64::MAX);
    let resp = match sent.result {
        Ok(r) => r,
        Err(e) => {
            return AttemptOutcome {
                verdict: Verdict::Failed { retry_after: None },
                status_code: None,
                latency_ms,
                error: Some(clip(e.to_string())),
            }
        }
    };
    let code = resp.status;
    let (verdict, error) = match code {
        200..=299 => (Verdict::Delivered, None),
        410 => (
            Verdict::Gone,
            Some("HTTP 410 Gone: the endpoint was disabled".to_string()),
        ),
        300..=399 => (
            Verdict::Failed { retry_after: None },
            Some(format!(
                "HTTP {code}: redirects are not followed (Location: {})",
                resp.location.as_deref().unwrap_or("none")
            )),
        ),
        _ => {
            let retry_after = if code == 429 || code == 503 {
                resp.retry_after
            } else {
                None
            };
            let mut text = format!("HTTP {code}");
            if !resp.snippet.is_empty() {
                text.push_str(": ");
                text.push_str(&resp.snippet);
            }
            (Verdict::Failed { retry_after }, Some(text))
        }
    };
    AttemptOutcome {
        verdict,
        status_code: Some(code),
        latency_ms,
        error: error.map(clip),
    }
}

/// A message as received from SQS (from a Lambda event or a ReceiveMessage call).
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// SQS message id (what a batch item failure names).
    pub message_id: String,
    /// Receipt handle (for ChangeMessageVisibility).
    pub receipt_handle: String,
    /// Body.
    pub body: String,
    /// `ApproximateReceiveCount`: 1 on the first receive.
    pub receive_count: u32,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Finished (delivered, dropped, disabled): delete it.
    Done,
    /// Keep it: it comes back after the visibility timeout that was set (or goes to the DLQ).
    Retry,
}

/// Processes deliveries; built once per cold start.
#[derive(Debug, Clone)]
pub struct Deliverer {
    store: Store,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    client: WebhookClient,
    notifier: Notifier,
    settings: DeliverySettings,
    otel: OtelDeliverer,
}

/// A message body, decoded by its `kind`.
#[derive(Debug)]
enum Parsed {
    Webhook(DeliveryMessage),
    Otel(OtelMessage),
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

type EndpointCache = HashMap<(String, String), Option<WebhookEndpoint>>;

impl Deliverer {
    /// A deliverer for the messages of `queue_url`.
    pub fn new(
        store: Store,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        client: WebhookClient,
        notifier: Notifier,
        settings: DeliverySettings,
    ) -> Self {
        let otel = OtelDeliverer::new(
            store.clone(),
            sqs.clone(),
            queue_url.clone(),
            client.clone(),
            notifier.clone(),
            settings.clone(),
        );
        Deliverer {
            store,
            sqs,
            queue_url,
            client,
            notifier,
            settings,
            otel,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &DeliverySettings {
        &self.settings
    }

    /// Processes a batch concurrently; returns each message's disposition, in input order.
    pub async fn process_batch(&self, messages: &[Received]) -> Vec<Disposition> {
        let parsed: Vec<Option<Parsed>> = messages.iter().map(parse).collect();
        let mut keys: Vec<(String, String)> = parsed
            .iter()
            .flatten()
            .filter_map(|p| match p {
                Parsed::Webhook(d) => Some((d.org_id.clone(), d.endpoint_id.clone())),
                Parsed::Otel(_) => None,
            })
            .collect();
        let otel_orgs: Vec<&str> = parsed
            .iter()
            .flatten()
            .filter_map(|p| match p {
                Parsed::Otel(o) => Some(o.org_id.as_str()),
                Parsed::Webhook(_) => None,
            })
            .collect();
        keys.sort();
        keys.dedup();
        let (loaded, otel_configs) = tokio::join!(
            join_all(keys.iter().map(|(org, id)| self.store.get_webhook(org, id))),
            async {
                if otel_orgs.is_empty() {
                    Default::default()
                } else {
                    self.otel.load_configs(&otel_orgs).await
                }
            }
        );
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
        join_all(messages.iter().zip(&parsed).map(|(m, p)| async {
            match p {
                Some(Parsed::Otel(o)) => self.otel.process(m, o, &otel_configs).await,
                Some(Parsed::Webhook(d)) => self.process_one(m, Some(d), &cache).await,
                None => self.process_one(m, None, &cache).await,
            }
        }))
        .await
    }

    async fn process_one(
        &self,
        m: &Received,
        msg: Option<&DeliveryMessage>,
        cache: &EndpointCache,
    ) -> Disposition {
        let Some(msg) = msg else {
            // Undecodable: it cannot succeed, so let it reach the DLQ for inspection quickly.
            self.set_visibility(m, Duration::ZERO).await;
            return Disposition::Retry;
        };
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
        let attempt_no = m.receive_count.max(1);
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

        let outcome = send_event(&self.client, endpoint, &msg.event_id, &msg.doc, now).await;
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
                tokio::join!(
                    self.finish(&endpoint.id, &marker, AttemptStatus::Delivered, now_unix),
                    self.log_attempt(attempt),
                    reset
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
                        self.count_exhausted(endpoint, now).await;
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

    async fn finish(&self, endpoint_id: &str, marker: &str, state: AttemptStatus, now: i64) {
        if let Err(e) = self
            .store
            .finish_delivery(endpoint_id, marker, state, now)
            .await
        {
            tracing::warn!(error = %e, endpoint_id, marker, "writing the delivery marker failed");
        }
    }

    async fn set_visibility(&self, m: &Received, delay: Duration) {
        change_visibility(&self.sqs, &self.queue_url, m, delay).await;
    }

    /// Counts an exhausted event towards the pause rule, pausing and notifying when it says so.
    async fn count_exhausted(&self, endpoint: &WebhookEndpoint, now: OffsetDateTime) {
        let now_unix = now.unix_timestamp();
        let updated = match self
            .store
            .record_webhook_exhausted(&endpoint.org_id, &endpoint.id, now_unix)
            .await
        {
            Ok(Some(u)) => u,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "counting an exhausted event failed");
                return;
            }
        };
        let Some(reason) = self.settings.pause.reason(
            updated.consecutive_exhausted,
            updated.failing_since,
            now_unix,
        ) else {
            return;
        };
        let paused_at = rfc3339_millis(now);
        match self
            .store
            .pause_webhook(&endpoint.org_id, &endpoint.id, &paused_at, &reason)
            .await
        {
            Ok(true) => self.notify_paused(endpoint, &reason, now_unix).await,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "pausing the endpoint failed"),
        }
    }

    async fn notify_paused(&self, endpoint: &WebhookEndpoint, reason: &str, now_unix: i64) {
        notify_pause(
            &self.store,
            &self.notifier,
            &endpoint.org_id,
            "webhook",
            &endpoint.id,
            reason,
            now_unix,
        )
        .await;
    }
}

/// Sets a received message's visibility timeout: when it comes back for its next attempt.
pub(crate) async fn change_visibility(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    m: &Received,
    delay: Duration,
) {
    let secs = i32::try_from(delay.as_secs()).unwrap_or(i32::MAX);
    if let Err(e) = sqs
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(&m.receipt_handle)
        .visibility_timeout(secs)
        .send()
        .await
    {
        // The message then comes back after the queue's default visibility timeout.
        tracing::warn!(message_id = %m.message_id,
            error = %aws_sdk_sqs::error::DisplayErrorContext(&e),
            "ChangeMessageVisibility failed");
    }
}

/// Records a destination's automatic pause in the org's trail and notifies the operators'
/// topic. The pause itself is already stored; the trail event and the SNS message are retried
/// a few times (the trail write is idempotent by its event id).
pub(crate) async fn notify_pause(
    store: &Store,
    notifier: &Notifier,
    org_id: &str,
    kind: &str,
    destination_id: &str,
    reason: &str,
    now_unix: i64,
) {
    let org = match store.get_org(org_id).await {
        Ok(Some(org)) => org,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, destination_id,
                "destination paused, but the org could not be read to notify");
            return;
        }
    };
    let pause_id = now_unix.to_string();
    for attempt in 1..=3u64 {
        let notice = PauseNotice {
            org: &org,
            kind,
            destination_id,
            reason,
            pause_id: &pause_id,
        };
        match notifier.destination_paused(store, &notice).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, attempt, "recording the pause in the trail failed");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
        }
    }
}

/// The `deliver` Lambda's handler: an SQS event in, the batch item failures out.
pub async fn handle_sqs_event(deliverer: &Deliverer, event: SqsEvent) -> SqsBatchResponse {
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
    let dispositions = deliverer.process_batch(&received).await;
    let mut response = SqsBatchResponse::default();
    for (m, d) in received.iter().zip(dispositions) {
        if d == Disposition::Retry {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = m.message_id.clone();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_rule_counts_and_times_the_streak() {
        let rule = PauseRule::default();
        let day = 86_400;
        assert_eq!(rule.reason(49, Some(0), 3600), None);
        assert!(rule
            .reason(50, Some(0), 3600)
            .unwrap()
            .contains("50 events in a row"));
        assert_eq!(rule.reason(3, Some(1000), 1000 + day - 1), None);
        assert!(rule
            .reason(3, Some(1000), 1000 + day)
            .unwrap()
            .contains("for 24 h"));
        assert_eq!(rule.reason(0, None, day * 10), None);
    }

    #[test]
    fn settings_default_to_the_seed() {
        let s = DeliverySettings::default();
        assert_eq!(s.schedule, RetrySchedule::seed());
        assert_eq!(s.schedule.max_attempts(), 4);
        assert!(s.lease > crate::delivery::http_client::DELIVERY_TIMEOUT);
    }
}
