//! One batch object into the customer's bucket: a single PUT under a key that is a function
//! of the batch (so a retried or resumed run overwrites, never duplicates), with any failure
//! explained in words an admin can act on.

use aws_sdk_s3::primitives::ByteStream;

use crate::pipeline::bucket::explain_put_error;
use relay_core::model::s3_stream::S3Destination;

/// Writes `body` as `key` in `dest`'s bucket; `Err` says why not.
pub async fn put_batch(
    s3: &aws_sdk_s3::Client,
    dest: &S3Destination,
    key: &str,
    body: Vec<u8>,
) -> Result<(), String> {
    s3.put_object()
        .bucket(&dest.bucket)
        .key(key)
        .content_type(dest.format.content_type())
        .body(ByteStream::from(body))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| explain_put_error(&e, dest))
}
