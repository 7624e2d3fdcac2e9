//! S3 export configuration, flush state and run records in the config table.
//!
//! One item per org holds the configuration *and* the flush state, so that enabling,
//! pausing and the watermark can never disagree: pk `EXPORT#S3`, sk `{org_id}`. Flush-state
//! attributes: `watermark` (the `rcv_sk` of the last exported event, exclusive lower bound of
//! the next run), `plan_upper` (upper bound of the run in progress, persisted before the first
//! object is written, so a killed run is resumed with the same batches), `lease_owner` /
//! `lease_until` (one flush per org at a time), `pending` (events accepted since the last run,
//! for the early flush at 1,000). Runs: pk `RUNS#S3#{org_id}`, sk `run_{ULID}` (newest last),
//! kept 90 days.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::Serialize;

use super::{conditional, get_n, get_s, n, opt_s, s, Item, Store};
use crate::bucket::{target_from_item, target_values, TARGET_ATTRS};
use crate::error::StoreError;
use relay_core::model::file_format::FileFormat;
use relay_core::model::file_format::FileLayout;
use relay_core::model::ids::OrgId;
use relay_core::model::s3_stream::{
    Layout, S3Destination, S3ExportConfig, SecurityLake, SECURITY_LAKE_CLASSES,
};
use relay_core::shapes::Schema;

const PK: &str = "EXPORT#S3";
/// Runs are kept this long.
const RUN_TTL_SECS: i64 = 90 * 86_400;

fn opt_bool(item: &Item, name: &str) -> Option<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(b)) => Some(*b),
        _ => None,
    }
}

/// What saving a configuration does to its ownership check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Leave it as it is (the destination did not change).
    Keep,
    /// Start over: the export waits for a new token.
    Require,
    /// The destination needs none.
    NotNeeded,
}

/// Flush state of one org's export, as read when a flush takes the lease.
#[derive(Debug, Clone)]
pub struct FlushState {
    /// The configuration.
    pub config: S3ExportConfig,
    /// Exclusive lower bound (`rcv_sk`) of the next batch.
    pub watermark: String,
    /// Upper bound of a run in progress, if one was interrupted.
    pub plan_upper: Option<String>,
}

/// `layout` and `security_lake` (a map: `account_id`, `region`, `sources` by Security Lake
/// event class) of a destination; `None`: the attribute is removed.
fn layout_values(layout: &Layout) -> (AttributeValue, Option<AttributeValue>) {
    let kind = s(layout.kind().as_str());
    let lake = layout.security_lake().map(|sl| {
        let sources = SECURITY_LAKE_CLASSES
            .iter()
            .zip(&sl.sources)
            .map(|((name, _), source)| (name.to_string(), s(source)))
            .collect();
        AttributeValue::M(
            [
                ("account_id".to_string(), s(&sl.account_id)),
                ("region".to_string(), s(&sl.region)),
                ("sources".to_string(), AttributeValue::M(sources)),
            ]
            .into_iter()
            .collect(),
        )
    });
    (kind, lake)
}

/// Reads the layout back; items saved before layouts existed are standard.
fn layout_from_item(item: &Item) -> Result<Layout, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("security_lake: {what}"));
    let kind = match opt_s(item, "layout") {
        None => FileLayout::Standard,
        Some(l) => FileLayout::parse(&l).ok_or_else(|| corrupt("unknown layout"))?,
    };
    if kind == FileLayout::Standard {
        return Ok(Layout::Standard);
    }
    let Some(AttributeValue::M(m)) = item.get("security_lake") else {
        return Err(corrupt("missing"));
    };
    let text = |m: &Item, k: &str| -> Result<String, StoreError> {
        m.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| corrupt(k))
    };
    let Some(AttributeValue::M(src)) = m.get("sources") else {
        return Err(corrupt("sources"));
    };
    let mut sources: [String; 3] = Default::default();
    for (i, (name, _)) in SECURITY_LAKE_CLASSES.iter().enumerate() {
        sources[i] = text(src, name)?;
    }
    Ok(Layout::SecurityLake(SecurityLake {
        account_id: text(m, "account_id")?,
        region: text(m, "region")?,
        sources,
    }))
}

