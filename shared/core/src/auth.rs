//! API-key authentication: tokens are random, shown once, and stored only as SHA-256.
//!
//! A plain (unsalted, fast) hash is the right tool here: tokens carry 256 bits of entropy, so
//! there is nothing to brute-force, and the lookup must be a single GetItem on the hash.

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::model::ids::OrgId;
use crate::model::{ApiKey, Scope};

/// Prefix of every token, so secret scanners and people can recognise one.
pub const TOKEN_PREFIX: &str = "ar_";

/// A new API token: `ar_` + 32 random bytes, base64url.
pub fn new_token() -> Result<String, crate::model::ids::RngError> {
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        crate::model::ids::random_token(32)?
    ))
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// Extracts the bearer token from an `Authorization` header value.
pub fn bearer_token(header: Option<&str>) -> Result<&str, Error> {
    let value = header.ok_or(Error::Unauthorized)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(Error::Unauthorized)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || !token.starts_with(TOKEN_PREFIX)
        || token.len() > 128
    {
        return Err(Error::Unauthorized);
    }
    Ok(token)
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key used.
    pub key: ApiKey,
}

impl Principal {
    /// The caller's org.
    pub fn org_id(&self) -> &OrgId {
        &self.key.org_id
    }

    /// 403 unless the key allows `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Error> {
        if self.key.allows(scope) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this API key lacks the {} scope",
                scope.as_str()
            )))
        }
    }

    /// 403 unless the key's role is admin or owner.
    pub fn require_admin(&self) -> Result<(), Error> {
        if self.key.role.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "this endpoint needs an admin or owner key".into(),
            ))
        }
    }

    /// 404 unless `org_id` (from a path) is the caller's own org: another org's resources are
    /// indistinguishable from ones that do not exist.
    pub fn require_org(&self, org_id: &str) -> Result<(), Error> {
        if self.key.org_id == org_id {
            Ok(())
        } else {
            Err(Error::NotFound("org"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hash_to_stable_hex() {
        let t = new_token().unwrap();
        assert!(t.starts_with("ar_") && t.len() == 46);
        assert_eq!(token_hash(&t), token_hash(&t));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bearer_parsing_is_strict() {
        assert_eq!(bearer_token(Some("Bearer ar_abc")).unwrap(), "ar_abc");
        assert_eq!(bearer_token(Some("bearer  ar_abc ")).unwrap(), "ar_abc");
        for bad in [
            None,
            Some(""),
            Some("Basic ar_abc"),
            Some("Bearer"),
            Some("Bearer xyz"),
        ] {
            assert!(
                matches!(bearer_token(bad), Err(Error::Unauthorized)),
                "{bad:?}"
            );
        }
    }
}
