//! Integrity digests against moto: 10,000 events accepted over six hours, flushed, digested
//! (one signed digest per hour, empty hours included) and verified offline from a local copy
//! of the bucket; then every way of cheating we know, each reported with its own finding: a
//! file altered by one byte, deleted, added, two files swapped, a digest deleted, a digest
//! re-signed with another key, an event line removed with the digest recomputed without the
//! key, and an event dropped between the API and the bucket (`--api` counts). The documented
//! 30-line Python verifier runs on the same copy; `GET /v1/audit/integrity/keys` serves the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use base64::Engine;
use http::{Method, StatusCode};
use relay_app::clients::Clients;
use relay_app::destinations::s3_stream::flush::{FlushOutcome, FlushSettings, Flusher};
use relay_app::ingest::validate_body;
use relay_app::integrity::digests::DigestWriter;
use relay_app::integrity::signer::Signer;
use relay_app::integrity::verify::{verify_dir, KeySet, Range, Report};
use relay_app::pipeline::pause::Notifier;
use relay_core::integrity::{hex, Digest};
use relay_core::model::event::{rfc3339_millis, sortable_time};
use relay_core::model::s3_stream::S3ConfigInput;
use relay_store::events::event_item;
use relay_store::s3_stream::Verification;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::{customer_s3, sdk, TestEnv};
use time::OffsetDateTime;

const HOURS: i64 = 6;
const EVENTS: usize = 10_000;
const PREFIX: &str = "audit-logs";

