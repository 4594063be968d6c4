//! The rate limiters' pacing scenarios (the published
//! tool-execution benchmarks' token-bucket and sliding-window tests, and more). A [`Scenario`] (a
//! limiter, a load, a duration) runs either instantly on a [`ManualClock`]
//! ([`run_virtual`], a discrete-event simulation driving the real limiter's `try_acquire`)
//! or against the real clock ([`run_real`], tokio tasks awaiting `acquire`), and yields a
//! [`ScenarioReport`]: achieved rate and accuracy, per-second rate mean ± sd, wait latency,
//! queue depth and the limiter's memory.
//!
//! Definitions (`docs/ratelimit.md` has the reasoning):
//! - the run measures the window `[0, duration)`; `granted` counts grants inside it,
//!   and `achieved_rate = granted / duration`, `accuracy = achieved_rate / target_rate`;
//! - a **closed** load is `clients` callers that each ask again as soon as they are
//!   granted (the limiter is the bottleneck all the time: this is what accuracy needs);
//!   an **open** load is requests arriving on a schedule at `offered` per second,
//!   Poisson or evenly spaced, each waiting until granted;
//! - wait = grant time − request time (for an open load, the scheduled arrival time,
//!   so a stalled driver cannot hide its stall); queue depth = requests waiting when a
//!   request arrives, not counting itself.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::percentile;
use orchbench::ratelimit::{
    Clock, ManualClock, MonotonicClock, NotUntil, RateError, RateLimiter, SlidingCounter,
    SlidingLog, TokenBucket,
};
use orchbench::workload::SplitMix64;

/// Which limiter a scenario runs, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum LimiterKind {
    /// [`TokenBucket`] with `rate` per second and `burst`.
    TokenBucket {
        /// Permits per second.
        rate: f64,
        /// Permits available at once.
        burst: u32,
    },
    /// [`SlidingLog`]: at most `limit` per `window`, exactly.
    SlidingLog {
        /// Permits per window.
        limit: u64,
        /// The window length.
        window: Duration,
    },
    /// [`SlidingCounter`]: at most about `limit` per `window`.
    SlidingCounter {
        /// Permits per window.
        limit: u64,
        /// The window length.
        window: Duration,
    },
}

impl LimiterKind {
    /// The long-run rate the limiter allows, permits per second.
    pub fn target_rate(&self) -> f64 {
        match *self {
            LimiterKind::TokenBucket { rate, .. } => rate,
            LimiterKind::SlidingLog { limit, window }
            | LimiterKind::SlidingCounter { limit, window } => limit as f64 / window.as_secs_f64(),
        }
    }

    /// A short description, e.g. `token bucket 100/s burst 1`.
    pub fn describe(&self) -> String {
        match *self {
            LimiterKind::TokenBucket { rate, burst } => {
                format!("token bucket {rate}/s burst {burst}")
            }
            LimiterKind::SlidingLog { limit, window } => {
                format!("sliding log {limit} per {window:?}")
            }
            LimiterKind::SlidingCounter { limit, window } => {
                format!("sliding counter {limit} per {window:?}")
            }
        }
    }

    /// Builds the limiter on `clock`.
    pub fn build<C: Clock>(&self, clock: C) -> Result<AnyLimiter<C>, RateError> {
        Ok(match *self {
            LimiterKind::TokenBucket { rate, burst } => {
                AnyLimiter::TokenBucket(TokenBucket::with_clock(rate, burst, clock)?)
            }
            LimiterKind::SlidingLog { limit, window } => {
                AnyLimiter::SlidingLog(SlidingLog::with_clock(limit, window, clock)?)
            }
            LimiterKind::SlidingCounter { limit, window } => {
                AnyLimiter::SlidingCounter(SlidingCounter::with_clock(limit, window, clock)?)
            }
        })
    }
}

