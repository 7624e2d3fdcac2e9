//! The OTLP export configuration and its delivered markers, in the config table.
//!
//! Items:
//! * `ORG#{org_id}` / `OTEL`: the org's one OTLP destination (URL, headers, batch size) and its
//!   state (enabled, pause, last error and export, failure streak). The fanout reads it with
//!   one GetItem per org and stream batch. `headers` maps each name to its value sealed
//!   ([`crate::sealing`]) for the org and `headers.{name}`; a string value was stored before
//!   sealing existed and is sealed by the next PUT of the configuration.
//! * `OTDLV#{config_id}#{event_id}` / `{generation}`: the delivered marker and send lease of one
//!   event (see [`super::markers`]). One partition per event, so a busy org's export never
//!   concentrates its marker writes on one partition.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::markers::Claim;
use super::{conditional, get_s, n, opt_s, s, Item, Store};
use crate::error::StoreError;
use relay_core::model::ids::OrgId;
use relay_core::model::otlp::{OtelConfig, OtelDestination, OtelHeaders, OtelRoute};
use relay_core::shapes::Schema;

/// Sort key of the configuration item.
const SK: &str = "OTEL";
/// Marker state of an event the receiver accepted.
pub const DELIVERED: &str = "delivered";
/// Marker state of an event the receiver refused for good (a 4xx other than 408/429).
pub const REJECTED: &str = "rejected";
/// Marker state of an event whose send failed and will be retried.
pub const FAILED: &str = "failed";
/// Marker state of an event that failed every attempt (its message goes to the DLQ).
pub const EXHAUSTED: &str = "exhausted";
/// States after which the same (event, generation) is never sent again.
const FINAL: &[&str] = &[DELIVERED, REJECTED];

fn pk(org_id: &OrgId) -> AttributeValue {
    s(format!("ORG#{org_id}"))
}

fn marker_pk(config_id: &str, event_id: &str) -> String {
    format!("OTDLV#{config_id}#{event_id}")
}

fn opt_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// The resource an org's OTLP header values are sealed for (the org has one configuration).
const RESOURCE: &str = "otel";

fn header_field(name: &str) -> String {
    format!("headers.{name}")
}

fn config_from_item(
    item: &Item,
    headers: BTreeMap<String, String>,
) -> Result<OtelConfig, StoreError> {
    Ok(OtelConfig {
        id: get_s(item, "id")?.to_string(),
        org_id: get_s(item, "org_id")?.into(),
        endpoint_url: get_s(item, "endpoint_url")?.to_string(),
        headers: OtelHeaders::from_stored(headers),
        max_batch_size: opt_n(item, "max_batch_size")
            .ok_or_else(|| StoreError::Corrupt("otel config without max_batch_size".into()))?,
        // Configurations saved before shapes existed send canonical records.
        schema: opt_s(item, "schema")
            .and_then(|v| Schema::parse(&v))
            .unwrap_or(Schema::Canonical),
        enabled: matches!(item.get("enabled"), Some(AttributeValue::Bool(true))),
        paused_at: opt_s(item, "paused_at"),
        paused_reason: opt_s(item, "paused_reason"),
        last_error: opt_s(item, "last_error"),
        last_error_at: opt_s(item, "last_error_at"),
        last_exported_at: opt_s(item, "last_exported_at"),
        consecutive_exhausted: opt_n(item, "consecutive_exhausted").unwrap_or(0),
        failing_since: opt_n(item, "failing_since"),
        created_at: get_s(item, "created_at")?.to_string(),
        updated_at: get_s(item, "updated_at")?.to_string(),
    })
}

/// How one export request ended, as recorded on the configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportRecord<'a> {
    /// The receiver accepted the request; `warning` holds a partial success's message.
    Accepted {
        /// Time (RFC 3339).
        at: &'a str,
        /// Set when the receiver rejected some records or sent a warning.
        warning: Option<&'a str>,
        /// Whether a failing streak is to be ended.
        reset_streak: bool,
    },
    /// A failure that will be retried.
    Failed {
        /// Time (RFC 3339).
        at: &'a str,
        /// What happened.
        error: &'a str,
    },
    /// `events` events failed for good (every attempt used, or refused by the receiver):
    /// they count towards the auto-pause streak.
    Lost {
        /// Time (RFC 3339).
        at: &'a str,
        /// Unix time (starts the streak's clock).
        now_unix: i64,
        /// What happened.
        error: &'a str,
        /// How many events.
        events: u32,
    },
}

