//! Prefixed, sortable identifiers (`evt_`, `org_`, `key_`) and random secrets.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A new id `{prefix}_{ULID}`: unique, and lexicographically sortable by creation time.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// The operating system's random source failed. It does not on Linux once booted; when it
/// does, the request fails cleanly instead of the process panicking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("operating system random source failed: {0}")]
pub struct RngError(String);

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, RngError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| RngError(e.to_string()))?;
    Ok(buf)
}

/// A URL-safe random token of `n` bytes of entropy.
pub fn random_token(n: usize) -> Result<String, RngError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes(n)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_unique_and_sortable() {
        let a = new_id("evt");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("evt");
        assert!(a.starts_with("evt_") && a.len() == 30);
        assert!(a < b);
    }

    #[test]
    fn tokens_have_requested_entropy() {
        assert_eq!(random_token(32).unwrap().len(), 43);
        assert_ne!(random_token(16).unwrap(), random_token(16).unwrap());
    }
}
