//! Writing files into a customer's bucket, on any supported store, with every failure sorted
//! into what a person can act on.
//!
//! Two paths:
//! - **Amazon S3 through IAM** (an assumed role, or the stack's own principal under a bucket
//!   policy) at AWS's own endpoint: the AWS SDK, as every AWS call of the service.
//! - **Everything else** (S3-compatible stores, Amazon S3 with an access key or a custom
//!   endpoint, GCS, Azure Blob): `object_store`, whose HTTP requests all go through the SSRF
//!   guard (the URL's scheme and literal address at every request, every resolved address
//!   at every connection; redirects are never followed).
//!
//! Both offer the same operations: a single PUT, and a multipart upload whose id and parts
//! can be recorded and aborted (S3 multipart uploads, GCS XML multipart uploads, Azure block
//! lists).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions, RetryConfig,
};

use super::ssrf::SsrfPolicy;
use relay_core::model::bucket::{BucketTarget, StoreType};
use relay_core::model::credentials::Secret;

/// What kind of trouble a write ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The store refused the credentials (unknown key, bad signature, expired token).
    Credentials,
    /// The bucket or container does not exist.
    MissingBucket,
    /// The credentials are valid but may not write there.
    AccessDenied,
    /// The bucket is in another region.
    Region,
    /// The endpoint could not be reached (DNS, refused, timed out, blocked by the guard).
    Unreachable,
    /// The TLS handshake failed (certificate, or not a TLS endpoint).
    Tls,
    /// Anything else (throttling, server errors): worth retrying.
    Other,
}

/// A failed store call, explained.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct WriteFailure {
    /// What kind of trouble.
    pub kind: FailureKind,
    /// The store's error code, if it gave one.
    pub code: Option<String>,
    /// What failed and what to do about it (no secret in it).
    pub message: String,
}

impl WriteFailure {
    /// Whether retrying cannot help until someone changes the destination or its access.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self.kind,
            FailureKind::Credentials
                | FailureKind::MissingBucket
                | FailureKind::AccessDenied
                | FailureKind::Region
                | FailureKind::Tls
        ) || self.code.as_deref().is_some_and(|c| c.starts_with("KMS"))
    }
}

/// One bucket, opened for writing.
#[derive(Clone)]
pub struct BucketWriter {
    target: BucketTarget,
    backend: Backend,
    /// Secret values to scrub from any error text.
    scrub: Arc<Vec<String>>,
}

impl std::fmt::Debug for BucketWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BucketWriter({})", self.target.location())
    }
}

#[derive(Clone)]
enum Backend {
    Aws(aws_sdk_s3::Client),
    Objects(Arc<dyn Objects>),
}

/// A store that takes single PUTs and resumable multipart uploads.
trait Objects: ObjectStore + MultipartStore {}
impl<T: ObjectStore + MultipartStore> Objects for T {}

/// Credentials for the `object_store` path.
pub enum Signing<'a> {
    /// Stored credentials.
    Stored(&'a Secret),
    /// Temporary AWS credentials (an assumed role reaching a custom endpoint).
    Aws {
        /// Access key id.
        access_key_id: String,
        /// Secret key.
        secret_access_key: String,
        /// Session token.
        session_token: Option<String>,
    },
}

/// Bounds on one store request: a stuck upload must not hold the org's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// Flushes and export jobs: 5 s to connect, 60 s a request, 3 retries.
    Upload,
    /// Connection tests: an answer within seconds (20 s a request, no retry).
    Test,
}

impl Limits {
    fn connect(self) -> Duration {
        Duration::from_secs(5)
    }

    fn request(self) -> Duration {
        match self {
            Limits::Upload => Duration::from_secs(60),
            Limits::Test => Duration::from_secs(20),
        }
    }

    fn retries(self) -> usize {
        match self {
            Limits::Upload => 3,
            Limits::Test => 0,
        }
    }
}

