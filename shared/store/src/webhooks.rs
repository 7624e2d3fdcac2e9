//! Webhook endpoints, their attempt log and delivered markers, in the config table; and the
//! replay read of the events table.
//!
//! Items:
//! * `ORG#{org_id}` / `WEBHOOK#{id}`: the endpoint (URL, actions, secrets, state, failure
//!   streak). The fanout lists an org's endpoints with one Query. `secret` and `prev_secret`
//!   are sealed ([`crate::sealing`]) for the org, the endpoint and the field; a string is a
//!   secret stored before sealing existed, sealed by the endpoint's next PATCH or rotation.
//! * `WHATT#{endpoint_id}` / `{attempt id}`: one delivery attempt (`att_` + ULID, so the sort
//!   key orders attempts by time), expiring after [`ATTEMPT_TTL`].
//! * `WHDLV#{endpoint_id}` / `{event_id}#{generation}`: the delivered marker and send lease of
//!   one message, expiring after [`MARKER_TTL`] (longer than SQS keeps any message, DLQ
//!   included).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use futures::StreamExt;

use super::{conditional, get_n, get_s, n, opt_s, s, Item, Store};
use crate::error::StoreError;
use crate::schema::GSI_BY_RECEIVED;
use relay_core::model::ids::{EndpointId, OrgId};
use relay_core::model::webhook::{Attempt, AttemptStatus, Trigger, WebhookEndpoint, WebhookRoute};
use relay_core::shapes::Schema;
use relay_core::signing::WebhookSecret;

/// How long attempts are kept.
pub const ATTEMPT_TTL: i64 = 30 * 86_400;

fn endpoint_key(org_id: &OrgId, id: &EndpointId) -> (AttributeValue, AttributeValue) {
    (s(format!("ORG#{org_id}")), s(format!("WEBHOOK#{id}")))
}

