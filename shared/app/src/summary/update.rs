//! Counting inserted events into the summary counters, exactly once, from the events stream.
//!
//! The summary's stream consumer ([`super::stream`]) calls [`count_inserts`] for each stream
//! batch. Events are grouped by org and cut into chunks that fit one `TransactWriteItems`
//! (markers + the counters they touch); each chunk is written atomically with its markers'
//! `attribute_not_exists` conditions, so a redelivered record is recognised by its marker and
//! never counted twice, and a crash between chunks leaves no event half-counted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::future::join_all;

use crate::pipeline::stream::StreamInsert;
use relay_core::model::ids::OrgId;
use relay_core::model::org::DEFAULT_RETENTION_DAYS;
use relay_core::summary::buckets::{counter_key, marker_pk, Grain};
use relay_core::summary::counts::{Counts, EventFacts};
use relay_store::summary::{ChunkError, CounterDelta};
use relay_store::Store;

/// Items in one transaction. DynamoDB accepts 100; 25 is what every emulator (moto,
/// DynamoDB Local) accepts too, and it only costs more requests, not more write units of
/// markers.
pub const MAX_TRANSACTION_ITEMS: usize = 25;
/// Attempts of one chunk against conflicts and throttling before the batch is retried.
const MAX_ATTEMPTS: u32 = 8;

/// A set of events written in one transaction with the counter deltas they make.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<'a> {
    /// The events, each with its index in the caller's list.
    pub events: Vec<(usize, &'a EventFacts)>,
    /// Counter key → increment.
    pub counters: BTreeMap<(String, String), CounterDelta>,
}

impl<'a> Chunk<'a> {
    fn new() -> Self {
        Chunk {
            events: Vec::new(),
            counters: BTreeMap::new(),
        }
    }

    fn items(&self) -> usize {
        self.events.len() + self.counters.len()
    }
}

fn counter_keys(
    org_id: &str,
    f: &EventFacts,
) -> Vec<((String, String), relay_core::summary::buckets::Dim)> {
    let mut keys = Vec::with_capacity(6);
    for grain in [Grain::Hour, Grain::Day] {
        for dim in f.dims() {
            keys.push((counter_key(org_id, grain, &f.ts_key, &dim), dim));
        }
    }
    keys
}

/// Cuts `events` (one org's, each with an index) into chunks of at most `max_items`
/// transaction items: one marker per event plus one update per distinct counter.
pub fn chunks<'a>(
    org_id: &str,
    events: &[(usize, &'a EventFacts)],
    max_items: usize,
) -> Vec<Chunk<'a>> {
    let mut out = Vec::new();
    let mut cur = Chunk::new();
    for &(idx, f) in events {
        let keys = counter_keys(org_id, f);
        let new = keys
            .iter()
            .filter(|(k, _)| !cur.counters.contains_key(k))
            .count();
        if !cur.events.is_empty() && cur.items() + 1 + new > max_items {
            out.push(std::mem::replace(&mut cur, Chunk::new()));
        }
        cur.events.push((idx, f));
        for (key, dim) in keys {
            cur.counters
                .entry(key.clone())
                .or_insert_with(|| CounterDelta {
                    pk: key.0,
                    sk: key.1,
                    dim,
                    counts: Counts::default(),
                })
                .counts
                .add_event(&f.action, f.failed);
        }
    }
    if !cur.events.is_empty() {
        out.push(cur);
    }
    out
}

/// Counts the inserts; returns the index of the first one that could not be counted (the
/// stream batch must be retried from there), or `None` when all are counted.
///
/// A record whose `doc` is not an event cannot ever be counted and is skipped (logged).
pub async fn count_inserts(store: &Store, inserts: &[StreamInsert]) -> Option<usize> {
    let mut by_org: HashMap<&OrgId, Vec<(usize, EventFacts)>> = HashMap::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (i, ins) in inserts.iter().enumerate() {
        if !seen.insert((ins.org_id.as_str(), ins.event_id.as_str())) {
            continue;
        }
        match EventFacts::from_doc(&ins.doc) {
            Ok(f) => by_org.entry(&ins.org_id).or_default().push((i, f)),
            Err(e) => tracing::error!(org_id = %ins.org_id, event_id = %ins.event_id, error = %e,
                "event not counted in the summary: unreadable document"),
        }
    }
    let results = join_all(
        by_org
            .into_iter()
            .map(|(org, facts)| async move { count_org(store, org, &facts).await }),
    )
    .await;
    results.into_iter().flatten().min()
}

