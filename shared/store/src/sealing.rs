//! Envelope encryption of the secrets kept in the config table (webhook signing secrets, OTLP
//! header values).
//!
//! Each org has one data key: 32 random bytes from KMS `GenerateDataKey` under the stack's key,
//! stored only encrypted (item `ORG#{org_id}` / `DATAKEY`, attribute `ciphertext`) and bound to
//! the org by the encryption context `{"org_id": …, "purpose": "auditrelay-secrets"}`, so KMS
//! refuses to open it for any other org. Each secret is sealed locally with AES-256-GCM under
//! that key, with associated data naming the org, the resource (endpoint id, or `otel`) and the
//! field (`secret`, `prev_secret`, `header:{name}`): a ciphertext copied to another org,
//! endpoint or field does not open.
//!
//! Opened data keys are cached per process ([`CACHE_CAPACITY`] orgs, each for [`CACHE_TTL`]),
//! so in steady state neither sealing nor opening calls KMS: a cold start makes one KMS call
//! per org it meets (`Decrypt`, or `GenerateDataKey` for an org's first secret ever).
//!
//! A sealed value is a binary attribute: version byte `1`, the 12-byte nonce, then the
//! ciphertext and its 16-byte tag. A string attribute is a secret stored in clear before
//! sealing existed; it is read as it is and sealed by the next write of its item.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::types::DataKeySpec;
use lru::LruCache;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::time::Instant;

use super::{conditional, s, Store};
use crate::error::StoreError;
use relay_core::model::ids::OrgId;

/// How many orgs' opened data keys one process keeps.
pub const CACHE_CAPACITY: usize = 1024;
/// How long an opened data key is used before KMS is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(15 * 60);
/// Sort key of an org's data key item.
const DATAKEY_SK: &str = "DATAKEY";
/// The encryption context's `purpose` (template.yaml grants the functions KMS on this purpose
/// only).
pub const PURPOSE: &str = "auditrelay-secrets";
/// Format version of a sealed value.
const VERSION: u8 = 1;

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No key is configured.
    #[error("no key seals stored secrets (AUDITRELAY_CREDENTIALS_KEY_ID is not set)")]
    NoKey,
    /// KMS is throttling or unreachable; retry later.
    #[error("KMS unavailable: {0}")]
    Unavailable(String),
    /// KMS refused or failed.
    #[error("KMS: {0}")]
    Kms(String),
    /// A sealed value does not open under its org, resource and field: it was sealed for
    /// another one (or altered).
    #[error("the stored {field} does not open: it was not sealed for this org and resource")]
    Unopenable {
        /// The field (`secret`, `prev_secret`, `headers.{name}`).
        field: String,
    },
    /// A stored value has no shape of ours.
    #[error("sealed value: {0}")]
    Corrupt(String),
}

impl SealError {
    fn from_kms<E, R>(e: aws_sdk_kms::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_sdk_kms::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
        let unavailable =
            matches!(
                e.code(),
                Some("ThrottlingException" | "KMSInternalException" | "DependencyTimeoutException")
            ) || matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
        let text = aws_sdk_kms::error::DisplayErrorContext(&e).to_string();
        if unavailable {
            SealError::Unavailable(text)
        } else {
            SealError::Kms(text)
        }
    }
}

#[derive(Clone)]
struct Cached {
    key: Arc<LessSafeKey>,
    opened_at: Instant,
}

struct Inner {
    kms: aws_sdk_kms::Client,
    key_id: Option<String>,
    keys: Mutex<LruCache<OrgId, Cached>>,
    /// One lock per org whose data key is being fetched, so concurrent misses of one org make
    /// one KMS call while other orgs' fetches go on beside it.
    loading: Mutex<HashMap<OrgId, Arc<tokio::sync::Mutex<()>>>>,
    ttl: Duration,
    kms_calls: AtomicU64,
    rng: SystemRandom,
}

