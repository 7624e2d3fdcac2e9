//! The flush: moves each org's events, in acceptance order, into S3 objects of at most 1,000
//! events — every accepted event into exactly one object.
//!
//! Why it is exactly once:
//! - **One flusher per org**: a lease (conditional update) on the org's export item; a second
//!   invocation for the same org skips.
//! - **A fixed plan**: a run exports `watermark < rcv_sk < upper`, where `upper` is "now minus
//!   the settle time" and is persisted before the first object is written. An event is old
//!   enough once its put and index propagation are certainly done, so the set of events in a
//!   plan never changes; a killed run is resumed with the same `upper`.
//! - **Deterministic objects**: batches are cut from the watermark in acceptance order, and a
//!   batch's keys derive from its first event, so re-writing a batch after a crash or a failed
//!   upload overwrites the same objects with the same bytes instead of adding duplicates. In
//!   the standard layout a batch is one object; in the Security Lake layout it is one object
//!   per (OCSF class, event day) it holds, and which objects those are depends only on the
//!   batch's events, so a rewrite produces the same set of keys.
//! - **Watermark after the write**: the watermark moves past a batch only once *every* object
//!   of it, and every batch before it, are stored (uploads run concurrently, checkpoints in
//!   order); a batch whose second of three objects fails is not checkpointed, and the next run
//!   writes all three again under the same keys. A failed run does not move the watermark
//!   (the audit-export documentation: "failed uploads are retried with the next batch").

use std::time::{Duration, Instant};

use futures::stream::{FuturesOrdered, StreamExt};
use time::OffsetDateTime;

use super::encode::batch_objects;
use super::send::put_batch;
use crate::class_overrides::ShapeContexts;
use crate::clients::Clients;
use crate::integrity::digests::{file_record, period_end_of, DigestWriter};
use crate::integrity::signer::Signer;
use crate::pipeline::bucket::Buckets;
use crate::pipeline::bucket_writer::Limits;
use crate::pipeline::pause::Notifier;
use relay_core::model::event::{rfc3339_millis, sortable_time};
use relay_core::model::ids::new_id;
use relay_core::model::ids::OrgId;
use relay_core::model::s3_stream::Layout;
use relay_core::shapes::{Schema, ShapeContext};
use relay_store::error::StoreError;
use relay_store::events::Received;
use relay_store::s3_stream::{ExportRun, FlushState};
use relay_store::Store;

/// Tunables of the flush. Defaults are the production values.
#[derive(Debug, Clone)]
pub struct FlushSettings {
    /// How long a flush may hold an org's lease (a crashed flush blocks the org this long).
    pub lease: Duration,
    /// How old an event must be before it is exported (`AUDITRELAY_FLUSH_SETTLE_SECS`).
    pub settle: Duration,
    /// Events per object (the documented batch size: 1,000).
    pub batch_events: usize,
    /// Uploads in flight per org.
    pub upload_concurrency: usize,
    /// Bytes of encoded batches in memory at once, per org.
    pub max_inflight_bytes: usize,
    /// Orgs flushed at once by a scheduled run.
    pub org_concurrency: usize,
    /// Consecutive failed runs before the destination is paused...
    pub pause_after_failures: u32,
    /// ...provided the failures have lasted at least this long.
    pub pause_after: Duration,
    /// The integrity digests' period (`AUDITRELAY_DIGEST_PERIOD_SECS`): no batch spans two
    /// periods, so every object belongs to exactly one digest.
    pub digest_period: Duration,
}

impl Default for FlushSettings {
    fn default() -> Self {
        FlushSettings {
            lease: Duration::from_secs(900),
            settle: Duration::from_secs(120),
            batch_events: super::pending::BATCH_EVENTS as usize,
            upload_concurrency: 4,
            max_inflight_bytes: 48 * 1024 * 1024,
            org_concurrency: 4,
            pause_after_failures: 12,
            pause_after: Duration::from_secs(3600),
            digest_period: Duration::from_secs(relay_core::integrity::DEFAULT_PERIOD_SECS),
        }
    }
}

impl FlushSettings {
    /// Defaults, with the settle time of the configuration when it sets one.
    pub fn from_config(config: &relay_core::config::Config) -> Self {
        let mut s = FlushSettings::default();
        if let Some(settle) = config.flush_settle {
            s.settle = settle;
        }
        s.digest_period = config.digest_period;
        s
    }
}

/// What a flush of one org did.
#[derive(Debug, Clone, PartialEq)]
pub enum FlushOutcome {
    /// Disabled, not configured, or another flush holds the org.
    Skipped,
    /// Nothing old enough to export.
    Idle,
    /// A run happened (succeeded, partial or failed), as recorded.
    Ran(ExportRun),
}

