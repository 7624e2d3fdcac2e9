//! The events table.
//!
//! Item: `pk` = org id, `sk` = event id (so the conditional put is the idempotency check),
//! `ts_sk` = `{timestamp as fixed-width UTC}#{event_id}` and `rcv_sk` = `{received_at}#{event_id}`
//! (sortable), `actor_pk` = `{org}#{actor.user_id}`, `res_pk` = `{org}#{type}#{id}` (only when the
//! event has a resource), `action`, `doc` (the canonical JSON, returned
//! verbatim; see [`doc_value`] for how it is stored), `chash` (content hash, to tell a re-send
//! from a conflicting reuse of an id) and `expires_at` (TTL).

use std::io::{Read, Write};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
};
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use serde_json::value::RawValue;

use super::schema::{GSI_BY_ACTOR, GSI_BY_RESOURCE, GSI_BY_TIME};
use super::{get_s, n, s, Item, Store};
use crate::error::StoreError;
use relay_core::model::event::{sortable_time, ValidEvent};
use relay_core::model::event_view::EventView;
use relay_core::model::ids::OrgId;
use relay_core::query::{LogFilter, Position};

/// Most DynamoDB pages one API query reads before answering with what it has and a cursor
/// (bounds the cost and latency of a sparse filter).
pub const MAX_PAGES_PER_QUERY: usize = 10;

/// What a conditional put of an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    /// Stored now.
    Created,
    /// The same event was stored before (a re-send): nothing written.
    Duplicate,
    /// Another event with this id but different content exists: nothing written.
    Conflict,
}

/// One page of events, newest first.
#[derive(Debug)]
pub struct Page {
    /// Canonical event JSON, verbatim as stored.
    pub events: Vec<Box<RawValue>>,
    /// Where the next page starts, when there may be one.
    pub next: Option<Position>,
}

/// The resource index's key of a resource: `{org_id}#{length of type}:{type}#{id}`. The type's
/// length makes the key unambiguous whatever the type and id contain (type `secret#a` with id
/// `b` and type `secret` with id `a#b` are two resources); org ids never contain `#`.
pub fn resource_key(org_id: &OrgId, resource_type: &str, id: &str) -> String {
    format!("{org_id}#{}:{resource_type}#{id}", resource_type.len())
}

/// Documents up to this length are stored as they are: deflating them saves too little.
const STORE_PLAIN_UP_TO: usize = 200;
/// The format byte of a deflated document (raw DEFLATE, RFC 1951, follows).
const DOC_DEFLATE: u8 = 1;

/// How an event's canonical JSON is stored in `doc`: a string when short (and in items written
/// before compression), otherwise a binary holding the format byte `1` and the JSON, raw
/// DEFLATE-compressed. A write unit is a KiB of item, in the table and again in each index, and
/// audit events are mostly repeated keys and identifiers: a 1 KiB event typically deflates to
/// half or less, so each copy costs one unit instead of two and stores half the bytes.
/// Every reader goes through [`doc_text`] or [`doc_from_bytes`].
pub fn doc_value(json: &str) -> AttributeValue {
    if json.len() <= STORE_PLAIN_UP_TO {
        return s(json);
    }
    let mut enc = DeflateEncoder::new(
        Vec::with_capacity(json.len() / 2 + 1),
        Compression::default(),
    );
    // Writing to a Vec does not fail; if it ever did, the plain string is still right.
    let deflated = enc.write_all(json.as_bytes()).and_then(|()| enc.finish());
    match deflated {
        Ok(z) if z.len() + 1 < json.len() => {
            let mut bytes = Vec::with_capacity(z.len() + 1);
            bytes.push(DOC_DEFLATE);
            bytes.extend_from_slice(&z);
            AttributeValue::B(Blob::new(bytes))
        }
        _ => s(json),
    }
}

/// The canonical JSON of a stored binary `doc` (see [`doc_value`]).
pub fn doc_from_bytes(bytes: &[u8]) -> Result<String, StoreError> {
    match bytes.split_first() {
        Some((&DOC_DEFLATE, z)) => {
            let mut json = String::with_capacity(z.len() * 3);
            DeflateDecoder::new(z)
                .read_to_string(&mut json)
                .map_err(|e| StoreError::Corrupt(format!("doc: {e}")))?;
            Ok(json)
        }
        Some((format, _)) => Err(StoreError::Corrupt(format!("doc: unknown format {format}"))),
        None => Err(StoreError::Corrupt("doc: empty".into())),
    }
}

