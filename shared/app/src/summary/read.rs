//! Reading summaries: `GET /v1/audit/summary` (the org) and the summaries of identity and
//! resource trails, from the counters and, for what is left of the range at its ends (less
//! than a minute each), from the events. The cost depends on the range's shape, on how many
//! distinct identities and resources it holds, and on the events of at most two minutes.

use std::collections::{BTreeMap, HashMap};

use futures::future::try_join_all;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use relay_core::error::Error;
use relay_core::model::event::{parse_time, rfc3339_millis};
use relay_core::model::ids::OrgId;
use relay_core::query::LogFilter;
use relay_core::summary::buckets::{counter_key, plan, BucketRun, Dim, Edge, RangePlan};
use relay_core::summary::check_range;
use relay_core::summary::counts::{Counts, EventFacts};
use relay_store::error::StoreError;
use relay_store::summary::{counter_from_item, ReadStats};
use relay_store::{Item, Store};

/// Default length of a summary's range when `from` is not given.
pub const DEFAULT_RANGE_DAYS: i64 = 30;
/// Default and largest number of top identities and resources.
pub const DEFAULT_TOP: usize = 10;
/// Largest `top`.
pub const MAX_TOP: usize = 100;

/// One of the most active identities.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TopIdentity {
    /// `actor.user_id`.
    pub identity_id: String,
    /// Its events in the range.
    pub count: u64,
}

/// One of the most used resources.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TopResource {
    /// `resource.id` (the secret path of the documented `top_resources`).
    pub path: String,
    /// `resource.type`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Its events in the range.
    pub count: u64,
}

/// The documented `GET /v1/audit/summary` answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OrgSummary {
    /// Events with `from <= timestamp < to`.
    pub total_events: u64,
    /// Those not marked `success: false`.
    pub successful_events: u64,
    /// Those marked `success: false`.
    pub failed_events: u64,
    /// Events per action.
    pub actions_breakdown: BTreeMap<String, u64>,
    /// Most active identities, most events first (ties by id).
    pub top_identities: Vec<TopIdentity>,
    /// Most used resources, most events first (ties by type and id).
    pub top_resources: Vec<TopResource>,
}

/// The summary of one identity's or one resource's events in a range.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TrailSummary {
    /// Start of the range (inclusive).
    pub from: String,
    /// End of the range (exclusive).
    pub to: String,
    /// Events.
    pub total_events: u64,
    /// Those not marked `success: false`.
    pub successful_events: u64,
    /// Those marked `success: false`.
    pub failed_events: u64,
    /// Events per action.
    pub actions_breakdown: BTreeMap<String, u64>,
}

impl TrailSummary {
    fn new(from: OffsetDateTime, to: OffsetDateTime, c: Counts) -> Self {
        TrailSummary {
            from: rfc3339_millis(from),
            to: rfc3339_millis(to),
            total_events: c.total,
            successful_events: c.total - c.failed,
            failed_events: c.failed,
            actions_breakdown: c.actions,
        }
    }
}

/// Parsed `GET /v1/audit/summary` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryParams {
    /// Inclusive start (default: `to` minus 30 days).
    pub from: OffsetDateTime,
    /// Exclusive end (default: now).
    pub to: OffsetDateTime,
    /// How many top identities and resources (default 10, at most 100).
    pub top: usize,
}

