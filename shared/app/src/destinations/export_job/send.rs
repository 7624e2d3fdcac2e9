//! Streaming one export file into the destination with bounded memory: the file is built in a
//! buffer of `part_bytes`; a file that stays smaller is one PUT, a larger one becomes a
//! multipart upload (S3 multipart, GCS XML multipart, Azure block list) whose parts are sent
//! as the buffer fills (at most `max_inflight` at once). Memory is therefore about
//! `(max_inflight + 1) × part_bytes`, whatever the file's size.

use std::future::Future;
use std::pin::Pin;

use futures::stream::{FuturesOrdered, StreamExt};
use sha2::{Digest as _, Sha256};

use crate::pipeline::bucket_writer::{BucketWriter, WriteFailure};

/// Smallest part S3 and GCS accept in a multipart upload (all but the last).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

type PartFuture = Pin<Box<dyn Future<Output = Result<String, WriteFailure>> + Send>>;

/// One file being written.
pub struct FileUpload {
    bucket: BucketWriter,
    key: String,
    content_type: &'static str,
    part_bytes: usize,
    max_inflight: usize,
    buf: Vec<u8>,
    upload_id: Option<String>,
    done: Vec<String>,
    inflight: FuturesOrdered<PartFuture>,
    next_part: usize,
    size: u64,
    /// The file's bytes in order, hashed as they leave the buffer (for the signed manifest).
    hash: Sha256,
}

impl std::fmt::Debug for FileUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileUpload({}, {} bytes)", self.key, self.size)
    }
}

impl FileUpload {
    /// A new file `key` in `bucket`.
    pub fn new(
        bucket: BucketWriter,
        key: String,
        content_type: &'static str,
        part_bytes: usize,
        max_inflight: usize,
    ) -> Self {
        let part_bytes = part_bytes.max(MIN_PART_BYTES);
        FileUpload {
            bucket,
            key,
            content_type,
            part_bytes,
            max_inflight: max_inflight.max(1),
            buf: Vec::with_capacity(part_bytes + 64 * 1024),
            upload_id: None,
            done: Vec::new(),
            inflight: FuturesOrdered::new(),
            next_part: 1,
            size: 0,
            hash: Sha256::new(),
        }
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Where to append the file's bytes.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Sends the buffer as a part once it is full. Returns the upload id when this call
    /// started the multipart upload (the caller records it, so that a crash can abort it).
    pub async fn maybe_flush(&mut self) -> Result<Option<String>, WriteFailure> {
        if self.buf.len() < self.part_bytes {
            return Ok(None);
        }
        let started = if self.upload_id.is_none() {
            let id = self
                .bucket
                .create_multipart(&self.key, self.content_type)
                .await?;
            self.upload_id = Some(id.clone());
            Some(id)
        } else {
            None
        };
        while self.inflight.len() >= self.max_inflight {
            if let Some(part) = self.inflight.next().await {
                self.done.push(part?);
            }
        }
        let body = std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(self.part_bytes + 64 * 1024),
        );
        self.size += body.len() as u64;
        self.hash.update(&body);
        let number = self.next_part;
        self.next_part += 1;
        let (bucket, key) = (self.bucket.clone(), self.key.clone());
        let upload_id = self.upload_id.clone().unwrap_or_default();
        self.inflight.push_back(Box::pin(async move {
            bucket.put_part(&key, &upload_id, number, body).await
        }));
        Ok(started)
    }

    /// Writes what is left and completes the file; returns its size in bytes and the hex
    /// SHA-256 of its bytes.
    pub async fn finish(mut self) -> Result<(u64, String), WriteFailure> {
        let Some(upload_id) = self.upload_id.clone() else {
            let size = self.buf.len() as u64;
            let body = std::mem::take(&mut self.buf);
            let sha256 = relay_core::integrity::hex(&Sha256::digest(&body));
            self.bucket.put(&self.key, body, self.content_type).await?;
            return Ok((size, sha256));
        };
        if !self.buf.is_empty() {
            // The last part may be smaller than the minimum.
            self.part_bytes = 0;
            self.maybe_flush().await?;
        }
        while let Some(part) = self.inflight.next().await {
            self.done.push(part?);
        }
        self.bucket
            .complete_multipart(&self.key, &upload_id, std::mem::take(&mut self.done))
            .await?;
        let sha256 = relay_core::integrity::hex(&std::mem::take(&mut self.hash).finalize());
        Ok((self.size, sha256))
    }

    /// Abandons the file: aborts its multipart upload, if one was started.
    pub async fn abort(mut self) {
        self.inflight.clear();
        if let Some(id) = self.upload_id.take() {
            self.bucket.abort_multipart(&self.key, &id).await;
        }
    }
}