fn item(pairs: Vec<(&str, AttributeValue)>) -> Item {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn opt_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// The field the current secret (`secret`) is sealed for (part of its associated data).
const SECRET_FIELD: &str = "secret";
/// The field the previous secret (`prev_secret`) is sealed for.
const PREVIOUS_FIELD: &str = "previous_secret";

/// The org and endpoint an item is stored under, from its key rather than its attributes: a
/// whole item copied under another key does not open there either.
fn stored_under(item: &Item) -> Result<(OrgId, &str), StoreError> {
    let org = get_s(item, "pk")?
        .strip_prefix("ORG#")
        .ok_or_else(|| StoreError::Corrupt("webhook key".into()))?;
    let id = get_s(item, "sk")?
        .strip_prefix("WEBHOOK#")
        .ok_or_else(|| StoreError::Corrupt("webhook key".into()))?;
    Ok((org.into(), id))
}

/// An endpoint item's action patterns.
fn actions_of(item: &Item) -> Result<Vec<String>, StoreError> {
    match item.get("actions") {
        Some(AttributeValue::L(list)) => {
            Ok(list.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        }
        _ => Err(StoreError::Corrupt("webhook without actions".into())),
    }
}

fn endpoint_from_item(
    item: &Item,
    secret: WebhookSecret,
    previous_secret: Option<(WebhookSecret, i64)>,
) -> Result<WebhookEndpoint, StoreError> {
    let actions = actions_of(item)?;
    Ok(WebhookEndpoint {
        id: get_s(item, "id")?.into(),
        org_id: get_s(item, "org_id")?.into(),
        url: get_s(item, "url")?.to_string(),
        description: opt_s(item, "description"),
        enabled: matches!(item.get("enabled"), Some(AttributeValue::Bool(true))),
        actions,
        // Endpoints saved before shapes existed send canonical events.
        schema: opt_s(item, "schema")
            .and_then(|v| Schema::parse(&v))
            .unwrap_or(Schema::Canonical),
        secret,
        previous_secret,
        secret_rotated_at: opt_s(item, "secret_rotated_at"),
        consecutive_exhausted: opt_n(item, "consecutive_exhausted").unwrap_or(0),
        failing_since: opt_n(item, "failing_since"),
        paused_at: opt_s(item, "paused_at"),
        disabled_at: opt_s(item, "disabled_at"),
        status_reason: opt_s(item, "status_reason"),
        created_at: get_s(item, "created_at")?.to_string(),
        updated_at: get_s(item, "updated_at")?.to_string(),
    })
}

fn endpoint_item(e: &WebhookEndpoint, sealed_secret: AttributeValue) -> Item {
    let (pk, sk) = endpoint_key(&e.org_id, &e.id);
    let mut it = item(vec![
        ("pk", pk),
        ("sk", sk),
        ("kind", s("webhook")),
        ("id", s(&e.id)),
        ("org_id", s(&e.org_id)),
        ("url", s(&e.url)),
        ("enabled", AttributeValue::Bool(e.enabled)),
        (
            "actions",
            AttributeValue::L(e.actions.iter().map(s).collect()),
        ),
        ("schema", s(e.schema.as_str())),
        ("secret", sealed_secret),
        ("consecutive_exhausted", n(e.consecutive_exhausted)),
        ("created_at", s(&e.created_at)),
        ("updated_at", s(&e.updated_at)),
    ]);
    if let Some(d) = &e.description {
        it.insert("description".into(), s(d));
    }
    it
}

fn attempt_item(a: &Attempt, expires_at: i64) -> Item {
    let mut it = item(vec![
        ("pk", s(format!("WHATT#{}", a.endpoint_id))),
        ("sk", s(&a.id)),
        ("event_id", s(&a.event_id)),
        ("attempt", n(a.attempt)),
        ("trigger", s(a.trigger.as_str())),
        ("at", s(&a.at)),
        ("status", s(a.status.as_str())),
        ("expires_at", n(expires_at)),
    ]);
    if let Some(r) = &a.replay_id {
        it.insert("replay_id".into(), s(r));
    }
    if let Some(c) = a.status_code {
        it.insert("status_code".into(), n(c));
    }
    if let Some(l) = a.latency_ms {
        it.insert("latency_ms".into(), n(l));
    }
    if let Some(e) = &a.error {
        it.insert("error".into(), s(e));
    }
    if let Some(t) = &a.next_attempt_at {
        it.insert("next_attempt_at".into(), s(t));
    }
    it
}

fn attempt_from_item(it: &Item) -> Result<Attempt, StoreError> {
    let pk = get_s(it, "pk")?;
    Ok(Attempt {
        id: get_s(it, "sk")?.to_string(),
        endpoint_id: pk.strip_prefix("WHATT#").unwrap_or(pk).into(),
        event_id: get_s(it, "event_id")?.to_string(),
        attempt: get_n(it, "attempt")?,
        trigger: Trigger::parse(get_s(it, "trigger")?)
            .ok_or_else(|| StoreError::Corrupt("attempt trigger".into()))?,
        replay_id: opt_s(it, "replay_id"),
        at: get_s(it, "at")?.to_string(),
        status: AttemptStatus::parse(get_s(it, "status")?)
            .ok_or_else(|| StoreError::Corrupt("attempt status".into()))?,
        status_code: opt_n(it, "status_code"),
        latency_ms: opt_n(it, "latency_ms"),
        error: opt_s(it, "error"),
        next_attempt_at: opt_s(it, "next_attempt_at"),
    })
}

/// What the health report reads of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    /// When it was made (RFC 3339).
    pub at: String,
    /// How it ended.
    pub status: AttemptStatus,
    /// What started it.
    pub trigger: Trigger,
}

/// Changes to an endpoint's configuration (`PATCH`); `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointChanges {
    /// New URL (already validated).
    pub url: Option<String>,
    /// New description; `Some(None)` removes it.
    pub description: Option<Option<String>>,
    /// New action patterns (already validated).
    pub actions: Option<Vec<String>>,
    /// New body shape.
    pub schema: Option<Schema>,
    /// `true` resumes a paused or disabled endpoint and clears its failure streak; `false`
    /// disables it.
    pub enabled: Option<bool>,
}