impl SummaryParams {
    /// Parses `from`, `to` and `top`; refuses anything else, a reversed range and one longer
    /// than the org's retention.
    pub fn parse(
        pairs: &[(String, String)],
        now: OffsetDateTime,
        retention_days: u32,
    ) -> Result<Self, Error> {
        let (mut from, mut to, mut top) = (None, None, DEFAULT_TOP);
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in pairs {
            if seen.contains(&k.as_str()) {
                return Err(Error::invalid(k, "is given more than once"));
            }
            seen.push(k);
            match k.as_str() {
                "from" => from = Some(parse_time("from", v)?),
                "to" => to = Some(parse_time("to", v)?),
                "top" => {
                    top = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_TOP).contains(n))
                        .ok_or_else(|| {
                            Error::invalid("top", format!("must be an integer from 1 to {MAX_TOP}"))
                        })?
                }
                other => {
                    return Err(Error::invalid(
                        other,
                        "is not a known parameter (from, to, top)",
                    ))
                }
            }
        }
        let to = to.unwrap_or(now);
        let from = from.unwrap_or(to - Duration::days(DEFAULT_RANGE_DAYS));
        check_range(from, to, retention_days)?;
        Ok(SummaryParams { from, to, top })
    }
}

async fn read_run(
    store: &Store,
    org_id: &OrgId,
    run: &BucketRun,
) -> Result<(Vec<Item>, ReadStats), StoreError> {
    let (lo, hi) = run.sk_bounds();
    store.summary_query(&run.pk(org_id), &lo, &hi).await
}

/// The facts of the events in a sub-minute edge (of one identity or resource when `dim` says
/// so), read from the events index that serves that dimension.
async fn read_edge(
    store: &Store,
    org_id: &OrgId,
    edge: &Edge,
    dim: &Dim,
) -> Result<(Vec<EventFacts>, ReadStats), StoreError> {
    let mut filter = LogFilter {
        from: Some(edge.from),
        to: Some(edge.to),
        ..LogFilter::default()
    };
    match dim {
        Dim::Total => {}
        Dim::Identity(id) => filter.identity_id = Some(id.clone()),
        Dim::Resource(t, id) => filter.resource = Some((t.clone(), id.clone())),
    }
    let mut out = Vec::new();
    let mut stats = ReadStats::default();
    let mut after = None;
    loop {
        let (rows, next) = store
            .events_page_ascending(org_id, &filter, after.as_ref())
            .await?;
        stats.requests += 1;
        stats.items += rows.len();
        for (_, doc) in rows {
            match EventFacts::from_doc(&doc) {
                Ok(f) => out.push(f),
                Err(e) => tracing::error!(org_id = %org_id, error = %e,
                    "event left out of a summary: unreadable document"),
            }
        }
        match next {
            Some(p) => after = Some(p),
            None => return Ok((out, stats)),
        }
    }
}

fn top_n<K: Ord + Clone>(map: HashMap<K, u64>, n: usize) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// The org's summary of `[from, to)`.
pub async fn org_summary(
    store: &Store,
    org_id: &OrgId,
    from: OffsetDateTime,
    to: OffsetDateTime,
    top: usize,
) -> Result<(OrgSummary, ReadStats), StoreError> {
    let p: RangePlan = plan(from, to);
    let runs = try_join_all(p.runs().map(|run| read_run(store, org_id, run)));
    let edges = try_join_all(
        p.edges
            .iter()
            .map(|e| read_edge(store, org_id, e, &Dim::Total)),
    );
    let (runs, edges) = futures::try_join!(runs, edges)?;

    let mut stats = ReadStats::default();
    let mut totals = Counts::default();
    let mut identities: HashMap<String, u64> = HashMap::new();
    let mut resources: HashMap<(String, String), u64> = HashMap::new();
    for (items, st) in runs {
        stats.add(st);
        for item in &items {
            match counter_from_item(item)? {
                (Dim::Total, c) => totals.merge(&c),
                (Dim::Identity(id), c) => *identities.entry(id).or_default() += c.total,
                (Dim::Resource(t, id), c) => *resources.entry((t, id)).or_default() += c.total,
            }
        }
    }
    for (events, st) in edges {
        stats.add(st);
        for f in events {
            totals.add_event(&f.action, f.failed);
            *identities.entry(f.identity).or_default() += 1;
            if let Some(r) = f.resource {
                *resources.entry(r).or_default() += 1;
            }
        }
    }
    let summary = OrgSummary {
        total_events: totals.total,
        successful_events: totals.total - totals.failed,
        failed_events: totals.failed,
        actions_breakdown: totals.actions,
        top_identities: top_n(identities, top)
            .into_iter()
            .map(|(identity_id, count)| TopIdentity { identity_id, count })
            .collect(),
        top_resources: top_n(resources, top)
            .into_iter()
            .map(|((resource_type, path), count)| TopResource {
                path,
                resource_type,
                count,
            })
            .collect(),
    };
    Ok((summary, stats))
}

