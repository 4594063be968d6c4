//! Sliding-window limiters: at most `limit` permits in any window of length `window`.
//!
//! [`SlidingLog`] is exact: it remembers the time of each of the last `limit` grants
//! (memory grows with the limit, never past it) and grants when the oldest of them has
//! left the window. [`SlidingCounter`] is the two-window estimate (as Cloudflare
//! describes it): it counts grants in fixed windows and weighs the previous window's
//! count by how much of it still overlaps the sliding one. Its memory is constant and
//! its whole state is one 128-bit atomic, so it takes no lock.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use portable_atomic::{AtomicU128, Ordering};

use super::{Clock, MonotonicClock, NotUntil, RateError, RateLimiter};

/// The longest window either limiter accepts (about 104 days).
const MAX_WINDOW_NS: u64 = 1 << 53;
/// The largest [`SlidingLog`] limit: 2^27 timestamps, 1 GiB at most.
const MAX_LOG_LIMIT: u64 = 1 << 27;

fn check_window(window: Duration) -> Result<u64, RateError> {
    let ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
    if ns == 0 || ns > MAX_WINDOW_NS {
        return Err(RateError::Window {
            value: window,
            max: Duration::from_nanos(MAX_WINDOW_NS),
        });
    }
    Ok(ns)
}

fn check_limit(limit: u64, max: u64) -> Result<u64, RateError> {
    if limit == 0 || limit > max {
        return Err(RateError::Limit { value: limit, max });
    }
    Ok(limit)
}

/// The exact sliding window: at most `limit` grants in any `window`.
///
/// Clock jumps: grants are remembered in the order they were made, and a grant is
/// allowed only once the grant `limit` places back is a whole window old. A clock moved
/// backwards therefore grants nothing until it has passed the remembered times again; a
/// jump forwards empties the window.
#[derive(Debug)]
pub struct SlidingLog<C: Clock = MonotonicClock> {
    limit: usize,
    window: u64,
    log: Mutex<Log>,
    clock: C,
}

/// The last grants' times: a plain list until it holds `limit` entries, then a ring
/// whose `head` is the oldest.
#[derive(Debug, Default)]
struct Log {
    stamps: Vec<u64>,
    head: usize,
}

impl SlidingLog<MonotonicClock> {
    /// A log on the real clock; fails on a limit of 0 or above 2^27, and on a window of
    /// zero length or over 104 days.
    pub fn new(limit: u64, window: Duration) -> Result<Self, RateError> {
        Self::with_clock(limit, window, MonotonicClock::new())
    }
}

impl<C: Clock> SlidingLog<C> {
    /// A log on the given clock; same checks as [`SlidingLog::new`].
    pub fn with_clock(limit: u64, window: Duration, clock: C) -> Result<Self, RateError> {
        let window = check_window(window)?;
        let limit = check_limit(limit, MAX_LOG_LIMIT)? as usize;
        Ok(SlidingLog {
            limit,
            window,
            log: Mutex::new(Log::default()),
            clock,
        })
    }
}

impl<C: Clock> RateLimiter for SlidingLog<C> {
    type Clock = C;

    fn clock(&self) -> &C {
        &self.clock
    }

    fn try_acquire(&self) -> Result<(), NotUntil> {
        let now = self.clock.now();
        // The log is valid after any panic of a holder: every update is a single store.
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let log = &mut *log;
        if log.stamps.len() < self.limit {
            if log.stamps.len() == log.stamps.capacity() {
                // Grow by doubling, but never past the limit.
                let extra = log.stamps.len().max(8).min(self.limit - log.stamps.len());
                log.stamps.reserve_exact(extra);
            }
            log.stamps.push(now);
            return Ok(());
        }
        let oldest = log.stamps[log.head];
        let free_at = oldest.saturating_add(self.window);
        if free_at <= now {
            log.stamps[log.head] = now;
            log.head = (log.head + 1) % self.limit;
            Ok(())
        } else {
            Err(NotUntil::new(free_at, now))
        }
    }

    fn rate(&self) -> f64 {
        self.limit as f64 / (self.window as f64 * 1e-9)
    }

    fn memory_bytes(&self) -> usize {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::size_of::<Self>() + log.stamps.capacity() * std::mem::size_of::<u64>()
    }
}

/// The two-window sliding estimate: at most about `limit` grants in any `window`, in
/// constant memory, lock-free.
///
/// Time is cut into fixed windows. A request at offset `e` into the current window is
/// granted if the estimate `previous × (window − e) / window + current` is below
/// `limit`, where `previous` and `current` count the grants of the last and the current
/// fixed window. Under a steady load it allows exactly `limit` per window; after a burst
/// it can allow up to about twice the limit within one sliding window, the price of
/// O(1) memory.
///
/// Clock jumps: a clock moved back into an earlier fixed window is treated as if it were
/// at the start of the latest window seen, so it grants nothing extra; a jump of two
/// windows or more forwards empties the counts.
#[derive(Debug)]
pub struct SlidingCounter<C: Clock = MonotonicClock> {
    limit: u64,
    window: u64,
    /// Window index (high 64 bits), previous count, current count (32 bits each).
    state: AtomicU128,
    clock: C,
}

