//! Token buckets as GCRA (the generic cell rate algorithm): the whole state is one
//! "theoretical arrival time" (TAT). A permit is granted at time `t` if
//! `t >= TAT - (burst - 1) * interval`, and then `TAT = max(TAT, t) + interval`.
//!
//! [`TokenBucket`] keeps the TAT in one `AtomicU64` updated by compare-exchange (no lock),
//! and its `acquire` reserves a slot at call time and sleeps until exactly that slot, so
//! a late wake-up never delays later permits. [`MutexTokenBucket`] is the same algorithm
//! behind a `Mutex`: the design alternative the bench compares against, and a
//! reference the tests check the atomic version with.
//!
//! Times inside are ticks of 1/16 ns, so intervals that are not whole nanoseconds (a
//! rate of 3 000 000/s has 333.33 ns) lose at most 1/32 ns a permit to rounding.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::{Clock, MonotonicClock, NotUntil, RateError, RateLimiter, check_rate};

const TICKS_PER_NS: u64 = 16;
/// Clock readings are clamped here (36 years of uptime) so that ticks never overflow.
const MAX_NS: u64 = (1 << 60) / TICKS_PER_NS;
/// The longest span `interval × burst` may cover, in ticks (about 9 years).
const MAX_SPAN_TICKS: u64 = 1 << 62;
const MIN_RATE: f64 = 1e-6;
const MAX_RATE: f64 = 1e9;

/// A clock reading of `n` ns means a true time in `[n, n + 1)` ns: the tick at its
/// start, and the last tick inside it.
#[inline]
fn ticks(now_ns: u64) -> (u64, u64) {
    let start = now_ns.min(MAX_NS) * TICKS_PER_NS;
    (start, start + TICKS_PER_NS - 1)
}

/// The nanosecond during which `ticks` falls: a reading of it conforms (see `Gcra::decide`).
#[inline]
fn ns_of(ticks: u64) -> u64 {
    ticks / TICKS_PER_NS
}

/// The GCRA parameters shared by both buckets.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    rate: f64,
    burst: u32,
    /// Ticks per permit.
    interval: u64,
    /// `(burst - 1) * interval`: how far ahead of time the TAT may run and still conform.
    tolerance: u64,
}

impl Gcra {
    fn new(rate: f64, burst: u32) -> Result<Gcra, RateError> {
        let rate = check_rate(rate, MIN_RATE, MAX_RATE)?;
        if burst == 0 {
            return Err(RateError::Burst);
        }
        let interval = ((TICKS_PER_NS as f64 * 1e9) / rate).round().max(1.0) as u64;
        let span = interval.saturating_mul(u64::from(burst));
        if span > MAX_SPAN_TICKS {
            return Err(RateError::BurstSpan { burst, rate });
        }
        Ok(Gcra {
            rate,
            burst,
            interval,
            tolerance: interval * u64::from(burst - 1),
        })
    }

    /// The decision for a TAT at a clock reading spanning the ticks `now`: the new TAT,
    /// or the earliest conforming time.
    ///
    /// The request conforms if the TAT allows any moment of the reading's nanosecond,
    /// and the schedule advances from the reading's start. Refusals name the nanosecond
    /// during which the permit falls due, so a caller retrying at exactly that reading
    /// conforms and the schedule continues from the exact TAT: sub-nanosecond rounding
    /// never pushes it back.
    #[inline]
    fn decide(&self, tat: u64, (now_start, now_end): (u64, u64)) -> Result<u64, u64> {
        let earliest = tat.saturating_sub(self.tolerance);
        if earliest > now_end {
            Err(earliest)
        } else {
            Ok(tat.max(now_start) + self.interval)
        }
    }
}

/// A lock-free token bucket: `rate` permits per second on average, up to `burst` at once.
///
/// Clock jumps: if the clock moves backwards, no extra permits appear; permits resume
/// when the clock passes the schedule again, as if the permits already granted had all
/// been granted at the later time. If it jumps forwards, the bucket refills to `burst`,
/// as after an idle period.
#[derive(Debug)]
pub struct TokenBucket<C: Clock = MonotonicClock> {
    tat: AtomicU64,
    gcra: Gcra,
    clock: C,
}

impl TokenBucket<MonotonicClock> {
    /// A bucket on the real clock; fails on a rate that is not finite and > 0 (or outside
    /// 1e-6..=1e9 per second) and on a burst of 0.
    pub fn new(rate: f64, burst: u32) -> Result<Self, RateError> {
        Self::with_clock(rate, burst, MonotonicClock::new())
    }
}

impl<C: Clock> TokenBucket<C> {
    /// A bucket on the given clock; same checks as [`TokenBucket::new`].
    pub fn with_clock(rate: f64, burst: u32, clock: C) -> Result<Self, RateError> {
        Ok(TokenBucket {
            tat: AtomicU64::new(0),
            gcra: Gcra::new(rate, burst)?,
            clock,
        })
    }