/// One of this module's limiters, chosen at run time.
#[derive(Debug)]
pub enum AnyLimiter<C: Clock> {
    /// A token bucket.
    TokenBucket(TokenBucket<C>),
    /// An exact sliding log.
    SlidingLog(SlidingLog<C>),
    /// A sliding-counter estimate.
    SlidingCounter(SlidingCounter<C>),
}

impl<C: Clock> RateLimiter for AnyLimiter<C> {
    type Clock = C;

    fn clock(&self) -> &C {
        match self {
            AnyLimiter::TokenBucket(l) => l.clock(),
            AnyLimiter::SlidingLog(l) => l.clock(),
            AnyLimiter::SlidingCounter(l) => l.clock(),
        }
    }

    fn try_acquire(&self) -> Result<(), NotUntil> {
        match self {
            AnyLimiter::TokenBucket(l) => l.try_acquire(),
            AnyLimiter::SlidingLog(l) => l.try_acquire(),
            AnyLimiter::SlidingCounter(l) => l.try_acquire(),
        }
    }

    async fn acquire(&self) {
        match self {
            // The token bucket's own acquire reserves its slot; keep it.
            AnyLimiter::TokenBucket(l) => l.acquire().await,
            AnyLimiter::SlidingLog(l) => l.acquire().await,
            AnyLimiter::SlidingCounter(l) => l.acquire().await,
        }
    }

    fn rate(&self) -> f64 {
        match self {
            AnyLimiter::TokenBucket(l) => l.rate(),
            AnyLimiter::SlidingLog(l) => l.rate(),
            AnyLimiter::SlidingCounter(l) => l.rate(),
        }
    }

    fn memory_bytes(&self) -> usize {
        match self {
            AnyLimiter::TokenBucket(l) => l.memory_bytes(),
            AnyLimiter::SlidingLog(l) => l.memory_bytes(),
            AnyLimiter::SlidingCounter(l) => l.memory_bytes(),
        }
    }
}

/// How requests reach the limiter.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// `clients` callers, each asking again as soon as it is granted.
    Closed {
        /// Concurrent callers.
        clients: usize,
    },
    /// Requests arriving at `offered` per second, each waiting until granted.
    Open {
        /// Arrivals per second.
        offered: f64,
        /// Exponential gaps (a Poisson process) instead of even spacing.
        poisson: bool,
    },
}

impl Load {
    fn describe(&self) -> String {
        match *self {
            Load::Closed { clients } => format!("closed, {clients} clients"),
            Load::Open {
                offered,
                poisson: true,
            } => format!("open, Poisson {offered}/s"),
            Load::Open {
                offered,
                poisson: false,
            } => format!("open, even {offered}/s"),
        }
    }
}

/// Which of the standard scenarios to run (`perf-test ratelimit --scenario`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioSet {
    /// Every scenario.
    All,
    /// The token bucket at 100/s for 1000 requests.
    TokenBucket,
    /// The sliding log and the sliding counter at 500/s sustained.
    SlidingWindow,
}

/// A scenario: a limiter under a load for a duration.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The name reports carry.
    pub name: String,
    /// The limiter and its parameters.
    pub limiter: LimiterKind,
    /// How requests arrive.
    pub load: Load,
    /// The measured window `[0, duration)`.
    pub duration: Duration,
    /// The seed of the arrival schedule (open, Poisson loads).
    pub seed: u64,
}

/// Why a scenario cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// The limiter's parameters are invalid.
    #[error("scenario `{scenario}`: {source}")]
    Limiter {
        /// The scenario's name.
        scenario: String,
        /// What is wrong with the limiter.
        source: RateError,
    },
    /// A load or duration parameter is invalid.
    #[error("scenario `{scenario}`: {field} must be {expected}, got {value}")]
    Parameter {
        /// The scenario's name.
        scenario: String,
        /// The parameter's name.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// The rejected value.
        value: String,
    },
    /// The tokio runtime for a real-clock run could not start.
    #[error("scenario `{scenario}`: cannot start the async runtime: {message}")]
    Runtime {
        /// The scenario's name.
        scenario: String,
        /// The runtime's error.
        message: String,
    },
}