/// Counts one org's events in order; returns the index of the first event not counted.
async fn count_org(store: &Store, org_id: &OrgId, facts: &[(usize, EventFacts)]) -> Option<usize> {
    let first = facts.first().map(|(i, _)| *i)?;
    let retention = match store.get_org(org_id).await {
        Ok(org) => org.map_or(DEFAULT_RETENTION_DAYS, |o| o.retention_days),
        Err(e) => {
            tracing::warn!(org_id = %org_id, error = %e, "summary counting: reading the org failed");
            return Some(first);
        }
    };
    // Counters and markers live as long as the newest event counted in them (+ a day).
    let expires_at =
        time::OffsetDateTime::now_utc().unix_timestamp() + (i64::from(retention) + 1) * 86_400;
    let refs: Vec<(usize, &EventFacts)> = facts.iter().map(|(i, f)| (*i, f)).collect();
    for chunk in chunks(org_id, &refs, MAX_TRANSACTION_ITEMS) {
        if let Err(e) = write_chunk(store, org_id, chunk.events.clone(), expires_at).await {
            tracing::warn!(org_id = %org_id, error = %e, "summary counting failed; the stream batch will be retried");
            return chunk.events.first().map(|(i, _)| *i);
        }
    }
    None
}

/// Writes one chunk's events, dropping those counted before and retrying conflicts.
async fn write_chunk(
    store: &Store,
    org_id: &str,
    mut events: Vec<(usize, &EventFacts)>,
    expires_at: i64,
) -> Result<(), ChunkError> {
    let mut attempt = 0u32;
    loop {
        if events.is_empty() {
            return Ok(());
        }
        // Rebuilt each time: a retry after dropping counted events must not add their deltas.
        let rebuilt = chunks(org_id, &events, usize::MAX);
        let Some(chunk) = rebuilt.into_iter().next() else {
            return Ok(());
        };
        let markers: Vec<(&EventFacts, String)> = chunk
            .events
            .iter()
            .map(|(_, f)| (*f, marker_pk(org_id, &f.ts_key)))
            .collect();
        let counters: Vec<CounterDelta> = chunk.counters.into_values().collect();
        match store
            .write_summary_chunk(&markers, &counters, expires_at)
            .await
        {
            Ok(()) => return Ok(()),
            Err(ChunkError::AlreadyCounted(done)) => {
                let done: HashSet<usize> = done.into_iter().collect();
                events = events
                    .into_iter()
                    .enumerate()
                    .filter(|(pos, _)| !done.contains(pos))
                    .map(|(_, e)| e)
                    .collect();
            }
            Err(ChunkError::Retry(why)) => {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    return Err(ChunkError::Retry(why));
                }
                let backoff = 20u64 << attempt.min(6);
                let jitter = (relay_core::retry::random_unit() * backoff as f64) as u64;
                tokio::time::sleep(Duration::from_millis(backoff + jitter)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(i: usize, identity: &str, resource: Option<&str>, hour: u32) -> EventFacts {
        EventFacts {
            event_id: format!("evt_{i}"),
            ts_key: format!("2026-05-22T{hour:02}:30:00.000000000Z"),
            action: if i.is_multiple_of(2) { "read" } else { "write" }.into(),
            identity: identity.into(),
            resource: resource.map(|r| ("secret".to_string(), r.to_string())),
            failed: i.is_multiple_of(3),
        }
    }

    #[test]
    fn chunks_fit_a_transaction_and_keep_every_event_once() {
        let all: Vec<EventFacts> = (0..200)
            .map(|i| {
                let id = format!("u{}", i % 7);
                let res = format!("r{}", i % 13);
                facts(i, &id, (i % 5 != 0).then_some(res.as_str()), (i % 3) as u32)
            })
            .collect();
        let refs: Vec<(usize, &EventFacts)> = all.iter().enumerate().collect();
        let cs = chunks("org_1", &refs, MAX_TRANSACTION_ITEMS);
        let mut seen = Vec::new();
        let mut totals = Counts::default();
        for c in &cs {
            assert!(c.items() <= MAX_TRANSACTION_ITEMS, "{}", c.items());
            seen.extend(c.events.iter().map(|(i, _)| *i));
            for d in c.counters.values() {
                if d.dim == relay_core::summary::buckets::Dim::Total && d.pk.contains("#D#") {
                    totals.merge(&d.counts);
                }
            }
        }
        assert_eq!(
            seen,
            (0..200).collect::<Vec<_>>(),
            "order kept, nothing lost"
        );
        assert_eq!(totals.total, 200);
        assert_eq!(
            totals.failed,
            (0..200).filter(|i| i % 3 == 0).count() as u64
        );
        assert_eq!(totals.actions["read"], 100);
    }

    #[test]
    fn one_identity_and_resource_pack_many_events_per_transaction() {
        let all: Vec<EventFacts> = (0..40).map(|i| facts(i, "sa:x", Some("p"), 10)).collect();
        let refs: Vec<(usize, &EventFacts)> = all.iter().enumerate().collect();
        let cs = chunks("org_1", &refs, MAX_TRANSACTION_ITEMS);
        // 6 counters (2 grains x total/identity/resource) + 19 markers per transaction.
        assert_eq!(cs[0].events.len(), 19);
        assert_eq!(cs[0].counters.len(), 6);
        assert_eq!(cs.len(), 3);
    }
}
