//! The offline verifier: checks a copy of a destination (a local folder, e.g. `aws s3 sync`
//! output, or a bucket downloaded into one) against its digests and the service's public keys,
//! with no access to AWS. What `auditctl verify` runs, and what the tests that try to cheat
//! are checked with.
//!
//! Keys are matched by their trailing path segments (`{tenant}/{YYYY-MM-DD}/{file}` for data
//! files, `{tenant}/_digest/{YYYY-MM-DD}/{file}.json` for digests), so a copy made from any
//! folder above the tenant's verifies the same as the bucket itself, whatever the prefix.
//!
//! Checks, each failure one [`Finding`]:
//! - every digest parses, has a signature (its `.sig` sibling), and the signature verifies with
//!   the key its `publicKeyFingerprint` names;
//! - the chain: each digest's `previousDigestKey`, `previousDigestSha256` and
//!   `previousDigestSignature` are the previous digest's, and each period starts where the
//!   previous one ended (a deleted digest is a gap);
//! - every listed file is present, with the listed SHA-256, size and event count;
//! - every data file up to the last digest's end is listed by a digest (files accepted after
//!   it are not digested yet and are only counted).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use relay_core::integrity::{
    hex, parse_period_time, signing_string, unhex, Digest, DIGEST_FOLDER, SIGNATURE_SUFFIX,
};

/// The SubjectPublicKeyInfo header of every P-256 public key: what precedes the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The public keys a verification trusts, by fingerprint (hex SHA-256 of the DER key).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, Vec<u8>>,
}

/// A key file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("public keys: {0}")]
pub struct KeyError(String);

impl KeySet {
    /// Adds a DER SubjectPublicKeyInfo; returns its fingerprint.
    pub fn add_der(&mut self, der: Vec<u8>) -> String {
        let fingerprint = hex(&Sha256::digest(&der));
        self.keys.insert(fingerprint.clone(), der);
        fingerprint
    }

    /// Reads every `PUBLIC KEY` block of a PEM text.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let mut set = KeySet::default();
        let mut body: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if line == "-----BEGIN PUBLIC KEY-----" {
                body = Some(String::new());
            } else if line == "-----END PUBLIC KEY-----" {
                let b = body
                    .take()
                    .ok_or_else(|| KeyError("END without BEGIN".into()))?;
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|e| KeyError(format!("bad base64: {e}")))?;
                set.add_der(der);
            } else if let Some(b) = body.as_mut() {
                b.push_str(line);
            }
        }
        if set.keys.is_empty() {
            return Err(KeyError("no PUBLIC KEY block found".into()));
        }
        Ok(set)
    }

    /// Reads the answer of `GET /v1/audit/integrity/keys` (`{"keys": [{"publicKey": base64
    /// DER, …}]}`).
    pub fn from_keys_json(text: &str) -> Result<Self, KeyError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| KeyError(format!("not JSON: {e}")))?;
        let mut set = KeySet::default();
        for k in v["keys"].as_array().into_iter().flatten() {
            let b64 = k["publicKey"]
                .as_str()
                .ok_or_else(|| KeyError("a key has no publicKey".into()))?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| KeyError(format!("bad base64: {e}")))?;
            set.add_der(der);
        }
        if set.keys.is_empty() {
            return Err(KeyError("no keys listed".into()));
        }
        Ok(set)
    }

    /// Whether `signature_hex` is a valid signature of `message` by the key `fingerprint`;
    /// `None` when no such key is trusted.
    pub fn verify(&self, fingerprint: &str, message: &[u8], signature_hex: &str) -> Option<bool> {
        let der = self.keys.get(fingerprint)?;
        Some(verify_p256(der, message, signature_hex))
    }
}

/// The DER SubjectPublicKeyInfo of an uncompressed P-256 point (what KMS's `GetPublicKey`
/// answers, and what fingerprints are taken of).
pub fn p256_spki(point: &[u8]) -> Vec<u8> {
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(point);
    spki
}