fn config_from_item(item: &Item) -> Result<S3ExportConfig, StoreError> {
    let format = FileFormat::parse(get_s(item, "format")?)
        .ok_or_else(|| StoreError::Corrupt("unknown export format".into()))?;
    // Configurations saved before shapes existed are canonical.
    let schema = match opt_s(item, "schema") {
        None => Schema::Canonical,
        Some(s) => Schema::parse(&s).ok_or_else(|| StoreError::Corrupt("unknown schema".into()))?,
    };
    Ok(S3ExportConfig {
        id: get_s(item, "id")?.to_string(),
        org_id: get_s(item, "org_id")?.into(),
        dest: S3Destination {
            target: target_from_item(item)?,
            format,
            schema,
            layout: layout_from_item(item)?,
        },
        enabled: opt_bool(item, "enabled").unwrap_or(false),
        paused_reason: opt_s(item, "paused_reason"),
        last_tested_at: opt_s(item, "last_tested_at"),
        last_test_ok: opt_bool(item, "last_test_ok"),
        last_error: opt_s(item, "last_error"),
        last_exported_at: opt_s(item, "last_exported_at"),
        consecutive_failures: get_n(item, "consecutive_failures").unwrap_or(0),
        failing_since: opt_s(item, "failing_since"),
        pending_verification: opt_bool(item, "pending_verification").unwrap_or(false),
        created_at: get_s(item, "created_at")?.to_string(),
        updated_at: get_s(item, "updated_at")?.to_string(),
    })
}

fn state_from_item(item: &Item) -> Result<FlushState, StoreError> {
    Ok(FlushState {
        config: config_from_item(item)?,
        watermark: get_s(item, "watermark")?.to_string(),
        plan_upper: opt_s(item, "plan_upper"),
    })
}

/// One flush run, as listed by `GET .../audit-export/runs`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportRun {
    /// `run_…` id.
    pub id: String,
    /// Start.
    pub started_at: String,
    /// End (null while running).
    pub finished_at: Option<String>,
    /// `running`, `succeeded`, `partial` (stopped at the time budget, continues next run),
    /// `failed`.
    #[schema(pattern = "^(running|succeeded|partial|failed)$")]
    pub status: String,
    /// Events written.
    pub event_count: u64,
    /// Objects written.
    pub object_keys: Vec<String>,
    /// Bytes written.
    pub bytes: u64,
    /// What went wrong.
    pub error: Option<String>,
}

fn run_from_item(item: &Item) -> Result<ExportRun, StoreError> {
    let keys = match item.get("object_keys") {
        Some(AttributeValue::L(l)) => l.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
        _ => vec![],
    };
    Ok(ExportRun {
        id: get_s(item, "sk")?.to_string(),
        started_at: get_s(item, "started_at")?.to_string(),
        finished_at: opt_s(item, "finished_at"),
        status: get_s(item, "status")?.to_string(),
        event_count: get_n(item, "event_count").unwrap_or(0),
        object_keys: keys,
        bytes: get_n(item, "bytes").unwrap_or(0),
        error: opt_s(item, "error"),
    })
}

impl Store {
    /// The org's ExternalId for customer roles: generated once, never chosen by anyone.
    pub async fn external_id(&self, org_id: &OrgId) -> Result<String, StoreError> {
        let key = |b: aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder| {
            b.table_name(&self.config_table)
                .key("pk", s(format!("ORG#{org_id}")))
                .key("sk", s("ORG"))
        };
        let out = key(self.ddb.get_item())
            .projection_expression("external_id")
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        if let Some(id) = out.item().and_then(|i| opt_s(i, "external_id")) {
            return Ok(id);
        }
        let fresh = format!("ar-{}", relay_core::model::ids::random_token(24)?);
        let out = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(format!("ORG#{org_id}")))
            .key("sk", s("ORG"))
            .update_expression("SET external_id = if_not_exists(external_id, :x)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":x", s(fresh))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.attributes()
            .and_then(|i| opt_s(i, "external_id"))
            .ok_or_else(|| StoreError::Corrupt("external_id not stored".into()))
    }

