//! The continuous export's configuration API behind `/orgs/{orgId}/audit-export/config`,
//! `.../test-connection`, `.../verify`, `.../runs` and `.../setup`: the AuditExport API's
//! `AuditExportConfig`, read and written for one org, the dry run, the ownership check of
//! bucket-policy access, the run history, and what a customer pastes into their role or
//! bucket policy.

use serde_json::Value;
use time::OffsetDateTime;

use crate::pipeline::bucket::{token_hash, Buckets, TestResult};
use crate::pipeline::role::{setup_policies, SetupView};
use relay_core::error::Error;
use relay_core::model::bucket::{FieldNames, DEFAULT_PREFIX};
use relay_core::model::event::{rfc3339_millis, sortable_time};
use relay_core::model::ids::{random_token, OrgId};
use relay_core::model::s3_stream::{
    needs_verification, Layout, S3ConfigInput, S3ConfigView, S3Destination,
};
use relay_core::query::page_limit;
use relay_store::s3_stream::{ExportRun, Verification};
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

/// Validates and stores the org's configuration (created or replaced). A bucket-policy
/// destination that is new or changed waits for its ownership token.
pub async fn upsert(
    store: &Store,
    buckets: &Buckets,
    org_id: &OrgId,
    body: Value,
    now: OffsetDateTime,
) -> Result<S3ConfigView, Error> {
    let input = parse_input(body)?;
    let stored = store.get_s3_config(org_id).await?;
    let mut dest = input.validate_over(stored.as_ref().map(|c| &c.dest))?;
    buckets
        .prepare(store, org_id, &mut dest.target, FieldNames::CONFIG)
        .await?;
    let verification = if !needs_verification(&dest) {
        Verification::NotNeeded
    } else if stored.is_some_and(|c| c.dest.target == dest.target) {
        Verification::Keep
    } else {
        Verification::Require
    };
    let cfg = store
        .upsert_s3_config(
            org_id,
            &dest,
            input.enabled.unwrap_or(true),
            verification,
            &rfc3339_millis(now),
            &sortable_time(now),
        )
        .await?;
    let external_id = store.external_id(org_id).await?;
    Ok(cfg.view(&external_id))
}

/// Checks the ownership token an admin read from the verification file; on a match the
/// export starts.
pub async fn verify(
    store: &Store,
    org_id: &OrgId,
    body: Value,
    now: OffsetDateTime,
) -> Result<S3ConfigView, Error> {
    let token = match body.get("token") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.trim().to_string(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(Error::invalid("token", "is required"))
        }
        Some(_) => return Err(Error::invalid("token", "must be a string")),
    };
    if let Some(extra) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| k.as_str() != "token"))
    {
        return Err(Error::invalid(
            extra.as_str(),
            "is not a known field (token)",
        ));
    }
    let cfg = store
        .get_s3_config(org_id)
        .await?
        .ok_or(Error::NotFound("audit-export config"))?;
    if !cfg.pending_verification {
        return Err(Error::Conflict {
            field: "token".into(),
            message: "no token is expected: the export is not waiting for verification".into(),
        });
    }
    if !store
        .verify_s3_export(org_id, &token_hash(&token), &rfc3339_millis(now))
        .await?
    {
        return Err(Error::invalid(
            "token",
            "does not match the token in the latest verification file: run test-connection, then post the content of the file it names",
        ));
    }
    get(store, org_id).await
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
/// Only a test of the stored destination is recorded on it; for a stored bucket-policy
/// destination waiting for verification, the test file holds a new ownership token.
pub async fn test(
    store: &Store,
    buckets: &Buckets,
    org_id: &OrgId,
    body: Option<Value>,
    now: OffsetDateTime,
) -> Result<TestResult, Error> {
    let stored = store.get_s3_config(org_id).await?;
    let testing_stored = body.is_none();
    let dest: S3Destination = match body {
        None => stored
            .as_ref()
            .map(|c| c.dest.clone())
            .ok_or(Error::NotFound("audit-export config"))?,
        Some(value) => {
            let mut dest = parse_input(value)?.validate_over(stored.as_ref().map(|c| &c.dest))?;
            buckets
                .prepare(store, org_id, &mut dest.target, FieldNames::CONFIG)
                .await?;
            dest
        }
    };
    let token = match &stored {
        Some(c) if testing_stored && c.pending_verification => {
            Some(random_token(24).map_err(|e| Error::Internal(e.to_string()))?)
        }
        _ => None,
    };
    let result = match dest.layout.security_lake() {
        None => {
            buckets
                .test_connection(store, org_id, &dest.target, token.as_deref(), now)
                .await
        }
        // Each class's source is its own location (and, in Security Lake, its own grant):
        // the test writes under every one of them.
        Some(lake) => {
            let mut result = None;
            for location in lake.locations(&dest.target.prefix) {
                let mut target = dest.target.clone();
                target.prefix = location;
                let r = buckets
                    .test_connection(store, org_id, &target, token.as_deref(), now)
                    .await;
                let failed = !r.success;
                result = Some(r);
                if failed {
                    break;
                }
            }
            result.unwrap_or_else(|| TestResult::failed("no Security Lake source to test".into()))
        }
    };
    if let (Some(token), true) = (&token, result.success) {
        store.set_s3_verify_hash(org_id, &token_hash(token)).await?;
    }
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

/// What a customer needs to grant access: the ExternalId and the exact policies (a role's
/// trust and permission policies, or the bucket policy for the stack's own principal).
pub async fn setup(
    store: &Store,
    access_role_arn: Option<&str>,
    org_id: &OrgId,
) -> Result<SetupView, Error> {
    let external_id = store.external_id(org_id).await?;
    let stored = store.get_s3_config(org_id).await?;
    let (bucket, prefix) = stored
        .map(|c| {
            let prefix = match c.dest.layout {
                // The custom sources' locations, `ext/{source}/` (the connection test
                // writes under each one's `.verify/`).
                Layout::SecurityLake(_) if c.dest.target.prefix.is_empty() => "ext/*".into(),
                Layout::SecurityLake(_) => format!("{}/ext/*", c.dest.target.prefix),
                Layout::Standard => c.dest.target.prefix,
            };
            (c.dest.target.bucket, prefix)
        })
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
