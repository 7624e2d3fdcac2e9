//! The two delivery lanes, so that one org's slow or failing destinations cannot delay another
//! org's deliveries:
//!
//! * the **fast lane** (the deliveries queue) carries every destination that answers in time;
//! * the **slow lane** (a second queue with its own dead-letter queue and its own small
//!   concurrency) carries the messages of destinations marked slow, and the overflow of an org
//!   over its concurrency cap.
//!
//! A destination is marked slow for [`MARK_FOR`] when an attempt is still running after
//! [`SLOW_AFTER`] (marked while the attempt is in flight, not when it ends) or when an
//! attempt fails, and marked fast when an attempt is delivered within [`SLOW_AFTER`]; the mark
//! is one small item per destination ([`LaneMarks`]), written when it is set or renewed, not
//! per event. The fanout routes the messages of destinations marked slow to the slow lane, and
//! gives a destination with no mark yet (a new one) only [`FAST_ALLOWANCE`] messages per
//! [`ALLOWANCE_WINDOW`] in the fast lane ([`FastAllowance`]): until its first attempts show how
//! it answers, a burst for it cannot queue up ahead of other orgs' messages. The fast lane
//! forwards a message of a destination marked slow to the slow lane without sending it, and
//! the slow lane forwards a message of a destination marked fast back. [`OrgGate`] caps the
//! messages one org has in flight in a process, except those of destinations marked fast (they
//! answer in time, so they cannot hold the workers).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use relay_core::model::ids::OrgId;
use relay_store::lanes::LaneMark;
use relay_store::Store;

/// An attempt still running after this long marks its destination slow.
pub const SLOW_AFTER: Duration = Duration::from_secs(2);
/// How long a mark lasts; a destination still slow when it ends is marked again by its next
/// attempt in the fast lane (one probe per period), or earlier by its slow-lane attempts.
pub const MARK_FOR: Duration = Duration::from_secs(300);
/// How long this process trusts the marks it read (the fanout and the deliverer read them per
/// batch; a pool of one-message batches would otherwise read them per message).
const MARKS_FRESH: Duration = Duration::from_secs(1);
/// Messages of one org in flight at once in the fast lane of one process (an invocation, or
/// the local pool); the rest go to the slow lane. Healthy receivers answer in milliseconds, so
/// only an org whose messages hang reaches it.
pub const ORG_CAP: usize = 4;
/// Messages a destination with no mark may put in the fast lane per [`ALLOWANCE_WINDOW`] from
/// one fanout process; the rest take the slow lane until its attempts mark it.
pub const FAST_ALLOWANCE: u32 = 10;
/// The window of [`FAST_ALLOWANCE`].
pub const ALLOWANCE_WINDOW: Duration = Duration::from_secs(10);

/// Which queue a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The deliveries queue.
    Fast,
    /// The slow deliveries queue.
    Slow,
}