/// Seals and opens the config table's secrets (see the module). Built once per cold start and
/// shared by every [`Store`] of the process, so its cache of data keys is too.
#[derive(Clone)]
pub struct Sealer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.inner.key_id)
            .field("kms_calls", &self.kms_calls())
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer under `key_id` (none: every seal and open of a sealed value fails with
    /// [`SealError::NoKey`]).
    pub fn new(kms: aws_sdk_kms::Client, key_id: Option<String>) -> Self {
        Self::with_cache(kms, key_id, CACHE_CAPACITY, CACHE_TTL)
    }

    /// Like [`Sealer::new`], keeping at most `capacity` data keys for `ttl` each.
    pub fn with_cache(
        kms: aws_sdk_kms::Client,
        key_id: Option<String>,
        capacity: usize,
        ttl: Duration,
    ) -> Self {
        Sealer {
            inner: Arc::new(Inner {
                kms,
                key_id,
                keys: Mutex::new(LruCache::new(
                    NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
                )),
                loading: Mutex::new(HashMap::new()),
                ttl,
                kms_calls: AtomicU64::new(0),
                rng: SystemRandom::new(),
            }),
        }
    }

    /// How many KMS calls this sealer has made (for tests and measurements).
    pub fn kms_calls(&self) -> u64 {
        self.inner.kms_calls.load(Ordering::Relaxed)
    }

    fn context() -> [(&'static str, &'static str); 1] {
        [("purpose", PURPOSE)]
    }

    fn cached(&self, org_id: &OrgId) -> Option<Arc<LessSafeKey>> {
        // A poisoned lock only means another thread panicked mid-update of a plain map.
        let mut keys = self.inner.keys.lock().unwrap_or_else(|e| e.into_inner());
        match keys.get(org_id) {
            Some(c) if c.opened_at.elapsed() < self.inner.ttl => Some(c.key.clone()),
            Some(_) => {
                keys.pop(org_id);
                None
            }
            None => None,
        }
    }

    fn remember(&self, org_id: &OrgId, key: Arc<LessSafeKey>) {
        let mut keys = self.inner.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.put(
            org_id.clone(),
            Cached {
                key,
                opened_at: Instant::now(),
            },
        );
    }

    async fn decrypt_data_key(
        &self,
        org_id: &OrgId,
        ciphertext: &[u8],
    ) -> Result<Arc<LessSafeKey>, SealError> {
        let key_id = self.inner.key_id.as_deref().ok_or(SealError::NoKey)?;
        let mut req = self
            .inner
            .kms
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(ciphertext.to_vec()))
            .encryption_context("org_id", org_id.to_string());
        for (k, v) in Self::context() {
            req = req.encryption_context(k, v);
        }
        self.inner.kms_calls.fetch_add(1, Ordering::Relaxed);
        let out = req.send().await.map_err(|e| {
            use aws_sdk_kms::error::ProvideErrorMetadata;
            if e.code() == Some("InvalidCiphertextException") {
                SealError::Unopenable {
                    field: "data key".into(),
                }
            } else {
                SealError::from_kms(e)
            }
        })?;
        let plain = out
            .plaintext
            .ok_or_else(|| SealError::Kms("Decrypt returned no plaintext".into()))?;
        aead_key(plain.as_ref())
    }

    async fn generate_data_key(
        &self,
        org_id: &OrgId,
    ) -> Result<(Arc<LessSafeKey>, Vec<u8>), SealError> {
        let key_id = self.inner.key_id.as_deref().ok_or(SealError::NoKey)?;
        let mut req = self
            .inner
            .kms
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context("org_id", org_id.to_string());
        for (k, v) in Self::context() {
            req = req.encryption_context(k, v);
        }
        self.inner.kms_calls.fetch_add(1, Ordering::Relaxed);
        let out = req.send().await.map_err(SealError::from_kms)?;
        let plain = out
            .plaintext
            .ok_or_else(|| SealError::Kms("GenerateDataKey returned no plaintext".into()))?;
        let sealed = out
            .ciphertext_blob
            .ok_or_else(|| SealError::Kms("GenerateDataKey returned no ciphertext".into()))?;
        Ok((aead_key(plain.as_ref())?, sealed.into_inner()))
    }

    fn seal_with(
        &self,
        key: &LessSafeKey,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.inner
            .rng
            .fill(&mut nonce)
            .map_err(|_| SealError::Corrupt("no randomness for a nonce".into()))?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| SealError::Corrupt("AES-GCM refused to seal".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }
}

