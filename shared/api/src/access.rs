//! Access rules as typed extractors: a handler states who may call it by the type of one
//! argument, and the rule is checked before the handler runs (401 without a live key, 404 for
//! another org's resources, 403 without the scope or role).
//!
//! - [`OrgAdmin`]: an admin or owner key of the org named by the path's `{org_id}`.
//! - [`Reader`], [`Writer`], [`Exporter`]: a key with `audit:read`, `audit:write` or
//!   `audit:export` (admin and owner keys hold every scope).
//!
//! Every one of them resolves the key through the [`Principal`] extractor, which [`charge`]s
//! the request to the key's and the org's rate limits right after the key is found: a request
//! without a live key (401) costs no org anything, and no handler checks limits itself.

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::AppState;
use relay_core::auth::Principal;
use relay_core::error::Error;
use relay_core::limits::LimitClass;
use relay_core::model::ids::OrgId;
use relay_core::model::{Org, Scope};

/// An admin or owner key of the org in the path. Another org's id answers 404 before the role
/// is looked at, so it cannot be told from an org that does not exist.
#[derive(Debug, Clone)]
pub struct OrgAdmin {
    /// The caller.
    pub principal: Principal,
    /// The org of the path, which is the caller's own.
    pub org_id: OrgId,
}

impl FromRequestParts<AppState> for OrgAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound("org"))?;
        let org_id = params
            .iter()
            .find(|(name, _)| *name == "org_id")
            .map(|(_, value)| OrgId::from(value))
            .ok_or(Error::NotFound("org"))?;
        principal.require_org(&org_id)?;
        principal.require_admin()?;
        Ok(OrgAdmin { principal, org_id })
    }
}

/// Marks a request already charged, so that a second extractor resolving the same key does
/// not count it twice.
#[derive(Debug, Clone, Copy)]
struct Charged;

/// Charges the request to `principal`'s key and org, in the class its method and matched route
/// belong to ([`LimitClass::of`]); a 429 with `Retry-After` when a budget is spent. Charged
/// once per request.
pub(crate) async fn charge(
    parts: &mut Parts,
    state: &AppState,
    principal: &Principal,
) -> Result<(), ApiError> {
    if parts.extensions.get::<Charged>().is_some() {
        return Ok(());
    }
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or("");
    let class = LimitClass::of(parts.method.as_str(), route);
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
    let refused = state
        .store()
        .charge_request(&principal.key.key_id, principal.org_id(), class, now)
        .await?;
    parts.extensions.insert(Charged);
    match refused {
        Some(r) => {
            tracing::info!(org_id = %principal.org_id(), key_id = %principal.key.key_id,
                class = class.as_str(), limit = %r.what, "request rate-limited");
            Err(Error::from(r).into())
        }
        None => Ok(()),
    }
}

/// Loads the caller's org; a key whose org is gone is no longer a live key (401).
async fn org_of(state: &AppState, principal: &Principal) -> Result<Org, ApiError> {
    Ok(state
        .store()
        .get_org(principal.org_id())
        .await?
        .ok_or(Error::Unauthorized)?)
}

macro_rules! scoped {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Principal);

        impl $name {
            /// The caller's org.
            pub fn org_id(&self) -> &str {
                self.0.org_id()
            }

            /// The caller's org, read from the store.
            pub async fn org(&self, state: &AppState) -> Result<Org, ApiError> {
                org_of(state, &self.0).await
            }
        }

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                let principal = Principal::from_request_parts(parts, state).await?;
                principal.require($scope)?;
                Ok($name(principal))
            }
        }
    };
}

scoped!(
    /// A key that may read the org's trail (`audit:read`).
    Reader,
    Scope::Read
);
scoped!(
    /// A key that may send events (`audit:write`).
    Writer,
    Scope::Write
);
scoped!(
    /// A key that may start and read export jobs (`audit:export`).
    Exporter,
    Scope::Export
);
