//! The open-loop load scenarios (the published tool-execution benchmarks'
//! sustained, burst and stress loads) on the scheduler's pool.
//!
//! Requests arrive on a schedule fixed in advance (a Poisson process by default,
//! evenly spaced with `even`), whatever the pool is doing: an open loop. Each request's
//! latency counts from its *intended* arrival, so a stalled driver or a full queue
//! shows as latency instead of hiding itself (no coordinated omission).
//!
//! A request is a task of `task_time` on a pool of `workers`. That pool serves at most
//! `workers / task_time` requests per second (1 000/s with the defaults), and holds at
//! most `queue` waiting requests. An arrival at a full pool is rejected, and a request
//! that ends later than `request_timeout` after its arrival has timed out; both are
//! errors. The profiles:
//! - `sustained`: rate R for D seconds. Figures: latency p50/p95/p99, success rate,
//!   RSS growth over the run.
//! - `burst`: cycles of idle then R per second. Figures: the queue depth's peak,
//!   recovery time (from a burst's end until the queue has drained, after which a new
//!   arrival waits for nothing) and the error rate during bursts.
//! - `ramp`: the rate rises linearly from `from` to `to`, then drops back to `from`
//!   for a cool-down. Figures: the breaking point, that is the offered rate of the
//!   first one-second window whose p95 exceeds the SLO or whose error rate exceeds the
//!   budget, and the recovery time after the drop.
//!
//! The defaults are the published tool-execution benchmarks' scenarios, scaled to finish within a
//! minute; `full` gives their real lengths (10 min, 10 min, 30 min).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::driver::{End, Schedule, drive};
use crate::PerfError;
use crate::workflow::Latency;
use orchbench::monitor::{MonitorConfig, MonitorReport, ResourceMonitor};
use orchbench::scheduler::{Backpressure, Pool, PoolConfig, Shutdown};
use orchbench::timing::{Clock, MonotonicClock};
use orchbench::workload::SplitMix64;

/// Which load shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// A constant rate.
    Sustained,
    /// Idle/burst cycles.
    Burst,
    /// A rising rate until it breaks, then a drop.
    Ramp,
    /// Twice the capacity, then well below it, on an adaptive pool under each
    /// backpressure policy ([`super::overload`]).
    Overload,
}

impl ProfileKind {
    /// `sustained`, `burst` or `ramp`.
    pub fn name(self) -> &'static str {
        match self {
            ProfileKind::Sustained => "sustained",
            ProfileKind::Burst => "burst",
            ProfileKind::Ramp => "ramp",
            ProfileKind::Overload => "overload",
        }
    }
}

/// One stretch of the schedule: its rate goes linearly from `from` to `to` per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Segment {
    /// Length, seconds.
    pub seconds: f64,
    /// Rate at its start, requests per second.
    pub from: f64,
    /// Rate at its end, requests per second.
    pub to: f64,
    /// Whether it is a burst (burst) or the rising part (ramp): the part judged.
    pub judged: bool,
}

/// A profile to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileConfig {
    /// The shape.
    pub kind: ProfileKind,
    /// The schedule, one segment after another.
    pub segments: Vec<Segment>,
    /// Pool workers.
    pub workers: usize,
    /// How long one request keeps a worker.
    pub task_time: Duration,
    /// Requests that may wait beyond the busy workers; more are rejected.
    pub queue: usize,
    /// A request that ends later than this after its arrival counts as an error.
    pub request_timeout: Duration,
    /// Ramp: the p95 latency a one-second window may have.
    pub slo_p95: Duration,
    /// Ramp: the error rate a one-second window may have.
    pub error_budget: f64,
    /// Evenly spaced arrivals instead of a Poisson process.
    pub even: bool,
    /// The Poisson process's seed.
    pub seed: u64,
}

/// The numbers that shape a profile's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Shape {
    /// Sustained: the rate; burst: the rate during a burst; ramp: the top rate;
    /// overload: the overload's rate.
    pub rate: f64,
    /// Sustained: the length; burst: each idle and each burst stretch; ramp: the rise;
    /// overload: the overload's length.
    pub seconds: f64,
    /// Burst: how many idle + burst cycles.
    pub cycles: usize,
    /// Ramp: the rate at the start, and during the cool-down after the drop; overload:
    /// the rate after it.
    pub from: f64,
    /// Ramp: the cool-down's length; overload: the length of the stretch after it.
    pub cooldown: f64,
}

