//! `perf-test profile overload`: backpressure and adaptive sizing shown working. Requests
//! arrive (open loop) at twice the pool's capacity for a while, then well below it,
//! on an adaptive pool (`min`..=`max` workers) whose in-flight tasks are capped at
//! `max + queue`, once under each backpressure policy:
//! - **reject**: an arrival at the cap is refused at once (counted);
//! - **wait**: the driver waits for room, so arrivals fall behind their schedule (each
//!   wait is counted, and latency still runs from the intended arrival).
//!
//! The run samples the pool every 10 ms (workers, in flight, waiting) and also reads
//! the in-flight count right after every submission, when it is at its highest. It
//! reports, per policy: the most tasks ever in flight against the cap, the refusals or
//! the waits, the adaptive pool's size over time (start, peak, when it reached it, when
//! it began to shrink after the overload, its size at the end), the time from the
//! overload's end until nothing waits (recovery), and latency per 100 ms window. The
//! chart (`--svg`) draws workers, waiting requests and p95 latency over time for both
//! policies.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::driver::{End, Schedule, drive};
use super::options::{OverloadOptions, Policy, ProfileOptions};
use super::scenarios::{ProfileConfig, ProfileKind, Shape};
use crate::workflow::Latency;
use crate::{Console, PerfError, in_range, runtime_with_metrics, write_json_noted};
use bench_gate::Direction;
use bench_gate::chart::{self, Line};
use bench_gate::perf::PerfReport;
use orchbench::scheduler::{Adaptive, Pool, PoolConfig, Shutdown};
use orchbench::timing::{Clock, MonotonicClock};

/// The width of one window of the time series.
const WINDOW_NS: u64 = 100_000_000;
/// How often the sampler reads the pool.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// An overload scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverloadConfig {
    /// The adaptive pool's fewest workers (it starts with these).
    pub min_workers: usize,
    /// Its most workers; the capacity is `max_workers / task_time`.
    pub max_workers: usize,
    /// How long one request keeps a worker.
    pub task_time: Duration,
    /// Requests that may wait beyond `max_workers`: the in-flight cap is their sum.
    pub queue: usize,
    /// The arrival rate during the overload, requests/s.
    pub overload_rate: f64,
    /// The overload's length, seconds.
    pub overload_s: f64,
    /// The arrival rate after it, requests/s.
    pub after_rate: f64,
    /// The stretch after it, seconds.
    pub after_s: f64,
    /// Evenly spaced arrivals instead of a Poisson process.
    pub even: bool,
    /// The Poisson process's seed.
    pub seed: u64,
    /// The policies to run, one after another.
    pub policies: Vec<Policy>,
}

impl OverloadConfig {
    /// The standard scenario: 4..=20 workers of 20 ms tasks (1 000 requests/s), 200
    /// waiting at most; 2 000/s for 4 s, then 250/s for 8 s (`full`: 60 s and 120 s);
    /// both policies.
    pub fn standard(full: bool) -> OverloadConfig {
        OverloadConfig {
            min_workers: 4,
            max_workers: 20,
            task_time: Duration::from_millis(20),
            queue: 200,
            overload_rate: 2000.0,
            overload_s: if full { 60.0 } else { 4.0 },
            after_rate: 250.0,
            after_s: if full { 120.0 } else { 8.0 },
            even: false,
            seed: orchbench::workload::DEFAULT_SEED,
            policies: vec![Policy::Reject, Policy::Wait],
        }
    }

    /// Requests per second the pool serves at its largest.
    pub fn capacity(&self) -> f64 {
        self.max_workers as f64 / self.task_time.as_secs_f64()
    }

    /// The most tasks queued and running at once.
    pub fn cap(&self) -> usize {
        self.max_workers + self.queue
    }

    /// Checks the values; the message names the flag.
    pub fn validate(&self) -> Result<(), PerfError> {
        let bad = |what: String| Err(PerfError::Usage(what));
        if self.min_workers == 0 || self.min_workers > self.max_workers {
            return bad(format!(
                "--min-workers must be 1..=--workers ({}), got {}",
                self.max_workers, self.min_workers
            ));
        }
        if self.max_workers > 10_000 {
            return bad(format!(
                "--workers must be 1..=10000, got {}",
                self.max_workers
            ));
        }
        if self.policies.is_empty() {
            return bad("--policy: name at least one of reject, wait".into());
        }
        self.schedule().validate()
    }

