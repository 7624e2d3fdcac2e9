//! Tamper evidence: signing with the deployment's KMS key ([`signer`]), the hourly digests of
//! the continuous export ([`digests`]), and the offline verifier ([`verify`]). The format is
//! `relay_core::integrity`'s.

pub mod digests;
pub mod signer;
pub mod verify;

use serde::Serialize;

use relay_core::error::Error;
use relay_core::integrity::SIGNATURE_ALGORITHM;
use relay_store::Store;

/// One signing key as `GET /v1/audit/integrity/keys` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyView {
    /// Hex SHA-256 of the DER public key: what digests name in `publicKeyFingerprint`.
    pub fingerprint: String,
    /// `ECDSA_SHA_256`.
    #[schema(value_type = String, pattern = "^ECDSA_SHA_256$")]
    pub algorithm: &'static str,
    /// `ECC_NIST_P256`.
    #[schema(value_type = String, pattern = "^ECC_NIST_P256$")]
    pub key_spec: &'static str,
    /// Base64 of the DER SubjectPublicKeyInfo.
    pub public_key: String,
    /// The same as PEM (`openssl`, Python's `cryptography` and `auditctl verify --public-key`
    /// read it).
    pub public_key_pem: String,
    /// First use.
    pub valid_from: String,
    /// When the next key took over; `null` for the current key.
    pub valid_to: Option<String>,
}

/// The answer of `GET /v1/audit/integrity/keys`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicKeysView {
    /// Every key that ever signed, oldest first.
    pub keys: Vec<PublicKeyView>,
}

/// PEM of a DER public key, 64 characters a line.
pub fn pem(der_b64: &str) -> String {
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in der_b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// Every public key digests and manifests were signed with (public: they prove, they do not
/// grant).
pub async fn public_keys(store: &Store) -> Result<PublicKeysView, Error> {
    let keys = store
        .signing_keys()
        .await?
        .into_iter()
        .map(|k| PublicKeyView {
            public_key_pem: pem(&k.public_key),
            fingerprint: k.fingerprint,
            algorithm: SIGNATURE_ALGORITHM,
            key_spec: "ECC_NIST_P256",
            public_key: k.public_key,
            valid_from: k.valid_from,
            valid_to: k.valid_to,
        })
        .collect();
    Ok(PublicKeysView { keys })
}

/// Most periods one counts request covers (a month of hours).
pub const MAX_COUNT_PERIODS: u64 = 744;

/// Events accepted in one period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodCount {
    /// Start (inclusive).
    pub start: String,
    /// End (exclusive).
    pub end: String,
    /// Events the org's trail accepted in it.
    pub events: u64,
}

/// The answer of `GET /v1/audit/integrity/counts`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CountsView {
    /// The deployment's digest period, in seconds.
    pub period_secs: u64,
    /// One entry per period from `from` to `to`.
    pub periods: Vec<PeriodCount>,
}

/// Events the org accepted per digest period between `from` and `to` (RFC 3339, rounded out
/// to whole periods): what `auditctl verify --api` compares with the digests' counts, to show
/// that no accepted event is missing from the bucket.
pub async fn accepted_counts(
    store: &Store,
    org_id: &relay_core::model::ids::OrgId,
    pairs: &[(String, String)],
    period: std::time::Duration,
) -> Result<CountsView, Error> {
    use relay_core::integrity::{period_start, period_time};
    use relay_core::model::event::{parse_time, sortable_time};
    let mut from = None;
    let mut to = None;
    for (k, v) in pairs {
        match k.as_str() {
            "from" => from = Some(parse_time("from", v)?),
            "to" => to = Some(parse_time("to", v)?),
            other => return Err(Error::invalid(other, "is not a parameter (from, to)")),
        }
    }
    let from = from.ok_or_else(|| Error::invalid("from", "is required"))?;
    let to = to.ok_or_else(|| Error::invalid("to", "is required"))?;
    if to <= from {
        return Err(Error::invalid("to", "must be after from"));
    }
    let secs = period.as_secs().max(1);
    let step = time::Duration::seconds(i64::try_from(secs).unwrap_or(3600));
    let mut start = period_start(from, secs);
    let n = u64::try_from(
        ((to - start).whole_seconds() + step.whole_seconds() - 1) / step.whole_seconds(),
    )
    .unwrap_or(u64::MAX);
    if n > MAX_COUNT_PERIODS {
        return Err(Error::invalid(
            "to",
            format!("at most {MAX_COUNT_PERIODS} periods of {secs} s per request, got {n}"),
        ));
    }
    let mut periods = Vec::new();
    while start < to {
        let end = start + step;
        let events = store
            .count_received(org_id, &sortable_time(start), &sortable_time(end))
            .await?;
        periods.push(PeriodCount {
            start: period_time(start),
            end: period_time(end),
            events,
        });
        start = end;
    }
    Ok(CountsView {
        period_secs: secs,
        periods,
    })
}
