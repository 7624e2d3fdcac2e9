//! Webhook test harness: HTTP receivers on 127.0.0.1, a deployment with its own deliveries
//! queue, dead-letter queue and notification topic in moto, the stream and queue pollers that
//! stand in for the Lambda triggers, and a recorder of the visibility timeouts the deliver
//! function sets (an SDK interceptor on the real SQS client, so nothing waits 30 minutes).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept};
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityInput;
use aws_sdk_sqs::types::QueueAttributeName;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{Method, StatusCode};
use relay_app::deliver::Deliverer;
use relay_app::fanout::Fanout;
use relay_app::local::{QueuePoll, QueuePoller, StreamPoller};
use relay_app::pipeline::consumer::DeliverySettings;
use relay_app::pipeline::http_client::WebhookClient;
use relay_app::pipeline::pause::Notifier;
use relay_app::pipeline::pause::PauseRule;
use relay_app::pipeline::queues::{ensure_delivery_queues, ensure_topic, DeliveryQueues};
use relay_app::pipeline::ssrf::SsrfPolicy;
use relay_app::summary::stream::Summarizer;
use relay_core::retry::RetrySchedule;
use relay_core::signing::SignatureHeaderName;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::TestEnv;

/// What a receiver answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Extra response headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// An immediate answer with `status`.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            headers: vec![],
        }
    }

    /// Answer after `delay`.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// With a response header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// A request a receiver got.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Headers, lowercase names.
    pub headers: BTreeMap<String, String>,
    /// Body.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Recorded {
    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("body is JSON")
    }
}

#[derive(Debug)]
struct ReceiverState {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Reply>,
    arrived: Notify,
}

/// An HTTP server on 127.0.0.1 that records every request and answers as scripted.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
}

async fn receive(State(state): State<Arc<ReceiverState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        headers,
        body: String::from_utf8_lossy(&bytes).to_string(),
        at: Instant::now(),
    });
    state.arrived.notify_waiters();
    let reply = {
        let mut script = state.script.lock().unwrap();
        script
            .pop_front()
            .unwrap_or_else(|| state.fallback.lock().unwrap().clone())
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        resp = resp.header(*k, v);
    }
    resp.body(Body::from("receiver says hi")).unwrap()
}

impl Receiver {
    /// Starts a receiver answering 200.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState {
            requests: Mutex::new(vec![]),
            script: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(Reply::status(200)),
            arrived: Notify::new(),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, state }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answer every request (after the scripted ones) with `reply`.
    pub fn always(&self, reply: Reply) {
        *self.state.fallback.lock().unwrap() = reply;
    }

    /// Answer the next requests with `replies`, in order.
    pub fn script(&self, replies: Vec<Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.state.arrived.notified();
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "receiver got {} of {n} requests",
                got.len()
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

/// Records every `ChangeMessageVisibility` the wrapped SQS client sends.
#[derive(Debug, Clone, Default)]
pub struct VisibilityRecorder(Arc<Mutex<Vec<(String, i32)>>>);

impl VisibilityRecorder {
    /// (receipt handle, visibility timeout in seconds), in order.
    pub fn calls(&self) -> Vec<(String, i32)> {
        self.0.lock().unwrap().clone()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

impl Intercept for VisibilityRecorder {
    fn name(&self) -> &'static str {
        "VisibilityRecorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(input) = context
            .input()
            .downcast_ref::<ChangeMessageVisibilityInput>()
        {
            self.0.lock().unwrap().push((
                input.receipt_handle().unwrap_or_default().to_string(),
                input.visibility_timeout().unwrap_or(-1),
            ));
        }
        Ok(())
    }
}

/// Knobs of a [`WebhookEnv`].
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Retry schedule of the deliver function.
    pub schedule: RetrySchedule,
    /// Auto-pause rule.
    pub pause: PauseRule,
    /// HTTP timeout of a delivery.
    pub timeout: Duration,
    /// `AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS` (the receivers are on loopback).
    pub allow_private: bool,
    /// `AUDITRELAY_SIGNATURE_HEADER` (`None`: unset, the default name).
    pub signature_header: Option<SignatureHeaderName>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            schedule: RetrySchedule::seed(),
            pause: PauseRule::default(),
            timeout: Duration::from_secs(5),
            allow_private: true,
            signature_header: None,
        }
    }
}