impl Store {
    /// A configuration from its item, its header values opened.
    async fn config_from_stored(&self, item: &Item) -> Result<OtelConfig, StoreError> {
        // The org the item is stored under (its key), not the attribute: a whole item copied
        // into another org's partition does not open there either.
        let org_id: OrgId = get_s(item, "pk")?
            .strip_prefix("ORG#")
            .ok_or_else(|| StoreError::Corrupt("otel config key".into()))?
            .into();
        let mut headers = BTreeMap::new();
        if let Some(AttributeValue::M(m)) = item.get("headers") {
            for (name, stored) in m {
                let field = header_field(name);
                let raw = self.open_value(&org_id, RESOURCE, &field, stored).await?;
                let value = String::from_utf8(raw)
                    .map_err(|e| StoreError::Corrupt(format!("{field}: {e}")))?;
                headers.insert(name.clone(), value);
            }
        }
        config_from_item(item, headers)
    }

    async fn config_from_opt(&self, item: Option<&Item>) -> Result<Option<OtelConfig>, StoreError> {
        match item {
            Some(it) => Ok(Some(self.config_from_stored(it).await?)),
            None => Ok(None),
        }
    }

    /// The org's OTLP export, if configured. `consistent` for the API and the deliver
    /// function; the fanout reads eventually consistent at half the cost.
    pub async fn get_otel_config(
        &self,
        org_id: &OrgId,
        consistent: bool,
    ) -> Result<Option<OtelConfig>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", pk(org_id))
            .key("sk", s(SK))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        self.config_from_opt(out.item()).await
    }

    /// The org's OTLP export as the fanout routes to it: only the id, the batch size and the
    /// state are read (a projection), so routing neither reads nor opens a header value.
    pub async fn get_otel_route(&self, org_id: &OrgId) -> Result<Option<OtelRoute>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", pk(org_id))
            .key("sk", s(SK))
            .projection_expression("id, max_batch_size, enabled, paused_at")
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let Some(it) = out.item() else {
            return Ok(None);
        };
        Ok(Some(OtelRoute {
            id: get_s(it, "id")?.to_string(),
            max_batch_size: opt_n(it, "max_batch_size")
                .ok_or_else(|| StoreError::Corrupt("otel config without max_batch_size".into()))?,
            active: matches!(it.get("enabled"), Some(AttributeValue::Bool(true)))
                && opt_s(it, "paused_at").is_none(),
        }))
    }

    /// Creates or updates the org's OTLP export (its id and creation time are kept). Enabling
    /// clears an automatic pause and the failure streak; the last error stays visible.
    pub async fn upsert_otel_config(
        &self,
        org_id: &OrgId,
        new_id: &str,
        dest: &OtelDestination,
        enabled: bool,
        now: &str,
    ) -> Result<OtelConfig, StoreError> {
        let mut headers = Item::new();
        for (name, value) in dest.headers.expose() {
            let sealed = self
                .seal_value(org_id, RESOURCE, &header_field(name), value.as_bytes())
                .await?;
            headers.insert(name.clone(), sealed);
        }
        let mut update = String::from(
            "SET #id = if_not_exists(#id, :id), org_id = :org, endpoint_url = :url, \
             headers = :h, max_batch_size = :mbs, #schema = :sc, enabled = :e, updated_at = :now, \
             created_at = if_not_exists(created_at, :now), \
             consecutive_exhausted = if_not_exists(consecutive_exhausted, :zero)",
        );
        if enabled {
            update = update.replace(
                "consecutive_exhausted = if_not_exists(consecutive_exhausted, :zero)",
                "consecutive_exhausted = :zero",
            );
            update.push_str(" REMOVE paused_at, paused_reason, failing_since");
        }
        let out = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk(org_id))
            .key("sk", s(SK))
            .update_expression(update)
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#schema", "schema")
            .expression_attribute_values(":sc", s(dest.schema.as_str()))
            .expression_attribute_values(":id", s(new_id))
            .expression_attribute_values(":org", s(org_id))
            .expression_attribute_values(":url", s(&dest.endpoint_url))
            .expression_attribute_values(":h", AttributeValue::M(headers))
            .expression_attribute_values(":mbs", n(dest.max_batch_size))
            .expression_attribute_values(":e", AttributeValue::Bool(enabled))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        // The values just sealed are the ones in `dest`: no need to open them again.
        out.attributes()
            .map(|item| config_from_item(item, dest.headers.expose().clone()))
            .transpose()?
            .ok_or_else(|| StoreError::Corrupt("otel config not returned".into()))
    }

    /// Deletes the org's OTLP export; returns whether there was one.
    pub async fn delete_otel_config(&self, org_id: &OrgId) -> Result<bool, StoreError> {
        let out = self
            .ddb
            .delete_item()
            .table_name(&self.config_table)
            .key("pk", pk(org_id))
            .key("sk", s(SK))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.attributes().is_some())
    }

    /// Records how an export request (or a test) ended, in one write, on configuration `id`
    /// (nothing is written if it was deleted or replaced meanwhile). Returns the configuration
    /// as it is now for a [`ExportRecord::Lost`] (the pause rule needs the streak).
    pub async fn record_otel_export(
        &self,
        org_id: &OrgId,
        id: &str,
        record: &ExportRecord<'_>,
    ) -> Result<Option<OtelConfig>, StoreError> {
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk(org_id))
            .key("sk", s(SK))
            .condition_expression("#id = :id")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":id", s(id));
        let expr = match record {
            ExportRecord::Accepted {
                at,
                warning,
                reset_streak,
            } => {
                req = req.expression_attribute_values(":at", s(*at));
                let mut set = vec!["last_exported_at = :at"];
                let mut remove = vec![];
                if let Some(w) = warning {
                    set.extend(["last_error = :err", "last_error_at = :at"]);
                    req = req.expression_attribute_values(":err", s(*w));
                }
                if *reset_streak {
                    set.push("consecutive_exhausted = :zero");
                    remove.push("failing_since");
                    req = req.expression_attribute_values(":zero", n(0));
                }
                let mut e = format!("SET {}", set.join(", "));
                if !remove.is_empty() {
                    e.push_str(&format!(" REMOVE {}", remove.join(", ")));
                }
                e
            }
            ExportRecord::Failed { at, error } => {
                req = req
                    .expression_attribute_values(":at", s(*at))
                    .expression_attribute_values(":err", s(*error));
                "SET last_error = :err, last_error_at = :at".to_string()
            }
            ExportRecord::Lost {
                at,
                now_unix,
                error,
                events,
            } => {
                req = req
                    .expression_attribute_values(":at", s(*at))
                    .expression_attribute_values(":err", s(*error))
                    .expression_attribute_values(":now", n(now_unix))
                    .expression_attribute_values(":n", n(events))
                    .return_values(ReturnValue::AllNew);
                "SET last_error = :err, last_error_at = :at, \
                 failing_since = if_not_exists(failing_since, :now) \
                 ADD consecutive_exhausted :n"
                    .to_string()
            }
        };
        match conditional(req.update_expression(expr).send().await)? {
            Some(out) => self.config_from_opt(out.attributes()).await,
            None => Ok(None),
        }
    }

    /// Pauses an enabled, unpaused export (configuration `id`); returns whether this call
    /// paused it (so exactly one caller notifies).
    pub async fn pause_otel(
        &self,
        org_id: &OrgId,
        id: &str,
        now: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", pk(org_id))
            .key("sk", s(SK))
            .update_expression("SET paused_at = :now, paused_reason = :why")
            .condition_expression("#id = :id AND enabled = :on AND attribute_not_exists(paused_at)")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":id", s(id))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":why", s(reason))
            .expression_attribute_values(":on", AttributeValue::Bool(true))
            .send()
            .await;
        Ok(conditional(res)?.is_some())
    }

    /// Takes the send lease of (event, generation) for configuration `config_id`, unless it
    /// was delivered or refused before, or is leased by someone else.
    pub async fn claim_otel_event(
        &self,
        config_id: &str,
        event_id: &str,
        generation: &str,
        now_unix: i64,
        lease_until: i64,
    ) -> Result<Claim, StoreError> {
        self.claim_marker(
            &marker_pk(config_id, event_id),
            generation,
            FINAL,
            now_unix,
            lease_until,
        )
        .await
    }

    /// Records how the leased sends of `event_ids` ended (`state`: [`DELIVERED`],
    /// [`REJECTED`], [`FAILED`], [`EXHAUSTED`]) and releases their leases. Returns how many
    /// markers could not be written.
    pub async fn finish_otel_events(
        &self,
        config_id: &str,
        event_ids: &[&str],
        generation: &str,
        state: &str,
        now_unix: i64,
    ) -> Result<usize, StoreError> {
        let keys: Vec<(String, String)> = event_ids
            .iter()
            .map(|e| (marker_pk(config_id, e), generation.to_string()))
            .collect();
        self.finish_markers(&keys, state, now_unix).await
    }
}
