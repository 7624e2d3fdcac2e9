//! Prefixed, sortable identifiers (`evt_`, `org_`, `key_`, `whk_`, `exp_`) and random secrets.
//! The ids a caller names in a path or that tie records together are newtypes ([`OrgId`],
//! [`KeyId`], [`EndpointId`], [`ExportId`]), so one cannot be passed where another is meant.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A new id `{prefix}_{ULID}`: unique, and lexicographically sortable by creation time.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// The smallest id `{prefix}_{ULID}` that [`new_id`] can create at `t` or later: a sort-key
/// bound for "created since `t`" queries over such ids.
pub fn id_floor(prefix: &str, t: time::OffsetDateTime) -> String {
    let millis = u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    format!("{prefix}_{}", ulid::Ulid::from_parts(millis, 0))
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Default,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[derive(utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix of every id this service creates.
            pub const PREFIX: &'static str = $prefix;

            /// A new id: the prefix, `_`, and a ULID.
            pub fn generate() -> Self {
                $name(new_id($prefix))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether it can be one this service created: the prefix, `_`, then ASCII letters,
            /// digits and `_`, at most 64 characters. A path id that is not answers 404 without
            /// a lookup.
            pub fn is_well_formed(&self) -> bool {
                self.0.len() <= 64
                    && self.0.strip_prefix($prefix).is_some_and(|rest| rest.starts_with('_'))
                    && self.0.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
        }

        /// Any text: ids are compared and looked up, never parsed, so an id from a path that
        /// names nothing simply finds nothing (404).
        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<&$name> for $name {
            fn from(id: &$name) -> Self {
                id.clone()
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                $name(s.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name(s.to_string()))
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

prefixed_id!(
    /// An org: `org_…`.
    OrgId,
    "org"
);
prefixed_id!(
    /// An API key (safe to log and show; the token is not): `key_…`.
    KeyId,
    "key"
);
prefixed_id!(
    /// A webhook endpoint: `whk_…`.
    EndpointId,
    "whk"
);
prefixed_id!(
    /// An export job: `exp_…`.
    ExportId,
    "exp"
);

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
    fn typed_ids_keep_their_text_and_prefix() {
        let org = OrgId::generate();
        assert!(org.starts_with("org_") && org.len() == 30);
        assert_eq!(serde_json::to_string(&org).unwrap(), format!("\"{org}\""));
        let back: OrgId = serde_json::from_str(&format!("\"{org}\"")).unwrap();
        assert_eq!(back, org);
        assert!(EndpointId::generate().starts_with("whk_"));
        assert!(ExportId::generate().starts_with("exp_"));
        assert_eq!(KeyId::from("key_1"), "key_1");
        assert!(EndpointId::generate().is_well_formed());
        for bad in [
            "exp_1",
            "whk",
            "whk-1",
            "whk_a/b",
            &format!("whk_{}", "a".repeat(61)),
        ] {
            assert!(!EndpointId::from(bad).is_well_formed(), "{bad}");
        }
    }

    #[test]
    fn tokens_have_requested_entropy() {
        assert_eq!(random_token(32).unwrap().len(), 43);
        assert_ne!(random_token(16).unwrap(), random_token(16).unwrap());
    }
}