impl Scenario {
    /// The published tool-execution benchmarks' token-bucket test, "1000 requests with a 100/s limit": a token
    /// bucket at 100/s with burst 1, saturated by 4 clients for the 10 s that 1000
    /// permits take.
    pub fn token_bucket_100_per_s() -> Scenario {
        Scenario {
            name: "token-bucket".into(),
            limiter: LimiterKind::TokenBucket {
                rate: 100.0,
                burst: 1,
            },
            load: Load::Closed { clients: 4 },
            duration: Duration::from_secs(10),
            seed: orchbench::workload::DEFAULT_SEED,
        }
    }

    /// The published tool-execution benchmarks' sliding-window test, "sustained 500 requests/s": a
    /// sliding log of 500 per second, saturated by 4 clients, for `duration`.
    pub fn sliding_window_500_per_s(duration: Duration) -> Scenario {
        Scenario {
            name: "sliding-window".into(),
            limiter: LimiterKind::SlidingLog {
                limit: 500,
                window: Duration::from_secs(1),
            },
            load: Load::Closed { clients: 4 },
            duration,
            seed: orchbench::workload::DEFAULT_SEED,
        }
    }

    /// The standard pacing scenarios `set` selects: the token-bucket test, and the
    /// sliding-window test for `sliding` on the sliding log and on the sliding counter.
    pub fn standard(set: ScenarioSet, sliding: Duration) -> Vec<Scenario> {
        let mut list = Vec::new();
        if set != ScenarioSet::SlidingWindow {
            list.push(Scenario::token_bucket_100_per_s());
        }
        if set != ScenarioSet::TokenBucket {
            let log = Scenario::sliding_window_500_per_s(sliding);
            let mut counter = log.clone();
            counter.name = "sliding-counter".into();
            counter.limiter = LimiterKind::SlidingCounter {
                limit: 500,
                window: Duration::from_secs(1),
            };
            list.push(log);
            list.push(counter);
        }
        list
    }

    /// The longest scenario: one day.
    pub const MAX_DURATION: Duration = Duration::from_secs(86_400);
    /// The most clients a closed load may have.
    pub const MAX_CLIENTS: usize = 1_000_000;
    /// The most arrivals an open load may schedule (`offered × duration`).
    pub const MAX_ARRIVALS: f64 = 50_000_000.0;

    /// Checks the load and duration (the limiter is checked when built). The bounds
    /// keep a mistyped argument from exhausting memory instead of reporting an error.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |field, expected, value: String| ScenarioError::Parameter {
            scenario: self.name.clone(),
            field,
            expected,
            value,
        };
        if self.duration.is_zero() || self.duration > Self::MAX_DURATION {
            return Err(bad(
                "duration",
                "between 1 ns and 24 h",
                format!("{:?}", self.duration),
            ));
        }
        match self.load {
            Load::Closed { clients } if clients == 0 || clients > Self::MAX_CLIENTS => Err(bad(
                "clients",
                "between 1 and 1 000 000",
                clients.to_string(),
            )),
            Load::Open { offered, .. } if !(offered.is_finite() && offered > 0.0) => {
                Err(bad("offered", "a finite rate > 0", offered.to_string()))
            }
            Load::Open { offered, .. }
                if offered * self.duration.as_secs_f64() > Self::MAX_ARRIVALS =>
            {
                Err(bad(
                    "offered",
                    "at most 50 000 000 arrivals over the duration",
                    format!("{offered}/s for {:?}", self.duration),
                ))
            }
            _ => Ok(()),
        }
    }

    fn build<C: Clock>(&self, clock: C) -> Result<AnyLimiter<C>, ScenarioError> {
        self.validate()?;
        self.limiter
            .build(clock)
            .map_err(|source| ScenarioError::Limiter {
                scenario: self.name.clone(),
                source,
            })
    }

    /// The open load's arrival times in `[0, duration)`, nanoseconds.
    fn arrivals(&self, offered: f64, poisson: bool) -> Vec<u64> {
        let end = self.duration.as_nanos() as f64;
        let mean_gap = 1e9 / offered;
        let mut rng = SplitMix64::new(self.seed);
        let mut t = 0.0;
        let mut times = Vec::new();
        while t < end {
            times.push(t as u64);
            let gap = if poisson {
                -(1.0 - rng.unit()).ln() * mean_gap
            } else {
                mean_gap
            };
            t += gap;
        }
        times
    }
}