#[inline]
fn pack(window: u64, previous: u64, current: u64) -> u128 {
    (u128::from(window) << 64) | (u128::from(previous) << 32) | u128::from(current)
}

#[inline]
fn unpack(state: u128) -> (u64, u64, u64) {
    (
        (state >> 64) as u64,
        ((state >> 32) as u64) & 0xFFFF_FFFF,
        (state as u64) & 0xFFFF_FFFF,
    )
}

impl SlidingCounter<MonotonicClock> {
    /// A counter on the real clock; fails on a limit of 0 or above 2^32 − 1, and on a
    /// window of zero length or over 104 days.
    pub fn new(limit: u64, window: Duration) -> Result<Self, RateError> {
        Self::with_clock(limit, window, MonotonicClock::new())
    }
}

impl<C: Clock> SlidingCounter<C> {
    /// A counter on the given clock; same checks as [`SlidingCounter::new`].
    pub fn with_clock(limit: u64, window: Duration, clock: C) -> Result<Self, RateError> {
        Ok(SlidingCounter {
            limit: check_limit(limit, u64::from(u32::MAX))?,
            window: check_window(window)?,
            state: AtomicU128::new(pack(0, 0, 0)),
            clock,
        })
    }

    /// Decides at (`window`, offset `e`) with the counts `previous` and `current`: the
    /// new current count, or when to retry (clock nanoseconds).
    ///
    /// Granted iff `p·(w − e) + c·w < limit·w` (the estimate scaled by `w`, exact in integers).
    #[inline]
    fn decide(&self, window: u64, e: u64, previous: u64, current: u64) -> Result<u64, u64> {
        let (w, limit) = (u128::from(self.window), u128::from(self.limit));
        let (p, c) = (u128::from(previous), u128::from(current));
        if p * (w - u128::from(e)) + c * w < limit * w {
            return Ok(current + 1);
        }
        let start = u128::from(window) * w;
        let retry = if c >= limit {
            // Not in this window. In the next one `current` becomes the previous count:
            // granted once c·(w − e') < limit·w, i.e. e' > w·(c − limit)/c.
            start + w + w * (c - limit) / c + 1
        } else {
            // Later in this window, once enough of the previous window has slid out:
            // p·(w − e) < (limit − c)·w, i.e. e > w·(p + c − limit)/p (p > 0 here).
            start + (w * (p + c - limit) / p + 1).min(w)
        };
        Err(u64::try_from(retry).unwrap_or(u64::MAX))
    }
}

impl<C: Clock> RateLimiter for SlidingCounter<C> {
    type Clock = C;

    fn clock(&self) -> &C {
        &self.clock
    }

