//! Replays, for webhook endpoints and the OTLP export alike: the org's events accepted in
//! `[from, to)` are read a page at a time and their messages put on the deliveries queue again,
//! at most [`MAX_REPLAY_EVENTS`] per request, with a signed cursor to continue a larger range.
//!
//! Replays are bounded by the org's replay budget (messages enqueued per hour, shared by all of
//! its endpoints and its OTLP export): a page is read only as large as the room left, its
//! messages are taken from the budget before they are enqueued, and a request that finds no
//! room is refused with a 429 and `Retry-After` (the end of the hour). A range larger than the
//! room answers a cursor, to be continued when the budget allows.

use serde::Serialize;
use time::OffsetDateTime;

use crate::pipeline::message::enqueue;
use relay_core::cursor::CursorSigner;
use relay_core::error::Error;
use relay_core::model::event::{parse_time, sortable_time};
use relay_core::model::ids::new_id;
use relay_core::model::ids::OrgId;
use relay_core::model::webhook::ReplayRequest;
use relay_store::webhooks::{ReplayEvent, ReplayPosition};
use relay_store::Store;

/// Most events one replay request reads; a larger range answers a `cursor` to continue with.
pub const MAX_REPLAY_EVENTS: usize = 5_000;
/// Events read per DynamoDB page.
const REPLAY_PAGE: usize = 500;

/// A replay request's range, checked.
#[derive(Debug, Clone)]
pub struct ReplayRange {
    /// The request as sent (its `from` and `to` text are part of the cursor's context).
    pub req: ReplayRequest,
    /// `from`, parsed.
    pub from: OffsetDateTime,
    /// `to`, parsed (later than `from`).
    pub to: OffsetDateTime,
}

impl ReplayRange {
    /// Parses `from` and `to`; a 400 naming the field otherwise.
    pub fn parse(req: ReplayRequest) -> Result<Self, Error> {
        let from = parse_time("from", &req.from)?;
        let to = parse_time("to", &req.to)?;
        if to <= from {
            return Err(Error::invalid("to", "must be later than from"));
        }
        Ok(ReplayRange { req, from, to })
    }
}

/// What one replay request did.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// Id of this replay (the messages' generation).
    pub replay_id: String,
    /// Events read.
    pub scanned: usize,
    /// Messages enqueued.
    pub enqueued: usize,
    /// Continuation of the range, if it holds more events.
    pub cursor: Option<String>,
}

/// Where a replay's messages go, and what they are called in errors.
#[derive(Debug, Clone, Copy)]
pub struct ReplayTarget<'a> {
    /// The deliveries queue (`None`: not configured, a 500).
    pub queue_url: Option<&'a str>,
    /// Binds cursors to this destination and range kind, e.g. `replay|{endpoint id}`.
    pub context: &'a str,
    /// The messages, in words: `deliveries`, `export requests`.
    pub noun: &'a str,
}

/// Reads `range` (from its cursor, if any) and enqueues `messages(events, replay_id)` for each
/// page, until the range or [`MAX_REPLAY_EVENTS`] is exhausted. A message that cannot be
/// enqueued fails the request with a 503 (retrying it re-sends the whole range; receivers
/// deduplicate by event id).
pub async fn enqueue_range<M, F>(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    cursors: &CursorSigner,
    org_id: &OrgId,
    range: &ReplayRange,
    target: ReplayTarget<'_>,
    mut messages: F,
) -> Result<Replayed, Error>
where
    M: Serialize,
    F: FnMut(&[ReplayEvent], &str) -> Vec<M>,
{
    let queue_url = target.queue_url.ok_or_else(|| {
        Error::Internal("AUDITRELAY_DELIVERIES_QUEUE_URL is not configured".into())
    })?;
    let context = format!("{}|{}|{}", target.context, range.req.from, range.req.to);
    let mut position: Option<ReplayPosition> = range
        .req
        .cursor
        .as_deref()
        .map(|c| cursors.decode(org_id, &context, c))
        .transpose()?;
    let (lo, hi) = (sortable_time(range.from), sortable_time(range.to));
    let replay_id = new_id("rpl");
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
    // Each message comes from at least one event, so a page no larger than the room left
    // cannot take more than the room.
    let mut room = usize::try_from(store.replay_room(org_id, now).await?).unwrap_or(usize::MAX);
    let mut scanned = 0;
    let mut enqueued = 0;
    loop {
        let want = REPLAY_PAGE.min(MAX_REPLAY_EVENTS - scanned).min(room);
        let (events, next) = store
            .replay_page(org_id, &lo, &hi, position.as_ref(), want)
            .await?;
        let batch = messages(&events, &replay_id);
        let count = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        if let Some(refused) = store.charge_replay(org_id, count, now).await? {
            // Another replay of the org took the room meanwhile: stop before this page.
            if enqueued == 0 {
                return Err(refused.into());
            }
            break;
        }
        scanned += events.len();
        room = room.saturating_sub(batch.len());
        let report = enqueue(sqs, queue_url, &batch).await;
        if !report.failed.is_empty() {
            return Err(Error::Unavailable(format!(
                "replay {replay_id}: {} of {} {} could not be enqueued: {}",
                report.failed.len(),
                batch.len(),
                target.noun,
                report.error.unwrap_or_default()
            )));
        }
        enqueued += batch.len();
        position = next;
        if position.is_none() || scanned >= MAX_REPLAY_EVENTS || room == 0 {
            break;
        }
    }
    let cursor = position.map(|p| cursors.encode(org_id, &context, &p));
    Ok(Replayed {
        replay_id,
        scanned,
        enqueued,
        cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(from: &str, to: &str) -> ReplayRequest {
        ReplayRequest {
            from: from.into(),
            to: to.into(),
            cursor: None,
        }
    }

    fn field(r: Result<ReplayRange, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_range_must_run_forwards() {
        assert!(ReplayRange::parse(req("2026-05-22T10:00:00Z", "2026-05-22T11:00:00Z")).is_ok());
        assert_eq!(
            field(ReplayRange::parse(req(
                "2026-05-22T11:00:00Z",
                "2026-05-22T11:00:00Z"
            ))),
            "to"
        );
        assert_eq!(
            field(ReplayRange::parse(req("yesterday", "2026-05-22T11:00:00Z"))),
            "from"
        );
        assert_eq!(
            field(ReplayRange::parse(req("2026-05-22T11:00:00Z", "soon"))),
            "to"
        );
    }
}
