//! OCSF records as nested Parquet, the way Amazon Security Lake's OCSF tables hold them: one
//! file per OCSF class (Security Lake requires every record of an object to be of one class),
//! the record's objects as Parquet groups (structs), `resources` as a list of structs.
//!
//! Each class has one fixed Arrow schema holding every attribute `relay_core::shapes::ocsf`
//! can emit for it, so every file of a class has the same columns whatever its events carry
//! (a Glue crawler sees one table per source, not a schema per file). Types follow OCSF:
//! integers as INT32 (`*_id`, `*_uid`) or INT64 (`type_uid`, `duration`, timestamps), text
//! as UTF-8. Two choices go beyond the JSON record:
//!
//! - `time` stays what OCSF defines it as, epoch milliseconds (INT64), as in Security Lake's
//!   own tables; `time_dt` (OCSF's date/time profile) carries the same instant as a TIMESTAMP
//!   (milliseconds, adjusted to UTC), the column Security Lake's tables are queried by.
//! - `unmapped` (arbitrary keys) is a `map<string, string>`: a string value as it is, any
//!   other value (the event's `metadata` object, the resource) as its JSON text, so no key
//!   is lost and Athena reads `unmapped['request_id']`.
//!
//! Records go through `arrow-json`'s decoder in strict mode: an attribute the schema lacks is
//! an error, never a silently dropped column (the unit tests map every class and activity).

use std::sync::Arc;

use arrow_json::reader::ReaderBuilder;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};

use relay_core::shapes::ocsf::Class;

/// Why records could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OcsfParquetError {
    /// A record is not an OCSF record of one of the classes the service emits.
    #[error("record {index} has no known class_uid")]
    NoClass {
        /// Its position in the batch.
        index: usize,
    },
    /// A record of another class than the file's (a file holds one class only).
    #[error("record {index} is of class {found}, not {expected}")]
    WrongClass {
        /// Its position in the batch.
        index: usize,
        /// The file's `class_uid`.
        expected: u32,
        /// The record's.
        found: u32,
    },
    /// Arrow refused a record (an attribute the class's schema lacks, or of another type).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The Parquet writer failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The class of an OCSF record (its `class_uid`), if it is one the service emits.
pub fn class_of(record: &Value) -> Option<Class> {
    record
        .get("class_uid")
        .and_then(Value::as_u64)
        .and_then(|uid| u32::try_from(uid).ok())
        .and_then(Class::from_uid)
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int32, true)
}

fn long(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

fn group(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

/// OCSF `user`: the actor's (`uid`, `email_addr`, `type_id`, `type`), or a target user of an
/// Account Change (`uid`, `name`).
fn user(name: &str, with_name: bool) -> Field {
    let mut fields = vec![text("uid")];
    if with_name {
        fields.push(text("name"));
    }
    fields.extend([text("email_addr"), int("type_id"), text("type")]);
    group(name, fields)
}

/// `unmapped`: `map<string, string>`.
fn unmapped() -> Field {
    let entries = Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    );
    Field::new("unmapped", DataType::Map(Arc::new(entries), false), true)
}

/// The Arrow schema of a class's files: every attribute the mapping emits for it.
pub fn schema(class: Class) -> SchemaRef {
    let mut fields = vec![
        int("activity_id"),
        text("activity_name"),
        int("category_uid"),
        text("category_name"),
        int("class_uid"),
        text("class_name"),
        long("type_uid"),
        text("type_name"),
        int("severity_id"),
        text("severity"),
        long("time"),
        Field::new(
            "time_dt",
            DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            true,
        ),
        int("status_id"),
        text("status"),
        group(
            "metadata",
            vec![
                text("uid"),
                text("version"),
                group(
                    "product",
                    vec![text("name"), text("vendor_name"), text("version")],
                ),
                text("tenant_uid"),
                text("event_code"),
                text("original_time"),
                long("logged_time"),
            ],
        ),
        group("actor", vec![user("user", false)]),
        group("src_endpoint", vec![text("ip"), text("name")]),
        group("http_request", vec![text("user_agent")]),
        long("duration"),
    ];
    match class {
        Class::ApiActivity => {
            fields.push(group("api", vec![text("operation")]));
            let resource = Field::new(
                "element",
                DataType::Struct(Fields::from(vec![text("uid"), text("type"), text("name")])),
                true,
            );
            fields.push(Field::new(
                "resources",
                DataType::List(Arc::new(resource)),
                true,
            ));
        }
        Class::Authentication => {
            fields.push(user("user", false));
            fields.push(group("service", vec![text("uid"), text("name")]));
        }
        Class::AccountChange => fields.push(user("user", true)),
    }
    fields.push(unmapped());
    Arc::new(Schema::new(fields))
}

/// The record as the class's schema takes it: `unmapped`'s values as text, `time_dt` beside
/// `time`.
fn prepare(record: &Value) -> Value {
    let mut rec = record.clone();
    if let Some(obj) = rec.as_object_mut() {
        if let Some(Value::Object(u)) = obj.get("unmapped") {
            let text: Map<String, Value> = u
                .iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), Value::String(s))
                })
                .collect();
            obj.insert("unmapped".into(), Value::Object(text));
        }
        if let Some(t) = obj.get("time").cloned() {
            obj.insert("time_dt".into(), t);
        }
    }
    rec
}