pub use super::markers::{Claim, MARKER_TTL};

/// Where a replay's read of the events stopped.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplayPosition {
    /// `rcv_sk` of the last event read.
    pub r: String,
    /// Its event id.
    pub e: String,
}

/// One event read for a replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayEvent {
    /// Event id.
    pub event_id: String,
    /// Action (for the endpoint's filter).
    pub action: String,
    /// Canonical JSON.
    pub doc: String,
}

impl Store {
    async fn open_secret(
        &self,
        org_id: &OrgId,
        id: &str,
        field: &str,
        stored: &AttributeValue,
    ) -> Result<WebhookSecret, StoreError> {
        let raw = self.open_value(org_id, id, field, stored).await?;
        let text =
            std::str::from_utf8(&raw).map_err(|e| StoreError::Corrupt(format!("{field}: {e}")))?;
        WebhookSecret::parse(text).map_err(|e| StoreError::Corrupt(format!("{field}: {e}")))
    }

    async fn seal_secret(
        &self,
        org_id: &OrgId,
        id: &EndpointId,
        field: &str,
        secret: &WebhookSecret,
    ) -> Result<AttributeValue, StoreError> {
        self.seal_value(org_id, id.as_str(), field, secret.expose().as_bytes())
            .await
    }

    /// An endpoint from its item, its secrets opened.
    async fn endpoint_from_stored(&self, item: &Item) -> Result<WebhookEndpoint, StoreError> {
        let (org_id, id) = stored_under(item)?;
        let stored = item
            .get("secret")
            .ok_or_else(|| StoreError::Corrupt("webhook without secret".into()))?;
        let secret = self.open_secret(&org_id, id, SECRET_FIELD, stored).await?;
        let previous_secret = match (item.get("prev_secret"), opt_n(item, "prev_secret_until")) {
            (Some(prev), Some(until)) => Some((
                self.open_secret(&org_id, id, PREVIOUS_FIELD, prev).await?,
                until,
            )),
            _ => None,
        };
        endpoint_from_item(item, secret, previous_secret)
    }

    /// `endpoint_from_stored` of an optional item (a write's returned attributes).
    async fn endpoint_from_opt(
        &self,
        item: Option<&Item>,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        match item {
            Some(it) => Ok(Some(self.endpoint_from_stored(it).await?)),
            None => Ok(None),
        }
    }