impl Shape {
    /// The reference scenarios' numbers, scaled so that each profile takes at most a minute, or at
    /// full length (sustained 10 min, burst 30 × (10 s + 10 s), ramp 30 min).
    pub fn standard(kind: ProfileKind, full: bool) -> Shape {
        match kind {
            ProfileKind::Sustained => Shape {
                rate: 100.0,
                seconds: if full { 600.0 } else { 30.0 },
                cycles: 1,
                from: 0.0,
                cooldown: 0.0,
            },
            ProfileKind::Burst => Shape {
                rate: 500.0,
                seconds: if full { 10.0 } else { 2.0 },
                cycles: if full { 30 } else { 5 },
                from: 0.0,
                cooldown: 0.0,
            },
            ProfileKind::Ramp => Shape {
                rate: 2000.0,
                seconds: if full { 1800.0 } else { 40.0 },
                cycles: 1,
                from: 10.0,
                cooldown: if full { 60.0 } else { 10.0 },
            },
            ProfileKind::Overload => Shape {
                rate: 2000.0,
                seconds: if full { 60.0 } else { 4.0 },
                cycles: 1,
                from: 250.0,
                cooldown: if full { 120.0 } else { 8.0 },
            },
        }
    }

    /// The schedule of this shape for `kind`.
    pub fn segments(&self, kind: ProfileKind) -> Vec<Segment> {
        let flat = |seconds, rate, judged| Segment {
            seconds,
            from: rate,
            to: rate,
            judged,
        };
        match kind {
            ProfileKind::Sustained => vec![flat(self.seconds, self.rate, true)],
            ProfileKind::Burst => {
                let mut segments = Vec::new();
                for _ in 0..self.cycles {
                    segments.push(flat(self.seconds, 0.0, false));
                    segments.push(flat(self.seconds, self.rate, true));
                }
                // A last idle stretch, so that the last burst's recovery is seen.
                segments.push(flat(self.seconds, 0.0, false));
                segments
            }
            ProfileKind::Ramp => vec![
                Segment {
                    seconds: self.seconds,
                    from: self.from,
                    to: self.rate,
                    judged: true,
                },
                flat(self.cooldown, self.from, false),
            ],
            ProfileKind::Overload => vec![
                flat(self.seconds, self.rate, true),
                flat(self.cooldown, self.from, false),
            ],
        }
    }
}

impl ProfileConfig {
    /// A profile of `kind` shaped by `shape`, with the default pool (20 workers of
    /// 20 ms tasks: 1 000 requests/s) and the reference's SLO (p95 500 ms) and error budgets
    /// (0.5 % sustained, 0.1 % otherwise).
    pub fn new(kind: ProfileKind, shape: &Shape) -> ProfileConfig {
        ProfileConfig {
            kind,
            segments: shape.segments(kind),
            workers: 20,
            task_time: Duration::from_millis(20),
            queue: 1000,
            request_timeout: Duration::from_secs(5),
            slo_p95: Duration::from_millis(500),
            error_budget: if kind == ProfileKind::Sustained {
                0.005
            } else {
                0.001
            },
            even: false,
            seed: orchbench::workload::DEFAULT_SEED,
        }
    }

    /// The reference scenario of this kind: scaled to ≤ 60 s, or at full length.
    pub fn standard(kind: ProfileKind, full: bool) -> ProfileConfig {
        ProfileConfig::new(kind, &Shape::standard(kind, full))
    }

    /// The pool's most requests per second: workers / task time.
    pub fn capacity(&self) -> f64 {
        self.workers as f64 / self.task_time.as_secs_f64()
    }

    /// The schedule's length, seconds.
    pub fn seconds(&self) -> f64 {
        self.segments.iter().map(|s| s.seconds).sum()
    }