/// Whether `signature_hex` (ASN.1 DER, hex) is an ECDSA P-256 SHA-256 signature of `message`
/// by the DER public key `spki`.
pub fn verify_p256(spki: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let Some(point) = spki.strip_prefix(&P256_SPKI_PREFIX[..]) else {
        return false;
    };
    let Some(sig) = unhex(signature_hex.trim()) else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(message, &sig)
        .is_ok()
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind: `digest_unreadable`, `signature_missing`, `signature_invalid`,
    /// `unknown_key`, `chain_broken`, `chain_gap`, `file_missing`, `file_altered`,
    /// `event_count`, `file_unlisted`.
    pub kind: &'static str,
    /// The object concerned (its key, as a digest names it or as found).
    pub key: String,
    /// The period concerned (`start/end`), when there is one.
    pub period: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// What a verification found.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Digests checked.
    pub digests: usize,
    /// Data files checked against a digest.
    pub files: usize,
    /// Events those files hold, by the digests.
    pub events: u64,
    /// Data files newer than the last digest (not yet covered; not a finding).
    pub undigested_files: usize,
    /// The first and last period checked.
    pub first_period_start: Option<String>,
    /// End of the last period checked.
    pub last_period_end: Option<String>,
    /// Each digest's period and event count, oldest first.
    pub periods: Vec<PeriodEvents>,
    /// Everything wrong, in the order found.
    pub findings: Vec<Finding>,
}

/// One digest's period and the events it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodEvents {
    /// Start (inclusive).
    pub start: String,
    /// End (exclusive).
    pub end: String,
    /// Events of its files.
    pub events: u64,
}

impl Report {
    /// Compares the digests' event counts with the trail's accepted-event counts per period
    /// (`(start, end, events)` from `GET /v1/audit/integrity/counts`): a period where the
    /// trail accepted more events than the digests list lost some between the API and the
    /// bucket.
    pub fn compare_counts(&mut self, accepted: &[(String, String, u64)]) {
        for p in &self.periods {
            let Some((_, _, n)) = accepted
                .iter()
                .find(|(s, e, _)| same_time(s, &p.start) && same_time(e, &p.end))
            else {
                continue;
            };
            if *n != p.events {
                self.findings.push(Finding {
                    kind: "events_missing",
                    key: String::new(),
                    period: Some(format!("{}/{}", p.start, p.end)),
                    message: format!(
                        "the trail accepted {n} events in this period, the digests list {}",
                        p.events
                    ),
                });
            }
        }
    }

    /// One line per finding (`kind period key: message`), or a line saying all is well.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!(
                "{} {} {}: {}\n",
                f.kind,
                f.period.as_deref().unwrap_or("-"),
                if f.key.is_empty() { "-" } else { &f.key },
                f.message
            ));
        }
        out.push_str(&format!(
            "{} digests, {} files, {} events checked ({} to {}); {} files not yet digested; {} findings\n",
            self.digests,
            self.files,
            self.events,
            self.first_period_start.as_deref().unwrap_or("-"),
            self.last_period_end.as_deref().unwrap_or("-"),
            self.undigested_files,
            self.findings.len()
        ));
        out
    }
}