/// What a scenario run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// `virtual` (manual clock, simulated) or `real`.
    pub clock: String,
    /// The limiter, e.g. `token bucket 100/s burst 1`.
    pub limiter: String,
    /// The load, e.g. `closed, 4 clients`.
    pub load: String,
    /// The measured window, seconds.
    pub duration_s: f64,
    /// The limiter's long-run rate, permits per second.
    pub target_rate: f64,
    /// Grants inside the window.
    pub granted: u64,
    /// `granted / duration_s`.
    pub achieved_rate: f64,
    /// `achieved_rate / target_rate`.
    pub accuracy: f64,
    /// Mean of the grants in each whole second of the window.
    pub per_second_mean: f64,
    /// Sample standard deviation of the grants in each whole second.
    pub per_second_sd: f64,
    /// Mean wait from request to grant, milliseconds.
    pub wait_avg_ms: f64,
    /// 95th percentile wait, milliseconds.
    pub wait_p95_ms: f64,
    /// Longest wait, milliseconds.
    pub wait_max_ms: f64,
    /// 95th percentile of the requests already waiting when one arrives.
    pub queue_depth_p95: u64,
    /// Open loads: requests that arrived in the window but were not granted in it.
    pub pending_at_end: u64,
    /// The limiter's memory at the end of the run, bytes.
    pub memory_bytes: usize,
}

/// What a driver recorded: `(request, grant)` times and queue depths seen on arrival.
#[derive(Debug, Default)]
struct Record {
    grants: Vec<(u64, u64)>,
    depths: Vec<u64>,
    arrivals: u64,
}

fn summarize(
    scenario: &Scenario,
    clock: &str,
    mut record: Record,
    memory_bytes: usize,
) -> ScenarioReport {
    let end = scenario.duration.as_nanos() as u64;
    let seconds = scenario.duration.as_secs_f64();
    record.grants.retain(|&(_, grant)| grant < end);
    let granted = record.grants.len() as u64;
    let achieved = granted as f64 / seconds;
    let target = scenario.limiter.target_rate();

    // Per whole second of the window (a partial last second is left out).
    let whole = (end / 1_000_000_000).max(1) as usize;
    let mut per_second = vec![0u64; whole];
    for &(_, grant) in &record.grants {
        if let Some(slot) = per_second.get_mut((grant / 1_000_000_000) as usize) {
            *slot += 1;
        }
    }
    let mean = per_second.iter().sum::<u64>() as f64 / whole as f64;
    let sd = if whole > 1 {
        let var = per_second
            .iter()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum::<f64>()
            / (whole - 1) as f64;
        var.sqrt()
    } else {
        0.0
    };

    let mut waits: Vec<u64> = record
        .grants
        .iter()
        .map(|&(req, grant)| grant.saturating_sub(req))
        .collect();
    waits.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let wait_avg = if waits.is_empty() {
        0.0
    } else {
        waits.iter().map(|&w| w as f64).sum::<f64>() / waits.len() as f64 / 1e6
    };
    record.depths.sort_unstable();
    let pending = match scenario.load {
        Load::Open { .. } => record.arrivals.saturating_sub(granted),
        Load::Closed { .. } => 0,
    };

    ScenarioReport {
        name: scenario.name.clone(),
        clock: clock.into(),
        limiter: scenario.limiter.describe(),
        load: scenario.load.describe(),
        duration_s: seconds,
        target_rate: target,
        granted,
        achieved_rate: achieved,
        accuracy: achieved / target,
        per_second_mean: if end >= 1_000_000_000 { mean } else { achieved },
        per_second_sd: sd,
        wait_avg_ms: wait_avg,
        wait_p95_ms: ms(percentile(&waits, 95.0)),
        wait_max_ms: ms(waits.last().copied().unwrap_or(0)),
        queue_depth_p95: percentile(&record.depths, 95.0),
        pending_at_end: pending,
        memory_bytes,
    }
}

