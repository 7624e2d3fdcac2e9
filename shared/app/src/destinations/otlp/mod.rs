//! OTLP log export (the "Configure OTEL Export" contract): an org's events as OTLP/HTTP
//! protobuf log records, batched up to `maxBatchSize`, each event exported once.

pub mod deliver;
pub mod encode;
pub mod health;
pub mod send;
pub mod service;

/// The registry's entry.
pub const DESTINATION: super::Destination = super::Destination {
    kind: "otel",
    api: "/orgs/{orgId}/audit-export/otel",
    trigger: "the deliveries queue (deliver function)",
};
