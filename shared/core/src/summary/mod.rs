//! Where an org's aggregate counters live and what an event counts as: the pure half of the
//! summaries (`GET /v1/audit/summary` and the trails' summaries). [`buckets`] says where
//! counters live and which of them a range reads; [`counts`] reads the facts of an event.

use time::{Duration, OffsetDateTime};

use crate::error::Error;
use crate::model::event::rfc3339_millis;

pub mod buckets;
pub mod counts;

/// Checks a time range against the org's retention: `from` before `to`, and not longer than
/// the events are kept (errors name `from`).
pub fn check_range(
    from: OffsetDateTime,
    to: OffsetDateTime,
    retention_days: u32,
) -> Result<(), Error> {
    if from >= to {
        return Err(Error::invalid("from", "must be before to"));
    }
    if to - from > Duration::days(i64::from(retention_days)) {
        return Err(Error::invalid(
            "from",
            format!(
                "the range from {} to {} is longer than the org's retention of {retention_days} days",
                rfc3339_millis(from),
                rfc3339_millis(to)
            ),
        ));
    }
    Ok(())
}