/// The HTTP clients of the `object_store` path, one per [`Limits`], built on first use and
/// then shared by every writer of the process, so that TLS roots and connection pools are set
/// up once per cold start, not once per bucket opened.
#[derive(Debug, Clone)]
pub struct StoreHttp {
    policy: SsrfPolicy,
    clients: Arc<OnceLock<(reqwest::Client, reqwest::Client)>>,
}

impl StoreHttp {
    /// Clients under `policy` (built when first needed).
    pub fn new(policy: SsrfPolicy) -> Self {
        StoreHttp {
            policy,
            clients: Arc::new(OnceLock::new()),
        }
    }

    fn connector(&self, limits: Limits) -> Result<GuardedConnector, WriteFailure> {
        let build = |l: Limits| {
            super::http_client::guarded_builder(self.policy)
                .timeout(l.request())
                .connect_timeout(l.connect())
                .build()
                .map_err(|e| WriteFailure {
                    kind: FailureKind::Other,
                    code: None,
                    message: format!("could not build an HTTP client: {e}"),
                })
        };
        let clients = match self.clients.get() {
            Some(c) => c,
            None => {
                let built = (build(Limits::Upload)?, build(Limits::Test)?);
                // A concurrent first use may have won: either pair is as good.
                self.clients.get_or_init(|| built)
            }
        };
        let http = match limits {
            Limits::Upload => clients.0.clone(),
            Limits::Test => clients.1.clone(),
        };
        Ok(GuardedConnector {
            client: GuardedService {
                http,
                policy: self.policy,
            },
        })
    }
}

impl BucketWriter {
    /// A writer on `target` through an AWS SDK S3 client already acting as the right principal.
    pub fn aws(target: BucketTarget, s3: aws_sdk_s3::Client) -> Self {
        BucketWriter {
            target,
            backend: Backend::Aws(s3),
            scrub: Arc::new(Vec::new()),
        }
    }

