//! Running an export job: read the range in event-time order, write files of at most
//! 100,000 events (`part-0001.jsonl`…, with the format's extension) in the job's shape and
//! format ([`crate::files::FileWriter`], streamed into the upload buffer) into the destination
//! through the customer's role, then the manifest.
//!
//! Why a crash or a timeout loses nothing and duplicates nothing:
//! - **One runner per job**: a lease on the job item (conditional update) that lasts until
//!   the invocation's own deadline, so it is free again by the time SQS could redeliver.
//! - **Checkpoint per file**: after a file is complete in S3, the job item records it and the
//!   position of its last event in one update. A runner that stops (deadline, crash) resumes
//!   after the last recorded file; the file it was writing is rewritten under the same key
//!   from the same position, and its multipart upload, if any, is aborted.
//! - **Continuation**: before the deadline, the runner stops between files (or abandons the
//!   file in progress), gives the lease back and puts the job on the queue again.
//! - **Manifest last**: `manifest.json` is written only after every file is recorded, and the
//!   job is `completed` only after it; so a manifest never lists a file that is not complete,
//!   and never misses one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::queue::JobMessage;
use super::send::FileUpload;
use crate::clients::Clients;
use crate::files::{FileWriter, StoredEvent};
use crate::integrity::signer::{SignError, Signer};
use crate::pipeline::bucket::Buckets;
use crate::pipeline::bucket_writer::{BucketWriter, Limits, WriteFailure};
use crate::pipeline::pause::Notifier;
use relay_core::integrity::{
    hex, manifest_relative_key, signing_string, SIGNATURE_ALGORITHM, SIGNATURE_METADATA,
    SIGNATURE_SUFFIX,
};
use relay_core::model::event::{parse_time, rfc3339_millis};
use relay_core::model::export_job::{parse_filter, ExportFile, ExportJob, ManifestSeal};
use relay_core::model::ids::new_id;
use relay_core::model::ids::OrgId;
use relay_core::query::LogFilter;
use relay_core::query::Position;
use relay_core::shapes::{Schema, ShapeContext};
use relay_store::error::StoreError;
use relay_store::Store;

/// Tunables. Defaults are the production values.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// Events per file (part files of at most 100,000 records).
    pub records_per_file: u64,
    /// Size of a multipart part and of the write buffer (≥ 5 MiB).
    pub part_bytes: usize,
    /// Parts uploading at once per file.
    pub max_inflight_parts: usize,
    /// Transient failures in a row before the job fails.
    pub max_failures: u32,
    /// Delay of a retry after a transient failure, times the failure count.
    pub retry_delay: Duration,
    /// How long a job's lease outlasts the invocation's deadline: until the invocation must
    /// have ended (the Lambda's margin between its deadline and its timeout).
    pub lease_margin: Duration,
}

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings {
            records_per_file: 100_000,
            part_bytes: 8 * 1024 * 1024,
            max_inflight_parts: 2,
            max_failures: 5,
            retry_delay: Duration::from_secs(30),
            lease_margin: super::trigger::MARGIN,
        }
    }
}

/// What one invocation did with a job.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// Every file and the manifest are written.
    Completed {
        /// Events written.
        records: u64,
        /// Files written.
        files: usize,
    },
    /// The job failed for good.
    Failed(String),
    /// Out of time (or a transient failure): the job continues in another invocation, from
    /// its last file. `requeued`: a continuation message was sent.
    Continued {
        /// Whether a message for the next invocation was queued.
        requeued: bool,
    },
    /// Nothing to do: the job is finished, missing, or another invocation holds it.
    Skipped,
}

/// How the work on a job ended (before the bookkeeping).
enum Ending {
    Done { records: u64, files: usize },
    OutOfTime,
    LeaseLost,
    Permanent(String),
    Transient(String),
}

impl From<WriteFailure> for Ending {
    fn from(f: WriteFailure) -> Self {
        if f.is_permanent() {
            Ending::Permanent(f.message)
        } else {
            Ending::Transient(f.message)
        }
    }
}

/// A signing failure (KMS throttling or an outage) is retried like any transient one.
fn transient(e: SignError) -> Ending {
    Ending::Transient(format!("signing the manifest: {e}"))
}

impl From<StoreError> for Ending {
    fn from(e: StoreError) -> Self {
        Ending::Transient(format!("storage: {e}"))
    }
}

/// The events of a filter, oldest first, page by page, with the next page fetched while the
/// current one is being written.
struct EventStream {
    store: Store,
    org_id: OrgId,
    filter: LogFilter,
    rows: VecDeque<(Position, String)>,
    after: Option<Position>,
    exhausted: bool,
    prefetch: Option<tokio::task::JoinHandle<Result<PageOut, StoreError>>>,
}

