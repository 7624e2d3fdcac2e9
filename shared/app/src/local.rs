//! Local stand-ins for the two Lambda triggers, for `auditctl serve` and the tests: a poller of
//! the events table's DynamoDB stream (what the stream event source mapping does) and a poller
//! of the deliveries queue (what the SQS event source mapping does). Both call the very
//! functions the Lambdas call: [`Fanout::process`] and [`Deliverer::process_batch`].

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use relay_store::stream_position::ShardPosition;
use relay_store::Store;

use crate::deliver::Deliverer;
use crate::fanout::Fanout;
use crate::pipeline::consumer::{Disposition, Received};
use crate::pipeline::poll::{poll_forever, PollError};
use crate::pipeline::stream::insert_from_streams_api;

/// Reads the events table's stream and fans out: from its oldest record (TRIM_HORIZON), or,
/// with [`StreamPoller::with_position`], after the last batch a previous poller finished.
#[derive(Debug)]
pub struct StreamPoller {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Open shards and where to read next (`None`: the shard is closed and fully read).
    shards: HashMap<String, Option<String>>,
    /// Per shard, the last record whose work is durable: where a lost iterator (expired,
    /// trimmed) or the next process resumes.
    done: HashMap<String, ShardPosition>,
    /// Where the positions are persisted (`auditctl serve`), loaded on the first poll.
    persist: Option<Persist>,
    fanout: Fanout,
}

#[derive(Debug)]
struct Persist {
    store: Store,
    loaded: bool,
}

fn position_error(e: relay_store::error::StoreError) -> PollError {
    PollError::Aws(format!("stream position: {e}"))
}