/// How a plan ended.
enum Ending {
    Complete,
    /// Time budget spent; the plan continues in the next run.
    Partial,
    Failed(String),
    /// The lease expired and another flush took over: stop without touching state.
    LeaseLost,
}

struct Progress {
    events: u64,
    bytes: u64,
    keys: Vec<String>,
}

/// Runs flushes. Built once per cold start.
#[derive(Debug, Clone)]
pub struct Flusher {
    pub(super) store: Store,
    buckets: Buckets,
    pub(super) notifier: Notifier,
    pub(super) settings: FlushSettings,
    shapes: ShapeContexts,
    digests: Option<DigestWriter>,
}

/// Days a written object's digest record is kept: its digest is written minutes after its
/// period ends, so this only bounds how long a paused export can wait.
const DIGEST_FILE_DAYS: i64 = 30;

/// A batch's uploads when done: its keys, events, bytes, last `rcv_sk`, and the first
/// failure (which names the object).
type UploadDone = (Vec<String>, u64, u64, String, Result<(), String>);

type Upload = std::pin::Pin<Box<dyn std::future::Future<Output = UploadDone> + Send>>;

impl Flusher {
    /// A flusher over `store`, writing through `buckets`.
    pub fn new(
        store: Store,
        buckets: Buckets,
        notifier: Notifier,
        settings: FlushSettings,
    ) -> Self {
        Flusher {
            shapes: ShapeContexts::new(store.clone()),
            store,
            buckets,
            notifier,
            settings,
            digests: None,
        }
    }

    /// The same flusher, recording what each object holds and writing the integrity digests
    /// that are due after each org's run.
    pub fn with_digests(mut self, digests: DigestWriter) -> Self {
        if digests.enabled() {
            self.digests = Some(digests);
        }
        self
    }

    /// A flusher as configured for this deployment (tables, access role, notification topic).
    pub fn from_config(
        config: &relay_core::config::Config,
        clients: &Clients,
        settings: FlushSettings,
    ) -> Self {
        let store = Store::new(clients.ddb.clone(), config);
        let buckets = Buckets::from_config(config, clients);
        let signer = Signer::new(
            clients.kms.clone(),
            config.signing_key_id.clone(),
            store.clone(),
        );
        let digests =
            DigestWriter::new(store.clone(), buckets.clone(), signer, config.digest_period)
                .with_lease(settings.lease);
        Flusher::new(
            store,
            buckets,
            Notifier::new(clients.sns.clone(), config.notify_topic_arn.clone()),
            settings,
        )
        .with_digests(digests)
    }

    /// The settings.
    pub fn settings(&self) -> &FlushSettings {
        &self.settings
    }

    /// Flushes every org with an enabled export, a few at a time, until `deadline`.
    pub async fn flush_all(
        &self,
        deadline: Instant,
    ) -> Result<Vec<(OrgId, FlushOutcome)>, StoreError> {
        let orgs = self.store.enabled_s3_orgs().await?;
        let results: Vec<_> = futures::stream::iter(orgs)
            .map(|org| async move {
                let org = OrgId::from(org);
                let r = self.flush_org(&org, deadline).await;
                (org, r)
            })
            .buffer_unordered(self.settings.org_concurrency.max(1))
            .collect()
            .await;
        let mut out = Vec::new();
        for (org, r) in results {
            match r {
                Ok(o) => out.push((org, o)),
                // One org's storage trouble must not stop the others; the next run retries.
                Err(e) => tracing::error!(org_id = %org, error = %e, "flush failed"),
            }
        }
        Ok(out)
    }

    /// Flushes one org: everything old enough, or as much as fits before `deadline`; then
    /// writes the integrity digests that became due (a failure there is logged and retried by
    /// the next run: the flush itself is done).
    pub async fn flush_org(
        &self,
        org_id: &OrgId,
        deadline: Instant,
    ) -> Result<FlushOutcome, StoreError> {
        let outcome = self.run_org(org_id, deadline).await?;
        if let (Some(digests), false) = (&self.digests, outcome == FlushOutcome::Skipped) {
            if let Err(e) = digests.write_due(org_id, OffsetDateTime::now_utc()).await {
                tracing::warn!(org_id = %org_id, error = %e, "writing integrity digests failed");
            }
        }
        Ok(outcome)
    }