    /// The arrival schedule, as a profile's (its arrivals come from it).
    fn schedule(&self) -> ProfileConfig {
        let shape = Shape {
            rate: self.overload_rate,
            seconds: self.overload_s,
            cycles: 1,
            from: self.after_rate,
            cooldown: self.after_s,
        };
        ProfileConfig {
            workers: self.max_workers,
            task_time: self.task_time,
            queue: self.queue,
            even: self.even,
            seed: self.seed,
            ..ProfileConfig::new(ProfileKind::Overload, &shape)
        }
    }
}

/// One window of a policy's time series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OverloadWindow {
    /// Its start, seconds from the run's start.
    pub at_s: f64,
    /// The pool's workers at its end.
    pub workers: usize,
    /// The most requests waiting (in flight beyond the busy workers) in it.
    pub waiting: u64,
    /// The most tasks in flight in it.
    pub in_flight: u64,
    /// Requests that arrived in it (by schedule).
    pub arrived: u64,
    /// Of those, refused (reject) or made to wait (wait).
    pub pushed_back: u64,
    /// p95 latency of its arrivals that completed, seconds (NaN: none completed).
    pub p95_s: f64,
}

/// What one policy's run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyRun {
    /// The policy.
    pub policy: Policy,
    /// Requests scheduled.
    pub requests: u64,
    /// Completed.
    pub completed: u64,
    /// Refused at the cap (reject).
    pub refused: u64,
    /// Of the refusals, those during the overload.
    pub refused_in_overload: u64,
    /// Submissions that found the pool full and waited (wait).
    pub waited: u64,
    /// The longest such wait, seconds.
    pub wait_max_s: f64,
    /// Failed or never ended.
    pub other_errors: u64,
    /// The most tasks ever in flight (read after every submission and every 10 ms).
    pub in_flight_peak: usize,
    /// The most requests waiting at once.
    pub waiting_peak: u64,
    /// Latency of every completed request from its intended arrival.
    pub latency: Latency,
    /// The pool's workers at the start.
    pub workers_start: usize,
    /// The most workers.
    pub workers_peak: usize,
    /// When the pool first had `workers_peak` workers, seconds from the start.
    pub peak_at_s: f64,
    /// After the overload: when the pool first shrank below its peak, seconds after
    /// the overload's end (None: it never shrank).
    pub shrink_after_s: Option<f64>,
    /// The fewest workers after the overload had ended.
    pub workers_low_after: usize,
    /// The workers at the end of the schedule.
    pub workers_end: usize,
    /// From the overload's end until nothing waited, seconds (None: never).
    pub recovery_s: Option<f64>,
    /// The driver's worst lateness behind the schedule, seconds.
    pub driver_lag_max_s: f64,
    /// Per 100 ms.
    pub windows: Vec<OverloadWindow>,
}

/// What `perf-test profile overload` measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverloadReport {
    /// The scenario.
    pub config: OverloadConfig,
    /// One run per policy, in the order run.
    pub runs: Vec<PolicyRun>,
}

/// One reading of the pool: (ns from start, workers, in flight, waiting).
type Sample = (u64, usize, usize, u64);

/// Runs every policy of `config`, one after another, on the current runtime.
pub async fn run(
    config: &OverloadConfig,
    mut progress: impl FnMut(&str),
) -> Result<OverloadReport, PerfError> {
    config.validate()?;
    let arrivals = config.schedule().arrivals();
    let mut runs = Vec::new();
    for &policy in &config.policies {
        progress(&format!(
            "policy {}: {} arrivals over {:.0} s ...",
            policy.name(),
            arrivals.len(),
            config.overload_s + config.after_s
        ));
        runs.push(run_policy(config, policy, &arrivals).await?);
    }
    Ok(OverloadReport {
        config: config.clone(),
        runs,
    })
}