    /// Creates or updates the org's export. Enabling clears an automatic pause and its
    /// failure count; the watermark is kept, so re-enabling resumes with nothing lost. A new
    /// config exports events accepted from now on.
    pub async fn upsert_s3_config(
        &self,
        org_id: &OrgId,
        dest: &S3Destination,
        enabled: bool,
        verification: Verification,
        now: &str,
        watermark_if_new: &str,
    ) -> Result<S3ExportConfig, StoreError> {
        // Every name is aliased: several (bucket, region, format, prefix) are DynamoDB
        // reserved words.
        let mut names: Vec<&str> = vec![
            "org_id",
            "format",
            "schema",
            "enabled",
            "updated_at",
            "id",
            "created_at",
            "watermark",
            "consecutive_failures",
            "layout",
            "security_lake",
        ];
        names.extend(TARGET_ATTRS);
        let mut set = vec![
            "#org_id = :org".to_string(),
            "#format = :f".into(),
            "#schema = :sc".into(),
            "#enabled = :e".into(),
            "#updated_at = :now".into(),
            "#id = if_not_exists(#id, :id)".into(),
            "#created_at = if_not_exists(#created_at, :now)".into(),
            "#watermark = if_not_exists(#watermark, :wm)".into(),
        ];
        let mut remove: Vec<String> = Vec::new();
        let mut values: Vec<(String, AttributeValue)> = Vec::new();
        let (layout, lake) = layout_values(&dest.layout);
        set.push("#layout = :lay".into());
        values.push((":lay".into(), layout));
        match lake {
            Some(v) => {
                set.push("#security_lake = :sl".into());
                values.push((":sl".into(), v));
            }
            None => remove.push("#security_lake".into()),
        }
        for (i, (name, value)) in target_values(&dest.target).into_iter().enumerate() {
            match value {
                Some(v) => {
                    set.push(format!("#{name} = :t{i}"));
                    values.push((format!(":t{i}"), v));
                }
                None => remove.push(format!("#{name}")),
            }
        }
        if enabled {
            set.push("#consecutive_failures = :zero".into());
            remove.extend(["#paused_reason".into(), "#failing_since".into()]);
            names.extend(["paused_reason", "failing_since"]);
        } else {
            set.push("#consecutive_failures = if_not_exists(#consecutive_failures, :zero)".into());
        }
        match verification {
            Verification::Keep => {}
            Verification::Require => {
                set.push("#pending_verification = :t".into());
                remove.push("#verify_hash".into());
                values.push((":t".into(), AttributeValue::Bool(true)));
                names.extend(["pending_verification", "verify_hash"]);
            }
            Verification::NotNeeded => {
                remove.extend(["#pending_verification".into(), "#verify_hash".into()]);
                names.extend(["pending_verification", "verify_hash"]);
            }
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(PK))
            .key("sk", s(org_id))
            .update_expression(update);
        for name in names {
            req = req.expression_attribute_names(format!("#{name}"), name);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        let out = req
            .expression_attribute_values(":org", s(org_id))
            .expression_attribute_values(":f", s(dest.format.as_str()))
            .expression_attribute_values(":sc", s(dest.schema.as_str()))
            .expression_attribute_values(":e", AttributeValue::Bool(enabled))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":id", s(relay_core::model::ids::new_id("s3x")))
            .expression_attribute_values(":wm", s(watermark_if_new))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        config_from_item(
            out.attributes()
                .ok_or_else(|| StoreError::Corrupt("no attributes".into()))?,
        )
    }

