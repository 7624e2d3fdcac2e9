//! Tamper evidence in the config table: the public keys digests were signed with, and each
//! org's digest chain.
//!
//! Items:
//! * `SIGNING_KEYS` / `{fingerprint}`: `public_key` (base64 DER SubjectPublicKeyInfo),
//!   `valid_from`, and `valid_to` once another key took over. Kept for ever, so a digest signed
//!   years ago still finds its key.
//! * `ORG#{org_id}` / `DIGEST_CHAIN`: the org's last digest (`key`, `sha256`, `signature`,
//!   `period_end`, `watermark`), so the next digest chains to it, and `chain_started_at`. A
//!   digest is recorded with a condition on the previous `period_end`, so two writers cannot
//!   both extend the chain from the same digest.
//! * `DIGEST_FILES#{org_id}` / `{period_end}#{position}`: one object the flush wrote, with
//!   what the period's digest lists for it (key, SHA-256, size, events, first and last event,
//!   oldest and newest acceptance time). Written after the object is stored and before the
//!   watermark passes its events, so a digest never misses one; a rewritten batch overwrites
//!   its record with the same values. Expire 30 days after their period (`expires_at`): by then
//!   the digest that lists them was long written.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{conditional, get_n, get_s, n, opt_s, s, Store};
use crate::error::StoreError;
use relay_core::integrity::DigestFile;
use relay_core::model::ids::OrgId;

const KEYS_PK: &str = "SIGNING_KEYS";
const CHAIN_SK: &str = "DIGEST_CHAIN";

/// A signing key's public half, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Hex SHA-256 of the DER public key.
    pub fingerprint: String,
    /// Base64 of the DER SubjectPublicKeyInfo.
    pub public_key: String,
    /// First use (RFC 3339).
    pub valid_from: String,
    /// When a newer key took over; `None` for the current one.
    pub valid_to: Option<String>,
}

/// An org's last digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Its object key.
    pub key: String,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its signature (hex).
    pub signature: String,
    /// The end of its period (RFC 3339).
    pub period_end: String,
    /// The watermark it covers up to.
    pub watermark: String,
}

impl Store {
    /// Records `fingerprint` as a signing key from `now` (nothing happens if it is known), and
    /// closes every other open key at `now`.
    pub async fn register_signing_key(
        &self,
        fingerprint: &str,
        public_key_b64: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        let res = self
            .ddb
            .put_item()
            .table_name(&self.config_table)
            .item("pk", s(KEYS_PK))
            .item("sk", s(fingerprint))
            .item("public_key", s(public_key_b64))
            .item("valid_from", s(now))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if conditional(res)?.is_none() {
            return Ok(());
        }
        for key in self.signing_keys().await? {
            if key.fingerprint == fingerprint || key.valid_to.is_some() {
                continue;
            }
            let res = self
                .ddb
                .update_item()
                .table_name(&self.config_table)
                .key("pk", s(KEYS_PK))
                .key("sk", s(&key.fingerprint))
                .update_expression("SET valid_to = :t")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(valid_to)")
                .expression_attribute_values(":t", s(now))
                .send()
                .await;
            conditional(res)?;
        }
        Ok(())
    }

