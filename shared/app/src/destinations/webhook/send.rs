//! One webhook attempt: the signed POST of one event, and what the receiver's answer means.

use std::time::Duration;

use time::OffsetDateTime;

use super::encode::encode;
use crate::pipeline::http_client::WebhookClient;
use relay_core::model::webhook::WebhookEndpoint;
use relay_core::shapes::ShapeContext;

/// Longest error text kept per attempt.
const MAX_ERROR_CHARS: usize = 300;

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

/// Signs `doc` as message `event_id` with the endpoint's active secrets and POSTs it once;
/// `ctx` is the org's shape context (used when the endpoint's schema is OCSF).
pub async fn send_event(
    client: &WebhookClient,
    endpoint: &WebhookEndpoint,
    ctx: &ShapeContext,
    event_id: &str,
    doc: &str,
    now: OffsetDateTime,
) -> AttemptOutcome {
    let (headers, body) = encode(endpoint, ctx, event_id, doc, now);
    let sent = client.post(&endpoint.url, &headers, body).await;
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
