//! Stored upload credentials (`/orgs/{orgId}/audit-export/credentials`): created or rotated,
//! listed and shown masked, deleted unless a destination uses them. Secrets are sealed with the
//! stack's KMS key, bound to their org and name (the encryption context), so a ciphertext
//! copied to another org's item does not open; they are decrypted only to sign a request.

use aws_sdk_kms::primitives::Blob;
use serde_json::Value;
use time::OffsetDateTime;

use relay_core::error::Error;
use relay_core::model::credentials::{CredentialInput, CredentialView, Secret};
use relay_core::model::event::rfc3339_millis;
use relay_core::model::ids::OrgId;
use relay_store::credentials::{PutOutcome, StoredCredential};
use relay_store::Store;

/// Seals and opens secrets with the stack's KMS key. Built once per cold start.
#[derive(Debug, Clone)]
pub struct Sealer {
    kms: aws_sdk_kms::Client,
    key_id: Option<String>,
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No key is configured.
    #[error("no credentials key is configured (AUDITRELAY_CREDENTIALS_KEY_ID)")]
    NoKey,
    /// KMS refused or failed.
    #[error("KMS: {0}")]
    Kms(String),
    /// The plaintext is not a secret of ours.
    #[error("the sealed credential is unreadable: {0}")]
    Corrupt(String),
}

