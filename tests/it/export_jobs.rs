//! Export jobs against moto: `POST /v1/audit/export` through the export-jobs queue
//! and the export function's handler, into the customer's bucket through their role. A
//! 25,000-event export compared row by row with `GET /v1/audit/logs` (JSONL and the columnar
//! CSV, the CSV read by DuckDB and Python's `csv`), Parquet read by pyarrow and DuckDB, gzip
//! files, a run killed half-way and continued, the list and status endpoints, and bad input
//! (schema and format pairs outside the file table included).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::stream::{self, StreamExt};
use http::{Method, StatusCode};
use relay_app::clients::Clients;
use relay_app::destinations::export_job::local::ExportPoller;
use relay_app::destinations::export_job::queue::{JobMessage, EXPORT_QUEUE};
use relay_app::destinations::export_job::run::{ExportRunner, ExportSettings, RunOutcome};
use relay_app::files::{neutralize, unneutralize};
use relay_app::ingest::validate_body;
use relay_app::pipeline::queues::ensure_queue_with_dlq;
use relay_core::model::event::{rfc3339_millis, AuditEvent};
use relay_core::model::ids::ExportId;
use relay_core::shapes::columnar::{self, Cell};
use relay_core::shapes::ShapeContext;
use relay_store::events::event_item;
use serde_json::{json, Value};
use support::{assert_error, customer_s3, sdk, TestEnv};
use time::OffsetDateTime;

const ACTIONS: [&str; 3] = ["read", "write", "delete"];
const UA: &str = "Mozilla/5.0 (X11; \"quoted\", comma)";
const FORMULA: &str = "=HYPERLINK(\"http://evil\")";
const ROLE: &str = "arn:aws:iam::123456789012:role/AuditRelayExport";

struct Jobs {
    env: TestEnv,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    bucket: String,
}

