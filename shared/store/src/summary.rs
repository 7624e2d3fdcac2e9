//! Summary counters in the config table (the layout is described in
//! [`relay_core::summary::buckets`]).
//!
//! Each counter counts exactly once by the events stream's order, with no transaction and no
//! write per event: a counter item keeps, per partition of the events table (the org), the
//! sequence number of the last stream record added to it (`p:{partition}`), and a stream
//! batch's delta is added with one `UpdateItem` on the condition that the position is before
//! the first record the delta holds, moving it to the last. Stream records of one partition
//! key arrive in sequence order (Lambda keeps that order per partition key, across shard splits
//! and with parallelisation), so a counter holds exactly the records up to its position: a
//! redelivered or retried batch, or two copies of one batch counted at once, find the
//! condition failed, read the position, and add only the records after it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::{conditional, get_n, get_s, n, opt_s, s, Item, Store};
use crate::error::StoreError;
use relay_core::summary::buckets::Dim;
use relay_core::summary::counts::Counts;

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

/// Width of a stored sequence number: DynamoDB's are decimal strings of 21 to 40 digits, so
/// left-padded to 40 they compare in order as strings.
const SEQ_WIDTH: usize = 40;

/// A stream sequence number in the form that sorts: left-padded with zeros to 40 digits.
pub fn sortable_seq(seq: &str) -> String {
    format!("{seq:0>SEQ_WIDTH$}")
}

/// The attribute of a counter holding the position of the events table's `partition`.
fn position_attr(partition: &str) -> String {
    format!("p:{partition}")
}

/// The stream records a delta holds, by sortable sequence number (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange<'a> {
    /// The events table's partition the records are of.
    pub partition: &'a str,
    /// The first record.
    pub first: &'a str,
    /// The last record.
    pub last: &'a str,
}

impl Store {
    /// Adds `d` (the records `seqs`) to its counter, unless the counter's position for that
    /// partition is at or after `seqs.first`: then `Ok(false)`, nothing written, and the caller
    /// reads the position ([`Store::counter_position`]) and adds what comes after it.
    pub async fn add_to_counter(
        &self,
        d: &CounterDelta,
        seqs: SeqRange<'_>,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut adds = vec!["#c :c".to_string(), "#f :f".to_string()];
        let mut names: HashMap<String, String> = HashMap::from([
            ("#c".into(), "c".into()),
            ("#f".into(), "f".into()),
            ("#x".into(), "expires_at".into()),
            ("#p".into(), position_attr(seqs.partition)),
        ]);
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":c".into(), n(d.counts.total)),
            (":f".into(), n(d.counts.failed)),
            (":x".into(), n(expires_at)),
            (":first".into(), s(seqs.first)),
            (":last".into(), s(seqs.last)),
        ]);
        for (i, (action, count)) in d.counts.actions.iter().enumerate() {
            adds.push(format!("#a{i} :a{i}"));
            names.insert(format!("#a{i}"), format!("a:{action}"));
            values.insert(format!(":a{i}"), n(count));
        }
        let mut sets = vec!["#x = :x".to_string(), "#p = :last".to_string()];
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
        let out = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(&d.pk))
            .key("sk", s(&d.sk))
            .update_expression(format!("ADD {} SET {}", adds.join(", "), sets.join(", ")))
            .condition_expression("attribute_not_exists(#p) OR #p < :first")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        Ok(conditional(out)?.is_some())
    }

    /// The position (sortable sequence number) of `partition` in the counter `pk`/`sk`: the
    /// last stream record of that partition it holds, read strongly consistently.
    pub async fn counter_position(
        &self,
        pk: &str,
        sk: &str,
        partition: &str,
    ) -> Result<Option<String>, StoreError> {
        let attr = position_attr(partition);
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .projection_expression("#p")
            .expression_attribute_names("#p", &attr)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item.as_ref().and_then(|i| opt_s(i, &attr)))
    }
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
    /// Every item of partition `pk` with `lo <= sk <= hi` (all pages).
    pub async fn summary_query(
        &self,
        pk: &str,
        lo: &str,
        hi: &str,
    ) -> Result<(Vec<Item>, ReadStats), StoreError> {
        let mut out = Vec::new();
        let mut stats = ReadStats::default();
        let mut start: Option<Item> = None;
        loop {
            let q = self
                .ddb
                .query()
                .table_name(&self.config_table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":lo", s(lo))
                .expression_attribute_values(":hi", s(hi))
                .set_exclusive_start_key(start.take());
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
                    .map_err(|e| StoreError::Sdk(e.to_string()))?;
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
    fn sequence_numbers_sort_as_strings() {
        let a = sortable_seq("900000000000000000001");
        let b = sortable_seq("1000000000000000000000");
        assert!(a < b);
        assert_eq!(b.len(), 40);
        assert!(sortable_seq("000000000000000000039") < sortable_seq("100000000000000000000"));
    }
}