/// Whether the queue of an SQS record's `eventSourceARN` is the one at `queue_url` (an ARN
/// ends in `:{name}`, a URL in `/{name}`).
pub fn same_queue(arn: &str, queue_url: &str) -> bool {
    match (arn.rsplit(':').next(), queue_url.rsplit('/').next()) {
        (Some(a), Some(u)) => !a.is_empty() && a == u,
        _ => false,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters and caches, still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct Cached {
    read_at: Instant,
    until: HashMap<String, (LaneMark, i64)>,
}

/// An org's destinations with a live mark, by lane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marked {
    /// Marked slow.
    pub slow: HashSet<String>,
    /// Marked fast.
    pub fast: HashSet<String>,
}

impl Marked {
    fn of(until: &HashMap<String, (LaneMark, i64)>, now: i64) -> Self {
        let mut m = Marked::default();
        for (d, (mark, u)) in until {
            if *u > now {
                match mark {
                    LaneMark::Slow => m.slow.insert(d.clone()),
                    LaneMark::Fast => m.fast.insert(d.clone()),
                };
            }
        }
        m
    }
}

/// The lane marks of destinations, read through a short per-process cache.
#[derive(Debug, Clone)]
pub struct LaneMarks {
    store: Store,
    cache: Arc<Mutex<HashMap<OrgId, Cached>>>,
}

impl LaneMarks {
    /// Marks kept in `store`.
    pub fn new(store: Store) -> Self {
        LaneMarks {
            store,
            cache: Arc::default(),
        }
    }

    /// The org's destinations marked at `now` (unix seconds). A failed read counts as none
    /// marked: the fast lane then simply tries them.
    pub async fn marked(&self, org: &OrgId, now: i64) -> Marked {
        if let Some(c) = lock(&self.cache).get(org) {
            if c.read_at.elapsed() < MARKS_FRESH {
                return Marked::of(&c.until, now);
            }
        }
        match self.store.lane_marks(org, now).await {
            Ok(until) => {
                let out = Marked::of(&until, now);
                lock(&self.cache).insert(
                    org.clone(),
                    Cached {
                        read_at: Instant::now(),
                        until,
                    },
                );
                out
            }
            Err(e) => {
                tracing::warn!(org_id = %org, error = %e, "reading the lane marks failed");
                Marked::default()
            }
        }
    }

    /// Marks `destination` slow for [`MARK_FOR`] from `now`.
    pub async fn mark(&self, org: &OrgId, destination: &str, now: i64, why: &str) {
        self.set(org, destination, LaneMark::Slow, now, why).await;
    }

    /// Marks `destination` fast for [`MARK_FOR`] from `now` (an attempt was delivered in time).
    pub async fn mark_fast(&self, org: &OrgId, destination: &str, now: i64) {
        self.set(
            org,
            destination,
            LaneMark::Fast,
            now,
            "an attempt was delivered in time",
        )
        .await;
    }

    /// Sets a mark, unless this process knows of the same mark with more than half of
    /// [`MARK_FOR`] left (so a destination that stays as it is costs a write per half period,
    /// not one per event).
    async fn set(&self, org: &OrgId, destination: &str, mark: LaneMark, now: i64, why: &str) {
        let period = i64::try_from(MARK_FOR.as_secs()).unwrap_or(300);
        let known = lock(&self.cache)
            .get(org)
            .and_then(|c| c.until.get(destination).copied());
        if known.is_some_and(|(m, u)| m == mark && u > now + period / 2) {
            return;
        }
        let until = now + period;
        match self.store.mark_lane(org, destination, mark, until).await {
            Ok(()) => {
                tracing::info!(org_id = %org, destination, ?mark, why, "destination marked");
                lock(&self.cache)
                    .entry(org.clone())
                    .or_insert_with(|| Cached {
                        read_at: Instant::now(),
                        until: HashMap::new(),
                    })
                    .until
                    .insert(destination.to_string(), (mark, until));
            }
            Err(e) => {
                tracing::warn!(org_id = %org, destination, error = %e, "marking a destination failed");
            }
        }
    }

    /// Runs `attempt`; if it is still running after [`SLOW_AFTER`], marks the destination
    /// slow while it goes on.
    pub async fn watch<F: Future>(&self, org: &OrgId, destination: &str, attempt: F) -> F::Output {
        let attempt = std::pin::pin!(attempt);
        let mut attempt = attempt;
        tokio::select! {
            out = &mut attempt => return out,
            () = tokio::time::sleep(SLOW_AFTER) => {}
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let ((), out) = tokio::join!(
            self.mark(org, destination, now, "an attempt is still running"),
            attempt
        );
        out
    }

    /// After a delivered attempt that took `took`: marks the destination fast when it
    /// answered within [`SLOW_AFTER`].
    pub async fn delivered(&self, org: &OrgId, destination: &str, took: Duration, now: i64) {
        if took < SLOW_AFTER {
            self.mark_fast(org, destination, now).await;
        }
    }
}

/// (org, destination) → (when its window started, messages taken in it).
type AllowanceWindows = HashMap<(OrgId, String), (Instant, u32)>;

/// What each destination with no mark has left of its fast-lane allowance in this process.
#[derive(Debug, Clone, Default)]
pub struct FastAllowance {
    used: Arc<Mutex<AllowanceWindows>>,
}

impl FastAllowance {
    /// Takes one message of `destination`'s allowance; false when it is spent for this window.
    pub fn take(&self, org: &OrgId, destination: &str) -> bool {
        let mut used = lock(&self.used);
        if used.len() > 10_000 {
            used.retain(|_, (start, _)| start.elapsed() < ALLOWANCE_WINDOW);
        }
        let entry = used
            .entry((org.clone(), destination.to_string()))
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= ALLOWANCE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        if entry.1 >= FAST_ALLOWANCE {
            return false;
        }
        entry.1 += 1;
        true
    }
}

/// Counts each org's messages in flight in this process, up to a cap.
#[derive(Debug, Clone)]
pub struct OrgGate {
    cap: usize,
    inflight: Arc<Mutex<HashMap<OrgId, usize>>>,
}

/// One message of an org in flight; leaving (dropping it) frees the place.
#[derive(Debug)]
pub struct Pass {
    gate: OrgGate,
    org: OrgId,
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut inflight = lock(&self.gate.inflight);
        if let Some(n) = inflight.get_mut(&self.org) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inflight.remove(&self.org);
            }
        }
    }
}

