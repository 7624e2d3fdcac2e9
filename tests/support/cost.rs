//! What the event path costs in AWS requests, read from moto's request recorder
//! (`/moto-api/recorder/*`): every call moto served while recording, by service and operation,
//! and DynamoDB's write request units computed from the items' sizes by DynamoDB's rules
//! (1 WRU per KiB of the item, again per KiB of each global secondary index entry it writes,
//! twice that inside a transaction).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ProjectionType};
use base64::Engine;
use relay_store::events::item_size;
use relay_store::Item;
use serde_json::Value;

/// moto's request recorder.
pub struct Recorder {
    base: String,
    http: reqwest::Client,
}

/// One AWS call moto served.
#[derive(Debug, Clone)]
pub struct Call {
    /// The signing name: `dynamodb`, `sqs`, `s3`, `kms`, `sts`, `sns`, …
    pub service: String,
    /// The operation: `PutItem`, `SendMessageBatch`, `PutObject`, …
    pub operation: String,
    /// The JSON body (JSON protocols), else `Null`.
    pub body: Value,
}

impl Recorder {
    /// The recorder of the moto at `AWS_ENDPOINT_URL`.
    pub fn from_env() -> Recorder {
        let base = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (moto)");
        Recorder {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, what: &str) {
        self.http
            .post(format!("{}/moto-api/recorder/{what}", self.base))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("moto recorder {what}: {e}"));
    }

    /// Forgets what was recorded and starts recording.
    pub async fn start(&self) {
        self.post("reset-recording").await;
        self.post("start-recording").await;
    }

    /// Stops recording; every call recorded since [`Recorder::start`].
    pub async fn stop(&self) -> Vec<Call> {
        self.post("stop-recording").await;
        let text = self
            .http
            .get(format!(
                "{}/moto-api/recorder/download-recording",
                self.base
            ))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("download recording")
            .text()
            .await
            .expect("recording");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|entry| parse_entry(&entry))
            .collect()
    }
}

fn header<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry["headers"].as_object().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    })
}

fn body_bytes(entry: &Value) -> Vec<u8> {
    let body = entry["body"].as_str().unwrap_or("");
    if entry["body_encoded"].as_bool().unwrap_or(false) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    }
}

