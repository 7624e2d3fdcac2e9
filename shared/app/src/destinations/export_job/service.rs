//! The services behind `POST /v1/audit/export`, `GET /v1/audit/exports` and
//! `GET /v1/audit/exports/{id}`.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::queue::{send, JobMessage};
use crate::pipeline::bucket::Buckets;
use crate::summary::read::dim_counts;
use relay_core::cursor::CursorSigner;
use relay_core::error::Error;
use relay_core::model::bucket::{BucketTarget, FieldNames};
use relay_core::model::export_job::{
    bound, ExportJob, ExportJobView, ExportRequest, JobStatus, ValidExport,
};
use relay_core::model::ids::ExportId;
use relay_core::model::ids::OrgId;
use relay_core::model::{Org, Role};
use relay_core::query::{page_limit, LogFilter};
use relay_core::summary::buckets::Dim;
use relay_store::error::StoreError;
use relay_store::Store;

/// Default page size of `GET /v1/audit/exports`.
pub const DEFAULT_LIST_LIMIT: usize = 20;
/// Largest page size.
pub const MAX_LIST_LIMIT: usize = 100;

/// The documented `202 Accepted` answer of `POST /v1/audit/export`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = ExportCreated)]
pub struct Created {
    /// The job's id.
    pub export_id: ExportId,
    /// `queued`.
    pub status: JobStatus,
    /// How many events the job will write, from the summary counters: exact for a range
    /// filtered by nothing, `identity_id`, `action` or `success` alone, an upper bound
    /// otherwise.
    pub estimated_records: u64,
}

/// A page of jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportList {
    /// Newest first.
    pub exports: Vec<ExportJobView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub cursor: Option<String>,
    /// Whether another page may follow.
    pub has_more: bool,
}

/// The estimate of a job's size (a few reads of the summary counters).
pub async fn estimate(
    store: &Store,
    org_id: &OrgId,
    filter: &LogFilter,
) -> Result<u64, StoreError> {
    let (Some(from), Some(to)) = (filter.from, filter.to) else {
        return Ok(0);
    };
    let dim = match &filter.identity_id {
        Some(id) => Dim::Identity(id.clone()),
        None => Dim::Total,
    };
    let (c, _) = dim_counts(store, org_id, &dim, from, to).await?;
    let mut n = if filter.actions.is_empty() {
        c.total
    } else {
        filter
            .actions
            .iter()
            .map(|a| c.actions.get(a).copied().unwrap_or(0))
            .sum()
    };
    match filter.success {
        Some(false) => n = n.min(c.failed),
        Some(true) => n = n.min(c.total - c.failed),
        None => {}
    }
    Ok(n)
}

/// Validates and queues an export job for `org`, asked for by a key of role `caller` (only
/// admins and owners may name a destination).
pub async fn create(
    store: &Store,
    buckets: &Buckets,
    sqs: &aws_sdk_sqs::Client,
    queue_url: Option<&str>,
    (org, caller): (&Org, Role),
    body: Value,
    now: OffsetDateTime,
) -> Result<Created, Error> {
    let req: ExportRequest = relay_core::decode::from_value(body, "")?;
    let v: ValidExport = req.validate(org.retention_days)?;
    let dest: BucketTarget = match v.destination.clone() {
        // The whole trail to any bucket: only those who configure the org's destinations may
        // name one; `audit:export` alone exports to the destination they configured.
        Some(_) if !caller.is_admin() => {
            return Err(Error::Forbidden(
                "destination: only admin and owner keys may name a destination; omit it to export to the org's configured destination".into(),
            ))
        }
        Some(mut d) => {
            buckets
                .prepare(store, &org.org_id, &mut d, FieldNames::JOB)
                .await?;
            d
        }
        None => {
            let cfg = store.get_s3_config(&org.org_id).await?.ok_or_else(|| {
                Error::invalid(
                    "destination",
                    "is required: this org has no export destination configured (POST /orgs/{orgId}/audit-export/config)",
                )
            })?;
            if cfg.pending_verification {
                return Err(Error::invalid(
                    "destination",
                    "is required: the org's export destination is waiting for its ownership token (POST /orgs/{orgId}/audit-export/verify)",
                ));
            }
            cfg.dest.target
        }
    };
    // A deployment without the export queue cannot run jobs: the service is unavailable for
    // them (503), which is not a fault of the request nor a crash.
    let queue_url = queue_url.ok_or_else(|| {
        Error::Unavailable(
            "export jobs are not available: AUDITRELAY_EXPORT_QUEUE_URL is not set".into(),
        )
    })?;
    let estimated_records = estimate(store, &org.org_id, &v.filter).await?;
    let job = ExportJob {
        export_id: ExportId::generate(),
        org_id: org.org_id.clone(),
        status: JobStatus::Queued,
        schema: v.schema,
        format: v.format,
        from: bound(v.from),
        to: bound(v.to),
        filters: v.filter_pairs,
        dest,
        estimated_records,
        record_count: 0,
        files: vec![],
        manifest_key: None,
        manifest_seal: None,
        created_at: relay_core::model::event::rfc3339_millis(now),
        started_at: None,
        completed_at: None,
        error: None,
        position: None,
        upload: None,
        failures: 0,
    };
    store.create_export_job(&job, now.unix_timestamp()).await?;
    let msg = JobMessage {
        org_id: job.org_id.clone(),
        export_id: job.export_id.clone(),
    };
    if let Err(e) = send(sqs, queue_url, &msg, 0).await {
        // Never leave a job that nothing will run looking queued.
        store
            .fail_export(
                &job.org_id,
                &job.export_id,
                "could not be queued; create it again",
            )
            .await?;
        return Err(Error::Unavailable(format!("export queue: {e}")));
    }
    Ok(Created {
        export_id: job.export_id,
        status: JobStatus::Queued,
        estimated_records,
    })
}

/// One job of the org, or 404 (also for another org's job).
pub async fn get(
    store: &Store,
    org_id: &OrgId,
    export_id: &ExportId,
) -> Result<ExportJobView, Error> {
    if !export_id.is_well_formed() {
        return Err(Error::NotFound("export"));
    }
    store
        .get_export_job(org_id, export_id)
        .await?
        .map(|j| j.view())
        .ok_or(Error::NotFound("export"))
}

/// The org's jobs, newest first (`limit` 1–100, default 20; a signed `cursor`).
pub async fn list(
    store: &Store,
    cursors: &CursorSigner,
    org_id: &OrgId,
    pairs: &[(String, String)],
) -> Result<ExportList, Error> {
    let mut limit = DEFAULT_LIST_LIMIT;
    let mut cursor: Option<&str> = None;
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in pairs {
        if seen.contains(&k.as_str()) {
            return Err(Error::invalid(k, "is given more than once"));
        }
        seen.push(k);
        match k.as_str() {
            "limit" => limit = page_limit(v, MAX_LIST_LIMIT)?,
            "cursor" => cursor = Some(v),
            other => {
                return Err(Error::invalid(
                    other,
                    "is not a known parameter (limit, cursor)",
                ))
            }
        }
    }
    let after: Option<String> = cursor
        .map(|c| cursors.decode(org_id, "exports", c))
        .transpose()?;
    let (jobs, next) = store
        .list_export_jobs(org_id, limit, after.as_deref())
        .await?;
    let cursor = next.map(|id| cursors.encode(org_id, "exports", &id));
    Ok(ExportList {
        exports: jobs.iter().map(ExportJob::view).collect(),
        has_more: cursor.is_some(),
        cursor,
    })
}
