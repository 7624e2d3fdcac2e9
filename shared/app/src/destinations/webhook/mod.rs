//! Signed webhooks (the documented "Webhook (SIEM)" destination): one POST per (endpoint,
//! event), Standard Webhooks signatures and one HMAC header named by the deployment, retried
//! by visibility timeout, paused after a streak of exhausted events.

pub mod deliver;
pub mod encode;
pub mod health;
pub mod send;
pub mod service;

/// The registry's entry.
pub const DESTINATION: super::Destination = super::Destination {
    kind: "webhook",
    api: "/orgs/{orgId}/audit-export/webhooks",
    trigger: "the deliveries queue (deliver function)",
};
