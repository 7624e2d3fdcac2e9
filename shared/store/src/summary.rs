//! Summary counters and markers in the config table (the layout is described in
//! [`relay_core::summary::buckets`]).
//!
//! Counting is one `TransactWriteItems` per chunk of events: a conditional put of each event's
//! marker (`attribute_not_exists`) and an `ADD` on each counter the chunk touches. Either all of
//! it happens or none: an event whose marker exists was counted before (a redelivered stream
//! record), which the cancellation reasons say, and the chunk is rewritten without it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};

use super::{get_n, get_s, n, opt_s, s, Item, Store};
use crate::error::StoreError;
use relay_core::summary::buckets::Dim;
use relay_core::summary::counts::{Counts, EventFacts};

/// One counter's increment.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterDelta {
    /// Partition.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// What it counts.
    pub dim: Dim,
    /// The increment.
    pub counts: Counts,
}

/// Why a chunk was not written.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// These events (indexes into the chunk) were counted before; nothing was written.
    #[error("{} events of the chunk were counted before", .0.len())]
    AlreadyCounted(Vec<usize>),
    /// A conflicting transaction or throttling; nothing was written, try again.
    #[error("retryable: {0}")]
    Retry(String),
    /// Anything else.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Sdk(e.to_string())
}

fn marker_item(org_pk: String, f: &EventFacts, expires_at: i64) -> Item {
    let mut item = Item::with_capacity(8);
    item.insert("pk".into(), s(org_pk));
    item.insert("sk".into(), s(f.marker_sk()));
    item.insert("a".into(), s(&f.action));
    item.insert("i".into(), s(&f.identity));
    if let Some((t, id)) = &f.resource {
        item.insert("rt".into(), s(t));
        item.insert("ri".into(), s(id));
    }
    item.insert("f".into(), AttributeValue::Bool(f.failed));
    item.insert("expires_at".into(), n(expires_at));
    item
}

fn counter_update(
    table: &str,
    d: &CounterDelta,
    expires_at: i64,
) -> Result<TransactWriteItem, StoreError> {
    let mut adds = vec!["#c :c".to_string(), "#f :f".to_string()];
    let mut names: HashMap<String, String> = HashMap::from([
        ("#c".into(), "c".into()),
        ("#f".into(), "f".into()),
        ("#x".into(), "expires_at".into()),
    ]);
    let mut values: HashMap<String, AttributeValue> = HashMap::from([
        (":c".into(), n(d.counts.total)),
        (":f".into(), n(d.counts.failed)),
        (":x".into(), n(expires_at)),
    ]);
    for (i, (action, count)) in d.counts.actions.iter().enumerate() {
        adds.push(format!("#a{i} :a{i}"));
        names.insert(format!("#a{i}"), format!("a:{action}"));
        values.insert(format!(":a{i}"), n(count));
    }
    let mut sets = vec!["#x = :x".to_string()];
    match &d.dim {
        Dim::Total => {}
        Dim::Identity(id) => {
            sets.push("#id = :id".into());
            names.insert("#id".into(), "id".into());
            values.insert(":id".into(), s(id));
        }
        Dim::Resource(t, id) => {
            sets.push("#rt = :rt, #ri = :ri".into());
            names.insert("#rt".into(), "rt".into());
            names.insert("#ri".into(), "ri".into());
            values.insert(":rt".into(), s(t));
            values.insert(":ri".into(), s(id));
        }
    }
    let update = Update::builder()
        .table_name(table)
        .key("pk", s(&d.pk))
        .key("sk", s(&d.sk))
        .update_expression(format!("ADD {} SET {}", adds.join(", "), sets.join(", ")))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Reads a counter item back: its dimension and counts.
pub fn counter_from_item(item: &Item) -> Result<(Dim, Counts), StoreError> {
    let sk = get_s(item, "sk")?;
    let dim = match sk.split_once('#').map(|(_, d)| d.as_bytes().first()) {
        Some(Some(b't')) => Dim::Total,
        Some(Some(b'i')) => Dim::Identity(get_s(item, "id")?.to_string()),
        Some(Some(b'r')) => Dim::Resource(
            get_s(item, "rt")?.to_string(),
            get_s(item, "ri")?.to_string(),
        ),
        _ => return Err(StoreError::Corrupt(format!("summary counter {sk}"))),
    };
    let mut counts = Counts {
        total: get_n(item, "c")?,
        failed: get_n(item, "f").unwrap_or(0),
        ..Counts::default()
    };
    for (k, v) in item {
        if let (Some(action), AttributeValue::N(num)) = (k.strip_prefix("a:"), v) {
            let c: u64 = num
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("summary counter {sk}: {k}")))?;
            counts.actions.insert(action.to_string(), c);
        }
    }
    Ok((dim, counts))
}

