//! Local stand-ins for the Lambda triggers, for `auditctl serve` and the tests: a poller of
//! the events table's DynamoDB stream per consumer (what the stream event source mappings do),
//! and for each delivery lane a pool of workers on its queue (what the lanes' SQS event source
//! mappings do). They call the very functions the Lambdas call: [`Fanout::process`],
//! [`Summarizer::process`] and [`Deliverer::process`]. [`QueuePoller`] is the batch-at-a-time poller the tests step by
//! hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use relay_store::stream_position::ShardPosition;
use relay_store::Store;

use crate::deliver::{Admitted, Deliverer, OverCap};
use crate::fanout::Fanout;
use crate::pipeline::consumer::{Disposition, Received};
use crate::pipeline::lanes::Lane;
use crate::pipeline::poll::{delete, PollError};
use crate::pipeline::stream::{insert_from_streams_api, StreamInsert};
use crate::summary::stream::Summarizer;
use relay_core::model::ids::OrgId;

/// A consumer of the events stream, each with an event source mapping of its own when
/// deployed, and a poller of its own locally.
#[derive(Debug, Clone)]
pub enum StreamConsumer {
    /// Delivery messages and early-flush requests.
    Fanout(Box<Fanout>),
    /// The summary counters.
    Summary(Summarizer),
}

impl StreamConsumer {
    /// Handles `inserts`; the index of the first one not done (read again from there).
    async fn process(&self, inserts: &[StreamInsert]) -> Option<usize> {
        match self {
            StreamConsumer::Fanout(f) => f.process(inserts).await.first_failed,
            StreamConsumer::Summary(s) => s.process(inserts).await,
        }
    }

    /// Records per batch, as the consumer's event source mapping reads them: the fanout's
    /// 100 keep deliveries prompt; the summary's 1,000 share each counter write among more
    /// events.
    fn batch_size(&self) -> i32 {
        match self {
            StreamConsumer::Fanout(_) => 100,
            StreamConsumer::Summary(_) => 1000,
        }
    }

    /// Whose positions these are: the fanout's are keyed by the stream's ARN alone (as before
    /// the summary had a consumer of its own), another consumer's by the ARN and its name.
    fn reader(&self, stream_arn: &str) -> String {
        match self {
            StreamConsumer::Fanout(_) => stream_arn.to_string(),
            StreamConsumer::Summary(_) => format!("{stream_arn}#summary"),
        }
    }
}

impl From<Fanout> for StreamConsumer {
    fn from(f: Fanout) -> Self {
        StreamConsumer::Fanout(Box::new(f))
    }
}

impl From<Summarizer> for StreamConsumer {
    fn from(s: Summarizer) -> Self {
        StreamConsumer::Summary(s)
    }
}