/// Classifies one recorded request by its signature's service and its operation.
pub fn parse_entry(entry: &Value) -> Call {
    let service = header(entry, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    let body = body_bytes(entry);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let operation = if let Some(target) = header(entry, "x-amz-target") {
        target.rsplit('.').next().unwrap_or(target).to_string()
    } else if service == "s3" {
        s3_operation(entry)
    } else {
        form_urlencoded::parse(&body)
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    Call {
        service,
        operation,
        body: json,
    }
}

fn s3_operation(entry: &Value) -> String {
    let method = entry["method"].as_str().unwrap_or("");
    let url = entry["url"].as_str().unwrap_or("");
    let query = url.split_once('?').map(|x| x.1).unwrap_or("");
    let has = |k: &str| {
        query
            .split('&')
            .any(|p| p == k || p.starts_with(&format!("{k}=")))
    };
    let name = match method {
        "PUT" if has("partNumber") => "UploadPart",
        "PUT" => "PutObject",
        "POST" if has("uploads") => "CreateMultipartUpload",
        "POST" if has("uploadId") => "CompleteMultipartUpload",
        "POST" if has("delete") => "DeleteObjects",
        "GET" if has("list-type") => "ListObjectsV2",
        "GET" => "GetObject",
        "HEAD" => "HeadObject",
        "DELETE" if has("uploadId") => "AbortMultipartUpload",
        "DELETE" => "DeleteObject",
        _ => "unknown",
    };
    name.to_string()
}

/// A DynamoDB attribute value from its wire JSON (`{"S": "…"}`, `{"M": {…}}`, …).
pub fn attribute(v: &Value) -> AttributeValue {
    let Some((kind, x)) = v.as_object().and_then(|o| o.iter().next()) else {
        return AttributeValue::Null(true);
    };
    let text = || x.as_str().unwrap_or_default().to_string();
    let blob = |x: &Value| {
        Blob::new(
            base64::engine::general_purpose::STANDARD
                .decode(x.as_str().unwrap_or_default())
                .unwrap_or_default(),
        )
    };
    let strings = || {
        x.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    match kind.as_str() {
        "S" => AttributeValue::S(text()),
        "N" => AttributeValue::N(text()),
        "B" => AttributeValue::B(blob(x)),
        "BOOL" => AttributeValue::Bool(x.as_bool().unwrap_or_default()),
        "SS" => AttributeValue::Ss(strings()),
        "NS" => AttributeValue::Ns(strings()),
        "BS" => AttributeValue::Bs(
            x.as_array()
                .map(|a| a.iter().map(blob).collect())
                .unwrap_or_default(),
        ),
        "L" => AttributeValue::L(
            x.as_array()
                .map(|a| a.iter().map(attribute).collect())
                .unwrap_or_default(),
        ),
        "M" => AttributeValue::M(item(x)),
        _ => AttributeValue::Null(true),
    }
}

/// An item from its wire JSON.
pub fn item(v: &Value) -> Item {
    v.as_object()
        .map(|o| o.iter().map(|(k, x)| (k.clone(), attribute(x))).collect())
        .unwrap_or_default()
}

/// One item write inside a DynamoDB call.
#[derive(Debug, Clone)]
pub struct Write {
    /// The table.
    pub table: String,
    /// The item's primary key.
    pub key: Item,
    /// The whole item, for a put.
    pub item: Option<Item>,
    /// Inside TransactWriteItems (twice the units).
    pub transactional: bool,
    /// The DynamoDB operation.
    pub operation: &'static str,
}

/// The item writes of one DynamoDB call (none for reads).
pub fn writes(call: &Call, keys: &HashMap<String, Vec<String>>) -> Vec<Write> {
    let b = &call.body;
    let key_of = |table: &str, it: &Item| -> Item {
        keys.get(table)
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| it.get(n).map(|v| (n.clone(), v.clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let table = |v: &Value| v["TableName"].as_str().unwrap_or_default().to_string();
    let one = |v: &Value, op: &'static str, transactional: bool| -> Write {
        let t = table(v);
        match op {
            "Put" => {
                let it = item(&v["Item"]);
                Write {
                    key: key_of(&t, &it),
                    item: Some(it),
                    table: t,
                    transactional,
                    operation: op,
                }
            }
            _ => Write {
                key: item(&v["Key"]),
                item: None,
                table: t,
                transactional,
                operation: op,
            },
        }
    };
    match call.operation.as_str() {
        "PutItem" => vec![one(b, "Put", false)],
        "UpdateItem" => vec![one(b, "Update", false)],
        "DeleteItem" => vec![one(b, "Delete", false)],
        "BatchWriteItem" => b["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(t, reqs)| {
                reqs.as_array().into_iter().flatten().map(move |r| {
                    let mut v = if r.get("PutRequest").is_some() {
                        r["PutRequest"].clone()
                    } else {
                        r["DeleteRequest"].clone()
                    };
                    v["TableName"] = Value::String(t.clone());
                    (v, r.get("PutRequest").is_some())
                })
            })
            .map(|(v, put)| one(&v, if put { "Put" } else { "Delete" }, false))
            .collect(),
        "TransactWriteItems" => b["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                if t.get("Put").is_some() {
                    Some(one(&t["Put"], "Put", true))
                } else if t.get("Update").is_some() {
                    Some(one(&t["Update"], "Update", true))
                } else if t.get("Delete").is_some() {
                    Some(one(&t["Delete"], "Delete", true))
                } else {
                    None // a ConditionCheck reads
                }
            })
            .collect(),
        _ => vec![],
    }
}

/// A table's key and its global secondary indexes, from DescribeTable.
#[derive(Debug, Clone, Default)]
pub struct TableShape {
    /// The primary key's attribute names.
    pub key: Vec<String>,
    /// (index name, its key attributes, the projected non-key attributes: `None` for ALL).
    pub indexes: Vec<(String, Vec<String>, Option<Vec<String>>)>,
}

impl TableShape {
    /// Reads a table's shape.
    pub async fn describe(ddb: &aws_sdk_dynamodb::Client, table: &str) -> TableShape {
        let t = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("describe table")
            .table
            .expect("table");
        let names = |ks: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<String> {
            ks.iter().map(|k| k.attribute_name().to_string()).collect()
        };
        let key = names(t.key_schema());
        let indexes = t
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                let p = g.projection();
                let projected = match p.and_then(|p| p.projection_type()) {
                    Some(ProjectionType::All) | None => None,
                    Some(ProjectionType::KeysOnly) => Some(vec![]),
                    Some(_) => Some(
                        p.map(|p| p.non_key_attributes().to_vec())
                            .unwrap_or_default(),
                    ),
                };
                (
                    g.index_name().unwrap_or_default().to_string(),
                    names(g.key_schema()),
                    projected,
                )
            })
            .collect();
        TableShape { key, indexes }
    }

    /// Units of writing `item` (its table copy and each index entry it has), at least 1.
    pub fn units(&self, item: &Item) -> usize {
        let kib = |n: usize| n.div_ceil(1024).max(1);
        let mut units = kib(item_size(item));
        for (_, ix_key, projected) in &self.indexes {
            if !ix_key.iter().all(|k| item.contains_key(k)) {
                continue;
            }
            let entry: Item = match projected {
                None => item.clone(),
                Some(extra) => item
                    .iter()
                    .filter(|(k, _)| {
                        self.key.contains(k) || ix_key.contains(k) || extra.contains(k)
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            units += kib(item_size(&entry));
        }
        units
    }

    /// Bytes an item takes in storage with its index entries (DynamoDB counts 100 bytes of
    /// overhead per item and per index entry).
    pub fn stored_bytes(&self, item: &Item) -> usize {
        let mut bytes = item_size(item) + 100;
        for (_, ix_key, projected) in &self.indexes {
            if !ix_key.iter().all(|k| item.contains_key(k)) {
                continue;
            }
            bytes += 100
                + match projected {
                    None => item_size(item),
                    Some(extra) => item
                        .iter()
                        .filter(|(k, _)| {
                            self.key.contains(k) || ix_key.contains(k) || extra.contains(k)
                        })
                        .map(|(k, v)| k.len() + relay_store::events::value_size(v))
                        .sum(),
                };
        }
        bytes
    }
}

/// Reads the current version of each key (BatchGetItem, consistent); missing ones are absent.
pub async fn current_items(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: &[Item],
) -> HashMap<String, Item> {
    let mut out = HashMap::new();
    let mut seen = HashSet::new();
    let unique: Vec<&Item> = keys.iter().filter(|k| seen.insert(key_id(k))).collect();
    for chunk in unique.chunks(100) {
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(chunk.iter().map(|k| (*k).clone()).collect()))
            .consistent_read(true)
            .build()
            .expect("keys");
        loop {
            let r = ddb
                .batch_get_item()
                .request_items(table, pending.clone())
                .send()
                .await
                .expect("batch get");
            for it in r
                .responses()
                .and_then(|m| m.get(table))
                .into_iter()
                .flatten()
            {
                out.insert(key_id_in(it, chunk), it.clone());
            }
            match r.unprocessed_keys().and_then(|m| m.get(table)) {
                Some(rest) if !rest.keys().is_empty() => pending = rest.clone(),
                _ => break,
            }
        }
    }
    out
}

/// A printable identity of a key.
pub fn key_id(key: &Item) -> String {
    let sorted: BTreeMap<_, _> = key.iter().collect();
    format!("{sorted:?}")
}

fn key_id_in(it: &Item, keys: &[&Item]) -> String {
    let names: Vec<&String> = keys.first().map(|k| k.keys().collect()).unwrap_or_default();
    let key: Item = names
        .into_iter()
        .filter_map(|n| it.get(n).map(|v| (n.clone(), v.clone())))
        .collect();
    key_id(&key)
}

/// What kind of item a key is, for the cost table: each key attribute's leading tag (`WHDLV#`,
/// `SUM#`), or its id prefix (`org_…`, `evt_…`).
pub fn kind_of(key: &Item, names: &[String]) -> String {
    let tag = |s: &str| {
        let head = s.split('#').next().unwrap_or_default();
        if s.contains('#')
            && !head.is_empty()
            && head.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        {
            format!("{head}#")
        } else {
            match head.split_once('_') {
                Some((p, _)) if !p.is_empty() => format!("{p}_…"),
                _ => "…".into(),
            }
        }
    };
    names
        .iter()
        .map(|n| match key.get(n) {
            Some(AttributeValue::S(s)) => tag(s),
            _ => "?".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sums the item sizes of a whole table with its index entries; (items, bytes).
pub async fn table_bytes(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    shape: &TableShape,
) -> (usize, usize) {
    let mut pages = ddb
        .scan()
        .table_name(table)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send();
    let (mut n, mut bytes) = (0, 0);
    while let Some(it) = pages.next().await {
        let it = it.expect("scan");
        n += 1;
        bytes += shape.stored_bytes(&it);
    }
    (n, bytes)
}