    /// The burst size: how many permits can be taken at once after an idle period.
    pub fn burst(&self) -> u32 {
        self.gcra.burst
    }

    /// Takes the next slot in the schedule now and returns when it is due (ticks), with
    /// the TAT before and after, so that an abandoned reservation can be handed back.
    fn reserve(&self, (now, _): (u64, u64)) -> Reservation<'_, C> {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now) + self.gcra.interval;
            // Relaxed is enough: the TAT's own modification order is all the algorithm
            // needs; no other memory is published through it.
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Reservation {
                        bucket: self,
                        due: tat.saturating_sub(self.gcra.tolerance).max(now),
                        before: tat,
                        after: next,
                        armed: true,
                    };
                }
                Err(actual) => tat = actual,
            }
        }
    }
}

/// A slot taken by `acquire`; handed back if the waiting future is dropped before its
/// time and no later slot has been taken since.
struct Reservation<'a, C: Clock> {
    bucket: &'a TokenBucket<C>,
    due: u64,
    before: u64,
    after: u64,
    armed: bool,
}

impl<C: Clock> Drop for Reservation<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.bucket.tat.compare_exchange(
                self.after,
                self.before,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }
}

impl<C: Clock> RateLimiter for TokenBucket<C> {
    type Clock = C;

    fn clock(&self) -> &C {
        &self.clock
    }