/// Runs `scenario` instantly on a manual clock: a discrete-event simulation in which
/// each request calls the limiter's `try_acquire` at its time and, when refused, again
/// at the time the refusal names. Ties go to the older request. Exact and repeatable.
pub fn run_virtual(scenario: &Scenario) -> Result<ScenarioReport, ScenarioError> {
    let clock = ManualClock::new();
    let limiter = scenario.build(clock.clone())?;
    let end = scenario.duration.as_nanos() as u64;
    let mut record = Record::default();
    // Events: (time, request sequence number, caller). Ties go to the older request,
    // so callers are served first come, first served.
    let mut events: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut requested_at: Vec<u64> = Vec::new();
    let mut sequence = 0u64;
    let mut waiting = 0u64;
    let mut request =
        |events: &mut BinaryHeap<_>, requested_at: &mut Vec<u64>, caller: usize, at: u64| {
            if caller == requested_at.len() {
                requested_at.push(at);
            } else {
                requested_at[caller] = at;
            }
            events.push(Reverse((at, sequence, caller)));
            sequence += 1;
        };
    let open_arrivals = match scenario.load {
        Load::Closed { clients } => {
            for caller in 0..clients {
                record.depths.push(caller as u64);
                request(&mut events, &mut requested_at, caller, 0);
            }
            waiting = clients as u64;
            record.arrivals = clients as u64;
            None
        }
        Load::Open { offered, poisson } => Some(scenario.arrivals(offered, poisson)),
    };
    let mut next_arrival = 0usize;
    loop {
        // Admit open-load arrivals due no later than the next retry.
        if let Some(arrivals) = &open_arrivals {
            let next_event = events.peek().map_or(u64::MAX, |Reverse((t, _, _))| *t);
            if let Some(&at) = arrivals.get(next_arrival)
                && at <= next_event
            {
                record.depths.push(waiting);
                record.arrivals += 1;
                waiting += 1;
                request(&mut events, &mut requested_at, next_arrival, at);
                next_arrival += 1;
                continue;
            }
        }
        let Some(Reverse((t, seq, caller))) = events.pop() else {
            break;
        };
        if t >= end {
            break;
        }
        clock.set(t);
        match limiter.try_acquire() {
            Ok(()) => {
                record.grants.push((requested_at[caller], t));
                if let Load::Closed { .. } = scenario.load {
                    // The client asks again at once: a new request by the same caller.
                    record.depths.push(waiting - 1);
                    request(&mut events, &mut requested_at, caller, t);
                } else {
                    waiting -= 1;
                }
            }
            // A retry keeps the request's place in line.
            Err(refused) => events.push(Reverse((refused.earliest().max(t + 1), seq, caller))),
        }
    }
    Ok(summarize(
        scenario,
        "virtual",
        record,
        limiter.memory_bytes(),
    ))
}

/// A limiter the real-clock driver can await: every [`RateLimiter`], and anything else
/// wrapped to offer an async `acquire` (the examples wrap governor this way).
pub trait AsyncLimiter: Send + Sync + 'static {
    /// Waits for a permit.
    fn acquire_permit(&self) -> impl Future<Output = ()> + Send;
    /// Bytes the limiter occupies.
    fn memory_used(&self) -> usize;
}