/// Writes `records`, all of `class`, as one Snappy-compressed Parquet file (one row group:
/// a file holds at most one batch of 1,000 events).
pub fn encode(class: Class, records: &[Value]) -> Result<Vec<u8>, OcsfParquetError> {
    let expected = class.uid();
    for (index, r) in records.iter().enumerate() {
        match class_of(r) {
            None => return Err(OcsfParquetError::NoClass { index }),
            Some(c) if c != class => {
                return Err(OcsfParquetError::WrongClass {
                    index,
                    expected,
                    found: c.uid(),
                })
            }
            Some(_) => {}
        }
    }
    let schema = schema(class);
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(records.len().max(1))
        .with_strict_mode(true)
        .build_decoder()?;
    let rows: Vec<Value> = records.iter().map(prepare).collect();
    decoder.serialize(&rows)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(concat!("AuditRelay ", env!("CARGO_PKG_VERSION")).to_string())
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props))?;
    while let Some(batch) = decoder.flush()? {
        if batch.num_rows() == 0 {
            break;
        }
        writer.write(&batch)?;
    }
    writer.close()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::RecordBatchReader;
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use relay_core::model::event::AuditEvent;
    use relay_core::shapes::{ocsf, ShapeContext};
    use serde_json::json;

    /// Events covering every class and activity, every optional field present and absent,
    /// every actor type, and the values the mapping moves under `unmapped`.
    fn sample() -> Vec<Value> {
        let actions = [
            "user_login",
            "user.login_failed",
            "user.logged_out",
            "user_created",
            "user.invited",
            "user.reactivated",
            "password_change",
            "user.password_reset",
            "user.disabled",
            "user.deleted",
            "user_role_added",
            "user_role_removed",
            "user_locked",
            "user.mfa_enabled",
            "user.mfa_disabled",
            "user.mfa_challenged",
            "document.created",
            "document.opened",
            "document.updated",
            "document.deleted",
            "app_deployed",
        ];
        let types = [
            "user",
            "api_key",
            "oauth_client",
            "service_account",
            "system",
            "group",
        ];
        let mut out = Vec::new();
        for (i, action) in actions.iter().enumerate() {
            let full = json!({
                "event_id": format!("evt_full_{i}"),
                "timestamp": "2026-05-22T10:30:00Z",
                "action": action,
                "actor": {
                    "user_id": format!("usr_{i}"),
                    "email": if i % 2 == 0 { "jane@example.com" } else { "ops@localhost" },
                    "ip_address": if i % 3 == 0 { "2001:db8::1" } else { "203.0.113.42" },
                    "type": types[i % types.len()],
                    "user_agent": "Mozilla/5.0"
                },
                "resource": {
                    "type": if i % 2 == 0 { "user" } else { "document" },
                    "id": format!("res_{i}"),
                    "name": "Contract_v2.docx"
                },
                "tenant_id": "ten_01ABCDEFG",
                "project": "portal",
                "success": i % 2 == 0,
                "request_id": "req_xyz",
                "duration_ms": 12,
                "metadata": {"app_id": "app_42", "n": 7, "nested": {"a": [1, 2]}},
                "received_at": "2026-05-22T10:30:01.250Z"
            });
            let bare = json!({
                "event_id": format!("evt_bare_{i}"),
                "timestamp": "2026-05-23T00:00:00.5+02:00",
                "action": action,
                "actor": {"user_id": format!("svc_{i}")},
                "tenant_id": "ten_01ABCDEFG",
                "received_at": "2026-05-22T22:00:01Z"
            });
            out.push(full);
            out.push(bare);
        }
        let ctx = ShapeContext::new("ten_01ABCDEFG");
        out.into_iter()
            .map(|e| {
                let event: AuditEvent = serde_json::from_value(e).unwrap();
                ocsf::record(&event, None, &ctx)
            })
            .collect()
    }

    /// Reads a file back as JSON records (nulls omitted, as the mapping omits absent values).
    fn read_back(bytes: Vec<u8>) -> (SchemaRef, Vec<Value>) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let schema = reader.schema();
        let mut writer = arrow_json::ArrayWriter::new(Vec::new());
        for batch in reader {
            writer.write(&batch.unwrap()).unwrap();
        }
        writer.finish().unwrap();
        let text = writer.into_inner();
        let rows: Vec<Value> = if text.is_empty() {
            vec![]
        } else {
            serde_json::from_slice(&text).unwrap()
        };
        (schema, rows)
    }

    /// What a record should read back as: `unmapped`'s values as text.
    fn expected(record: &Value) -> Value {
        let mut r = prepare(record);
        if let Some(o) = r.as_object_mut() {
            o.remove("time_dt");
        }
        // Normalise number representations the way a reader's JSON does.
        serde_json::from_str(&r.to_string()).unwrap()
    }

    #[test]
    fn every_class_round_trips_with_no_field_lost() {
        let records = sample();
        let mut seen = std::collections::BTreeSet::new();
        for class in [
            Class::AccountChange,
            Class::Authentication,
            Class::ApiActivity,
        ] {
            let mine: Vec<Value> = records
                .iter()
                .filter(|r| class_of(r) == Some(class))
                .cloned()
                .collect();
            assert!(mine.len() >= 4, "the sample covers {}", class.name());
            let bytes = encode(class, &mine).unwrap();
            assert_eq!(&bytes[..4], b"PAR1");
            let (schema, rows) = read_back(bytes);
            assert_eq!(schema.fields().len(), super::schema(class).fields().len());
            assert_eq!(rows.len(), mine.len());
            for (got, want) in rows.iter().zip(&mine) {
                let mut got = got.clone();
                let obj = got.as_object_mut().unwrap();
                let time_dt = obj.remove("time_dt").expect("time_dt is written");
                assert!(time_dt.is_string(), "a timestamp: {time_dt}");
                assert_eq!(got, expected(want), "{}", class.name());
                seen.insert(want["type_uid"].as_u64().unwrap());
            }
        }
        // Every activity the sample's actions map to came back.
        assert!(seen.len() >= 18, "{seen:?}");
    }

    #[test]
    fn nested_types_are_parquet_groups_lists_maps_and_timestamps() {
        let records = sample();
        let api: Vec<Value> = records
            .iter()
            .filter(|r| class_of(r) == Some(Class::ApiActivity))
            .cloned()
            .collect();
        let (schema, _) = read_back(encode(Class::ApiActivity, &api).unwrap());
        let ty = |n: &str| schema.field_with_name(n).unwrap().data_type().clone();
        assert!(matches!(ty("metadata"), DataType::Struct(_)));
        assert!(matches!(ty("resources"), DataType::List(_)));
        assert!(matches!(ty("unmapped"), DataType::Map(_, _)));
        assert_eq!(ty("time"), DataType::Int64);
        assert_eq!(
            ty("time_dt"),
            DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()))
        );
    }

    #[test]
    fn a_file_holds_one_class_and_refuses_attributes_it_has_no_column_for() {
        let records = sample();
        let auth = records
            .iter()
            .find(|r| class_of(r) == Some(Class::Authentication))
            .unwrap()
            .clone();
        assert!(matches!(
            encode(Class::ApiActivity, std::slice::from_ref(&auth)),
            Err(OcsfParquetError::WrongClass {
                expected: 6003,
                found: 3002,
                ..
            })
        ));
        assert!(matches!(
            encode(Class::ApiActivity, &[json!({"a": 1})]),
            Err(OcsfParquetError::NoClass { index: 0 })
        ));
        let mut extra = auth;
        extra["observables"] = json!([]);
        assert!(matches!(
            encode(Class::Authentication, &[extra]),
            Err(OcsfParquetError::Arrow(_))
        ));
    }

    #[test]
    fn same_records_same_bytes() {
        let records: Vec<Value> = sample()
            .into_iter()
            .filter(|r| class_of(r) == Some(Class::AccountChange))
            .collect();
        assert_eq!(
            encode(Class::AccountChange, &records).unwrap(),
            encode(Class::AccountChange, &records).unwrap()
        );
    }
}