fn same_time(a: &str, b: &str) -> bool {
    match (time_of(a), time_of(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Which periods to check: digests whose period ends after `from` and at or before `to`
/// (RFC 3339; `None` for no bound).
#[derive(Debug, Clone, Default)]
pub struct Range {
    /// Lower bound.
    pub from: Option<String>,
    /// Upper bound.
    pub to: Option<String>,
}

/// A data file's or digest's key without what precedes the tenant folder: its last `n` path
/// segments.
fn tail(key: &str, n: usize) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    parts[parts.len().saturating_sub(n)..].join("/")
}

/// The files of a folder, by relative path with `/` separators.
fn walk(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Events in a data file, counted the way its format stores them: JSONL lines, CSV records
/// after the header, Parquet rows (from the footer), gzip decompressed first.
pub fn count_events(name: &str, bytes: &[u8]) -> Result<u64, String> {
    let plain;
    let (data, inner) = if let Some(inner) = name.strip_suffix(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| format!("not gzip: {e}"))?;
        plain = out;
        (plain.as_slice(), inner)
    } else {
        (bytes, name)
    };
    if inner.ends_with(".jsonl") {
        let lines = data.iter().filter(|b| **b == b'\n').count();
        let trailing = usize::from(!data.is_empty() && !data.ends_with(b"\n"));
        return Ok((lines + trailing) as u64);
    }
    if inner.ends_with(".csv") {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(data);
        let mut n = 0u64;
        let mut record = csv::ByteRecord::new();
        while rdr
            .read_byte_record(&mut record)
            .map_err(|e| format!("not CSV: {e}"))?
        {
            n += 1;
        }
        return Ok(n);
    }
    if inner.ends_with(".parquet") {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(bytes::Bytes::copy_from_slice(data))
            .map_err(|e| format!("not Parquet: {e}"))?;
        let rows = reader.metadata().file_metadata().num_rows();
        return u64::try_from(rows).map_err(|_| "negative row count".to_string());
    }
    Err(format!("{name}: not a format the export writes"))
}

/// Whether a relative path is a data file the export writes (not a digest, a signature, or the
/// connection test's file).
fn is_data_file(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    !rel.contains(&format!("/{DIGEST_FOLDER}/"))
        && !rel.starts_with(&format!("{DIGEST_FOLDER}/"))
        && !name.starts_with("auditrelay-verify-test")
        && [".jsonl", ".jsonl.gz", ".csv", ".csv.gz", ".parquet"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// The acceptance time a batch's name starts with (`20260522T103100123Z-…` →
/// `2026-05-22T10:31:00.123Z`), to tell digested files from the newest ones.
fn batch_time(rel: &str) -> Option<String> {
    let name = rel.rsplit('/').next()?;
    let d = name.get(..19)?;
    if !d.ends_with('Z') || d.as_bytes().get(8) != Some(&b'T') {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15],
        &d[15..18]
    ))
}

struct LoadedDigest {
    key: String,
    digest: Digest,
    sha256: String,
    signature: Option<String>,
}

/// Verifies the copy under `root` with `keys`.
pub fn verify_dir(root: &Path, keys: &KeySet, range: &Range) -> std::io::Result<Report> {
    let files = walk(root)?;
    let mut report = Report::default();
    // Index: data files by their last 3 segments, digests and signatures by their last 4.
    let mut data: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut digests: Vec<(String, PathBuf)> = Vec::new();
    let mut sigs: HashMap<String, PathBuf> = HashMap::new();
    for (rel, path) in files {
        if rel.contains(&format!("{DIGEST_FOLDER}/")) {
            if let Some(base) = rel.strip_suffix(SIGNATURE_SUFFIX) {
                sigs.insert(tail(base, 4), path);
            } else if rel.ends_with(".json") {
                digests.push((tail(&rel, 4), path));
            }
        } else if is_data_file(&rel) {
            data.insert(tail(&rel, 3), path);
        }
    }

    let mut loaded: Vec<LoadedDigest> = Vec::new();
    for (tail_key, path) in &digests {
        let bytes = std::fs::read(path)?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let digest: Digest = match serde_json::from_slice(&bytes) {
            Ok(d) => d,
            Err(e) => {
                report.findings.push(Finding {
                    kind: "digest_unreadable",
                    key: tail_key.clone(),
                    period: None,
                    message: format!("digest does not parse: {e}"),
                });
                continue;
            }
        };
        let in_range = range
            .from
            .as_deref()
            .is_none_or(|f| later(&digest.digest_end_time, f))
            && range
                .to
                .as_deref()
                .is_none_or(|t| !later(&digest.digest_end_time, t));
        if !in_range {
            continue;
        }
        let signature = match sigs.get(tail_key) {
            Some(p) => Some(std::fs::read_to_string(p)?.trim().to_string()),
            None => None,
        };
        loaded.push(LoadedDigest {
            key: tail_key.clone(),
            digest,
            sha256,
            signature,
        });
    }
    loaded.sort_by(|a, b| {
        time_of(&a.digest.digest_end_time).cmp(&time_of(&b.digest.digest_end_time))
    });
    report.digests = loaded.len();
    report.first_period_start = loaded.first().map(|d| d.digest.digest_start_time.clone());
    report.last_period_end = loaded.last().map(|d| d.digest.digest_end_time.clone());

    let mut listed: HashMap<String, String> = HashMap::new();
    let mut by_hash: HashMap<String, String> = HashMap::new();
    for d in &loaded {
        for f in &d.digest.files {
            by_hash.insert(f.sha256.clone(), f.key.clone());
        }
    }
    for (i, d) in loaded.iter().enumerate() {
        let period = Some(format!(
            "{}/{}",
            d.digest.digest_start_time, d.digest.digest_end_time
        ));
        let finding = |kind: &'static str, key: &str, message: String| Finding {
            kind,
            key: key.to_string(),
            period: period.clone(),
            message,
        };
        report.periods.push(PeriodEvents {
            start: d.digest.digest_start_time.clone(),
            end: d.digest.digest_end_time.clone(),
            events: d.digest.files.iter().map(|f| f.events).sum(),
        });
        // The signature.
        match &d.signature {
            None => report.findings.push(finding(
                "signature_missing",
                &d.key,
                "digest has no signature (.sig)".into(),
            )),
            Some(sig) => {
                let message = signing_string(
                    &d.digest.digest_end_time,
                    &d.key,
                    &d.sha256,
                    d.digest.previous_digest_signature.as_deref().unwrap_or(""),
                );
                match keys.verify(&d.digest.public_key_fingerprint, message.as_bytes(), sig) {
                    None => report.findings.push(finding(
                        "unknown_key",
                        &d.key,
                        format!(
                            "digest is signed with a key that is not trusted (fingerprint {})",
                            d.digest.public_key_fingerprint
                        ),
                    )),
                    Some(false) => report.findings.push(finding(
                        "signature_invalid",
                        &d.key,
                        "signature does not match the digest: it was altered after signing, or signed by another key".into(),
                    )),
                    Some(true) => {}
                }
            }
        }
        // The chain.
        let previous = i.checked_sub(1).map(|p| &loaded[p]);
        match (previous, &d.digest.previous_digest_key) {
            (Some(p), Some(prev_key)) => {
                if p.digest.digest_end_time != d.digest.digest_start_time {
                    report.findings.push(finding(
                        "chain_gap",
                        &d.key,
                        format!(
                            "no digest for {} to {}: a digest is missing (deleted?)",
                            p.digest.digest_end_time, d.digest.digest_start_time
                        ),
                    ));
                } else if tail(prev_key, 4) != p.key
                    || d.digest.previous_digest_sha256.as_deref() != Some(p.sha256.as_str())
                    || d.digest.previous_digest_signature.as_deref() != p.signature.as_deref()
                {
                    report.findings.push(finding(
                        "chain_broken",
                        &d.key,
                        format!(
                            "previous digest {} does not match the one this digest chains to",
                            p.key
                        ),
                    ));
                }
            }
            (Some(p), None) => report.findings.push(finding(
                "chain_broken",
                &d.key,
                format!("digest starts a new chain although {} precedes it", p.key),
            )),
            (None, Some(prev_key)) if range.from.is_none() => report.findings.push(finding(
                "chain_gap",
                &d.key,
                format!("previous digest {prev_key} is missing (deleted?)"),
            )),
            (None, _) => {}
        }
        // The files.
        for f in &d.digest.files {
            let t = tail(&f.key, 3);
            listed.insert(t.clone(), d.key.clone());
            report.files += 1;
            report.events += f.events;
            let Some(path) = data.get(&t) else {
                report.findings.push(finding(
                    "file_missing",
                    &f.key,
                    "listed by the digest but not present (deleted?)".into(),
                ));
                continue;
            };
            let bytes = std::fs::read(path)?;
            let sha = hex(&Sha256::digest(&bytes));
            if sha != f.sha256 {
                let hint = match by_hash.get(&sha) {
                    Some(other) if *other != f.key => {
                        format!(" (it holds the bytes of {other}: files swapped or copied)")
                    }
                    _ => String::new(),
                };
                report.findings.push(finding(
                    "file_altered",
                    &f.key,
                    format!(
                        "SHA-256 is {sha}, the digest says {} ({} bytes, digest says {}){hint}",
                        f.sha256,
                        bytes.len(),
                        f.bytes
                    ),
                ));
                continue;
            }
            match count_events(&f.key, &bytes) {
                Ok(n) if n == f.events => {}
                Ok(n) => report.findings.push(finding(
                    "event_count",
                    &f.key,
                    format!("holds {n} events, the digest says {}", f.events),
                )),
                Err(e) => report.findings.push(finding("event_count", &f.key, e)),
            }
        }
    }
    // Files no digest lists: findings up to the last digest's end, newer ones just counted.
    let covered_until = report.last_period_end.clone();
    for t in data.keys() {
        if listed.contains_key(t) {
            continue;
        }
        let when = batch_time(t);
        let newer = match (&when, &covered_until) {
            (Some(w), Some(end)) => !later(end, w),
            (_, None) => true,
            (None, Some(_)) => false,
        };
        let older = match (&when, &report.first_period_start) {
            (Some(w), Some(start)) if range.from.is_some() => later(start, w),
            _ => false,
        };
        if newer || older {
            report.undigested_files += usize::from(newer);
            continue;
        }
        report.findings.push(Finding {
            kind: "file_unlisted",
            key: t.clone(),
            period: None,
            message: "present but listed by no digest (added?)".into(),
        });
    }
    Ok(report)
}

fn time_of(s: &str) -> Option<time::OffsetDateTime> {
    parse_period_time(s)
}

/// Whether time `a` is after time `b` (RFC 3339 texts; unparsable compare as text).
fn later(a: &str, b: &str) -> bool {
    match (time_of(a), time_of(b)) {
        (Some(x), Some(y)) => x > y,
        _ => a > b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_and_batch_times() {
        assert_eq!(
            tail("a/b/ten/2026-05-22/x.jsonl", 3),
            "ten/2026-05-22/x.jsonl"
        );
        assert_eq!(tail("x.jsonl", 3), "x.jsonl");
        assert_eq!(
            batch_time("ten/2026-05-22/20260522T103100123Z-abcdef.jsonl").as_deref(),
            Some("2026-05-22T10:31:00.123Z")
        );
        assert_eq!(batch_time("ten/2026-05-22/other.jsonl"), None);
        assert!(is_data_file("ten/2026-05-22/x.csv.gz"));
        assert!(!is_data_file("ten/_digest/2026-05-22/x.json"));
        assert!(!is_data_file("ten/auditrelay-verify-test-1.jsonl"));
    }

    #[test]
    fn events_are_counted_per_format() {
        assert_eq!(count_events("a.jsonl", b"{}\n{}\n").unwrap(), 2);
        assert_eq!(count_events("a.jsonl", b"{}\n{}").unwrap(), 2);
        assert_eq!(count_events("a.jsonl", b"").unwrap(), 0);
        assert_eq!(
            count_events("a.csv", b"A,B\r\n1,\"x\r\ny\"\r\n2,z\r\n").unwrap(),
            2
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"{}\n{}\n{}\n").unwrap();
        assert_eq!(
            count_events("a.jsonl.gz", &gz.finish().unwrap()).unwrap(),
            3
        );
        assert!(count_events("a.txt", b"").is_err());
    }

    #[test]
    fn p256_signatures_verify_only_with_their_key() {
        use ring::rand::SystemRandom;
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let spki = p256_spki(pair.public_key().as_ref());
        let sig = hex(pair.sign(&rng, b"message").unwrap().as_ref());
        assert!(verify_p256(&spki, b"message", &sig));
        assert!(!verify_p256(&spki, b"messagE", &sig));
        assert!(!verify_p256(&spki[1..], b"message", &sig));
        let mut keys = KeySet::default();
        let fp = keys.add_der(spki.clone());
        assert_eq!(keys.verify(&fp, b"message", &sig), Some(true));
        assert_eq!(keys.verify("other", b"message", &sig), None);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&spki)
        );
        let from_pem = KeySet::from_pem(&pem).unwrap();
        assert_eq!(from_pem.verify(&fp, b"message", &sig), Some(true));
    }
}
