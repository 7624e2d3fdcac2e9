//! One Lambda invocation's time budget, for the functions that work in steps (S3 flushes,
//! export jobs) and must stop starting new steps before the runtime kills them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When to stop starting new work: `margin` before the invocation's deadline
/// (`lambda_runtime::Context::deadline`, milliseconds since the Unix epoch). A deadline already
/// past, or closer than `margin`, gives now.
pub fn stop_at(deadline_ms: u64, margin: Duration) -> Instant {
    stop_at_from(deadline_ms, margin, SystemTime::now(), Instant::now())
}

fn stop_at_from(deadline_ms: u64, margin: Duration, wall: SystemTime, mono: Instant) -> Instant {
    let now_ms = wall
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    mono + left.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_the_margin_before_the_deadline() {
        let wall = UNIX_EPOCH + Duration::from_secs(1_000);
        let mono = Instant::now();
        let deadline_ms = 1_000_000 + 900_000;
        let at = stop_at_from(deadline_ms, Duration::from_secs(60), wall, mono);
        assert_eq!(at - mono, Duration::from_secs(840));
    }

    #[test]
    fn a_deadline_inside_the_margin_or_past_means_now() {
        let wall = UNIX_EPOCH + Duration::from_secs(1_000);
        let mono = Instant::now();
        for deadline_ms in [1_000_000 + 30_000, 999_000, 0] {
            let at = stop_at_from(deadline_ms, Duration::from_secs(60), wall, mono);
            assert_eq!(at, mono, "{deadline_ms}");
        }
    }
}