    /// Records the hash of the ownership token just written to the bucket (while the export
    /// waits for verification). `false`: nothing waits.
    pub async fn set_s3_verify_hash(&self, org_id: &OrgId, hash: &str) -> Result<bool, StoreError> {
        self.update_if(
            org_id,
            "SET verify_hash = :h",
            "pending_verification = :t",
            &[],
            vec![(":h", s(hash)), (":t", AttributeValue::Bool(true))],
        )
        .await
    }

    /// Marks the export verified if `hash` is the hash of the token last written. `false`: no
    /// such token (wrong, superseded, or nothing waits).
    pub async fn verify_s3_export(
        &self,
        org_id: &OrgId,
        hash: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        self.update_if(
            org_id,
            "SET verified_at = :now REMOVE pending_verification, verify_hash",
            "pending_verification = :t AND verify_hash = :h",
            &[],
            vec![
                (":h", s(hash)),
                (":t", AttributeValue::Bool(true)),
                (":now", s(now)),
            ],
        )
        .await
    }

    /// The org's S3 export, if configured.
    pub async fn get_s3_config(
        &self,
        org_id: &OrgId,
    ) -> Result<Option<S3ExportConfig>, StoreError> {
        Ok(self.get_s3_state(org_id).await?.map(|st| st.config))
    }

