//! The outbound HTTP client of webhook and OTLP deliveries: one per cold start (its connection pool is
//! reused across invocations), 15 s timeout, no redirects, no proxies, and DNS resolution
//! through the SSRF guard, so the addresses that were checked are the addresses connected to.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::ssrf::{SsrfError, SsrfPolicy};
use relay_core::retry::parse_retry_after;
use relay_core::signing::{SignatureHeaderName, SignatureHeaders};

/// Timeout of one delivery attempt, connect to last byte (the webhook delivery contract).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of a failed response's body is read to find its reason (a JSON error's
/// `message`); the body itself is never kept.
const SNIPPET_BYTES: usize = 1024;

/// The client could not be built (TLS backend initialisation).
#[derive(Debug, thiserror::Error)]
#[error("building the webhook HTTP client: {0}")]
pub struct ClientBuildError(String);

/// Why an attempt got no HTTP response.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SendError {
    /// The SSRF guard refused the destination.
    #[error("destination refused: url {0}")]
    Refused(SsrfError),
    /// No complete response within the timeout.
    #[error("timed out after {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// TCP or TLS connection failed.
    #[error("connection failed: {0}")]
    Connect(String),
    /// Anything else (protocol errors, a reset mid-response).
    #[error("request failed: {0}")]
    Other(String),
}

/// Longest reason taken from a receiver's answer.
pub const REASON_CHARS: usize = 80;

/// Printable ASCII only, runs of white space as one space, at most [`REASON_CHARS`]: what a
/// receiver's text may contribute to an error an admin reads.
pub fn sanitize_reason(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        let word: String = word.chars().filter(|c| c.is_ascii_graphic()).collect();
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    out.chars().take(REASON_CHARS).collect()
}

/// A failed answer's reason, short and sanitised: the `message` (or `error`, or
/// `error.message`) string of a JSON body, else the status's standard reason phrase. Never
/// the body itself: a test send reaches any public URL, and must not read its pages back to
/// the caller.
pub fn failure_reason(status: u16, content_type: Option<&str>, body: &[u8]) -> String {
    let json = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    let from_json = json
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten()
        .and_then(|v| {
            [&v["message"], &v["error"], &v["error"]["message"]]
                .into_iter()
                .find_map(|m| m.as_str().map(sanitize_reason))
        })
        .filter(|m| !m.is_empty());
    from_json.unwrap_or_else(|| {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
            .to_string()
    })
}

/// A response, reduced to what the attempt log and the retry logic need.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// `Retry-After`, parsed.
    pub retry_after: Option<Duration>,
    /// `Location` of a redirect (not followed).
    pub location: Option<String>,
    /// A failure's short, sanitised reason ([`failure_reason`]); empty on success.
    pub snippet: String,
}

/// One POST: how long it took and what came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Time from sending to the end of the (capped) body, or to the failure.
    pub latency: Duration,
    /// The response, or why there was none.
    pub result: Result<HttpResponse, SendError>,
}

/// The body of a response to [`WebhookClient::post_raw`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawBody {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// The first bytes of the body (as many as were asked for).
    pub bytes: Vec<u8>,
}

/// One [`WebhookClient::post_raw`]: how long it took and what came back.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSent {
    /// Time from sending to the end of the (capped) body, or to the failure.
    pub latency: Duration,
    /// The response and its body, or why there was none.
    pub result: Result<(HttpResponse, RawBody), SendError>,
}

/// Resolves through the SSRF guard: every address is checked, and reqwest connects to
/// exactly the checked ones.
struct GuardedResolver {
    policy: SsrfPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = policy
                .resolve(&host, 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A client builder whose connections go only to addresses the guard checked: no redirects,
/// no proxies, DNS through the guard. Callers set timeouts and check every URL themselves
/// (`SsrfPolicy::check_url`), since a literal address is never resolved.
pub(crate) fn guarded_builder(policy: SsrfPolicy) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy from the environment would connect on our behalf to addresses the guard
        // never saw.
        .no_proxy()
        // No `https_only`: every request's URL passes `check_url` under its policy first
        // (webhooks: https; OTLP and local stores: http too), and redirects are never followed.
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
}

/// Sends webhook deliveries.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    policy: SsrfPolicy,
    timeout: Duration,
    /// The deployment's name for the single-header signature; held here because this client
    /// is the one place a signed delivery's headers are put on the request, for deliveries
    /// and test sends alike.
    signature_header: SignatureHeaderName,
}

impl WebhookClient {
    /// A client with the standard 15 s timeout.
    pub fn new(policy: SsrfPolicy) -> Result<Self, ClientBuildError> {
        Self::with_timeout(policy, DELIVERY_TIMEOUT)
    }

