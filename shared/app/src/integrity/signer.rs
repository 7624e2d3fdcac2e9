//! Signing with the deployment's asymmetric KMS key: the private half never leaves KMS; the
//! public half is read once per cold start and recorded in the key registry, so
//! `GET /v1/audit/integrity/keys` can list every key ever used (old digests stay verifiable
//! after a rotation) without a KMS call.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use base64::Engine;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use relay_core::auth::sha256_hex;
use relay_core::integrity::hex;
use relay_core::model::event::rfc3339_millis;
use relay_store::Store;

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The deployment has no signing key (`AUDITRELAY_SIGNING_KEY_ID` unset).
    #[error("no signing key is configured (AUDITRELAY_SIGNING_KEY_ID)")]
    NotConfigured,
    /// KMS refused or failed.
    #[error("KMS: {0}")]
    Kms(String),
    /// The key registry could not be written.
    #[error("storage: {0}")]
    Store(#[from] relay_store::error::StoreError),
}

/// The public half of the signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// DER SubjectPublicKeyInfo.
    pub der: Vec<u8>,
    /// Hex SHA-256 of `der`.
    pub fingerprint: String,
}

/// Signs digests and manifests; built once per cold start (clones share the public key).
#[derive(Debug, Clone)]
pub struct Signer {
    kms: aws_sdk_kms::Client,
    key_id: Option<String>,
    store: Store,
    public: std::sync::Arc<OnceCell<PublicKey>>,
}

fn kms_error<E: std::error::Error + 'static>(e: E) -> SignError {
    SignError::Kms(aws_sdk_kms::error::DisplayErrorContext(&e).to_string())
}

impl Signer {
    /// A signer with `key_id` (`None`: signing is off); keys are registered in `store`.
    pub fn new(kms: aws_sdk_kms::Client, key_id: Option<String>, store: Store) -> Self {
        Signer {
            kms,
            key_id,
            store,
            public: std::sync::Arc::default(),
        }
    }

    /// Whether a key is configured.
    pub fn enabled(&self) -> bool {
        self.key_id.is_some()
    }

    /// The public key, read from KMS and registered on first use.
    pub async fn public_key(&self) -> Result<&PublicKey, SignError> {
        let key_id = self.key_id.as_deref().ok_or(SignError::NotConfigured)?;
        self.public
            .get_or_try_init(|| async {
                let out = self
                    .kms
                    .get_public_key()
                    .key_id(key_id)
                    .send()
                    .await
                    .map_err(kms_error)?;
                let der = out
                    .public_key()
                    .map(|b| b.as_ref().to_vec())
                    .ok_or_else(|| SignError::Kms("GetPublicKey returned no key".into()))?;
                let fingerprint = sha256_hex(&der);
                let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
                self.store
                    .register_signing_key(
                        &fingerprint,
                        &b64,
                        &rfc3339_millis(OffsetDateTime::now_utc()),
                    )
                    .await?;
                Ok(PublicKey { der, fingerprint })
            })
            .await
    }

    /// Signs `message` (a raw message: KMS hashes it with SHA-256 and signs with ECDSA P-256);
    /// the DER signature, hex-encoded.
    pub async fn sign(&self, message: &str) -> Result<String, SignError> {
        let key_id = self.key_id.as_deref().ok_or(SignError::NotConfigured)?;
        let out = self
            .kms
            .sign()
            .key_id(key_id)
            .message(Blob::new(message.as_bytes()))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(kms_error)?;
        out.signature()
            .map(|b| hex(b.as_ref()))
            .ok_or_else(|| SignError::Kms("Sign returned no signature".into()))
    }
}

/// Creates (or finds, by `alias`) an ECC_NIST_P256 signing key: what `auditctl provision` and
/// `serve` do where the template's key does not exist. Returns its id.
pub async fn ensure_signing_key(
    kms: &aws_sdk_kms::Client,
    alias: &str,
) -> Result<String, SignError> {
    crate::credentials::ensure_alias_key(kms, alias, |create| {
        create
            .description("AuditRelay integrity digests and export manifests")
            .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
            .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
    })
    .await
    .map_err(SignError::Kms)
}