    /// Checks the values; the message names the flag.
    pub fn validate(&self) -> Result<(), PerfError> {
        let bad = |what: String| Err(PerfError::Usage(what));
        if self.workers == 0 || self.workers > 100_000 {
            return bad(format!(
                "--workers must be 1..=100000, got {}",
                self.workers
            ));
        }
        if self.task_time.is_zero() || self.task_time > Duration::from_secs(3600) {
            return bad(format!(
                "--task-time must be seconds in (0, 3600], got {}",
                self.task_time.as_secs_f64()
            ));
        }
        if self.queue > 10_000_000 {
            return bad(format!(
                "--queue must be at most 10000000, got {}",
                self.queue
            ));
        }
        for s in &self.segments {
            if !(s.from.is_finite() && s.to.is_finite() && s.from >= 0.0 && s.to >= 0.0) {
                return bad(format!(
                    "rates must be non-negative numbers, got {} → {}",
                    s.from, s.to
                ));
            }
            if !(s.seconds.is_finite() && s.seconds > 0.0) {
                return bad(format!(
                    "durations must be positive seconds, got {}",
                    s.seconds
                ));
            }
        }
        if !self.segments.iter().any(|s| s.from > 0.0 || s.to > 0.0) {
            return bad("the rate is 0 throughout: nothing would arrive".into());
        }
        let arrivals: f64 = self
            .segments
            .iter()
            .map(|s| s.seconds * (s.from + s.to) / 2.0)
            .sum();
        if arrivals > 20_000_000.0 {
            return bad(format!(
                "{arrivals:.0} arrivals: at most 20000000 (lower the rate or the duration)"
            ));
        }
        if !(self.error_budget.is_finite() && (0.0..=1.0).contains(&self.error_budget)) {
            return bad(format!(
                "--error-budget must be in 0..=1, got {}",
                self.error_budget
            ));
        }
        Ok(())
    }

    /// The arrivals: offsets from the start in nanoseconds, ascending. Unit-rate points
    /// (Poisson: sums of exponential gaps; even: 1, 2, 3, …) are mapped through the
    /// inverse of the cumulative rate, which gives a Poisson process of the segments'
    /// (linearly changing) rates.
    pub fn arrivals(&self) -> Vec<u64> {
        let mut rng = SplitMix64::new(self.seed);
        let mut out = Vec::new();
        let mut level = 0.0; // the next unit-rate point
        let mut next = |level: &mut f64| {
            *level += if self.even {
                1.0
            } else {
                // Exp(1); 1 - u is in (0, 1].
                -(1.0 - rng.unit()).ln()
            };
        };
        next(&mut level);
        let (mut t0, mut mass0) = (0.0f64, 0.0f64);
        for s in &self.segments {
            let slope = (s.to - s.from) / s.seconds;
            let mass = s.seconds * (s.from + s.to) / 2.0;
            while level <= mass0 + mass {
                // Solve from·t + slope·t²/2 = level − mass0 for t in [0, seconds].
                let m = level - mass0;
                let t = if slope.abs() < 1e-12 {
                    m / s.from
                } else {
                    (-s.from + (s.from * s.from + 2.0 * slope * m).max(0.0).sqrt()) / slope
                };
                out.push(((t0 + t.clamp(0.0, s.seconds)) * 1e9) as u64);
                next(&mut level);
            }
            t0 += s.seconds;
            mass0 += mass;
        }
        out
    }
}

/// One second of the run, by intended arrival.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    /// Its start, seconds from the run's start.
    pub at_s: f64,
    /// Requests that arrived in it (its offered rate, per second).
    pub offered: u64,
    /// Of those, errors (rejected, failed, timed out, or never ended).
    pub errors: u64,
    /// p95 latency of those that completed, seconds.
    pub p95_s: f64,
}

/// One burst's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BurstFigures {
    /// When it started, seconds.
    pub at_s: f64,
    /// The most requests waiting at once during it (and its drain).
    pub queue_peak: u64,
    /// From its end until the queue had drained, seconds.
    pub recovery_s: f64,
    /// Requests that arrived in it.
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
}

/// What a profile run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileReport {
    /// The profile run.
    pub config: ProfileConfig,
    /// Requests scheduled.
    pub requests: u64,
    /// Completed within the request timeout.
    pub succeeded: u64,
    /// Rejected (the pool was full).
    pub rejected: u64,
    /// Failed, timed out, or never ended.
    pub other_errors: u64,
    /// Latency of every completed request, from its intended arrival.
    pub latency: Latency,
    /// `succeeded / requests`.
    pub success_rate: f64,
    /// Completed requests per second of the schedule.
    pub throughput: f64,
    /// The most requests waiting at once (sampled every 2 ms).
    pub queue_peak: u64,
    /// Burst: per burst.
    pub bursts: Vec<BurstFigures>,
    /// Per second.
    pub windows: Vec<Window>,
    /// Ramp: the offered rate of the first window over the SLO or the error budget
    /// (None: it never broke).
    pub breaking_point: Option<f64>,
    /// Ramp: the highest offered rate a window had while still within both.
    pub highest_good_rate: f64,
    /// Ramp: from the drop to the queue having drained, seconds.
    pub ramp_recovery_s: Option<f64>,
    /// The driver's worst lateness behind the schedule, seconds (open loop: still
    /// counted in the latencies).
    pub driver_lag_max_s: f64,
    /// Resources, as for the load test.
    pub resources: MonitorReport,
    /// RSS growth over the run, percent of the initial RSS.
    pub rss_growth_pct: f64,
}

