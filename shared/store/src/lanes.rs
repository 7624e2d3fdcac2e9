//! Slow marks of the delivery lanes: a destination (a webhook endpoint or an org's OTLP export)
//! whose attempts hang or fail is marked slow until a time, and its messages then take the
//! slow lane. One small item per marked destination, `LANES#{org}` / `{destination id}`,
//! written when the mark is set or renewed (per state change, not per event) and read with one
//! query per org.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{n, s, Store};
use crate::error::StoreError;
use relay_core::model::ids::OrgId;

/// How long an expired mark is kept before DynamoDB's TTL removes it.
const MARK_TTL_SLACK: i64 = 86_400;

fn lanes_pk(org_id: &OrgId) -> AttributeValue {
    s(format!("LANES#{org_id}"))
}

impl Store {
    /// Marks `destination` of `org_id` slow until `until` (unix seconds).
    pub async fn mark_slow(
        &self,
        org_id: &OrgId,
        destination: &str,
        until: i64,
    ) -> Result<(), StoreError> {
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .item("pk", lanes_pk(org_id))
            .item("sk", s(destination))
            .item("slow_until", n(until))
            .item("expires_at", n(until + MARK_TTL_SLACK))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// The org's destinations marked slow after `now` (unix seconds), with the mark's end.
    pub async fn slow_marks(
        &self,
        org_id: &OrgId,
        now: i64,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", lanes_pk(org_id))
            .into_paginator()
            .items()
            .send();
        let mut out = HashMap::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(StoreError::from_sdk)?;
            let (Some(AttributeValue::S(dest)), Some(AttributeValue::N(until))) =
                (item.get("sk"), item.get("slow_until"))
            else {
                return Err(StoreError::Corrupt(
                    "slow mark without sk or slow_until".into(),
                ));
            };
            let until: i64 = until
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("slow_until {until}")))?;
            if until > now {
                out.insert(dest.clone(), until);
            }
        }
        Ok(out)
    }
}