    #[inline]
    fn try_acquire(&self) -> Result<(), NotUntil> {
        #[cfg(feature = "extra-work")]
        crate::extra_work::bucket();
        let now = ticks(self.clock.now());
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            match self.gcra.decide(tat, now) {
                Err(earliest) => return Err(NotUntil::new(ns_of(earliest), ns_of(now.0))),
                Ok(next) => match self.tat.compare_exchange_weak(
                    tat,
                    next,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(()),
                    Err(actual) => tat = actual,
                },
            }
        }
    }

    /// Reserves the next slot immediately (first come, first served) and sleeps until
    /// it is due. Because the slot is fixed when `acquire` is called, a wake-up that is
    /// late by less than one interval never delays later permits: the schedule does
    /// not drift. Dropping the future before its slot hands the slot back if no later
    /// slot has been reserved since; otherwise that slot goes unused.
    async fn acquire(&self) {
        let now = ticks(self.clock.now());
        let mut reservation = self.reserve(now);
        if reservation.due > now.1 {
            self.clock.sleep_until(ns_of(reservation.due)).await;
        }
        reservation.armed = false;
    }

    fn rate(&self) -> f64 {
        self.gcra.rate
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// The same token bucket as [`TokenBucket`], with its state behind a `Mutex`: the
/// lock-based design the benches compare the atomic one against.
#[derive(Debug)]
pub struct MutexTokenBucket<C: Clock = MonotonicClock> {
    tat: Mutex<u64>,
    gcra: Gcra,
    clock: C,
}

impl MutexTokenBucket<MonotonicClock> {
    /// A bucket on the real clock; same checks as [`TokenBucket::new`].
    pub fn new(rate: f64, burst: u32) -> Result<Self, RateError> {
        Self::with_clock(rate, burst, MonotonicClock::new())
    }
}

impl<C: Clock> MutexTokenBucket<C> {
    /// A bucket on the given clock; same checks as [`TokenBucket::new`].
    pub fn with_clock(rate: f64, burst: u32, clock: C) -> Result<Self, RateError> {
        Ok(MutexTokenBucket {
            tat: Mutex::new(0),
            gcra: Gcra::new(rate, burst)?,
            clock,
        })
    }
}

impl<C: Clock> RateLimiter for MutexTokenBucket<C> {
    type Clock = C;

    fn clock(&self) -> &C {
        &self.clock
    }

    fn try_acquire(&self) -> Result<(), NotUntil> {
        let now = ticks(self.clock.now());
        // The state is a plain number, valid whatever a panicking holder did.
        let mut tat = self.tat.lock().unwrap_or_else(PoisonError::into_inner);
        match self.gcra.decide(*tat, now) {
            Ok(next) => {
                *tat = next;
                Ok(())
            }
            Err(earliest) => Err(NotUntil::new(ns_of(earliest), ns_of(now.0))),
        }
    }

    fn rate(&self) -> f64 {
        self.gcra.rate
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::ManualClock;
    use std::time::Duration;

    fn bucket(rate: f64, burst: u32) -> (TokenBucket<ManualClock>, ManualClock) {
        let clock = ManualClock::new();
        (
            TokenBucket::with_clock(rate, burst, clock.clone()).unwrap(),
            clock,
        )
    }

    #[test]
    fn burst_then_exact_spacing() {
        let (b, clock) = bucket(100.0, 3);
        for _ in 0..3 {
            assert!(b.try_acquire().is_ok());
        }
        let refused = b.try_acquire().unwrap_err();
        assert_eq!(
            refused.earliest(),
            10_000_000,
            "next permit one interval (10 ms) later"
        );
        clock.set(9_999_999);
        assert!(b.try_acquire().is_err());
        clock.set(10_000_000);
        assert!(b.try_acquire().is_ok());
        assert!(b.try_acquire().is_err());
    }

    #[test]
    fn fractional_intervals_do_not_drift() {
        // 3 permits per second: 333 333 333.33 ns apart. Permit 3 000 is due at
        // 999.666 666 667 s; ticks of 1/16 ns round each interval by at most 1/32 ns,
        // so the schedule may be off by 3 000 / 32 ns at most (a relative 1e-10).
        let (b, clock) = bucket(3.0, 1);
        let mut granted = 0u64;
        let mut now = 0;
        while granted < 3_000 {
            clock.set(now);
            match b.try_acquire() {
                Ok(()) => granted += 1,
                Err(refused) => now = refused.earliest(),
            }
        }
        assert!(
            now.abs_diff(999_666_666_667) <= 3_000 / 32 + 1,
            "permit 3000 at {now} ns"
        );
    }

    #[test]
    fn bad_parameters_are_errors_naming_them() {
        for rate in [0.0, -5.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = TokenBucket::new(rate, 1).unwrap_err();
            assert!(matches!(err, RateError::Rate(_)), "{rate}: {err}");
        }
        assert_eq!(TokenBucket::new(10.0, 0).unwrap_err(), RateError::Burst);
        assert!(matches!(
            TokenBucket::new(1e10, 1),
            Err(RateError::RateRange { .. })
        ));
        assert!(matches!(
            TokenBucket::new(1e-6, u32::MAX),
            Err(RateError::BurstSpan { .. })
        ));
        assert!(MutexTokenBucket::new(0.0, 1).is_err());
    }

    #[test]
    fn clock_moved_backwards_grants_nothing_extra() {
        let (b, clock) = bucket(10.0, 1);
        clock.set(5_000_000_000);
        assert!(b.try_acquire().is_ok()); // TAT is now 5.1 s
        clock.set(1_000_000_000); // four seconds back
        let refused = b.try_acquire().unwrap_err();
        assert_eq!(refused.earliest(), 5_100_000_000);
        clock.set(5_100_000_000);
        assert!(b.try_acquire().is_ok());
    }

    #[test]
    fn clock_jumping_forwards_refills_only_the_burst() {
        let (b, clock) = bucket(10.0, 2);
        clock.set(3_600_000_000_000); // an hour idle
        assert!(b.try_acquire().is_ok());
        assert!(b.try_acquire().is_ok());
        assert!(b.try_acquire().is_err());
    }

    #[test]
    fn atomic_and_mutex_buckets_decide_alike() {
        // The same irregular request times against both: identical decisions.
        let clock = ManualClock::new();
        let atomic = TokenBucket::with_clock(37.0, 4, clock.clone()).unwrap();
        let locked = MutexTokenBucket::with_clock(37.0, 4, clock.clone()).unwrap();
        let mut rng = crate::workload::SplitMix64::new(9);
        let mut now = 0u64;
        for _ in 0..20_000 {
            now += rng.below(40_000_000);
            clock.set(now);
            assert_eq!(atomic.try_acquire(), locked.try_acquire(), "at {now} ns");
        }
    }

    #[tokio::test]
    async fn acquire_waits_for_its_reserved_slot() {
        let (b, clock) = bucket(100.0, 1);
        let b = std::sync::Arc::new(b);
        b.acquire().await; // immediate: the bucket starts full
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.acquire().await })
        };
        tokio::task::yield_now().await;
        // The waiter holds the slot at 10 ms: a try_acquire cannot jump the queue.
        assert!(b.try_acquire().is_err());
        clock.advance(Duration::from_millis(9));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        clock.advance(Duration::from_millis(1));
        waiter.await.unwrap();
        clock.advance(Duration::from_millis(10));
        assert!(b.try_acquire().is_ok(), "the slot at 20 ms is free");
    }

    #[tokio::test]
    async fn dropped_acquire_hands_its_slot_back() {
        let (b, clock) = bucket(100.0, 1);
        assert!(b.try_acquire().is_ok());
        {
            let pending = b.acquire();
            tokio::pin!(pending);
            // Poll once so the slot at 10 ms is reserved, then drop the future.
            assert!(futures_poll_once(pending.as_mut()).await.is_none());
        }
        clock.set(10_000_000);
        assert!(
            b.try_acquire().is_ok(),
            "the abandoned slot is available again"
        );
    }

    /// Polls a future once; `Some` if it completed.
    async fn futures_poll_once<F: Future + Unpin>(mut fut: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
