//! The set of actions that occur in each org's trail (`GET /v1/audit/actions`, the console's
//! event-type filter).
//!
//! Item: `ORG#{org_id}` / `ACTION#{action}` in the config table, with `first_seen_at`. It is
//! written by a conditional put only when it does not exist, and a process remembers which
//! (org, action) pairs it has written or seen refused, so a busy ingest path pays for one write
//! per action per cold start, not per event. Listing is one Query on the org's partition.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::stream::{self, TryStreamExt};

use super::{conditional, get_s, s, Store};
use crate::error::StoreError;
use relay_core::model::ids::OrgId;

/// Prefix of the sort key of action items.
const SK_PREFIX: &str = "ACTION#";
/// Most (org, action) pairs a process remembers before it starts over (bounds its memory to a
/// few MB; forgetting only costs one more conditional put per pair).
const SEEN_CAPACITY: usize = 50_000;
/// Most actions `list_actions` returns.
pub const MAX_LISTED_ACTIONS: usize = 1000;

/// The (org, action) pairs this process knows are recorded.
#[derive(Debug, Clone, Default)]
pub struct SeenActions(Arc<Mutex<HashSet<String>>>);

impl SeenActions {
    fn key(org_id: &str, action: &str) -> String {
        format!("{org_id}\u{0}{action}")
    }

    /// Whether the pair is known to be recorded.
    pub fn contains(&self, org_id: &str, action: &str) -> bool {
        self.0
            .lock()
            .map(|set| set.contains(&Self::key(org_id, action)))
            .unwrap_or(false)
    }

    /// Remembers a recorded pair.
    pub fn insert(&self, org_id: &str, action: &str) {
        if let Ok(mut set) = self.0.lock() {
            if set.len() >= SEEN_CAPACITY {
                set.clear();
            }
            set.insert(Self::key(org_id, action));
        }
    }

    /// How many pairs are remembered.
    pub fn len(&self) -> usize {
        self.0.lock().map(|set| set.len()).unwrap_or(0)
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store {
    /// Makes sure each of `actions` is in the org's action set: a conditional put for each one
    /// this process has not recorded yet (concurrently), nothing for the others. Returns how
    /// many puts were sent. Called before the events are stored, so a stored event's action is
    /// always listed.
    pub async fn record_actions<'a>(
        &self,
        org_id: &OrgId,
        actions: impl IntoIterator<Item = &'a str>,
        now: &str,
    ) -> Result<usize, StoreError> {
        let mut new: Vec<&str> = Vec::new();
        for a in actions {
            if !new.contains(&a) && !self.seen_actions.contains(org_id, a) {
                new.push(a);
            }
        }
        let sent = new.len();
        stream::iter(new.into_iter().map(Ok::<_, StoreError>))
            .try_for_each_concurrent(8, |action| async move {
                let res = self
                    .ddb
                    .put_item()
                    .table_name(&self.config_table)
                    .item("pk", s(format!("ORG#{org_id}")))
                    .item("sk", s(format!("{SK_PREFIX}{action}")))
                    .item("action", s(action))
                    .item("first_seen_at", s(now))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await;
                // Either written now or already there: both mean the action is recorded.
                conditional(res)?;
                self.seen_actions.insert(org_id, action);
                Ok(())
            })
            .await?;
        Ok(sent)
    }

    /// The org's actions in lexical order, at most [`MAX_LISTED_ACTIONS`]; the flag says whether
    /// there are more.
    pub async fn list_actions(&self, org_id: &OrgId) -> Result<(Vec<String>, bool), StoreError> {
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(format!("ORG#{org_id}")))
            .expression_attribute_values(":p", s(SK_PREFIX))
            .projection_expression("#a")
            .expression_attribute_names("#a", "action")
            .into_paginator()
            .items()
            .send();
        let mut actions = Vec::new();
        while actions.len() <= MAX_LISTED_ACTIONS {
            let Some(item) = pages.next().await else {
                break;
            };
            actions.push(get_s(&item.map_err(StoreError::from_sdk)?, "action")?.to_string());
        }
        let more = actions.len() > MAX_LISTED_ACTIONS;
        actions.truncate(MAX_LISTED_ACTIONS);
        Ok((actions, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_pairs_are_per_org_and_bounded() {
        let seen = SeenActions::default();
        seen.insert("org_a", "user.login");
        assert!(seen.contains("org_a", "user.login"));
        assert!(!seen.contains("org_b", "user.login"));
        assert!(!seen.contains("org_a", "user.logout"));
        for i in 0..SEEN_CAPACITY {
            seen.insert("org_a", &format!("a{i}"));
        }
        assert!(seen.len() <= SEEN_CAPACITY);
        assert!(!seen.is_empty());
    }
}
