//! Export jobs in the config table: pk `EXPJOB#{org_id}`, sk `exp_{ULID}` (so the org's jobs
//! list newest first with one reverse Query), kept 90 days.
//!
//! The request is stored as given (`format`, the file format's wire name, and `schema`, the
//! events' shape; an item without `schema` is from before jobs had one and means the format's
//! default: canonical JSONL, columnar CSV). Besides the request and the result (`status`, `record_count`, `files`, `manifest_key`,
//! `error`), the item is the job's checkpoint: `pos_t`/`pos_e` (the last event written; the
//! next file starts after it), `upload_key`/`upload_id` (a multipart upload in progress, so
//! that a crashed invocation's can be aborted), `failures` (transient failures in a row), and
//! `lease_owner`/`lease_until` (one invocation works on a job at a time).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{conditional, get_n, get_s, n, opt_s, s, Item, Store};
use crate::bucket::{target_from_item, target_values};
use crate::error::StoreError;
use relay_core::model::export_job::{ExportFile, ExportJob, JobStatus, ManifestSeal};
use relay_core::model::file_format::FileFormat;
use relay_core::model::ids::{ExportId, OrgId};
use relay_core::query::Position;
use relay_core::shapes::Schema;

/// How long a job record is kept.
pub const JOB_TTL_SECS: i64 = 90 * 86_400;

fn pk(org_id: &OrgId) -> String {
    format!("EXPJOB#{org_id}")
}

fn file_item(f: &ExportFile) -> AttributeValue {
    AttributeValue::M(
        [
            ("key".to_string(), s(&f.key)),
            ("size".to_string(), n(f.size_bytes)),
            ("records".to_string(), n(f.records)),
        ]
        .into_iter()
        .chain(f.sha256.as_ref().map(|h| ("sha256".to_string(), s(h))))
        .collect(),
    )
}