fn aead_key(raw: &[u8]) -> Result<Arc<LessSafeKey>, SealError> {
    UnboundKey::new(&AES_256_GCM, raw)
        .map(|k| Arc::new(LessSafeKey::new(k)))
        .map_err(|_| SealError::Kms("the data key is not 32 bytes".into()))
}

/// The associated data of one secret: what it belongs to.
fn aad(org_id: &OrgId, resource: &str, field: &str) -> Vec<u8> {
    format!("auditrelay/secret/v{VERSION}\n{org_id}\n{resource}\n{field}").into_bytes()
}

fn open_with(
    key: &LessSafeKey,
    aad: &[u8],
    sealed: &[u8],
    field: &str,
) -> Result<Vec<u8>, SealError> {
    let (version, rest) = sealed
        .split_first()
        .ok_or_else(|| SealError::Corrupt(format!("{field}: empty")))?;
    if *version != VERSION || rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(SealError::Corrupt(format!("{field}: unknown format")));
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| SealError::Corrupt(format!("{field}: nonce")))?;
    let mut buf = body.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| SealError::Unopenable {
            field: field.to_string(),
        })?;
    Ok(plain.to_vec())
}

impl Store {
    /// The store with `sealer` sealing and opening its secrets (see [`crate::sealing`]).
    pub fn with_sealer(mut self, sealer: Sealer) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// The sealer, if one was given.
    pub fn sealer(&self) -> Option<&Sealer> {
        self.sealer.as_ref()
    }

    fn need_sealer(&self) -> Result<&Sealer, StoreError> {
        self.sealer
            .as_ref()
            .ok_or(StoreError::Sealing(SealError::NoKey))
    }

    /// The org's data key, opened: from the cache, else from its item (one KMS `Decrypt`),
    /// else (`create`) a new one (one KMS `GenerateDataKey`), stored unless another process
    /// stored one first (then that one is used).
    async fn data_key(&self, org_id: &OrgId, create: bool) -> Result<Arc<LessSafeKey>, StoreError> {
        let sealer = self.need_sealer()?;
        if let Some(k) = sealer.cached(org_id) {
            return Ok(k);
        }
        let org_lock = sealer
            .inner
            .loading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(org_id.clone())
            .or_default()
            .clone();
        let loading = org_lock.lock().await;
        let res = self.fetch_data_key(sealer, org_id, create).await;
        drop(loading);
        sealer
            .inner
            .loading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(org_id);
        res
    }