impl<L: RateLimiter + 'static> AsyncLimiter for L {
    fn acquire_permit(&self) -> impl Future<Output = ()> + Send {
        self.acquire()
    }

    fn memory_used(&self) -> usize {
        RateLimiter::memory_bytes(self)
    }
}

/// Runs `scenario` against the real clock on a current-thread tokio runtime, using this
/// module's limiter for it. Takes `duration` (plus up to one window for the last waiters).
pub fn run_real(scenario: &Scenario) -> Result<ScenarioReport, ScenarioError> {
    let limiter = Arc::new(scenario.build(MonotonicClock::new())?);
    run_real_with(scenario, limiter)
}

/// Runs `scenario`'s load against any [`AsyncLimiter`] on the real clock; the limiter
/// in `scenario` only names the target rate. For same-run comparisons with other crates.
pub fn run_real_with<L: AsyncLimiter>(
    scenario: &Scenario,
    limiter: Arc<L>,
) -> Result<ScenarioReport, ScenarioError> {
    scenario.validate()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| ScenarioError::Runtime {
            scenario: scenario.name.clone(),
            message: e.to_string(),
        })?;
    let record = runtime.block_on(drive_real(scenario, limiter.clone()));
    Ok(summarize(scenario, "real", record, limiter.memory_used()))
}

/// Shared state of a real-clock run.
struct RealRun<L> {
    limiter: Arc<L>,
    clock: MonotonicClock,
    record: Mutex<Record>,
    waiting: std::sync::atomic::AtomicU64,
}

impl<L: AsyncLimiter> RealRun<L> {
    /// One request made at `requested`: counts the queue it joins, waits, records.
    async fn request(&self, requested: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        let ahead = self.waiting.fetch_add(1, SeqCst);
        {
            let mut record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
            record.depths.push(ahead);
            record.arrivals += 1;
        }
        self.limiter.acquire_permit().await;
        let granted = self.clock.now();
        self.waiting.fetch_sub(1, SeqCst);
        let mut record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        record.grants.push((requested, granted));
    }
}

