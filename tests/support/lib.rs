//! Test harness: each test gets its own tables (a unique name prefix) in the moto server that
//! `make test` starts (`AWS_ENDPOINT_URL`), and talks to the real router through tower, with
//! the real aws-sdk clients underneath.

use std::sync::OnceLock;

use axum::body::Body;
use axum::Router;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use relay_api::{router, AppState};
use relay_app::wiring::Wiring;
use relay_core::model::{Org, Role, Scope};
use relay_core::Config;
use relay_store::{schema, Store};
use serde_json::Value;
use tower::ServiceExt;

pub mod bench;
pub mod cost;
pub mod fixtures;
pub mod noisy;
pub mod otel;
pub mod stores;
pub mod webhooks;

/// An object's text, gzip-decoded when its key ends in `.gz`.
pub async fn object_text(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    use std::io::Read;
    let bytes = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object")
        .body
        .collect()
        .await
        .expect("object body")
        .into_bytes();
    if key.ends_with(".gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .expect("valid gzip");
        s
    } else {
        String::from_utf8(bytes.to_vec()).expect("UTF-8 text")
    }
}

/// The documented example event, verbatim.
pub fn seed_event() -> Value {
    serde_json::from_str(SEED_EVENT).expect("seed event is JSON")
}

/// The documented example event as text (the one copy, in the event model).
pub const SEED_EVENT: &str = relay_core::model::event::DOCUMENTED_EXAMPLE;

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;

static SDK: OnceLock<aws_config::SdkConfig> = OnceLock::new();

/// The SDK configuration of the moto server the tests run against.
pub async fn sdk() -> aws_config::SdkConfig {
    if let Some(c) = SDK.get() {
        return c.clone();
    }
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "integration tests need moto: run `make test`, or `scripts/with-moto.sh cargo test`"
    );
    // Moto is one Python process. Under the 1,600 concurrent requests of the concurrent-ingest
    // test, on a busy machine, it can leave a response without a byte for longer than the
    // stalled-stream grace period (5 s). That is the emulator's queue, not a stalled network,
    // and failing those requests only retries them, which multiplies its load; so the
    // functions' configuration is used as is, with that protection off. For the same reason a
    // connection gets 10 s instead of the SDK's 3.1 s: moto's accept queue, on two busy cores,
    // is not a network failure.
    let c = relay_app::clients::load_aws_config()
        .await
        .into_builder()
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build(),
        )
        .build();
    SDK.get_or_init(|| c).clone()
}