    async fn run_org(&self, org_id: &OrgId, deadline: Instant) -> Result<FlushOutcome, StoreError> {
        let run_id = new_id("run");
        let now = OffsetDateTime::now_utc();
        let now_s = now.unix_timestamp();
        let lease_until = now_s + self.settings.lease.as_secs() as i64;
        let Some(state) = self
            .store
            .acquire_flush_lease(org_id, &run_id, now_s, lease_until)
            .await?
        else {
            return Ok(FlushOutcome::Skipped);
        };
        let config_id = state.config.id.clone();
        let mut progress = Progress {
            events: 0,
            bytes: 0,
            keys: Vec::new(),
        };
        let mut state = state;
        let mut ran = false;
        // A resumed plan (left by a failed or killed run) is finished first; then the events
        // that arrived meanwhile are exported by a fresh plan in the same run.
        let ending = loop {
            let resumed = state.plan_upper.is_some();
            let step = self
                .run_plan(org_id, &run_id, state, now, deadline, &mut progress)
                .await;
            match step {
                Ok(Some(Ending::Complete)) if resumed => {
                    ran = true;
                    match self.store.get_s3_state(org_id).await {
                        Ok(Some(next)) => state = next,
                        Ok(None) => break Ending::Complete,
                        Err(e) => {
                            let _ = self.store.release_flush_lease(org_id, &run_id).await;
                            return Err(e);
                        }
                    }
                }
                Ok(Some(e)) => break e,
                Ok(None) if ran => break Ending::Complete,
                Ok(None) => {
                    self.store.release_flush_lease(org_id, &run_id).await?;
                    return Ok(FlushOutcome::Idle);
                }
                Err(e) => {
                    // Storage trouble mid-run: the plan and the checkpoint are intact for the
                    // next run; give the lease back so that it need not wait for expiry.
                    let _ = self.store.release_flush_lease(org_id, &run_id).await;
                    return Err(e);
                }
            }
        };
        let finished = rfc3339_millis(OffsetDateTime::now_utc());
        let (status, error) = match &ending {
            Ending::Complete => ("succeeded", None),
            Ending::Partial => ("partial", None),
            Ending::Failed(e) => ("failed", Some(e.clone())),
            Ending::LeaseLost => (
                "failed",
                Some("lost the flush lease to another run".to_string()),
            ),
        };
        let run = ExportRun {
            id: run_id.clone(),
            started_at: rfc3339_millis(now),
            finished_at: Some(finished.clone()),
            status: status.into(),
            event_count: progress.events,
            object_keys: progress.keys,
            bytes: progress.bytes,
            error: error.clone(),
        };
        self.store.put_run(org_id, &run, now_s).await?;
        if let Ending::Failed(err) = &ending {
            self.after_failure(org_id, &run_id, &config_id, err, &finished)
                .await?;
        }
        if !matches!(ending, Ending::LeaseLost) {
            self.store.release_flush_lease(org_id, &run_id).await?;
        }
        Ok(FlushOutcome::Ran(run))
    }

