//! Counting inserted events into the summary counters, exactly once, from the events stream.
//!
//! The summary's stream consumer ([`super::stream`]) calls [`count_inserts`] for each stream
//! batch. Each event counts in up to nine counters (minute, hour and day × the org's total,
//! its identity and its resource); the batch's events are summed per counter, and each counter
//! gets one conditional `UpdateItem` that also moves its position for the events' partition
//! (`relay_store::summary`). A redelivered record is at or before the counter's position and is
//! never counted twice; a crash part-way leaves some counters updated and the rest not, and the
//! retried batch adds to each exactly what it lacks. The cost is one write per counter a batch
//! touches, shared by the batch's events: no write per event, no transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::pipeline::stream::StreamInsert;
use relay_core::model::ids::OrgId;
use relay_core::model::org::DEFAULT_RETENTION_DAYS;
use relay_core::summary::buckets::{counter_key, Dim, Grain};
use relay_core::summary::counts::{Counts, EventFacts};
use relay_store::error::StoreError;
use relay_store::summary::{sortable_seq, CounterDelta, SeqRange};
use relay_store::Store;

/// Counter updates in flight at once, per batch.
const CONCURRENT_UPDATES: usize = 16;
/// Attempts of one counter against throttling before the batch is retried.
const MAX_ATTEMPTS: u32 = 8;

/// One event's part in a counter: where it is in the batch, its stream position, and what it
/// adds.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution<'a> {
    /// Index of the event in the stream batch.
    pub idx: usize,
    /// Sortable sequence number of its record.
    pub seq: &'a str,
    /// Its facts.
    pub facts: &'a EventFacts,
}

/// One counter and the events of a batch that count in it, in stream order.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterWork<'a> {
    /// Partition of the counter.
    pub pk: String,
    /// Sort key of the counter.
    pub sk: String,
    /// What it counts.
    pub dim: Dim,
    /// The events, in stream order.
    pub events: Vec<Contribution<'a>>,
}

impl CounterWork<'_> {
    /// The delta of the events after `position` (all of them when `None`), and the sequence
    /// numbers of the first and last of those; `None` when there are none.
    fn delta_after(&self, position: Option<&str>) -> Option<(CounterDelta, &str, &str)> {
        let mut counts = Counts::default();
        let mut range: Option<(&str, &str)> = None;
        for c in &self.events {
            if position.is_some_and(|p| c.seq <= p) {
                continue;
            }
            counts.add_event(&c.facts.action, c.facts.failed);
            range = Some(range.map_or((c.seq, c.seq), |(first, _)| (first, c.seq)));
        }
        let (first, last) = range?;
        let delta = CounterDelta {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
            dim: self.dim.clone(),
            counts,
        };
        Some((delta, first, last))
    }

    /// The first event (its index in the batch) that this counter holds back.
    fn first_index(&self) -> Option<usize> {
        self.events.iter().map(|c| c.idx).min()
    }
}

/// The counters one org's events (in stream order, each with its index and sortable sequence
/// number) count in, each with its events, in key order.
pub fn counters<'a>(
    org_id: &str,
    events: &'a [(usize, String, EventFacts)],
) -> Vec<CounterWork<'a>> {
    let mut by_key: BTreeMap<(String, String), CounterWork<'a>> = BTreeMap::new();
    for (idx, seq, facts) in events {
        for grain in Grain::ALL {
            for dim in facts.dims() {
                let (pk, sk) = counter_key(org_id, grain, &facts.ts_key, &dim);
                by_key
                    .entry((pk.clone(), sk.clone()))
                    .or_insert_with(|| CounterWork {
                        pk,
                        sk,
                        dim,
                        events: Vec::new(),
                    })
                    .events
                    .push(Contribution {
                        idx: *idx,
                        seq,
                        facts,
                    });
            }
        }
    }
    by_key.into_values().collect()
}

/// Counts the inserts; returns the index of the first one that could not be counted (the
/// stream batch must be retried from there), or `None` when all are counted.
///
/// A record whose `doc` is not an event cannot ever be counted and is skipped (logged).
pub async fn count_inserts(store: &Store, inserts: &[StreamInsert]) -> Option<usize> {
    let mut by_org: HashMap<&OrgId, Vec<(usize, String, EventFacts)>> = HashMap::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (i, ins) in inserts.iter().enumerate() {
        if !seen.insert((ins.org_id.as_str(), ins.event_id.as_str())) {
            continue;
        }
        match EventFacts::from_doc(&ins.doc) {
            Ok(facts) => by_org.entry(&ins.org_id).or_default().push((
                i,
                sortable_seq(&ins.sequence_number),
                facts,
            )),
            Err(e) => tracing::error!(org_id = %ins.org_id, event_id = %ins.event_id, error = %e,
                "event not counted in the summary: unreadable document"),
        }
    }
    let mut first_failed: Option<usize> = None;
    for (org, events) in by_org {
        if let Some(i) = count_org(store, org, &events).await {
            first_failed = Some(first_failed.map_or(i, |f| f.min(i)));
        }
    }
    first_failed
}