/// Reads the events table's stream for one consumer: from its oldest record (TRIM_HORIZON),
/// or, with [`StreamPoller::with_position`], after the last batch a previous poller of the
/// same consumer finished.
#[derive(Debug)]
pub struct StreamPoller {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// The key of this consumer's persisted positions.
    reader: String,
    /// Open shards and where to read next (`None`: the shard is closed and fully read).
    shards: HashMap<String, Option<String>>,
    /// Per shard, the last record whose work is durable: where a lost iterator (expired,
    /// trimmed) or the next process resumes.
    done: HashMap<String, ShardPosition>,
    /// Where the positions are persisted (`auditctl serve`), loaded on the first poll.
    persist: Option<Persist>,
    consumer: StreamConsumer,
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
    /// A poller of `table`'s stream for `consumer`.
    pub async fn new(
        ddb: &aws_sdk_dynamodb::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        table: &str,
        consumer: impl Into<StreamConsumer>,
    ) -> Result<Self, PollError> {
        let consumer = consumer.into();
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
            reader: consumer.reader(&stream_arn),
            stream_arn,
            shards: HashMap::new(),
            done: HashMap::new(),
            persist: None,
            consumer,
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
                .put_stream_position(&self.reader, shard, &position, now)
                .await
            {
                // The work is done; a restart before the next save re-reads a little more.
                tracing::warn!(shard, error = %e, "could not save the stream position");
            }
        }
        self.done.insert(shard.to_string(), position);
    }

    /// Reads every shard once and hands what it finds to the consumer; returns the number of
    /// records read.
    pub async fn poll_once(&mut self) -> Result<usize, PollError> {
        if let Some(p) = &mut self.persist {
            if !p.loaded {
                self.done = p
                    .store
                    .stream_positions(&self.reader)
                    .await
                    .map_err(position_error)?;
                p.loaded = true;
                tracing::info!(reader = %self.reader, positions = ?self.done, "stream poller starts from its recorded positions");
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
                .limit(self.consumer.batch_size())
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
            let failed = self
                .consumer
                .process(&inserts)
                .await
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
    lane: Lane,
}

impl QueuePoller {
    /// A poller of `queue_url`.
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String, deliverer: Deliverer) -> Self {
        QueuePoller {
            sqs,
            queue_url,
            deliverer,
            lane: Lane::Fast,
        }
    }

    /// A poller of the deliverer's `lane` (`None` when it has no such lane).
    pub fn of_lane(sqs: aws_sdk_sqs::Client, deliverer: Deliverer, lane: Lane) -> Option<Self> {
        Some(QueuePoller {
            sqs,
            queue_url: deliverer.queue_url(lane)?.to_string(),
            deliverer,
            lane,
        })
    }

    /// Receives up to 10 messages (long-polling up to `wait_secs`), processes them, deletes
    /// the finished ones.
    pub async fn poll_once(&self, wait_secs: i32) -> Result<QueuePoll, PollError> {
        let received = receive(&self.sqs, &self.queue_url, 10, wait_secs).await?;
        if received.is_empty() {
            return Ok(QueuePoll::default());
        }
        let dispositions = self.deliverer.process(self.lane, &received).await;
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
}

/// Receives up to `max` (at most 10) messages of `queue_url`, long-polling up to `wait_secs`.
async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    max: usize,
    wait_secs: i32,
) -> Result<Vec<Received>, PollError> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
        .wait_time_seconds(wait_secs)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .map_err(PollError::aws)?;
    Ok(out
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
        .collect())
}

/// Most messages the local pool holds for one org at its cap; beyond it they are forwarded.
const MAX_HELD_PER_ORG: usize = 100;
/// How often held messages look for a place.
const WAIT_STEP: Duration = Duration::from_millis(100);
/// How long a message is held before it is forwarded to the slow lane (well within the
/// queue's visibility timeout).
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Received batches of one pool being sorted at once.
const SORTERS: usize = 16;

/// A message held for its org's place.
#[derive(Debug)]
struct HeldMessage {
    since: tokio::time::Instant,
    m: Received,
    org: OrgId,
}

/// Messages held for orgs at their cap.
type Held = Arc<Mutex<Vec<HeldMessage>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a plain list, still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Workers of the fast lane's local pool.
pub const LOCAL_FAST_WORKERS: usize = 16;
/// Workers of the slow lane's local pool (as small as the slow lane's Lambda concurrency: it
/// is where slow receivers wait).
pub const LOCAL_SLOW_WORKERS: usize = 2;

/// A continuous pool of workers on one lane's queue: it receives while a worker is free, sorts
/// each batch in a task of its own, runs one task per message and deletes each message as soon
/// as it is done, so a slow message holds up only its own worker (never a batch). Messages of
/// an org at its cap are held without taking a worker's place, so the other orgs always find
/// one.
#[derive(Debug, Clone)]
pub struct DeliveryPool {
    sqs: aws_sdk_sqs::Client,
    deliverer: Deliverer,
    lane: Lane,
    queue_url: String,
    workers: usize,
}