impl OrgGate {
    /// At most `cap` messages per org.
    pub fn new(cap: usize) -> Self {
        OrgGate {
            cap,
            inflight: Arc::default(),
        }
    }

    /// A place for one more message of `org`, if it has fewer than the cap in flight.
    pub fn try_enter(&self, org: &OrgId) -> Option<Pass> {
        let mut inflight = lock(&self.inflight);
        let n = inflight.entry(org.clone()).or_default();
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Pass {
            gate: self.clone(),
            org: org.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_caps_each_org_and_frees_places() {
        let gate = OrgGate::new(2);
        let (a, b): (OrgId, OrgId) = ("org_a".into(), "org_b".into());
        let p1 = gate.try_enter(&a).unwrap();
        let _p2 = gate.try_enter(&a).unwrap();
        assert!(gate.try_enter(&a).is_none());
        // Another org is not affected.
        let _q = gate.try_enter(&b).unwrap();
        drop(p1);
        assert!(gate.try_enter(&a).is_some());
    }

    #[test]
    fn a_destination_without_a_mark_has_a_small_allowance_per_window() {
        let allowance = FastAllowance::default();
        let org: OrgId = "org_a".into();
        let taken = (0..25).filter(|_| allowance.take(&org, "whk_1")).count();
        assert_eq!(taken, usize::try_from(FAST_ALLOWANCE).unwrap());
        // Another destination has its own.
        assert!(allowance.take(&org, "whk_2"));
    }

    #[test]
    fn a_record_arn_names_its_queue() {
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/relay-slow-deliveries";
        assert!(same_queue(
            "arn:aws:sqs:eu-west-1:123456789012:relay-slow-deliveries",
            url
        ));
        assert!(!same_queue(
            "arn:aws:sqs:eu-west-1:123456789012:relay-deliveries",
            url
        ));
        assert!(!same_queue("", url));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quick_attempt_is_not_watched_further() {
        // No store call happens for an attempt that ends in time; the store is never reached.
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let marks = LaneMarks::new(Store::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &relay_core::config::Config::with_prefix("t"),
        ));
        let out = marks
            .watch(&"org_a".into(), "whk_1", async {
                tokio::time::sleep(Duration::from_millis(1900)).await;
                7
            })
            .await;
        assert_eq!(out, 7);
        assert!(lock(&marks.cache).is_empty());
    }
}
