//! Where the summary counters live and which of them a time range reads (pure logic).
//!
//! Counters are kept per org at three grains, all in the config table:
//! - **day**: partition `SUM#{org}#D#{YYYY-MM}`, sort key `{DD}#{dimension}`;
//! - **hour**: partition `SUM#{org}#H#{YYYY-MM-DD}`, sort key `{HH}#{dimension}`;
//! - **minute**: partition `SUM#{org}#M#{YYYY-MM-DDTHH}`, sort key `{MM}#{dimension}`;
//!
//! where the dimension is `t` (the org's totals), `i#{identity}` or `r#{len(type)}:{type}:{id}`
//! (one resource; the length prefix keeps `type`/`id` pairs containing `:` or `#` apart).
//! Every counter item holds `c` (events), `f` (failed events) and `a:{action}` (events per
//! action). A month's days, a day's hours and an hour's minutes are each one partition, so any
//! run of whole days, hours or minutes is one Query. What is left of a range at its ends, less
//! than a minute on each side, is summed from the events themselves (an index Query bounded by
//! two minutes of the org's events).

use time::{Duration, OffsetDateTime, Time, UtcOffset};

use crate::model::event::sortable_time;

/// What a counter item counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// All of the org's events.
    Total,
    /// One identity's (`actor.user_id`) events.
    Identity(String),
    /// One resource's (`resource.type`, `resource.id`) events.
    Resource(String, String),
}

impl Dim {
    /// The dimension part of a counter's sort key.
    pub fn sk_suffix(&self) -> String {
        match self {
            Dim::Total => "t".into(),
            Dim::Identity(id) => format!("i#{id}"),
            Dim::Resource(t, id) => format!("r#{}:{t}:{id}", t.len()),
        }
    }
}

/// The grain of a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grain {
    /// One UTC minute.
    Minute,
    /// One UTC hour.
    Hour,
    /// One UTC day.
    Day,
}

/// Partition of the counters of `grain` that hold `ts_key` (a sortable time,
/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, or anything starting like one).
pub fn counter_pk(org_id: &str, grain: Grain, ts_key: &str) -> String {
    match grain {
        Grain::Day => format!("SUM#{org_id}#D#{}", &ts_key[..7]),
        Grain::Hour => format!("SUM#{org_id}#H#{}", &ts_key[..10]),
        Grain::Minute => format!("SUM#{org_id}#M#{}", &ts_key[..13]),
    }
}

/// The bucket part of a counter's sort key: `DD` for days, `HH` for hours, `MM` for minutes.
pub fn bucket_prefix(grain: Grain, ts_key: &str) -> &str {
    match grain {
        Grain::Day => &ts_key[8..10],
        Grain::Hour => &ts_key[11..13],
        Grain::Minute => &ts_key[14..16],
    }
}

impl Grain {
    /// Every grain an event is counted at.
    pub const ALL: [Grain; 3] = [Grain::Minute, Grain::Hour, Grain::Day];

    /// The length of one bucket.
    pub fn step(self) -> Duration {
        match self {
            Grain::Minute => Duration::MINUTE,
            Grain::Hour => Duration::HOUR,
            Grain::Day => Duration::DAY,
        }
    }

    /// How many leading characters of a sortable time name the bucket's partition.
    fn partition_len(self) -> usize {
        match self {
            Grain::Day => 7,
            Grain::Hour => 10,
            Grain::Minute => 13,
        }
    }
}

/// The full key of one counter.
pub fn counter_key(org_id: &str, grain: Grain, ts_key: &str, dim: &Dim) -> (String, String) {
    (
        counter_pk(org_id, grain, ts_key),
        format!("{}#{}", bucket_prefix(grain, ts_key), dim.sk_suffix()),
    )
}

/// Whether `ts_key` is long enough to be a sortable time (`YYYY-MM-DDTHH:MM…`).
pub fn is_time_key(ts_key: &str) -> bool {
    let b = ts_key.as_bytes();
    b.len() >= 16
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15]
            .iter()
            .all(|i| b[*i].is_ascii_digit())
}

fn utc(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(UtcOffset::UTC)
}

/// `t` rounded down to its UTC minute.
pub fn floor_minute(t: OffsetDateTime) -> OffsetDateTime {
    let t = utc(t);
    t.replace_time(Time::MIDNIGHT)
        + Duration::hours(i64::from(t.hour()))
        + Duration::minutes(i64::from(t.minute()))
}