    /// The org's S3 export with its flush state.
    pub async fn get_s3_state(&self, org_id: &OrgId) -> Result<Option<FlushState>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", s(PK))
            .key("sk", s(org_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item().map(state_from_item).transpose()
    }

    /// Deletes the org's S3 export (and its watermark). Returns whether it existed.
    pub async fn delete_s3_config(&self, org_id: &OrgId) -> Result<bool, StoreError> {
        let out = self
            .ddb
            .delete_item()
            .table_name(&self.config_table)
            .key("pk", s(PK))
            .key("sk", s(org_id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.attributes().is_some())
    }

    /// Orgs whose S3 export is enabled.
    pub async fn enabled_s3_orgs(&self) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk")
            .filter_expression("#enabled = :t AND attribute_not_exists(pending_verification)")
            .expression_attribute_names("#enabled", "enabled")
            .projection_expression("org_id")
            .expression_attribute_values(":pk", s(PK))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .into_paginator()
            .items()
            .send();
        let mut orgs = Vec::new();
        while let Some(item) = pages.next().await {
            orgs.push(get_s(&item.map_err(StoreError::from_sdk)?, "org_id")?.to_string());
        }
        Ok(orgs)
    }

    /// Records a connection test of the stored config.
    pub async fn record_s3_test(
        &self,
        org_id: &OrgId,
        ok: bool,
        error: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(PK))
            .key("sk", s(org_id))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":ok", AttributeValue::Bool(ok));
        req = match error {
            Some(e) => req
                .update_expression("SET last_tested_at = :now, last_test_ok = :ok, last_error = :e")
                .expression_attribute_values(":e", s(e)),
            None => req.update_expression("SET last_tested_at = :now, last_test_ok = :ok"),
        };
        // `None`: deleted meanwhile, so there is nothing to record.
        conditional(req.send().await)?;
        Ok(())
    }

    /// Takes the org's flush lease until `until` (epoch seconds), if the export is enabled and
    /// no live lease exists. `None`: disabled, deleted, or another flush holds it.
    pub async fn acquire_flush_lease(
        &self,
        org_id: &OrgId,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<FlushState>, StoreError> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(PK))
            .key("sk", s(org_id))
            .update_expression("SET lease_owner = :o, lease_until = :u")
            .condition_expression(
                "attribute_exists(pk) AND #enabled = :t AND attribute_not_exists(pending_verification) \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_names("#enabled", "enabled")
            .expression_attribute_values(":o", s(owner))
            .expression_attribute_values(":u", n(until))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        conditional(res)?
            .and_then(|out| out.attributes().map(state_from_item))
            .transpose()
    }

    /// Applies `expression` to the org's export item if `condition` holds. `Ok(false)`: it
    /// did not (a lost lease, a guard, nothing to change).
    async fn update_if(
        &self,
        org_id: &OrgId,
        expression: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(PK))
            .key("sk", s(org_id))
            .update_expression(expression)
            .condition_expression(condition);
        for (alias, name) in names {
            req = req.expression_attribute_names(*alias, *name);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        Ok(conditional(req.send().await)?.is_some())
    }

    /// Runs `expression` on the flush state if `owner` still holds the lease. `Ok(false)`: the
    /// lease was lost (expired and taken over), and the caller must stop.
    async fn update_leased(
        &self,
        org_id: &OrgId,
        owner: &str,
        expression: &str,
        mut values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        values.push((":owner", s(owner)));
        self.update_if(org_id, expression, "lease_owner = :owner", &[], values)
            .await
    }

    /// Persists the upper bound of the run about to start.
    pub async fn set_flush_plan(
        &self,
        org_id: &OrgId,
        owner: &str,
        upper: &str,
    ) -> Result<bool, StoreError> {
        self.update_leased(org_id, owner, "SET plan_upper = :u", vec![(":u", s(upper))])
            .await
    }

    /// Advances the watermark past a contiguous prefix of written batches.
    pub async fn checkpoint_flush(
        &self,
        org_id: &OrgId,
        owner: &str,
        watermark: &str,
    ) -> Result<bool, StoreError> {
        self.update_leased(
            org_id,
            owner,
            "SET watermark = :w",
            vec![(":w", s(watermark))],
        )
        .await
    }

    /// Completes the planned run: the watermark moves to its upper bound, failures reset.
    pub async fn finish_flush_plan(
        &self,
        org_id: &OrgId,
        owner: &str,
        upper: &str,
        exported_at: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut expr = String::from(
            "SET watermark = :w, consecutive_failures = :zero, pending = :zero REMOVE plan_upper, failing_since",
        );
        let mut values = vec![(":w", s(upper)), (":zero", n(0))];
        if let Some(at) = exported_at {
            expr = expr.replacen("SET ", "SET last_exported_at = :at, ", 1);
            values.push((":at", s(at)));
        }
        self.update_leased(org_id, owner, &expr, values).await
    }

    /// Records a failed run; returns the failure count and since when it has been failing.
    pub async fn record_flush_failure(
        &self,
        org_id: &OrgId,
        owner: &str,
        error: &str,
        now: &str,
    ) -> Result<Option<(u32, String)>, StoreError> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(PK))
            .key("sk", s(org_id))
            .update_expression(
                "SET consecutive_failures = if_not_exists(consecutive_failures, :zero) + :one, \
                 failing_since = if_not_exists(failing_since, :now), last_error = :e",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":e", s(error))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let Some(out) = conditional(res)? else {
            return Ok(None);
        };
        let item = out
            .attributes()
            .ok_or_else(|| StoreError::Corrupt("no attributes".into()))?;
        Ok(Some((
            get_n(item, "consecutive_failures")?,
            get_s(item, "failing_since")?.to_string(),
        )))
    }

    /// Pauses the export (once: `false` if it was already disabled).
    pub async fn pause_s3_export(
        &self,
        org_id: &OrgId,
        reason: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        self.update_if(
            org_id,
            "SET #enabled = :f, paused_reason = :r, updated_at = :now",
            "#enabled = :t",
            &[("#enabled", "enabled")],
            vec![
                (":f", AttributeValue::Bool(false)),
                (":t", AttributeValue::Bool(true)),
                (":r", s(reason)),
                (":now", s(now)),
            ],
        )
        .await
    }

    /// Gives the lease back (a no-op if it was lost).
    pub async fn release_flush_lease(&self, org_id: &OrgId, owner: &str) -> Result<(), StoreError> {
        self.update_leased(org_id, owner, "REMOVE lease_owner, lease_until", vec![])
            .await
            .map(|_| ())
    }

    /// Counts events accepted for the org's export; returns the new pending count, or `None`
    /// when the org has no enabled S3 export.
    pub async fn add_pending(&self, org_id: &OrgId, count: u64) -> Result<Option<u64>, StoreError> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(PK))
            .key("sk", s(org_id))
            .update_expression("ADD pending :n")
            .condition_expression("#enabled = :t")
            .expression_attribute_names("#enabled", "enabled")
            .expression_attribute_values(":n", n(count))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        Ok(conditional(res)?.and_then(|out| get_n(out.attributes()?, "pending").ok()))
    }

    /// Writes (or overwrites) a run record.
    pub async fn put_run(
        &self,
        org_id: &OrgId,
        run: &ExportRun,
        now_secs: i64,
    ) -> Result<(), StoreError> {
        let mut item: Item = Item::new();
        item.insert("pk".into(), s(format!("RUNS#S3#{org_id}")));
        item.insert("sk".into(), s(&run.id));
        item.insert("started_at".into(), s(&run.started_at));
        if let Some(f) = &run.finished_at {
            item.insert("finished_at".into(), s(f));
        }
        item.insert("status".into(), s(&run.status));
        item.insert("event_count".into(), n(run.event_count));
        item.insert(
            "object_keys".into(),
            AttributeValue::L(run.object_keys.iter().map(s).collect()),
        );
        item.insert("bytes".into(), n(run.bytes));
        if let Some(e) = &run.error {
            item.insert("error".into(), s(e));
        }
        item.insert("expires_at".into(), n(now_secs + RUN_TTL_SECS));
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// The org's most recent runs, newest first.
    pub async fn list_runs(
        &self,
        org_id: &OrgId,
        limit: usize,
    ) -> Result<Vec<ExportRun>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("RUNS#S3#{org_id}")))
            .scan_index_forward(false)
            .limit(limit as i32)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.items().iter().map(run_from_item).collect()
    }

    /// The org's runs with ids from `since_id` on (`run_` + ULID, so: started since a time),
    /// oldest first, at most `max`; the flag says whether there were more.
    pub async fn runs_since(
        &self,
        org_id: &OrgId,
        since_id: &str,
        max: usize,
    ) -> Result<(Vec<ExportRun>, bool), StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk AND sk >= :since")
            .expression_attribute_values(":pk", s(format!("RUNS#S3#{org_id}")))
            .expression_attribute_values(":since", s(since_id))
            .into_paginator()
            .items()
            .send();
        while let Some(it) = pages.next().await {
            if out.len() == max {
                return Ok((out, true));
            }
            out.push(run_from_item(&it.map_err(StoreError::from_sdk)?)?);
        }
        Ok((out, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip_and_old_items_are_standard() {
        let lake = Layout::SecurityLake(SecurityLake {
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            sources: ["ar_acct".into(), "ar_auth".into(), "ar_api".into()],
        });
        let (kind, value) = layout_values(&lake);
        let item: Item = [
            ("layout".to_string(), kind),
            ("security_lake".to_string(), value.unwrap()),
        ]
        .into_iter()
        .collect();
        assert_eq!(layout_from_item(&item).unwrap(), lake);
        let (kind, value) = layout_values(&Layout::Standard);
        assert!(value.is_none());
        let item: Item = [("layout".to_string(), kind)].into_iter().collect();
        assert_eq!(layout_from_item(&item).unwrap(), Layout::Standard);
        assert_eq!(layout_from_item(&Item::new()).unwrap(), Layout::Standard);
        let broken: Item = [("layout".to_string(), s("security_lake"))]
            .into_iter()
            .collect();
        assert!(layout_from_item(&broken).is_err());
    }
}