impl DeliveryPool {
    /// A pool of `workers` on `lane`'s queue; `None` when the deliverer has no such lane.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        deliverer: Deliverer,
        lane: Lane,
        workers: usize,
    ) -> Option<Self> {
        let queue_url = deliverer.queue_url(lane)?.to_string();
        Some(DeliveryPool {
            sqs,
            deliverer,
            lane,
            queue_url,
            workers: workers.max(1),
        })
    }

    async fn deliver(&self, admitted: Admitted) {
        let (id, receipt) = (
            admitted.received().message_id.clone(),
            admitted.received().receipt_handle.clone(),
        );
        let done = self
            .deliverer
            .deliver(self.lane, vec![admitted])
            .await
            .first()
            == Some(&Disposition::Done);
        if done {
            if let Err(e) = delete(&self.sqs, &self.queue_url, &receipt).await {
                // It comes back after its visibility timeout; the delivered marker drops it.
                tracing::warn!(message_id = %id, error = %e, "deleting a delivered message failed");
            }
        }
    }

    /// Deletes the messages of a batch that are done without a send (forwarded to the slow
    /// lane), in one call.
    async fn delete_settled(&self, messages: &[Received], settled: &[(usize, Disposition)]) {
        let mut entries = Vec::new();
        for (i, d) in settled {
            let Some(m) = messages.get(*i).filter(|_| *d == Disposition::Done) else {
                continue;
            };
            match DeleteMessageBatchRequestEntry::builder()
                .id(format!("d{i}"))
                .receipt_handle(&m.receipt_handle)
                .build()
            {
                Ok(e) => entries.push(e),
                Err(e) => tracing::warn!(error = %e, "building a delete entry failed"),
            }
        }
        // DeleteMessageBatch takes at most 10 entries.
        for chunk in entries.chunks(10) {
            if let Err(e) = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
            {
                // They come back after their visibility timeout, and are forwarded again; the
                // delivered marker keeps the copies from being sent twice.
                tracing::warn!(error = %PollError::aws(e), "deleting forwarded messages failed");
            }
        }
    }

    /// Sorts `messages`, deletes the forwarded ones at once, and starts each admitted one in
    /// a task of its own on a worker's place; returns the messages of orgs at their cap.
    async fn sort_and_start(
        &self,
        messages: Vec<Received>,
        over_cap: OverCap,
        free: &Arc<tokio::sync::Semaphore>,
    ) -> Vec<(usize, Received, OrgId)> {
        if messages.is_empty() {
            return Vec::new();
        }
        let sorted = self
            .deliverer
            .sort(self.lane, messages.clone(), over_cap)
            .await;
        self.delete_settled(&messages, &sorted.settled).await;
        for (_, admitted) in sorted.admitted {
            let (me, free) = (self.clone(), free.clone());
            tokio::spawn(async move {
                let Ok(place) = free.acquire_owned().await else {
                    return;
                };
                me.deliver(admitted).await;
                drop(place);
            });
        }
        sorted.over_cap
    }

    /// Holds messages of orgs at their cap (first held at `since(i)`, else now), up to
    /// [`MAX_HELD_PER_ORG`] per org: beyond that an org's messages are forwarded, so a flood
    /// is not kept in memory, while a healthy org's brief overflow waits here.
    async fn hold(
        &self,
        held: &Held,
        free: &Arc<tokio::sync::Semaphore>,
        over_cap: Vec<(usize, Received, OrgId)>,
        since: impl Fn(usize) -> Option<tokio::time::Instant>,
    ) {
        let now = tokio::time::Instant::now();
        let mut overflow = Vec::new();
        {
            let mut held = lock(held);
            let mut per_org: HashMap<OrgId, usize> = HashMap::new();
            for h in held.iter() {
                *per_org.entry(h.org.clone()).or_default() += 1;
            }
            for (i, m, org) in over_cap {
                let n = per_org.entry(org.clone()).or_default();
                if *n >= MAX_HELD_PER_ORG {
                    overflow.push(m);
                } else {
                    *n += 1;
                    held.push(HeldMessage {
                        since: since(i).unwrap_or(now),
                        m,
                        org,
                    });
                }
            }
        }
        self.sort_and_start(overflow, OverCap::Forward, free).await;
    }

    /// Sorts the held messages again every [`WAIT_STEP`], all at once (forwarding in batches):
    /// a message is sent on a worker once its org has a place, forwarded once its destination
    /// is marked slow or it waited [`MAX_WAIT`] (it must not outlive its visibility timeout
    /// here), and held again otherwise.
    async fn release_held(&self, held: Held, free: Arc<tokio::sync::Semaphore>) {
        loop {
            tokio::time::sleep(WAIT_STEP).await;
            let batch: Vec<HeldMessage> = std::mem::take(&mut *lock(&held));
            if batch.is_empty() {
                continue;
            }
            let (expired, fresh): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .partition(|h| h.since.elapsed() >= MAX_WAIT);
            let expired: Vec<Received> = expired.into_iter().map(|h| h.m).collect();
            self.sort_and_start(expired, OverCap::Forward, &free).await;
            let since: Vec<tokio::time::Instant> = fresh.iter().map(|h| h.since).collect();
            let fresh: Vec<Received> = fresh.into_iter().map(|h| h.m).collect();
            let again = self.sort_and_start(fresh, OverCap::Hold, &free).await;
            self.hold(&held, &free, again, |i| since.get(i).copied())
                .await;
        }
    }

    /// Runs until the process ends. Short polls with a pause when the queue is empty: a long
    /// poll still pending when the process is killed would take a message to a dead connection
    /// and hide it for the whole visibility timeout.
    pub async fn run(self, idle: Duration) {
        let free = Arc::new(tokio::sync::Semaphore::new(self.workers));
        let held: Held = Arc::default();
        {
            let (me, held, free) = (self.clone(), held.clone(), free.clone());
            tokio::spawn(async move { me.release_held(held, free).await });
        }
        let sorters = Arc::new(tokio::sync::Semaphore::new(SORTERS));
        loop {
            let Ok(sorter) = sorters.clone().acquire_owned().await else {
                return;
            };
            // Receive only while a worker is free, and no more than are free: a message
            // received must start well within its visibility timeout.
            match free.clone().acquire_owned().await {
                Ok(place) => drop(place),
                Err(_) => return,
            }
            let room = free.available_permits().clamp(1, 10);
            match receive(&self.sqs, &self.queue_url, room, 0).await {
                Ok(messages) if messages.is_empty() => {
                    drop(sorter);
                    tokio::time::sleep(idle).await;
                }
                Ok(messages) => {
                    // Sorted in a task of its own, so that forwarding one batch of a flood
                    // does not keep the loop from receiving the next.
                    let (me, held, free) = (self.clone(), held.clone(), free.clone());
                    tokio::spawn(async move {
                        let over_cap = me.sort_and_start(messages, OverCap::Hold, &free).await;
                        me.hold(&held, &free, over_cap, |_| None).await;
                        drop(sorter);
                    });
                }
                Err(e) => {
                    drop(sorter);
                    tracing::warn!(error = %e, lane = ?self.lane, "deliveries poll failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Runs the pools of both lanes (the slow one when the deliverer has it) until the process
/// ends: what `auditctl serve` runs in place of the deliver function's two triggers.
pub async fn run_delivery_pools(sqs: aws_sdk_sqs::Client, deliverer: Deliverer, idle: Duration) {
    let fast = DeliveryPool::new(
        sqs.clone(),
        deliverer.clone(),
        Lane::Fast,
        LOCAL_FAST_WORKERS,
    );
    let slow = DeliveryPool::new(sqs, deliverer, Lane::Slow, LOCAL_SLOW_WORKERS);
    let run = |p: Option<DeliveryPool>| async move {
        if let Some(p) = p {
            p.run(idle).await;
        }
    };
    tokio::join!(run(fast), run(slow));
}