async fn run_policy(
    config: &OverloadConfig,
    policy: Policy,
    arrivals: &[u64],
) -> Result<PolicyRun, PerfError> {
    let pool = Arc::new(
        Pool::new(PoolConfig {
            workers: config.min_workers,
            max_in_flight: config.cap(),
            backpressure: policy.backpressure(),
            adaptive: Some(Adaptive::between(config.min_workers, config.max_workers)),
            keep_records: false,
            ..PoolConfig::default()
        })
        .map_err(|e| PerfError::Usage(format!("--workers: {e}")))?,
    );
    let clock = MonotonicClock::new();
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let start = clock.now();
    let sampler = tokio::spawn({
        let (pool, sampling, clock, peak) =
            (pool.clone(), sampling.clone(), clock.clone(), peak.clone());
        async move {
            let mut samples: Vec<Sample> = Vec::new();
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            while sampling.load(Ordering::Relaxed) {
                tick.tick().await;
                let s = pool.stats();
                peak.fetch_max(s.in_flight as u64, Ordering::Relaxed);
                let waiting = s.in_flight.saturating_sub(s.busy_workers) as u64;
                samples.push((
                    clock.now().saturating_sub(start),
                    s.workers,
                    s.in_flight,
                    waiting,
                ));
            }
            samples
        }
    });

    let schedule = Schedule {
        arrivals,
        task_time: config.task_time,
        wait_at: (policy == Policy::Wait).then(|| config.cap()),
        live_timeout: None,
    };
    let driven = drive(&pool, &clock, start, &schedule, |_, _| {
        peak.fetch_max(pool.stats().in_flight as u64, Ordering::Relaxed);
    })
    .await;
    let schedule_end = ((config.overload_s + config.after_s) * 1e9) as u64;
    clock.sleep_until(start + schedule_end).await;
    // What is still queued (wait: the backlog) gets up to a minute to finish.
    let _ = tokio::time::timeout(Duration::from_secs(60), pool.wait_idle()).await;
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler
        .await
        .map_err(|e| PerfError::Run(format!("the pool sampler failed: {e}")))?;
    pool.shutdown(Shutdown::Cancel).await;
    let ends = driven.take_ends();
    Ok(analyse(
        config,
        policy,
        arrivals,
        &ends,
        &driven.pushed_back,
        &samples,
        Figures {
            in_flight_peak: peak.load(Ordering::Relaxed) as usize,
            waited: driven.waited,
            wait_max: driven.wait_max,
            lag_max: driven.lag_max,
            schedule_end,
        },
    ))
}

/// What the driver counted itself.
struct Figures {
    in_flight_peak: usize,
    waited: u64,
    wait_max: u64,
    lag_max: u64,
    schedule_end: u64,
}

fn analyse(
    config: &OverloadConfig,
    policy: Policy,
    arrivals: &[u64],
    ends: &[End],
    pushed_back: &[bool],
    samples: &[Sample],
    f: Figures,
) -> PolicyRun {
    let overload_end = (config.overload_s * 1e9) as u64;
    let latency_of = |i: usize| match ends[i] {
        End::Done(t) => Some(t.saturating_sub(arrivals[i])),
        _ => None,
    };
    let completed = ends.iter().filter(|e| matches!(e, End::Done(_))).count() as u64;
    let refused = ends.iter().filter(|e| **e == End::Refused).count() as u64;
    let refused_in_overload = (0..arrivals.len())
        .filter(|&i| ends[i] == End::Refused && arrivals[i] < overload_end)
        .count() as u64;
    let latency = Latency::from_nanos((0..arrivals.len()).filter_map(latency_of));

    let first = samples
        .first()
        .copied()
        .unwrap_or((0, config.min_workers, 0, 0));
    let workers_peak = samples.iter().map(|s| s.1).max().unwrap_or(first.1);
    let peak_at = samples
        .iter()
        .find(|s| s.1 == workers_peak)
        .map_or(0, |s| s.0);
    let after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.0 >= overload_end && s.0 <= f.schedule_end)
        .collect();
    let secs = |ns: u64| ns as f64 / 1e9;
    let shrink_after_s = after
        .iter()
        .find(|s| s.1 < workers_peak)
        .map(|s| secs(s.0 - overload_end));
    let workers_low_after = after.iter().map(|s| s.1).min().unwrap_or(first.1);
    let workers_end = after.last().map_or(first.1, |s| s.1);
    let recovery_s = after
        .iter()
        .find(|s| s.3 == 0)
        .map(|s| secs(s.0 - overload_end));

    // The windows, by intended arrival for the requests and by time for the samples.
    let count = f.schedule_end.div_ceil(WINDOW_NS) as usize;
    let mut windows: Vec<OverloadWindow> = (0..count)
        .map(|w| OverloadWindow {
            at_s: secs(w as u64 * WINDOW_NS),
            workers: 0,
            waiting: 0,
            in_flight: 0,
            arrived: 0,
            pushed_back: 0,
            p95_s: f64::NAN,
        })
        .collect();
    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); count];
    for (i, &at) in arrivals.iter().enumerate() {
        let w = ((at / WINDOW_NS) as usize).min(count.saturating_sub(1));
        windows[w].arrived += 1;
        windows[w].pushed_back += u64::from(pushed_back[i]);
        if let Some(l) = latency_of(i) {
            lat[w].push(l);
        }
    }
    let mut workers_now = first.1;
    let mut s = samples.iter().peekable();
    for (w, window) in windows.iter_mut().enumerate() {
        let end = (w as u64 + 1) * WINDOW_NS;
        while let Some(&&(t, workers, in_flight, waiting)) = s.peek() {
            if t >= end {
                break;
            }
            workers_now = workers;
            window.waiting = window.waiting.max(waiting);
            window.in_flight = window.in_flight.max(in_flight as u64);
            s.next();
        }
        window.workers = workers_now;
        let l = &mut lat[w];
        if !l.is_empty() {
            l.sort_unstable();
            window.p95_s = secs(crate::percentile(l, 95.0));
        }
    }
    PolicyRun {
        policy,
        requests: arrivals.len() as u64,
        completed,
        refused,
        refused_in_overload,
        waited: f.waited,
        wait_max_s: secs(f.wait_max),
        other_errors: arrivals.len() as u64 - completed - refused,
        in_flight_peak: f.in_flight_peak,
        waiting_peak: samples.iter().map(|s| s.3).max().unwrap_or(0),
        latency,
        workers_start: first.1,
        workers_peak,
        peak_at_s: secs(peak_at),
        shrink_after_s,
        workers_low_after,
        workers_end,
        recovery_s,
        driver_lag_max_s: secs(f.lag_max),
        windows,
    }
}