    /// A client with another timeout (tests).
    pub fn with_timeout(policy: SsrfPolicy, timeout: Duration) -> Result<Self, ClientBuildError> {
        let http = guarded_builder(policy)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("AuditRelay-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientBuildError(e.to_string()))?;
        Ok(WebhookClient {
            http,
            policy,
            timeout,
            signature_header: SignatureHeaderName::default(),
        })
    }

    /// The same client, sending the single-header signature under `name`
    /// (`AUDITRELAY_SIGNATURE_HEADER`) instead of the default `X-AuditRelay-Signature`.
    pub fn with_signature_header(mut self, name: SignatureHeaderName) -> Self {
        self.signature_header = name;
        self
    }

    /// The name the single-header signature is sent under.
    pub fn signature_header(&self) -> &SignatureHeaderName {
        &self.signature_header
    }

    /// The destination policy.
    pub fn policy(&self) -> SsrfPolicy {
        self.policy
    }

    /// POSTs `body` (JSON) to `url` with the signature headers, the single-header signature
    /// under the configured name.
    pub async fn post(&self, url: &str, headers: &SignatureHeaders, body: String) -> Sent {
        let started = Instant::now();
        let signed = headers.pairs(&self.signature_header);
        let mut pairs: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        pairs.extend(signed.iter().map(|(k, v)| (*k, v.as_str())));
        let result = self
            .post_inner(self.policy, url, &pairs, body.into_bytes(), 0)
            .await
            .map(|(resp, _)| resp);
        Sent {
            latency: started.elapsed(),
            result,
        }
    }

    /// POSTs `body` to `url` with `headers` (content type included), under `policy` rather
    /// than the client's own (OTLP export also allows `http`). The response keeps up to
    /// `keep_body` bytes of its body whatever the status (OTLP answers carry a protobuf
    /// message), besides the usual snippet of a failure.
    pub async fn post_raw(
        &self,
        policy: SsrfPolicy,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        keep_body: usize,
    ) -> RawSent {
        let started = Instant::now();
        let result = self.post_inner(policy, url, headers, body, keep_body).await;
        RawSent {
            latency: started.elapsed(),
            result,
        }
    }

    async fn post_inner(
        &self,
        policy: SsrfPolicy,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        keep_body: usize,
    ) -> Result<(HttpResponse, RawBody), SendError> {
        // IP-literal hosts never reach the resolver, so the guard checks them here; names are
        // checked by the resolver, on the addresses actually used. The scheme rule is checked
        // here too, per request, since OTLP export allows `http` where webhooks do not.
        let parsed = policy.check_url(url).map_err(SendError::Refused)?;
        let mut req = self.http.post(parsed);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let mut resp = req.body(body).send().await.map_err(|e| self.classify(e))?;
        let status = resp.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let location = header(reqwest::header::LOCATION);
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let success = (200..300).contains(&status);
        // Reading a little of a failure's body costs nothing and tells the admin why.
        let cap = if success {
            keep_body
        } else {
            keep_body.max(SNIPPET_BYTES)
        };
        let mut bytes = Vec::new();
        while bytes.len() < cap {
            match resp.chunk().await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        bytes.truncate(cap);
        let snippet = if success {
            String::new()
        } else {
            failure_reason(status, content_type.as_deref(), &bytes)
        };
        Ok((
            HttpResponse {
                status,
                retry_after,
                location,
                snippet,
            },
            RawBody {
                content_type,
                bytes,
            },
        ))
    }

    fn classify(&self, e: reqwest::Error) -> SendError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
        let mut innermost = None;
        while let Some(s) = source {
            if let Some(refused) = s.downcast_ref::<SsrfError>() {
                return SendError::Refused(refused.clone());
            }
            innermost = Some(s.to_string());
            source = s.source();
        }
        if e.is_timeout() {
            return SendError::Timeout(self.timeout);
        }
        let detail = innermost.unwrap_or_else(|| e.to_string());
        if e.is_connect() {
            SendError::Connect(detail)
        } else {
            SendError::Other(detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reasons_are_short_and_never_the_page() {
        assert_eq!(
            failure_reason(
                401,
                Some("application/json"),
                br#"{"message":"invalid token"}"#
            ),
            "invalid token"
        );
        assert_eq!(
            failure_reason(
                400,
                Some("application/json; charset=utf-8"),
                br#"{"error":{"message":"bad"}}"#
            ),
            "bad"
        );
        assert_eq!(
            failure_reason(500, Some("text/html"), b"<html>internal admin page</html>"),
            "Internal Server Error"
        );
        assert_eq!(failure_reason(599, None, b"x"), "");
        let long = format!(r#"{{"message":"{}"}}"#, "a".repeat(500));
        assert_eq!(
            failure_reason(400, Some("application/json"), long.as_bytes()).len(),
            REASON_CHARS
        );
    }
}
