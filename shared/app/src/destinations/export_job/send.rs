//! Streaming one export file to S3 with bounded memory: the file is built in a buffer of
//! `part_bytes`; a file that stays smaller is one PutObject, a larger one becomes a multipart
//! upload whose parts are sent as the buffer fills (at most `max_inflight` at once). Memory
//! is therefore about `(max_inflight + 1) × part_bytes`, whatever the file's size.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures::stream::{FuturesOrdered, StreamExt};

use crate::pipeline::bucket::{explain_s3_error, s3_error};
use relay_core::model::export_job::JobDestination;
use relay_core::model::s3_stream::{ExportFormat, S3Destination};

/// Smallest part S3 accepts in a multipart upload (all but the last).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// An S3 call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct S3Failure {
    /// S3's error code, if it gave one.
    pub code: Option<String>,
    /// What failed and what to do about it.
    pub message: String,
}

impl S3Failure {
    /// Whether retrying cannot help until someone changes the destination (denied, missing
    /// bucket, wrong region, KMS key refusing).
    pub fn is_permanent(&self) -> bool {
        self.code.as_deref().is_some_and(|c| {
            matches!(
                c,
                "AccessDenied"
                    | "AllAccessDisabled"
                    | "NoSuchBucket"
                    | "PermanentRedirect"
                    | "AuthorizationHeaderMalformed"
                    | "IllegalLocationConstraintException"
                    | "InvalidBucketName"
                    | "InvalidAccessKeyId"
            ) || c.starts_with("KMS")
        })
    }
}

/// Turns an SDK error into an explained [`S3Failure`].
pub fn s3_failure<E>(
    e: &aws_sdk_s3::error::SdkError<E>,
    dest: &JobDestination,
    op: &str,
) -> S3Failure
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    let (code, detail) = s3_error(e);
    let d = S3Destination {
        bucket: dest.bucket.clone(),
        region: dest.region.clone(),
        role_arn: dest.role_arn.clone(),
        prefix: dest.prefix.clone(),
        format: ExportFormat::Jsonl,
    };
    S3Failure {
        message: explain_s3_error(code.as_deref(), &detail, &d, op),
        code,
    }
}

type PartFuture = Pin<Box<dyn Future<Output = Result<CompletedPart, S3Failure>> + Send>>;

/// One file being written.
pub struct FileUpload {
    s3: aws_sdk_s3::Client,
    dest: JobDestination,
    key: String,
    content_type: &'static str,
    part_bytes: usize,
    max_inflight: usize,
    buf: Vec<u8>,
    upload_id: Option<String>,
    done: Vec<CompletedPart>,
    inflight: FuturesOrdered<PartFuture>,
    next_part: i32,
    size: u64,
}

impl std::fmt::Debug for FileUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileUpload({}, {} bytes)", self.key, self.size)
    }
}

impl FileUpload {
    /// A new file `key` in `dest`'s bucket.
    pub fn new(
        s3: aws_sdk_s3::Client,
        dest: JobDestination,
        key: String,
        content_type: &'static str,
        part_bytes: usize,
        max_inflight: usize,
    ) -> Self {
        let part_bytes = part_bytes.max(MIN_PART_BYTES);
        FileUpload {
            s3,
            dest,
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
    pub async fn maybe_flush(&mut self) -> Result<Option<String>, S3Failure> {
        if self.buf.len() < self.part_bytes {
            return Ok(None);
        }
        let started = if self.upload_id.is_none() {
            let out = self
                .s3
                .create_multipart_upload()
                .bucket(&self.dest.bucket)
                .key(&self.key)
                .content_type(self.content_type)
                .send()
                .await
                .map_err(|e| s3_failure(&e, &self.dest, "write"))?;
            let id = out.upload_id.ok_or_else(|| S3Failure {
                code: None,
                message: "CreateMultipartUpload returned no upload id".into(),
            })?;
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
        let number = self.next_part;
        self.next_part += 1;
        let (s3, dest, key) = (self.s3.clone(), self.dest.clone(), self.key.clone());
        let upload_id = self.upload_id.clone().unwrap_or_default();
        self.inflight.push_back(Box::pin(async move {
            let out = s3
                .upload_part()
                .bucket(&dest.bucket)
                .key(&key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| s3_failure(&e, &dest, "write"))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .build())
        }));
        Ok(started)
    }

    /// Writes what is left and completes the file; returns its size in bytes.
    pub async fn finish(mut self) -> Result<u64, S3Failure> {
        let Some(upload_id) = self.upload_id.clone() else {
            let size = self.buf.len() as u64;
            let body = std::mem::take(&mut self.buf);
            self.s3
                .put_object()
                .bucket(&self.dest.bucket)
                .key(&self.key)
                .content_type(self.content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| s3_failure(&e, &self.dest, "write"))?;
            return Ok(size);
        };
        if !self.buf.is_empty() {
            // The last part may be smaller than the minimum.
            self.part_bytes = 0;
            self.maybe_flush().await?;
        }
        while let Some(part) = self.inflight.next().await {
            self.done.push(part?);
        }
        self.s3
            .complete_multipart_upload()
            .bucket(&self.dest.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.done)))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| s3_failure(&e, &self.dest, "write"))?;
        Ok(self.size)
    }

    /// Abandons the file: aborts its multipart upload, if one was started.
    pub async fn abort(mut self) {
        self.inflight.clear();
        if let Some(id) = self.upload_id.take() {
            abort_upload(&self.s3, &self.dest, &self.key, &id).await;
        }
    }
}

/// Aborts a multipart upload (best effort: an upload left behind only costs storage until a
/// lifecycle rule removes it, and is never visible as an object).
pub async fn abort_upload(
    s3: &aws_sdk_s3::Client,
    dest: &JobDestination,
    key: &str,
    upload_id: &str,
) {
    if let Err(e) = s3
        .abort_multipart_upload()
        .bucket(&dest.bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
    {
        tracing::warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(&e),
            "could not abort a multipart upload");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_failures() {
        let f = |c: &str| S3Failure {
            code: Some(c.into()),
            message: String::new(),
        };
        assert!(f("AccessDenied").is_permanent());
        assert!(f("NoSuchBucket").is_permanent());
        assert!(f("KMS.DisabledException").is_permanent());
        assert!(!f("SlowDown").is_permanent());
        assert!(!f("InternalError").is_permanent());
        assert!(!S3Failure {
            code: None,
            message: String::new()
        }
        .is_permanent());
    }
}