/// The Python of the tools venv, which has moto's clients, `standardwebhooks`, the OTLP
/// protobuf definitions and DuckDB (`make test` exports `AUDITRELAY_TEST_PYTHON`). The one
/// finder every test uses, `auditctl`'s included.
pub fn python() -> String {
    std::env::var("AUDITRELAY_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/../.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}

/// An S3 client on the emulator (path-style), standing in for the customer's account.
pub async fn customer_s3() -> aws_sdk_s3::Client {
    let sdk = sdk().await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// One org with a key per role.
#[derive(Debug, Clone)]
pub struct TestOrg {
    /// The org.
    pub org: Org,
    /// Owner key token.
    pub owner: String,
    /// Admin key token.
    pub admin: String,
    /// Member key token (no scopes).
    pub member: String,
    /// Service key token with `audit:write`.
    pub writer: String,
    /// Member key token with `audit:read` only.
    pub reader: String,
}

/// A fresh, isolated deployment of the service.
pub struct TestEnv {
    /// Table names etc.
    pub config: Config,
    /// The store.
    pub store: Store,
    /// The app state.
    pub state: AppState,
    /// The HTTP router.
    pub router: Router,
    /// A first org, tenant `ten_01ABCDEFG` (the documented example's).
    pub a: TestOrg,
}

/// A response, decoded.
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// JSON body (Null when empty or not JSON).
    pub body: Value,
    /// Raw body.
    pub text: String,
}

/// The KMS key that seals stored credentials in tests (one per moto server).
pub async fn credentials_key(sdk: &aws_config::SdkConfig) -> String {
    relay_app::credentials::ensure_key(
        &aws_sdk_kms::Client::new(sdk),
        "alias/auditrelay-test-credentials",
    )
    .await
    .expect("credentials key")
}

/// The KMS key that signs digests and manifests in tests (one per moto server).
pub async fn signing_key(sdk: &aws_config::SdkConfig) -> String {
    relay_app::integrity::signer::ensure_signing_key(
        &aws_sdk_kms::Client::new(sdk),
        "alias/auditrelay-test-signing",
    )
    .await
    .expect("signing key")
}

/// Customers' buckets as the tests reach them: moto's credentials, private endpoints allowed.
pub fn buckets(
    config: &Config,
    sdk: &aws_config::SdkConfig,
) -> relay_app::pipeline::bucket::Buckets {
    relay_app::pipeline::bucket::Buckets::from_config(
        config,
        &relay_app::clients::Clients::new(sdk),
    )
}

impl TestEnv {
    /// Provisions a new set of tables and one org.
    pub async fn new() -> TestEnv {
        Self::with_config(|_| {}).await
    }

    /// Like [`TestEnv::new`], with the configuration adjusted by `adjust` first.
    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> TestEnv {
        let sdk = sdk().await;
        let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut config = Config::with_prefix(&prefix);
        config.credentials_key_id = Some(credentials_key(&sdk).await);
        adjust(&mut config);
        let ddb = relay_app::clients::dynamodb(&sdk);
        schema::ensure_table(&ddb, &config.events_table, &schema::events_table())
            .await
            .expect("events table");
        schema::ensure_table(&ddb, &config.config_table, &schema::config_table())
            .await
            .expect("config table");
        let wiring = Wiring::new(config.clone(), relay_app::clients::Clients::new(&sdk));
        // The wiring's store: it seals and opens secrets with the same sealer as the API.
        let store = wiring.store();
        let state = AppState::new(wiring).await.expect("state");
        let router = router(state.clone());
        let mut env = TestEnv {
            config,
            store,
            state,
            router,
            a: TestOrg {
                org: Org {
                    org_id: Default::default(),
                    name: String::new(),
                    tenant_id: String::new(),
                    retention_days: 0,
                    created_at: String::new(),
                },
                owner: String::new(),
                admin: String::new(),
                member: String::new(),
                writer: String::new(),
                reader: String::new(),
            },
        };
        env.a = env.new_org("Org A", Some("ten_01ABCDEFG")).await;
        env
    }

    /// Creates another org with a key per role.
    pub async fn new_org(&self, name: &str, tenant: Option<&str>) -> TestOrg {
        let now = "2026-11-21T00:00:00.000Z";
        let org = self
            .store
            .create_org(name, tenant, None, now)
            .await
            .expect("org");
        let key = |role: Role, scopes: Vec<Scope>| {
            let store = self.store.clone();
            let org_id = org.org_id.clone();
            async move {
                store
                    .create_key(&org_id, role, scopes, None, now)
                    .await
                    .expect("key")
                    .1
            }
        };
        TestOrg {
            owner: key(Role::Owner, Role::Owner.default_scopes()).await,
            admin: key(Role::Admin, Role::Admin.default_scopes()).await,
            member: key(Role::Member, vec![]).await,
            writer: key(Role::Service, vec![Scope::Write]).await,
            reader: key(Role::Member, vec![Scope::Read]).await,
            org,
        }
    }

    /// Sends a request through the router.
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let raw = body.map(|b| b.to_string());
        self.call_raw(method, uri, token, raw.as_deref(), Some("application/json"))
            .await
    }

    /// Sends a request with a raw body and content type.
    pub async fn call_raw(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let (Some(ct), Some(_)) = (content_type, body) {
            req = req.header("content-type", ct);
        }
        let req = req
            .body(Body::from(body.unwrap_or("").to_string()))
            .expect("request");
        self.send(req).await
    }

    /// Sends a prepared request.
    pub async fn send<B>(&self, req: Request<B>) -> Resp
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text }
    }

    /// Posts events with `token`, asserting 202.
    pub async fn ingest(&self, token: &str, body: &Value) -> Value {
        let r = self
            .call(Method::POST, "/v1/audit/events", Some(token), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        r.body
    }

    /// Posts events like a well-behaved client: a 503 (DynamoDB throttling, or an overloaded
    /// emulator) is retried with the same body, which is safe because event ids make ingest
    /// idempotent. Returns the final 202 body.
    pub async fn ingest_retrying(&self, token: &str, body: &Value) -> Value {
        for attempt in 0..8u64 {
            let r = self
                .call(Method::POST, "/v1/audit/events", Some(token), Some(body))
                .await;
            if r.status == StatusCode::SERVICE_UNAVAILABLE {
                tokio::time::sleep(std::time::Duration::from_millis(200 * (attempt + 1))).await;
                continue;
            }
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
            return r.body;
        }
        panic!("ingest still unavailable after 8 attempts");
    }

    /// Follows cursors through every page of `query` (which must not contain `cursor`).
    pub async fn all_pages(&self, token: &str, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut uri = format!("/v1/audit/logs?{query}");
            if let Some(c) = &cursor {
                uri.push_str(&format!("&cursor={c}"));
            }
            let r = self.call(Method::GET, &uri, Some(token), None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            out.extend(r.body["logs"].as_array().expect("logs").iter().cloned());
            match r.body["cursor"].as_str() {
                Some(c) => {
                    assert_eq!(r.body["has_more"], true);
                    cursor = Some(c.to_string());
                }
                None => {
                    assert_eq!(r.body["has_more"], false);
                    return out;
                }
            }
        }
    }
}

/// Asserts an error answer: `status`, a JSON `{"error", "code"}` body, and (when given) the
/// field named both in `field` and in the message.
pub fn assert_error(r: &Resp, status: StatusCode, field: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(r.body["error"].is_string(), "no error message: {}", r.text);
    assert!(r.body["code"].is_string(), "no code: {}", r.text);
    if let Some(f) = field {
        assert_eq!(r.body["field"], f, "{}", r.text);
        assert!(
            r.body["error"].as_str().unwrap_or("").contains(f),
            "message does not name {f}: {}",
            r.text
        );
    }
}
