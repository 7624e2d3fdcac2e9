//! One OTLP/HTTP export request: `POST {endpoint}/v1/logs` with the encoded records and the
//! configured headers, through the webhook client (same SSRF guard, timeout, no redirects,
//! no proxies), and what the answer means for a retry.

use std::time::Duration;

use super::encode::{encode, error_message, parse_response, PartialSuccess, CONTENT_TYPE};
use crate::pipeline::http_client::WebhookClient;
use relay_core::model::otlp::OtelHeaders;

/// How much of an answer's body is read (an `ExportLogsServiceResponse` or a `Status`).
const KEEP_BODY: usize = 16 * 1024;
/// Longest error text kept.
const MAX_ERROR_CHARS: usize = 300;
/// `User-Agent` of export requests.
const USER_AGENT: &str = concat!("AuditRelay-OTLP/", env!("CARGO_PKG_VERSION"));

/// What to do after a request.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportVerdict {
    /// 2xx: done. `partial` is set when the receiver rejected records or sent a warning (OTLP
    /// forbids retrying a partially accepted request).
    Accepted {
        /// OTLP's partial success, when the answer carried one.
        partial: Option<PartialSuccess>,
    },
    /// 408, 429, 5xx, 3xx (redirects are not followed), or no answer: retry on the schedule,
    /// honouring `Retry-After` on 429 and 503.
    Retry {
        /// The receiver's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Any other 4xx: the receiver refuses this request for good; do not retry.
    Rejected,
}

/// One request's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOutcome {
    /// Classification.
    pub verdict: ExportVerdict,
    /// HTTP status, if an answer came.
    pub status_code: Option<u16>,
    /// Milliseconds to the answer or the failure.
    pub latency_ms: u64,
    /// What went wrong (also a partial success's explanation).
    pub error: Option<String>,
    /// Bytes sent (after compression).
    pub bytes: usize,
}

fn clip(mut text: String) -> String {
    if text.chars().count() > MAX_ERROR_CHARS {
        text = text.chars().take(MAX_ERROR_CHARS).collect::<String>() + "…";
    }
    text
}

/// Classifies an answer (pure: the OTLP export's retry rules and the OTLP specification).
pub fn classify(status: u16, retry_after: Option<Duration>) -> ExportVerdict {
    match status {
        200..=299 => ExportVerdict::Accepted { partial: None },
        408 => ExportVerdict::Retry { retry_after: None },
        429 | 503 => ExportVerdict::Retry { retry_after },
        400..=499 => ExportVerdict::Rejected,
        _ => ExportVerdict::Retry { retry_after: None },
    }
}

/// Sends `docs` (canonical event JSON) as one request of `schema` records to `export_url`
/// with `headers`; `ctx` is the org's shape context (for OCSF records).
pub async fn export(
    client: &WebhookClient,
    export_url: &str,
    headers: &OtelHeaders,
    schema: relay_core::shapes::Schema,
    ctx: &relay_core::shapes::ShapeContext,
    docs: &[&str],
) -> ExportOutcome {
    let body = match encode(docs, schema, ctx) {
        Ok(b) => b,
        // A stored event the API wrote is always canonical; if one is not, retrying cannot
        // help, and the receiver never saw it.
        Err(e) => {
            return ExportOutcome {
                verdict: ExportVerdict::Rejected,
                status_code: None,
                latency_ms: 0,
                error: Some(clip(format!("could not encode the records: {e}"))),
                bytes: 0,
            }
        }
    };
    let mut pairs: Vec<(&str, &str)> =
        vec![("content-type", CONTENT_TYPE), ("user-agent", USER_AGENT)];
    if body.gzip {
        pairs.push(("content-encoding", "gzip"));
    }
    pairs.extend(
        headers
            .expose()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let bytes = body.bytes.len();
    let policy = client.policy().allowing_http();
    let sent = client
        .post_raw(policy, export_url, &pairs, body.bytes, KEEP_BODY)
        .await;
    let latency_ms = u64::try_from(sent.latency.as_millis()).unwrap_or(u64::MAX);
    let (resp, raw) = match sent.result {
        Ok(r) => r,
        Err(e) => {
            return ExportOutcome {
                verdict: ExportVerdict::Retry { retry_after: None },
                status_code: None,
                latency_ms,
                error: Some(clip(e.to_string())),
                bytes,
            }
        }
    };
    let code = resp.status;
    let verdict = classify(code, resp.retry_after);
    let error = match &verdict {
        ExportVerdict::Accepted { .. } => {
            let partial = parse_response(raw.content_type.as_deref(), &raw.bytes);
            if partial.rejected > 0 || !partial.message.is_empty() {
                let text = if partial.rejected > 0 {
                    format!(
                        "the receiver rejected {} of {} records: {}",
                        partial.rejected,
                        docs.len(),
                        partial.message
                    )
                } else {
                    format!(
                        "the receiver accepted every record with a warning: {}",
                        partial.message
                    )
                };
                return ExportOutcome {
                    verdict: ExportVerdict::Accepted {
                        partial: Some(partial),
                    },
                    status_code: Some(code),
                    latency_ms,
                    error: Some(clip(text.trim_end_matches([':', ' ']).to_string())),
                    bytes,
                };
            }
            None
        }
        _ if (300..400).contains(&code) => Some(format!(
            "HTTP {code}: redirects are not followed (Location: {})",
            resp.location.as_deref().unwrap_or("none")
        )),
        _ => {
            let msg = error_message(code, raw.content_type.as_deref(), &raw.bytes);
            Some(if msg.is_empty() {
                format!("HTTP {code}")
            } else {
                format!("HTTP {code}: {msg}")
            })
        }
    };
    ExportOutcome {
        verdict,
        status_code: Some(code),
        latency_ms,
        error: error.map(clip),
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_answers_are_retried() {
        let s = Some(Duration::from_secs(7));
        assert_eq!(
            classify(200, None),
            ExportVerdict::Accepted { partial: None }
        );
        assert_eq!(
            classify(204, None),
            ExportVerdict::Accepted { partial: None }
        );
        assert_eq!(classify(429, s), ExportVerdict::Retry { retry_after: s });
        assert_eq!(classify(503, s), ExportVerdict::Retry { retry_after: s });
        // Retry-After counts only on 429 and 503.
        assert_eq!(classify(502, s), ExportVerdict::Retry { retry_after: None });
        assert_eq!(
            classify(500, None),
            ExportVerdict::Retry { retry_after: None }
        );
        assert_eq!(classify(408, s), ExportVerdict::Retry { retry_after: None });
        assert_eq!(
            classify(302, None),
            ExportVerdict::Retry { retry_after: None }
        );
        for code in [400, 401, 403, 404, 405, 413, 415, 422] {
            assert_eq!(classify(code, None), ExportVerdict::Rejected, "{code}");
        }
    }
}