/// The counts of one identity's or resource's (`dim`) events in `[from, to)`: one
/// BatchGetItem per 100 buckets, plus an index Query of that identity's or resource's events
/// per sub-minute edge.
pub async fn dim_counts(
    store: &Store,
    org_id: &OrgId,
    dim: &Dim,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<(Counts, ReadStats), StoreError> {
    let p = plan(from, to);
    let keys: Vec<(String, String)> = p
        .runs()
        .flat_map(|run| {
            run.buckets()
                .into_iter()
                .map(move |b| counter_key(org_id, run.grain, &b, dim))
        })
        .collect();
    let edges = try_join_all(p.edges.iter().map(|e| read_edge(store, org_id, e, dim)));
    let ((items, mut stats), edges) = futures::try_join!(store.summary_get(&keys), edges)?;
    let mut counts = Counts::default();
    for item in &items {
        counts.merge(&counter_from_item(item)?.1);
    }
    for (events, st) in edges {
        stats.add(st);
        for f in events {
            counts.add_event(&f.action, f.failed);
        }
    }
    Ok((counts, stats))
}

/// [`dim_counts`] as a trail's summary.
pub async fn trail_summary(
    store: &Store,
    org_id: &OrgId,
    dim: &Dim,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<TrailSummary, StoreError> {
    let (counts, _) = dim_counts(store, org_id, dim, from, to).await?;
    Ok(TrailSummary::new(from, to, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn p(q: &[(&str, &str)]) -> Result<SummaryParams, Error> {
        let pairs: Vec<(String, String)> = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SummaryParams::parse(&pairs, datetime!(2026-05-22 10:00 UTC), 365)
    }

    fn field(r: Result<SummaryParams, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn defaults_to_the_last_30_days() {
        let s = p(&[]).unwrap();
        assert_eq!(s.to, datetime!(2026-05-22 10:00 UTC));
        assert_eq!(s.from, datetime!(2026-04-22 10:00 UTC));
        assert_eq!(s.top, 10);
        let s = p(&[("to", "2026-02-01T00:00:00Z"), ("top", "3")]).unwrap();
        assert_eq!(s.from, datetime!(2026-01-02 0:00 UTC));
    }

    #[test]
    fn bad_parameters_are_named() {
        assert_eq!(
            field(p(&[
                ("from", "2026-05-02T00:00:00Z"),
                ("to", "2026-05-01T00:00:00Z")
            ])),
            "from"
        );
        assert_eq!(
            field(p(&[
                ("from", "2024-01-01T00:00:00Z"),
                ("to", "2026-05-01T00:00:00Z")
            ])),
            "from",
            "longer than the retention"
        );
        assert_eq!(field(p(&[("to", "soon")])), "to");
        assert_eq!(field(p(&[("top", "0")])), "top");
        assert_eq!(field(p(&[("top", "101")])), "top");
        assert_eq!(field(p(&[("action", "read")])), "action");
        assert_eq!(field(p(&[("top", "1"), ("top", "2")])), "top");
    }

    #[test]
    fn top_is_by_count_then_key() {
        let m = HashMap::from([
            ("b".to_string(), 5),
            ("a".to_string(), 5),
            ("c".to_string(), 9),
        ]);
        let t = top_n(m, 2);
        assert_eq!(t, vec![("c".to_string(), 9), ("a".to_string(), 5)]);
    }
}