impl OverloadReport {
    /// The report `bench-gate` reads: `perf/profile_overload/<metric>`, the policy's name
    /// first where a figure is one policy's.
    pub fn metrics(&self) -> PerfReport {
        use crate::metric as m;
        use Direction::{HigherIsBetter as Up, LowerIsBetter as Down};
        let c = &self.config;
        let mut metrics = Vec::new();
        let worst = self
            .runs
            .iter()
            .map(|r| r.in_flight_peak)
            .max()
            .unwrap_or(0);
        metrics.push(m(
            "in_flight_peak_over_cap",
            worst as f64 / c.cap() as f64,
            "ratio",
            Down,
        ));
        for r in &self.runs {
            let p = r.policy.name();
            let arrived_in_overload = (c.overload_rate * c.overload_s).max(1.0);
            match r.policy {
                Policy::Reject => {
                    metrics.push(m(
                        format!("{p}_refused_fraction_in_overload"),
                        r.refused_in_overload as f64 / arrived_in_overload,
                        "ratio",
                        Down,
                    ));
                }
                Policy::Wait => {
                    metrics.push(m(
                        format!("{p}_refused"),
                        r.refused as f64,
                        "requests",
                        Down,
                    ));
                    metrics.push(m(format!("{p}_wait_max"), r.wait_max_s, "s", Down));
                }
            }
            metrics.push(m(format!("{p}_latency_p99"), r.latency.p99, "s", Down));
            metrics.push(m(
                format!("{p}_completed_fraction"),
                r.completed as f64 / r.requests.max(1) as f64,
                "ratio",
                Up,
            ));
            metrics.push(m(
                format!("{p}_workers_peak_fraction"),
                r.workers_peak as f64 / c.max_workers as f64,
                "ratio",
                Up,
            ));
            metrics.push(m(
                format!("{p}_workers_end_fraction"),
                r.workers_end as f64 / c.max_workers as f64,
                "ratio",
                Down,
            ));
            metrics.push(m(
                format!("{p}_recovery_time"),
                r.recovery_s.unwrap_or(f64::INFINITY),
                "s",
                Down,
            ));
        }
        metrics.retain(|x| x.value.is_finite());
        PerfReport {
            report: "profile_overload".into(),
            metrics,
        }
    }

