//! The events table.
//!
//! Item: `pk` = org id, `sk` = event id (so the conditional put is the idempotency check),
//! `ts_sk` = `{timestamp as fixed-width UTC}#{event_id}` and `rcv_sk` = `{received_at}#{event_id}`
//! (sortable), `actor_pk` = `{org}#{actor.user_id}`, `res_pk` = `{org}#{type}#{id}` (only when the
//! event has a resource), the filterable attributes, `doc` (the canonical JSON, returned
//! verbatim), `chash` (content hash, to tell a re-send from a conflicting reuse of an id) and
//! `expires_at` (TTL).

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
};

use serde_json::value::RawValue;

use super::schema::{GSI_BY_ACTOR, GSI_BY_RESOURCE, GSI_BY_TIME};
use super::{get_s, n, s, Item, Store};
use crate::error::StoreError;
use relay_core::model::event::{sortable_time, ValidEvent};
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
    if let Some(t) = e.actor.actor_type {
        item.insert("actor_type".into(), s(t.as_str()));
    }
    if let Some(ip) = &e.actor.ip_address {
        item.insert("ip".into(), s(ip));
    }
    if let Some(r) = &e.resource {
        item.insert(
            "res_pk".into(),
            s(resource_key(org_id, &r.resource_type, &r.id)),
        );
        item.insert("res_id".into(), s(&r.id));
    }
    if let Some(ok) = e.success {
        item.insert("success".into(), AttributeValue::Bool(ok));
    }
    if let Some(rid) = &e.request_id {
        item.insert("request_id".into(), s(rid));
    }
    item.insert("doc".into(), s(&ev.json));
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

fn doc_of(item: &Item) -> Result<Box<RawValue>, StoreError> {
    RawValue::from_string(get_s(item, "doc")?.to_string())
        .map_err(|e| StoreError::Corrupt(format!("doc: {e}")))
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
    /// FilterExpression (their cost is the reads of the rows they discard, bounded by
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
        let mut rows: Vec<Item> = Vec::new();
        for _ in 0..MAX_PAGES_PER_QUERY {
            let need = limit + 1 - rows.len();
            let mut q = plan
                .query(self, false)
                .set_exclusive_start_key(start_key.take());
            q = if plan.conds.is_empty() {
                q.limit(need as i32)
            } else {
                // Non-matching rows are read too; larger pages mean fewer round trips.
                q.limit(need.clamp(200, 1000) as i32)
            };
            let out = q.send().await.map_err(StoreError::from_sdk)?;
            rows.extend(out.items.unwrap_or_default());
            if rows.len() > limit {
                rows.truncate(limit);
                let next = rows.last().map(position_of).transpose()?;
                let events = rows.iter().map(doc_of).collect::<Result<_, _>>()?;
                return Ok(Page { events, next });
            }
            match out.last_evaluated_key {
                None => {
                    let events = rows.iter().map(doc_of).collect::<Result<_, _>>()?;
                    return Ok(Page { events, next: None });
                }
                Some(lek) => start_key = Some(lek),
            }
        }
        // Page budget spent on a sparse filter: answer what we have, resume where we stopped.
        let next = match start_key {
            Some(lek) => Some(position_of(&lek)?),
            None => rows.last().map(position_of).transpose()?,
        };
        let events = rows.iter().map(doc_of).collect::<Result<_, _>>()?;
        Ok(Page { events, next })
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
            rows.push((position_of(item)?, get_s(item, "doc")?.to_string()));
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
/// time range and the FilterExpression of the other filters.
struct FilterQuery {
    org_id: String,
    index: &'static str,
    hash_attr: &'static str,
    hash_val: String,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(String, AttributeValue)>,
    conds: Vec<String>,
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
        if let Some(t) = filter.identity_type {
            eq("actor_type", "#actor_type", s(t.as_str()));
        }
        if let Some(ok) = filter.success {
            eq("success", "#success", AttributeValue::Bool(ok));
        }
        if let Some(ip) = &filter.source_ip {
            eq("ip", "#ip", s(ip));
        }
        if let Some(rid) = &filter.request_id {
            eq("request_id", "#request_id", s(rid));
        }
        if let Some(p) = &filter.path_prefix {
            names.push(("#res_id", "res_id"));
            values.push((":pp".into(), s(p)));
            conds.push("begins_with(#res_id, :pp)".into());
        }
        if let Some(q) = &filter.q {
            names.push(("#doc", "doc"));
            let any: Vec<String> = relay_core::query::search_variants(q)
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    values.push((format!(":q{i}"), s(v)));
                    format!("contains(#doc, :q{i})")
                })
                .collect();
            conds.push(format!("({})", any.join(" OR ")));
        }

        FilterQuery {
            org_id: org_id.to_string(),
            index,
            hash_attr,
            hash_val,
            names,
            values,
            conds,
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
                doc: get_s(item, "doc")?.to_string(),
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
}