struct World {
    env: TestEnv,
    bucket: String,
    keys: KeySet,
    pem: String,
    /// The clean copy, as downloaded.
    copy: PathBuf,
    tmp: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "auditrelay-integrity-{name}-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every object of the bucket into `dir/{key}`.
async fn download(bucket: &str, dir: &Path) -> Vec<String> {
    let s3 = customer_s3().await;
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        keys.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for key in &keys {
        let out = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = out.body.collect().await.unwrap().into_bytes();
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    keys.sort();
    keys
}

/// Writes events straight into the events table as the API stores them, each accepted at its
/// own time (`times[i]`).
async fn load(env: &TestEnv, times: &[OffsetDateTime]) {
    let org = &env.a.org;
    let table = &env.config.events_table;
    for (c, chunk) in times.chunks(25).enumerate() {
        let reqs: Vec<WriteRequest> = chunk
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let i = c * 25 + j;
                let body = json!({"event_id": format!("evt_int_{i:06}"), "action": "document.opened",
                    "actor": {"user_id": format!("usr_{}", i % 13)},
                    "resource": {"type": "document", "id": format!("doc_{i}")}});
                let ev = validate_body(body, org, *t).unwrap().remove(0);
                let put = PutRequest::builder()
                    .set_item(Some(event_item(&org.org_id, &ev, 0)))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let mut pending = Some(reqs);
        while let Some(r) = pending.take() {
            let out = env
                .store
                .client()
                .batch_write_item()
                .request_items(table, r)
                .send()
                .await
                .unwrap();
            pending = out
                .unprocessed_items()
                .and_then(|m| m.get(table))
                .filter(|v| !v.is_empty())
                .cloned();
        }
    }
}

async fn flush_until_idle(flusher: &Flusher, env: &TestEnv) {
    for _ in 0..20 {
        let out = flusher
            .flush_org(&env.a.org.org_id, Instant::now() + Duration::from_secs(600))
            .await
            .unwrap();
        if matches!(out, FlushOutcome::Idle | FlushOutcome::Skipped) {
            return;
        }
    }
    panic!("the flush did not settle");
}

impl World {
    /// Six hours of events (none in the third: an empty hour), flushed and digested.
    async fn new() -> World {
        let sdk = sdk().await;
        let key_id = support::signing_key(&sdk).await;
        let env = TestEnv::with_config(|c| c.signing_key_id = Some(key_id)).await;
        let bucket = format!("int-{}", ulid::Ulid::new().to_string().to_lowercase());
        customer_s3()
            .await
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let now = OffsetDateTime::now_utc();
        let hour = relay_core::integrity::period_start(now, 3600);
        let first = hour - time::Duration::hours(HOURS);
        // The export was configured at the first hour's start.
        let input: S3ConfigInput = serde_json::from_value(json!({
            "bucket": bucket, "region": "us-east-1",
            "roleArn": "arn:aws:iam::123456789012:role/AuditRelayExport", "prefix": PREFIX}))
        .unwrap();
        let dest = input.validate().unwrap();
        env.store
            .upsert_s3_config(
                &env.a.org.org_id,
                &dest,
                true,
                Verification::NotNeeded,
                &rfc3339_millis(first),
                &sortable_time(first),
            )
            .await
            .unwrap();
        // Events over the hours before this one, skipping the third (an empty period).
        let span = (HOURS - 1) * 3600;
        let times: Vec<OffsetDateTime> = (0..EVENTS)
            .map(|i| {
                let s = (i as i64 * span) / EVENTS as i64;
                let s = if s / 3600 >= 2 { s + 3600 } else { s };
                first + time::Duration::seconds(s) + time::Duration::milliseconds((i % 997) as i64)
            })
            .collect();
        load(&env, &times).await;

        let clients = Clients::new(&sdk);
        let buckets = support::buckets(&env.config, &sdk);
        let signer = Signer::new(
            clients.kms.clone(),
            env.config.signing_key_id.clone(),
            env.store.clone(),
        );
        let writer = DigestWriter::new(
            env.store.clone(),
            buckets.clone(),
            signer,
            Duration::from_secs(3600),
        );
        let flusher = Flusher::new(
            env.store.clone(),
            buckets,
            Notifier::new(clients.sns.clone(), None),
            FlushSettings {
                settle: Duration::from_millis(10),
                lease: Duration::from_secs(60),
                ..FlushSettings::default()
            },
        )
        .with_digests(writer.clone());
        flush_until_idle(&flusher, &env).await;
        // The flush wrote every digest that was due; another call has nothing left to do.
        let again = writer.write_due(&env.a.org.org_id, now).await.unwrap();
        assert!(again.written.is_empty(), "{again:?}");

        let public = writer.signer().public_key().await.unwrap().clone();
        let mut keys = KeySet::default();
        keys.add_der(public.der.clone());
        let pem = relay_app::integrity::pem(
            &base64::engine::general_purpose::STANDARD.encode(&public.der),
        );
        let tmp = tmp_dir("world");
        let copy = tmp.join("clean");
        download(&bucket, &copy).await;
        World {
            env,
            bucket,
            keys,
            pem,
            copy,
            tmp,
        }
    }

    /// A fresh copy of the clean download to tamper with.
    fn tampered(&self, name: &str) -> PathBuf {
        let dir = self.tmp.join(name);
        copy_dir(&self.copy, &dir);
        dir
    }

    fn verify(&self, dir: &Path) -> Report {
        verify_dir(dir, &self.keys, &Range::default()).unwrap()
    }

    fn data_files(&self, dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let tenant = dir.join(PREFIX).join(&self.env.a.org.tenant_id);
        for day in std::fs::read_dir(&tenant).unwrap() {
            let day = day.unwrap().path();
            if day.file_name().unwrap() == "_digest" {
                continue;
            }
            for f in std::fs::read_dir(&day).unwrap() {
                out.push(f.unwrap().path());
            }
        }
        out.sort();
        out
    }

    fn digests(&self, dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let root = dir
            .join(PREFIX)
            .join(&self.env.a.org.tenant_id)
            .join("_digest");
        for day in std::fs::read_dir(&root).unwrap() {
            for f in std::fs::read_dir(day.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                if p.extension().is_some_and(|e| e == "json") {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

fn kinds(report: &Report) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for f in &report.findings {
        *m.entry(f.kind).or_insert(0) += 1;
    }
    m
}

fn key_of(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts[parts.len() - 3..].join("/")
}

#[tokio::test]
async fn digests_prove_the_copy_and_every_cheat_is_reported() {
    let w = World::new().await;

    // A clean copy verifies: every hour, every event, no finding.
    let clean = w.verify(&w.copy);
    assert!(clean.findings.is_empty(), "{}", clean.text());
    assert_eq!(clean.digests, HOURS as usize);
    assert_eq!(clean.events, EVENTS as u64);
    assert_eq!(
        clean.periods.iter().filter(|p| p.events == 0).count(),
        1,
        "the empty hour has its digest: {:?}",
        clean.periods
    );
    // Under another folder (a copy made from a different prefix) it verifies the same.
    let moved = w.tmp.join("moved");
    copy_dir(
        &w.copy.join(PREFIX),
        &moved.join("elsewhere").join("deeper"),
    );
    let r = w.verify(&moved);
    assert!(r.findings.is_empty(), "{}", r.text());
    assert_eq!(r.events, EVENTS as u64);

    // A digest lists what the flush wrote, and the public key is served without auth.
    let first: Digest =
        serde_json::from_slice(&std::fs::read(&w.digests(&w.copy)[0]).unwrap()).unwrap();
    assert_eq!(first.previous_digest_key, None, "the chain starts here");
    assert_eq!(first.tenant_id, w.env.a.org.tenant_id);
    let keys = w
        .env
        .call(Method::GET, "/v1/audit/integrity/keys", None, None)
        .await;
    assert_eq!(keys.status, StatusCode::OK, "{}", keys.text);
    assert_eq!(
        keys.body["keys"][0]["fingerprint"],
        first.public_key_fingerprint
    );
    assert_eq!(keys.body["keys"][0]["validTo"], Value::Null);

    let files = w.data_files(&w.copy);
    assert!(files.len() >= 10, "{} files", files.len());

    // 1. A file altered by one byte.
    let dir = w.tampered("altered");
    let victim = &w.data_files(&dir)[3];
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[10] ^= 1;
    std::fs::write(victim, bytes).unwrap();
    let r = w.verify(&dir);
    assert_eq!(
        kinds(&r),
        BTreeMap::from([("file_altered", 1)]),
        "{}",
        r.text()
    );
    assert!(r.findings[0].key.ends_with(&key_of(victim)));

    // 2. A file deleted.
    let dir = w.tampered("deleted");
    let victim = w.data_files(&dir)[5].clone();
    std::fs::remove_file(&victim).unwrap();
    let r = w.verify(&dir);
    assert_eq!(
        kinds(&r),
        BTreeMap::from([("file_missing", 1)]),
        "{}",
        r.text()
    );
    assert!(r.findings[0].key.ends_with(&key_of(&victim)));

    // 3. A file added (named like a batch of a digested hour).
    let dir = w.tampered("added");
    let original = w.data_files(&dir)[2].clone();
    let name = original.file_name().unwrap().to_string_lossy().into_owned();
    let forged = original.with_file_name(format!("{}-0000000000000000.jsonl", &name[..19]));
    std::fs::copy(&original, &forged).unwrap();
    let r = w.verify(&dir);
    assert_eq!(
        kinds(&r),
        BTreeMap::from([("file_unlisted", 1)]),
        "{}",
        r.text()
    );
    assert!(r.findings[0].key.ends_with(&key_of(&forged)));

    // 4. A digest deleted: a gap in the chain.
    let dir = w.tampered("gap");
    let digest = w.digests(&dir)[3].clone();
    std::fs::remove_file(&digest).unwrap();
    std::fs::remove_file(format!("{}.sig", digest.display())).unwrap();
    let r = w.verify(&dir);
    let k = kinds(&r);
    assert_eq!(k.get("chain_gap"), Some(&1), "{}", r.text());
    assert!(
        k.keys().all(|k| ["chain_gap", "file_unlisted"].contains(k)),
        "only the gap and the files it listed: {}",
        r.text()
    );

    // 5. A digest re-signed with another key (after dropping a file from it).
    let dir = w.tampered("resigned");
    let digest = w.digests(&dir)[1].clone();
    let mut d: Value = serde_json::from_slice(&std::fs::read(&digest).unwrap()).unwrap();
    let removed = d["files"].as_array_mut().unwrap().remove(0);
    d["eventCount"] =
        json!(d["eventCount"].as_u64().unwrap() - removed["events"].as_u64().unwrap());
    let (attacker_fp, attacker_sign) = attacker_key();
    d["publicKeyFingerprint"] = json!(attacker_fp);
    let body = serde_json::to_vec_pretty(&d).unwrap();
    std::fs::write(&digest, &body).unwrap();
    let msg = relay_core::integrity::signing_string(
        d["digestEndTime"].as_str().unwrap(),
        relay_core::integrity::relative_key(&key_of4(&digest)),
        &hex(&Sha256::digest(&body)),
        d["previousDigestSignature"].as_str().unwrap_or(""),
    );
    std::fs::write(
        format!("{}.sig", digest.display()),
        attacker_sign(msg.as_bytes()),
    )
    .unwrap();
    let r = w.verify(&dir);
    let k = kinds(&r);
    assert_eq!(k.get("unknown_key"), Some(&1), "{}", r.text());
    assert!(
        k.contains_key("chain_broken"),
        "the next digest no longer chains: {}",
        r.text()
    );
    assert!(
        k.contains_key("file_unlisted"),
        "the dropped file: {}",
        r.text()
    );

    // 6. Two files swapped.
    let dir = w.tampered("swapped");
    let all = w.data_files(&dir);
    let (a, b) = (&all[1], &all[7]);
    let (ba, bb) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    std::fs::write(a, &bb).unwrap();
    std::fs::write(b, &ba).unwrap();
    let r = w.verify(&dir);
    assert_eq!(
        kinds(&r),
        BTreeMap::from([("file_altered", 2)]),
        "{}",
        r.text()
    );
    assert!(
        r.findings.iter().all(|f| f.message.contains("swapped")),
        "{}",
        r.text()
    );

    // 7. An event line removed, the digest recomputed by someone without the key.
    let dir = w.tampered("line");
    let victim = w.data_files(&dir)[4].clone();
    let text = std::fs::read_to_string(&victim).unwrap();
    let shorter: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&victim, &shorter).unwrap();
    let victim_key = key_of(&victim);
    let mut fixed = None;
    for digest in w.digests(&dir) {
        let mut d: Value = serde_json::from_slice(&std::fs::read(&digest).unwrap()).unwrap();
        let mut hit = false;
        for f in d["files"].as_array_mut().unwrap() {
            if f["key"].as_str().unwrap().ends_with(&victim_key) {
                f["sha256"] = json!(hex(&Sha256::digest(shorter.as_bytes())));
                f["bytes"] = json!(shorter.len());
                f["events"] = json!(f["events"].as_u64().unwrap() - 1);
                hit = true;
            }
        }
        if hit {
            d["eventCount"] = json!(d["eventCount"].as_u64().unwrap() - 1);
            std::fs::write(&digest, serde_json::to_vec_pretty(&d).unwrap()).unwrap();
            fixed = Some(digest);
        }
    }
    assert!(fixed.is_some());
    let r = w.verify(&dir);
    let k = kinds(&r);
    assert_eq!(k.get("signature_invalid"), Some(&1), "{}", r.text());
    assert!(
        !k.contains_key("file_altered"),
        "the hashes were recomputed: {}",
        r.text()
    );

    // 8. An event accepted but never exported: the trail's counts disagree with the digests.
    let mut r = w.verify(&w.copy);
    let first_period = r.periods[0].clone();
    let accepted = w
        .env
        .call(
            Method::GET,
            &format!(
                "/v1/audit/integrity/counts?from={}&to={}",
                first_period.start,
                r.periods.last().unwrap().end
            ),
            Some(&w.env.a.reader),
            None,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    let mut counts: Vec<(String, String, u64)> = accepted.body["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_str().unwrap().to_string(),
                p["end"].as_str().unwrap().to_string(),
                p["events"].as_u64().unwrap(),
            )
        })
        .collect();
    r.compare_counts(&counts);
    assert!(
        r.findings.is_empty(),
        "the trail and the digests agree: {}",
        r.text()
    );
    counts[0].2 += 1;
    r.compare_counts(&counts);
    assert_eq!(
        kinds(&r),
        BTreeMap::from([("events_missing", 1)]),
        "{}",
        r.text()
    );

    // The documented Python verifier agrees: clean passes, a tampered copy fails.
    let script = python_block();
    let pem = w.tmp.join("key.pem");
    std::fs::write(&pem, &w.pem).unwrap();
    let run = |dir: &Path| {
        std::process::Command::new(support::python())
            .arg("-c")
            .arg(&script)
            .arg(dir)
            .arg(&pem)
            .output()
            .unwrap()
    };
    let ok = run(&w.copy);
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    for tampered in ["altered", "deleted", "gap", "resigned", "swapped", "line"] {
        let out = run(&w.tmp.join(tampered));
        assert!(!out.status.success(), "python missed {tampered}");
    }
    // The bucket itself is untouched: every cheat was on a copy.
    assert!(!w.bucket.is_empty());

    // A rotation: the next key is listed from its first use, the old one keeps its place with
    // its end, so the old digests still verify with the listed keys.
    let sdk = sdk().await;
    let next = relay_app::integrity::signer::ensure_signing_key(
        &aws_sdk_kms::Client::new(&sdk),
        &format!(
            "alias/auditrelay-test-rotated-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ),
    )
    .await
    .unwrap();
    let rotated = Signer::new(
        aws_sdk_kms::Client::new(&sdk),
        Some(next),
        w.env.store.clone(),
    );
    let new_fp = rotated.public_key().await.unwrap().fingerprint.clone();
    let keys = w
        .env
        .call(Method::GET, "/v1/audit/integrity/keys", None, None)
        .await;
    let listed = keys.body["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{}", keys.text);
    assert_eq!(listed[0]["fingerprint"], first.public_key_fingerprint);
    assert!(listed[0]["validTo"].is_string(), "{}", keys.text);
    assert_eq!(listed[1]["fingerprint"], new_fp.as_str());
    assert_eq!(listed[1]["validTo"], Value::Null);
    let from_api = KeySet::from_keys_json(&keys.text).unwrap();
    let r = verify_dir(&w.copy, &from_api, &Range::default()).unwrap();
    assert!(r.findings.is_empty(), "{}", r.text());
}

/// The key of a digest file from its tenant folder on.
fn key_of4(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts[parts.len() - 4..].join("/")
}

/// A P-256 key of the attacker's own: its fingerprint and a signing function (hex DER).
fn attacker_key() -> (String, impl Fn(&[u8]) -> String) {
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let spki = relay_app::integrity::verify::p256_spki(pair.public_key().as_ref());
    let fp = hex(&Sha256::digest(&spki));
    (fp, move |msg: &[u8]| {
        hex(pair.sign(&SystemRandom::new(), msg).unwrap().as_ref())
    })
}

/// The Python block of docs/integrity.md.
fn python_block() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/integrity.md"))
        .unwrap();
    let start = doc.find("```python\n").expect("a python block") + "```python\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_string()
}
