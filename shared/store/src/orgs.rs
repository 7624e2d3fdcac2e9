//! Orgs, API keys and server secrets in the config table.
//!
//! Items: `ORG#{org_id}`/`ORG` (the org), `TENANT#{tenant_id}`/`TENANT` (uniqueness of tenant
//! ids), `KEY#{sha256(token)}`/`KEY` (the key, looked up on every request with one GetItem),
//! `ORG#{org_id}`/`KEY#{key_id}` (the org's list of keys, for listing and revocation),
//! `SYSTEM`/`SECRET#{name}` (server secrets such as the cursor key, created on first use).

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::{get_n, get_s, n, opt_s, s, Item, Store};
use crate::error::StoreError;
use relay_core::model::ids::{KeyId, OrgId};
use relay_core::model::org::DEFAULT_RETENTION_DAYS;
use relay_core::model::{ApiKey, Org, Role, Scope};

/// Why an org could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateOrgError {
    /// Another org already uses the tenant id.
    #[error("tenant_id {0} is already used by another org")]
    TenantTaken(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn org_from_item(item: &Item) -> Result<Org, StoreError> {
    Ok(Org {
        org_id: get_s(item, "org_id")?.into(),
        name: get_s(item, "name")?.to_string(),
        tenant_id: get_s(item, "tenant_id")?.to_string(),
        retention_days: get_n(item, "retention_days")?,
        created_at: get_s(item, "created_at")?.to_string(),
    })
}

fn key_from_item(item: &Item) -> Result<ApiKey, StoreError> {
    let role = Role::parse(get_s(item, "role")?)
        .ok_or_else(|| StoreError::Corrupt("unknown role".into()))?;
    let scopes = match item.get("scopes") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .filter_map(|v| v.as_s().ok().and_then(|s| Scope::parse(s)))
            .collect(),
        _ => vec![],
    };
    Ok(ApiKey {
        key_id: get_s(item, "key_id")?.into(),
        org_id: get_s(item, "org_id")?.into(),
        role,
        scopes,
        name: opt_s(item, "name"),
        created_at: get_s(item, "created_at")?.to_string(),
    })
}

fn put(table: &str, item: Item, guard: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    if let Some(cond) = guard {
        p = p.condition_expression(cond);
    }
    Ok(TransactWriteItem::builder()
        .put(p.build().map_err(|e| StoreError::Sdk(e.to_string()))?)
        .build())
}