    /// A writer on `target` through `object_store`, signing with `signing`, every request
    /// through `http`'s guarded client for `limits`.
    pub fn objects(
        target: BucketTarget,
        signing: Signing<'_>,
        http: &StoreHttp,
        limits: Limits,
    ) -> Result<Self, WriteFailure> {
        let connector = http.connector(limits)?;
        let retry = RetryConfig {
            max_retries: limits.retries(),
            retry_timeout: limits.request() * (limits.retries() as u32 + 1),
            ..RetryConfig::default()
        };
        // The guard decides about plain http; the stores' own check would only repeat it.
        let options = ClientOptions::new().with_allow_http(true);
        let bad_config = |e: object_store::Error| WriteFailure {
            kind: FailureKind::Credentials,
            code: None,
            message: format!(
                "the stored credentials cannot be used with {}: {}",
                target.store.label(),
                first_line(&e.to_string())
            ),
        };
        let store: Arc<dyn Objects> = match (target.store, &signing) {
            (StoreType::S3, _) => {
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(&target.bucket)
                    .with_region(&target.region)
                    .with_virtual_hosted_style_request(!target.force_path_style)
                    .with_http_connector(connector)
                    .with_retry(retry)
                    .with_client_options(options);
                if let Some(url) = &target.endpoint_url {
                    b = b.with_endpoint(url);
                }
                match &signing {
                    Signing::Stored(Secret::S3AccessKey {
                        access_key_id,
                        secret_access_key,
                    }) => {
                        b = b
                            .with_access_key_id(access_key_id)
                            .with_secret_access_key(secret_access_key);
                    }
                    Signing::Aws {
                        access_key_id,
                        secret_access_key,
                        session_token,
                    } => {
                        b = b
                            .with_access_key_id(access_key_id)
                            .with_secret_access_key(secret_access_key);
                        if let Some(t) = session_token {
                            b = b.with_token(t);
                        }
                    }
                    Signing::Stored(other) => return Err(kind_mismatch(&target, other)),
                }
                Arc::new(b.build().map_err(bad_config)?)
            }
            (
                StoreType::Gcs,
                Signing::Stored(Secret::GcsServiceAccount {
                    service_account_json,
                }),
            ) => {
                let key = serde_json::Value::Object(service_account_json.clone()).to_string();
                let base = target
                    .endpoint_url
                    .clone()
                    .unwrap_or_else(|| "https://storage.googleapis.com".to_string());
                Arc::new(
                    object_store::gcp::GoogleCloudStorageBuilder::new()
                        .with_bucket_name(&target.bucket)
                        .with_service_account_key(key)
                        .with_base_url(&base)
                        .with_http_connector(connector)
                        .with_retry(retry)
                        .with_client_options(options)
                        .build()
                        .map_err(bad_config)?,
                )
            }
            (
                StoreType::AzureBlob,
                Signing::Stored(secret @ (Secret::AzureSharedKey { .. } | Secret::AzureSas { .. })),
            ) => {
                let account = target
                    .account_name
                    .clone()
                    .or_else(|| secret.account_name().map(str::to_string))
                    .unwrap_or_default();
                let mut b = object_store::azure::MicrosoftAzureBuilder::new()
                    .with_account(&account)
                    .with_container_name(&target.bucket)
                    .with_http_connector(connector)
                    .with_retry(retry)
                    .with_client_options(options);
                if let Some(url) = &target.endpoint_url {
                    b = b.with_endpoint(url.clone());
                }
                b = match secret {
                    Secret::AzureSharedKey { account_key, .. } => b.with_access_key(account_key),
                    Secret::AzureSas { sas_token, .. } => {
                        b.with_sas_authorization(sas_pairs(sas_token))
                    }
                    _ => b,
                };
                Arc::new(b.build().map_err(bad_config)?)
            }
            (_, Signing::Stored(other)) => return Err(kind_mismatch(&target, other)),
            (_, Signing::Aws { .. }) => {
                return Err(WriteFailure {
                    kind: FailureKind::Credentials,
                    code: None,
                    message: format!(
                        "{} takes stored credentials, not an IAM role",
                        target.store.label()
                    ),
                })
            }
        };
        let scrub = match &signing {
            Signing::Stored(secret) => secret
                .secret_values()
                .into_iter()
                .map(str::to_string)
                .collect(),
            Signing::Aws { .. } => Vec::new(),
        };
        Ok(BucketWriter {
            target,
            backend: Backend::Objects(store),
            scrub: Arc::new(scrub),
        })
    }

    /// Where this writer writes.
    pub fn target(&self) -> &BucketTarget {
        &self.target
    }

