//! Wall-time benchmarks of the rate limiters' hot path, for regression testing and for
//! the comparison with governor 0.10 (its default quanta clock), measured here in the
//! same run as the yardstick.
//!
//! Every limiter is configured so its quota is never exhausted (1e9 permits per second),
//! so the benches time the granting path, which is what callers pay on every request;
//! each is checked to grant 100 000 calls in a row before it is timed.
//! Ids (`docs/benchmarks.md` lists them):
//! - `rate_limiters/{token_bucket,sliding_log,sliding_counter,mutex_bucket,governor}/try_acquire`:
//!   one thread, one call;
//! - `rate_limiters/{token_bucket,sliding_counter,governor}/contended/2`: two threads
//!   calling one limiter at once; the time is per call per thread;
//! - `rate_limiters/clock/{monotonic,instant}`: one clock read (quanta's counter, and
//!   `std::time::Instant::now()`), the floor under every limiter.
//!
//! Quick mode (CI): `ORCHBENCH_QUICK=1 cargo bench --bench rate_limiters`.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use governor::{Quota, RateLimiter as Governor};
use orchbench::ratelimit::{
    Clock, MonotonicClock, MutexTokenBucket, RateLimiter, SlidingCounter, SlidingLog, TokenBucket,
};

const RATE: u32 = 1_000_000_000;
const BURST: u32 = 1_000_000;
const WINDOW: Duration = Duration::from_millis(1);
/// Permits per `WINDOW` for the sliding limiters: 1e9 per second too.
const WINDOW_LIMIT: u64 = 1_000_000;

/// Something the benches can call in a loop; `true` when the permit was granted.
trait Grant: Sync {
    fn grant(&self) -> bool;
}

impl<L: RateLimiter> Grant for L {
    #[inline]
    fn grant(&self) -> bool {
        self.try_acquire().is_ok()
    }
}

struct GovernorLimiter(governor::DefaultDirectRateLimiter);

impl Grant for GovernorLimiter {
    #[inline]
    fn grant(&self) -> bool {
        self.0.check().is_ok()
    }
}

fn governor() -> GovernorLimiter {
    let quota = Quota::per_second(NonZeroU32::new(RATE).expect("non-zero"))
        .allow_burst(NonZeroU32::new(BURST).expect("non-zero"));
    GovernorLimiter(Governor::direct(quota))
}

fn token_bucket() -> TokenBucket {
    TokenBucket::new(f64::from(RATE), BURST).expect("valid bucket")
}

fn sliding_counter() -> SlidingCounter {
    SlidingCounter::new(WINDOW_LIMIT, WINDOW).expect("valid counter")
}

/// Fails loudly if the configuration would let the bench time refusals.
fn assert_never_exhausted(name: &str, limiter: &impl Grant) {
    let refused = (0..100_000).filter(|_| !limiter.grant()).count();
    assert_eq!(
        refused, 0,
        "{name}: the bench quota was exhausted; the bench would time refusals"
    );
}

fn single(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, limiter: &impl Grant) {
    assert_never_exhausted(name, limiter);
    group.bench_function(BenchmarkId::new(name, "try_acquire"), |b| {
        b.iter(|| limiter.grant())
    });
}

/// Two threads call `limiter` `iters` times each, released together; the sample's time
/// is the slower thread's, so the reported time is per call per thread.
fn contended(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, limiter: &impl Grant) {
    assert_never_exhausted(name, limiter);
    group.bench_function(BenchmarkId::new(format!("{name}/contended"), 2), |b| {
        b.iter_custom(|iters| {
            let start = Barrier::new(2);
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..2)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            let t0 = Instant::now();
                            for _ in 0..iters {
                                black_box(limiter.grant());
                            }
                            t0.elapsed()
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join().expect("bench thread panicked"))
                    .max()
                    .unwrap_or_default()
            })
        })
    });
}

fn rate_limiters(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limiters");
    single(&mut group, "token_bucket", &token_bucket());
    single(
        &mut group,
        "sliding_log",
        &SlidingLog::new(WINDOW_LIMIT, WINDOW).expect("valid log"),
    );
    single(&mut group, "sliding_counter", &sliding_counter());
    single(
        &mut group,
        "mutex_bucket",
        &MutexTokenBucket::new(f64::from(RATE), BURST).expect("valid bucket"),
    );
    single(&mut group, "governor", &governor());

    contended(&mut group, "token_bucket", &token_bucket());
    contended(&mut group, "sliding_counter", &sliding_counter());
    contended(&mut group, "governor", &governor());

    let clock = MonotonicClock::new();
    group.bench_function(BenchmarkId::new("clock", "monotonic"), |b| {
        b.iter(|| clock.now())
    });
    group.bench_function(BenchmarkId::new("clock", "instant"), |b| {
        b.iter(Instant::now)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = orchbench_benches::config();
    targets = rate_limiters
}
criterion_main!(benches);
