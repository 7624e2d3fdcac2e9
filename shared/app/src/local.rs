//! Local stand-ins for the two Lambda triggers, for `auditctl serve` and the tests: a poller of
//! the events table's DynamoDB stream (what the stream event source mapping does) and a poller
//! of the deliveries queue (what the SQS event source mapping does). Both call the very
//! functions the Lambdas call: [`Fanout::process`] and [`Deliverer::process_batch`].

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

use crate::deliver::Deliverer;
use crate::fanout::Fanout;
use crate::pipeline::consumer::{Disposition, Received};
use crate::pipeline::poll::{poll_forever, PollError};
use crate::pipeline::stream::insert_from_streams_api;

/// Reads the events table's stream from its oldest record (TRIM_HORIZON) and fans out.
#[derive(Debug)]
pub struct StreamPoller {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Open shards and where to read next (`None`: the shard is closed and fully read).
    shards: HashMap<String, Option<String>>,
    fanout: Fanout,
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
            fanout,
        })
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

    /// Reads every shard once and fans out what it finds; returns the number of records read.
    pub async fn poll_once(&mut self) -> Result<usize, PollError> {
        let desc = self
            .streams
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(PollError::aws)?;
        let ids: Vec<String> = desc
            .stream_description()
            .map(|d| d.shards())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.shard_id().map(str::to_string))
            .collect();
        for id in ids {
            if !self.shards.contains_key(&id) {
                let it = self
                    .iterator(&id, ShardIteratorType::TrimHorizon, None)
                    .await?;
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
            let out = self
                .streams
                .get_records()
                .shard_iterator(it)
                .limit(100)
                .send()
                .await
                .map_err(PollError::aws)?;
            let mut inserts = Vec::new();
            for r in out.records() {
                match insert_from_streams_api(r) {
                    Ok(Some(i)) => inserts.push(i),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "skipping an unreadable stream record"),
                }
            }
            seen += out.records().len();
            let report = self.fanout.process(&inserts).await;
            let next = match report.first_failed.and_then(|i| inserts.get(i)) {
                // Read again from the first event not fully enqueued, as Lambda would.
                Some(failed) => {
                    self.iterator(
                        &shard,
                        ShardIteratorType::AtSequenceNumber,
                        Some(&failed.sequence_number),
                    )
                    .await?
                }
                None => out.next_shard_iterator().map(str::to_string),
            };
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