    /// Writes `body` as `key` in one request.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), WriteFailure> {
        self.put_with_metadata(key, body, content_type, &[]).await
    }

    /// Writes `key` with user metadata entries (`x-amz-meta-{name}` on S3, the same on
    /// S3-compatible stores, `x-goog-meta-` on GCS, `x-ms-meta-` on Azure).
    pub async fn put_with_metadata(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        metadata: &[(&'static str, String)],
    ) -> Result<(), WriteFailure> {
        match &self.backend {
            Backend::Aws(s3) => s3
                .put_object()
                .bucket(&self.target.bucket)
                .key(key)
                .content_type(content_type)
                .set_metadata(if metadata.is_empty() {
                    None
                } else {
                    Some(
                        metadata
                            .iter()
                            .map(|(k, v)| ((*k).to_string(), v.clone()))
                            .collect(),
                    )
                })
                .body(ByteStream::from(body))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.explain_sdk(&e, "write")),
            Backend::Objects(store) => {
                let mut attributes = Attributes::new();
                attributes.insert(Attribute::ContentType, content_type.into());
                for (k, v) in metadata {
                    attributes.insert(Attribute::Metadata((*k).into()), v.clone().into());
                }
                let opts = PutOptions {
                    attributes,
                    ..PutOptions::default()
                };
                store
                    .put_opts(&Path::from(key), Bytes::from(body).into(), opts)
                    .await
                    .map(|_| ())
                    .map_err(|e| self.explain_object(&e, "write"))
            }
        }
    }

    /// Deletes `key` (the connection test's file).
    pub async fn delete(&self, key: &str) -> Result<(), WriteFailure> {
        match &self.backend {
            Backend::Aws(s3) => s3
                .delete_object()
                .bucket(&self.target.bucket)
                .key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.explain_sdk(&e, "delete")),
            Backend::Objects(store) => store
                .delete(&Path::from(key))
                .await
                .map_err(|e| self.explain_object(&e, "delete")),
        }
    }

    /// Starts a multipart upload of `key`; returns its id.
    pub async fn create_multipart(
        &self,
        key: &str,
        content_type: &'static str,
    ) -> Result<String, WriteFailure> {
        match &self.backend {
            Backend::Aws(s3) => {
                let out = s3
                    .create_multipart_upload()
                    .bucket(&self.target.bucket)
                    .key(key)
                    .content_type(content_type)
                    .send()
                    .await
                    .map_err(|e| self.explain_sdk(&e, "write"))?;
                out.upload_id.ok_or_else(|| WriteFailure {
                    kind: FailureKind::Other,
                    code: None,
                    message: "CreateMultipartUpload returned no upload id".into(),
                })
            }
            Backend::Objects(store) => store
                .create_multipart(&Path::from(key))
                .await
                .map_err(|e| self.explain_object(&e, "write")),
        }
    }

    /// Sends part `number` (1-based) of an upload; returns what completing it needs.
    pub async fn put_part(
        &self,
        key: &str,
        upload_id: &str,
        number: usize,
        body: Vec<u8>,
    ) -> Result<String, WriteFailure> {
        match &self.backend {
            Backend::Aws(s3) => {
                let out = s3
                    .upload_part()
                    .bucket(&self.target.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number as i32)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map_err(|e| self.explain_sdk(&e, "write"))?;
                Ok(out.e_tag.unwrap_or_default())
            }
            Backend::Objects(store) => store
                .put_part(
                    &Path::from(key),
                    &upload_id.to_string(),
                    number.saturating_sub(1),
                    Bytes::from(body).into(),
                )
                .await
                .map(|p| p.content_id)
                .map_err(|e| self.explain_object(&e, "write")),
        }
    }

    /// Completes an upload from its parts, in order.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<String>,
    ) -> Result<(), WriteFailure> {
        match &self.backend {
            Backend::Aws(s3) => {
                let parts = parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, tag)| {
                        CompletedPart::builder()
                            .part_number(i as i32 + 1)
                            .e_tag(tag)
                            .build()
                    })
                    .collect();
                s3.complete_multipart_upload()
                    .bucket(&self.target.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.explain_sdk(&e, "write"))
            }
            Backend::Objects(store) => store
                .complete_multipart(
                    &Path::from(key),
                    &upload_id.to_string(),
                    parts
                        .into_iter()
                        .map(|content_id| PartId { content_id })
                        .collect(),
                )
                .await
                .map(|_| ())
                .map_err(|e| self.explain_object(&e, "write")),
        }
    }

    /// Abandons an upload (best effort: a left-behind upload only costs storage until the
    /// store's lifecycle removes it, and is never visible as an object).
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) {
        let res = match &self.backend {
            Backend::Aws(s3) => s3
                .abort_multipart_upload()
                .bucket(&self.target.bucket)
                .key(key)
                .upload_id(upload_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.explain_sdk(&e, "abort")),
            Backend::Objects(store) => store
                .abort_multipart(&Path::from(key), &upload_id.to_string())
                .await
                .map_err(|e| self.explain_object(&e, "abort")),
        };
        if let Err(e) = res {
            tracing::warn!(key, error = %e, "could not abort a multipart upload");
        }
    }

    fn scrubbed(&self, text: &str) -> String {
        let mut out = strip_queries(text);
        for secret in self.scrub.iter().filter(|s| s.len() >= 4) {
            out = out.replace(secret.as_str(), "****");
        }
        out
    }

    fn explain_sdk<E>(&self, e: &aws_sdk_s3::error::SdkError<E>, op: &str) -> WriteFailure
    where
        E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    {
        let (code, detail) = s3_error(e);
        let kind = match code.as_deref() {
            Some(c) => kind_of_code(c),
            None if matches!(e, aws_sdk_s3::error::SdkError::DispatchFailure(_))
                || matches!(e, aws_sdk_s3::error::SdkError::TimeoutError(_)) =>
            {
                FailureKind::Unreachable
            }
            None => FailureKind::Other,
        };
        let detail = self.scrubbed(&detail);
        WriteFailure {
            message: explain(&self.target, kind, code.as_deref(), &detail, op),
            kind,
            code,
        }
    }

    fn explain_object(&self, e: &object_store::Error, op: &str) -> WriteFailure {
        let text = self.scrubbed(&error_chain(e));
        let code = error_code(&text);
        let status = status_of(&text);
        let kind = match (e, status, code.as_deref()) {
            // Azure's words for a bad signature, whatever code comes with them (Azurite says
            // AuthorizationFailure where Azure says AuthenticationFailed).
            _ if text.contains("failed to authenticate the request") => FailureKind::Credentials,
            (_, _, Some(c)) if kind_of_code(c) != FailureKind::Other => kind_of_code(c),
            (object_store::Error::Unauthenticated { .. }, _, _) | (_, Some(401), _) => {
                FailureKind::Credentials
            }
            (object_store::Error::PermissionDenied { .. }, _, _) | (_, Some(403), _) => {
                FailureKind::AccessDenied
            }
            (object_store::Error::NotFound { .. }, _, _) | (_, Some(404), _) => {
                FailureKind::MissingBucket
            }
            (_, Some(301), _) => FailureKind::Region,
            _ if is_tls(&text) => FailureKind::Tls,
            _ if is_unreachable(e, &text) => FailureKind::Unreachable,
            _ => FailureKind::Other,
        };
        WriteFailure {
            message: explain(&self.target, kind, code.as_deref(), &text, op),
            kind,
            code,
        }
    }
}

