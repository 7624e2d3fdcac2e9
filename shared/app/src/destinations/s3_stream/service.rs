//! The S3 stream's configuration API behind `/orgs/{orgId}/audit-export/config`,
//! `.../test-connection`, `.../runs` and `.../setup`: the AuditExport API's
//! `AuditExportConfig`, read and written for one org, the write+delete dry run, the run
//! history, and what a customer pastes into their role.

use serde_json::Value;
use time::OffsetDateTime;

use crate::clients::Clients;
use crate::pipeline::bucket::{test_connection, TestResult};
use crate::pipeline::role::setup_policies;
use relay_core::error::Error;
use relay_core::model::event::{rfc3339_millis, sortable_time};
use relay_core::model::ids::OrgId;
use relay_core::model::s3_stream::{S3ConfigInput, S3ConfigView, S3Destination, DEFAULT_PREFIX};
use relay_core::query::page_limit;
use relay_store::s3_stream::ExportRun;
use relay_store::Store;

/// Largest page of `GET .../runs`, and its default.
const MAX_RUNS: usize = 200;
const DEFAULT_RUNS: usize = 50;

fn parse_input(body: Value) -> Result<S3ConfigInput, Error> {
    relay_core::decode::from_value(body, "")
}

/// The org's stored configuration, as the API shows it (the role ARN masked).
pub async fn get(store: &Store, org_id: &OrgId) -> Result<S3ConfigView, Error> {
    let cfg = store
        .get_s3_config(org_id)
        .await?
        .ok_or(Error::NotFound("audit-export config"))?;
    let external_id = store.external_id(org_id).await?;
    Ok(cfg.view(&external_id))
}

/// Validates and stores the org's configuration (created or replaced).
pub async fn upsert(
    store: &Store,
    org_id: &OrgId,
    body: Value,
    now: OffsetDateTime,
) -> Result<S3ConfigView, Error> {
    let input = parse_input(body)?;
    let dest = input.validate()?;
    let cfg = store
        .upsert_s3_config(
            org_id,
            &dest,
            input.enabled.unwrap_or(true),
            &rfc3339_millis(now),
            &sortable_time(now),
        )
        .await?;
    let external_id = store.external_id(org_id).await?;
    Ok(cfg.view(&external_id))
}

/// Deletes the org's configuration.
pub async fn delete(store: &Store, org_id: &OrgId) -> Result<(), Error> {
    if store.delete_s3_config(org_id).await? {
        Ok(())
    } else {
        Err(Error::NotFound("audit-export config"))
    }
}

/// Tests `body`'s destination (before it is saved), or the stored one when `body` is `None`.
/// Only a test of the stored destination is recorded on it.
pub async fn test(
    store: &Store,
    clients: &Clients,
    access_role_arn: Option<&str>,
    org_id: &OrgId,
    body: Option<Value>,
    now: OffsetDateTime,
) -> Result<TestResult, Error> {
    let stored = store.get_s3_config(org_id).await?;
    let dest: S3Destination = match body {
        None => stored
            .as_ref()
            .map(|c| c.dest.clone())
            .ok_or(Error::NotFound("audit-export config"))?,
        Some(value) => parse_input(value)?.validate()?,
    };
    let external_id = store.external_id(org_id).await?;
    let result = test_connection(clients, access_role_arn, &dest, &external_id, org_id, now).await;
    if stored.is_some_and(|c| c.dest == dest) {
        store
            .record_s3_test(
                org_id,
                result.success,
                result.error.as_deref(),
                &rfc3339_millis(now),
            )
            .await?;
    }
    Ok(result)
}

/// The org's most recent runs, newest first; `pairs` is the query (`limit`, 1 to 200).
pub async fn runs(
    store: &Store,
    org_id: &OrgId,
    pairs: &[(String, String)],
) -> Result<Vec<ExportRun>, Error> {
    let mut limit = DEFAULT_RUNS;
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => limit = page_limit(v, MAX_RUNS)?,
            other => return Err(Error::invalid(other, "is not a known parameter (limit)")),
        }
    }
    Ok(store.list_runs(org_id, limit).await?)
}

/// What a customer needs to grant access: the ExternalId and the exact policies.
pub async fn setup(
    store: &Store,
    access_role_arn: Option<&str>,
    org_id: &OrgId,
) -> Result<Value, Error> {
    let external_id = store.external_id(org_id).await?;
    let stored = store.get_s3_config(org_id).await?;
    let (bucket, prefix) = stored
        .map(|c| (c.dest.bucket, c.dest.prefix))
        .unwrap_or_else(|| ("YOUR-BUCKET".into(), DEFAULT_PREFIX.into()));
    let principal_arn =
        access_role_arn.unwrap_or("arn:aws:iam::ACCOUNT:role/auditrelay-customer-access");
    Ok(setup_policies(
        principal_arn,
        &external_id,
        &bucket,
        &prefix,
    ))
}
