//! The summary counters' own consumer of the events stream: the `summarize` function (its own
//! event source mapping) and, in `auditctl serve`, a second stream poller with its own
//! position. Counting is apart from delivery, so a batch that cannot be counted is retried by
//! this consumer alone, and never holds back a webhook, an OTLP export or the S3 stream.

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;

use super::update::count_inserts;
use crate::pipeline::stream::{inserts_of, retry_from, StreamInsert};
use relay_store::Store;

/// Counts inserted events into the summary counters, exactly once; built once per cold start.
#[derive(Debug, Clone)]
pub struct Summarizer {
    store: Store,
}

impl Summarizer {
    /// A summarizer writing to `store`'s counters.
    pub fn new(store: Store) -> Self {
        Summarizer { store }
    }

    /// Counts `inserts` (a redelivered one is recognised and not counted again); the index of
    /// the first one not counted, from which the batch is to be read again.
    pub async fn process(&self, inserts: &[StreamInsert]) -> Option<usize> {
        count_inserts(&self.store, inserts).await
    }
}

/// The `summarize` Lambda's handler: a DynamoDB stream batch in, the checkpoint out.
pub async fn handle_stream_event(
    summarizer: &Summarizer,
    event: DynamoDbEvent,
) -> DynamoDbEventResponse {
    let inserts = inserts_of(&event);
    let first_failed = summarizer.process(&inserts).await;
    tracing::info!(
        records = event.records.len(),
        events = inserts.len(),
        counted = first_failed.unwrap_or(inserts.len()),
        "summarize"
    );
    retry_from(&inserts, first_failed)
}
