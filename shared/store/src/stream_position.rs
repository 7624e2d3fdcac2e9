//! Where the local stream poller (`auditctl serve`) is in the events table's stream, so that a
//! restart resumes after the last batch it finished instead of re-reading the whole stream.
//!
//! One item per consumer and shard in the config table: pk `STREAM#POSITION`, sk
//! `{reader}|{shard_id}` (the reader is the stream's ARN for the fanout, and
//! `{stream_arn}#summary` for the summary counters), attributes `seq` (the sequence number of
//! the last record whose work is durable), `closed` (the shard is closed and read to its end)
//! and `expires_at`. A new stream (the table was
//! recreated) has another ARN, so an old stream's positions are never applied to it; they
//! expire with the stream's records (24 hours) plus a margin.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{n, opt_s, s, Store};
use crate::error::StoreError;

const PK: &str = "STREAM#POSITION";
/// A position outlives the stream records it points into (24 hours) by a day.
const POSITION_TTL_SECS: i64 = 2 * 86_400;

/// How far the poller got in one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardPosition {
    /// Sequence number of the last record whose work is durable (resume after it).
    pub seq: Option<String>,
    /// The shard is closed and was read to its end.
    pub closed: bool,
}

fn sk(stream_arn: &str, shard_id: &str) -> String {
    format!("{stream_arn}|{shard_id}")
}

impl Store {
    /// Every recorded position in `stream_arn`, by shard id.
    pub async fn stream_positions(
        &self,
        stream_arn: &str,
    ) -> Result<HashMap<String, ShardPosition>, StoreError> {
        let prefix = sk(stream_arn, "");
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(PK))
            .expression_attribute_values(":prefix", s(&prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut out = HashMap::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(StoreError::from_sdk)?;
            let Some(shard) = opt_s(&item, "sk").and_then(|k| {
                k.strip_prefix(&prefix)
                    .filter(|id| !id.is_empty())
                    .map(str::to_string)
            }) else {
                continue;
            };
            let closed = matches!(item.get("closed"), Some(AttributeValue::Bool(true)));
            out.insert(
                shard,
                ShardPosition {
                    seq: opt_s(&item, "seq"),
                    closed,
                },
            );
        }
        Ok(out)
    }

    /// Records `position` for `shard_id` of `stream_arn` (`now_secs`: epoch seconds, for the
    /// expiry).
    pub async fn put_stream_position(
        &self,
        stream_arn: &str,
        shard_id: &str,
        position: &ShardPosition,
        now_secs: i64,
    ) -> Result<(), StoreError> {
        let mut req = self
            .ddb
            .put_item()
            .table_name(&self.config_table)
            .item("pk", s(PK))
            .item("sk", s(sk(stream_arn, shard_id)))
            .item("closed", AttributeValue::Bool(position.closed))
            .item("expires_at", n(now_secs + POSITION_TTL_SECS));
        if let Some(seq) = &position.seq {
            req = req.item("seq", s(seq));
        }
        req.send().await.map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Forgets the positions of `stream_arn` (the next poller starts at its oldest record).
    pub async fn delete_stream_positions(&self, stream_arn: &str) -> Result<usize, StoreError> {
        let shards = self.stream_positions(stream_arn).await?;
        for shard in shards.keys() {
            self.ddb
                .delete_item()
                .table_name(&self.config_table)
                .key("pk", s(PK))
                .key("sk", s(sk(stream_arn, shard)))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
        }
        Ok(shards.len())
    }
}
