//! The continuous export and export jobs on the stores beyond AWS: an S3-compatible store (a
//! second moto server reached only through `endpointUrl` and an access key), Google Cloud
//! Storage (its emulator) and Azure Blob (Azurite). Files are read back with each store's own
//! client and loaded in DuckDB; every accepted event lands exactly once through a failed
//! upload, two flushes at once and a flush killed half-way.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use relay_app::destinations::export_job::queue::JobMessage;
use relay_app::destinations::export_job::run::{ExportRunner, ExportSettings, RunOutcome};
use relay_app::destinations::s3_stream::flush::{FlushOutcome, FlushSettings, Flusher};
use relay_app::pipeline::pause::Notifier;
use relay_core::model::event::rfc3339_millis;
use serde_json::{json, Value};
use support::stores::{self, StoreKind};
use support::{sdk, TestEnv};
use time::OffsetDateTime;

const CREDENTIAL: &str = "store-key";
fn bucket_name(kind: StoreKind) -> String {
    let tag = match kind {
        StoreKind::S3Compat => "s3c",
        StoreKind::Gcs => "gcs",
        StoreKind::Azure => "az",
    };
    format!("{tag}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// The stored credential each store signs with.
fn credential(kind: StoreKind) -> Value {
    stores::credential_body(kind, CREDENTIAL)
}

/// The continuous export's configuration for `bucket` on `kind` (GCS's batches gzipped).
fn config(kind: StoreKind, bucket: &str) -> Value {
    let mut body = stores::config_body(kind, bucket, CREDENTIAL);
    if kind == StoreKind::Gcs {
        body["format"] = json!("jsonl.gz");
    }
    body
}

async fn post(env: &TestEnv, path: &str, body: &Value) -> support::Resp {
    env.call(Method::POST, path, Some(&env.a.admin), Some(body))
        .await
}

/// An org with the store's credential and its continuous export on `bucket`.
async fn configured(kind: StoreKind, bucket: &str) -> TestEnv {
    let env = TestEnv::new().await;
    let org = env.a.org.org_id.clone();
    let r = post(
        &env,
        &format!("/orgs/{org}/audit-export/credentials"),
        &credential(kind),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = post(
        &env,
        &format!("/orgs/{org}/audit-export/config"),
        &config(kind, bucket),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    env
}

async fn flusher(env: &TestEnv, settings: FlushSettings) -> Flusher {
    let sdk = sdk().await;
    Flusher::new(
        env.store.clone(),
        support::buckets(&env.config, &sdk),
        Notifier::new(aws_sdk_sns::Client::new(&sdk), None),
        settings,
    )
}

fn fast() -> FlushSettings {
    FlushSettings {
        settle: Duration::from_millis(300),
        lease: Duration::from_secs(60),
        ..FlushSettings::default()
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

async fn ingest(env: &TestEnv, tag: &str, n: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let all: Vec<usize> = (0..n).collect();
    for chunk in all.chunks(500) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|i| {
                let id = format!("evt_{tag}_{i:05}");
                ids.insert(id.clone());
                json!({"event_id": id, "timestamp": "2026-11-30T10:30:00Z",
                    "action": "document.opened", "actor": {"user_id": "u"}})
            })
            .collect();
        env.ingest_retrying(&env.a.writer, &json!({ "events": events }))
            .await;
    }
    ids
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("stores-{}", ulid::Ulid::new()))
}

/// Every event of every batch file under `prefix`, read back with the store's own client.
fn read_events(kind: StoreKind, bucket: &str, prefix: &str) -> (Vec<String>, Vec<String>) {
    let dir = temp_dir();
    let keys = stores::download_all(kind, bucket, prefix, &dir);
    let mut ids = Vec::new();
    for key in keys.iter().filter(|k| k.contains(".jsonl")) {
        let bytes = std::fs::read(dir.join(key)).unwrap();
        let text = if key.ends_with(".gz") {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut s)
                .expect("gzip");
            s
        } else {
            String::from_utf8(bytes).unwrap()
        };
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("one event per line");
            ids.push(v["event_id"].as_str().unwrap().to_string());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    (keys, ids)
}

fn assert_exactly_once(ids: &[String], expected: &BTreeSet<String>) {
    let got: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(got.len(), ids.len(), "no event twice");
    assert_eq!(&got, expected, "every event, nothing else");
}

/// Loads the downloaded files in DuckDB: `(rows, distinct event ids)`.
fn duckdb_counts(dir: &Path, pattern: &str) -> (u64, u64) {
    let script = r#"
import duckdb, sys, json
q = f"select count(*), count(distinct event_id) from read_json_auto('{sys.argv[1]}/**/{sys.argv[2]}', format='newline_delimited')"
print(json.dumps(duckdb.sql(q).fetchall()[0]))
"#;
    let out = std::process::Command::new(support::python())
        .args(["-c", script, dir.to_str().unwrap(), pattern])
        .output()
        .expect("python with duckdb");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: (u64, u64) = serde_json::from_slice(&out.stdout).unwrap();
    v
}

async fn the_stream_lands_once_readable_by_duckdb(kind: StoreKind) {
    let bucket = bucket_name(kind);
    stores::create_bucket(kind, &bucket).await;
    let env = configured(kind, &bucket).await;
    let org = env.a.org.org_id.clone();
    let r = env
        .call(
            Method::GET,
            &format!("/orgs/{org}/audit-export/config"),
            Some(&env.a.admin),
            None,
        )
        .await;
    assert_eq!(r.body["credentialsPath"], CREDENTIAL, "{}", r.text);
    assert_eq!(r.body["endpointUrl"], kind.endpoint());
    let r = env
        .call(
            Method::POST,
            &format!("/orgs/{org}/audit-export/test-connection"),
            Some(&env.a.admin),
            None,
        )
        .await;
    assert_eq!(r.body, json!({"success": true}), "{kind:?}");

    let expected = ingest(&env, "dk", 2500).await;
    let f = flusher(&env, fast()).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let FlushOutcome::Ran(run) = f.flush_org(&org, far()).await.unwrap() else {
        panic!("a run");
    };
    assert_eq!(run.status, "succeeded", "{kind:?}: {run:?}");
    assert_eq!(run.event_count, 2500);
    assert_eq!(run.object_keys.len(), 3, "batches of 1,000");
    let tenant = &env.a.org.tenant_id;
    assert!(
        run.object_keys
            .iter()
            .all(|k| k.starts_with(&format!("audit-logs/{tenant}/"))),
        "{:?}",
        run.object_keys
    );
    let (keys, ids) = read_events(kind, &bucket, "audit-logs/");
    assert_exactly_once(&ids, &expected);
    assert_eq!(
        keys.iter().filter(|k| k.contains(".jsonl")).count(),
        3,
        "{keys:?}"
    );
    let dir = temp_dir();
    stores::download_all(kind, &bucket, "audit-logs/", &dir);
    let ext = if kind == StoreKind::Gcs {
        "*.jsonl.gz"
    } else {
        "*.jsonl"
    };
    assert_eq!(duckdb_counts(&dir, ext), (2500, 2500), "{kind:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn s3_compatible_stream_lands_once_readable_by_duckdb() {
    the_stream_lands_once_readable_by_duckdb(StoreKind::S3Compat).await;
}

#[tokio::test]
async fn gcs_stream_lands_once_readable_by_duckdb() {
    the_stream_lands_once_readable_by_duckdb(StoreKind::Gcs).await;
}

#[tokio::test]
async fn azure_stream_lands_once_readable_by_duckdb() {
    the_stream_lands_once_readable_by_duckdb(StoreKind::Azure).await;
}

/// A failed upload retried with the next batch, two flushes at once, a flush killed
/// half-way: every event still lands exactly once.
async fn exactly_once_through_failures(kind: StoreKind) {
    // The bucket does not exist yet: the first run fails and moves nothing.
    let bucket = bucket_name(kind);
    let env = configured(kind, &bucket).await;
    let org = env.a.org.org_id.clone();
    let mut expected = ingest(&env, "a", 30).await;
    let settings = FlushSettings {
        batch_events: 10,
        upload_concurrency: 1,
        // Whole seconds; long enough for the checks below on a busy machine.
        lease: Duration::from_secs(4),
        ..fast()
    };
    let f = flusher(&env, settings).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let FlushOutcome::Ran(run) = f.flush_org(&org, far()).await.unwrap() else {
        panic!("a run");
    };
    assert_eq!(run.status, "failed", "{run:?}");
    let error = run.error.clone().unwrap();
    assert!(error.contains("does not exist"), "{kind:?}: {error}");
    assert!(
        !error.contains(stores::AZURITE_KEY) && !error.contains(stores::S3COMPAT_SECRET_ACCESS_KEY)
    );
    stores::create_bucket(kind, &bucket).await;
    expected.extend(ingest(&env, "b", 30).await);
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Two flushes at once: one runs, the other skips.
    let (one, two) = tokio::join!(f.flush_org(&org, far()), f.flush_org(&org, far()));
    let outcomes = [one.unwrap(), two.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, FlushOutcome::Skipped))
            .count(),
        1,
        "{outcomes:?}"
    );
    let (_, ids) = read_events(kind, &bucket, "audit-logs/");
    assert_exactly_once(&ids, &expected);

    // Killed half-way (as a Lambda timeout would), then resumed by the next flush.
    expected.extend(ingest(&env, "c", 200).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = env
        .store
        .get_s3_state(&org)
        .await
        .unwrap()
        .unwrap()
        .watermark;
    let task = {
        let (f, org) = (f.clone(), org.clone());
        tokio::spawn(async move { f.flush_org(&org, far()).await })
    };
    loop {
        let wm = env
            .store
            .get_s3_state(&org)
            .await
            .unwrap()
            .unwrap()
            .watermark;
        if wm != before {
            task.abort();
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (_, partial) = read_events(kind, &bucket, "audit-logs/");
    assert!(
        partial.len() < expected.len(),
        "killed half-way ({} of {})",
        partial.len(),
        expected.len()
    );
    let resumed = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match f.flush_org(&org, far()).await.unwrap() {
            FlushOutcome::Skipped => continue,
            other => break other,
        }
    };
    assert!(
        matches!(&resumed, FlushOutcome::Ran(r) if r.status == "succeeded"),
        "{resumed:?}"
    );
    let (_, ids) = read_events(kind, &bucket, "audit-logs/");
    assert_exactly_once(&ids, &expected);
}

#[tokio::test]
async fn s3_compatible_exactly_once_through_failures() {
    exactly_once_through_failures(StoreKind::S3Compat).await;
}

#[tokio::test]
async fn gcs_exactly_once_through_failures() {
    exactly_once_through_failures(StoreKind::Gcs).await;
}

#[tokio::test]
async fn azure_exactly_once_through_failures() {
    exactly_once_through_failures(StoreKind::Azure).await;
}

/// A SAS of the Azurite account with only the given permissions, from azure-storage-blob.
fn azurite_sas(permission: &str) -> String {
    let script = r#"
import sys, datetime
from azure.storage.blob import generate_account_sas, ResourceTypes, AccountSasPermissions
print(generate_account_sas(sys.argv[1], sys.argv[2], ResourceTypes(container=True, object=True),
    AccountSasPermissions.from_string(sys.argv[3]),
    datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)))
"#;
    let out = std::process::Command::new(support::python())
        .args([
            "-c",
            script,
            stores::AZURITE_ACCOUNT,
            stores::AZURITE_KEY,
            permission,
        ])
        .output()
        .expect("python with azure-storage-blob");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn connection_tests_tell_each_failure_apart() {
    let env = TestEnv::new().await;
    let org = env.a.org.org_id.clone();
    let creds = format!("/orgs/{org}/audit-export/credentials");
    let test = format!("/orgs/{org}/audit-export/test-connection");
    let good = bucket_name(StoreKind::Azure);
    stores::create_bucket(StoreKind::Azure, &good).await;
    let s3c = bucket_name(StoreKind::S3Compat);
    stores::create_bucket(StoreKind::S3Compat, &s3c).await;
    let wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk=";
    let read_only = azurite_sas("rl");
    let writer_sas = azurite_sas("rwdlc");
    for body in [
        credential(StoreKind::S3Compat),
        json!({"name": "az-wrong", "type": "azure_shared_key", "accountName": stores::AZURITE_ACCOUNT, "accountKey": wrong_key}),
        json!({"name": "az-read", "type": "azure_sas", "accountName": stores::AZURITE_ACCOUNT, "sasToken": read_only}),
        json!({"name": "az-sas", "type": "azure_sas", "accountName": stores::AZURITE_ACCOUNT, "sasToken": writer_sas}),
    ] {
        let r = post(&env, &creds, &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let azure = |cred: &str, container: &str| json!({"type": "azure_blob", "bucket": container, "endpointUrl": StoreKind::Azure.endpoint(), "credentialsPath": cred});
    let moto = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let moto_port = moto.rsplit(':').next().unwrap().to_string();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cases = [
        (azure("az-sas", &good), None),
        (azure("az-wrong", &good), Some("refused the credentials")),
        (azure("az-read", &good), Some("access denied")),
        (azure("az-sas", "no-such-container"), Some("does not exist")),
        (
            json!({"bucket": "no-such-bucket", "endpointUrl": StoreKind::S3Compat.endpoint(), "credentialsPath": CREDENTIAL}),
            Some("does not exist"),
        ),
        (
            json!({"bucket": s3c, "endpointUrl": format!("http://127.0.0.1:{closed}"), "credentialsPath": CREDENTIAL}),
            Some("could not be reached"),
        ),
        (
            json!({"bucket": s3c, "endpointUrl": format!("https://127.0.0.1:{moto_port}"), "credentialsPath": CREDENTIAL}),
            Some("TLS handshake"),
        ),
    ];
    for (body, expected) in cases {
        let r = post(&env, &test, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        match expected {
            None => assert_eq!(r.body, json!({"success": true}), "{body}"),
            Some(phrase) => {
                assert_eq!(r.body["success"], false, "{body}: {}", r.text);
                let error = r.body["error"].as_str().unwrap();
                assert!(error.contains(phrase), "{body}: {error}");
                for secret in [
                    wrong_key,
                    stores::AZURITE_KEY,
                    stores::S3COMPAT_SECRET_ACCESS_KEY,
                ] {
                    assert!(!error.contains(secret), "secret in {error}");
                }
                let sig = read_only.split("sig=").nth(1).unwrap();
                assert!(!error.contains(sig), "SAS signature in {error}");
            }
        }
    }
}

#[tokio::test]
async fn export_jobs_write_to_every_store() {
    let sdk = sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("exp{}", ulid::Ulid::new().to_string().to_lowercase());
    let q = relay_app::pipeline::queues::ensure_queue_with_dlq(
        &sqs,
        &name,
        relay_app::destinations::export_job::queue::EXPORT_QUEUE,
    )
    .await
    .unwrap();
    let env = TestEnv::with_config(move |c| c.export_queue_url = Some(q.queue_url)).await;
    let org = env.a.org.org_id.clone();
    let expected = ingest(&env, "job", 1200).await;
    let mut destinations = Vec::new();
    for kind in StoreKind::ALL {
        let r = post(&env, &format!("/orgs/{org}/audit-export/credentials"), &{
            let mut c = credential(kind);
            c["name"] = json!(format!("{CREDENTIAL}-{}", destinations.len()));
            c
        })
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let bucket = bucket_name(kind);
        stores::create_bucket(kind, &bucket).await;
        let mut dest = json!({
            "type": match kind { StoreKind::S3Compat => "s3", StoreKind::Gcs => "gcs", StoreKind::Azure => "azure_blob" },
            "bucket": bucket, "prefix": "exports-test",
            "credentials_path": format!("{CREDENTIAL}-{}", destinations.len()),
            "endpoint_url": kind.endpoint(),
        });
        if kind == StoreKind::S3Compat {
            dest["region"] = json!(stores::S3COMPAT_REGION);
        }
        destinations.push((kind, bucket, dest));
    }
    let runner = ExportRunner::new(
        env.store.clone(),
        relay_app::clients::Clients::new(&sdk),
        support::buckets(&env.config, &sdk),
        Notifier::new(aws_sdk_sns::Client::new(&sdk), None),
        None,
        ExportSettings {
            records_per_file: 500,
            retry_delay: Duration::ZERO,
            ..ExportSettings::default()
        },
    );
    let now = OffsetDateTime::now_utc();
    for (kind, bucket, dest) in destinations {
        let body = json!({"from": "2026-11-30T00:00:00Z",
            "to": rfc3339_millis(now + time::Duration::minutes(1)), "format": "jsonl", "destination": dest});
        let r = env
            .call(
                Method::POST,
                "/v1/audit/export",
                Some(&env.a.admin),
                Some(&body),
            )
            .await;
        // The queued message is left alone: the runner is driven directly.
        let id = match r.status {
            StatusCode::ACCEPTED => r.body["export_id"].as_str().unwrap().to_string(),
            _ => panic!("{kind:?}: {}", r.text),
        };
        let out = runner
            .run(
                &JobMessage {
                    org_id: org.clone(),
                    export_id: id.parse().unwrap(),
                },
                Instant::now() + Duration::from_secs(600),
            )
            .await
            .unwrap();
        assert!(
            matches!(
                out,
                RunOutcome::Completed {
                    records: 1200,
                    files: 3
                }
            ),
            "{kind:?}: {out:?}"
        );
        let dir = temp_dir();
        let keys = stores::download_all(kind, &bucket, "exports-test/", &dir);
        assert_eq!(keys.len(), 4, "three parts and the manifest: {keys:?}");
        let manifest_key = keys.iter().find(|k| k.ends_with("manifest.json")).unwrap();
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join(manifest_key)).unwrap()).unwrap();
        let listed: Vec<&str> = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].as_str().unwrap())
            .collect();
        assert_eq!(listed.len(), 3);
        assert!(
            listed.iter().all(|k| keys.iter().any(|got| got == k)),
            "{listed:?} vs {keys:?}"
        );
        assert_eq!(duckdb_counts(&dir, "*.jsonl"), (1200, 1200), "{kind:?}");
        let (_, ids) = read_events(kind, &bucket, "exports-test/");
        assert_exactly_once(&ids, &expected);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Files larger than a part go up as multipart uploads (S3 multipart, GCS XML multipart,
/// Azure block lists) and come back whole; an aborted one leaves nothing.
#[tokio::test]
async fn multipart_files_are_whole_on_every_store() {
    use relay_app::destinations::export_job::send::{FileUpload, MIN_PART_BYTES};
    use relay_app::pipeline::bucket_writer::Limits;
    use relay_core::model::bucket::FieldNames;
    for kind in StoreKind::ALL {
        let bucket = bucket_name(kind);
        stores::create_bucket(kind, &bucket).await;
        let env = configured(kind, &bucket).await;
        let org = env.a.org.org_id.clone();
        let buckets = support::buckets(&env.config, &sdk().await);
        let mut target = env
            .store
            .get_s3_config(&org)
            .await
            .unwrap()
            .unwrap()
            .dest
            .target;
        buckets
            .prepare(&env.store, &org, &mut target, FieldNames::CONFIG)
            .await
            .unwrap();
        let writer = buckets
            .open(&env.store, &org, &target, Limits::Upload)
            .await
            .unwrap();
        let line = format!("{}\n", "x".repeat(1023));
        let lines = (2 * MIN_PART_BYTES + MIN_PART_BYTES / 2) / line.len();
        let mut up = FileUpload::new(
            writer.clone(),
            "big/whole.txt".into(),
            "text/plain",
            MIN_PART_BYTES,
            2,
        );
        let mut started = None;
        for _ in 0..lines {
            up.buffer().extend_from_slice(line.as_bytes());
            if let Some(id) = up.maybe_flush().await.unwrap() {
                started = Some(id);
            }
        }
        assert!(started.is_some(), "{kind:?}: a multipart upload");
        let (size, sha256) = up.finish().await.unwrap();
        assert_eq!(size as usize, lines * line.len());
        let whole = line.repeat(lines);
        assert_eq!(
            sha256,
            relay_core::integrity::hex(&<sha2::Sha256 as sha2::Digest>::digest(whole.as_bytes())),
            "{kind:?}: the hash covers every part, in order"
        );
        // An abandoned upload leaves no object.
        let mut gone = FileUpload::new(
            writer,
            "big/aborted.txt".into(),
            "text/plain",
            MIN_PART_BYTES,
            2,
        );
        for _ in 0..(MIN_PART_BYTES / line.len() + 1) {
            gone.buffer().extend_from_slice(line.as_bytes());
            gone.maybe_flush().await.unwrap();
        }
        gone.abort().await;
        let dir = temp_dir();
        let keys = stores::download_all(kind, &bucket, "big/", &dir);
        assert_eq!(keys, vec!["big/whole.txt".to_string()], "{kind:?}");
        let len = std::fs::metadata(dir.join("big/whole.txt")).unwrap().len();
        assert_eq!(len as usize, lines * line.len(), "{kind:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