/// The canonical JSON an events-table item (or index entry) holds in `doc`.
pub fn doc_text(item: &Item) -> Result<String, StoreError> {
    match item.get("doc") {
        Some(AttributeValue::S(json)) => Ok(json.clone()),
        Some(AttributeValue::B(bytes)) => doc_from_bytes(bytes.as_ref()),
        _ => Err(StoreError::Corrupt("missing attribute doc".into())),
    }
}

/// The item stored for a validated event of `org_id`.
pub fn event_item(org_id: &OrgId, ev: &ValidEvent, expires_at: i64) -> Item {
    let e = &ev.event;
    let mut item: Item = Item::with_capacity(16);
    item.insert("pk".into(), s(org_id));
    item.insert("sk".into(), s(&e.event_id));
    item.insert("ts_sk".into(), s(format!("{}#{}", ev.time_key, e.event_id)));
    item.insert(
        "rcv_sk".into(),
        s(format!("{}#{}", ev.received_key, e.event_id)),
    );
    item.insert(
        "actor_pk".into(),
        s(format!("{org_id}#{}", e.actor.user_id)),
    );
    item.insert("action".into(), s(&e.action));
    if let Some(r) = &e.resource {
        item.insert(
            "res_pk".into(),
            s(resource_key(org_id, &r.resource_type, &r.id)),
        );
    }
    item.insert("doc".into(), doc_value(&ev.json));
    item.insert("chash".into(), s(&ev.content_hash));
    item.insert("expires_at".into(), n(expires_at));
    item
}

