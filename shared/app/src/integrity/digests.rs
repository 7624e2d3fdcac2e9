//! Writing the continuous export's digests: for each period (an hour by default) from the one
//! in which the export was configured, once the flush has exported every event accepted before
//! the period's end, one signed digest listing the objects that hold the period's events, chained
//! to the previous digest. Empty periods get a digest too, so a deleted period shows as a gap.
//!
//! Why each digest is written once and the chain never forks: a writer holds the org's flush
//! lease (the one the flush itself takes), so no two write at once and none writes while the
//! flush moves the watermark; the chain's head lives in one item, extended with a condition on
//! the previous period's end; the digest object and its `.sig` are written before the head
//! moves, under a key fixed by the period, so a writer that dies in between leaves an object
//! that the next writer overwrites with the same content and a fresh signature, and only then
//! records.

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::signer::{SignError, Signer};
use crate::pipeline::bucket::Buckets;
use crate::pipeline::bucket_writer::{Limits, WriteFailure};
use relay_core::integrity::{
    digest_key, hex, parse_period_time, period_start, period_time, relative_key, signing_string,
    Digest, DigestFile, WatermarkRange, FORMAT_VERSION, SIGNATURE_ALGORITHM, SIGNATURE_METADATA,
    SIGNATURE_SUFFIX,
};
use relay_core::model::event::sortable_time;
use relay_core::model::ids::{new_id, OrgId};
use relay_core::model::s3_stream::Layout;
use relay_store::error::StoreError;
use relay_store::events::Received;
use relay_store::integrity::ChainHead;
use relay_store::s3_stream::FlushState;
use relay_store::Store;

/// Most digests one call writes for an org (a day of hourly periods), so a long backlog is
/// caught up over several runs instead of one that outlives its invocation.
pub const MAX_DIGESTS_PER_RUN: usize = 24;
/// How long a writer may hold the org's lease: far more than [`MAX_DIGESTS_PER_RUN`] digests
/// take.
pub const LEASE: Duration = Duration::from_secs(300);

/// The record of an object the flush wrote from `batch` (events in acceptance order): what
/// the digest of its period lists for it.
pub fn file_record(key: &str, body: &[u8], batch: &[Received]) -> DigestFile {
    let split = |r: Option<&Received>| -> (String, String) {
        let rcv = r.map(|r| r.rcv_sk.as_str()).unwrap_or_default();
        let (at, id) = rcv.split_once('#').unwrap_or((rcv, ""));
        (at.to_string(), id.to_string())
    };
    let (oldest, first_id) = split(batch.first());
    let (newest, last_id) = split(batch.last());
    DigestFile {
        key: key.to_string(),
        sha256: hex(&Sha256::digest(body)),
        bytes: body.len() as u64,
        events: batch.len() as u64,
        first_event_id: first_id,
        last_event_id: last_id,
        oldest_received_at: oldest,
        newest_received_at: newest,
    }
}

/// The end of the period of `period_secs` in which the event at `rcv_sk` was accepted
/// (`None` when the position does not start with a time).
pub fn period_end_of(rcv_sk: &str, period_secs: u64) -> Option<String> {
    let at = rcv_sk.split('#').next()?;
    let t = parse_period_time(at)?;
    let step = time::Duration::seconds(i64::try_from(period_secs.max(1)).ok()?);
    Some(period_time(period_start(t, period_secs) + step))
}

/// Why digests could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(#[from] SignError),
    /// The destination refused the write.
    #[error("writing the digest: {0}")]
    Write(String),
}

impl From<WriteFailure> for DigestError {
    fn from(f: WriteFailure) -> Self {
        DigestError::Write(f.message)
    }
}

/// What one call did for an org.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestOutcome {
    /// Keys of the digests written, oldest first.
    pub written: Vec<String>,
}

/// Writes digests; built once per cold start.
#[derive(Debug, Clone)]
pub struct DigestWriter {
    store: Store,
    buckets: Buckets,
    signer: Signer,
    period: Duration,
    /// How long a run holds the org's lease (a writer killed mid-run blocks the org's flush
    /// this long).
    lease: Duration,
}

impl DigestWriter {
    /// A writer of `period`-long digests signed by `signer` into the orgs' buckets.
    pub fn new(store: Store, buckets: Buckets, signer: Signer, period: Duration) -> Self {
        DigestWriter {
            store,
            buckets,
            signer,
            period,
            lease: LEASE,
        }
    }

