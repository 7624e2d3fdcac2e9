//! Rate-limit counters, shared by every instance of the API, and an org's limit overrides, in
//! the config table.
//!
//! Counter: `RATE#{key_id or org_id}` / `{class}#{window_start}`, with `used` and `expires_at`
//! (the window's end plus a minute; TTL removes old windows). One conditional `UpdateItem`
//! (`ADD used :n` if `used <= limit - n`) takes from it, so a request costs one write against
//! its key's counter and one against its org's: 2 WRU (the items are far below 1 KB). A refused
//! write makes the process remember the counter as spent until its window ends, so a flood of
//! refused requests costs no further writes on that instance.
//!
//! Overrides: `ORG#{org_id}` / `RATE_LIMITS`, one number attribute per overridden field of
//! [`LimitOverrides`], written by the operator (`auditctl org limits`). A process reads an
//! org's overrides at most once per [`SETTINGS_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

use super::{conditional, n, s, Item, Store};
use crate::error::StoreError;
use relay_core::error::Error;
use relay_core::limits::{LimitClass, LimitOverrides, RateLimits, Window, REPLAY_WINDOW_SECS};
use relay_core::model::ids::{KeyId, OrgId};

/// How long a process trusts the overrides it read for an org: an operator's change takes
/// effect within this time on every instance.
pub const SETTINGS_TTL: Duration = Duration::from_secs(30);
/// Sort key of the overrides item.
const OVERRIDES_SK: &str = "RATE_LIMITS";
/// Most spent counters or org settings a process remembers before it starts over.
const CACHE_CAPACITY: usize = 10_000;
/// The replay budget's counter class.
const REPLAY: &str = "replay";

/// A request or replay the limits refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Which limit, in words.
    pub what: String,
    /// Whole seconds until the refusing window is over.
    pub retry_after_secs: u64,
}

impl From<Refused> for Error {
    fn from(r: Refused) -> Self {
        Error::RateLimited {
            what: r.what,
            retry_after_secs: r.retry_after_secs,
        }
    }
}

/// What a process remembers about limits: the defaults, each org's limits as last read, and
/// the counters it has seen refuse (until their window ends).
#[derive(Debug, Clone)]
pub struct LimitState {
    defaults: RateLimits,
    inner: Arc<Mutex<Remembered>>,
}

#[derive(Debug, Default)]
struct Remembered {
    settings: HashMap<OrgId, (Instant, RateLimits)>,
    spent: HashMap<String, u64>,
}

impl LimitState {
    /// A state with `defaults` for orgs without overrides.
    pub fn new(defaults: RateLimits) -> Self {
        LimitState {
            defaults,
            inner: Arc::default(),
        }
    }

    fn cached_settings(&self, org_id: &OrgId) -> Option<RateLimits> {
        let inner = self.inner.lock().ok()?;
        let (read_at, limits) = inner.settings.get(org_id)?;
        (read_at.elapsed() < SETTINGS_TTL).then_some(*limits)
    }

    fn remember_settings(&self, org_id: &OrgId, limits: RateLimits) {
        if let Ok(mut inner) = self.inner.lock() {
            if inner.settings.len() >= CACHE_CAPACITY {
                inner.settings.clear();
            }
            inner
                .settings
                .insert(org_id.clone(), (Instant::now(), limits));
        }
    }

    /// The end of the window `counter` is known to be spent in, if it is and `now` is in it.
    fn spent_until(&self, counter: &str, now: u64) -> Option<u64> {
        let inner = self.inner.lock().ok()?;
        inner.spent.get(counter).copied().filter(|end| now < *end)
    }

    fn remember_spent(&self, counter: String, end: u64, now: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            if inner.spent.len() >= CACHE_CAPACITY {
                inner.spent.retain(|_, e| now < *e);
                if inner.spent.len() >= CACHE_CAPACITY {
                    inner.spent.clear();
                }
            }
            inner.spent.insert(counter, end);
        }
    }
}

/// One counter: a subject (key or org), a class, a window.
struct Counter<'a> {
    subject: &'a str,
    class: &'static str,
    window: Window,
}

impl Counter<'_> {
    fn id(&self) -> String {
        format!("{}#{}#{}", self.subject, self.class, self.window.start)
    }

    /// Its item's key: `RATE#{subject}` / `{class}#{window start}`.
    fn key(&self) -> Item {
        Item::from([
            ("pk".to_string(), s(format!("RATE#{}", self.subject))),
            (
                "sk".to_string(),
                s(format!("{}#{}", self.class, self.window.start)),
            ),
        ])
    }
}

fn overrides_from(item: &Item) -> LimitOverrides {
    let mut o = LimitOverrides::default();
    for (name, _) in LimitOverrides::default().fields() {
        let value = match item.get(name) {
            Some(AttributeValue::N(v)) => v.parse().ok(),
            _ => None,
        };
        o.set(name, value);
    }
    o
}

impl Store {
    /// The limits in force for `org_id`: the defaults with the org's overrides, as read at most
    /// [`SETTINGS_TTL`] ago.
    pub async fn rate_limits(&self, org_id: &OrgId) -> Result<RateLimits, StoreError> {
        if let Some(limits) = self.limits.cached_settings(org_id) {
            return Ok(limits);
        }
        let limits = match self.get_limit_overrides(org_id).await? {
            Some(o) => self.limits.defaults.with(&o),
            None => self.limits.defaults,
        };
        self.limits.remember_settings(org_id, limits);
        Ok(limits)
    }

