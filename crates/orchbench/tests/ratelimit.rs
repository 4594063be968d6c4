//! The rate limiters against their definitions: no limiter ever grants more than its
//! rule allows (checked by brute force over random request times, and under threads
//! racing at one instant), the atomic and the mutex token bucket always agree,
//! `acquire` serves waiters first come first served.

use std::sync::Arc;
use std::time::Duration;

use orchbench::ratelimit::{
    Clock, ManualClock, MutexTokenBucket, RateLimiter, SlidingCounter, SlidingLog, TokenBucket,
};
use proptest::prelude::*;

/// Request times: increasing, with gaps from 0 to `max_gap` ns.
fn request_times(max_gap: u64, len: usize) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(0..=max_gap, 1..len).prop_map(|gaps| {
        gaps.iter()
            .scan(0u64, |t, g| {
                *t += g;
                Some(*t)
            })
            .collect()
    })
}

/// The most grants (sorted times) that fall inside any window of `window` ns.
fn most_in_any_window(granted: &[u64], window: u64) -> u64 {
    (0..granted.len())
        .map(|i| {
            granted[i..]
                .iter()
                .take_while(|&&t| t < granted[i] + window)
                .count() as u64
        })
        .max()
        .unwrap_or(0)
}

/// Runs `limiter` at each time and returns the times of the grants.
fn grants<L: RateLimiter>(limiter: &L, clock: &ManualClock, times: &[u64]) -> Vec<u64> {
    times
        .iter()
        .filter(|&&t| {
            clock.set(t);
            limiter.try_acquire().is_ok()
        })
        .copied()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn token_bucket_never_exceeds_burst_plus_rate(
        rate in 1.0f64..5_000.0,
        burst in 1u32..20,
        times in request_times(3_000_000, 400),
    ) {
        let clock = ManualClock::new();
        let bucket = TokenBucket::with_clock(rate, burst, clock.clone()).unwrap();
        let granted = grants(&bucket, &clock, &times);
        // In any span [a, b] the bucket grants at most burst + (b - a) * rate permits.
        let interval_ns = 1e9 / rate;
        for i in 0..granted.len() {
            for j in i..granted.len() {
                let span = (granted[j] - granted[i]) as f64;
                let allowed = f64::from(burst) + (span / interval_ns + 1e-6).floor();
                prop_assert!(
                    (j - i + 1) as f64 <= allowed,
                    "{} grants in {span} ns at {rate}/s burst {burst}", j - i + 1
                );
            }
        }
    }

    #[test]
    fn atomic_and_mutex_buckets_always_agree(
        rate in 0.5f64..10_000.0,
        burst in 1u32..50,
        times in request_times(5_000_000, 300),
    ) {
        let clock = ManualClock::new();
        let atomic = TokenBucket::with_clock(rate, burst, clock.clone()).unwrap();
        let locked = MutexTokenBucket::with_clock(rate, burst, clock.clone()).unwrap();
        for &t in &times {
            clock.set(t);
            prop_assert_eq!(atomic.try_acquire(), locked.try_acquire());
        }
    }

    #[test]
    fn sliding_log_never_exceeds_its_limit_in_any_window(
        limit in 1u64..12,
        window_ms in 1u64..50,
        times in request_times(4_000_000, 400),
    ) {
        let clock = ManualClock::new();
        let window = window_ms * 1_000_000;
        let log = SlidingLog::with_clock(limit, Duration::from_nanos(window), clock.clone()).unwrap();
        let granted = grants(&log, &clock, &times);
        let most = most_in_any_window(&granted, window);
        prop_assert!(most <= limit, "{most} grants within {window} ns");
    }

    #[test]
    fn sliding_log_grants_whenever_its_window_has_room(
        limit in 1u64..12,
        window_ms in 1u64..50,
        times in request_times(4_000_000, 400),
    ) {
        // Exactness the other way: a refusal means `limit` grants already sit in the window.
        let clock = ManualClock::new();
        let window = window_ms * 1_000_000;
        let log = SlidingLog::with_clock(limit, Duration::from_nanos(window), clock.clone()).unwrap();
        let mut granted: Vec<u64> = Vec::new();
        for &t in &times {
            clock.set(t);
            let in_window = granted.iter().filter(|&&g| g + window > t).count() as u64;
            let ok = log.try_acquire().is_ok();
            prop_assert_eq!(ok, in_window < limit, "at {} with {} in the window", t, in_window);
            if ok {
                granted.push(t);
            }
        }
    }

    #[test]
    fn sliding_counter_stays_within_twice_its_limit(
        limit in 1u64..20,
        window_ms in 1u64..50,
        times in request_times(2_000_000, 500),
    ) {
        // The two-window estimate's documented bound: never more than twice the limit
        // in any sliding window, never more than the limit in one fixed window.
        let clock = ManualClock::new();
        let window = window_ms * 1_000_000;
        let counter = SlidingCounter::with_clock(limit, Duration::from_nanos(window), clock.clone()).unwrap();
        let granted = grants(&counter, &clock, &times);
        let most = most_in_any_window(&granted, window);
        prop_assert!(most <= 2 * limit, "{most} grants within one window");
        let mut per_fixed = std::collections::HashMap::new();
        for &t in &granted {
            *per_fixed.entry(t / window).or_insert(0u64) += 1;
        }
        prop_assert!(per_fixed.values().all(|&n| n <= limit));
    }
}

/// Eight threads race at one instant: exactly `expected` of their calls may succeed.
fn race<L: RateLimiter>(limiter: &L, expected: usize) {
    let granted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    if limiter.try_acquire().is_ok() {
                        granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(granted.into_inner(), expected);
}

#[test]
fn racing_threads_get_exactly_the_quota() {
    let clock = ManualClock::new();
    clock.set(1_000_000_000);
    race(
        &TokenBucket::with_clock(10.0, 777, clock.clone()).unwrap(),
        777,
    );
    race(
        &MutexTokenBucket::with_clock(10.0, 777, clock.clone()).unwrap(),
        777,
    );
    race(
        &SlidingLog::with_clock(555, Duration::from_secs(1), clock.clone()).unwrap(),
        555,
    );
    race(
        &SlidingCounter::with_clock(999, Duration::from_secs(1), clock.clone()).unwrap(),
        999,
    );
}

#[tokio::test]
async fn acquire_serves_waiters_first_come_first_served() {
    let clock = ManualClock::new();
    let bucket = Arc::new(TokenBucket::with_clock(10.0, 1, clock.clone()).unwrap());
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..5 {
        let (bucket, order) = (bucket.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            bucket.acquire().await;
            order.lock().unwrap().push(id);
        }));
        // Let each task reserve its slot before the next one starts.
        tokio::task::yield_now().await;
    }
    for step in 1..=5u64 {
        tokio::task::yield_now().await;
        assert_eq!(
            order.lock().unwrap().len() as u64,
            step,
            "one grant per interval"
        );
        clock.set(step * 100_000_000);
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn sliding_acquire_waits_for_the_window() {
    let clock = ManualClock::new();
    let log = SlidingLog::with_clock(2, Duration::from_secs(1), clock.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        log.acquire().await;
        log.acquire().await;
        let third = log.acquire();
        tokio::pin!(third);
        assert!(futures_poll(third.as_mut()).is_pending());
        clock.set(999_999_999);
        assert!(futures_poll(third.as_mut()).is_pending());
        clock.set(1_000_000_000);
        third.await;
        assert_eq!(clock.now(), 1_000_000_000);
    });
}

fn futures_poll<F: std::future::Future + ?Sized>(
    fut: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}