/// `t` rounded up to a UTC minute.
pub fn ceil_minute(t: OffsetDateTime) -> OffsetDateTime {
    let f = floor_minute(t);
    if f == t {
        f
    } else {
        f + Duration::MINUTE
    }
}

/// `t` rounded down to its UTC hour.
pub fn floor_hour(t: OffsetDateTime) -> OffsetDateTime {
    let t = utc(t);
    t.replace_time(Time::MIDNIGHT) + Duration::hours(i64::from(t.hour()))
}

/// `t` rounded up to a UTC hour.
pub fn ceil_hour(t: OffsetDateTime) -> OffsetDateTime {
    let f = floor_hour(t);
    if f == t {
        f
    } else {
        f + Duration::HOUR
    }
}

/// `t` rounded down to its UTC day.
pub fn floor_day(t: OffsetDateTime) -> OffsetDateTime {
    utc(t).replace_time(Time::MIDNIGHT)
}

/// `t` rounded up to a UTC day.
pub fn ceil_day(t: OffsetDateTime) -> OffsetDateTime {
    let f = floor_day(t);
    if f == t {
        f
    } else {
        f + Duration::DAY
    }
}

/// A run of whole buckets of one partition: one Query (`lo`..`hi` are sort-key bounds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRun {
    /// The grain.
    pub grain: Grain,
    /// Sortable time of the first bucket (the partition and prefixes derive from it).
    pub first: String,
    /// Sortable time of the last bucket (same partition as `first`).
    pub last: String,
}

impl BucketRun {
    /// The partition the run lives in.
    pub fn pk(&self, org_id: &str) -> String {
        counter_pk(org_id, self.grain, &self.first)
    }

    /// Sort-key bounds (inclusive) covering every dimension of every bucket of the run.
    pub fn sk_bounds(&self) -> (String, String) {
        (
            format!("{}#", bucket_prefix(self.grain, &self.first)),
            // '$' sorts right after '#': above every "{last}#…" key, below the next bucket.
            format!("{}$", bucket_prefix(self.grain, &self.last)),
        )
    }

    /// The sortable start time of each bucket of the run.
    pub fn buckets(&self) -> Vec<String> {
        let parse = |s: &str| {
            time::PrimitiveDateTime::parse(
                &s[..19],
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
            )
            .map(|p| p.assume_utc())
        };
        let (Ok(mut t), Ok(last)) = (parse(&self.first), parse(&self.last)) else {
            return vec![];
        };
        let step = self.grain.step();
        let mut out = Vec::new();
        while t <= last {
            out.push(sortable_time(t));
            t += step;
        }
        out
    }
}

/// A slice `[from, to)` of one minute, summed from the events themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Inclusive lower bound.
    pub from: OffsetDateTime,
    /// Exclusive upper bound.
    pub to: OffsetDateTime,
}

/// Which counters and events sum to exactly the events of `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangePlan {
    /// Runs of whole days.
    pub days: Vec<BucketRun>,
    /// Runs of whole hours outside those days.
    pub hours: Vec<BucketRun>,
    /// Runs of whole minutes outside those hours.
    pub minutes: Vec<BucketRun>,
    /// Sub-minute slices at the ends (at most two).
    pub edges: Vec<Edge>,
}

impl RangePlan {
    /// Every run of counters the plan reads, longest grain first.
    pub fn runs(&self) -> impl Iterator<Item = &BucketRun> {
        self.days.iter().chain(&self.hours).chain(&self.minutes)
    }
}

/// Groups consecutive buckets `[from, to)` of `step` into runs that stay in one partition.
fn runs(grain: Grain, from: OffsetDateTime, to: OffsetDateTime) -> Vec<BucketRun> {
    let step = grain.step();
    let n = grain.partition_len();
    let same_partition = |a: &str, b: &str| a[..n] == b[..n];
    let mut out: Vec<BucketRun> = Vec::new();
    let mut t = from;
    while t < to {
        let key = sortable_time(t);
        match out.last_mut() {
            Some(run) if same_partition(&run.first, &key) => run.last = key,
            _ => out.push(BucketRun {
                grain,
                first: key.clone(),
                last: key,
            }),
        }
        t += step;
    }
    out
}