    /// Holds the org's lease at most `lease` (never longer than [`LEASE`]): a flush with a
    /// shorter lease (`auditctl serve --flush-lease`) is not blocked longer by its digests.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.min(LEASE);
        self
    }

    /// Whether digests are written at all (a signing key is configured).
    pub fn enabled(&self) -> bool {
        self.signer.enabled()
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Writes every digest of the org that is due at `now` (at most
    /// [`MAX_DIGESTS_PER_RUN`]): nothing when signing is off, the org has no continuous
    /// export, or its bucket's ownership is not verified yet.
    pub async fn write_due(
        &self,
        org_id: &OrgId,
        now: OffsetDateTime,
    ) -> Result<DigestOutcome, DigestError> {
        if !self.enabled() {
            return Ok(DigestOutcome::default());
        }
        let owner = new_id("dig");
        let now_s = now.unix_timestamp();
        // The flush's lease: also skips disabled and unverified destinations.
        let Some(state) = self
            .store
            .acquire_flush_lease(
                org_id,
                &owner,
                now_s,
                now_s + i64::try_from(self.lease.as_secs()).unwrap_or(300),
            )
            .await?
        else {
            return Ok(DigestOutcome::default());
        };
        let result = self.write_leased(org_id, state, now).await;
        let released = self.store.release_flush_lease(org_id, &owner).await;
        let outcome = result?;
        released?;
        Ok(outcome)
    }

    async fn write_leased(
        &self,
        org_id: &OrgId,
        state: FlushState,
        now: OffsetDateTime,
    ) -> Result<DigestOutcome, DigestError> {
        let mut outcome = DigestOutcome::default();
        // A Security Lake writes into the customer's lake, where objects outside the custom
        // sources' folders have no place: digests are for the standard layout.
        if !matches!(state.config.dest.layout, Layout::Standard) {
            return Ok(outcome);
        }
        let Some(org) = self.store.get_org(org_id).await? else {
            return Ok(outcome);
        };
        let period_secs = self.period.as_secs().max(1);
        let step = time::Duration::seconds(i64::try_from(period_secs).unwrap_or(3600));
        let chain = self.store.digest_chain(org_id).await?;
        let (mut head, chain_started_at) = match chain {
            Some((head, started)) => (Some(head), started),
            None => {
                let created = parse_period_time(&state.config.created_at).unwrap_or(now);
                (None, period_time(period_start(created, period_secs)))
            }
        };
        // Everything accepted before this time is exported.
        let exported_until = state.watermark.split('#').next().unwrap_or_default();
        let mut start = match &head {
            Some(h) => parse_period_time(&h.period_end),
            None => parse_period_time(&chain_started_at),
        }
        .unwrap_or(now);
        let target = &state.config.dest.target;
        let mut bucket = None;
        while outcome.written.len() < MAX_DIGESTS_PER_RUN {
            let end = start + step;
            if end > now || sortable_time(end).as_str() > exported_until {
                break;
            }
            let end_text = period_time(end);
            let files = self.store.digest_files(org_id, &end_text).await?;
            let public = self.signer.public_key().await?;
            let digest = Digest {
                digest_format_version: FORMAT_VERSION.into(),
                org_id: org_id.to_string(),
                tenant_id: org.tenant_id.clone(),
                digest_start_time: period_time(start),
                digest_end_time: end_text.clone(),
                watermark: WatermarkRange {
                    from: sortable_time(start),
                    to: sortable_time(end),
                },
                event_count: files.iter().map(|f| f.events).sum(),
                files,
                previous_digest_key: head.as_ref().map(|h| h.key.clone()),
                previous_digest_sha256: head.as_ref().map(|h| h.sha256.clone()),
                previous_digest_signature: head.as_ref().map(|h| h.signature.clone()),
                signature_algorithm: SIGNATURE_ALGORITHM.into(),
                public_key_fingerprint: public.fingerprint.clone(),
            };
            let body = serde_json::to_vec_pretty(&digest)
                .map_err(|e| DigestError::Write(format!("encoding the digest: {e}")))?;
            let sha256 = hex(&Sha256::digest(&body));
            let key = digest_key(&target.prefix, &org.tenant_id, end);
            let previous_signature = head.as_ref().map(|h| h.signature.as_str()).unwrap_or("");
            let signature = self
                .signer
                .sign(&signing_string(
                    &end_text,
                    relative_key(&key),
                    &sha256,
                    previous_signature,
                ))
                .await?;
            if bucket.is_none() {
                bucket = Some(
                    self.buckets
                        .open(&self.store, org_id, target, Limits::Upload)
                        .await?,
                );
            }
            let Some(b) = &bucket else { break };
            b.put_with_metadata(
                &key,
                body,
                "application/json",
                &[(SIGNATURE_METADATA, signature.clone())],
            )
            .await?;
            b.put(
                &format!("{key}{SIGNATURE_SUFFIX}"),
                signature.clone().into_bytes(),
                "text/plain",
            )
            .await?;
            let new_head = ChainHead {
                key: key.clone(),
                sha256,
                signature,
                period_end: end_text,
                watermark: sortable_time(end),
            };
            let previous_end = head.as_ref().map(|h| h.period_end.clone());
            if !self
                .store
                .extend_digest_chain(
                    org_id,
                    &new_head,
                    previous_end.as_deref(),
                    &chain_started_at,
                )
                .await?
            {
                // Another writer extended the chain first; its digest of this period stands.
                break;
            }
            tracing::info!(org_id = %org_id, key = %key, "integrity digest written");
            outcome.written.push(key);
            head = Some(new_head);
            start = end;
        }
        Ok(outcome)
    }
}