impl StreamPoller {
    /// A poller of `table`'s stream.
    pub async fn new(
        ddb: &aws_sdk_dynamodb::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        table: &str,
        fanout: Fanout,
    ) -> Result<Self, PollError> {
        let d = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                PollError::Aws(format!(
                    "{}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                ))
            })?;
        let stream_arn = d
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| PollError::NoStream(table.to_string()))?
            .to_string();
        Ok(StreamPoller {
            streams,
            stream_arn,
            shards: HashMap::new(),
            done: HashMap::new(),
            persist: None,
            fanout,
        })
    }

    /// Persists the position per shard in `store` (the config table) after every batch whose
    /// work is durable, and starts from the persisted positions, so that a restarted process
    /// re-reads at most the batch that was in flight when it stopped.
    pub fn with_position(mut self, store: Store) -> Self {
        self.persist = Some(Persist {
            store,
            loaded: false,
        });
        self
    }

    /// The stream's ARN.
    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    async fn iterator(
        &self,
        shard: &str,
        kind: ShardIteratorType,
        seq: Option<&str>,
    ) -> Result<Option<String>, PollError> {
        Ok(self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(seq.map(str::to_string))
            .send()
            .await
            .map_err(PollError::aws)?
            .shard_iterator)
    }

    /// Where to start reading `shard`: after its last finished record, else at its oldest.
    /// A position the stream no longer has (trimmed after 24 hours, or from another stream)
    /// falls back to the oldest record: re-read events are suppressed downstream, skipped ones
    /// would be lost.
    async fn start(
        &self,
        shard: &str,
        first_seq: Option<&str>,
    ) -> Result<Option<String>, PollError> {
        match self.done.get(shard) {
            Some(p) if p.closed => Ok(None),
            Some(ShardPosition { seq: Some(seq), .. }) if !before(seq, first_seq) => {
                match self
                    .iterator(shard, ShardIteratorType::AfterSequenceNumber, Some(seq))
                    .await
                {
                    Ok(it) => Ok(it),
                    Err(e) => {
                        tracing::warn!(shard, seq = %seq, error = %e, "stream position unusable; reading the shard from its oldest record");
                        self.iterator(shard, ShardIteratorType::TrimHorizon, None)
                            .await
                    }
                }
            }
            _ => {
                self.iterator(shard, ShardIteratorType::TrimHorizon, None)
                    .await
            }
        }
    }

    /// The stream's shards and the first sequence number of each.
    async fn list_shards(&self) -> Result<Vec<(String, Option<String>)>, PollError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let desc = self
                .streams
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(after.take())
                .send()
                .await
                .map_err(PollError::aws)?;
            let Some(d) = desc.stream_description() else {
                return Ok(out);
            };
            for s in d.shards() {
                if let Some(id) = s.shard_id() {
                    let first = s
                        .sequence_number_range()
                        .and_then(|r| r.starting_sequence_number())
                        .map(str::to_string);
                    out.push((id.to_string(), first));
                }
            }
            match d.last_evaluated_shard_id() {
                Some(last) => after = Some(last.to_string()),
                None => return Ok(out),
            }
        }
    }

    /// Records that `shard`'s work is durable up to `position`.
    async fn finished(&mut self, shard: &str, position: ShardPosition) {
        if self.done.get(shard) == Some(&position) {
            return;
        }
        if let Some(p) = &self.persist {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if let Err(e) = p
                .store
                .put_stream_position(&self.stream_arn, shard, &position, now)
                .await
            {
                // The work is done; a restart before the next save re-reads a little more.
                tracing::warn!(shard, error = %e, "could not save the stream position");
            }
        }
        self.done.insert(shard.to_string(), position);
    }

    /// Reads every shard once and fans out what it finds; returns the number of records read.
    pub async fn poll_once(&mut self) -> Result<usize, PollError> {
        if let Some(p) = &mut self.persist {
            if !p.loaded {
                self.done = p
                    .store
                    .stream_positions(&self.stream_arn)
                    .await
                    .map_err(position_error)?;
                p.loaded = true;
                tracing::info!(stream = %self.stream_arn, positions = ?self.done, "stream poller starts from its recorded positions");
            }
        }
        for (id, first) in self.list_shards().await? {
            if !self.shards.contains_key(&id) {
                let it = self.start(&id, first.as_deref()).await?;
                self.shards.insert(id, it);
            }
        }
        let mut seen = 0;
        let open: Vec<(String, String)> = self
            .shards
            .iter()
            .filter_map(|(id, it)| it.clone().map(|it| (id.clone(), it)))
            .collect();
        for (shard, it) in open {
            let out = match self
                .streams
                .get_records()
                .shard_iterator(it)
                .limit(100)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    // An expired or trimmed iterator is not coming back: the next poll starts
                    // the shard again from its last finished record.
                    self.shards.remove(&shard);
                    return Err(PollError::aws(e));
                }
            };
            let mut inserts = Vec::new();
            for r in out.records() {
                match insert_from_streams_api(r) {
                    Ok(Some(i)) => inserts.push(i),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "skipping an unreadable stream record"),
                }
            }
            seen += out.records().len();
            tracing::debug!(shard = %shard, records = out.records().len(), inserts = inserts.len(), "stream batch");
            let report = self.fanout.process(&inserts).await;
            let failed = report
                .first_failed
                .and_then(|i| inserts.get(i).map(|f| (i, f)));
            let (next, durable) = match failed {
                // Read again from the first event not fully enqueued, as Lambda would; what
                // came before it is durable.
                Some((i, failed)) => {
                    let durable =
                        i.checked_sub(1)
                            .and_then(|j| inserts.get(j))
                            .map(|d| ShardPosition {
                                seq: Some(d.sequence_number.clone()),
                                closed: false,
                            });
                    let next = self
                        .iterator(
                            &shard,
                            ShardIteratorType::AtSequenceNumber,
                            Some(&failed.sequence_number),
                        )
                        .await?;
                    (next, durable)
                }
                None => {
                    let next = out.next_shard_iterator().map(str::to_string);
                    let last = out
                        .records()
                        .last()
                        .and_then(|r| r.dynamodb())
                        .and_then(|c| c.sequence_number())
                        .map(str::to_string);
                    let durable = match (last, next.is_none()) {
                        (Some(seq), closed) => Some(ShardPosition {
                            seq: Some(seq),
                            closed,
                        }),
                        (None, true) => Some(ShardPosition {
                            seq: self.done.get(&shard).and_then(|p| p.seq.clone()),
                            closed: true,
                        }),
                        (None, false) => None,
                    };
                    (next, durable)
                }
            };
            if let Some(position) = durable {
                self.finished(&shard, position).await;
            }
            self.shards.insert(shard, next);
        }
        Ok(seen)
    }

    /// Polls forever (every `idle` when there is nothing new).
    pub async fn run(mut self, idle: Duration) {
        loop {
            match self.poll_once().await {
                Ok(0) => tokio::time::sleep(idle).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "stream poll failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Whether sequence number `seq` comes before `first` (a shard's first record): then it
/// cannot be a position in that shard. Sequence numbers are decimal strings of up to 40
/// digits, so they compare by length first.
fn before(seq: &str, first: Option<&str>) -> bool {
    first.is_some_and(|first| (seq.len(), seq) < (first.len(), first))
}

#[cfg(test)]
mod stream_position_tests {
    use super::before;

    #[test]
    fn a_position_before_the_shards_first_record_is_not_in_that_shard() {
        let first = Some("1100000000017454423009");
        assert!(before("999", first));
        assert!(before("1100000000017454423008", first));
        assert!(!before("1100000000017454423009", first));
        assert!(!before("1100000000017454423100", first));
        assert!(!before("21000000000174544230090", first));
        assert!(!before("5", None));
    }
}

/// What one queue poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueuePoll {
    /// Messages received.
    pub received: usize,
    /// Messages finished (deleted).
    pub done: usize,
    /// Messages left for a retry (or the DLQ).
    pub retried: usize,
}

/// Receives deliveries from SQS and processes them like the SQS event source mapping.
#[derive(Debug, Clone)]
pub struct QueuePoller {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    deliverer: Deliverer,
}

impl QueuePoller {
    /// A poller of `queue_url`.
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String, deliverer: Deliverer) -> Self {
        QueuePoller {
            sqs,
            queue_url,
            deliverer,
        }
    }

    /// Receives up to 10 messages (long-polling up to `wait_secs`), processes them, deletes
    /// the finished ones.
    pub async fn poll_once(&self, wait_secs: i32) -> Result<QueuePoll, PollError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(PollError::aws)?;
        let received: Vec<Received> = out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Received {
                    message_id: m.message_id()?.to_string(),
                    receipt_handle: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receive_count: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect();
        if received.is_empty() {
            return Ok(QueuePoll::default());
        }
        let dispositions = self.deliverer.process_batch(&received).await;
        let mut entries = Vec::new();
        for (i, (m, d)) in received.iter().zip(&dispositions).enumerate() {
            if *d == Disposition::Done {
                entries.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("d{i}"))
                        .receipt_handle(&m.receipt_handle)
                        .build()
                        .map_err(|e| PollError::Aws(e.to_string()))?,
                );
            }
        }
        let done = entries.len();
        if !entries.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(PollError::aws)?;
        }
        Ok(QueuePoll {
            received: received.len(),
            done,
            retried: received.len() - done,
        })
    }

    /// Polls forever with `workers` concurrent receivers, so that one slow batch does not hold
    /// up the others (as Lambda runs concurrent invocations). Short polls with a pause when
    /// the queue is empty: a long poll still pending when the process is killed would take a
    /// message to a dead connection and hide it for the whole visibility timeout.
    pub async fn run(self, workers: usize, idle: Duration) {
        let tasks = (0..workers.max(1)).map(|_| {
            let me = self.clone();
            async move {
                poll_forever("deliveries queue", idle, || async {
                    me.poll_once(0).await.map(|p| p.received > 0)
                })
                .await
            }
        });
        futures::future::join_all(tasks).await;
    }
}