type PageOut = (Vec<(Position, String)>, Option<Position>);

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(h) = self.prefetch.take() {
            h.abort();
        }
    }
}

impl EventStream {
    fn new(store: Store, org_id: OrgId, filter: LogFilter, after: Option<Position>) -> Self {
        EventStream {
            store,
            org_id,
            filter,
            rows: VecDeque::new(),
            after,
            exhausted: false,
            prefetch: None,
        }
    }

    fn fetch(&self) -> tokio::task::JoinHandle<Result<PageOut, StoreError>> {
        let (store, org, filter, after) = (
            self.store.clone(),
            self.org_id.clone(),
            self.filter.clone(),
            self.after.clone(),
        );
        tokio::spawn(async move {
            store
                .events_page_ascending(&org, &filter, after.as_ref())
                .await
        })
    }

    async fn next(&mut self) -> Result<Option<(Position, String)>, StoreError> {
        loop {
            if let Some(row) = self.rows.pop_front() {
                return Ok(Some(row));
            }
            if self.exhausted {
                return Ok(None);
            }
            let handle = match self.prefetch.take() {
                Some(h) => h,
                None => self.fetch(),
            };
            let (rows, next) = handle
                .await
                .map_err(|e| StoreError::Sdk(format!("page reader: {e}")))??;
            self.rows.extend(rows);
            match next {
                Some(p) => {
                    self.after = Some(p);
                    self.prefetch = Some(self.fetch());
                }
                None => self.exhausted = true,
            }
        }
    }
}

/// A stored event as the file writer takes it: the stored JSON carries its own acceptance
/// time.
fn stored(doc: &str) -> StoredEvent<'_> {
    StoredEvent {
        doc,
        received_at: "",
    }
}

/// Runs export jobs; built once per cold start.
#[derive(Debug, Clone)]
pub struct ExportRunner {
    store: Store,
    clients: Clients,
    buckets: Buckets,
    notifier: Notifier,
    queue_url: Option<String>,
    settings: ExportSettings,
    signer: Option<Signer>,
}

impl ExportRunner {
    /// A runner writing through `buckets`; continuations go to `queue_url` through
    /// `clients`; failed jobs are announced through `notifier`.
    pub fn new(
        store: Store,
        clients: Clients,
        buckets: Buckets,
        notifier: Notifier,
        queue_url: Option<String>,
        settings: ExportSettings,
    ) -> Self {
        ExportRunner {
            store,
            clients,
            buckets,
            notifier,
            queue_url,
            settings,
            signer: None,
        }
    }

    /// The same runner, its leases outlasting an invocation's deadline by `margin`.
    pub fn with_lease_margin(mut self, margin: Duration) -> Self {
        self.settings.lease_margin = margin;
        self
    }

    /// The same runner, signing each job's manifest with `signer` (when it has a key).
    pub fn with_signer(mut self, signer: Signer) -> Self {
        self.signer = signer.enabled().then_some(signer);
        self
    }