/// An S3 error's code (a 301 without a body counts as `PermanentRedirect`) and its full text.
fn s3_error<E>(e: &aws_sdk_s3::error::SdkError<E>) -> (Option<String>, String)
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    let code = e
        .as_service_error()
        .and_then(|se| se.code().map(str::to_string));
    let code = code.or_else(|| {
        // A 301 to another region carries no parsable body on some operations.
        e.raw_response()
            .filter(|r| r.status().as_u16() == 301)
            .map(|_| "PermanentRedirect".to_string())
    });
    (
        code,
        format!("{}", aws_sdk_s3::error::DisplayErrorContext(e)),
    )
}

fn kind_mismatch(target: &BucketTarget, secret: &Secret) -> WriteFailure {
    WriteFailure {
        kind: FailureKind::Credentials,
        code: None,
        message: format!(
            "the stored credential is a {} credential, which cannot sign for {}",
            secret.kind().as_str(),
            target.store.label()
        ),
    }
}

/// `sv=…&sig=…` as decoded pairs.
fn sas_pairs(token: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(token.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The error and its causes on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        source = s.source();
    }
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Drops the query string of every URL in `text` (SAS tokens and presigned signatures live
/// there).
fn strip_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_query = false;
    for c in text.chars() {
        if in_query {
            if c.is_whitespace() || c == '"' || c == '\'' || c == ')' {
                in_query = false;
                out.push(c);
            }
            continue;
        }
        if c == '?' && out.contains("://") {
            in_query = true;
            out.push_str("?…");
            continue;
        }
        out.push(c);
    }
    out
}

/// The store's error code in a response body (S3 and GCS `<Code>`, Azure `<Code>` or the
/// `x-ms-error-code` text).
fn error_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_string())
}

/// The HTTP status in an error text ("… status code: 403 Forbidden …"); the retry layer's
/// error type that carries it is private to `object_store`.
fn status_of(text: &str) -> Option<u16> {
    let at = text.find("status code: ")? + "status code: ".len();
    text[at..].get(..3)?.parse().ok()
}