/// DynamoDB's size of an item (attribute names plus values), in bytes, by the rules of the
/// developer guide: strings and binaries by their length, numbers about one byte per two digits
/// plus one, booleans and nulls one byte, maps and lists three bytes plus one per element plus
/// their contents.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// DynamoDB's size of one attribute value, in bytes (see [`item_size`]).
pub fn value_size(v: &AttributeValue) -> usize {
    let number = |x: &String| x.len().div_ceil(2) + 1;
    match v {
        AttributeValue::S(x) => x.len(),
        AttributeValue::N(x) => number(x),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(xs) => xs.iter().map(String::len).sum(),
        AttributeValue::Ns(xs) => xs.iter().map(number).sum(),
        AttributeValue::Bs(xs) => xs.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(xs) => 3 + xs.iter().map(|x| 1 + value_size(x)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, x)| 1 + k.len() + value_size(x))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// Write request units one put of `item` costs: 1 per KiB in the table, and again in each
/// GSI it appears in (all four project ALL; `by_resource` only when the event has a resource).
pub fn write_units(item: &Item) -> usize {
    let per_copy = item_size(item).div_ceil(1024).max(1);
    let copies = 1 + 3 + usize::from(item.contains_key("res_pk"));
    per_copy * copies
}

fn position_of(item: &Item) -> Result<Position, StoreError> {
    Ok(Position {
        t: get_s(item, "ts_sk")?.to_string(),
        e: get_s(item, "sk")?.to_string(),
    })
}

fn raw_doc(doc: String) -> Result<Box<RawValue>, StoreError> {
    RawValue::from_string(doc).map_err(|e| StoreError::Corrupt(format!("doc: {e}")))
}

fn doc_of(item: &Item) -> Result<Box<RawValue>, StoreError> {
    raw_doc(doc_text(item)?)
}

/// A page of the rows' documents, newest first as read.
fn page(rows: Vec<(Position, String)>, next: Option<Position>) -> Result<Page, StoreError> {
    let events = rows
        .into_iter()
        .map(|(_, doc)| raw_doc(doc))
        .collect::<Result<_, _>>()?;
    Ok(Page { events, next })
}

impl Store {
    /// Stores an event unless one with its id exists (one conditional write).
    pub async fn put_event(
        &self,
        org_id: &OrgId,
        ev: &ValidEvent,
        expires_at: i64,
    ) -> Result<PutOutcome, StoreError> {
        let res = self
            .ddb
            .put_item()
            .table_name(&self.events_table)
            .set_item(Some(event_item(org_id, ev, expires_at)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let err = match res {
            Ok(_) => return Ok(PutOutcome::Created),
            Err(e) => e,
        };
        let Some(
            aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c),
        ) = err.as_service_error()
        else {
            return Err(StoreError::from_sdk(err));
        };
        let existing = match c.item() {
            Some(item) => Some(item.clone()),
            None => self.get_item(org_id, &ev.event.event_id).await?,
        };
        let same = existing
            .as_ref()
            .and_then(|item| item.get("chash"))
            .and_then(|v| v.as_s().ok())
            .is_some_and(|h| h == &ev.content_hash);
        Ok(if same {
            PutOutcome::Duplicate
        } else {
            PutOutcome::Conflict
        })
    }

    async fn get_item(&self, org_id: &OrgId, event_id: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.events_table)
            .key("pk", s(org_id))
            .key("sk", s(event_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item)
    }

    /// One event of the org, as canonical JSON.
    pub async fn get_event(
        &self,
        org_id: &OrgId,
        event_id: &str,
    ) -> Result<Option<Box<RawValue>>, StoreError> {
        self.get_item(org_id, event_id)
            .await?
            .as_ref()
            .map(doc_of)
            .transpose()
    }

    /// A page of the org's events matching `filter`, newest first, after `start`.
    ///
    /// Served by `by_resource` when a resource is given, by `by_actor` when `identity_id` is,
    /// else by `by_time`; the time range is the key condition; other filters are a
    /// FilterExpression, and the text search is matched on the read documents (their cost is
    /// the reads of the rows they discard, bounded by
    /// [`MAX_PAGES_PER_QUERY`] per call).
    pub async fn query_events(
        &self,
        org_id: &OrgId,
        filter: &LogFilter,
        limit: usize,
        start: Option<Position>,
    ) -> Result<Page, StoreError> {
        let plan = FilterQuery::new(org_id, filter);
        let mut start_key = start.as_ref().map(|p| plan.start_key(p));
        // Each row's document is decoded once: for the filters matched on it and the answer.
        let mut rows: Vec<(Position, String)> = Vec::new();
        for _ in 0..MAX_PAGES_PER_QUERY {
            let need = limit + 1 - rows.len();
            let mut q = plan
                .query(self, false)
                .set_exclusive_start_key(start_key.take());
            q = if plan.conds.is_empty() && plan.on_doc.is_empty() {
                q.limit(need as i32)
            } else {
                // Non-matching rows are read too; larger pages mean fewer round trips.
                q.limit(need.clamp(200, 1000) as i32)
            };
            let out = q.send().await.map_err(StoreError::from_sdk)?;
            for item in out.items() {
                let doc = doc_text(item)?;
                if plan.on_doc.matches(&doc) {
                    rows.push((position_of(item)?, doc));
                }
            }
            if rows.len() > limit {
                rows.truncate(limit);
                let next = rows.last().map(|(p, _)| p.clone());
                return page(rows, next);
            }
            match out.last_evaluated_key {
                None => return page(rows, None),
                Some(lek) => start_key = Some(lek),
            }
        }
        // Page budget spent on a sparse filter: answer what we have, resume where we stopped.
        let next = match start_key {
            Some(lek) => Some(position_of(&lek)?),
            None => rows.last().map(|(p, _)| p.clone()),
        };
        page(rows, next)
    }

    /// One DynamoDB page (≤ 1 MB read) of the org's events matching `filter`, oldest first,
    /// strictly after `after`: each matching event's position and canonical JSON, and where
    /// the next page starts (`None`: no more). Export jobs stream a range with it.
    pub async fn events_page_ascending(
        &self,
        org_id: &OrgId,
        filter: &LogFilter,
        after: Option<&Position>,
    ) -> Result<(Vec<(Position, String)>, Option<Position>), StoreError> {
        let plan = FilterQuery::new(org_id, filter);
        let out = plan
            .query(self, true)
            .set_exclusive_start_key(after.map(|p| plan.start_key(p)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let mut rows = Vec::with_capacity(out.items().len());
        for item in out.items() {
            let doc = doc_text(item)?;
            if plan.on_doc.matches(&doc) {
                rows.push((position_of(item)?, doc));
            }
        }
        let next = out
            .last_evaluated_key
            .as_ref()
            .filter(|k| !k.is_empty())
            .map(position_of)
            .transpose()?;
        Ok((rows, next))
    }
}

/// A Query of the events GSIs for a [`LogFilter`]: the index, its key condition over the
/// time range, the FilterExpression of the other filters, and the text search.
struct FilterQuery {
    org_id: String,
    index: &'static str,
    hash_attr: &'static str,
    hash_val: String,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(String, AttributeValue)>,
    conds: Vec<String>,
    /// The filters matched on the document.
    on_doc: DocFilter,
}

/// The filters of a [`LogFilter`] that are matched on the stored document.
#[derive(Debug, Default)]
struct DocFilter {
    identity_type: Option<String>,
    success: Option<bool>,
    source_ip: Option<String>,
    request_id: Option<String>,
    path_prefix: Option<String>,
    /// The spellings of the text search, any of which the document's JSON contains.
    search: Vec<String>,
}

impl DocFilter {
    fn is_empty(&self) -> bool {
        self.identity_type.is_none()
            && self.success.is_none()
            && self.source_ip.is_none()
            && self.request_id.is_none()
            && self.path_prefix.is_none()
            && self.search.is_empty()
    }

    /// Whether a stored document passes (every document does when there is no filter).
    fn matches(&self, doc: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        if !self.search.is_empty() && !self.search.iter().any(|v| doc.contains(v.as_str())) {
            return false;
        }
        let Ok(view) = serde_json::from_str::<EventView<'_>>(doc) else {
            return false;
        };
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        same(&self.identity_type, view.actor.actor_type.as_deref())
            && self.success.is_none_or(|ok| view.success == Some(ok))
            && same(&self.source_ip, view.actor.ip_address.as_deref())
            && same(&self.request_id, view.request_id.as_deref())
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| view.resource.as_ref().is_some_and(|r| r.id.starts_with(p)))
    }
}

impl FilterQuery {
    fn new(org_id: &OrgId, filter: &LogFilter) -> Self {
        let (index, hash_attr, hash_val) = match (&filter.resource, &filter.identity_id) {
            (Some((t, id)), _) => (GSI_BY_RESOURCE, "res_pk", resource_key(org_id, t, id)),
            (None, Some(id)) => (GSI_BY_ACTOR, "actor_pk", format!("{org_id}#{id}")),
            (None, None) => (GSI_BY_TIME, "pk", org_id.to_string()),
        };
        let lo = filter.from.map(sortable_time).unwrap_or_else(|| "0".into());
        // `to` is exclusive: "{to}#evt…" sorts after "{to}", so BETWEEN excludes it.
        let hi = filter.to.map(sortable_time).unwrap_or_else(|| "~".into());

        let mut names: Vec<(&str, &str)> = vec![("#h", hash_attr), ("#t", "ts_sk")];
        let mut values: Vec<(String, AttributeValue)> = vec![
            (":h".into(), s(&hash_val)),
            (":lo".into(), s(lo)),
            (":hi".into(), s(hi)),
        ];
        let mut conds: Vec<String> = Vec::new();
        if !filter.actions.is_empty() {
            names.push(("#action", "action"));
            let placeholders: Vec<String> = filter
                .actions
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    values.push((format!(":a{i}"), s(a)));
                    format!(":a{i}")
                })
                .collect();
            conds.push(format!("#action IN ({})", placeholders.join(", ")));
        }
        let mut eq = |attr: &'static str, name: &'static str, v: AttributeValue| {
            names.push((name, attr));
            values.push((format!(":{attr}"), v));
            conds.push(format!("{name} = :{attr}"));
        };
        if let (Some(_), Some(id)) = (&filter.resource, &filter.identity_id) {
            eq("actor_pk", "#actor_pk", s(format!("{org_id}#{id}")));
        }
        // The other filters read the document: matched after the read, as a FilterExpression
        // would have been (a filter saves no read units, only bytes on the wire), so the item
        // carries no copies of the document's fields but its keys and `action`.
        let on_doc = DocFilter {
            identity_type: filter.identity_type.map(|t| t.as_str().to_string()),
            success: filter.success,
            source_ip: filter.source_ip.clone(),
            request_id: filter.request_id.clone(),
            path_prefix: filter.path_prefix.clone(),
            search: filter
                .q
                .as_deref()
                .map(relay_core::query::search_variants)
                .unwrap_or_default(),
        };

        FilterQuery {
            org_id: org_id.to_string(),
            index,
            hash_attr,
            hash_val,
            names,
            values,
            conds,
            on_doc,
        }
    }

    /// The ExclusiveStartKey that resumes right after the row at `p`.
    fn start_key(&self, p: &Position) -> Item {
        let mut k: Item = Item::new();
        k.insert("pk".into(), s(&self.org_id));
        k.insert("sk".into(), s(&p.e));
        k.insert("ts_sk".into(), s(&p.t));
        if self.hash_attr != "pk" {
            k.insert(self.hash_attr.into(), s(&self.hash_val));
        }
        k
    }

    fn query(
        &self,
        store: &Store,
        ascending: bool,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let mut q = store
            .ddb
            .query()
            .table_name(&store.events_table)
            .index_name(self.index)
            .key_condition_expression("#h = :h AND #t BETWEEN :lo AND :hi")
            .scan_index_forward(ascending);
        for (k, v) in &self.names {
            q = q.expression_attribute_names(*k, *v);
        }
        for (k, v) in &self.values {
            q = q.expression_attribute_values(k, v.clone());
        }
        if !self.conds.is_empty() {
            q = q.filter_expression(self.conds.join(" AND "));
        }
        q
    }
}

