//! `GET /v1/audit/logs` and `GET /v1/audit/logs/{event_id}`: the org's trail, newest first,
//! in the shape the caller asks for (`schema`: canonical, the default and the stored JSON
//! verbatim; `entry`, the audit-logs API's log entry; `ocsf`, an OCSF record).

use serde::Serialize;
use serde_json::value::RawValue;

use relay_core::cursor::CursorSigner;
use relay_core::error::Error;
use relay_core::model::event::AuditEvent;
use relay_core::model::ids::OrgId;
use relay_core::query::LogQuery;
use relay_core::query::Position;
use relay_core::shapes::{entry, ocsf, Schema, ShapeContext};
use relay_store::Store;

/// The documented `GET /v1/audit/logs` response shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogsResponse {
    /// Events in the asked shape, newest first. Documented as objects: the shape is the
    /// query's `schema` (the stored event verbatim, an `entry` or an OCSF record), passed
    /// through as raw JSON.
    #[schema(value_type = Vec<Object>)]
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
    let ctx = shape_context(store, org_id, query.schema).await?;
    let cursor = page
        .next
        .as_ref()
        .map(|p| cursors.encode(org_id, &context, p));
    Ok(LogsResponse {
        has_more: cursor.is_some(),
        cursor,
        logs: page
            .events
            .into_iter()
            .map(|doc| shaped(doc, query.schema, &ctx))
            .collect::<Result<_, _>>()?,
    })
}

/// The context OCSF answers are written in: the org's class overrides, read only when asked
/// for OCSF (strongly consistent, so an answer right after a change shows it).
async fn shape_context(
    store: &Store,
    org_id: &OrgId,
    schema: Schema,
) -> Result<ShapeContext, Error> {
    let ctx = ShapeContext::new("");
    if schema != Schema::Ocsf {
        return Ok(ctx);
    }
    let stored = store.get_class_overrides(org_id).await?;
    Ok(ctx.with_class_overrides(stored.overrides))
}

/// A stored event in `schema` (canonical: the stored JSON as it is; OCSF in `ctx`).
pub fn shaped(
    doc: Box<RawValue>,
    schema: Schema,
    ctx: &ShapeContext,
) -> Result<Box<RawValue>, Error> {
    if schema == Schema::Canonical {
        return Ok(doc);
    }
    let event: AuditEvent = serde_json::from_str(doc.get())
        .map_err(|e| Error::Internal(format!("stored event unreadable: {e}")))?;
    let value = match schema {
        Schema::Entry => entry::entry(&event),
        _ => ocsf::record(&event, None, ctx),
    };
    serde_json::value::to_raw_value(&value).map_err(|e| Error::Internal(e.to_string()))
}

/// One event of the org in `schema`, or 404 (also for another org's event).
pub async fn get(
    store: &Store,
    org_id: &OrgId,
    event_id: &str,
    schema: Schema,
) -> Result<Box<RawValue>, Error> {
    if !relay_core::model::event::is_valid_event_id(event_id) {
        return Err(Error::NotFound("event"));
    }
    let doc = store
        .get_event(org_id, event_id)
        .await?
        .ok_or(Error::NotFound("event"))?;
    shaped(doc, schema, &shape_context(store, org_id, schema).await?)
}

/// The query of `GET /v1/audit/logs/{event_id}`: only `schema`.
pub fn single_schema(pairs: &[(String, String)]) -> Result<Schema, Error> {
    let mut schema = Schema::Canonical;
    for (k, v) in pairs {
        match k.as_str() {
            "schema" => schema = relay_core::query::answer_schema(v)?,
            other => return Err(Error::invalid(other, "is not a known parameter (schema)")),
        }
    }
    Ok(schema)
}