fn job_from_item(item: &Item) -> Result<ExportJob, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("export job: {what}"));
    let files = match item.get("files") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| {
                let m = v.as_m().map_err(|_| corrupt("files"))?;
                Ok(ExportFile {
                    key: get_s(m, "key")?.to_string(),
                    size_bytes: get_n(m, "size")?,
                    records: get_n(m, "records")?,
                    sha256: opt_s(m, "sha256"),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?,
        _ => vec![],
    };
    let filters: Vec<(String, String)> =
        serde_json::from_str(get_s(item, "filters")?).map_err(|_| corrupt("filters"))?;
    let position = match (opt_s(item, "pos_t"), opt_s(item, "pos_e")) {
        (Some(t), Some(e)) => Some(Position { t, e }),
        _ => None,
    };
    let upload = match (opt_s(item, "upload_key"), opt_s(item, "upload_id")) {
        (Some(k), Some(id)) => Some((k, id)),
        _ => None,
    };
    let format = FileFormat::parse(get_s(item, "format")?).ok_or_else(|| corrupt("format"))?;
    // Jobs stored before they had a schema wrote canonical JSONL or (as columnar CSV now
    // does) CSV: the format's default schema is what they mean.
    let schema = match opt_s(item, "schema") {
        Some(name) => Schema::parse(&name).ok_or_else(|| corrupt("schema"))?,
        None => format.default_schema(),
    };
    Ok(ExportJob {
        export_id: get_s(item, "sk")?.into(),
        org_id: get_s(item, "org_id")?.into(),
        status: JobStatus::parse(get_s(item, "status")?).ok_or_else(|| corrupt("status"))?,
        schema,
        format,
        from: get_s(item, "from")?.to_string(),
        to: get_s(item, "to")?.to_string(),
        filters,
        dest: target_from_item(item)?,
        estimated_records: get_n(item, "estimated_records").unwrap_or(0),
        record_count: get_n(item, "record_count").unwrap_or(0),
        files,
        manifest_key: opt_s(item, "manifest_key"),
        manifest_seal: match (
            opt_s(item, "manifest_sha256"),
            opt_s(item, "manifest_signature"),
            opt_s(item, "manifest_key_fingerprint"),
        ) {
            (Some(manifest_sha256), Some(manifest_signature), Some(public_key_fingerprint)) => {
                Some(ManifestSeal {
                    manifest_sha256,
                    manifest_signature,
                    public_key_fingerprint,
                })
            }
            _ => None,
        },
        created_at: get_s(item, "created_at")?.to_string(),
        started_at: opt_s(item, "started_at"),
        completed_at: opt_s(item, "completed_at"),
        error: opt_s(item, "error"),
        position,
        upload,
        failures: get_n(item, "failures").unwrap_or(0),
    })
}

/// The item of a new (queued) job.
fn job_item(job: &ExportJob, now_secs: i64) -> Result<Item, StoreError> {
    let filters =
        serde_json::to_string(&job.filters).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut item: Item = Item::new();
    item.insert("pk".into(), s(pk(&job.org_id)));
    item.insert("sk".into(), s(&job.export_id));
    item.insert("org_id".into(), s(&job.org_id));
    item.insert("status".into(), s(job.status.as_str()));
    item.insert("format".into(), s(job.format.as_str()));
    item.insert("schema".into(), s(job.schema.as_str()));
    item.insert("from".into(), s(&job.from));
    item.insert("to".into(), s(&job.to));
    item.insert("filters".into(), s(filters));
    for (name, value) in target_values(&job.dest) {
        if let Some(v) = value {
            item.insert(name.into(), v);
        }
    }
    item.insert("estimated_records".into(), n(job.estimated_records));
    item.insert("record_count".into(), n(0));
    item.insert("files".into(), AttributeValue::L(vec![]));
    item.insert("failures".into(), n(0));
    item.insert("created_at".into(), s(&job.created_at));
    item.insert("expires_at".into(), n(now_secs + JOB_TTL_SECS));
    Ok(item)
}

/// Names that are DynamoDB reserved words (or might become ones), aliased everywhere.
const ALIASED: [&str; 9] = [
    "status", "format", "from", "to", "error", "region", "bucket", "prefix", "files",
];

impl Store {
    /// Stores a new job (queued).
    pub async fn create_export_job(
        &self,
        job: &ExportJob,
        now_secs: i64,
    ) -> Result<(), StoreError> {
        let item = job_item(job, now_secs)?;
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// One job of the org.
    pub async fn get_export_job(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
    ) -> Result<Option<ExportJob>, StoreError> {
        self.get_export_item(org_id, export_id)
            .await?
            .as_ref()
            .map(job_from_item)
            .transpose()
    }

    /// The job's stored item (consistent read).
    async fn get_export_item(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", s(pk(org_id)))
            .key("sk", s(export_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item)
    }

    /// A page of the org's jobs, newest first, after the job `after`; returns the last id when
    /// more may follow.
    pub async fn list_export_jobs(
        &self,
        org_id: &OrgId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<ExportJob>, Option<String>), StoreError> {
        let start = after
            .map(|id| Item::from([("pk".to_string(), s(pk(org_id))), ("sk".to_string(), s(id))]));
        let out = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk(org_id)))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let jobs = out
            .items()
            .iter()
            .map(job_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out
            .last_evaluated_key()
            .and_then(|k| opt_s(k, "sk"))
            .filter(|_| jobs.len() == limit);
        Ok((jobs, next))
    }

    /// Whether a queued or running job of the org writes with the credential `name`.
    pub async fn export_jobs_use_credential(
        &self,
        org_id: &OrgId,
        name: &str,
    ) -> Result<bool, StoreError> {
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.config_table)
            .key_condition_expression("pk = :pk")
            .filter_expression("credentials_path = :n AND #status IN (:q, :r)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pk", s(pk(org_id)))
            .expression_attribute_values(":n", s(name))
            .expression_attribute_values(":q", s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":r", s(JobStatus::Running.as_str()))
            .projection_expression("sk")
            .into_paginator()
            .items()
            .send();
        if let Some(item) = pages.next().await {
            item.map_err(StoreError::from_sdk)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Takes the job's lease until `until` (epoch seconds) if it is queued or running and no
    /// live lease exists; marks it running. `None`: finished, missing, or held by another.
    pub async fn acquire_export_lease(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
        now_secs: i64,
        until: i64,
        now: &str,
    ) -> Result<Option<ExportJob>, StoreError> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(pk(org_id)))
            .key("sk", s(export_id))
            .update_expression(
                "SET #status = :running, lease_owner = :o, lease_until = :u, \
                 started_at = if_not_exists(started_at, :now)",
            )
            .condition_expression(
                "attribute_exists(pk) AND #status IN (:queued, :running) \
                 AND (attribute_not_exists(lease_until) OR lease_until < :nows)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":o", s(owner))
            .expression_attribute_values(":u", n(until))
            .expression_attribute_values(":nows", n(now_secs))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        conditional(res)?
            .and_then(|out| out.attributes().map(job_from_item))
            .transpose()
    }

    /// Runs an update guarded by the lease. `Ok(false)`: the lease was lost.
    async fn update_export_leased(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        self.update_export_guarded(
            org_id,
            export_id,
            owner,
            "lease_owner = :owner",
            expression,
            values,
        )
        .await
    }

    /// Runs an update under `condition`, which must include the lease guard (`:owner`).
    async fn update_export_guarded(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
        condition: &str,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(pk(org_id)))
            .key("sk", s(export_id))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_values(":owner", s(owner));
        for name in ALIASED {
            if expression.contains(&format!("#{name}")) || condition.contains(&format!("#{name}")) {
                req = req.expression_attribute_names(format!("#{name}"), name);
            }
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        Ok(conditional(req.send().await)?.is_some())
    }

    /// Records the multipart upload of the file being written (aborted if the run dies).
    pub async fn set_export_upload(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<bool, StoreError> {
        self.update_export_leased(
            org_id,
            export_id,
            owner,
            "SET upload_key = :k, upload_id = :id",
            vec![(":k", s(key)), (":id", s(upload_id))],
        )
        .await
    }

    /// Forgets the multipart upload of a file that was aborted.
    pub async fn clear_export_upload(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
    ) -> Result<bool, StoreError> {
        self.update_export_leased(
            org_id,
            export_id,
            owner,
            "REMOVE upload_key, upload_id",
            vec![],
        )
        .await
    }

    /// Checkpoints a written file: appended to `files`, its events counted, the position moved
    /// past its last event, the failure streak reset.
    ///
    /// `files_before` is how many files the job listed before this one. The update is
    /// conditional on it, so a request the SDK retries after a lost response cannot append the
    /// file (and count its records) twice; such a retry finds the file already there and
    /// answers `Ok(true)`.
    pub async fn checkpoint_export(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
        files_before: usize,
        file: &ExportFile,
        last: &Position,
    ) -> Result<bool, StoreError> {
        let applied = self
            .update_export_guarded(
                org_id,
                export_id,
                owner,
                "lease_owner = :owner AND size(#files) = :before",
                "SET #files = list_append(#files, :f), record_count = record_count + :n, \
             pos_t = :pt, pos_e = :pe, failures = :zero REMOVE upload_key, upload_id",
                vec![
                    (":f", AttributeValue::L(vec![file_item(file)])),
                    (":n", n(file.records)),
                    (":pt", s(&last.t)),
                    (":pe", s(&last.e)),
                    (":zero", n(0)),
                    (":before", n(files_before as u64)),
                ],
            )
            .await?;
        if applied {
            return Ok(true);
        }
        self.checkpoint_already_applied(org_id, export_id, owner, files_before, &file.key)
            .await
    }

    /// Whether the lease is still `owner`'s and file number `files_before` is `key`: the
    /// checkpoint went through on an earlier attempt of the same request.
    async fn checkpoint_already_applied(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
        files_before: usize,
        key: &str,
    ) -> Result<bool, StoreError> {
        let Some(item) = self.get_export_item(org_id, export_id).await? else {
            return Ok(false);
        };
        let leased = opt_s(&item, "lease_owner").as_deref() == Some(owner);
        let files = job_from_item(&item)?.files;
        Ok(leased && files.len() == files_before + 1 && files[files_before].key == key)
    }

    /// Completes the job (after the manifest is written) and gives the lease back.
    pub async fn complete_export(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
        manifest_key: &str,
        seal: Option<&ManifestSeal>,
        now: &str,
    ) -> Result<bool, StoreError> {
        let mut set = "SET #status = :done, completed_at = :now, manifest_key = :m".to_string();
        let mut values = vec![
            (":done", s(JobStatus::Completed.as_str())),
            (":now", s(now)),
            (":m", s(manifest_key)),
        ];
        if let Some(seal) = seal {
            set.push_str(
                ", manifest_sha256 = :ms, manifest_signature = :sig, manifest_key_fingerprint = :fp",
            );
            values.push((":ms", s(&seal.manifest_sha256)));
            values.push((":sig", s(&seal.manifest_signature)));
            values.push((":fp", s(&seal.public_key_fingerprint)));
        }
        set.push_str(" REMOVE lease_owner, lease_until, upload_key, upload_id");
        self.update_export_leased(org_id, export_id, owner, &set, values)
            .await
    }

    /// Counts a transient failure and gives the lease back; returns the streak.
    pub async fn record_export_failure(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
        error: &str,
    ) -> Result<Option<u32>, StoreError> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(pk(org_id)))
            .key("sk", s(export_id))
            .update_expression(
                "SET failures = failures + :one, last_error = :e REMOVE lease_owner, lease_until",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":e", s(error))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        Ok(conditional(res)?.and_then(|out| get_n(out.attributes()?, "failures").ok()))
    }

    /// Fails the job for good (unless it completed meanwhile) and releases any lease.
    /// Marks the job failed with `error`. `false`: it was finished already (completed, or
    /// failed before: the transition happens once, so its notice is sent once).
    pub async fn fail_export(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        error: &str,
    ) -> Result<bool, StoreError> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key("pk", s(pk(org_id)))
            .key("sk", s(export_id))
            .update_expression("SET #status = :failed, #error = :e REMOVE lease_owner, lease_until")
            .condition_expression(
                "attribute_exists(pk) AND #status <> :done AND #status <> :failed",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":failed", s(JobStatus::Failed.as_str()))
            .expression_attribute_values(":done", s(JobStatus::Completed.as_str()))
            .expression_attribute_values(":e", s(error))
            .send()
            .await;
        Ok(conditional(res)?.is_some())
    }

    /// Gives the lease back (the job continues in another invocation).
    pub async fn release_export_lease(
        &self,
        org_id: &OrgId,
        export_id: &ExportId,
        owner: &str,
    ) -> Result<bool, StoreError> {
        self.update_export_leased(
            org_id,
            export_id,
            owner,
            "REMOVE lease_owner, lease_until",
            vec![],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_core::model::bucket::{Access, BucketTarget, StoreType};

    fn job(schema: Schema, format: FileFormat) -> ExportJob {
        ExportJob {
            export_id: "exp_1".into(),
            org_id: "org_1".into(),
            status: JobStatus::Queued,
            schema,
            format,
            from: "2026-05-01T00:00:00.000Z".into(),
            to: "2026-05-02T00:00:00.000Z".into(),
            filters: vec![("action".into(), "read".into())],
            dest: BucketTarget {
                store: StoreType::S3,
                bucket: "acme-audit".into(),
                region: "us-east-1".into(),
                access: Access::Role("arn:aws:iam::123456789012:role/AuditRelayExport".into()),
                prefix: "audit-logs".into(),
                endpoint_url: None,
                force_path_style: false,
                account_name: None,
            },
            estimated_records: 3,
            record_count: 0,
            files: vec![],
            manifest_key: None,
            manifest_seal: None,
            created_at: "2026-05-02T00:00:01.000Z".into(),
            started_at: None,
            completed_at: None,
            error: None,
            position: None,
            upload: None,
            failures: 0,
        }
    }

    #[test]
    fn schema_and_format_round_trip() {
        for (schema, format) in [
            (Schema::Canonical, FileFormat::JsonlGz),
            (Schema::Ocsf, FileFormat::Jsonl),
            (Schema::Columnar, FileFormat::Parquet),
            (Schema::Columnar, FileFormat::CsvGz),
        ] {
            let j = job(schema, format);
            let item = job_item(&j, 0).unwrap();
            assert_eq!(item["schema"], s(schema.as_str()));
            assert_eq!(item["format"], s(format.as_str()));
            assert_eq!(job_from_item(&item).unwrap(), j);
        }
    }

    #[test]
    fn items_from_before_schemas_read_as_the_formats_default() {
        for (format, schema) in [
            (FileFormat::Jsonl, Schema::Canonical),
            (FileFormat::Csv, Schema::Columnar),
        ] {
            let mut item = job_item(&job(schema, format), 0).unwrap();
            item.remove("schema");
            let read = job_from_item(&item).unwrap();
            assert_eq!((read.schema, read.format), (schema, format));
        }
        let mut item = job_item(&job(Schema::Canonical, FileFormat::Jsonl), 0).unwrap();
        item.insert("schema".into(), s("xml"));
        assert!(matches!(job_from_item(&item), Err(StoreError::Corrupt(_))));
    }
}