/// A deployment with webhook delivery wired up: tables, queue + DLQ, topic, pollers.
pub struct WebhookEnv {
    /// Tables, org, router.
    pub env: TestEnv,
    /// The deliveries queue and its DLQ.
    pub queues: DeliveryQueues,
    /// The notification topic.
    pub topic_arn: String,
    /// A queue subscribed to the topic (what an operator would subscribe).
    pub notifications_url: String,
    /// A plain SQS client (not recorded).
    pub sqs: aws_sdk_sqs::Client,
    /// The visibility timeouts the deliver function set.
    pub recorder: VisibilityRecorder,
    /// The deliver function's logic.
    pub deliverer: Deliverer,
    /// The fanout function's logic.
    pub fanout: Fanout,
    /// The summarize function's logic (the stream's other consumer).
    pub summarizer: Summarizer,
    /// The SQS trigger stand-in.
    pub queue_poller: QueuePoller,
    stream: tokio::sync::Mutex<StreamPoller>,
    summary_stream: tokio::sync::Mutex<StreamPoller>,
}

impl WebhookEnv {
    /// The defaults: seed schedule, private destinations allowed.
    pub async fn new() -> WebhookEnv {
        Self::with(WebhookOptions::default()).await
    }

    /// A deployment with `opts`.
    pub async fn with(opts: WebhookOptions) -> WebhookEnv {
        let sdk = crate::sdk().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let name = format!("wh{}", ulid::Ulid::new().to_string().to_lowercase());
        let queues = ensure_delivery_queues(&sqs, &name, opts.schedule.max_attempts())
            .await
            .expect("queues");
        let topic_arn = ensure_topic(&sns, &format!("{name}-notify"))
            .await
            .expect("topic");
        let notifications_url = sqs
            .create_queue()
            .queue_name(format!("{name}-notifications"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let notifications_arn = sqs
            .get_queue_attributes()
            .queue_url(&notifications_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()
            .remove(&QueueAttributeName::QueueArn)
            .unwrap();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(notifications_arn)
            .send()
            .await
            .unwrap();

        let queue_url = queues.queue_url.clone();
        let topic = topic_arn.clone();
        let allow = opts.allow_private;
        let signature_header = opts.signature_header.clone();
        let env = TestEnv::with_config(move |c| {
            c.deliveries_queue_url = Some(queue_url);
            c.notify_topic_arn = Some(topic);
            c.allow_private_destinations = allow;
            if let Some(name) = signature_header {
                c.signature_header = name;
            }
        })
        .await;

        let recorder = VisibilityRecorder::default();
        let recorded_sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .interceptor(recorder.clone())
                .build(),
        );
        let deliverer = Deliverer::new(
            env.store.clone(),
            recorded_sqs.clone(),
            queues.queue_url.clone(),
            WebhookClient::with_timeout(SsrfPolicy::new(opts.allow_private), opts.timeout)
                .expect("client")
                .with_signature_header(env.config.signature_header.clone()),
            Notifier::new(sns.clone(), Some(topic_arn.clone())),
            DeliverySettings {
                schedule: opts.schedule,
                pause: opts.pause,
                ..Default::default()
            },
        );
        let fanout = Fanout::new(env.store.clone(), sqs.clone(), queues.queue_url.clone());
        let stream = StreamPoller::new(
            env.store.client(),
            aws_sdk_dynamodbstreams::Client::new(&sdk),
            &env.config.events_table,
            fanout.clone(),
        )
        .await
        .expect("stream poller");
        let summarizer = Summarizer::new(env.store.clone());
        let summary_stream = StreamPoller::new(
            env.store.client(),
            aws_sdk_dynamodbstreams::Client::new(&sdk),
            &env.config.events_table,
            summarizer.clone(),
        )
        .await
        .expect("summary stream poller");
        let queue_poller =
            QueuePoller::new(recorded_sqs, queues.queue_url.clone(), deliverer.clone());
        WebhookEnv {
            env,
            queues,
            topic_arn,
            notifications_url,
            sqs,
            recorder,
            deliverer,
            fanout,
            summarizer,
            queue_poller,
            stream: tokio::sync::Mutex::new(stream),
            summary_stream: tokio::sync::Mutex::new(summary_stream),
        }
    }

    /// `/orgs/{org}/audit-export/webhooks`.
    pub fn path(&self) -> String {
        format!("/orgs/{}/audit-export/webhooks", self.env.a.org.org_id)
    }

    /// Creates an endpoint with the admin key; returns the 201 body.
    pub async fn create(&self, body: Value) -> Value {
        let r = self
            .env
            .call(
                Method::POST,
                &self.path(),
                Some(&self.env.a.admin),
                Some(&body),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }

    /// Creates an endpoint for all actions at `url`; returns (id, secret).
    pub async fn endpoint(&self, url: &str) -> (String, String) {
        let ep = self.create(json!({ "url": url })).await;
        (
            ep["id"].as_str().unwrap().to_string(),
            ep["secret"].as_str().unwrap().to_string(),
        )
    }

    /// Calls the API as the org's admin.
    pub async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> crate::Resp {
        self.env
            .call(method, path, Some(&self.env.a.admin), body)
            .await
    }

    /// Fetches an endpoint through the API.
    pub async fn get(&self, id: &str) -> Value {
        let r = self
            .admin(Method::GET, &format!("{}/{id}", self.path()), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body
    }

    /// Sends events with the service key.
    pub async fn ingest(&self, body: &Value) -> Value {
        self.env.ingest(&self.env.a.writer, body).await
    }

    /// Runs the fanout, then the summary counters, over everything new in the stream; returns
    /// the records the fanout read.
    pub async fn pump(&self) -> usize {
        let total = drain_stream(&self.stream).await;
        drain_stream(&self.summary_stream).await;
        total
    }

    /// Runs the fanout alone over everything new in the stream; returns the records read.
    pub async fn pump_fanout(&self) -> usize {
        drain_stream(&self.stream).await
    }

    /// One receive-and-deliver round of up to 10 messages.
    pub async fn deliver_once(&self) -> QueuePoll {
        self.queue_poller.poll_once(0).await.expect("queue poll")
    }

    /// Delivers until the queue has nothing visible.
    pub async fn drain(&self) -> QueuePoll {
        let mut total = QueuePoll::default();
        loop {
            let p = self.deliver_once().await;
            if p.received == 0 {
                return total;
            }
            total.received += p.received;
            total.done += p.done;
            total.retried += p.retried;
        }
    }

    /// Makes a message visible again now (what waiting out its delay would do).
    pub async fn make_visible(&self, receipt: &str) {
        self.sqs
            .change_message_visibility()
            .queue_url(&self.queues.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .expect("change visibility");
    }

    /// (visible, in flight) messages of the deliveries queue.
    pub async fn depth(&self) -> (u32, u32) {
        depth(&self.sqs, &self.queues.queue_url).await
    }

    /// Bodies of the messages in the DLQ (received and left there).
    pub async fn dlq(&self) -> Vec<Value> {
        receive_all(&self.sqs, &self.queues.dlq_url).await
    }

    /// Notifications published to the topic (SNS envelopes unwrapped).
    pub async fn notifications(&self) -> Vec<Value> {
        receive_all(&self.sqs, &self.notifications_url)
            .await
            .into_iter()
            .map(|envelope| {
                let msg = envelope["Message"].as_str().unwrap_or("null");
                serde_json::from_str(msg).unwrap_or(Value::Null)
            })
            .collect()
    }

    /// Every attempt of an endpoint through the API (following cursors), newest first.
    pub async fn attempts(&self, id: &str) -> Vec<Value> {
        let mut out = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let mut uri = format!("{}/{id}/attempts?limit=100", self.path());
            if let Some(c) = &cursor {
                uri.push_str(&format!("&cursor={c}"));
            }
            let r = self.admin(Method::GET, &uri, None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            out.extend(r.body["attempts"].as_array().unwrap().iter().cloned());
            match r.body["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }
}

/// (visible, in flight) messages of a queue.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u32, u32) {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    let get = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut out = vec![];
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            return out;
        }
        for m in got.messages() {
            out.push(serde_json::from_str(m.body().unwrap_or("null")).unwrap_or(Value::Null));
        }
    }
}

const VERIFY_PY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
out = []
for case in json.load(sys.stdin):
    try:
        payload = Webhook(case["secret"]).verify(case["body"], case["headers"])
        out.append({"ok": True, "event_id": payload.get("event_id")})
    except Exception as e:
        out.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
print(json.dumps(out))
"#;

/// Verifies deliveries with the `standardwebhooks` package from PyPI, as a receiver would:
/// one result per (secret, request), `{"ok": true, "event_id": …}` or `{"ok": false, "error": …}`.
pub async fn verify_with_standardwebhooks(cases: &[(&str, &Recorded)]) -> Vec<Value> {
    let input: Vec<Value> = cases
        .iter()
        .map(|(secret, r)| json!({"secret": secret, "headers": r.headers, "body": r.body}))
        .collect();
    let input = serde_json::to_vec(&input).unwrap();
    let py = crate::python();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(&py)
            .arg("-c")
            .arg(VERIFY_PY)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", py));
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "standardwebhooks verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The single-header verifier exactly as docs/destinations.md gives it to receivers (a test
/// checks the page still holds this text, so the page and what CI runs cannot drift apart).
pub const HMAC_VERIFY_PY: &str = r#"import base64, hashlib, hmac, time
def verify(secret: str, header: str, raw_body: bytes, tolerance=300) -> bool:
    parts = [p.split("=", 1) for p in header.split(",")]
    t = next(v for k, v in parts if k == "t")
    if abs(time.time() - int(t)) > tolerance:          # refuse replays of old deliveries
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, t.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")
"#;

const HMAC_VERIFY_DRIVER_PY: &str = r#"
import json, sys
out = []
for case in json.load(sys.stdin):
    headers = {k.lower(): v for k, v in case["headers"].items()}
    value = headers.get(case["header"].lower())
    out.append(value is not None and verify(case["secret"], value, case["body"].encode()))
print(json.dumps(out))
"#;

/// Verifies the header named `header` of each (secret, request) with Python's `hmac` through
/// the documented snippet, as a receiver would; one bool per case.
pub async fn verify_with_hmac_snippet(header: &str, cases: &[(&str, &Recorded)]) -> Vec<bool> {
    let input: Vec<Value> = cases
        .iter()
        .map(|(secret, r)| {
            json!({"secret": secret, "header": header, "headers": r.headers, "body": r.body})
        })
        .collect();
    let input = serde_json::to_vec(&input).unwrap();
    let py = crate::python();
    let script = format!("{HMAC_VERIFY_PY}{HMAC_VERIFY_DRIVER_PY}");
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(&py)
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", py));
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "hmac verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `stream` until it reads nothing new; the records read.
async fn drain_stream(stream: &tokio::sync::Mutex<StreamPoller>) -> usize {
    let mut stream = stream.lock().await;
    let mut total = 0;
    loop {
        let n = stream.poll_once().await.expect("stream poll");
        if n == 0 {
            return total;
        }
        total += n;
    }
}