/// Runs `config` on the current tokio runtime; `progress` gets (seconds elapsed,
/// requests so far, queue depth now) about once a second.
pub async fn run(
    config: &ProfileConfig,
    mut progress: impl FnMut(f64, u64, u64),
) -> Result<ProfileReport, PerfError> {
    config.validate()?;
    if config.kind == ProfileKind::Overload {
        return Err(PerfError::Usage(
            "the overload profile runs through perf_test::profile::overload::run".into(),
        ));
    }
    let pool = Arc::new(
        Pool::new(PoolConfig {
            max_in_flight: config.workers + config.queue,
            backpressure: Backpressure::Reject,
            keep_records: false,
            ..PoolConfig::with_workers(config.workers)
        })
        .map_err(|e| PerfError::Usage(format!("--workers: {e}")))?,
    );
    let arrivals = config.arrivals();
    let clock = MonotonicClock::new();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let monitor = ResourceMonitor::start(MonitorConfig {
        interval: Duration::from_millis(100),
        include_children: false,
    })
    .map_err(|e| PerfError::Run(format!("cannot monitor resources: {e}")))?;

    // The queue depth, sampled every 2 ms: requests in flight beyond the busy workers.
    // Only changes are kept (the first sample, then each new value): a list of every
    // sample would grow by 8 KB a second and show in the RSS this run measures.
    let sampling = Arc::new(AtomicBool::new(true));
    let start = clock.now();
    let sampler = tokio::spawn({
        let (pool, sampling, clock) = (pool.clone(), sampling.clone(), clock.clone());
        async move {
            let mut samples: Vec<(u64, u64)> = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            while sampling.load(Ordering::Relaxed) {
                tick.tick().await;
                let s = pool.stats();
                let queued = s.in_flight.saturating_sub(s.busy_workers) as u64;
                if samples.last().is_none_or(|&(_, q)| q != queued) {
                    samples.push((clock.now().saturating_sub(start), queued));
                }
                if let Some(live) = crate::live::get() {
                    live.set_state(queued, f64::NAN);
                }
            }
            samples
        }
    });

    let schedule = Schedule {
        arrivals: &arrivals,
        task_time: config.task_time,
        wait_at: None,
        live_timeout: Some(config.request_timeout.as_nanos() as u64),
    };
    let mut next_progress = 1_000_000_000u64;
    let driven = drive(&pool, &clock, start, &schedule, |i, now| {
        if now >= next_progress {
            next_progress += 1_000_000_000;
            let s = pool.stats();
            let queued = s.in_flight.saturating_sub(s.busy_workers) as u64;
            progress(now as f64 / 1e9, i as u64 + 1, queued);
        }
    })
    .await;
    // Let the schedule run out (the last arrivals may precede its end), then let what
    // is queued finish, within the request timeout: later ends are errors anyway.
    let schedule_end = (config.seconds() * 1e9) as u64;
    clock.sleep_until(start + schedule_end).await;
    let _ = tokio::time::timeout(config.request_timeout, pool.wait_idle()).await;
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler
        .await
        .map_err(|e| PerfError::Run(format!("the queue sampler failed: {e}")))?;
    pool.shutdown(Shutdown::Cancel).await;
    let resources = monitor.stop();
    let ends = driven.take_ends();
    Ok(analyse(
        config,
        &arrivals,
        &ends,
        &samples,
        driven.lag_max,
        resources,
    ))
}

/// The requests of a run: when each was meant to arrive and how it ended.
struct Requests<'a> {
    arrivals: &'a [u64],
    ends: &'a [End],
    /// The request timeout, ns.
    timeout: u64,
}