fn is_tls(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "invalidcontenttype",
        "corrupt message",
        "ssl",
    ]
    .iter()
    .any(|w| t.contains(w))
}

fn is_unreachable(e: &object_store::Error, text: &str) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<HttpError>() {
            return matches!(
                h.kind(),
                HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Unknown
            );
        }
        source = s.source();
    }
    let t = text.to_ascii_lowercase();
    t.contains("connect") || t.contains("dns") || t.contains("timed out")
}

fn kind_of_code(code: &str) -> FailureKind {
    match code {
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "InvalidToken"
        | "AuthenticationFailed"
        | "InvalidAuthenticationInfo"
        | "AuthenticationRequired" => FailureKind::Credentials,
        "NoSuchBucket" | "ContainerNotFound" | "InvalidBucketName" | "NoSuchContainer" => {
            FailureKind::MissingBucket
        }
        "AccessDenied"
        | "AllAccessDisabled"
        | "AuthorizationFailure"
        | "AuthorizationPermissionMismatch"
        | "AuthorizationResourceTypeMismatch"
        | "InsufficientAccountPermissions" => FailureKind::AccessDenied,
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException" => FailureKind::Region,
        c if c.starts_with("KMS") => FailureKind::AccessDenied,
        _ => FailureKind::Other,
    }
}

/// Advice for a failure of `op` (`write`, `delete`) on `t`.
fn explain(
    t: &BucketTarget,
    kind: FailureKind,
    code: Option<&str>,
    detail: &str,
    op: &str,
) -> String {
    let b = &t.bucket;
    let p = &t.prefix;
    let label = t.store.label();
    let endpoint = t
        .endpoint_url
        .clone()
        .unwrap_or_else(|| format!("{label}'s endpoint"));
    match kind {
        FailureKind::Credentials => match t.store {
            StoreType::S3 if t.credentials_path().is_none() => {
                "the assumed role's credentials were refused by S3; try again, and check that the role is not restricted by an SCP".to_string()
            }
            _ => format!(
                "{label} refused the credentials ({}): check the stored credential {:?} (a wrong or revoked key, or an expired SAS)",
                code.unwrap_or("not authenticated"),
                t.credentials_path().unwrap_or("")
            ),
        },
        FailureKind::MissingBucket => match t.store {
            StoreType::AzureBlob => format!("container {b} does not exist in the storage account (check the name and accountName)"),
            _ => format!("bucket {b} does not exist (check the name and the account)"),
        },
        FailureKind::AccessDenied if code.is_some_and(|c| c.starts_with("KMS")) => format!(
            "the bucket's default KMS key refused the write: allow the role kms:GenerateDataKey on it ({detail})"
        ),
        FailureKind::AccessDenied => match (t.store, op) {
            (StoreType::S3, _) if t.credentials_path().is_some() => format!(
                "access denied writing to {b}/{p}/: the access key's policy must allow s3:PutObject on {b}/{p}/* (and the bucket policy must not deny it)"
            ),
            (StoreType::S3, _) if t.role_arn().is_none() => format!(
                "access denied writing to s3://{b}/{p}/: the bucket policy must allow the AuditRelay principal s3:PutObject on arn:aws:s3:::{b}/{p}/* (GET /orgs/{{orgId}}/audit-export/setup shows it), and the bucket's default encryption must be SSE-S3"
            ),
            (StoreType::S3, "delete") => format!(
                "access denied deleting the test object from s3://{b}/{p}/.verify/: the role's policy must allow s3:DeleteObject on arn:aws:s3:::{b}/{p}/.verify/*"
            ),
            (StoreType::S3, _) => format!(
                "access denied writing to s3://{b}/{p}/: the role's policy must allow s3:PutObject on arn:aws:s3:::{b}/{p}/*, and the bucket policy and KMS key (if any) must not deny it"
            ),
            (StoreType::Gcs, _) => format!(
                "access denied writing to gs://{b}/{p}/: grant the service account roles/storage.objectUser on the bucket (create and overwrite: a batch rewritten after a failure replaces its object)"
            ),
            (StoreType::AzureBlob, _) => format!(
                "access denied writing to container {b}: the key or SAS must allow create and write (SAS permissions c and w{}) on the container",
                if op == "delete" { ", and d for the connection test" } else { "" }
            ),
        },
        FailureKind::Region => format!(
            "bucket {b} is not in region {}: set region to the bucket's region",
            t.region
        ),
        FailureKind::Unreachable => format!(
            "{endpoint} could not be reached: check the URL, DNS and that it accepts connections from AWS ({})",
            first_line(detail)
        ),
        FailureKind::Tls => format!(
            "the TLS handshake with {endpoint} failed: it needs a certificate from a public CA for its host name, and the URL must be https only if the endpoint speaks TLS ({})",
            first_line(detail)
        ),
        FailureKind::Other => format!("{label} {op} failed: {}", first_line(detail)),
    }
}

