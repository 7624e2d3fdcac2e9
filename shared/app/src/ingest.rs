//! `POST /v1/audit/events`: validate a batch, then store each event with one conditional put.

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use relay_core::error::Error;
use relay_core::model::event::{parse_event, rfc3339_millis, validate, IngestContext, ValidEvent};
use relay_core::model::Org;
use relay_store::events::PutOutcome;
use relay_store::Store;

/// Most events in one request.
pub const MAX_BATCH: usize = 500;
/// Concurrent puts per request (well under the SDK's connection pool).
const PUT_CONCURRENCY: usize = 32;

/// What happened to one event of the request.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct EventStatus {
    /// Its id (generated when it was not sent).
    pub event_id: String,
    /// `created`, or `duplicate` when it was stored before (a re-send).
    #[schema(value_type = String, pattern = "^(created|duplicate)$")]
    pub status: &'static str,
}

/// Answer of a successful ingest (202).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestResponse {
    /// Events in the request.
    pub accepted: usize,
    /// How many of them were already stored.
    pub duplicates: usize,
    /// Per event, in request order.
    pub events: Vec<EventStatus>,
}

/// Splits a body into its events: one event object, or `{"events": [...]}` with 1 to 500.
/// Returns each with the field prefix its errors are reported under.
fn split_body(body: Value) -> Result<Vec<(Value, String)>, Error> {
    let Value::Object(mut obj) = body else {
        return Err(Error::MalformedBody(
            "body must be a JSON object: one event, or {\"events\": [...]}".into(),
        ));
    };
    let Some(events) = obj.remove("events") else {
        return Ok(vec![(Value::Object(obj), String::new())]);
    };
    if let Some(extra) = obj.keys().next() {
        return Err(Error::invalid(
            extra.clone(),
            "is not allowed beside \"events\" in a batch",
        ));
    }
    let Value::Array(list) = events else {
        return Err(Error::invalid("events", "must be an array of events"));
    };
    if list.is_empty() || list.len() > MAX_BATCH {
        return Err(Error::invalid(
            "events",
            format!("must hold 1 to {MAX_BATCH} events, got {}", list.len()),
        ));
    }
    Ok(list
        .into_iter()
        .enumerate()
        .map(|(i, v)| (v, format!("events[{i}]")))
        .collect())
}

/// Validates every event of `body` for `org` (nothing is written if any is invalid).
pub fn validate_body(
    body: Value,
    org: &Org,
    now: OffsetDateTime,
) -> Result<Vec<ValidEvent>, Error> {
    let ctx = IngestContext {
        tenant_id: &org.tenant_id,
        now,
    };
    let mut out: Vec<ValidEvent> = Vec::new();
    for (value, at) in split_body(body)? {
        let ev = validate(parse_event(value, &at)?, &ctx, &at)?;
        // Two events with one id in one request: the same event twice is stored once;
        // different content under one id is the caller's bug.
        if let Some(prev) = out.iter().find(|p| p.event.event_id == ev.event.event_id) {
            if prev.content_hash != ev.content_hash {
                return Err(Error::invalid(
                    format!("{at}.event_id"),
                    "is used by an earlier event of this request with different content",
                ));
            }
        }
        out.push(ev);
    }
    Ok(out)
}

/// Stores validated events. Re-sent events are reported as duplicates; reuse of an id with
/// different content is a 409 naming the event (the others of the request are stored, and a
/// corrected re-send of the request is safe).
pub async fn store_events(
    store: &Store,
    org: &Org,
    events: Vec<ValidEvent>,
    now: OffsetDateTime,
) -> Result<IngestResponse, Error> {
    let expires_at = now.unix_timestamp() + i64::from(org.retention_days) * 86_400;
    let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
    store
        .record_actions(&org.org_id, actions, &rfc3339_millis(now))
        .await?;
    // Futures built up front (not in a `map` closure) so the borrow of `events` is not
    // higher-ranked, which the Send check of axum handlers cannot prove.
    let puts: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, ev)| async move { (i, store.put_event(&org.org_id, ev, expires_at).await) })
        .collect();
    let outcomes: Vec<_> = stream::iter(puts)
        .buffer_unordered(PUT_CONCURRENCY)
        .collect()
        .await;
    let mut statuses: Vec<Option<&'static str>> = vec![None; events.len()];
    let mut conflict = None;
    for (i, res) in outcomes {
        match res? {
            PutOutcome::Created => statuses[i] = Some("created"),
            PutOutcome::Duplicate => statuses[i] = Some("duplicate"),
            PutOutcome::Conflict => conflict = conflict.or(Some(i)).map(|c: usize| c.min(i)),
        }
    }
    if let Some(i) = conflict {
        let field = if events.len() == 1 && i == 0 {
            "event_id".to_string()
        } else {
            format!("events[{i}].event_id")
        };
        return Err(Error::Conflict {
            field: field.clone(),
            message: format!(
                "{field}: an event with this id and different content is already stored"
            ),
        });
    }
    // Within-request repeats of one event: the first put creates, the rest see a duplicate.
    let events: Vec<EventStatus> = events
        .into_iter()
        .zip(statuses)
        .map(|(ev, st)| EventStatus {
            event_id: ev.event.event_id,
            status: st.unwrap_or("duplicate"),
        })
        .collect();
    Ok(IngestResponse {
        accepted: events.len(),
        duplicates: events.iter().filter(|e| e.status == "duplicate").count(),
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn org() -> Org {
        Org {
            org_id: "org_1".into(),
            name: "Acme".into(),
            tenant_id: "ten_1".into(),
            retention_days: 365,
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn err_field(r: Result<Vec<ValidEvent>, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn single_and_batch_bodies() {
        let ev = json!({"action": "user_login", "actor": {"user_id": "u"}});
        assert_eq!(
            validate_body(ev.clone(), &org(), OffsetDateTime::now_utc())
                .unwrap()
                .len(),
            1
        );
        let batch = json!({"events": [ev.clone(), ev]});
        assert_eq!(
            validate_body(batch, &org(), OffsetDateTime::now_utc())
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn batch_shape_errors() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            err_field(validate_body(json!({"events": []}), &org(), now)),
            "events"
        );
        assert_eq!(
            err_field(validate_body(json!({"events": {}}), &org(), now)),
            "events"
        );
        let many: Vec<Value> = (0..501)
            .map(|_| json!({"action": "a", "actor": {"user_id": "u"}}))
            .collect();
        assert_eq!(
            err_field(validate_body(json!({"events": many}), &org(), now)),
            "events"
        );
        assert_eq!(
            err_field(validate_body(json!({"events": [], "x": 1}), &org(), now)),
            "x"
        );
        let bad = json!({"events": [{"action": "a", "actor": {"user_id": "u"}}, {"action": "a"}]});
        assert_eq!(
            err_field(validate_body(bad, &org(), now)),
            "events[1].actor"
        );
        assert!(matches!(
            validate_body(json!([1]), &org(), now),
            Err(Error::MalformedBody(_))
        ));
    }

    #[test]
    fn one_id_two_contents_in_a_batch_is_refused() {
        let a = json!({"event_id": "e1", "action": "a", "actor": {"user_id": "u"}, "timestamp": "2026-01-01T00:00:00Z"});
        let mut b = a.clone();
        b["action"] = json!("b");
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            err_field(validate_body(
                json!({"events": [a.clone(), b]}),
                &org(),
                now
            )),
            "events[1].event_id"
        );
        assert_eq!(
            validate_body(json!({"events": [a.clone(), a]}), &org(), now)
                .unwrap()
                .len(),
            2
        );
    }
}