    #[inline]
    fn try_acquire(&self) -> Result<(), NotUntil> {
        let now = self.clock.now();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let (stored, previous, current) = unpack(state);
            let (window, e) = (now / self.window, now % self.window);
            let (window, e, previous, current) = if window < stored {
                // The clock went back: decide at the start of the latest window seen.
                (stored, 0, previous, current)
            } else {
                match window - stored {
                    0 => (window, e, previous, current),
                    1 => (window, e, current, 0),
                    _ => (window, e, 0, 0),
                }
            };
            match self.decide(window, e, previous, current) {
                Err(retry) => return Err(NotUntil::new(retry, now)),
                Ok(current) => {
                    let next = pack(window, previous, current);
                    match self.state.compare_exchange_weak(
                        state,
                        next,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Ok(()),
                        Err(actual) => state = actual,
                    }
                }
            }
        }
    }

    fn rate(&self) -> f64 {
        self.limit as f64 / (self.window as f64 * 1e-9)
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::ManualClock;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn log_allows_exactly_limit_per_window() {
        let clock = ManualClock::new();
        let log = SlidingLog::with_clock(3, Duration::from_secs(1), clock.clone()).unwrap();
        clock.set(100);
        for _ in 0..3 {
            assert!(log.try_acquire().is_ok());
        }
        let refused = log.try_acquire().unwrap_err();
        assert_eq!(refused.earliest(), SECOND + 100);
        clock.set(SECOND + 99);
        assert!(log.try_acquire().is_err());
        clock.set(SECOND + 100);
        assert!(log.try_acquire().is_ok());
    }

    #[test]
    fn log_memory_is_bounded_by_the_limit() {
        let clock = ManualClock::new();
        let log = SlidingLog::with_clock(1000, Duration::from_millis(10), clock.clone()).unwrap();
        let empty = log.memory_bytes();
        for i in 0..100_000u64 {
            clock.set(i * 1_000);
            let _ = log.try_acquire();
        }
        let full = log.memory_bytes();
        assert!(full <= empty + 1000 * 8, "{empty} -> {full} bytes");
        assert!(
            full >= empty + 1000 * 8 / 2,
            "the log holds its full window"
        );
    }

    #[test]
    fn log_clock_backwards_grants_nothing_extra() {
        let clock = ManualClock::new();
        let log = SlidingLog::with_clock(2, Duration::from_secs(1), clock.clone()).unwrap();
        clock.set(5 * SECOND);
        assert!(log.try_acquire().is_ok());
        assert!(log.try_acquire().is_ok());
        clock.set(SECOND);
        assert_eq!(log.try_acquire().unwrap_err().earliest(), 6 * SECOND);
    }

    #[test]
    fn counter_spreads_the_limit_over_the_window() {
        // Window 1 s, limit 4. Window 0 grants 4 at once. In window 1 the previous
        // count (4) slides out: the estimate drops below 4 just after the start, then
        // just after each further quarter second.
        let clock = ManualClock::new();
        let counter = SlidingCounter::with_clock(4, Duration::from_secs(1), clock.clone()).unwrap();
        for _ in 0..4 {
            assert!(counter.try_acquire().is_ok());
        }
        let refused = counter.try_acquire().unwrap_err();
        assert_eq!(refused.earliest(), SECOND + 1);
        clock.set(SECOND);
        assert!(counter.try_acquire().is_err());
        clock.set(SECOND + 1);
        assert!(counter.try_acquire().is_ok());
        let refused = counter.try_acquire().unwrap_err();
        assert_eq!(refused.earliest(), SECOND + SECOND / 4 + 1);
        clock.set(SECOND + SECOND / 4);
        assert!(counter.try_acquire().is_err());
        clock.set(SECOND + SECOND / 4 + 1);
        assert!(counter.try_acquire().is_ok());
    }

    #[test]
    fn counter_memory_is_constant() {
        let clock = ManualClock::new();
        let counter =
            SlidingCounter::with_clock(1_000_000, Duration::from_secs(1), clock.clone()).unwrap();
        let before = counter.memory_bytes();
        for i in 0..10_000u64 {
            clock.set(i * 1_000);
            let _ = counter.try_acquire();
        }
        assert_eq!(counter.memory_bytes(), before);
    }

    #[test]
    fn counter_clock_backwards_grants_nothing_extra() {
        let clock = ManualClock::new();
        let counter = SlidingCounter::with_clock(2, Duration::from_secs(1), clock.clone()).unwrap();
        clock.set(10 * SECOND + 500);
        assert!(counter.try_acquire().is_ok());
        assert!(counter.try_acquire().is_ok());
        clock.set(3 * SECOND);
        let refused = counter.try_acquire().unwrap_err();
        assert!(refused.earliest() >= 11 * SECOND, "{}", refused.earliest());
    }

    #[test]
    fn counter_retry_time_is_when_it_allows() {
        // Whatever the state, retrying exactly at the named time succeeds (single caller).
        let clock = ManualClock::new();
        let counter =
            SlidingCounter::with_clock(7, Duration::from_millis(30), clock.clone()).unwrap();
        let mut rng = crate::workload::SplitMix64::new(4);
        let mut now = 0;
        for _ in 0..5_000 {
            now += rng.below(6_000_000);
            clock.set(now);
            if let Err(refused) = counter.try_acquire() {
                clock.set(refused.earliest() - 1);
                assert!(
                    counter.try_acquire().is_err(),
                    "allowed before the named time"
                );
                clock.set(refused.earliest());
                assert!(counter.try_acquire().is_ok(), "refused at the named time");
                now = refused.earliest();
            }
        }
    }

    #[test]
    fn bad_windows_and_limits_are_errors_naming_them() {
        let err = SlidingLog::new(10, Duration::ZERO).unwrap_err();
        assert!(
            err.to_string().starts_with("window must be between 1 ns"),
            "{err}"
        );
        assert!(matches!(
            SlidingCounter::new(10, Duration::ZERO),
            Err(RateError::Window { .. })
        ));
        assert!(matches!(
            SlidingCounter::new(10, Duration::from_secs(200 * 86_400)),
            Err(RateError::Window { .. })
        ));
        assert_eq!(
            SlidingLog::new(0, Duration::from_secs(1)).unwrap_err(),
            RateError::Limit {
                value: 0,
                max: 1 << 27
            }
        );
        assert!(matches!(
            SlidingCounter::new(1 << 32, Duration::from_secs(1)),
            Err(RateError::Limit { .. })
        ));
    }
}