    /// A runner as configured for this deployment.
    pub fn from_config(config: &relay_core::config::Config, clients: &Clients) -> Self {
        let store = Store::new(clients.ddb.clone(), config);
        let signer = Signer::new(
            clients.kms.clone(),
            config.signing_key_id.clone(),
            store.clone(),
        );
        ExportRunner::new(
            store,
            clients.clone(),
            Buckets::from_config(config, clients),
            Notifier::new(clients.sns.clone(), config.notify_topic_arn.clone()),
            config.export_queue_url.clone(),
            ExportSettings::default(),
        )
        .with_signer(signer)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where failures are announced.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Works on a job until it is done or `deadline` (the invocation's end minus a margin).
    pub async fn run(&self, msg: &JobMessage, deadline: Instant) -> Result<RunOutcome, StoreError> {
        let owner = new_id("run");
        let now = OffsetDateTime::now_utc();
        let left = deadline.saturating_duration_since(Instant::now());
        // The lease ends when this invocation must have ended anyway.
        let until = now.unix_timestamp()
            + i64::try_from((left + self.settings.lease_margin).as_secs()).unwrap_or(i64::MAX);
        let Some(job) = self
            .store
            .acquire_export_lease(
                &msg.org_id,
                &msg.export_id,
                &owner,
                now.unix_timestamp(),
                until,
                &rfc3339_millis(now),
            )
            .await?
        else {
            return Ok(RunOutcome::Skipped);
        };
        let ending = self.work(&job, &owner, deadline).await;
        let (org, id) = (&msg.org_id, &msg.export_id);
        match ending {
            Ending::Done { records, files } => Ok(RunOutcome::Completed { records, files }),
            Ending::LeaseLost => Ok(RunOutcome::Skipped),
            Ending::Permanent(e) => {
                super::health::mark_failed(self, org, id, &e).await?;
                Ok(RunOutcome::Failed(e))
            }
            Ending::OutOfTime => {
                if !self.store.release_export_lease(org, id, &owner).await? {
                    return Ok(RunOutcome::Skipped);
                }
                let requeued = self.requeue(msg, 0).await?;
                Ok(RunOutcome::Continued { requeued })
            }
            Ending::Transient(e) => {
                tracing::warn!(org_id = %org, export_id = %id, error = %e, "export interrupted; retrying");
                let Some(streak) = self
                    .store
                    .record_export_failure(org, id, &owner, &e)
                    .await?
                else {
                    return Ok(RunOutcome::Skipped);
                };
                if streak >= self.settings.max_failures {
                    let msg = format!("gave up after {streak} attempts; last error: {e}");
                    super::health::mark_failed(self, org, id, &msg).await?;
                    return Ok(RunOutcome::Failed(msg));
                }
                let delay = self.settings.retry_delay.as_secs() * u64::from(streak);
                let requeued = self.requeue(msg, delay.min(900) as i32).await?;
                Ok(RunOutcome::Continued { requeued })
            }
        }
    }

    /// Queues the job's next invocation. `Ok(false)`: no queue configured (tests drive the
    /// runner directly).
    async fn requeue(&self, msg: &JobMessage, delay_secs: i32) -> Result<bool, StoreError> {
        let Some(url) = &self.queue_url else {
            return Ok(false);
        };
        super::queue::send(&self.clients.sqs, url, msg, delay_secs)
            .await
            .map_err(StoreError::Throttled)?;
        Ok(true)
    }

    async fn work(&self, job: &ExportJob, owner: &str, deadline: Instant) -> Ending {
        match self.write_files(job, owner, deadline).await {
            Ok(e) | Err(e) => e,
        }
    }

    async fn write_files(
        &self,
        job: &ExportJob,
        owner: &str,
        deadline: Instant,
    ) -> Result<Ending, Ending> {
        let (org_id, id) = (&job.org_id, &job.export_id);
        let bucket = self
            .buckets
            .open(&self.store, org_id, &job.dest, Limits::Upload)
            .await
            .map_err(Ending::from)?;
        if let Some((key, upload_id)) = &job.upload {
            bucket.abort_multipart(key, upload_id).await;
            if !self.store.clear_export_upload(org_id, id, owner).await? {
                return Err(Ending::LeaseLost);
            }
        }
        let bad = |what: &str| Ending::Permanent(format!("stored job is corrupt: {what}"));
        let from = parse_time("from", &job.from).map_err(|_| bad("from"))?;
        let to = parse_time("to", &job.to).map_err(|_| bad("to"))?;
        let filter = parse_filter(&job.filters, from, to).map_err(|_| bad("filters"))?;
        // The columnar and OCSF shapes name the org's tenant; the manifest shows it too.
        let tenant_id = self
            .store
            .get_org(org_id)
            .await?
            .map(|o| o.tenant_id)
            .unwrap_or_default();
        let mut ctx = ShapeContext::new(tenant_id.clone());
        if job.schema == Schema::Ocsf {
            // The org's OCSF class choices, as of this run.
            ctx = ctx.with_class_overrides(self.store.get_class_overrides(org_id).await?.overrides);
        }
        let mut stream = EventStream::new(
            self.store.clone(),
            org_id.clone(),
            filter,
            job.position.clone(),
        );
        let mut files = job.files.clone();
        let mut records_total = job.record_count;
        let mut last_file_took: Option<Duration> = None;
        loop {
            let started = Instant::now();
            // Start a file only if one like the last fits before the deadline.
            let need = last_file_took.map(|d| d + d / 4).unwrap_or_default();
            if started + need >= deadline {
                return Ok(Ending::OutOfTime);
            }
            let Some((pos, doc)) = stream.next().await? else {
                break;
            };
            let key = job.part_key(files.len() + 1);
            let mut up = FileUpload::new(
                bucket.clone(),
                key.clone(),
                job.format.content_type(),
                self.settings.part_bytes,
                self.settings.max_inflight_parts,
            );
            let mut writer = match FileWriter::new(job.schema, job.format, ctx.clone()) {
                Ok(w) => w,
                Err(e) => {
                    up.abort().await;
                    return Err(Ending::Permanent(e.to_string()));
                }
            };
            let mut last = pos;
            let mut records = 1u64;
            if let Err(e) = writer.push(&stored(&doc)) {
                up.abort().await;
                return Err(Ending::Permanent(e.to_string()));
            }
            loop {
                writer.take(up.buffer());
                match up.maybe_flush().await {
                    Ok(Some(upload_id)) => {
                        if !self
                            .store
                            .set_export_upload(org_id, id, owner, &key, &upload_id)
                            .await?
                        {
                            up.abort().await;
                            return Err(Ending::LeaseLost);
                        }
                    }
                    Ok(None) => {}
                    Err(f) => {
                        up.abort().await;
                        return Err(f.into());
                    }
                }
                if records >= self.settings.records_per_file {
                    break;
                }
                if Instant::now() >= deadline {
                    up.abort().await;
                    self.store.clear_export_upload(org_id, id, owner).await?;
                    return Ok(Ending::OutOfTime);
                }
                let next = match stream.next().await {
                    Ok(n) => n,
                    Err(e) => {
                        up.abort().await;
                        return Err(e.into());
                    }
                };
                let Some((pos, doc)) = next else {
                    break;
                };
                if let Err(e) = writer.push(&stored(&doc)) {
                    up.abort().await;
                    return Err(Ending::Permanent(e.to_string()));
                }
                last = pos;
                records += 1;
            }
            // The file's end (gzip trailer, Parquet's last row group and footer) goes out
            // with the last part.
            match writer.finish() {
                Ok(rest) => up.buffer().extend_from_slice(&rest),
                Err(e) => {
                    up.abort().await;
                    return Err(Ending::Permanent(e.to_string()));
                }
            }
            let (size, sha256) = up.finish().await?;
            let file = ExportFile {
                key,
                size_bytes: size,
                records,
                sha256: Some(sha256),
            };
            if !self
                .store
                .checkpoint_export(org_id, id, owner, files.len(), &file, &last)
                .await?
            {
                return Err(Ending::LeaseLost);
            }
            records_total += records;
            files.push(file);
            last_file_took = Some(started.elapsed());
        }
        self.write_manifest(&bucket, job, owner, &tenant_id, &files, records_total)
            .await
    }

    async fn write_manifest(
        &self,
        bucket: &BucketWriter,
        job: &ExportJob,
        owner: &str,
        tenant_id: &str,
        files: &[ExportFile],
        records: u64,
    ) -> Result<Ending, Ending> {
        let completed_at = rfc3339_millis(OffsetDateTime::now_utc());
        let mut manifest = json!({
            "export_id": job.export_id,
            "org_id": job.org_id,
            "tenant_id": tenant_id,
            "schema": job.schema.as_str(),
            "format": job.format,
            "from": job.from,
            "to": job.to,
            "filters": job.filters_json(),
            "record_count": records,
            "files": files,
            "completed_at": completed_at,
        });
        let signing = match self.signer.as_ref() {
            Some(signer) => {
                let public = signer.public_key().await.map_err(transient)?;
                manifest["signatureAlgorithm"] = json!(SIGNATURE_ALGORITHM);
                manifest["publicKeyFingerprint"] = json!(public.fingerprint);
                Some((signer, public.fingerprint.clone()))
            }
            None => None,
        };
        let body = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Ending::Permanent(format!("manifest: {e}")))?;
        let key = job.manifest_key();
        // Signed like a digest: its completion time, its key from the exports folder on and
        // its hash, so every part's hash and count in it is signed.
        let seal = match signing {
            Some((signer, fingerprint)) => {
                let manifest_sha256 = hex(&Sha256::digest(&body));
                let manifest_signature = signer
                    .sign(&signing_string(
                        &completed_at,
                        manifest_relative_key(&key),
                        &manifest_sha256,
                        "",
                    ))
                    .await
                    .map_err(transient)?;
                Some(ManifestSeal {
                    manifest_sha256,
                    manifest_signature,
                    public_key_fingerprint: fingerprint,
                })
            }
            None => None,
        };
        match &seal {
            Some(seal) => {
                bucket
                    .put_with_metadata(
                        &key,
                        body,
                        "application/json",
                        &[(SIGNATURE_METADATA, seal.manifest_signature.clone())],
                    )
                    .await
                    .map_err(Ending::from)?;
                bucket
                    .put(
                        &format!("{key}{SIGNATURE_SUFFIX}"),
                        seal.manifest_signature.clone().into_bytes(),
                        "text/plain",
                    )
                    .await
                    .map_err(Ending::from)?;
            }
            None => bucket
                .put(&key, body, "application/json")
                .await
                .map_err(Ending::from)?,
        }
        if !self
            .store
            .complete_export(
                &job.org_id,
                &job.export_id,
                owner,
                &key,
                seal.as_ref(),
                &completed_at,
            )
            .await?
        {
            return Err(Ending::LeaseLost);
        }
        Ok(Ending::Done {
            records,
            files: files.len(),
        })
    }
}