impl From<SealError> for Error {
    fn from(e: SealError) -> Self {
        match e {
            SealError::NoKey => Error::Unavailable(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl Sealer {
    /// A sealer with `key_id` (none: sealing fails with [`SealError::NoKey`]).
    pub fn new(kms: aws_sdk_kms::Client, key_id: Option<String>) -> Self {
        Sealer { kms, key_id }
    }

    fn context(org_id: &OrgId, name: &str) -> [(String, String); 2] {
        [
            ("org_id".to_string(), org_id.to_string()),
            ("credential".to_string(), name.to_string()),
        ]
    }

    /// Encrypts `secret` for `org_id`'s credential `name`.
    pub async fn seal(
        &self,
        org_id: &OrgId,
        name: &str,
        secret: &Secret,
    ) -> Result<Vec<u8>, SealError> {
        let key = self.key_id.as_deref().ok_or(SealError::NoKey)?;
        let plain = serde_json::to_vec(secret).map_err(|e| SealError::Corrupt(e.to_string()))?;
        let mut req = self.kms.encrypt().key_id(key).plaintext(Blob::new(plain));
        for (k, v) in Self::context(org_id, name) {
            req = req.encryption_context(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| SealError::Kms(aws_sdk_kms::error::DisplayErrorContext(&e).to_string()))?;
        out.ciphertext_blob
            .map(|b| b.into_inner())
            .ok_or_else(|| SealError::Kms("Encrypt returned no ciphertext".into()))
    }

    /// Decrypts a credential sealed by [`Sealer::seal`] for the same org and name.
    pub async fn open(
        &self,
        org_id: &OrgId,
        name: &str,
        ciphertext: &[u8],
    ) -> Result<Secret, SealError> {
        let mut req = self
            .kms
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext.to_vec()));
        if let Some(key) = &self.key_id {
            req = req.key_id(key);
        }
        for (k, v) in Self::context(org_id, name) {
            req = req.encryption_context(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| SealError::Kms(aws_sdk_kms::error::DisplayErrorContext(&e).to_string()))?;
        let plain = out
            .plaintext
            .ok_or_else(|| SealError::Kms("Decrypt returned no plaintext".into()))?;
        serde_json::from_slice(plain.as_ref()).map_err(|e| SealError::Corrupt(e.to_string()))
    }
}

/// Stores a credential (created, or rotated when the name exists with the same type).
/// Returns the view and whether it was created.
pub async fn put(
    store: &Store,
    sealer: &Sealer,
    org_id: &OrgId,
    body: Value,
    now: OffsetDateTime,
) -> Result<(CredentialView, bool), Error> {
    let input = CredentialInput::parse(body)?;
    let ciphertext = sealer.seal(org_id, &input.name, &input.secret).await?;
    let at = rfc3339_millis(now);
    let mut cred = StoredCredential {
        name: input.name.clone(),
        kind: input.secret.kind(),
        masked: input.secret.masked(),
        ciphertext,
        created_at: at.clone(),
        updated_at: at,
    };
    match store.put_credential(org_id, &cred).await? {
        PutOutcome::KindMismatch => Err(Error::Conflict {
            field: "type".into(),
            message: format!(
                "a credential named {:?} of another type exists: delete it first, or choose another name",
                input.name
            ),
        }),
        PutOutcome::Created => Ok((cred.view(), true)),
        // The stored item is what was just written, but for its first creation time.
        PutOutcome::Replaced { created_at } => {
            cred.created_at = created_at;
            Ok((cred.view(), false))
        }
    }
}

/// The answer of `GET .../audit-export/credentials`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CredentialList {
    /// The org's credentials, without their secret values.
    pub data: Vec<CredentialView>,
}

/// The org's credentials, masked.
pub async fn list(store: &Store, org_id: &OrgId) -> Result<Vec<CredentialView>, Error> {
    Ok(store
        .list_credentials(org_id)
        .await?
        .iter()
        .map(StoredCredential::view)
        .collect())
}

/// One credential, masked.
pub async fn get(store: &Store, org_id: &OrgId, name: &str) -> Result<CredentialView, Error> {
    store
        .get_credential(org_id, name)
        .await?
        .map(|c| c.view())
        .ok_or(Error::NotFound("credential"))
}

/// Deletes a credential; refused while the continuous export or a queued or running export
/// job writes with it.
pub async fn delete(store: &Store, org_id: &OrgId, name: &str) -> Result<(), Error> {
    if store.get_credential(org_id, name).await?.is_none() {
        return Err(Error::NotFound("credential"));
    }
    let in_use = |what: &str| {
        Error::Conflict {
        field: "name".into(),
        message: format!("the credential named {name:?} is used by {what}: point it at another credential (or delete it) first"),
    }
    };
    if store
        .get_s3_config(org_id)
        .await?
        .is_some_and(|c| c.dest.target.credentials_path() == Some(name))
    {
        return Err(in_use("the continuous export (audit-export/config)"));
    }
    if store.export_jobs_use_credential(org_id, name).await? {
        return Err(in_use("an export job that has not finished"));
    }
    if store.delete_credential(org_id, name).await? {
        Ok(())
    } else {
        Err(Error::NotFound("credential"))
    }
}

/// The secret of `name`, opened for signing. `Ok(None)`: no such credential.
pub async fn open(
    store: &Store,
    sealer: &Sealer,
    org_id: &OrgId,
    name: &str,
) -> Result<Option<Secret>, Error> {
    let Some(cred) = store.get_credential(org_id, name).await? else {
        return Ok(None);
    };
    Ok(Some(sealer.open(org_id, name, &cred.ciphertext).await?))
}

/// The key that seals credentials in a local or test deployment: the one behind `alias`,
/// created on first use (the stack creates its own key; see template.yaml).
pub async fn ensure_key(kms: &aws_sdk_kms::Client, alias: &str) -> Result<String, SealError> {
    ensure_alias_key(kms, alias, |create| {
        create.description("AuditRelay stored upload credentials")
    })
    .await
    .map_err(SealError::Kms)
}

/// The KMS key behind `alias`, created with `create`'s settings (and the alias) when there is
/// none: what a local or test deployment does in place of the stack's keys. Two processes
/// racing to create it end with the one key the alias names. Errors are KMS's, as text.
pub async fn ensure_alias_key(
    kms: &aws_sdk_kms::Client,
    alias: &str,
    create: impl FnOnce(
        aws_sdk_kms::operation::create_key::builders::CreateKeyFluentBuilder,
    ) -> aws_sdk_kms::operation::create_key::builders::CreateKeyFluentBuilder,
) -> Result<String, String> {
    let text = |e: &dyn std::error::Error| aws_sdk_kms::error::DisplayErrorContext(e).to_string();
    let described = |out: aws_sdk_kms::operation::describe_key::DescribeKeyOutput| {
        out.key_metadata().map(|m| m.key_id().to_string())
    };
    if let Ok(out) = kms.describe_key().key_id(alias).send().await {
        if let Some(id) = described(out) {
            return Ok(id);
        }
    }
    let created = create(kms.create_key())
        .send()
        .await
        .map_err(|e| text(&e))?;
    let key_id = created
        .key_metadata()
        .map(|m| m.key_id().to_string())
        .ok_or_else(|| "CreateKey returned no key".to_string())?;
    if kms
        .create_alias()
        .alias_name(alias)
        .target_key_id(&key_id)
        .send()
        .await
        .is_err()
    {
        // Another process created the alias meanwhile: use its key.
        let out = kms
            .describe_key()
            .key_id(alias)
            .send()
            .await
            .map_err(|e| text(&e))?;
        return described(out).ok_or_else(|| "DescribeKey returned no key".to_string());
    }
    Ok(key_id)
}