    /// Seals the secrets of an endpoint written before sealing existed (string attributes),
    /// unless it changed meanwhile; what its next configuration write does.
    async fn seal_legacy_secrets(
        &self,
        e: &WebhookEndpoint,
        item: &Item,
    ) -> Result<(), StoreError> {
        let Some(AttributeValue::S(clear)) = item.get("secret") else {
            return Ok(());
        };
        let (pk, sk) = endpoint_key(&e.org_id, &e.id);
        let mut set = vec!["secret = :sealed"];
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk)
            .key("sk", sk)
            .condition_expression("secret = :clear")
            .expression_attribute_values(":clear", s(clear))
            .expression_attribute_values(
                ":sealed",
                self.seal_secret(&e.org_id, &e.id, SECRET_FIELD, &e.secret)
                    .await?,
            );
        if let (Some(AttributeValue::S(_)), Some((prev, _))) =
            (item.get("prev_secret"), &e.previous_secret)
        {
            set.push("prev_secret = :prev");
            req = req.expression_attribute_values(
                ":prev",
                self.seal_secret(&e.org_id, &e.id, PREVIOUS_FIELD, prev)
                    .await?,
            );
        }
        conditional(
            req.update_expression(format!("SET {}", set.join(", ")))
                .send()
                .await,
        )?;
        Ok(())
    }

    /// Stores a new endpoint.
    pub async fn put_new_webhook(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .set_item(Some(endpoint_item(
                e,
                self.seal_secret(&e.org_id, &e.id, SECRET_FIELD, &e.secret)
                    .await?,
            )))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// The org's endpoint items, oldest first, with only `projection`'s attributes if given.
    fn endpoint_items(
        &self,
        org_id: &OrgId,
        consistent: bool,
        projection: Option<&str>,
    ) -> impl futures::Stream<Item = Result<Item, StoreError>> {
        let pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :w)")
            .expression_attribute_values(":pk", s(format!("ORG#{org_id}")))
            .expression_attribute_values(":w", s("WEBHOOK#"))
            .consistent_read(consistent)
            .set_projection_expression(projection.map(String::from))
            .into_paginator()
            .items()
            .send();
        futures::stream::unfold(pages, |mut pages| async move {
            let next = pages.next().await?;
            Some((next.map_err(StoreError::from_sdk), pages))
        })
    }

    /// The org's endpoints, oldest first. `consistent` for the API (read-your-writes).
    pub async fn list_webhooks(
        &self,
        org_id: &OrgId,
        consistent: bool,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let mut out = Vec::new();
        let items = self.endpoint_items(org_id, consistent, None);
        futures::pin_mut!(items);
        while let Some(it) = items.next().await {
            out.push(self.endpoint_from_stored(&it?).await?);
        }
        Ok(out)
    }

    /// The org's endpoints as the fanout routes to them: only the id, the action patterns and
    /// the state are read (a projection, eventually consistent), so routing neither reads nor
    /// opens a secret.
    pub async fn list_webhook_routes(
        &self,
        org_id: &OrgId,
    ) -> Result<Vec<WebhookRoute>, StoreError> {
        let mut out = Vec::new();
        let items = self.endpoint_items(org_id, false, Some("id, actions, enabled, paused_at"));
        futures::pin_mut!(items);
        while let Some(it) = items.next().await {
            let it = it?;
            out.push(WebhookRoute {
                id: get_s(&it, "id")?.into(),
                actions: actions_of(&it)?,
                active: matches!(it.get("enabled"), Some(AttributeValue::Bool(true)))
                    && opt_s(&it, "paused_at").is_none(),
            });
        }
        Ok(out)
    }

    /// One endpoint of the org.
    pub async fn get_webhook(
        &self,
        org_id: &OrgId,
        id: &EndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (pk, sk) = endpoint_key(org_id, id);
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", pk)
            .key("sk", sk)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.endpoint_from_opt(out.item()).await
    }

    /// Applies `changes`; `None` when the endpoint does not exist.
    pub async fn update_webhook(
        &self,
        org_id: &OrgId,
        id: &EndpointId,
        changes: &EndpointChanges,
        now: &str,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (pk, sk) = endpoint_key(org_id, id);
        let mut set = vec!["updated_at = :now".to_string()];
        let mut remove: Vec<&str> = Vec::new();
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk)
            .key("sk", sk)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew);
        if let Some(url) = &changes.url {
            set.push("#url = :url".into());
            req = req
                .expression_attribute_names("#url", "url")
                .expression_attribute_values(":url", s(url));
        }
        match &changes.description {
            Some(Some(d)) => {
                set.push("description = :d".into());
                req = req.expression_attribute_values(":d", s(d));
            }
            Some(None) => remove.push("description"),
            None => {}
        }
        if let Some(schema) = changes.schema {
            set.push("#schema = :sc".into());
            req = req
                .expression_attribute_names("#schema", "schema")
                .expression_attribute_values(":sc", s(schema.as_str()));
        }
        if let Some(actions) = &changes.actions {
            set.push("actions = :a".into());
            req = req.expression_attribute_values(
                ":a",
                AttributeValue::L(actions.iter().map(s).collect()),
            );
        }
        match changes.enabled {
            Some(true) => {
                set.push("enabled = :on".into());
                set.push("consecutive_exhausted = :zero".into());
                remove.extend(["paused_at", "disabled_at", "status_reason", "failing_since"]);
                req = req
                    .expression_attribute_values(":on", AttributeValue::Bool(true))
                    .expression_attribute_values(":zero", n(0));
            }
            Some(false) => {
                set.push("enabled = :off".into());
                set.push("disabled_at = :now".into());
                set.push("status_reason = :why".into());
                req = req
                    .expression_attribute_values(":off", AttributeValue::Bool(false))
                    .expression_attribute_values(":why", s("disabled by an admin"));
            }
            None => {}
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let Some(out) = conditional(req.update_expression(expr).send().await)? else {
            return Ok(None);
        };
        let Some(item) = out.attributes() else {
            return Ok(None);
        };
        let endpoint = self.endpoint_from_stored(item).await?;
        self.seal_legacy_secrets(&endpoint, item).await?;
        Ok(Some(endpoint))
    }

    /// Deletes an endpoint; returns whether it existed. Its attempts expire by TTL.
    pub async fn delete_webhook(
        &self,
        org_id: &OrgId,
        id: &EndpointId,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = endpoint_key(org_id, id);
        let out = self
            .ddb
            .delete_item()
            .table_name(&self.config_table)
            .key("pk", pk)
            .key("sk", sk)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.attributes().is_some())
    }

    /// Replaces the secret `current` with `new`; `current` keeps signing until
    /// `previous_until`. `None` if the endpoint is gone or was rotated concurrently.
    pub async fn rotate_webhook_secret(
        &self,
        org_id: &OrgId,
        id: &EndpointId,
        current: &WebhookSecret,
        new: &WebhookSecret,
        previous_until: i64,
        now: &str,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (pk, sk) = endpoint_key(org_id, id);
        // The stored secret is compared as stored (a sealed value differs at every sealing),
        // after checking that it opens to `current`.
        let stored = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", pk.clone())
            .key("sk", sk.clone())
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let Some(stored_secret) = stored.item().and_then(|it| it.get("secret")) else {
            return Ok(None);
        };
        if self
            .open_secret(org_id, id.as_str(), SECRET_FIELD, stored_secret)
            .await?
            != *current
        {
            return Ok(None);
        }
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression(
                "SET secret = :new, prev_secret = :prev, prev_secret_until = :until, \
                 secret_rotated_at = :now, updated_at = :now",
            )
            .condition_expression("secret = :old")
            .expression_attribute_values(
                ":new",
                self.seal_secret(org_id, id, SECRET_FIELD, new).await?,
            )
            .expression_attribute_values(
                ":prev",
                self.seal_secret(org_id, id, PREVIOUS_FIELD, current)
                    .await?,
            )
            .expression_attribute_values(":old", stored_secret.clone())
            .expression_attribute_values(":until", n(previous_until))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional(res)? {
            Some(out) => self.endpoint_from_opt(out.attributes()).await,
            None => Ok(None),
        }
    }

    /// Counts one more exhausted event (and starts the failing streak's clock); returns the
    /// endpoint as it is now, `None` if it was deleted.
    pub async fn record_webhook_exhausted(
        &self,
        org_id: &OrgId,
        id: &EndpointId,
        now_unix: i64,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (pk, sk) = endpoint_key(org_id, id);
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression(
                "SET failing_since = if_not_exists(failing_since, :now) ADD consecutive_exhausted :one",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now_unix))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional(res)? {
            Some(out) => self.endpoint_from_opt(out.attributes()).await,
            None => Ok(None),
        }
    }

    /// Ends a failing streak (a delivery succeeded). A no-op write when there is none.
    pub async fn reset_webhook_failures(
        &self,
        org_id: &OrgId,
        id: &EndpointId,
    ) -> Result<(), StoreError> {
        let (pk, sk) = endpoint_key(org_id, id);
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression("SET consecutive_exhausted = :zero REMOVE failing_since")
            .condition_expression("consecutive_exhausted > :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        conditional(res)?;
        Ok(())
    }

    /// Pauses an enabled, unpaused endpoint; returns whether this call paused it (so exactly
    /// one caller notifies).
    pub async fn pause_webhook(
        &self,
        org_id: &OrgId,
        id: &EndpointId,
        now: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = endpoint_key(org_id, id);
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression("SET paused_at = :now, status_reason = :why")
            .condition_expression(
                "attribute_exists(pk) AND enabled = :on AND attribute_not_exists(paused_at)",
            )
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":why", s(reason))
            .expression_attribute_values(":on", AttributeValue::Bool(true))
            .send()
            .await;
        Ok(conditional(res)?.is_some())
    }

    /// Disables an enabled endpoint (410 Gone); returns whether this call disabled it.
    pub async fn disable_webhook(
        &self,
        org_id: &OrgId,
        id: &EndpointId,
        now: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = endpoint_key(org_id, id);
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression("SET enabled = :off, disabled_at = :now, status_reason = :why")
            .condition_expression("attribute_exists(pk) AND enabled = :on")
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":why", s(reason))
            .expression_attribute_values(":on", AttributeValue::Bool(true))
            .expression_attribute_values(":off", AttributeValue::Bool(false))
            .send()
            .await;
        Ok(conditional(res)?.is_some())
    }

    /// Logs an attempt.
    pub async fn put_attempt(&self, a: &Attempt, now_unix: i64) -> Result<(), StoreError> {
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .set_item(Some(attempt_item(a, now_unix + ATTEMPT_TTL)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// A page of an endpoint's attempts, newest first, after the attempt id `after`.
    pub async fn list_attempts(
        &self,
        endpoint_id: &EndpointId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<Attempt>, Option<String>), StoreError> {
        let pk = format!("WHATT#{endpoint_id}");
        let start = after.map(|sk| item(vec![("pk", s(&pk)), ("sk", s(sk))]));
        let out = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let attempts = out
            .items()
            .iter()
            .map(attempt_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match out.last_evaluated_key() {
            Some(k) => Some(get_s(k, "sk")?.to_string()),
            None => None,
        };
        Ok((attempts, next))
    }

    /// An endpoint's attempts with ids from `since_id` on (`att_` + ULID, so: made since a
    /// time), newest first, reading at most `max` of them; the flag says whether there were
    /// more. For the health report, which needs only when each was made, how it ended and
    /// what started it.
    pub async fn attempts_since(
        &self,
        endpoint_id: &EndpointId,
        since_id: &str,
        max: usize,
    ) -> Result<(Vec<AttemptOutcome>, bool), StoreError> {
        let pk = format!("WHATT#{endpoint_id}");
        let mut out = Vec::new();
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk AND sk >= :since")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":since", s(since_id))
            .projection_expression("#at, #status, #trigger")
            .expression_attribute_names("#at", "at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#trigger", "trigger")
            .scan_index_forward(false)
            .into_paginator()
            .items()
            .send();
        while let Some(it) = pages.next().await {
            if out.len() == max {
                return Ok((out, true));
            }
            let it = it.map_err(StoreError::from_sdk)?;
            out.push(AttemptOutcome {
                at: get_s(&it, "at")?.to_string(),
                status: AttemptStatus::parse(get_s(&it, "status")?)
                    .ok_or_else(|| StoreError::Corrupt("attempt status".into()))?,
                trigger: Trigger::parse(get_s(&it, "trigger")?)
                    .ok_or_else(|| StoreError::Corrupt("attempt trigger".into()))?,
            });
        }
        Ok((out, false))
    }

    /// When the newest delivered attempt with an id before `before_id` was made, reading at
    /// most `max` attempts back (the log keeps 30 days).
    pub async fn last_delivered_before(
        &self,
        endpoint_id: &EndpointId,
        before_id: &str,
        max: usize,
    ) -> Result<Option<String>, StoreError> {
        let pk = format!("WHATT#{endpoint_id}");
        let mut read = 0;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.config_table)
                .key_condition_expression("pk = :pk AND sk < :before")
                .filter_expression("#status = :delivered AND #trigger <> :test")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":before", s(before_id))
                .expression_attribute_values(":delivered", s(AttemptStatus::Delivered.as_str()))
                .expression_attribute_values(":test", s(Trigger::Test.as_str()))
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#trigger", "trigger")
                .scan_index_forward(false)
                .limit(i32::try_from(max.saturating_sub(read).min(500)).unwrap_or(500))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            if let Some(it) = out.items().first() {
                return Ok(Some(get_s(it, "at")?.to_string()));
            }
            read += usize::try_from(out.scanned_count()).unwrap_or(0);
            match out.last_evaluated_key() {
                Some(k) if read < max => start = Some(k.clone()),
                _ => return Ok(None),
            }
        }
    }

    /// Takes the send lease of message (endpoint, event, generation) until `lease_until`,
    /// unless it was delivered or someone else holds an unexpired lease.
    pub async fn claim_delivery(
        &self,
        endpoint_id: &EndpointId,
        marker: &str,
        now_unix: i64,
        lease_until: i64,
    ) -> Result<Claim, StoreError> {
        self.claim_marker(
            &format!("WHDLV#{endpoint_id}"),
            marker,
            &[AttemptStatus::Delivered.as_str()],
            now_unix,
            lease_until,
        )
        .await
    }

    /// Records how the leased send ended and releases the lease.
    pub async fn finish_delivery(
        &self,
        endpoint_id: &EndpointId,
        marker: &str,
        state: AttemptStatus,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        self.finish_marker(
            &format!("WHDLV#{endpoint_id}"),
            marker,
            state.as_str(),
            now_unix,
        )
        .await
    }

    /// Up to `limit` of the org's events accepted in `[from_key, to_key)` (sortable times),
    /// oldest first, from the `by_received` index, after `start`.
    pub async fn replay_page(
        &self,
        org_id: &OrgId,
        from_key: &str,
        to_key: &str,
        start: Option<&ReplayPosition>,
        limit: usize,
    ) -> Result<(Vec<ReplayEvent>, Option<ReplayPosition>), StoreError> {
        let start_key = start.map(|p| {
            item(vec![
                ("pk", s(org_id)),
                ("sk", s(&p.e)),
                ("rcv_sk", s(&p.r)),
            ])
        });
        let out = self
            .ddb
            .query()
            .table_name(&self.events_table)
            .index_name(GSI_BY_RECEIVED)
            // `to` is exclusive: "{to}#evt…" sorts after "{to}", so BETWEEN leaves it out.
            .key_condition_expression("pk = :pk AND rcv_sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(org_id))
            .expression_attribute_values(":lo", s(from_key))
            .expression_attribute_values(":hi", s(to_key))
            .projection_expression("pk, sk, rcv_sk, #action, doc")
            .expression_attribute_names("#action", "action")
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let events = out
            .items()
            .iter()
            .map(|it| {
                Ok(ReplayEvent {
                    event_id: get_s(it, "sk")?.to_string(),
                    action: get_s(it, "action")?.to_string(),
                    doc: crate::events::doc_text(it)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = match out.last_evaluated_key() {
            Some(k) => Some(ReplayPosition {
                r: get_s(k, "rcv_sk")?.to_string(),
                e: get_s(k, "sk")?.to_string(),
            }),
            None => None,
        };
        Ok((events, next))
    }
}