    /// [`Store::data_key`] past the cache, under the org's loading lock.
    async fn fetch_data_key(
        &self,
        sealer: &Sealer,
        org_id: &OrgId,
        create: bool,
    ) -> Result<Arc<LessSafeKey>, StoreError> {
        // Whoever held the lock before may have fetched it.
        if let Some(k) = sealer.cached(org_id) {
            return Ok(k);
        }
        let pk = s(format!("ORG#{org_id}"));
        let stored = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", pk.clone())
            .key("sk", s(DATAKEY_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let key = match stored.item().and_then(|it| it.get("ciphertext")) {
            Some(AttributeValue::B(b)) => sealer.decrypt_data_key(org_id, b.as_ref()).await?,
            Some(_) => return Err(StoreError::Corrupt("data key ciphertext".into())),
            None if !create => {
                return Err(StoreError::Sealing(SealError::Corrupt(
                    "a sealed secret without its org's data key".into(),
                )))
            }
            None => {
                let (key, sealed) = sealer.generate_data_key(org_id).await?;
                let put = self
                    .ddb
                    .put_item()
                    .table_name(&self.config_table)
                    .item("pk", pk)
                    .item("sk", s(DATAKEY_SK))
                    .item("ciphertext", AttributeValue::B(Blob::new(sealed)))
                    .item("purpose", s(PURPOSE))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await;
                if conditional(put)?.is_none() {
                    // Another process stored the org's key first: everything is sealed under it.
                    return Box::pin(self.fetch_data_key(sealer, org_id, false)).await;
                }
                key
            }
        };
        sealer.remember(org_id, key.clone());
        Ok(key)
    }

    /// `plaintext` sealed for `org_id`'s `resource` and `field`, as a binary attribute.
    pub(crate) async fn seal_value(
        &self,
        org_id: &OrgId,
        resource: &str,
        field: &str,
        plaintext: &[u8],
    ) -> Result<AttributeValue, StoreError> {
        let key = self.data_key(org_id, true).await?;
        let sealed =
            self.need_sealer()?
                .seal_with(&key, &aad(org_id, resource, field), plaintext)?;
        Ok(AttributeValue::B(Blob::new(sealed)))
    }

    /// The plaintext of a stored value: a binary attribute is opened (it must have been
    /// sealed for the same org, resource and field); a string is a value stored in clear
    /// before sealing existed.
    pub(crate) async fn open_value(
        &self,
        org_id: &OrgId,
        resource: &str,
        field: &str,
        stored: &AttributeValue,
    ) -> Result<Vec<u8>, StoreError> {
        match stored {
            AttributeValue::S(v) => Ok(v.as_bytes().to_vec()),
            AttributeValue::B(b) => {
                let key = self.data_key(org_id, false).await?;
                Ok(open_with(
                    &key,
                    &aad(org_id, resource, field),
                    b.as_ref(),
                    field,
                )?)
            }
            _ => Err(StoreError::Corrupt(format!(
                "{field}: neither sealed nor a string"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[byte; 32]).expect("key"))
    }

    fn sealer() -> Sealer {
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .build();
        Sealer::new(aws_sdk_kms::Client::from_conf(conf), None)
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_binding() {
        let s = sealer();
        let (a, b): (OrgId, OrgId) = ("org_a".into(), "org_b".into());
        let k = key(7);
        let sealed = s
            .seal_with(&k, &aad(&a, "whe_1", "secret"), b"whsec_x")
            .expect("seal");
        assert_eq!(sealed[0], VERSION);
        assert!(!sealed.windows(7).any(|w| w == b"whsec_x"));
        let opened = open_with(&k, &aad(&a, "whe_1", "secret"), &sealed, "secret").expect("open");
        assert_eq!(opened, b"whsec_x");
        for wrong in [
            aad(&b, "whe_1", "secret"),
            aad(&a, "whe_2", "secret"),
            aad(&a, "whe_1", "prev_secret"),
        ] {
            assert!(matches!(
                open_with(&k, &wrong, &sealed, "secret"),
                Err(SealError::Unopenable { .. })
            ));
        }
        assert!(matches!(
            open_with(&key(8), &aad(&a, "whe_1", "secret"), &sealed, "secret"),
            Err(SealError::Unopenable { .. })
        ));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open_with(&k, &aad(&a, "whe_1", "secret"), &flipped, "secret").is_err());
        assert!(matches!(
            open_with(&k, &aad(&a, "whe_1", "secret"), &sealed[..10], "secret"),
            Err(SealError::Corrupt(_))
        ));
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let s = sealer();
        let k = key(1);
        let org: OrgId = "org_a".into();
        let x = s.seal_with(&k, &aad(&org, "r", "f"), b"v").expect("seal");
        let y = s.seal_with(&k, &aad(&org, "r", "f"), b"v").expect("seal");
        assert_ne!(x, y);
    }

    #[tokio::test(start_paused = true)]
    async fn cached_keys_expire_and_the_cache_is_bounded() {
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .build();
        let s = Sealer::with_cache(
            aws_sdk_kms::Client::from_conf(conf),
            None,
            2,
            Duration::from_secs(60),
        );
        let orgs: Vec<OrgId> = ["org_a", "org_b", "org_c"].map(OrgId::from).into();
        s.remember(&orgs[0], Arc::new(key(1)));
        s.remember(&orgs[1], Arc::new(key(2)));
        assert!(s.cached(&orgs[0]).is_some());
        s.remember(&orgs[2], Arc::new(key(3)));
        // org_b was the least recently used.
        assert!(s.cached(&orgs[1]).is_none());
        assert!(s.cached(&orgs[0]).is_some());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(s.cached(&orgs[0]).is_none());
        assert!(s.cached(&orgs[2]).is_none());
    }
}