/// Splits `[from, to)` into whole days, whole hours, whole minutes and sub-minute edges.
pub fn plan(from: OffsetDateTime, to: OffsetDateTime) -> RangePlan {
    let (from, to) = (utc(from), utc(to));
    let mut p = RangePlan::default();
    if from >= to {
        return p;
    }
    let (fm, tm) = (ceil_minute(from), floor_minute(to));
    if fm > tm {
        // Both ends inside the same minute.
        p.edges.push(Edge { from, to });
        return p;
    }
    if from < fm {
        p.edges.push(Edge { from, to: fm });
    }
    if tm < to {
        p.edges.push(Edge { from: tm, to });
    }
    let (fh, th) = (ceil_hour(fm), floor_hour(tm));
    if fh > th {
        // No whole hour between the minutes.
        p.minutes = runs(Grain::Minute, fm, tm);
        return p;
    }
    p.minutes = runs(Grain::Minute, fm, fh);
    p.minutes.extend(runs(Grain::Minute, th, tm));
    let (fd, td) = (ceil_day(fh), floor_day(th));
    if fd < td {
        p.days = runs(Grain::Day, fd, td);
        p.hours = runs(Grain::Hour, fh, fd);
        p.hours.extend(runs(Grain::Hour, td, th));
    } else {
        p.hours = runs(Grain::Hour, fh, th);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn keys() {
        let ts = "2026-05-22T10:30:00.000000000Z";
        assert_eq!(
            counter_key("org_1", Grain::Day, ts, &Dim::Total),
            ("SUM#org_1#D#2026-05".into(), "22#t".into())
        );
        assert_eq!(
            counter_key("org_1", Grain::Hour, ts, &Dim::Identity("sa:x".into())),
            ("SUM#org_1#H#2026-05-22".into(), "10#i#sa:x".into())
        );
        assert_eq!(
            Dim::Resource("secret".into(), "a/b".into()).sk_suffix(),
            "r#6:secret:a/b"
        );
        // A type containing the separator cannot collide with another (type, id) pair.
        assert_ne!(
            Dim::Resource("a:b".into(), "c".into()).sk_suffix(),
            Dim::Resource("a".into(), "b:c".into()).sk_suffix()
        );
        assert_eq!(
            counter_key("org_1", Grain::Minute, ts, &Dim::Total),
            ("SUM#org_1#M#2026-05-22T10".into(), "30#t".into())
        );
        assert!(is_time_key(ts));
        assert!(!is_time_key("2026-05"));
        assert!(!is_time_key("2026-05-22T10"));
    }

    #[test]
    fn rounding() {
        let t = datetime!(2026-05-22 10:30:00.5 UTC);
        assert_eq!(floor_hour(t), datetime!(2026-05-22 10:00 UTC));
        assert_eq!(ceil_hour(t), datetime!(2026-05-22 11:00 UTC));
        assert_eq!(
            ceil_hour(datetime!(2026-05-22 11:00 UTC)),
            datetime!(2026-05-22 11:00 UTC)
        );
        assert_eq!(ceil_day(t), datetime!(2026-05-23 0:00 UTC));
        assert_eq!(
            floor_day(datetime!(2026-05-22 02:00 +03:00)),
            datetime!(2026-05-21 0:00 UTC)
        );
    }

    #[test]
    fn an_aligned_thirty_day_range_reads_two_month_partitions_and_no_events() {
        let p = plan(
            datetime!(2026-04-20 0:00 UTC),
            datetime!(2026-05-20 0:00 UTC),
        );
        assert!(p.edges.is_empty() && p.hours.is_empty() && p.minutes.is_empty());
        assert_eq!(p.days.len(), 2, "{p:?}");
        assert_eq!(p.days[0].first, "2026-04-20T00:00:00.000000000Z");
        assert_eq!(p.days[0].last, "2026-04-30T00:00:00.000000000Z");
        assert_eq!(p.days[1].first, "2026-05-01T00:00:00.000000000Z");
        assert_eq!(p.days[1].last, "2026-05-19T00:00:00.000000000Z");
        assert_eq!(p.days[0].buckets().len() + p.days[1].buckets().len(), 30);
        assert_eq!(p.days[0].pk("o"), "SUM#o#D#2026-04");
        assert_eq!(p.days[0].sk_bounds(), ("20#".into(), "30$".into()));
    }

    #[test]
    fn an_unaligned_range_has_edges_minutes_hours_and_days() {
        let p = plan(
            datetime!(2026-05-20 22:15:30 UTC),
            datetime!(2026-05-23 01:40:10 UTC),
        );
        assert_eq!(
            p.edges,
            vec![
                Edge {
                    from: datetime!(2026-05-20 22:15:30 UTC),
                    to: datetime!(2026-05-20 22:16 UTC),
                },
                Edge {
                    from: datetime!(2026-05-23 01:40 UTC),
                    to: datetime!(2026-05-23 01:40:10 UTC),
                }
            ]
        );
        let minutes: Vec<String> = p.minutes.iter().flat_map(BucketRun::buckets).collect();
        assert_eq!(minutes.len(), 44 + 40);
        assert_eq!(minutes[0], "2026-05-20T22:16:00.000000000Z");
        assert_eq!(p.minutes[0].pk("o"), "SUM#o#M#2026-05-20T22");
        assert_eq!(p.minutes[0].sk_bounds(), ("16#".into(), "59$".into()));
        let hours: Vec<String> = p.hours.iter().flat_map(BucketRun::buckets).collect();
        assert_eq!(
            hours,
            vec![
                "2026-05-20T23:00:00.000000000Z",
                "2026-05-23T00:00:00.000000000Z"
            ]
        );
        let days: Vec<String> = p.days.iter().flat_map(BucketRun::buckets).collect();
        assert_eq!(
            days,
            vec![
                "2026-05-21T00:00:00.000000000Z",
                "2026-05-22T00:00:00.000000000Z"
            ]
        );
    }

    #[test]
    fn ranges_inside_one_minute_one_hour_or_one_day() {
        let p = plan(
            datetime!(2026-05-20 10:15:01 UTC),
            datetime!(2026-05-20 10:15:59 UTC),
        );
        assert_eq!(p.edges.len(), 1);
        assert_eq!(p.runs().count(), 0);
        let p = plan(
            datetime!(2026-05-20 10:15 UTC),
            datetime!(2026-05-20 10:45 UTC),
        );
        assert!(p.edges.is_empty() && p.days.is_empty() && p.hours.is_empty());
        assert_eq!(p.minutes.len(), 1);
        assert_eq!(p.minutes[0].buckets().len(), 30);
        let p = plan(
            datetime!(2026-05-20 10:00 UTC),
            datetime!(2026-05-20 13:00 UTC),
        );
        assert!(p.edges.is_empty() && p.days.is_empty() && p.minutes.is_empty());
        assert_eq!(p.hours.len(), 1);
        assert_eq!(p.hours[0].buckets().len(), 3);
        assert_eq!(p.hours[0].sk_bounds(), ("10#".into(), "12$".into()));
        assert!(plan(
            datetime!(2026-05-20 10:00 UTC),
            datetime!(2026-05-20 10:00 UTC)
        )
        .edges
        .is_empty());
    }

    /// Every second of a range is covered exactly once by the plan's pieces.
    #[test]
    fn plans_partition_the_range() {
        let cases = [
            (
                datetime!(2026-01-30 23:59:59 UTC),
                datetime!(2026-03-02 00:00:01 UTC),
            ),
            (
                datetime!(2026-02-01 00:00 UTC),
                datetime!(2026-02-01 00:00:01 UTC),
            ),
            (
                datetime!(2026-02-01 05:00 UTC),
                datetime!(2026-02-03 05:00 UTC),
            ),
            (
                datetime!(2025-12-31 23:30 UTC),
                datetime!(2026-01-01 00:30 UTC),
            ),
            (
                datetime!(2026-02-01 05:59:59.5 UTC),
                datetime!(2026-02-01 07:00:00.25 UTC),
            ),
            (
                datetime!(2026-02-01 05:10:30 UTC),
                datetime!(2026-02-01 05:11:10 UTC),
            ),
        ];
        for (from, to) in cases {
            let p = plan(from, to);
            let mut pieces: Vec<(String, String)> = Vec::new();
            for run in p.runs() {
                let len = run.grain.step();
                for b in run.buckets() {
                    let start =
                        OffsetDateTime::parse(&b, &time::format_description::well_known::Rfc3339)
                            .unwrap();
                    pieces.push((b, sortable_time(start + len)));
                }
            }
            for e in &p.edges {
                pieces.push((sortable_time(e.from), sortable_time(e.to)));
            }
            pieces.sort();
            assert_eq!(pieces.first().unwrap().0, sortable_time(from), "{from}");
            assert_eq!(pieces.last().unwrap().1, sortable_time(to), "{to}");
            for w in pieces.windows(2) {
                assert_eq!(w[0].1, w[1].0, "gap or overlap in {from}..{to}: {pieces:?}");
            }
        }
    }
}