impl Jobs {
    /// A deployment with an export-jobs queue and an org whose S3 export destination is a
    /// fresh bucket.
    async fn new() -> Jobs {
        let sdk = sdk().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let name = format!("exp{}", ulid::Ulid::new().to_string().to_lowercase());
        let q = ensure_queue_with_dlq(&sqs, &name, EXPORT_QUEUE)
            .await
            .expect("queue");
        let url = q.queue_url.clone();
        let env = TestEnv::with_config(move |c| c.export_queue_url = Some(url)).await;
        let bucket = format!("cust-{}", ulid::Ulid::new().to_string().to_lowercase());
        customer_s3()
            .await
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("bucket");
        let body =
            json!({"bucket": bucket, "region": "us-east-1", "roleArn": ROLE, "enabled": false});
        let uri = format!("/orgs/{}/audit-export/config", env.a.org.org_id);
        let r = env
            .call(Method::POST, &uri, Some(&env.a.admin), Some(&body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        Jobs {
            env,
            sqs,
            queue_url: q.queue_url,
            bucket,
        }
    }

    async fn runner(&self, records_per_file: u64) -> ExportRunner {
        let sdk = sdk().await;
        let signer = relay_app::integrity::signer::Signer::new(
            aws_sdk_kms::Client::new(&sdk),
            Some(support::signing_key(&sdk).await),
            self.env.store.clone(),
        );
        ExportRunner::new(
            self.env.store.clone(),
            Clients::new(&sdk),
            support::buckets(&self.env.config, &sdk),
            relay_app::pipeline::pause::Notifier::new(aws_sdk_sns::Client::new(&sdk), None),
            Some(self.queue_url.clone()),
            ExportSettings {
                records_per_file,
                retry_delay: Duration::ZERO,
                ..ExportSettings::default()
            },
        )
        .with_signer(signer)
    }

    async fn poller(&self, records_per_file: u64) -> ExportPoller {
        ExportPoller::new(
            self.sqs.clone(),
            self.queue_url.clone(),
            self.runner(records_per_file).await,
            Duration::from_secs(600),
        )
    }

    /// `POST /v1/audit/export`, asserting 202.
    async fn create(&self, body: Value) -> Value {
        let r = self
            .env
            .call(
                Method::POST,
                "/v1/audit/export",
                Some(&self.env.a.admin),
                Some(&body),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        r.body
    }

    async fn status(&self, id: &str) -> Value {
        let r = self
            .env
            .call(
                Method::GET,
                &format!("/v1/audit/exports/{id}"),
                Some(&self.env.a.admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body
    }

    /// Polls the queue until it is empty.
    async fn drain(&self, poller: &ExportPoller) {
        while poller.poll_once().await.expect("poll") {}
    }
}

async fn object(bucket: &str, key: &str) -> Vec<u8> {
    customer_s3()
        .await
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

async fn keys(bucket: &str) -> Vec<String> {
    let out = customer_s3()
        .await
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

/// Loads `n` varied events straight into the events table (BatchWriteItem, 8 in parallel,
/// as the API would have stored them): one every 5 s from `start`.
async fn load(env: &TestEnv, n: usize, start: OffsetDateTime) {
    let org = env.a.org.clone();
    let table = env.config.events_table.clone();
    let idx: Vec<usize> = (0..n).collect();
    stream::iter(idx.chunks(25).map(<[usize]>::to_vec))
        .map(|chunk| {
            let (store, org, table) = (env.store.clone(), org.clone(), table.clone());
            async move {
                let now = OffsetDateTime::now_utc();
                let reqs: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|&i| {
                        let ts = start + time::Duration::seconds(5 * i as i64);
                        let mut e = json!({
                            "event_id": format!("evt_x_{i:06}"),
                            "timestamp": rfc3339_millis(ts),
                            "action": ACTIONS[i % 3],
                            "actor": {"user_id": format!("usr_{}", i % 11), "email": "jane@example.com",
                                "ip_address": "203.0.113.42", "type": "user",
                                "user_agent": if i % 4 == 0 { UA } else { "curl/8.0" }},
                            "resource": {"type": "document", "id": format!("doc_{}", i % 13),
                                "name": if i % 5 == 0 { FORMULA } else { "Contract_v2.docx" }},
                            "duration_ms": i % 1000,
                            "metadata": {"i": i, "note": "a,b \"c\"", "nested": {"ok": true}},
                        });
                        if i % 9 == 0 {
                            e["success"] = json!(false);
                            e["request_id"] = json!(format!("-req_{i}"));
                        }
                        let ev = validate_body(e, &org, now).expect("valid").remove(0);
                        let item = event_item(&org.org_id, &ev, 0);
                        WriteRequest::builder()
                            .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                            .build()
                    })
                    .collect();
                let mut pending = Some(reqs);
                while let Some(r) = pending.take() {
                    let out = store
                        .client()
                        .batch_write_item()
                        .request_items(&table, r)
                        .send()
                        .await
                        .expect("batch write");
                    pending = out
                        .unprocessed_items()
                        .and_then(|m| m.get(&table))
                        .filter(|v| !v.is_empty())
                        .cloned();
                }
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

fn range_query(from: &str, to: &str) -> String {
    format!(
        "from={}&to={}",
        from.replace(':', "%3A"),
        to.replace(':', "%3A")
    )
}

/// A log entry (canonical) as the columnar CSV row the export should hold for it: the
/// columnar shape's cells, text cells spreadsheet-safe.
fn columnar_csv_row(log: &Value, ctx: &ShapeContext) -> Vec<String> {
    let ev: AuditEvent = serde_json::from_value(log.clone()).unwrap();
    columnar::row(&ev, None, ctx)
        .iter()
        .map(|c| match c {
            Cell::Text(t) => neutralize(t).into_owned(),
            other => columnar::cell_text(other),
        })
        .collect()
}

/// Text of a JSON value as a CSV cell (null: empty).
fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn a_25000_event_csv_export_matches_the_logs_row_by_row() {
    let j = Jobs::new().await;
    let env = &j.env;
    let start = OffsetDateTime::now_utc() - time::Duration::days(3);
    let t = Instant::now();
    load(env, 25_000, start).await;
    eprintln!("loaded 25,000 events in {:?}", t.elapsed());
    // The range starts after the first 10 events and ends before the last 10.
    let from = rfc3339_millis(start + time::Duration::seconds(50));
    let to = rfc3339_millis(start + time::Duration::seconds(5 * 24_990));
    let expected = 24_980usize;
    let t = Instant::now();
    let logs = env
        .all_pages(
            &env.a.reader,
            &format!("{}&limit=1000", range_query(&from, &to)),
        )
        .await;
    eprintln!("read /v1/audit/logs in {:?}", t.elapsed());
    assert_eq!(logs.len(), expected);
    let oldest_first: Vec<&Value> = logs.iter().rev().collect();

    // Parts of at most 10,000 records here (100,000 in production) to get several files.
    let poller = j.poller(10_000).await;
    let csv = j
        .create(json!({"from": from, "to": to, "format": "csv"}))
        .await;
    assert_eq!(csv["status"], "queued");
    assert!(csv["export_id"].as_str().unwrap().starts_with("exp_"));
    assert!(csv["estimated_records"].is_u64());
    let t = Instant::now();
    j.drain(&poller).await;
    eprintln!("ran the export in {:?}", t.elapsed());

    // CSV: the columnar shape's header, then one row per event with the same values,
    // spreadsheet-safe.
    let st = j.status(csv["export_id"].as_str().unwrap()).await;
    assert_eq!(st["status"], "completed", "{st}");
    assert_eq!(
        (&st["schema"], &st["format"]),
        (&json!("columnar"), &json!("csv"))
    );
    assert_eq!(st["record_count"], expected);
    assert!(st["completed_at"].is_string());
    assert!(st.get("error").is_none());
    assert_eq!(st["files"].as_array().unwrap().len(), 3);
    // The manifest beside the parts lists exactly those files.
    let manifest: Value =
        serde_json::from_slice(&object(&j.bucket, st["manifest_key"].as_str().unwrap()).await)
            .unwrap();
    assert_eq!(manifest["files"], st["files"]);
    assert_eq!(manifest["record_count"], expected);
    assert_eq!(
        (&manifest["schema"], &manifest["format"]),
        (&json!("columnar"), &json!("csv"))
    );
    let ctx = ShapeContext::new(env.a.org.tenant_id.clone());
    let header = columnar::csv_header();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let dir = std::env::temp_dir().join(format!("csv-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut i = 0usize;
    for (n, f) in st["files"].as_array().unwrap().iter().enumerate() {
        let key = f["key"].as_str().unwrap();
        assert!(key.ends_with(&format!("/part-{:04}.csv", n + 1)), "{key}");
        let bytes = object(&j.bucket, key).await;
        assert_eq!(
            f["size_bytes"],
            bytes.len(),
            "size_bytes is the object's size"
        );
        assert!(f["records"].as_u64().unwrap() <= 10_000);
        std::fs::write(dir.join(format!("part-{:04}.csv", n + 1)), &bytes).unwrap();
        let mut rdr = csv::Reader::from_reader(&bytes[..]);
        let got: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(got, header);
        for rec in rdr.records() {
            let rec = rec.unwrap();
            let log = oldest_first[i];
            let row: Vec<&str> = rec.iter().collect();
            assert_eq!(row, columnar_csv_row(log, &ctx), "row {i}");
            // The columns that come straight from a canonical field, read back by name.
            for (column, field) in [
                ("EVENT_ID", &log["event_id"]),
                ("EVENT_TYPE", &log["action"]),
                ("USER_ID", &log["actor"]["user_id"]),
                ("EMAIL", &log["actor"]["email"]),
                ("IP_ADDRESS", &log["actor"]["ip_address"]),
                ("USER_AGENT", &log["actor"]["user_agent"]),
                ("ACTOR_TYPE", &log["actor"]["type"]),
                ("RESOURCE_TYPE", &log["resource"]["type"]),
                ("RESOURCE_ID", &log["resource"]["id"]),
                ("RESOURCE_NAME", &log["resource"]["name"]),
                ("ORGANIZATION_ID", &log["tenant_id"]),
                ("SUCCESS", &log["success"]),
                ("REQUEST_ID", &log["request_id"]),
                ("DURATION_MS", &log["duration_ms"]),
            ] {
                let cell = &rec[col(column)];
                let want = text_of(field);
                if want.starts_with(['=', '+', '-', '@']) {
                    assert!(
                        cell.starts_with('\''),
                        "row {i} {column}: {cell} not neutralised"
                    );
                }
                assert_eq!(unneutralize(cell), want, "row {i} column {column}");
            }
            assert_eq!(
                serde_json::from_str::<Value>(&rec[col("METADATA")]).unwrap(),
                log["metadata"],
                "row {i}"
            );
            let ts = log["timestamp"].as_str().unwrap();
            assert_eq!(&rec[col("EVENT_DATE")], &ts[..10], "row {i}");
            assert_eq!(
                &rec[col("EVENT_TIME")][..19],
                ts[..19].replace('T', " "),
                "row {i}"
            );
            i += 1;
        }
    }
    assert_eq!(i, expected);

    // DuckDB's read_csv and Python's csv module read the same files.
    let script = r#"
import csv, duckdb, glob, json, sys
d = sys.argv[1]
rows = 0
for path in sorted(glob.glob(f"{d}/*.csv")):
    with open(path, newline="", encoding="utf-8") as fh:
        r = csv.DictReader(fh)
        header = r.fieldnames
        for row in r:
            rows += 1
            if row["EVENT_ID"] == "evt_x_000020":
                ua, name, meta = row["USER_AGENT"], row["RESOURCE_NAME"], json.loads(row["METADATA"])
rel = duckdb.sql(f"select * from read_csv('{d}/*.csv', header = true)")
types = dict(zip(rel.columns, [str(t) for t in rel.types]))
q = duckdb.sql(f"select count(*), count(distinct EVENT_ID), count(*) filter (where SUCCESS = false) from read_csv('{d}/*.csv', header = true)").fetchall()[0]
duck_ua = duckdb.sql(f"select USER_AGENT from read_csv('{d}/*.csv', header = true) where EVENT_ID = 'evt_x_000020'").fetchall()[0][0]
print(json.dumps({"python_rows": rows, "header": header, "ua": ua, "name": name, "meta": meta, "duck": list(q), "duck_ua": duck_ua, "types": types}))
"#;
    let out = std::process::Command::new(support::python())
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .expect("python with duckdb (make test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = oldest_first
        .iter()
        .filter(|e| e["success"] == json!(false))
        .count();
    assert_eq!(v["python_rows"], expected);
    assert_eq!(v["header"], json!(header));
    assert_eq!(v["duck"], json!([expected, expected, failed]));
    assert_eq!(v["types"]["EVENT_DATE"], "DATE", "{v}");
    assert_eq!(v["types"]["SUCCESS"], "BOOLEAN", "{v}");
    let ua = UA;
    assert_eq!(v["ua"], ua);
    assert_eq!(v["duck_ua"], ua);
    assert_eq!(v["name"], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(v["meta"]["note"], "a,b \"c\"");
    let _ = std::fs::remove_dir_all(dir);
}

/// Downloads a completed job's files into a fresh folder; returns it and the files' keys.
async fn download(j: &Jobs, st: &Value) -> (std::path::PathBuf, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("job-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut keys = Vec::new();
    for f in st["files"].as_array().unwrap() {
        let key = f["key"].as_str().unwrap().to_string();
        let bytes = object(&j.bucket, &key).await;
        assert_eq!(f["size_bytes"], bytes.len(), "{key}");
        std::fs::write(dir.join(key.rsplit('/').next().unwrap()), &bytes).unwrap();
        keys.push(key);
    }
    (dir, keys)
}

async fn content_type(bucket: &str, key: &str) -> String {
    customer_s3()
        .await
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .content_type()
        .unwrap_or_default()
        .to_string()
}

/// Runs a job over `[from, to)` with `records_per_file` and answers its completed status.
async fn run_job(j: &Jobs, body: Value, records_per_file: u64) -> Value {
    let created = j.create(body).await;
    j.drain(&j.poller(records_per_file).await).await;
    let st = j.status(created["export_id"].as_str().unwrap()).await;
    assert_eq!(st["status"], "completed", "{st}");
    st
}

#[tokio::test]
async fn a_parquet_export_loads_in_pyarrow_and_duckdb_with_the_columnar_types() {
    let j = Jobs::new().await;
    let env = &j.env;
    let start = OffsetDateTime::now_utc() - time::Duration::hours(10);
    load(env, 2_500, start).await;
    let from = rfc3339_millis(start);
    let to = rfc3339_millis(start + time::Duration::hours(5));
    let mut logs = env
        .all_pages(
            &env.a.reader,
            &format!("{}&limit=1000", range_query(&from, &to)),
        )
        .await;
    logs.reverse();
    assert_eq!(logs.len(), 2_500);
    let st = run_job(
        &j,
        json!({"from": from, "to": to, "format": "parquet"}),
        1_000,
    )
    .await;
    assert_eq!(
        (&st["schema"], &st["format"]),
        (&json!("columnar"), &json!("parquet"))
    );
    assert_eq!(st["record_count"], 2_500);
    let (dir, keys) = download(&j, &st).await;
    assert_eq!(keys.len(), 3);
    for (n, key) in keys.iter().enumerate() {
        assert!(
            key.ends_with(&format!("/part-{:04}.parquet", n + 1)),
            "{key}"
        );
        assert_eq!(
            content_type(&j.bucket, key).await,
            "application/vnd.apache.parquet"
        );
    }
    let manifest: Value =
        serde_json::from_slice(&object(&j.bucket, st["manifest_key"].as_str().unwrap()).await)
            .unwrap();
    assert_eq!(
        (&manifest["schema"], &manifest["format"]),
        (&json!("columnar"), &json!("parquet"))
    );
    let script = r#"
import duckdb, glob, json, sys
import pyarrow.parquet as pq
d = sys.argv[1]
paths = sorted(glob.glob(f"{d}/*.parquet"))
tables = [pq.read_table(p) for p in paths]
arrow = {f.name: str(f.type) for f in tables[0].schema}
rows = [r for t in tables for r in t.to_pylist()]
picked = [{k: (str(v) if v is not None else None) for k, v in r.items()
           if k in ("EVENT_ID", "USER_AGENT", "RESOURCE_NAME", "SUCCESS", "DURATION_MS", "EVENT_DATE", "METADATA")}
          for r in rows]
rel = duckdb.sql(f"select * from read_parquet('{d}/*.parquet')")
types = dict(zip(rel.columns, [str(t) for t in rel.types]))
q = duckdb.sql(f"select count(*), count(distinct EVENT_ID), count(*) filter (where SUCCESS = false), sum(DURATION_MS) from read_parquet('{d}/*.parquet')").fetchall()[0]
print(json.dumps({"arrow": arrow, "columns": list(tables[0].column_names), "rows": picked, "types": types, "duck": [int(x) for x in q]}))
"#;
    let out = std::process::Command::new(support::python())
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .expect("python with duckdb and pyarrow");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["columns"], json!(columnar::csv_header()));
    let arrow = &v["arrow"];
    assert_eq!(arrow["EVENT_ID"], "string");
    assert_eq!(arrow["EVENT_YEAR"], "int64");
    assert_eq!(arrow["EVENT_MONTH"], "date32[day]");
    assert_eq!(arrow["EVENT_DATE"], "date32[day]");
    assert_eq!(arrow["EVENT_TIME"], "timestamp[us]");
    assert_eq!(arrow["RECEIVED_AT"], "timestamp[us]");
    assert_eq!(arrow["SUCCESS"], "bool");
    assert_eq!(arrow["DURATION_MS"], "int64");
    let types = &v["types"];
    assert_eq!(types["EVENT_YEAR"], "BIGINT");
    assert_eq!(types["EVENT_DATE"], "DATE");
    assert_eq!(types["EVENT_TIME"], "TIMESTAMP");
    assert_eq!(types["SUCCESS"], "BOOLEAN");
    assert_eq!(types["DURATION_MS"], "BIGINT");
    let failed = logs.iter().filter(|e| e["success"] == json!(false)).count();
    let durations: u64 = logs
        .iter()
        .map(|e| e["duration_ms"].as_u64().unwrap())
        .sum();
    assert_eq!(v["duck"], json!([2_500, 2_500, failed, durations]));
    // Row by row, oldest first like the logs reversed; Parquet text is not neutralised.
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), logs.len());
    for (i, (row, log)) in rows.iter().zip(&logs).enumerate() {
        assert_eq!(row["EVENT_ID"], log["event_id"], "row {i}");
        assert_eq!(row["USER_AGENT"], log["actor"]["user_agent"], "row {i}");
        assert_eq!(row["RESOURCE_NAME"], log["resource"]["name"], "row {i}");
        assert_eq!(
            row["DURATION_MS"],
            json!(log["duration_ms"].to_string()),
            "row {i}"
        );
        let success = match &log["success"] {
            Value::Bool(true) => json!("True"),
            Value::Bool(false) => json!("False"),
            _ => Value::Null,
        };
        assert_eq!(row["SUCCESS"], success, "row {i}");
        assert_eq!(
            row["EVENT_DATE"],
            json!(&log["timestamp"].as_str().unwrap()[..10]),
            "row {i}"
        );
        let meta: Value = serde_json::from_str(row["METADATA"].as_str().unwrap()).unwrap();
        assert_eq!(meta, log["metadata"], "row {i}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn gzip_exports_decode_to_the_same_rows() {
    use std::io::Read;

    let j = Jobs::new().await;
    let env = &j.env;
    let start = OffsetDateTime::now_utc() - time::Duration::hours(10);
    load(env, 1_500, start).await;
    let from = rfc3339_millis(start);
    let to = rfc3339_millis(start + time::Duration::hours(5));
    let mut logs = env
        .all_pages(
            &env.a.reader,
            &format!("{}&limit=1000", range_query(&from, &to)),
        )
        .await;
    logs.reverse();
    let gunzip = |bytes: &[u8]| {
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut plain)
            .unwrap();
        plain
    };

    // Canonical JSONL, gzipped: the stored events verbatim once decoded.
    let st = run_job(
        &j,
        json!({"from": from, "to": to, "format": "jsonl.gz"}),
        1_000,
    )
    .await;
    assert_eq!(
        (&st["schema"], &st["format"]),
        (&json!("canonical"), &json!("jsonl.gz"))
    );
    let mut rows = Vec::new();
    for (n, f) in st["files"].as_array().unwrap().iter().enumerate() {
        let key = f["key"].as_str().unwrap();
        assert!(
            key.ends_with(&format!("/part-{:04}.jsonl.gz", n + 1)),
            "{key}"
        );
        assert_eq!(content_type(&j.bucket, key).await, "application/gzip");
        let text = String::from_utf8(gunzip(&object(&j.bucket, key).await)).unwrap();
        rows.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    assert_eq!(st["files"].as_array().unwrap().len(), 2);
    assert_eq!(rows, logs);

    // Columnar CSV, gzipped: the columnar rows, and DuckDB reads the files as they are.
    let st = run_job(
        &j,
        json!({"from": from, "to": to, "format": "csv.gz"}),
        1_000,
    )
    .await;
    assert_eq!(
        (&st["schema"], &st["format"]),
        (&json!("columnar"), &json!("csv.gz"))
    );
    let ctx = ShapeContext::new(env.a.org.tenant_id.clone());
    let mut i = 0;
    for f in st["files"].as_array().unwrap() {
        let key = f["key"].as_str().unwrap();
        assert!(key.ends_with(".csv.gz"), "{key}");
        let plain = gunzip(&object(&j.bucket, key).await);
        let mut rdr = csv::Reader::from_reader(&plain[..]);
        assert_eq!(rdr.headers().unwrap(), columnar::csv_header());
        for rec in rdr.records() {
            let rec = rec.unwrap();
            assert_eq!(
                rec.iter().collect::<Vec<_>>(),
                columnar_csv_row(&logs[i], &ctx),
                "row {i}"
            );
            i += 1;
        }
    }
    assert_eq!(i, logs.len());
    let (dir, _) = download(&j, &st).await;
    let script = r#"
import duckdb, json, sys
d = sys.argv[1]
print(json.dumps(duckdb.sql(f"select count(*), count(distinct EVENT_ID) from read_csv('{d}/*.csv.gz', header = true)").fetchall()[0]))
"#;
    let out = std::process::Command::new(support::python())
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .expect("python with duckdb");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, json!([logs.len(), logs.len()]));
    let _ = std::fs::remove_dir_all(dir);

    // OCSF JSONL, gzipped: one record per event.
    let st = run_job(
        &j,
        json!({"from": from, "to": to, "schema": "ocsf", "format": "jsonl.gz"}),
        100_000,
    )
    .await;
    assert_eq!(
        (&st["schema"], &st["format"]),
        (&json!("ocsf"), &json!("jsonl.gz"))
    );
    let key = st["files"][0]["key"].as_str().unwrap();
    let text = String::from_utf8(gunzip(&object(&j.bucket, key).await)).unwrap();
    let uids: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["metadata"]["uid"].clone())
        .collect();
    let ids: Vec<Value> = logs.iter().map(|l| l["event_id"].clone()).collect();
    assert_eq!(uids, ids);
}

#[tokio::test]
async fn schema_and_format_pairs_outside_the_file_table_are_refused() {
    let j = Jobs::new().await;
    let env = &j.env;
    let now = OffsetDateTime::now_utc();
    let base =
        json!({"from": rfc3339_millis(now - time::Duration::hours(1)), "to": rfc3339_millis(now)});
    for (extra, field) in [
        (json!({"schema": "canonical", "format": "csv"}), "format"),
        (json!({"schema": "ocsf", "format": "parquet"}), "format"),
        (json!({"schema": "canonical", "format": "csv.gz"}), "format"),
        (json!({"schema": "entry", "format": "jsonl"}), "schema"),
        (json!({"schema": "xml", "format": "jsonl"}), "schema"),
        (json!({"format": "avro"}), "format"),
    ] {
        let mut body = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = env
            .call(
                Method::POST,
                "/v1/audit/export",
                Some(&env.a.admin),
                Some(&body),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
        assert!(
            r.body["error"].is_string() && r.body["code"].is_string(),
            "{}",
            r.text
        );
    }
    let r = env
        .call(Method::GET, "/v1/audit/exports", Some(&env.a.admin), None)
        .await;
    assert_eq!(r.body["exports"], json!([]), "nothing was queued");
}

#[tokio::test]
async fn a_run_killed_half_way_continues_and_the_manifest_comes_last() {
    let j = Jobs::new().await;
    let env = &j.env;
    let start = OffsetDateTime::now_utc() - time::Duration::hours(10);
    load(env, 3_000, start).await;
    let from = rfc3339_millis(start);
    let to = rfc3339_millis(start + time::Duration::hours(5));
    let created = j
        .create(json!({"from": from, "to": to, "format": "jsonl", "filters": {"action": "read"}}))
        .await;
    let id = created["export_id"].as_str().unwrap().to_string();
    let msg = JobMessage {
        org_id: env.a.org.org_id.clone(),
        export_id: id.clone().into(),
    };
    let runner = j.runner(100).await;

    // Out of time before the first file: the job goes back on the queue.
    let outcome = runner.run(&msg, Instant::now()).await.unwrap();
    assert_eq!(outcome, RunOutcome::Continued { requeued: true });
    assert_eq!(j.status(&id).await["status"], "running");

    // Killed mid-job (the future dropped, as a crash would): files so far are checkpointed,
    // no manifest exists.
    let killed = tokio::time::timeout(
        Duration::from_millis(400),
        runner.run(&msg, Instant::now() + Duration::from_secs(600)),
    )
    .await;
    assert!(killed.is_err(), "the run should still have been going");
    let st = j.status(&id).await;
    assert_eq!(st["status"], "running");
    assert!(
        !keys(&j.bucket)
            .await
            .iter()
            .any(|k| k.ends_with("manifest.json")),
        "no manifest before the job is complete"
    );
    // The dead invocation's lease holds the job until it expires.
    assert_eq!(
        runner
            .run(&msg, Instant::now() + Duration::from_secs(600))
            .await
            .unwrap(),
        RunOutcome::Skipped
    );
    env.store
        .client()
        .update_item()
        .table_name(&env.config.config_table)
        .key(
            "pk",
            AttributeValue::S(format!("EXPJOB#{}", env.a.org.org_id)),
        )
        .key("sk", AttributeValue::S(id.clone()))
        .update_expression("SET lease_until = :z")
        .expression_attribute_values(":z", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();

    // The queue's messages (the continuation, duplicates included) finish the job once.
    j.drain(&j.poller(100).await).await;
    let st = j.status(&id).await;
    assert_eq!(st["status"], "completed", "{st}");
    let want: BTreeSet<String> = (0..3_000usize)
        .filter(|i| i % 3 == 0 && *i < 3_600)
        .filter(|i| (*i as i64) * 5 < 5 * 3600)
        .map(|i| format!("evt_x_{i:06}"))
        .collect();
    let mut got = Vec::new();
    let files = st["files"].as_array().unwrap();
    for (n, f) in files.iter().enumerate() {
        let key = f["key"].as_str().unwrap();
        assert!(key.ends_with(&format!("part-{:04}.jsonl", n + 1)));
        for line in String::from_utf8(object(&j.bucket, key).await)
            .unwrap()
            .lines()
        {
            let e: Value = serde_json::from_str(line).unwrap();
            got.push(e["event_id"].as_str().unwrap().to_string());
        }
    }
    // JSONL lines are the stored events verbatim, oldest first: /v1/audit/logs reversed.
    let mut logs = env
        .all_pages(
            &env.a.reader,
            &format!("{}&action=read&limit=1000", range_query(&from, &to)),
        )
        .await;
    logs.reverse();
    assert_eq!(logs.len(), want.len(), "the events the test loaded");
    let got_set: BTreeSet<String> = got.iter().cloned().collect();
    eprintln!(
        "missing {:?} files {:?}",
        want.difference(&got_set).collect::<Vec<_>>(),
        files
            .iter()
            .map(|f| (f["records"].clone(), f["key"].clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(got.len(), want.len(), "nothing doubled");
    let mut rows = Vec::new();
    for f in files {
        let text = String::from_utf8(object(&j.bucket, f["key"].as_str().unwrap()).await).unwrap();
        rows.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    assert_eq!(rows, logs);
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        want,
        "nothing lost"
    );
    assert_eq!(st["record_count"], want.len());
    // Only the listed parts and the manifest exist (abandoned uploads never became objects).
    let mut listed: Vec<String> = files
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_string())
        .collect();
    let manifest_key = st["manifest_key"].as_str().unwrap().to_string();
    listed.push(manifest_key.clone());
    listed.push(format!("{manifest_key}.sig"));
    listed.sort();
    let mut present: Vec<String> = keys(&j.bucket)
        .await
        .into_iter()
        .filter(|k| k.contains(&id))
        .collect();
    present.sort();
    assert_eq!(present, listed);
    // The manifest lists each part's hash and count, and is signed by the key the API serves.
    let manifest_bytes = object(&j.bucket, &manifest_key).await;
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    for (f, listed) in files.iter().zip(manifest["files"].as_array().unwrap()) {
        let bytes = object(&j.bucket, f["key"].as_str().unwrap()).await;
        let sha = relay_core::integrity::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert_eq!(listed["sha256"], sha.as_str(), "{listed}");
        assert_eq!(f["sha256"], sha.as_str(), "the status shows it too");
        assert_eq!(listed["records"], f["records"]);
    }
    let sha = relay_core::integrity::hex(&<sha2::Sha256 as sha2::Digest>::digest(&manifest_bytes));
    assert_eq!(st["manifest_sha256"], sha.as_str());
    let signature = st["manifest_signature"]
        .as_str()
        .expect("signed")
        .to_string();
    let sig_file =
        String::from_utf8(object(&j.bucket, &format!("{manifest_key}.sig")).await).unwrap();
    assert_eq!(sig_file, signature);
    assert_eq!(
        manifest["publicKeyFingerprint"],
        st["public_key_fingerprint"]
    );
    let keys = env
        .call(Method::GET, "/v1/audit/integrity/keys", None, None)
        .await;
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        keys.body["keys"][0]["publicKey"].as_str().unwrap(),
    )
    .unwrap();
    let message = relay_core::integrity::signing_string(
        st["completed_at"].as_str().unwrap(),
        relay_core::integrity::manifest_relative_key(&manifest_key),
        &sha,
        "",
    );
    assert!(relay_app::integrity::verify::verify_p256(
        &der,
        message.as_bytes(),
        &signature
    ));
    assert!(!relay_app::integrity::verify::verify_p256(
        &der,
        message.replace("manifest", "manifesT").as_bytes(),
        &signature
    ));
    // A redelivered message for a completed job does nothing.
    assert_eq!(
        runner
            .run(&msg, Instant::now() + Duration::from_secs(60))
            .await
            .unwrap(),
        RunOutcome::Skipped
    );
}

#[tokio::test]
async fn list_status_failures_bad_input_and_other_orgs() {
    let j = Jobs::new().await;
    let env = &j.env;
    let now = OffsetDateTime::now_utc();
    let from = rfc3339_millis(now - time::Duration::hours(2));
    let to = rfc3339_millis(now);
    let post = |body: Value, token: String| {
        let env = &j.env;
        async move {
            env.call(Method::POST, "/v1/audit/export", Some(&token), Some(&body))
                .await
        }
    };
    let admin = env.a.admin.clone();
    let base = json!({"from": from, "to": to, "format": "csv"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let dest = |extra: Value| {
        let mut d =
            json!({"type": "s3", "bucket": "acme-audit", "region": "us-east-1", "roleArn": ROLE});
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        with("destination", d)
    };
    for (body, field) in [
        (
            with(
                "from",
                json!(rfc3339_millis(now + time::Duration::hours(1))),
            ),
            "from",
        ),
        (with("from", json!("2020-01-01T00:00:00Z")), "from"),
        (with("format", json!("avro")), "format"),
        (dest(json!({"type": "ftp"})), "destination.type"),
        (
            dest(json!({"roleArn": "arn:aws:iam::12:role/x"})),
            "destination.roleArn",
        ),
        (with("filters", json!({"colour": "red"})), "filters.colour"),
    ] {
        let r = post(body.clone(), admin.clone()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
    // Other stores sign with stored credentials, which must exist and be of their type.
    for (extra, field) in [
        (json!({"type": "gcs"}), "destination.roleArn"),
        (
            json!({"type": "gcs", "roleArn": null, "region": null}),
            "destination.credentials_path",
        ),
        (
            json!({"type": "azure_blob", "roleArn": null, "region": null, "credentials_path": "nope"}),
            "destination.credentials_path",
        ),
        (
            json!({"roleArn": null, "credentials_path": "nope", "endpoint_url": "https://169.254.169.254"}),
            "destination.endpoint_url",
        ),
    ] {
        let r = post(dest(extra.clone()), admin.clone()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
    }
    // Export needs audit:export.
    let r = post(base.clone(), env.a.reader.clone()).await;
    assert_error(&r, StatusCode::FORBIDDEN, None);
    // `audit:export` alone exports to the org's configured destination, never to one of the
    // caller's choosing (that takes an admin or owner key).
    let (_, exporter) = env
        .store
        .create_key(
            &env.a.org.org_id,
            relay_core::model::Role::Member,
            vec![relay_core::model::Scope::Export],
            None,
            "t",
        )
        .await
        .unwrap();
    let r = post(dest(json!({})), exporter.clone()).await;
    assert_error(&r, StatusCode::FORBIDDEN, None);
    assert!(r.text.contains("destination"), "{}", r.text);
    let r = post(base.clone(), exporter).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let exporters_job = r.body["export_id"].as_str().unwrap().to_string();
    let r = env
        .call(Method::GET, "/v1/audit/exports", Some(&env.a.reader), None)
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, None);

    // An org without an S3 destination must name one.
    let b = env.new_org("Org B", None).await;
    let r = post(base.clone(), b.admin.clone()).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("destination"));

    // A missing bucket: the job fails with a reason.
    let missing = j
        .create(dest(json!({"bucket": "no-such-bucket-here"})))
        .await;
    let ids: Vec<String> = {
        let mut ids = vec![missing["export_id"].as_str().unwrap().to_string()];
        for _ in 0..2 {
            ids.push(
                j.create(base.clone()).await["export_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        ids
    };
    j.drain(&j.poller(100_000).await).await;
    let failed = j.status(&ids[0]).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("no-such-bucket-here"),
        "{failed}"
    );
    let ok = j.status(&ids[1]).await;
    assert_eq!(ok["status"], "completed", "{ok}");
    assert_eq!(ok["record_count"], 0);
    assert!(
        !ok.to_string().contains("123456789012"),
        "the role ARN is not shown"
    );

    // Newest first, paginated.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/v1/audit/exports?limit=2&cursor={c}"),
            None => "/v1/audit/exports?limit=2".to_string(),
        };
        let r = env.call(Method::GET, &uri, Some(&env.a.owner), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        for e in r.body["exports"].as_array().unwrap() {
            assert_eq!(
                (&e["schema"], &e["format"]),
                (&json!("columnar"), &json!("csv")),
                "{e}"
            );
            seen.push(e["export_id"].as_str().unwrap().to_string());
        }
        match r.body["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    newest_first.push(exporters_job);
    assert_eq!(seen, newest_first);
    let r = env
        .call(
            Method::GET,
            "/v1/audit/exports?limit=0",
            Some(&env.a.owner),
            None,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("limit"));

    // Another org's export id is 404, exactly like a missing one.
    let other = env
        .call(
            Method::GET,
            &format!("/v1/audit/exports/{}", ids[1]),
            Some(&b.admin),
            None,
        )
        .await;
    let missing = env
        .call(
            Method::GET,
            "/v1/audit/exports/exp_01NOSUCHEXPORT0000000000",
            Some(&b.admin),
            None,
        )
        .await;
    assert_error(&other, StatusCode::NOT_FOUND, None);
    assert_eq!(other.body, missing.body);
    let r = env
        .call(Method::GET, "/v1/audit/exports", Some(&b.admin), None)
        .await;
    assert_eq!(r.body["exports"], json!([]));
}

#[tokio::test]
async fn the_export_function_fixture_runs_a_job() {
    let j = Jobs::new().await;
    let created = j
        .create(
            json!({"from": rfc3339_millis(OffsetDateTime::now_utc() - time::Duration::hours(1)),
            "to": rfc3339_millis(OffsetDateTime::now_utc()), "format": "jsonl"}),
        )
        .await;
    let id = created["export_id"].as_str().unwrap();
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/export-job-sqs.json"
    ))
    .unwrap()
    .replace("org_REPLACE_WITH_AN_ORG_ID", &j.env.a.org.org_id)
    .replace("exp_REPLACE_WITH_AN_EXPORT_ID", id);
    let runner = j.runner(100_000).await;
    let resp = relay_app::destinations::export_job::trigger::handle(
        &runner,
        serde_json::from_str(&fixture).unwrap(),
        Instant::now() + Duration::from_secs(60),
    )
    .await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(j.status(id).await["status"], "completed");
}

#[tokio::test]
async fn a_retried_checkpoint_lists_its_file_once() {
    use relay_core::model::export_job::ExportFile;
    use relay_core::query::Position;

    let j = Jobs::new().await;
    let now = OffsetDateTime::now_utc();
    let created = j
        .create(json!({
            "from": rfc3339_millis(now - time::Duration::hours(1)),
            "to": rfc3339_millis(now),
            "format": "jsonl",
        }))
        .await;
    let id: ExportId = created["export_id"].as_str().expect("id").into();
    let org = j.env.a.org.org_id.clone();
    let secs = now.unix_timestamp();
    let store = &j.env.store;
    let job = store
        .acquire_export_lease(&org, &id, "run-1", secs, secs + 60, &rfc3339_millis(now))
        .await
        .expect("lease")
        .expect("leased");
    assert!(job.files.is_empty());
    let file = ExportFile {
        key: "exports/x/part-0001.jsonl".into(),
        size_bytes: 10,
        records: 7,
        sha256: Some("ab".repeat(32)),
    };
    let last = Position {
        t: "t".into(),
        e: "e".into(),
    };
    // The second call is what an SDK retry after a lost response sends: same file, same count.
    for _ in 0..2 {
        assert!(store
            .checkpoint_export(&org, &id, "run-1", 0, &file, &last)
            .await
            .expect("checkpoint"));
    }
    let stored = store
        .get_export_job(&org, &id)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(stored.files, vec![file.clone()], "the file's hash is kept");
    assert_eq!(stored.record_count, 7);
    // A stale writer (wrong file count) or another lease holder is refused.
    let other = ExportFile {
        key: "exports/x/part-0002.jsonl".into(),
        ..file.clone()
    };
    assert!(!store
        .checkpoint_export(&org, &id, "run-1", 0, &other, &last)
        .await
        .expect("checkpoint"));
    assert!(!store
        .checkpoint_export(&org, &id, "run-2", 1, &other, &last)
        .await
        .expect("checkpoint"));
    assert!(store
        .checkpoint_export(&org, &id, "run-1", 1, &other, &last)
        .await
        .expect("checkpoint"));
    let stored = store
        .get_export_job(&org, &id)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(stored.files.len(), 2);
    assert_eq!(stored.record_count, 14);
}
