//! Webhook signatures.
//!
//! Two headers sign every delivery, both keyed with the endpoint's secret (the bytes after
//! `whsec_`, base64-decoded):
//!
//! * the Standard Webhooks v1 scheme (<https://www.standardwebhooks.com>): `webhook-id`,
//!   `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>`,
//!   space-separated while two secrets are active, so any Standard Webhooks library verifies it;
//! * one more header, for receivers that verify a single HMAC header named after the platform
//!   that deploys AuditRelay: its name is the deployment's setting ([`SignatureHeaderName`],
//!   default `X-AuditRelay-Signature`), its value
//!   `t=<timestamp>,v1=<hex HMAC-SHA256("{t}.{body}")>` with one `v1=` entry per active secret,
//!   `t` being the same number as `webhook-timestamp`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret.
pub const SECRET_BYTES: usize = 32;
/// Fewest bytes a secret may have (the Standard Webhooks recommendation).
pub const MIN_SECRET_BYTES: usize = 24;
/// Header carrying the message id (the event id, stable across retries).
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the attempt's unix time in seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the Standard Webhooks signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// The single-header signature's name when the deployment names none.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-AuditRelay-Signature";
/// The setting that names the single-header signature.
pub const SIGNATURE_HEADER_ENV: &str = "AUDITRELAY_SIGNATURE_HEADER";
/// Longest name the single-header signature may have.
pub const MAX_SIGNATURE_HEADER_CHARS: usize = 64;
/// Names the single-header signature may not take (compared case-insensitively): the
/// Standard Webhooks headers and the ones the HTTP client sets itself, which a second value
/// would corrupt, and the hop-by-hop headers, which proxies strip or act on.
pub const RESERVED_HEADERS: &[&str] = &[
    HEADER_ID,
    HEADER_TIMESTAMP,
    HEADER_SIGNATURE,
    "content-type",
    "content-length",
    "host",
    "authorization",
    "user-agent",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// A name that cannot be the single-header signature's.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HeaderNameError {
    /// Empty or longer than [`MAX_SIGNATURE_HEADER_CHARS`].
    #[error("must be 1 to {MAX_SIGNATURE_HEADER_CHARS} characters, has {0}")]
    Length(usize),
    /// A character an HTTP field name cannot hold.
    #[error("must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~), has {0:?}")]
    Character(char),
    /// One of [`RESERVED_HEADERS`].
    #[error("is a Standard Webhooks, client-set or hop-by-hop header; choose another name")]
    Reserved(String),
}

/// The name of the single-header signature sent beside the Standard Webhooks headers: an HTTP
/// field name (RFC 9110 `token`) of 1 to [`MAX_SIGNATURE_HEADER_CHARS`] characters that is
/// not one of [`RESERVED_HEADERS`]. Kept as written; HTTP/1.1 sends it lowercased, and
/// receivers match header names case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaderName(String);

/// RFC 9110 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

impl SignatureHeaderName {
    /// Checks `name` (see the type's rules).
    pub fn parse(name: &str) -> Result<Self, HeaderNameError> {
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_SIGNATURE_HEADER_CHARS {
            return Err(HeaderNameError::Length(chars));
        }
        if let Some(bad) = name.chars().find(|c| !is_tchar(*c)) {
            return Err(HeaderNameError::Character(bad));
        }
        if RESERVED_HEADERS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
        {
            return Err(HeaderNameError::Reserved(name.to_string()));
        }
        Ok(SignatureHeaderName(name.to_string()))
    }

    /// The name as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SignatureHeaderName {
    fn default() -> Self {
        SignatureHeaderName(DEFAULT_SIGNATURE_HEADER.to_string())
    }
}

impl std::fmt::Display for SignatureHeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret that is not a `whsec_` secret of at least [`MIN_SECRET_BYTES`] bytes.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SecretError {
    /// No `whsec_` prefix.
    #[error("must start with {SECRET_PREFIX}")]
    Prefix,
    /// Not base64 after the prefix.
    #[error("is not base64 after {SECRET_PREFIX}")]
    Encoding,
    /// Too short.
    #[error("must hold at least {MIN_SECRET_BYTES} bytes, has {0}")]
    TooShort(usize),
    /// No randomness to generate one.
    #[error(transparent)]
    Rng(#[from] crate::model::ids::RngError),
}

/// An endpoint's signing secret. Its `Debug` output is masked, so it cannot leak into logs.
#[derive(Clone)]
pub struct WebhookSecret {
    raw: Vec<u8>,
    /// The HMAC keyed once; each signature clones this state instead of re-keying.
    mac: HmacSha256,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecret({})", self.masked())
    }
}

impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl WebhookSecret {
    /// A secret from raw key bytes.
    pub fn from_bytes(raw: Vec<u8>) -> Result<Self, SecretError> {
        if raw.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(raw.len()));
        }
        // HMAC accepts keys of any length; the error case is for fixed-size MACs.
        let mac = <HmacSha256 as Mac>::new_from_slice(&raw)
            .map_err(|_| SecretError::TooShort(raw.len()))?;
        Ok(WebhookSecret { raw, mac })
    }

    /// A new random secret of [`SECRET_BYTES`] bytes.
    pub fn generate() -> Result<Self, SecretError> {
        Self::from_bytes(crate::model::ids::random_bytes(SECRET_BYTES)?)
    }

    /// Parses the text form `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let b64 = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let raw = STANDARD.decode(b64).map_err(|_| SecretError::Encoding)?;
        Self::from_bytes(raw)
    }

    /// The full text form, `whsec_<base64>`: only for storage and the one response that
    /// hands a new secret to the admin.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.raw))
    }

    /// The masked form shown everywhere else: `whsec_****` and the last four characters.
    pub fn masked(&self) -> String {
        let text = STANDARD.encode(&self.raw);
        let tail = &text[text.len().saturating_sub(4)..];
        format!("{SECRET_PREFIX}****{tail}")
    }

    fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The Standard Webhooks v1 signature (base64) of one message.
    pub fn sign_standard(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let ts = timestamp.to_string();
        STANDARD.encode(self.hmac(&[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]))
    }

    /// One `v1=` entry (lowercase hex) of the single-header signature of one message.
    pub fn sign_auditrelay(&self, timestamp: i64, body: &[u8]) -> String {
        let ts = timestamp.to_string();
        hex(&self.hmac(&[ts.as_bytes(), b".", body]))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// The signature headers of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: i64,
    /// `webhook-signature`: `v1,<sig>` per active secret, space-separated.
    pub signature: String,
    /// The single-header signature's value: `t=<timestamp>,v1=<hex>` with one `v1=` per
    /// active secret.
    pub auditrelay: String,
}

impl SignatureHeaders {
    /// The headers as (name, value) pairs, in the order they are sent, the single-header
    /// signature under `name` (the deployment's setting).
    pub fn pairs<'n>(&self, name: &'n SignatureHeaderName) -> [(&'n str, String); 4] {
        [
            (HEADER_ID, self.id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_SIGNATURE, self.signature.clone()),
            (name.as_str(), self.auditrelay.clone()),
        ]
    }
}