    /// The summary: per policy, the cap, the refusals or waits, the pool's size over
    /// time and the recovery.
    pub fn text(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        let _ = writeln!(out, "=== Load profile: overload ===");
        let _ = writeln!(
            out,
            "Schedule: {:.0}/s ({:.1} × capacity) for {:.1} s, then {:.0}/s for {:.1} s, {} arrivals; adaptive pool {}..={} workers × {} ms tasks (capacity {:.0}/s), in-flight cap {} ({} waiting)",
            c.overload_rate,
            c.overload_rate / c.capacity(),
            c.overload_s,
            c.after_rate,
            c.after_s,
            if c.even { "evenly spaced" } else { "Poisson" },
            c.min_workers,
            c.max_workers,
            c.task_time.as_secs_f64() * 1e3,
            c.capacity(),
            c.cap(),
            c.queue
        );
        for r in &self.runs {
            policy_text(&mut out, c, r);
        }
        out
    }

    /// The chart: workers, waiting requests and p95 latency over time, one line per
    /// policy, as three panels of one SVG document.
    pub fn svg(&self) -> Result<String, String> {
        let series = |f: &dyn Fn(&OverloadWindow) -> f64| -> Vec<Line> {
            self.runs
                .iter()
                .map(|r| Line {
                    name: r.policy.name().to_owned(),
                    points: r
                        .windows
                        .iter()
                        .map(|w| (w.at_s, f(w)))
                        .filter(|p| p.1.is_finite())
                        .collect(),
                })
                .collect()
        };
        let end = self.config.overload_s;
        let panels = [
            chart::line_chart(
                &format!("Adaptive pool size (overload ends at {end:.1} s)"),
                "seconds",
                "workers",
                false,
                &series(&|w| w.workers as f64),
            )?,
            chart::line_chart(
                "Requests waiting (most per 100 ms)",
                "seconds",
                "requests",
                false,
                &series(&|w| w.waiting as f64),
            )?,
            chart::line_chart(
                "p95 latency from intended arrival (per 100 ms of arrivals)",
                "seconds",
                "ms",
                false,
                &series(&|w| w.p95_s * 1e3),
            )?,
        ];
        Ok(stack(&panels))
    }
}

/// One policy's run in the summary.
fn policy_text(out: &mut String, c: &OverloadConfig, r: &PolicyRun) {
    let ms = |s: f64| s * 1e3;
    let opt = |v: Option<f64>| v.map_or("never".to_owned(), |s| format!("{s:.2} s"));
    let _ = writeln!(out, "\nPolicy {}:", r.policy.name());
    let _ = writeln!(
        out,
        "  In flight: peak {} of the cap {} ({})",
        r.in_flight_peak,
        c.cap(),
        if r.in_flight_peak <= c.cap() {
            "never above it"
        } else {
            "ABOVE IT"
        }
    );
    match r.policy {
        Policy::Reject => {
            let _ = writeln!(
                out,
                "  Refused: {} of {} ({} during the overload)",
                r.refused, r.requests, r.refused_in_overload
            );
        }
        Policy::Wait => {
            let _ = writeln!(
                out,
                "  Waited for room: {} submissions (longest {:.1} ms); refused {}; driver lag max {:.2} s",
                r.waited,
                ms(r.wait_max_s),
                r.refused,
                r.driver_lag_max_s
            );
        }
    }
    let _ = writeln!(
        out,
        "  Completed: {} of {}; {} failed or unfinished; waiting peak {}",
        r.completed, r.requests, r.other_errors, r.waiting_peak
    );
    let l = &r.latency;
    let _ = writeln!(
        out,
        "  Latency from intended arrival: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(l.p50),
        ms(l.p95),
        ms(l.p99),
        ms(l.max)
    );
    let _ = writeln!(
        out,
        "  Workers: {} at the start, peak {} at {:.2} s; after the overload: shrinking from {}, lowest {}, {} at the end",
        r.workers_start,
        r.workers_peak,
        r.peak_at_s,
        opt(r.shrink_after_s),
        r.workers_low_after,
        r.workers_end
    );
    let _ = writeln!(
        out,
        "  Recovery (overload end to nothing waiting): {}",
        opt(r.recovery_s)
    );
}

/// SVG documents of 640 × 400, one above the other, as one document.
fn stack(panels: &[String]) -> String {
    let height = 400 * panels.len();
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"{height}\" viewBox=\"0 0 640 {height}\">\n"
    );
    for (i, panel) in panels.iter().enumerate() {
        let body = panel
            .trim_start()
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
            .unwrap_or(panel)
            .trim_start();
        out.push_str(&body.replacen("<svg ", &format!("<svg y=\"{}\" ", 400 * i), 1));
        out.push('\n');
    }
    out.push_str("</svg>\n");
    out
}

