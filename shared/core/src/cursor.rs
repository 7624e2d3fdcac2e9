//! Opaque, tamper-proof pagination cursors.
//!
//! A cursor is `base64url(json position) . base64url(HMAC-SHA256)`, where the MAC covers the
//! org, the query's filters and the position. A cursor edited, replayed against another org,
//! or reused with other filters fails verification and answers 400: it can never select rows
//! the caller could not select anyway.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{de::DeserializeOwned, Serialize};
use sha2::Sha256;

use crate::error::Error;

type HmacSha256 = Hmac<Sha256>;

/// MAC length kept in the cursor (128 bits is ample against forgery).
const MAC_LEN: usize = 16;

/// Signs and verifies cursors with a server-side key.
#[derive(Clone)]
pub struct CursorSigner {
    /// The secret, zero-padded to SHA-256's 64-byte block: exactly what HMAC does with a
    /// shorter key, and it makes the keyed constructor infallible.
    key: hmac::digest::Key<HmacSha256>,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner(..)")
    }
}

impl CursorSigner {
    /// A signer with the given secret key (32 random bytes; longer keys are hashed first,
    /// as HMAC specifies).
    pub fn new(secret: Vec<u8>) -> Self {
        use sha2::Digest;
        let mut key = hmac::digest::Key::<HmacSha256>::default();
        if secret.len() > key.len() {
            let digest = Sha256::digest(&secret);
            key[..digest.len()].copy_from_slice(&digest);
        } else {
            key[..secret.len()].copy_from_slice(&secret);
        }
        CursorSigner { key }
    }

    fn mac(&self, org_id: &str, context: &str, payload: &[u8]) -> Vec<u8> {
        let mut mac = <HmacSha256 as Mac>::new(&self.key);
        for part in [org_id.as_bytes(), context.as_bytes(), payload] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes()[..MAC_LEN].to_vec()
    }

    /// Encodes `position` for `org_id`; `context` names the query (its filters) it belongs to.
    pub fn encode<T: Serialize>(&self, org_id: &str, context: &str, position: &T) -> String {
        let payload = serde_json::to_vec(position).unwrap_or_default();
        let mac = self.mac(org_id, context, &payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// Decodes a cursor, or a 400 naming `cursor` if it was not issued for this org and query.
    pub fn decode<T: DeserializeOwned>(
        &self,
        org_id: &str,
        context: &str,
        cursor: &str,
    ) -> Result<T, Error> {
        let bad = || {
            Error::invalid(
                "cursor",
                "is not a cursor this query returned (cursors are bound to the org and the filters)",
            )
        };
        let (p, m) = cursor.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| bad())?;
        let given = URL_SAFE_NO_PAD.decode(m).map_err(|_| bad())?;
        let expected = self.mac(org_id, context, &payload);
        if !constant_time_eq(&given, &expected) {
            return Err(bad());
        }
        serde_json::from_slice(&payload).map_err(|_| bad())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Pos {
        t: String,
        e: String,
    }

    fn pos() -> Pos {
        Pos {
            t: "2026-01-01".into(),
            e: "evt_1".into(),
        }
    }

    #[test]
    fn round_trips_for_the_same_org_and_query() {
        let s = CursorSigner::new(vec![7; 32]);
        let c = s.encode("org_a", "q1", &pos());
        assert_eq!(s.decode::<Pos>("org_a", "q1", &c).unwrap(), pos());
    }

    #[test]
    fn refuses_other_orgs_other_queries_and_edits() {
        let s = CursorSigner::new(vec![7; 32]);
        let c = s.encode("org_a", "q1", &pos());
        assert!(s.decode::<Pos>("org_b", "q1", &c).is_err());
        assert!(s.decode::<Pos>("org_a", "q2", &c).is_err());
        let (p, m) = c.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"t":"2026-01-01","e":"evt_2"}"#);
        assert!(s
            .decode::<Pos>("org_a", "q1", &format!("{forged}.{m}"))
            .is_err());
        assert!(s.decode::<Pos>("org_a", "q1", p).is_err());
        assert!(s.decode::<Pos>("org_a", "q1", "garbage").is_err());
        let other_key = CursorSigner::new(vec![8; 32]);
        assert!(other_key.decode::<Pos>("org_a", "q1", &c).is_err());
    }
}
