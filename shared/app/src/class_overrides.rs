//! An org's OCSF class overrides: the service behind `GET|PUT /orgs/{orgId}/ocsf/class-overrides`,
//! and [`ShapeContexts`], which every output that writes OCSF records asks for the org's
//! [`ShapeContext`] (its tenant and its overrides).
//!
//! Outputs read the overrides through a per-process cache that keeps an org's list for
//! [`CACHE_TTL`]: delivering a webhook or an OTLP batch then costs no extra DynamoDB read, and a
//! change reaches every function within that time. Only OCSF outputs ask, so canonical
//! deliveries never read the item at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use relay_core::error::Error;
use relay_core::model::class_overrides::{
    ClassOverridesInput, ClassOverridesView, ClassificationView,
};
use relay_core::model::event::rfc3339_millis;
use relay_core::model::ids::OrgId;
use relay_core::shapes::ocsf::ClassOverride;
use relay_core::shapes::ShapeContext;
use relay_store::error::StoreError;
use relay_store::Store;

/// How long an output keeps an org's overrides before reading them again.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

/// The org's overrides as the API shows them.
pub async fn get(store: &Store, org_id: &OrgId) -> Result<ClassOverridesView, Error> {
    let stored = store.get_class_overrides(org_id).await?;
    Ok(ClassOverridesView::of(&stored.overrides, stored.updated_at))
}

/// How `action` is classified for the org, with the override that chose it.
pub async fn classify(
    store: &Store,
    org_id: &OrgId,
    action: &str,
) -> Result<ClassificationView, Error> {
    if action.is_empty() {
        return Err(Error::invalid("action", "must not be empty"));
    }
    let stored = store.get_class_overrides(org_id).await?;
    Ok(ClassificationView::of(action, &stored.overrides))
}

/// Validates `body` and replaces the org's overrides with it.
pub async fn put(
    store: &Store,
    org_id: &OrgId,
    body: Value,
    now: OffsetDateTime,
) -> Result<ClassOverridesView, Error> {
    let input: ClassOverridesInput = relay_core::decode::from_value(body, "")?;
    let overrides = input.validate()?;
    let at = rfc3339_millis(now);
    store.put_class_overrides(org_id, &overrides, &at).await?;
    Ok(ClassOverridesView::of(&overrides, Some(at)))
}

type Cached = (Instant, Arc<Vec<ClassOverride>>);

/// The [`ShapeContext`] of each org, with its overrides read through a short cache; built once
/// per cold start and cloned into every output (the clones share the cache).
#[derive(Debug, Clone)]
pub struct ShapeContexts {
    store: Store,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<OrgId, Cached>>>,
}

impl ShapeContexts {
    /// Contexts read from `store`, each org's overrides kept for [`CACHE_TTL`].
    pub fn new(store: Store) -> Self {
        ShapeContexts::with_ttl(store, CACHE_TTL)
    }

    /// The same with another cache lifetime (tests use zero to see every change at once).
    pub fn with_ttl(store: Store, ttl: Duration) -> Self {
        ShapeContexts {
            store,
            ttl,
            cache: Arc::default(),
        }
    }

    /// The org's overrides: cached if read less than the TTL ago. A failed read falls back on
    /// the last list read, if any, so a DynamoDB hiccup does not stall deliveries whose
    /// classification is known; without one it is an error (the caller retries).
    pub async fn overrides(&self, org_id: &OrgId) -> Result<Arc<Vec<ClassOverride>>, StoreError> {
        let cached = self.cache.lock().ok().and_then(|c| c.get(org_id).cloned());
        if let Some((at, list)) = &cached {
            if at.elapsed() < self.ttl {
                return Ok(list.clone());
            }
        }
        match self.store.get_class_overrides(org_id).await {
            Ok(stored) => {
                let list = Arc::new(stored.overrides);
                if let Ok(mut c) = self.cache.lock() {
                    c.insert(org_id.clone(), (Instant::now(), list.clone()));
                }
                Ok(list)
            }
            Err(e) => match cached {
                Some((_, list)) => {
                    tracing::warn!(org_id = %org_id, error = %e,
                        "class overrides unreadable; using the last list read");
                    Ok(list)
                }
                None => Err(e),
            },
        }
    }

    /// The context for the org whose tenant is `tenant_id`, with its overrides.
    pub async fn context(
        &self,
        org_id: &OrgId,
        tenant_id: &str,
    ) -> Result<ShapeContext, StoreError> {
        let overrides = self.overrides(org_id).await?;
        Ok(ShapeContext::new(tenant_id).with_class_overrides(overrides.as_ref().clone()))
    }
}