async fn drive_real<L: AsyncLimiter>(scenario: &Scenario, limiter: Arc<L>) -> Record {
    let run = Arc::new(RealRun {
        limiter,
        clock: MonotonicClock::new(),
        record: Mutex::new(Record::default()),
        waiting: Default::default(),
    });
    let end = scenario.duration.as_nanos() as u64;
    let mut tasks = tokio::task::JoinSet::new();
    match scenario.load {
        Load::Closed { clients } => {
            for _ in 0..clients {
                let run = run.clone();
                tasks.spawn(async move {
                    loop {
                        let now = run.clock.now();
                        if now >= end {
                            break;
                        }
                        run.request(now).await;
                    }
                });
            }
        }
        Load::Open { offered, poisson } => {
            for at in scenario.arrivals(offered, poisson) {
                run.clock.sleep_until(at).await;
                let run = run.clone();
                // Latency counts from the scheduled arrival, not from when the
                // driver got round to it.
                tasks.spawn(async move { run.request(at).await });
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    let mut record = run.record.lock().unwrap_or_else(PoisonError::into_inner);
    std::mem::take(&mut *record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_token_bucket_is_exact() {
        let report = run_virtual(&Scenario::token_bucket_100_per_s()).unwrap();
        assert_eq!(report.granted, 1000);
        assert_eq!(report.accuracy, 1.0);
        assert_eq!(report.per_second_mean, 100.0);
        assert_eq!(report.per_second_sd, 0.0);
        // Four clients take turns: each waits four intervals (the first three less).
        assert!(
            (report.wait_avg_ms - 39.9).abs() < 0.01,
            "{}",
            report.wait_avg_ms
        );
        assert_eq!(report.queue_depth_p95, 3);
    }

    #[test]
    fn virtual_sliding_window_is_exact() {
        let report =
            run_virtual(&Scenario::sliding_window_500_per_s(Duration::from_secs(10))).unwrap();
        assert_eq!(report.granted, 5000);
        assert_eq!(report.accuracy, 1.0);
        assert!(report.memory_bytes <= std::mem::size_of::<SlidingLog<ManualClock>>() + 500 * 8);
    }

    #[test]
    fn sliding_counter_reaches_its_rate_under_saturation() {
        let mut scenario = Scenario::sliding_window_500_per_s(Duration::from_secs(10));
        scenario.limiter = LimiterKind::SlidingCounter {
            limit: 500,
            window: Duration::from_secs(1),
        };
        let report = run_virtual(&scenario).unwrap();
        assert!(
            (report.accuracy - 1.0).abs() <= 0.001,
            "{}",
            report.accuracy
        );
    }

    #[test]
    fn open_load_below_the_limit_is_not_throttled() {
        let scenario = Scenario {
            name: "open".into(),
            limiter: LimiterKind::TokenBucket {
                rate: 100.0,
                burst: 1,
            },
            load: Load::Open {
                offered: 50.0,
                poisson: false,
            },
            duration: Duration::from_secs(4),
            seed: 1,
        };
        let report = run_virtual(&scenario).unwrap();
        assert_eq!(report.granted, 200);
        assert_eq!(report.wait_max_ms, 0.0);
        assert_eq!(report.queue_depth_p95, 0);
        assert_eq!(report.pending_at_end, 0);
    }

    #[test]
    fn open_overload_queues_and_leaves_requests_pending() {
        let scenario = Scenario {
            name: "overload".into(),
            limiter: LimiterKind::TokenBucket {
                rate: 100.0,
                burst: 1,
            },
            load: Load::Open {
                offered: 150.0,
                poisson: true,
            },
            duration: Duration::from_secs(5),
            seed: 3,
        };
        let report = run_virtual(&scenario).unwrap();
        assert!((report.accuracy - 1.0).abs() < 0.01, "{}", report.accuracy);
        assert!(report.pending_at_end > 100, "{}", report.pending_at_end);
        assert!(report.queue_depth_p95 > 50, "{}", report.queue_depth_p95);
    }

    #[test]
    fn bad_scenarios_are_errors_naming_the_field() {
        type Change<'a> = &'a dyn Fn(&mut Scenario);
        let error_of = |change: Change| {
            let mut s = Scenario::token_bucket_100_per_s();
            change(&mut s);
            run_virtual(&s).unwrap_err().to_string()
        };
        let cases: [(Change, &str); 7] = [
            (
                &|s| s.duration = Duration::ZERO,
                "duration must be between 1 ns and 24 h",
            ),
            (
                &|s| s.duration = Duration::from_secs(86_401),
                "duration must be between",
            ),
            (
                &|s| s.load = Load::Closed { clients: 0 },
                "clients must be between 1 and",
            ),
            (
                &|s| {
                    s.load = Load::Closed {
                        clients: 10_000_000,
                    }
                },
                "clients must be between 1 and",
            ),
            (
                &|s| {
                    s.load = Load::Open {
                        offered: f64::NAN,
                        poisson: true,
                    }
                },
                "offered must be a finite rate > 0",
            ),
            (
                &|s| {
                    s.load = Load::Open {
                        offered: 1e9,
                        poisson: true,
                    }
                },
                "at most 50 000 000 arrivals",
            ),
            (
                &|s| {
                    s.limiter = LimiterKind::TokenBucket {
                        rate: 0.0,
                        burst: 1,
                    }
                },
                "rate must be",
            ),
        ];
        for (change, expected) in cases {
            let err = error_of(change);
            assert!(
                err.contains(expected) && err.contains("token-bucket"),
                "{err}"
            );
        }
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile::<u64>(&[], 95.0), 0);
        assert_eq!(percentile(&[7u64], 50.0), 7);
    }
}
