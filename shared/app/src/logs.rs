//! `GET /v1/audit/logs` and `GET /v1/audit/logs/{event_id}`: the org's trail, newest first.

use serde::Serialize;
use serde_json::value::RawValue;

use relay_core::cursor::CursorSigner;
use relay_core::error::Error;
use relay_core::model::ids::OrgId;
use relay_core::query::LogQuery;
use relay_core::query::Position;
use relay_store::Store;

/// The documented `GET /v1/audit/logs` response shape.
#[derive(Debug, Serialize)]
pub struct LogsResponse {
    /// Canonical events, newest first.
    pub logs: Vec<Box<RawValue>>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub cursor: Option<String>,
    /// Whether another page may follow.
    pub has_more: bool,
}

/// Runs a query for `org_id`. The cursor is verified against the org and the filters first.
pub async fn list(
    store: &Store,
    cursors: &CursorSigner,
    org_id: &OrgId,
    query: &LogQuery,
) -> Result<LogsResponse, Error> {
    let context = format!("logs|{}", query.filter.fingerprint());
    let start: Option<Position> = query
        .cursor
        .as_deref()
        .map(|c| cursors.decode(org_id, &context, c))
        .transpose()?;
    let page = store
        .query_events(org_id, &query.filter, query.limit, start)
        .await?;
    let cursor = page
        .next
        .as_ref()
        .map(|p| cursors.encode(org_id, &context, p));
    Ok(LogsResponse {
        has_more: cursor.is_some(),
        cursor,
        logs: page.events,
    })
}

/// One event of the org, or 404 (also for another org's event).
pub async fn get(store: &Store, org_id: &OrgId, event_id: &str) -> Result<Box<RawValue>, Error> {
    if !relay_core::model::event::is_valid_event_id(event_id) {
        return Err(Error::NotFound("event"));
    }
    store
        .get_event(org_id, event_id)
        .await?
        .ok_or(Error::NotFound("event"))
}
