//! Orgs (the tenants of the service) and their API keys.

use crate::model::ids::{KeyId, OrgId};
use serde::{Deserialize, Serialize};

/// Default retention of events, in days (the platform keeps a year).
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// An organisation: every event, key and destination belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Org {
    /// `org_…` id, assigned at creation.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// The platform's own id for this customer; events carry it as `tenant_id`
    /// (defaults to `org_id`). Unique across orgs.
    pub tenant_id: String,
    /// Events expire this many days after they were received.
    pub retention_days: u32,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// What a key may do beyond its role.
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
)]
pub enum Scope {
    /// Send events.
    #[serde(rename = "audit:write")]
    Write,
    /// Query the trail.
    #[serde(rename = "audit:read")]
    Read,
    /// Create and read export jobs.
    #[serde(rename = "audit:export")]
    Export,
}

impl Scope {
    /// The wire name, e.g. `audit:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Write => "audit:write",
            Scope::Read => "audit:read",
            Scope::Export => "audit:export",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "audit:write" => Some(Scope::Write),
            "audit:read" => Some(Scope::Read),
            "audit:export" => Some(Scope::Export),
            _ => None,
        }
    }
}

/// The role of a key's holder within its org.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Full control of the org.
    Owner,
    /// Configures destinations, reads the trail.
    Admin,
    /// Only what its explicit scopes allow.
    Member,
    /// A backend sending events; only its scopes.
    Service,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Service => "service",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "service" => Some(Role::Service),
            _ => None,
        }
    }

    /// Admins and owners manage the org's export configuration and read its trail.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Scopes a new key of this role gets when none are asked for.
    pub fn default_scopes(self) -> Vec<Scope> {
        match self {
            Role::Service => vec![Scope::Write],
            Role::Owner | Role::Admin => vec![Scope::Read, Scope::Export],
            Role::Member => vec![],
        }
    }
}

/// A stored API key. The token itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// `key_…` id (safe to log and show).
    pub key_id: KeyId,
    /// Org the key belongs to.
    pub org_id: OrgId,
    /// Role of the holder.
    pub role: Role,
    /// Explicit scopes.
    pub scopes: Vec<Scope>,
    /// Optional label.
    pub name: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl ApiKey {
    /// Whether the key may act with `scope`: an explicit grant, or admin/owner for read/export.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || (self.role.is_admin() && scope != Scope::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, scopes: Vec<Scope>) -> ApiKey {
        ApiKey {
            key_id: "key_1".into(),
            org_id: "org_1".into(),
            role,
            scopes,
            name: None,
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn admins_read_but_only_scoped_keys_write() {
        assert!(key(Role::Admin, vec![]).allows(Scope::Read));
        assert!(key(Role::Owner, vec![]).allows(Scope::Export));
        assert!(!key(Role::Owner, vec![]).allows(Scope::Write));
        assert!(key(Role::Service, vec![Scope::Write]).allows(Scope::Write));
        assert!(!key(Role::Service, vec![Scope::Write]).allows(Scope::Read));
        assert!(key(Role::Member, vec![Scope::Read]).allows(Scope::Read));
        assert!(!key(Role::Member, vec![]).allows(Scope::Read));
    }

    #[test]
    fn scope_and_role_names_round_trip() {
        for s in [Scope::Write, Scope::Read, Scope::Export] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        for r in [Role::Owner, Role::Admin, Role::Member, Role::Service] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Scope::parse("audit:delete"), None);
    }
}