/// Counts one org's events; returns the index of the first event not fully counted.
async fn count_org(
    store: &Store,
    org_id: &OrgId,
    events: &[(usize, String, EventFacts)],
) -> Option<usize> {
    let first = events.first().map(|(i, _, _)| *i)?;
    let retention = match store.get_org(org_id).await {
        Ok(org) => org.map_or(DEFAULT_RETENTION_DAYS, |o| o.retention_days),
        Err(e) => {
            tracing::warn!(org_id = %org_id, error = %e, "summary counting: reading the org failed");
            return Some(first);
        }
    };
    // Counters live as long as the newest event counted in them (+ a day).
    let expires_at =
        time::OffsetDateTime::now_utc().unix_timestamp() + (i64::from(retention) + 1) * 86_400;
    // The events table's partition of these records: the org.
    let partition = org_id.as_str();
    let work = counters(partition, events);
    // Built first, then polled: futures built by a closure inside the stream would make the
    // pollers' `Send` depend on a higher-ranked lifetime that `tokio::spawn` cannot prove.
    let updates: Vec<_> = work
        .iter()
        .map(|w| add_or_report(store, org_id, w, expires_at))
        .collect();
    let failed: Vec<Option<usize>> = stream::iter(updates)
        .buffer_unordered(CONCURRENT_UPDATES)
        .collect()
        .await;
    failed.into_iter().flatten().min()
}

/// [`add`], reporting a failure as the first event the counter holds back.
async fn add_or_report(
    store: &Store,
    org_id: &OrgId,
    work: &CounterWork<'_>,
    expires_at: i64,
) -> Option<usize> {
    match add(store, org_id.as_str(), work, expires_at).await {
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(org_id = %org_id, counter = %work.sk, error = %e,
                "summary counting failed; the stream batch will be retried");
            work.first_index()
        }
    }
}

/// Adds to one counter the events it does not hold yet.
async fn add(
    store: &Store,
    partition: &str,
    work: &CounterWork<'_>,
    expires_at: i64,
) -> Result<(), StoreError> {
    let mut position: Option<String> = None;
    let mut attempt = 0u32;
    loop {
        let Some((delta, first, last)) = work.delta_after(position.as_deref()) else {
            return Ok(());
        };
        let seqs = SeqRange {
            partition,
            first,
            last,
        };
        match store.add_to_counter(&delta, seqs, expires_at).await {
            Ok(true) => return Ok(()),
            // Some of these were counted before (a redelivery, or another copy of this batch
            // at once): add what comes after the counter's position.
            Ok(false) => {
                let now = store
                    .counter_position(&work.pk, &work.sk, partition)
                    .await?;
                if now.is_none() || now == position {
                    return Err(StoreError::Corrupt(format!(
                        "summary counter {}/{}: its condition failed but its position did not move",
                        work.pk, work.sk
                    )));
                }
                position = now;
            }
            Err(StoreError::Throttled(why)) => {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    return Err(StoreError::Throttled(why));
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

    fn batch(n: usize) -> Vec<(usize, String, EventFacts)> {
        (0..n)
            .map(|i| {
                let id = format!("u{}", i % 7);
                let res = format!("r{}", i % 13);
                let f = facts(i, &id, (i % 5 != 0).then_some(res.as_str()), (i % 3) as u32);
                (i, sortable_seq(&(1000 + i).to_string()), f)
            })
            .collect()
    }

    #[test]
    fn each_event_counts_once_in_each_of_its_counters() {
        let events = batch(200);
        let work = counters("org_1", &events);
        let mut totals = Counts::default();
        for w in &work {
            assert!(
                w.events.windows(2).all(|p| p[0].seq < p[1].seq),
                "stream order kept"
            );
            if w.dim == Dim::Total && w.pk.contains("#D#") {
                totals.merge(&w.delta_after(None).unwrap().0.counts);
            }
        }
        assert_eq!(totals.total, 200);
        assert_eq!(
            totals.failed,
            (0..200).filter(|i| i % 3 == 0).count() as u64
        );
        assert_eq!(totals.actions["read"], 100);
        // 3 grains x (total + 7 identities + 13 resources), the minute and hour split 3 ways.
        let minutes = work.iter().filter(|w| w.pk.contains("#M#")).count();
        assert_eq!(minutes, 3 * (1 + 7 + 13));
        assert_eq!(work.len(), 3 * 3 * (1 + 7 + 13) - 2 * (1 + 7 + 13));
    }

    #[test]
    fn a_position_leaves_out_what_it_holds() {
        let events = batch(10);
        let work = counters("org_1", &events);
        let total = work
            .iter()
            .find(|w| w.dim == Dim::Total && w.pk.contains("#D#"))
            .unwrap();
        let (all, first, last) = total.delta_after(None).unwrap();
        assert_eq!(
            (all.counts.total, first, last),
            (10, &*events[0].1, &*events[9].1)
        );
        let (rest, first, _) = total.delta_after(Some(&events[6].1)).unwrap();
        assert_eq!(rest.counts.total, 3);
        assert_eq!(first, events[7].1);
        assert!(total.delta_after(Some(&events[9].1)).is_none());
    }
}