    /// Charges one request of `class` to the key and to its org (`now` in epoch seconds);
    /// `Some` when either budget is spent. The key's counter is charged first, so a request the
    /// org's budget refuses still counts against its key but never against the org.
    pub async fn charge_request(
        &self,
        key_id: &KeyId,
        org_id: &OrgId,
        class: LimitClass,
        now: u64,
    ) -> Result<Option<Refused>, StoreError> {
        let limits = self.rate_limits(org_id).await?;
        let budget = limits.budget(class);
        let window = Window::holding(now, limits.window.as_secs());
        let key_counter = Counter {
            subject: key_id.as_str(),
            class: class.as_str(),
            window,
        };
        let org_counter = Counter {
            subject: org_id.as_str(),
            class: class.as_str(),
            window,
        };
        let checks = [
            (key_counter, budget.per_key, "per key"),
            (org_counter, budget.per_org, "per org"),
        ];
        // Refuse without a write when this process already saw either counter spent.
        for (counter, limit, scope) in &checks {
            if self.limits.spent_until(&counter.id(), now).is_some() {
                return Ok(Some(refused(class.as_str(), *limit, scope, window, now)));
            }
        }
        for (counter, limit, scope) in &checks {
            if !self.take(counter, 1, *limit, now).await? {
                return Ok(Some(refused(class.as_str(), *limit, scope, window, now)));
            }
        }
        Ok(None)
    }

    /// Room left in the org's replay budget this hour (`now` in epoch seconds); an error
    /// answer when none is left.
    pub async fn replay_room(&self, org_id: &OrgId, now: u64) -> Result<u64, Error> {
        let limits = self.rate_limits(org_id).await?;
        let limit = limits.replay_messages_per_hour;
        let window = Window::holding(now, REPLAY_WINDOW_SECS);
        let counter = Counter {
            subject: org_id.as_str(),
            class: REPLAY,
            window,
        };
        let spent = || refused_replay(limit, window, now);
        if self.limits.spent_until(&counter.id(), now).is_some() {
            return Err(spent().into());
        }
        let used = self.counter_used(&counter).await?;
        if used >= limit {
            self.limits.remember_spent(counter.id(), window.end, now);
            return Err(spent().into());
        }
        Ok(limit - used)
    }

    /// Takes `count` replayed messages from the org's budget this hour; `Some` (and nothing
    /// taken) when they do not fit.
    pub async fn charge_replay(
        &self,
        org_id: &OrgId,
        count: u64,
        now: u64,
    ) -> Result<Option<Refused>, StoreError> {
        if count == 0 {
            return Ok(None);
        }
        let limit = self.rate_limits(org_id).await?.replay_messages_per_hour;
        let window = Window::holding(now, REPLAY_WINDOW_SECS);
        let counter = Counter {
            subject: org_id.as_str(),
            class: REPLAY,
            window,
        };
        if self.take(&counter, count, limit, now).await? {
            Ok(None)
        } else {
            Ok(Some(refused_replay(limit, window, now)))
        }
    }

    /// Adds `count` to `counter` unless that would take it over `limit`; `false` (and the
    /// counter remembered as spent when not even one more fits) otherwise.
    async fn take(
        &self,
        counter: &Counter<'_>,
        count: u64,
        limit: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        if count > limit {
            return Ok(false);
        }
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .set_key(Some(counter.key()))
            .update_expression("ADD #used :count SET #exp = :exp")
            .condition_expression("attribute_not_exists(#used) OR #used <= :room")
            .expression_attribute_names("#used", "used")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":count", n(count))
            .expression_attribute_values(":room", n(limit - count))
            .expression_attribute_values(":exp", n(counter.window.end + 60))
            .send()
            .await;
        let taken = conditional(res)?.is_some();
        if !taken && count == 1 {
            self.limits
                .remember_spent(counter.id(), counter.window.end, now);
        }
        Ok(taken)
    }

    async fn counter_used(&self, counter: &Counter<'_>) -> Result<u64, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .set_key(Some(counter.key()))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(match out.item().and_then(|i| i.get("used")) {
            Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
            _ => 0,
        })
    }

    /// The org's limit overrides, `None` when the operator set none.
    pub async fn get_limit_overrides(
        &self,
        org_id: &OrgId,
    ) -> Result<Option<LimitOverrides>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", s(format!("ORG#{org_id}")))
            .key("sk", s(OVERRIDES_SK))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item().map(overrides_from))
    }

    /// Replaces the org's overrides (an empty set removes them).
    pub async fn put_limit_overrides(
        &self,
        org_id: &OrgId,
        overrides: &LimitOverrides,
        now: &str,
    ) -> Result<(), StoreError> {
        if overrides == &LimitOverrides::default() {
            self.ddb
                .delete_item()
                .table_name(&self.config_table)
                .key("pk", s(format!("ORG#{org_id}")))
                .key("sk", s(OVERRIDES_SK))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            return Ok(());
        }
        let mut item: Item = [
            ("pk", s(format!("ORG#{org_id}"))),
            ("sk", s(OVERRIDES_SK)),
            ("org_id", s(org_id.as_str())),
            ("updated_at", s(now)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (name, value) in overrides.fields() {
            if let Some(v) = value {
                item.insert(name.to_string(), n(v));
            }
        }
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }
}

fn refused(class: &str, limit: u64, scope: &str, window: Window, now: u64) -> Refused {
    Refused {
        what: format!(
            "{limit} {class} requests {scope} per {} s",
            window.end - window.start
        ),
        retry_after_secs: window.retry_after(now),
    }
}

fn refused_replay(limit: u64, window: Window, now: u64) -> Refused {
    Refused {
        what: format!("{limit} replayed messages per org per hour"),
        retry_after_secs: window.retry_after(now),
    }
}