impl Requests<'_> {
    /// Request `i`'s latency from its intended arrival, if it completed.
    fn latency(&self, i: usize) -> Option<u64> {
        match self.ends[i] {
            End::Done(t) => Some(t.saturating_sub(self.arrivals[i])),
            _ => None,
        }
    }

    /// Whether request `i` completed within the timeout.
    fn ok(&self, i: usize) -> bool {
        self.latency(i).is_some_and(|l| l <= self.timeout)
    }

    /// One-second windows by intended arrival, over `seconds`.
    fn windows(&self, seconds: f64) -> Vec<Window> {
        let n = self.arrivals.len();
        let mut windows = Vec::new();
        let mut i = 0;
        for w in 0..seconds.ceil() as usize {
            let end = (w as u64 + 1) * 1_000_000_000;
            let first = i;
            while i < n && self.arrivals[i] < end {
                i += 1;
            }
            let lat = Latency::from_nanos((first..i).filter_map(|j| self.latency(j)));
            windows.push(Window {
                at_s: w as f64,
                offered: (i - first) as u64,
                errors: (first..i).filter(|&j| !self.ok(j)).count() as u64,
                p95_s: lat.p95,
            });
        }
        windows
    }
}

/// The queue depth's changes, (ns, depth) in time order: the depth at `t` is that of
/// the last change at or before `t`.
struct Depths<'a>(&'a [(u64, u64)]);

impl Depths<'_> {
    fn at(&self, t: u64) -> u64 {
        let before = self.0.iter().take_while(|&&(at, _)| at <= t);
        before.last().map_or(0, |&(_, q)| q)
    }

    /// Recovery: from `t` until the queue is first empty, s (0 if it already is).
    fn drained_after(&self, t: u64) -> f64 {
        if self.at(t) == 0 {
            return 0.0;
        }
        let empty = self.0.iter().find(|&&(at, q)| at >= t && q == 0);
        empty.map_or(f64::INFINITY, |&(at, _)| (at - t) as f64 / 1e9)
    }

    /// The most requests waiting at once between `a` and `b`.
    fn peak_between(&self, a: u64, b: u64) -> u64 {
        let inside = self.0.iter().filter(|&&(at, _)| at > a && at < b);
        inside.map(|&(_, q)| q).max().unwrap_or(0).max(self.at(a))
    }
}

/// Per judged burst its figures, and the ramp's recovery after its drop.
fn bursts(
    config: &ProfileConfig,
    requests: &Requests,
    depths: &Depths,
) -> (Vec<BurstFigures>, Option<f64>) {
    let arrivals = requests.arrivals;
    let mut bursts = Vec::new();
    let mut t0 = 0.0;
    let mut ramp_recovery_s = None;
    for (k, s) in config.segments.iter().enumerate() {
        let (a, b) = ((t0 * 1e9) as u64, ((t0 + s.seconds) * 1e9) as u64);
        if config.kind == ProfileKind::Burst && s.judged {
            let recovery = depths.drained_after(b);
            let drain_end = b + (recovery.min(config.seconds()) * 1e9) as u64 + 1;
            // Arrivals are in time order: the burst's are one range.
            let members =
                arrivals.partition_point(|&t| t < a)..arrivals.partition_point(|&t| t < b);
            bursts.push(BurstFigures {
                at_s: t0,
                queue_peak: depths.peak_between(a, drain_end),
                recovery_s: recovery,
                requests: members.len() as u64,
                errors: members.filter(|&j| !requests.ok(j)).count() as u64,
            });
        }
        if config.kind == ProfileKind::Ramp && s.judged && k + 1 < config.segments.len() {
            ramp_recovery_s = Some(depths.drained_after(b));
        }
        t0 += s.seconds;
    }
    (bursts, ramp_recovery_s)
}

/// The ramp's breaking point (the offered rate of the first window of the rising part
/// over the SLO or the error budget; ramps only) and the highest rate before it.
fn breaking_point(config: &ProfileConfig, windows: &[Window]) -> (Option<f64>, f64) {
    let rising = config.segments.iter().take_while(|s| s.judged);
    let rising_end = rising.map(|s| s.seconds).sum::<f64>();
    let slo = config.slo_p95.as_secs_f64();
    let broken = |w: &Window| {
        w.offered > 0 && (w.p95_s > slo || w.errors as f64 / w.offered as f64 > config.error_budget)
    };
    let rising: Vec<&Window> = (windows.iter())
        .filter(|w| w.at_s + 1.0 <= rising_end + 1e-9)
        .collect();
    let breaking_point = (config.kind == ProfileKind::Ramp)
        .then(|| rising.iter().find(|w| broken(w)).map(|w| w.offered as f64))
        .flatten();
    let highest_good_rate = (rising.iter())
        .take_while(|w| !broken(w))
        .map(|w| w.offered as f64)
        .fold(0.0, f64::max);
    (breaking_point, highest_good_rate)
}

