//! Offline verification throughput: writes a local copy of an export as the service would
//! (N files of 1,000 JSONL events, ten per hourly digest, each digest signed and chained with a
//! P-256 key of its own), then times `verify_dir` over it and prints files, events, bytes and
//! seconds. `verify_bench [FILES=1000]`; needs no emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed setup should stop it loudly

use std::path::Path;
use std::time::Instant;

use relay_app::integrity::verify::{verify_dir, KeySet, Range};
use relay_core::integrity::{
    digest_key, hex, period_time, relative_key, signing_string, Digest, DigestFile, WatermarkRange,
    FORMAT_VERSION, SIGNATURE_ALGORITHM,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use time::macros::datetime;

const EVENTS_PER_FILE: usize = 1_000;
const FILES_PER_DIGEST: usize = 10;
const TENANT: &str = "ten_01ABCDEFG";

fn main() {
    let files: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000);
    let root = std::env::temp_dir().join(format!(
        "auditrelay-verify-bench-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ));
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let spki = relay_app::integrity::verify::p256_spki(pair.public_key().as_ref());
    let mut keys = KeySet::default();
    let fingerprint = keys.add_der(spki);

    let t = Instant::now();
    let start = datetime!(2026-05-22 00:00 UTC);
    let mut previous: Option<(String, String, String)> = None;
    let mut bytes_total = 0u64;
    let mut n = 0;
    let mut hour = 0i64;
    while n < files {
        let p_start = start + time::Duration::hours(hour);
        let p_end = p_start + time::Duration::hours(1);
        let mut listed = Vec::new();
        for _ in 0..FILES_PER_DIGEST.min(files - n) {
            let at = p_start + time::Duration::seconds((listed.len() * 60) as i64);
            let stamp = format!(
                "{:04}{:02}{:02}T{:02}{:02}{:02}000Z",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            );
            let day = format!(
                "{:04}-{:02}-{:02}",
                at.year(),
                u8::from(at.month()),
                at.day()
            );
            let key = format!("audit-logs/{TENANT}/{day}/{stamp}-{n:016x}.jsonl");
            let mut body = Vec::with_capacity(EVENTS_PER_FILE * 420);
            for i in 0..EVENTS_PER_FILE {
                serde_json::to_writer(
                    &mut body,
                    &json!({"event_id": format!("evt_{n:05}_{i:04}"), "timestamp": "2026-05-22T10:30:00Z",
                        "action": "document.opened", "actor": {"user_id": format!("usr_{i}"), "email": "jane@example.com",
                        "ip_address": "203.0.113.42", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"},
                        "resource": {"type": "document", "id": format!("doc_{i}"), "name": "Contract_v2.docx"},
                        "tenant_id": TENANT, "success": true, "metadata": {"via": "share-link"},
                        "received_at": "2026-05-22T10:30:01.250Z"}),
                )
                .unwrap();
                body.push(b'\n');
            }
            write(&root.join(&key), &body);
            bytes_total += body.len() as u64;
            listed.push(DigestFile {
                key,
                sha256: hex(&Sha256::digest(&body)),
                bytes: body.len() as u64,
                events: EVENTS_PER_FILE as u64,
                first_event_id: format!("evt_{n:05}_0000"),
                last_event_id: format!("evt_{n:05}_0999"),
                oldest_received_at: period_time(at),
                newest_received_at: period_time(at),
            });
            n += 1;
        }
        let digest = Digest {
            digest_format_version: FORMAT_VERSION.into(),
            org_id: "org_bench".into(),
            tenant_id: TENANT.into(),
            digest_start_time: period_time(p_start),
            digest_end_time: period_time(p_end),
            watermark: WatermarkRange {
                from: period_time(p_start),
                to: period_time(p_end),
            },
            event_count: listed.iter().map(|f| f.events).sum(),
            files: listed,
            previous_digest_key: previous.as_ref().map(|p| p.0.clone()),
            previous_digest_sha256: previous.as_ref().map(|p| p.1.clone()),
            previous_digest_signature: previous.as_ref().map(|p| p.2.clone()),
            signature_algorithm: SIGNATURE_ALGORITHM.into(),
            public_key_fingerprint: fingerprint.clone(),
        };
        let body = serde_json::to_vec_pretty(&digest).unwrap();
        let sha = hex(&Sha256::digest(&body));
        let key = digest_key("audit-logs", TENANT, p_end);
        let message = signing_string(
            &digest.digest_end_time,
            relative_key(&key),
            &sha,
            previous.as_ref().map(|p| p.2.as_str()).unwrap_or(""),
        );
        let sig = hex(pair.sign(&rng, message.as_bytes()).unwrap().as_ref());
        write(&root.join(&key), &body);
        write(&root.join(format!("{key}.sig")), sig.as_bytes());
        previous = Some((key, sha, sig));
        hour += 1;
    }
    let written = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let report = verify_dir(&root, &keys, &Range::default()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(report.findings.is_empty(), "{}", report.text());
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "files": report.files,
            "digests": report.digests,
            "events": report.events,
            "mib": (bytes_total as f64 / 1_048_576.0).round(),
            "write_secs": (written * 10.0).round() / 10.0,
            "verify_secs": (secs * 100.0).round() / 100.0,
            "verify_events_per_sec": (report.events as f64 / secs).round(),
            "verify_mib_per_sec": ((bytes_total as f64 / 1_048_576.0) / secs).round(),
        }))
        .unwrap()
    );
    std::fs::remove_dir_all(&root).unwrap();
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}