/// Signs `body` as message `msg_id` at `timestamp` with every secret in `secrets` (the current
/// one first; during a rotation the previous one follows).
pub fn sign(
    secrets: &[&WebhookSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> SignatureHeaders {
    let signature = secrets
        .iter()
        .map(|s| format!("v1,{}", s.sign_standard(msg_id, timestamp, body)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut auditrelay = format!("t={timestamp}");
    for s in secrets {
        auditrelay.push_str(",v1=");
        auditrelay.push_str(&s.sign_auditrelay(timestamp, body));
    }
    SignatureHeaders {
        id: msg_id.to_string(),
        timestamp,
        signature,
        auditrelay,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies a `webhook-signature` header the way a Standard Webhooks receiver does (without
/// the timestamp tolerance check, which needs the receiver's clock).
pub fn verify_standard(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    header: &str,
    body: &[u8],
) -> bool {
    let expected = secret.sign_standard(msg_id, timestamp, body);
    header.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .is_some_and(|sig| constant_time_eq(sig.as_bytes(), expected.as_bytes()))
    })
}

/// Verifies a single-header signature's value (whatever the header's name); returns its
/// timestamp when one `v1=` matches.
pub fn verify_auditrelay(secret: &WebhookSecret, header: &str, body: &[u8]) -> Option<i64> {
    let mut timestamp = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let ts = timestamp?;
    let expected = secret.sign_auditrelay(ts, body);
    sigs.iter()
        .any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
        .then_some(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks specification (and of its reference libraries).
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.sign_standard("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let h = sign(&[&secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(h.signature, format!("v1,{sig}"));
    }

    #[test]
    fn generated_secrets_are_whsec_of_32_bytes_and_round_trip() {
        let s = WebhookSecret::generate().unwrap();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&text[6..]).unwrap().len(), SECRET_BYTES);
        assert_eq!(WebhookSecret::parse(&text).unwrap(), s);
        assert_ne!(WebhookSecret::generate().unwrap(), s);
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::Prefix
        );
        assert_eq!(
            WebhookSecret::parse("whsec_!!!").unwrap_err(),
            SecretError::Encoding
        );
        assert_eq!(
            WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 16]))).unwrap_err(),
            SecretError::TooShort(16)
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = WebhookSecret::generate().unwrap();
        let text = s.expose();
        let debug = format!("{s:?}");
        assert!(!debug.contains(&text[6..]), "{debug}");
        assert!(debug.contains("whsec_****"));
        assert_eq!(s.masked().len(), "whsec_****".len() + 4);
        assert!(text.ends_with(&s.masked()[10..]));
    }

    #[test]
    fn two_secrets_sign_side_by_side_and_each_verifies() {
        let new = WebhookSecret::generate().unwrap();
        let old = WebhookSecret::generate().unwrap();
        let body = br#"{"event_id":"evt_1"}"#;
        let h = sign(&[&new, &old], "evt_1", 1_779_445_800, body);
        assert_eq!(h.signature.split(' ').count(), 2);
        assert!(h.signature.split(' ').all(|p| p.starts_with("v1,")));
        for s in [&new, &old] {
            assert!(verify_standard(
                s,
                "evt_1",
                1_779_445_800,
                &h.signature,
                body
            ));
            assert_eq!(
                verify_auditrelay(s, &h.auditrelay, body),
                Some(1_779_445_800)
            );
        }
        let stranger = WebhookSecret::generate().unwrap();
        assert!(!verify_standard(
            &stranger,
            "evt_1",
            1_779_445_800,
            &h.signature,
            body
        ));
        assert_eq!(verify_auditrelay(&stranger, &h.auditrelay, body), None);
        // Any change to id, time or body breaks the signature.
        assert!(!verify_standard(
            &new,
            "evt_2",
            1_779_445_800,
            &h.signature,
            body
        ));
        assert!(!verify_standard(
            &new,
            "evt_1",
            1_779_445_801,
            &h.signature,
            body
        ));
        assert!(!verify_standard(
            &new,
            "evt_1",
            1_779_445_800,
            &h.signature,
            b"{}"
        ));
        assert_eq!(verify_auditrelay(&new, &h.auditrelay, b"{}"), None);
    }

    #[test]
    fn single_header_reference_vector() {
        // Computed independently with Python's hmac over the Standard Webhooks example.
        let s = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let h = sign(&[&s], "msg_1", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(
            h.auditrelay,
            "t=1614265330,v1=e96203c6de850e7dc1fde7489ef6140b402d3a5a64fe250cd2eef9830fac1cef"
        );
    }

    #[test]
    fn the_single_header_is_sent_under_the_configured_name() {
        let s = WebhookSecret::generate().unwrap();
        let h = sign(&[&s], "evt_1", 1614265330, b"{}");
        let default = SignatureHeaderName::default();
        assert_eq!(default.as_str(), "X-AuditRelay-Signature");
        let names: Vec<_> = h.pairs(&default).iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "X-AuditRelay-Signature"
            ]
        );
        let custom = SignatureHeaderName::parse("X-Optimaite-Signature").unwrap();
        let pairs = h.pairs(&custom);
        assert_eq!(pairs[3], ("X-Optimaite-Signature", h.auditrelay.clone()));
        assert_eq!(pairs[1].1, "1614265330");
    }

    #[test]
    fn header_names_are_tokens_of_at_most_64_characters_and_not_reserved() {
        for ok in [
            "X-Optimaite-Signature",
            "x-auditrelay-signature",
            "Signature",
            "X_Sig.v1~!#$%&'*+^`|",
            &"a".repeat(64),
        ] {
            assert_eq!(SignatureHeaderName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            SignatureHeaderName::parse("").unwrap_err(),
            HeaderNameError::Length(0)
        );
        assert_eq!(
            SignatureHeaderName::parse(&"a".repeat(65)).unwrap_err(),
            HeaderNameError::Length(65)
        );
        for (bad, c) in [
            ("X Signature", ' '),
            ("X-Signature:", ':'),
            (" X-Sig", ' '),
            ("X-Sig\n", '\n'),
            ("X-Sig\u{e9}", '\u{e9}'),
            ("(sig)", '('),
            ("X/Sig", '/'),
            ("X\"Sig", '"'),
        ] {
            assert_eq!(
                SignatureHeaderName::parse(bad).unwrap_err(),
                HeaderNameError::Character(c),
                "{bad:?}"
            );
        }
        for reserved in [
            "webhook-id",
            "Webhook-Timestamp",
            "WEBHOOK-SIGNATURE",
            "Content-Type",
            "content-length",
            "Host",
            "Authorization",
            "Connection",
            "Transfer-Encoding",
            "User-Agent",
            "Upgrade",
            "TE",
        ] {
            assert_eq!(
                SignatureHeaderName::parse(reserved).unwrap_err(),
                HeaderNameError::Reserved(reserved.to_string())
            );
        }
    }

    #[test]
    fn auditrelay_header_format() {
        let s = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let h = sign(&[&s], "evt_1", 1614265330, b"{}");
        let (t, v1) = h.auditrelay.split_once(',').unwrap();
        assert_eq!(t, "t=1614265330");
        let sig = v1.strip_prefix("v1=").unwrap();
        assert_eq!(sig.len(), 64);
        assert!(sig
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase()));
        assert_eq!(sig, s.sign_auditrelay(1614265330, b"{}"));
    }
}
