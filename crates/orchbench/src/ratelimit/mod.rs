//! Rate limiters: a token bucket (GCRA on one atomic, with deadline-based waiting), a
//! lock-based token bucket for comparison, and sliding windows in two variants (an exact
//! log and a two-window counter estimate), all `Send + Sync` and driven by a [`Clock`].
//!
//! Every limiter offers [`RateLimiter::try_acquire`], which never blocks and on refusal
//! says when the next permit is due, and [`RateLimiter::acquire`], which waits until
//! exactly that time. A [`ManualClock`] makes every limiter exact and instant to test.
//!
//! Not here: keyed (per-user) limiting, distributed limits, and the load scenarios that
//! measure the limiters' pacing (`perf-test`'s `rate_scenarios`).

mod sliding;
mod token_bucket;

use std::future::Future;
use std::time::Duration;

pub use crate::timing::{Clock, ManualClock, MonotonicClock};
pub use sliding::{SlidingCounter, SlidingLog};
pub use token_bucket::{MutexTokenBucket, TokenBucket};

/// A limiter parameter that cannot work, named with its value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateError {
    /// `rate` is not a finite number greater than zero.
    #[error("rate must be a finite number of permits per second > 0, got {0}")]
    Rate(f64),
    /// `rate` is finite and positive but outside what the limiter can represent.
    #[error("rate {value}/s is outside the supported range {min}/s to {max}/s")]
    RateRange {
        /// The rejected rate.
        value: f64,
        /// The smallest supported rate.
        min: f64,
        /// The largest supported rate.
        max: f64,
    },
    /// `burst` is zero: no permit could ever be granted.
    #[error("burst must be at least 1, got 0")]
    Burst,
    /// `burst` permits at `rate` span more time than the limiter can represent.
    #[error(
        "burst {burst} at rate {rate}/s spans more than the supported 9 years; lower the burst or raise the rate"
    )]
    BurstSpan {
        /// The rejected burst.
        burst: u32,
        /// The rate it was combined with.
        rate: f64,
    },
    /// `limit` is zero or above what the limiter supports.
    #[error("limit must be between 1 and {max} permits per window, got {value}")]
    Limit {
        /// The rejected limit.
        value: u64,
        /// The largest supported limit.
        max: u64,
    },
    /// `window` is zero, or too long to represent.
    #[error("window must be between 1 ns and {max:?}, got {value:?}")]
    Window {
        /// The rejected window.
        value: Duration,
        /// The longest supported window.
        max: Duration,
    },
}

/// A refusal from [`RateLimiter::try_acquire`]: when the next permit is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUntil {
    earliest: u64,
    checked_at: u64,
}

impl NotUntil {
    /// A refusal checked at `checked_at` whose next permit is due at `earliest` (clock nanoseconds).
    pub fn new(earliest: u64, checked_at: u64) -> Self {
        NotUntil {
            earliest,
            checked_at,
        }
    }

    /// The clock time (nanoseconds since the clock's origin) from which a permit can be granted.
    pub fn earliest(&self) -> u64 {
        self.earliest
    }

    /// How long after the refused check the next permit is due.
    pub fn wait_time(&self) -> Duration {
        Duration::from_nanos(self.earliest.saturating_sub(self.checked_at))
    }
}

impl std::fmt::Display for NotUntil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rate limited; next permit in {:?}", self.wait_time())
    }
}

impl std::error::Error for NotUntil {}

/// What every limiter here offers.
pub trait RateLimiter: Send + Sync {
    /// The clock the limiter reads.
    type Clock: Clock;

    /// The limiter's clock.
    fn clock(&self) -> &Self::Clock;

    /// Takes a permit if one is available now; never blocks. On refusal, says when the
    /// next permit is due (another caller may still take it first).
    fn try_acquire(&self) -> Result<(), NotUntil>;

    /// Waits until a permit is granted, sleeping until exactly the time the limiter
    /// names rather than polling. Works on any async executor.
    fn acquire(&self) -> impl Future<Output = ()> + Send {
        async move {
            loop {
                match self.try_acquire() {
                    Ok(()) => return,
                    Err(refused) => self.clock().sleep_until(refused.earliest()).await,
                }
            }
        }
    }

    /// The permits per second the limiter allows over the long run.
    fn rate(&self) -> f64;

    /// Bytes the limiter occupies now, its own struct and what it owns on the heap.
    fn memory_bytes(&self) -> usize;
}

/// Checks a rate in permits per second; shared by the constructors.
fn check_rate(rate: f64, min: f64, max: f64) -> Result<f64, RateError> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(RateError::Rate(rate));
    }
    if !(min..=max).contains(&rate) {
        return Err(RateError::RateRange {
            value: rate,
            min,
            max,
        });
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_until_reports_the_wait() {
        let refused = NotUntil::new(1_500, 1_000);
        assert_eq!(refused.earliest(), 1_500);
        assert_eq!(refused.wait_time(), Duration::from_nanos(500));
        assert_eq!(refused.to_string(), "rate limited; next permit in 500ns");
        assert_eq!(NotUntil::new(5, 9).wait_time(), Duration::ZERO);
    }

    #[test]
    fn rate_checks_name_the_value() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = check_rate(bad, 1e-6, 1e9).unwrap_err();
            assert!(err.to_string().starts_with("rate must be"), "{err}");
        }
        let err = check_rate(2e9, 1e-6, 1e9).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rate 2000000000/s is outside the supported range 0.000001/s to 1000000000/s"
        );
    }
}