/// One counted event, read back from its marker.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerFacts {
    /// Action.
    pub action: String,
    /// Identity.
    pub identity: String,
    /// Resource type and id.
    pub resource: Option<(String, String)>,
    /// Failed.
    pub failed: bool,
}

/// Reads a marker item back.
pub fn marker_from_item(item: &Item) -> Result<MarkerFacts, StoreError> {
    let resource = match (opt_s(item, "rt"), opt_s(item, "ri")) {
        (Some(t), Some(id)) => Some((t, id)),
        _ => None,
    };
    Ok(MarkerFacts {
        action: get_s(item, "a")?.to_string(),
        identity: get_s(item, "i")?.to_string(),
        resource,
        failed: matches!(item.get("f"), Some(AttributeValue::Bool(true))),
    })
}

/// What a summary read cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// DynamoDB requests (Query pages, BatchGetItem calls).
    pub requests: usize,
    /// Items read.
    pub items: usize,
}

impl ReadStats {
    /// Adds `other`.
    pub fn add(&mut self, other: ReadStats) {
        self.requests += other.requests;
        self.items += other.items;
    }
}

impl Store {
    /// Writes the markers of `events` and the counter deltas in one transaction, unless a
    /// marker exists. `marker_pks[i]` is the marker partition of `events[i]`.
    pub async fn write_summary_chunk(
        &self,
        events: &[(&EventFacts, String)],
        counters: &[CounterDelta],
        expires_at: i64,
    ) -> Result<(), ChunkError> {
        let mut items = Vec::with_capacity(events.len() + counters.len());
        for (f, pk) in events {
            let put = Put::builder()
                .table_name(&self.config_table)
                .set_item(Some(marker_item(pk.clone(), f, expires_at)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        for d in counters {
            items.push(counter_update(&self.config_table, d, expires_at)?);
        }
        let err = match self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        match err.as_service_error() {
            Some(E::TransactionCanceledException(c)) => {
                let reasons = c.cancellation_reasons();
                let counted: Vec<usize> = reasons
                    .iter()
                    .enumerate()
                    .filter(|(i, r)| {
                        *i < events.len() && r.code() == Some("ConditionalCheckFailed")
                    })
                    .map(|(i, _)| i)
                    .collect();
                if !counted.is_empty() {
                    return Err(ChunkError::AlreadyCounted(counted));
                }
                let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
                let retryable = codes.iter().all(|c| {
                    matches!(
                        *c,
                        "None"
                            | "TransactionConflict"
                            | "ThrottlingError"
                            | "ProvisionedThroughputExceeded"
                            | "RequestLimitExceeded"
                    )
                });
                if retryable {
                    Err(ChunkError::Retry(format!(
                        "transaction cancelled: {codes:?}"
                    )))
                } else {
                    Err(ChunkError::Store(StoreError::Sdk(format!(
                        "summary transaction cancelled: {codes:?}"
                    ))))
                }
            }
            Some(E::TransactionInProgressException(_)) => {
                Err(ChunkError::Retry("transaction in progress".into()))
            }
            _ => match StoreError::from_sdk(err) {
                StoreError::Throttled(d) => Err(ChunkError::Retry(d)),
                other => Err(ChunkError::Store(other)),
            },
        }
    }

    /// Every item of partition `pk` with `lo <= sk <= hi` (all pages).
    pub async fn summary_query(
        &self,
        pk: &str,
        lo: &str,
        hi: &str,
        filter: Option<&Dim>,
    ) -> Result<(Vec<Item>, ReadStats), StoreError> {
        let mut out = Vec::new();
        let mut stats = ReadStats::default();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .ddb
                .query()
                .table_name(&self.config_table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":lo", s(lo))
                .expression_attribute_values(":hi", s(hi))
                .set_exclusive_start_key(start.take());
            // Markers of one identity or resource (the edges of a trail's summary).
            match filter {
                Some(Dim::Identity(id)) => {
                    q = q
                        .filter_expression("#i = :i")
                        .expression_attribute_names("#i", "i")
                        .expression_attribute_values(":i", s(id));
                }
                Some(Dim::Resource(t, id)) => {
                    q = q
                        .filter_expression("#rt = :rt AND #ri = :ri")
                        .expression_attribute_names("#rt", "rt")
                        .expression_attribute_names("#ri", "ri")
                        .expression_attribute_values(":rt", s(t))
                        .expression_attribute_values(":ri", s(id));
                }
                Some(Dim::Total) | None => {}
            }
            let page = q.send().await.map_err(StoreError::from_sdk)?;
            stats.requests += 1;
            stats.items += page.items().len();
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok((out, stats)),
            }
        }
    }

    /// The items with these keys that exist (BatchGetItem, 100 keys a request).
    pub async fn summary_get(
        &self,
        keys: &[(String, String)],
    ) -> Result<(Vec<Item>, ReadStats), StoreError> {
        let mut out = Vec::new();
        let mut stats = ReadStats::default();
        for chunk in keys.chunks(100) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|(pk, sk)| {
                    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
                })
                .collect();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .build()
                    .map_err(build_err)?;
                let res = self
                    .ddb
                    .batch_get_item()
                    .request_items(&self.config_table, ka)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                stats.requests += 1;
                if let Some(items) = res.responses().and_then(|r| r.get(&self.config_table)) {
                    stats.items += items.len();
                    out.extend(items.iter().cloned());
                }
                pending = res
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.config_table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Throttled(
                            "BatchGetItem kept returning unprocessed keys".into(),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(6)))
                        .await;
                }
            }
        }
        Ok((out, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_items_round_trip() {
        let mut counts = Counts::default();
        counts.add_event("document.opened", false);
        counts.add_event("document.opened", true);
        let mut item: Item = Item::new();
        item.insert("pk".into(), s("SUM#o#D#2026-05"));
        item.insert("sk".into(), s("22#r#6:secret:a#b"));
        item.insert("c".into(), n(2));
        item.insert("f".into(), n(1));
        item.insert("a:document.opened".into(), n(2));
        item.insert("rt".into(), s("secret"));
        item.insert("ri".into(), s("a#b"));
        let (dim, back) = counter_from_item(&item).unwrap();
        assert_eq!(dim, Dim::Resource("secret".into(), "a#b".into()));
        assert_eq!(back, counts);
        item.insert("sk".into(), s("22#x"));
        assert!(counter_from_item(&item).is_err());
    }

    #[test]
    fn markers_round_trip() {
        let f = EventFacts {
            event_id: "e".into(),
            ts_key: "2026-05-22T10:30:00.000000000Z".into(),
            action: "read".into(),
            identity: "sa:x".into(),
            resource: Some(("secret".into(), "p".into())),
            failed: true,
        };
        let item = marker_item("SUMEVT#o#2026-05-22T10".into(), &f, 5);
        let m = marker_from_item(&item).unwrap();
        assert_eq!(m.resource, f.resource);
        assert!(m.failed);
        assert_eq!(m.identity, "sa:x");
    }
}