/// Hands `object_store` HTTP clients that enforce the SSRF guard.
#[derive(Debug, Clone)]
struct GuardedConnector {
    client: GuardedService,
}

impl HttpConnector for GuardedConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(self.client.clone()))
    }
}

#[derive(Debug, Clone)]
struct GuardedService {
    http: reqwest::Client,
    policy: SsrfPolicy,
}

/// The guard refused a URL.
#[derive(Debug, thiserror::Error)]
#[error("blocked by the destination policy: {0}")]
struct Blocked(String);

#[async_trait::async_trait]
impl HttpService for GuardedService {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = req.into_parts();
        // Literal addresses never reach the resolver: check every URL here.
        let url = self
            .policy
            .check_url(&parts.uri.to_string())
            .map_err(|e| HttpError::new(HttpErrorKind::Unknown, Blocked(e.to_string())))?;
        let mut request = reqwest::Request::new(parts.method, url);
        *request.headers_mut() = parts.headers;
        *request.body_mut() = Some(match body.as_bytes() {
            Some(b) => reqwest::Body::from(b.clone()),
            None => reqwest::Body::wrap(body),
        });
        let response = self.http.execute(request).await.map_err(http_error)?;
        let response: http::Response<reqwest::Body> = response.into();
        let (parts, body) = response.into_parts();
        use http_body_util::BodyExt;
        let body = HttpResponseBody::new(body.map_err(http_error));
        Ok(HttpResponse::from_parts(parts, body))
    }
}

fn http_error(e: reqwest::Error) -> HttpError {
    let kind = if e.is_timeout() {
        HttpErrorKind::Timeout
    } else if e.is_connect() {
        HttpErrorKind::Connect
    } else if e.is_body() || e.is_decode() {
        HttpErrorKind::Interrupted
    } else {
        HttpErrorKind::Request
    };
    HttpError::new(kind, e.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_codes() {
        assert_eq!(
            strip_queries("Error performing PUT http://h/c/b?sv=1&sig=SECRET in 2s"),
            "Error performing PUT http://h/c/b?… in 2s"
        );
        assert_eq!(
            error_code("403: <Error><Code>InvalidAccessKeyId</Code></Error>").as_deref(),
            Some("InvalidAccessKeyId")
        );
        assert_eq!(
            kind_of_code("AuthenticationFailed"),
            FailureKind::Credentials
        );
        assert_eq!(
            kind_of_code("ContainerNotFound"),
            FailureKind::MissingBucket
        );
        assert_eq!(
            sas_pairs("?sv=2022-11-02&sig=a%2Bb"),
            vec![
                ("sv".to_string(), "2022-11-02".to_string()),
                ("sig".to_string(), "a+b".to_string())
            ]
        );
    }

    #[test]
    fn permanence() {
        let f = |kind| WriteFailure {
            kind,
            code: None,
            message: String::new(),
        };
        assert!(f(FailureKind::AccessDenied).is_permanent());
        assert!(f(FailureKind::Credentials).is_permanent());
        assert!(!f(FailureKind::Unreachable).is_permanent());
        assert!(!f(FailureKind::Other).is_permanent());
    }
}