    /// Runs (or resumes) the org's plan. `None`: nothing to export.
    async fn run_plan(
        &self,
        org_id: &OrgId,
        run_id: &str,
        state: FlushState,
        now: OffsetDateTime,
        deadline: Instant,
        progress: &mut Progress,
    ) -> Result<Option<Ending>, StoreError> {
        let settle = time::Duration::try_from(self.settings.settle).unwrap_or_default();
        let upper = match &state.plan_upper {
            Some(u) => u.clone(),
            None => {
                let u = sortable_time(now - settle);
                if u <= state.watermark {
                    return Ok(None);
                }
                u
            }
        };
        let Some(org) = self.store.get_org(org_id).await? else {
            return Ok(Some(Ending::Failed("the org no longer exists".into())));
        };
        let cfg = &state.config;
        // The org's OCSF class overrides, read once per plan and only for OCSF files.
        let ctx = if cfg.dest.schema == Schema::Ocsf {
            self.shapes.context(org_id, &org.tenant_id).await?
        } else {
            ShapeContext::new(&org.tenant_id)
        };
        let (first, first_key) = self
            .store
            .received_page(org_id, &state.watermark, &upper, None)
            .await?;
        if first.is_empty() && first_key.is_none() {
            // Nothing new: move the watermark up cheaply, no S3 call, no run record.
            if self
                .store
                .finish_flush_plan(org_id, run_id, &upper, None)
                .await?
            {
                return Ok(None);
            }
            return Ok(Some(Ending::LeaseLost));
        }
        if state.plan_upper.is_none() && !self.store.set_flush_plan(org_id, run_id, &upper).await? {
            return Ok(Some(Ending::LeaseLost));
        }
        let bucket = match self
            .buckets
            .open(&self.store, org_id, &cfg.dest.target, Limits::Upload)
            .await
        {
            Ok(b) => b,
            Err(e) => return Ok(Some(Ending::Failed(e.message))),
        };

        let batch_events = self.settings.batch_events.max(1);
        let mut pending: Vec<Received> = first;
        let mut next_key = first_key;
        let mut uploads: FuturesOrdered<Upload> = FuturesOrdered::new();
        let mut inflight_bytes = 0u64;
        let mut ending: Option<Ending> = None;

        loop {
            while pending.len() < batch_events && next_key.is_some() {
                let (rows, lek) = self
                    .store
                    .received_page(org_id, &state.watermark, &upper, next_key.take())
                    .await?;
                pending.extend(rows);
                next_key = lek;
            }
            if pending.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                ending = Some(Ending::Partial);
                break;
            }
            // A batch never spans two digest periods: each object is listed by one digest.
            let period_secs = self.settings.digest_period.as_secs();
            let period_of = |r: &Received| period_end_of(&r.rcv_sk, period_secs);
            let first_period = period_of(&pending[0]);
            let take = pending
                .iter()
                .take(batch_events)
                .position(|r| period_of(r) != first_period)
                .unwrap_or_else(|| pending.len().min(batch_events));
            let batch: Vec<Received> = pending.drain(..take).collect();
            let last_rcv = batch[batch.len() - 1].rcv_sk.clone();
            let objects = match batch_objects(&batch, &cfg.dest, org_id, &ctx) {
                Ok(b) => b,
                Err(e) => {
                    ending = Some(Ending::Failed(format!("encoding a batch failed: {e}")));
                    break;
                }
            };
            let size: u64 = objects.iter().map(|o| o.body.len() as u64).sum();
            // Bound memory: wait for earlier uploads before holding more bytes.
            while !uploads.is_empty()
                && (uploads.len() >= self.settings.upload_concurrency.max(1)
                    || inflight_bytes + size > self.settings.max_inflight_bytes as u64)
            {
                if let Some(done) = uploads.next().await {
                    inflight_bytes -= done.2;
                    if let Some(stop) = self.complete(org_id, run_id, done, progress).await? {
                        ending = Some(stop);
                        break;
                    }
                }
            }
            if ending.is_some() {
                break;
            }
            inflight_bytes += size;
            let bucket = bucket.clone();
            let format = cfg.dest.format;
            let count = batch.len() as u64;
            // What the period's digest lists for the batch's object (the standard layout's
            // one object; the Security Lake layout writes into another account's lake, where
            // digests have no place).
            let record = match (&self.digests, &cfg.dest.layout, objects.as_slice()) {
                (Some(_), Layout::Standard, [only]) => first_period
                    .clone()
                    .map(|end| (end, file_record(&only.key, &only.body, &batch))),
                _ => None,
            };
            let position = batch[0].rcv_sk.clone();
            let store = self.store.clone();
            let org = org_id.clone();
            let expires = now.unix_timestamp() + DIGEST_FILE_DAYS * 86_400;
            uploads.push_back(Box::pin(async move {
                // One after the other: a batch is checkpointed only when all its objects are
                // stored, and stops at the first failure (the retry rewrites them all).
                let mut keys = Vec::with_capacity(objects.len());
                let mut res = Ok(());
                for o in objects {
                    if let Err(e) = put_batch(&bucket, format, &o.key, o.body).await {
                        res = Err(format!("writing {}: {e}", o.key));
                        break;
                    }
                    keys.push(o.key);
                }
                // Recorded before the checkpoint: a digest never misses a stored object.
                if let (Ok(()), Some((end, file))) = (&res, &record) {
                    if let Err(e) = store
                        .put_digest_file(&org, end, &position, file, expires)
                        .await
                    {
                        res = Err(format!("recording {} for its digest: {e}", file.key));
                    }
                }
                (keys, count, size, last_rcv, res)
            }));
        }
        // Let uploads already started finish (checkpointing in order) even when stopping.
        while let Some(done) = uploads.next().await {
            if ending.is_some() {
                continue;
            }
            if let Some(stop) = self.complete(org_id, run_id, done, progress).await? {
                ending = Some(stop);
            }
        }
        if let Some(e) = ending {
            return Ok(Some(e));
        }
        let at = rfc3339_millis(OffsetDateTime::now_utc());
        if !self
            .store
            .finish_flush_plan(org_id, run_id, &upper, Some(&at))
            .await?
        {
            return Ok(Some(Ending::LeaseLost));
        }
        Ok(Some(Ending::Complete))
    }

    /// Records a finished upload: on success the watermark moves past its batch.
    async fn complete(
        &self,
        org_id: &OrgId,
        run_id: &str,
        (keys, count, size, last_rcv, res): UploadDone,
        progress: &mut Progress,
    ) -> Result<Option<Ending>, StoreError> {
        if let Err(e) = res {
            return Ok(Some(Ending::Failed(e)));
        }
        if !self
            .store
            .checkpoint_flush(org_id, run_id, &last_rcv)
            .await?
        {
            return Ok(Some(Ending::LeaseLost));
        }
        progress.events += count;
        progress.bytes += size;
        progress.keys.extend(keys);
        Ok(None)
    }
}
