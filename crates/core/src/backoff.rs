//! Exponential backoff with jitter, for retrying what failed (uploads, pulls, reconnects).

use std::time::Duration;

/// Exponential backoff with jitter for retrying uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// Delay before attempt `attempts + 1`. `jitter` in `[0, 1)` (from the caller's RNG) spreads
    /// the delay over the upper half of the exponential step, so devices that failed together
    /// do not retry together, and no retry comes sooner than half the step.
    pub fn delay(&self, attempts: u32, jitter: f64) -> Duration {
        let step = self
            .base
            .saturating_mul(1u32.checked_shl(attempts.min(31)).unwrap_or(u32::MAX))
            .min(self.cap);
        let jitter = jitter.clamp(0.0, 1.0);
        step.mul_f64(0.5 + 0.5 * jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        let cases = [
            (0, 0.0, 0.5),
            (0, 0.999_999, 1.0),
            (1, 0.0, 1.0),
            (3, 0.0, 4.0),
            (3, 1.0, 8.0),
            (10, 1.0, 60.0),
            (40, 0.0, 30.0),
        ];
        for (attempts, jitter, secs) in cases {
            let d = b.delay(attempts, jitter).as_secs_f64();
            assert!(
                (d - secs).abs() < 1e-3,
                "attempts {attempts} jitter {jitter}: {d}"
            );
        }
    }
}
