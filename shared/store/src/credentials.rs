//! Stored upload credentials: pk `CRED#{org_id}`, sk `{name}`. The secret is kept only as
//! ciphertext (`ciphertext`, sealed by the app with the stack's KMS key); `masked` holds what
//! the API shows.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::{Map, Value};

use super::{conditional, get_s, opt_s, s, Item, Store};
use crate::error::StoreError;
use relay_core::model::credentials::{CredentialKind, CredentialView};
use relay_core::model::ids::OrgId;

fn pk(org_id: &OrgId) -> String {
    format!("CRED#{org_id}")
}

/// A stored credential.
#[derive(Clone, PartialEq)]
pub struct StoredCredential {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: CredentialKind,
    /// The masked fields the API shows.
    pub masked: Map<String, Value>,
    /// The sealed secret.
    pub ciphertext: Vec<u8>,
    /// Created.
    pub created_at: String,
    /// Last replaced.
    pub updated_at: String,
}

impl std::fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredCredential({}, {})", self.name, self.kind.as_str())
    }
}

impl StoredCredential {
    /// The API view.
    pub fn view(&self) -> CredentialView {
        CredentialView {
            name: self.name.clone(),
            kind: self.kind,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            fields: self.masked.clone(),
        }
    }
}

fn from_item(item: &Item) -> Result<StoredCredential, StoreError> {
    let kind = CredentialKind::parse(get_s(item, "kind")?)
        .ok_or_else(|| StoreError::Corrupt("credential kind".into()))?;
    let masked = serde_json::from_str(get_s(item, "masked")?)
        .map_err(|e| StoreError::Corrupt(format!("credential mask: {e}")))?;
    let ciphertext = match item.get("ciphertext") {
        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
        _ => return Err(StoreError::Corrupt("credential ciphertext".into())),
    };
    Ok(StoredCredential {
        name: get_s(item, "sk")?.to_string(),
        kind,
        masked,
        ciphertext,
        created_at: get_s(item, "created_at")?.to_string(),
        updated_at: get_s(item, "updated_at")?.to_string(),
    })
}

/// What storing a credential did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new name.
    Created,
    /// An existing credential of the same kind was replaced (rotation).
    Replaced {
        /// Its first creation time, which a rotation keeps.
        created_at: String,
    },
    /// The name holds a credential of another kind.
    KindMismatch,
}

impl Store {
    /// Stores `cred`: creates it, or replaces one of the same kind (key rotation keeps every
    /// destination that refers to the name working).
    pub async fn put_credential(
        &self,
        org_id: &OrgId,
        cred: &StoredCredential,
    ) -> Result<PutOutcome, StoreError> {
        let masked =
            serde_json::to_string(&cred.masked).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(pk(org_id)))
            .key("sk", s(&cred.name))
            .update_expression(
                "SET #kind = :k, masked = :m, ciphertext = :c, updated_at = :now, \
                 created_at = if_not_exists(created_at, :now)",
            )
            .condition_expression("attribute_not_exists(pk) OR #kind = :k")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":k", s(cred.kind.as_str()))
            .expression_attribute_values(":m", s(masked))
            .expression_attribute_values(
                ":c",
                AttributeValue::B(Blob::new(cred.ciphertext.clone())),
            )
            .expression_attribute_values(":now", s(&cred.updated_at))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        Ok(match conditional(res)? {
            None => PutOutcome::KindMismatch,
            Some(out) => match out.attributes().and_then(|a| opt_s(a, "created_at")) {
                Some(created_at) => PutOutcome::Replaced { created_at },
                None => PutOutcome::Created,
            },
        })
    }

    /// One credential of the org.
    pub async fn get_credential(
        &self,
        org_id: &OrgId,
        name: &str,
    ) -> Result<Option<StoredCredential>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", s(pk(org_id)))
            .key("sk", s(name))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item().map(from_item).transpose()
    }

    /// The org's credentials, by name.
    pub async fn list_credentials(
        &self,
        org_id: &OrgId,
    ) -> Result<Vec<StoredCredential>, StoreError> {
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk(org_id)))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(from_item(&item.map_err(StoreError::from_sdk)?)?);
        }
        Ok(out)
    }

    /// Deletes a credential. Returns whether it existed.
    pub async fn delete_credential(&self, org_id: &OrgId, name: &str) -> Result<bool, StoreError> {
        let res = self
            .ddb
            .delete_item()
            .table_name(&self.config_table)
            .key("pk", s(pk(org_id)))
            .key("sk", s(name))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        Ok(conditional(res)?.is_some())
    }
}