fn analyse(
    config: &ProfileConfig,
    arrivals: &[u64],
    ends: &[End],
    samples: &[(u64, u64)],
    lag_max: u64,
    resources: MonitorReport,
) -> ProfileReport {
    let requests = Requests {
        arrivals,
        ends,
        timeout: config.request_timeout.as_nanos() as u64,
    };
    let n = arrivals.len();
    let succeeded = (0..n).filter(|&i| requests.ok(i)).count() as u64;
    let rejected = ends.iter().filter(|e| **e == End::Refused).count() as u64;
    let windows = requests.windows(config.seconds());
    let (bursts, ramp_recovery_s) = bursts(config, &requests, &Depths(samples));
    let (breaking_point, highest_good_rate) = breaking_point(config, &windows);
    let completed = ends.iter().filter(|e| matches!(e, End::Done(_))).count() as u64;
    let rss_growth_pct = if resources.rss_initial > 0 {
        resources.rss_growth() as f64 / resources.rss_initial as f64 * 100.0
    } else {
        0.0
    };
    ProfileReport {
        config: config.clone(),
        requests: n as u64,
        succeeded,
        rejected,
        other_errors: n as u64 - succeeded - rejected,
        latency: Latency::from_nanos((0..n).filter_map(|i| requests.latency(i))),
        success_rate: if n == 0 {
            0.0
        } else {
            succeeded as f64 / n as f64
        },
        throughput: completed as f64 / config.seconds(),
        queue_peak: samples.iter().map(|&(_, q)| q).max().unwrap_or(0),
        bursts,
        windows,
        breaking_point,
        highest_good_rate,
        ramp_recovery_s,
        driver_lag_max_s: lag_max as f64 / 1e9,
        resources,
        rss_growth_pct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_arrivals_follow_the_rate_exactly() {
        let mut c = ProfileConfig::standard(ProfileKind::Sustained, false);
        c.even = true;
        let a = c.arrivals();
        assert_eq!(a.len(), 3000);
        assert_eq!(a[0], 10_000_000);
        assert_eq!(a[99], 1_000_000_000);
    }

    #[test]
    fn a_ramp_offers_its_rate_integral_and_rises() {
        let mut c = ProfileConfig::standard(ProfileKind::Ramp, false);
        c.even = true;
        let a = c.arrivals();
        // (10 + 2000) / 2 × 40 s + 10/s × 10 s.
        assert!((a.len() as i64 - 40_300).abs() <= 1, "{}", a.len());
        let in_second = |s: u64| a.iter().filter(|&&t| t / 1_000_000_000 == s).count();
        assert!(
            in_second(0) < 40 && in_second(39) > 1900,
            "{} {}",
            in_second(0),
            in_second(39)
        );
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn poisson_arrivals_have_about_the_mean_and_bursts_are_silent_when_idle() {
        let c = ProfileConfig::standard(ProfileKind::Burst, false);
        let a = c.arrivals();
        // 5 bursts × 2 s × 500/s = 5000 expected; a Poisson count is within ±5 %.
        assert!((4750..=5250).contains(&a.len()), "{}", a.len());
        // Nothing arrives in an idle stretch ([0, 2 s), [4 s, 6 s), ...).
        assert!(a.iter().all(|&t| (t / 2_000_000_000) % 2 == 1));
    }

    #[test]
    fn zero_rates_and_bad_values_are_refused_naming_the_flag() {
        let mut c = ProfileConfig::standard(ProfileKind::Sustained, false);
        c.segments[0].from = 0.0;
        c.segments[0].to = 0.0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("the rate is 0")
        );
        let mut c = ProfileConfig::standard(ProfileKind::Sustained, false);
        c.workers = 0;
        assert!(c.validate().unwrap_err().to_string().contains("--workers"));
    }
}