    /// Every signing key ever used, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let mut out = Vec::new();
        let mut items = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(KEYS_PK))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = items.next().await {
            let item = item.map_err(StoreError::from_sdk)?;
            out.push(SigningKeyRecord {
                fingerprint: get_s(&item, "sk")?.to_string(),
                public_key: get_s(&item, "public_key")?.to_string(),
                valid_from: get_s(&item, "valid_from")?.to_string(),
                valid_to: opt_s(&item, "valid_to"),
            });
        }
        out.sort_by(|a, b| a.valid_from.cmp(&b.valid_from));
        Ok(out)
    }

    /// The org's last digest and when its chain started (`None`: no digest yet).
    pub async fn digest_chain(
        &self,
        org_id: &OrgId,
    ) -> Result<Option<(ChainHead, String)>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", s(format!("ORG#{org_id}")))
            .key("sk", s(CHAIN_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        Ok(Some((
            ChainHead {
                key: get_s(item, "key")?.to_string(),
                sha256: get_s(item, "sha256")?.to_string(),
                signature: get_s(item, "signature")?.to_string(),
                period_end: get_s(item, "period_end")?.to_string(),
                watermark: get_s(item, "watermark")?.to_string(),
            },
            get_s(item, "chain_started_at")?.to_string(),
        )))
    }

    /// Records `head` as the org's last digest if the chain's last period still ends at
    /// `previous_end` (`None`: the chain is empty); `Ok(false)` when another writer came first.
    pub async fn extend_digest_chain(
        &self,
        org_id: &OrgId,
        head: &ChainHead,
        previous_end: Option<&str>,
        chain_started_at: &str,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .ddb
            .put_item()
            .table_name(&self.config_table)
            .item("pk", s(format!("ORG#{org_id}")))
            .item("sk", s(CHAIN_SK))
            .item("org_id", s(org_id))
            .item("key", s(&head.key))
            .item("sha256", s(&head.sha256))
            .item("signature", s(&head.signature))
            .item("period_end", s(&head.period_end))
            .item("watermark", s(&head.watermark))
            .item("chain_started_at", s(chain_started_at));
        req = match previous_end {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(end) => req
                .condition_expression("period_end = :prev")
                .expression_attribute_values(":prev", AttributeValue::S(end.to_string())),
        };
        Ok(conditional(req.send().await)?.is_some())
    }

    /// Records `file`, an object holding events accepted in the period ending at `period_end`;
    /// `position` orders it within the period (the `rcv_sk` of its first event, and its index
    /// when a batch is split into several objects). `expires_at` is a Unix time.
    pub async fn put_digest_file(
        &self,
        org_id: &OrgId,
        period_end: &str,
        position: &str,
        file: &DigestFile,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .item("pk", s(format!("DIGEST_FILES#{org_id}")))
            .item("sk", s(format!("{period_end}#{position}")))
            .item("key", s(&file.key))
            .item("sha256", s(&file.sha256))
            .item("bytes", n(file.bytes))
            .item("events", n(file.events))
            .item("first_event_id", s(&file.first_event_id))
            .item("last_event_id", s(&file.last_event_id))
            .item("oldest_received_at", s(&file.oldest_received_at))
            .item("newest_received_at", s(&file.newest_received_at))
            .item("expires_at", n(expires_at))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// The objects recorded for the period ending at `period_end`, in acceptance order.
    pub async fn digest_files(
        &self,
        org_id: &OrgId,
        period_end: &str,
    ) -> Result<Vec<DigestFile>, StoreError> {
        let mut out = Vec::new();
        let mut items = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(format!("DIGEST_FILES#{org_id}")))
            .expression_attribute_values(":p", s(format!("{period_end}#")))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = items.next().await {
            let item = item.map_err(StoreError::from_sdk)?;
            out.push(DigestFile {
                key: get_s(&item, "key")?.to_string(),
                sha256: get_s(&item, "sha256")?.to_string(),
                bytes: get_n(&item, "bytes")?,
                events: get_n(&item, "events")?,
                first_event_id: get_s(&item, "first_event_id")?.to_string(),
                last_event_id: get_s(&item, "last_event_id")?.to_string(),
                oldest_received_at: get_s(&item, "oldest_received_at")?.to_string(),
                newest_received_at: get_s(&item, "newest_received_at")?.to_string(),
            });
        }
        Ok(out)
    }

    /// How many of the org's events were accepted at or after `from` and before `to`
    /// (sortable times): a count over the acceptance-order index, no event leaves DynamoDB.
    pub async fn count_received(
        &self,
        org_id: &OrgId,
        from: &str,
        to: &str,
    ) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.events_table)
                .index_name(super::schema::GSI_BY_RECEIVED)
                .key_condition_expression("pk = :pk AND #r BETWEEN :lo AND :hi")
                .expression_attribute_names("#r", "rcv_sk")
                .expression_attribute_values(":pk", s(org_id))
                .expression_attribute_values(":lo", s(from))
                // Every rcv_sk of the period sorts below `to`; "#" sorts below any digit.
                .expression_attribute_values(":hi", s(format!("{to}#")))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            total += u64::try_from(out.count()).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }
}