/// The overload scenario the profile flags describe: `--rate` is the overload's rate
/// (default twice the capacity), `--seconds` its length (the stretch after it is twice
/// as long), `--workers` the pool's most workers, `--queue` the waiting room.
pub fn config(
    options: &ProfileOptions,
    own: &OverloadOptions,
) -> Result<OverloadConfig, PerfError> {
    let mut c = OverloadConfig::standard(options.full);
    c.max_workers = usize::try_from(options.workers)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            PerfError::Usage(format!(
                "--workers must be 1..=10000, got {}",
                options.workers
            ))
        })?;
    c.task_time = Duration::from_secs_f64(
        in_range("--task-time-ms", options.task_time_ms, 0.001, 3.6e6)? / 1e3,
    );
    if let Some(q) = options.queue {
        c.queue = usize::try_from(q)
            .map_err(|_| PerfError::Usage(format!("--queue must be at least 0, got {q}")))?;
    }
    c.min_workers = match own.min_workers {
        Some(v) => usize::try_from(v).unwrap_or(0),
        None => c.min_workers.min(c.max_workers),
    };
    c.overload_rate = match options.rate {
        Some(v) => in_range("--rate", v, 0.001, 1e6)?,
        None => 2.0 * c.capacity(),
    };
    if let Some(v) = options.seconds {
        c.overload_s = in_range("--seconds", v, 0.001, 86_400.0)?;
        c.after_s = 2.0 * c.overload_s;
    }
    c.after_rate = match own.after_rate {
        Some(v) => in_range("--after-rate", v, 0.0, 1e6)?,
        None => c.capacity() / 4.0,
    };
    c.even = options.even;
    if !own.policy.is_empty() {
        c.policies = own.policy.clone();
        c.policies.dedup();
    }
    c.validate()?;
    Ok(c)
}

/// Runs the overload profile the flags describe, shows the report, writes the gate's
/// report (and the chart with `--svg`).
pub fn run_command(
    options: &ProfileOptions,
    own: &OverloadOptions,
    console: &mut dyn Console,
) -> Result<OverloadReport, PerfError> {
    let config = config(options, own)?;
    let (runtime, _endpoint) = runtime_with_metrics(options.metrics_addr.as_deref(), console)?;
    let report = runtime.block_on(run(&config, |line| console.status(line)))?;
    console.report(&report.text());
    let path = options
        .json
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/perf/profile-overload.json"));
    write_json_noted(console, &path, &crate::with_wakeups(report.metrics()))?;
    if let Some(svg) = &own.svg {
        let text = report
            .svg()
            .map_err(|e| PerfError::Run(format!("cannot draw the chart: {e}")))?;
        bench_gate::fsutil::write_atomic(svg, text.as_bytes())?;
        console.status(&format!("wrote {}", svg.display()));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_scenario_is_twice_the_capacity_then_a_quarter() {
        let c = OverloadConfig::standard(false);
        assert_eq!(c.capacity(), 1000.0);
        assert_eq!(c.cap(), 220);
        assert_eq!(c.overload_rate, 2.0 * c.capacity());
        let a = c.schedule().arrivals();
        let in_overload = a.iter().filter(|&&t| t < 4_000_000_000).count() as f64;
        assert!(
            (in_overload - 8000.0).abs() < 8000.0 * 0.05,
            "{in_overload}"
        );
        let after = a.len() as f64 - in_overload;
        assert!((after - 2000.0).abs() < 2000.0 * 0.1, "{after}");
        c.validate().unwrap();
    }

    #[test]
    fn bad_pool_bounds_are_refused_naming_the_flag() {
        let mut c = OverloadConfig::standard(false);
        c.min_workers = 30;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("--min-workers must be 1..=--workers (20), got 30"),
            "{e}"
        );
        c.min_workers = 0;
        assert!(c.validate().is_err());
        c.min_workers = 4;
        c.policies.clear();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--policy"), "{e}");
    }

    #[test]
    fn panels_stack_into_one_document() {
        let one = chart::line_chart(
            "t",
            "x",
            "y",
            false,
            &[Line {
                name: "a".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0)],
            }],
        )
        .unwrap();
        let doc = stack(&[one.clone(), one]);
        assert!(doc.starts_with("<svg xmlns"), "{}", &doc[..80]);
        assert_eq!(doc.matches("<svg ").count(), 3);
        assert!(doc.contains("<svg y=\"400\" "));
        assert!(!doc.contains("<?xml"));
    }
}
