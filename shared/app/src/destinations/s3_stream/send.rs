//! One batch object into the customer's bucket: a single PUT under a key that is a function
//! of the batch (so a retried or resumed run overwrites, never duplicates), on whichever store
//! the destination names, with any failure explained in words an admin can act on.

use crate::pipeline::bucket_writer::BucketWriter;
use relay_core::model::file_format::FileFormat;

/// Writes `body` as `key`; `Err` says why not.
pub async fn put_batch(
    bucket: &BucketWriter,
    format: FileFormat,
    key: &str,
    body: Vec<u8>,
) -> Result<(), String> {
    bucket
        .put(key, body, format.content_type())
        .await
        .map_err(|e| e.message)
}
