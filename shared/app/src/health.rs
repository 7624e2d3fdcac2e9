//! The destinations' health report behind `GET /orgs/{orgId}/audit-export/health`: each
//! destination's part comes from its own `health.rs` ([`webhook`], [`otlp`], [`s3_stream`]),
//! read from what delivery already stores; nothing here writes.

use time::OffsetDateTime;

use crate::destinations::{otlp, s3_stream, webhook};
use relay_core::error::Error;
use relay_core::model::health::HealthReport;
use relay_core::model::ids::OrgId;
use relay_store::Store;

/// The org's report: its webhook endpoints, then its OTLP export, then its continuous
/// export, each only when configured.
pub async fn report(
    store: &Store,
    org_id: &OrgId,
    now: OffsetDateTime,
) -> Result<HealthReport, Error> {
    let (hooks, otel, s3) = tokio::try_join!(
        webhook::health::report(store, org_id, now),
        otlp::health::report(store, org_id, now),
        s3_stream::health::report(store, org_id, now),
    )?;
    let mut destinations = hooks;
    destinations.extend(otel);
    destinations.extend(s3);
    Ok(HealthReport { destinations })
}
