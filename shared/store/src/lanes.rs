//! Lane marks of the delivery lanes: a destination (a webhook endpoint or an org's OTLP export)
//! whose attempts hang or fail is marked **slow** until a time, and its messages then take the
//! slow lane; one whose attempts answer in time is marked **fast**, and its messages take the
//! fast lane however many there are. A destination with neither mark has a small allowance in
//! the fast lane. One small item per marked destination, `LANES#{org}` / `{destination id}`
//! holding `slow_until` or `fast_until` (a new mark replaces the other), written when a mark is
//! set or renewed (per state change, not per event) and read with one query per org.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{n, s, Store};
use crate::error::StoreError;
use relay_core::model::ids::OrgId;

/// How long an expired mark is kept before DynamoDB's TTL removes it.
const MARK_TTL_SLACK: i64 = 86_400;

/// Which lane a destination is marked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneMark {
    /// Its attempts hang or fail: the slow lane.
    Slow,
    /// Its attempts answer in time: the fast lane, without an allowance.
    Fast,
}

impl LaneMark {
    fn attribute(self) -> &'static str {
        match self {
            LaneMark::Slow => "slow_until",
            LaneMark::Fast => "fast_until",
        }
    }
}

fn lanes_pk(org_id: &OrgId) -> AttributeValue {
    s(format!("LANES#{org_id}"))
}

impl Store {
    /// Marks `destination` of `org_id` for `mark`'s lane until `until` (unix seconds),
    /// replacing any other mark.
    pub async fn mark_lane(
        &self,
        org_id: &OrgId,
        destination: &str,
        mark: LaneMark,
        until: i64,
    ) -> Result<(), StoreError> {
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .item("pk", lanes_pk(org_id))
            .item("sk", s(destination))
            .item(mark.attribute(), n(until))
            .item("expires_at", n(until + MARK_TTL_SLACK))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// The org's destinations marked after `now` (unix seconds), with the mark and its end.
    pub async fn lane_marks(
        &self,
        org_id: &OrgId,
        now: i64,
    ) -> Result<HashMap<String, (LaneMark, i64)>, StoreError> {
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
            let Some(AttributeValue::S(dest)) = item.get("sk") else {
                return Err(StoreError::Corrupt("lane mark without sk".into()));
            };
            let found = [LaneMark::Slow, LaneMark::Fast].into_iter().find_map(|m| {
                match item.get(m.attribute()) {
                    Some(AttributeValue::N(until)) => Some((m, until)),
                    _ => None,
                }
            });
            let Some((mark, until)) = found else {
                return Err(StoreError::Corrupt(format!(
                    "lane mark {dest} without an end"
                )));
            };
            let until: i64 = until
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("lane mark until {until}")))?;
            if until > now {
                out.insert(dest.clone(), (mark, until));
            }
        }
        Ok(out)
    }
}