/// One event in acceptance order, as the S3 flush reads it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its `rcv_sk` (`{received_at}#{event_id}`).
    pub rcv_sk: String,
    /// Canonical JSON.
    pub doc: String,
}

impl Store {
    /// A page (≤ 1 MB) of the org's events accepted strictly between `after` and `before`
    /// (`rcv_sk` bounds), oldest first, from `start` (the previous page's last key).
    pub async fn received_page(
        &self,
        org_id: &OrgId,
        after: &str,
        before: &str,
        start: Option<Item>,
    ) -> Result<(Vec<Received>, Option<Item>), StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.events_table)
            .index_name(super::schema::GSI_BY_RECEIVED)
            .key_condition_expression("pk = :pk AND #r BETWEEN :lo AND :hi")
            .projection_expression("pk, sk, #r, #d")
            .expression_attribute_names("#r", "rcv_sk")
            .expression_attribute_names("#d", "doc")
            .expression_attribute_values(":pk", s(org_id))
            .expression_attribute_values(":lo", s(after))
            .expression_attribute_values(":hi", s(before))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let mut rows = Vec::new();
        for item in out.items() {
            let rcv = get_s(item, "rcv_sk")?;
            // BETWEEN is inclusive; the watermark itself was exported already.
            if rcv == after || rcv >= before {
                continue;
            }
            rows.push(Received {
                rcv_sk: rcv.to_string(),
                doc: doc_text(item)?,
            });
        }
        Ok((rows, out.last_evaluated_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_keys_do_not_collide() {
        let org = OrgId::from("org_1".to_string());
        assert_ne!(
            resource_key(&org, "secret#a", "b"),
            resource_key(&org, "secret", "a#b")
        );
        assert_eq!(resource_key(&org, "document", "d1"), "org_1#8:document#d1");
    }

    #[test]
    fn documents_are_stored_deflated_and_read_back_verbatim() {
        // A 1 KiB event as a backend sends it: no padding, varied values.
        let doc = serde_json::json!({
            "event_id": "evt_01JDQ6G8Z4W3K9V2N7P5R1T0XY",
            "timestamp": "2026-05-22T10:30:00.123Z",
            "action": "document.permissions.updated",
            "actor": {"type": "user", "user_id": "usr_8f14e45fceea167a5a36dedd4bea2543",
                      "email": "jane.doe@customer-example.com", "ip_address": "198.51.100.23",
                      "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"},
            "resource": {"type": "document", "id": "doc_c9f0f895fb98ab9159f51fd0297e236d",
                         "name": "Q3 revenue forecast (board draft)"},
            "tenant_id": "ten_45c48cce2e2d7fbdea1afc51c7c6ad26",
            "request_id": "req_6512bd43d9caa6e02c990b0a82652dca",
            "success": true,
            "metadata": {"changes": {"viewers": {"added": ["usr_c20ad4d76fe97759aa27a0c99bff6710", "grp_finance"],
                                                 "removed": ["usr_aab3238922bcc25a6f606eb525ffdc56"]},
                                     "link_sharing": ["restricted", "domain"]},
                         "client": {"app": "web", "version": "2026.05.3", "session": "ses_9bf31c7ff062936a96d3c8bd1f8f2ff3"},
                         "geo": {"country": "DE", "region": "BE"}},
            "received_at": "2026-05-22T10:30:00.456Z"
        })
        .to_string();
        assert!(doc.len() > 900, "{}", doc.len());
        let v = doc_value(&doc);
        let AttributeValue::B(bytes) = &v else {
            panic!("a 1 KiB document is stored deflated");
        };
        println!(
            "{} bytes of JSON stored in {} bytes",
            doc.len(),
            bytes.as_ref().len()
        );
        assert!(
            bytes.as_ref().len() * 10 < doc.len() * 7,
            "at least 30% smaller"
        );
        let item: Item = Item::from([("doc".to_string(), v)]);
        assert_eq!(doc_text(&item).unwrap(), doc);

        // Short documents, and items written before compression, are strings.
        let short = r#"{"event_id":"e"}"#;
        assert_eq!(doc_value(short), s(short));
        let old: Item = Item::from([("doc".to_string(), s(&doc))]);
        assert_eq!(doc_text(&old).unwrap(), doc);
        assert!(doc_from_bytes(&[9, 1, 2]).is_err(), "an unknown format");
        assert!(doc_from_bytes(&[]).is_err());
    }
}