impl Store {
    /// Creates an org. `tenant_id` defaults to the new org id and must be unique.
    pub async fn create_org(
        &self,
        name: &str,
        tenant_id: Option<&str>,
        retention_days: Option<u32>,
        now: &str,
    ) -> Result<Org, CreateOrgError> {
        let org_id = relay_core::model::ids::OrgId::generate();
        let org = Org {
            tenant_id: tenant_id.unwrap_or(&org_id).to_string(),
            org_id,
            name: name.to_string(),
            retention_days: retention_days.unwrap_or(DEFAULT_RETENTION_DAYS),
            created_at: now.to_string(),
        };
        let org_item: Item = [
            ("pk", s(format!("ORG#{}", org.org_id))),
            ("sk", s("ORG")),
            ("org_id", s(&org.org_id)),
            ("name", s(&org.name)),
            ("tenant_id", s(&org.tenant_id)),
            ("retention_days", n(org.retention_days)),
            ("created_at", s(&org.created_at)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let tenant_item: Item = [
            ("pk", s(format!("TENANT#{}", org.tenant_id))),
            ("sk", s("TENANT")),
            ("org_id", s(&org.org_id)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let guard = Some("attribute_not_exists(pk)");
        let res = self
            .ddb
            .transact_write_items()
            .transact_items(put(&self.config_table, org_item, guard)?)
            .transact_items(put(&self.config_table, tenant_item, guard)?)
            .send()
            .await;
        match res {
            Ok(_) => Ok(org),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                Err(CreateOrgError::TenantTaken(org.tenant_id))
            }
            Err(e) => Err(StoreError::from_sdk(e).into()),
        }
    }

    /// The org, if it exists.
    pub async fn get_org(&self, org_id: &OrgId) -> Result<Option<Org>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", s(format!("ORG#{org_id}")))
            .key("sk", s("ORG"))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item().map(org_from_item).transpose()
    }

    /// Creates an API key and returns it with its token (the only time the token exists).
    pub async fn create_key(
        &self,
        org_id: &OrgId,
        role: Role,
        scopes: Vec<Scope>,
        name: Option<&str>,
        now: &str,
    ) -> Result<(ApiKey, String), StoreError> {
        let token = relay_core::auth::new_token()?;
        let hash = relay_core::auth::token_hash(&token);
        let key = ApiKey {
            key_id: relay_core::model::ids::KeyId::generate(),
            org_id: org_id.into(),
            role,
            scopes,
            name: name.map(str::to_string),
            created_at: now.to_string(),
        };
        let mut attrs: Item = [
            ("key_id", s(&key.key_id)),
            ("org_id", s(&key.org_id)),
            ("role", s(key.role.as_str())),
            (
                "scopes",
                AttributeValue::L(key.scopes.iter().map(|sc| s(sc.as_str())).collect()),
            ),
            ("created_at", s(&key.created_at)),
            ("token_hash", s(&hash)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(nm) = &key.name {
            attrs.insert("name".into(), s(nm));
        }
        let mut lookup = attrs.clone();
        lookup.insert("pk".into(), s(format!("KEY#{hash}")));
        lookup.insert("sk".into(), s("KEY"));
        let mut listing = attrs;
        listing.insert("pk".into(), s(format!("ORG#{org_id}")));
        listing.insert("sk".into(), s(format!("KEY#{}", key.key_id)));
        self.ddb
            .transact_write_items()
            .transact_items(put(
                &self.config_table,
                lookup,
                Some("attribute_not_exists(pk)"),
            )?)
            .transact_items(put(&self.config_table, listing, None)?)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok((key, token))
    }

    /// The key whose token hashes to `hash`, if it exists.
    pub async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", s(format!("KEY#{hash}")))
            .key("sk", s("KEY"))
            // Strongly consistent: a revoked token fails at once, on every instance.
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item().map(key_from_item).transpose()
    }

    /// The org's keys (without tokens, which are not stored).
    pub async fn list_keys(&self, org_id: &OrgId) -> Result<Vec<ApiKey>, StoreError> {
        let mut keys = Vec::new();
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :k)")
            .expression_attribute_values(":pk", s(format!("ORG#{org_id}")))
            .expression_attribute_values(":k", s("KEY#"))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            keys.push(key_from_item(&item.map_err(StoreError::from_sdk)?)?);
        }
        Ok(keys)
    }

    /// Revokes a key by id: its token stops working at once. Returns whether it existed.
    /// The listing and the token's lookup item go in one transaction, so no crash can leave a
    /// working token that is no longer listed (and so could no longer be revoked).
    pub async fn revoke_key(&self, org_id: &OrgId, key_id: &KeyId) -> Result<bool, StoreError> {
        let listing_key = |d: aws_sdk_dynamodb::types::builders::DeleteBuilder| {
            d.table_name(&self.config_table)
                .key("pk", s(format!("ORG#{org_id}")))
                .key("sk", s(format!("KEY#{key_id}")))
        };
        for _ in 0..3 {
            let out = self
                .ddb
                .get_item()
                .table_name(&self.config_table)
                .key("pk", s(format!("ORG#{org_id}")))
                .key("sk", s(format!("KEY#{key_id}")))
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            let Some(listing) = out.item() else {
                return Ok(false);
            };
            let hash = get_s(listing, "token_hash")?;
            let delete = |d: Delete| TransactWriteItem::builder().delete(d).build();
            let build = |b: aws_sdk_dynamodb::types::builders::DeleteBuilder| {
                b.build().map_err(|e| StoreError::Sdk(e.to_string()))
            };
            let res = self
                .ddb
                .transact_write_items()
                .transact_items(delete(build(
                    listing_key(Delete::builder())
                        .condition_expression("token_hash = :h")
                        .expression_attribute_values(":h", s(hash)),
                )?))
                .transact_items(delete(build(
                    Delete::builder()
                        .table_name(&self.config_table)
                        .key("pk", s(format!("KEY#{hash}")))
                        .key("sk", s("KEY")),
                )?))
                .send()
                .await;
            match res {
                Ok(_) => return Ok(true),
                // Revoked (or changed) meanwhile: read again.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_transaction_canceled_exception()) =>
                {
                    continue
                }
                Err(e) => return Err(StoreError::from_sdk(e)),
            }
        }
        Ok(false)
    }

    /// A named server secret, created (32 random bytes) by whichever caller comes first.
    pub async fn system_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        let key = |q: aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder| {
            q.table_name(&self.config_table)
                .key("pk", s("SYSTEM"))
                .key("sk", s(format!("SECRET#{name}")))
                .consistent_read(true)
        };
        for _ in 0..3 {
            let out = key(self.ddb.get_item())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            if let Some(item) = out.item() {
                return STANDARD
                    .decode(get_s(item, "value")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()));
            }
            let fresh = relay_core::model::ids::random_bytes(32)?;
            let res = self
                .ddb
                .put_item()
                .table_name(&self.config_table)
                .item("pk", s("SYSTEM"))
                .item("sk", s(format!("SECRET#{name}")))
                .item("value", s(STANDARD.encode(&fresh)))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match res {
                Ok(_) => return Ok(fresh),
                // Another cold start won the race: read its secret on the next pass.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(StoreError::from_sdk(e)),
            }
        }
        Err(StoreError::Sdk(format!(
            "could not read or create secret {name}"
        )))
    }
}
