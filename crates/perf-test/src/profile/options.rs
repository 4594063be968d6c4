//! `perf-test profile`'s flags: the load shape and the pool for every profile, and the
//! overload profile's own, turned into a checked [`ProfileConfig`].

use std::path::PathBuf;
use std::time::Duration;

use orchbench::scheduler::Backpressure;
use serde::Serialize;

use super::scenarios::{ProfileConfig, ProfileKind, Shape};
use crate::{PerfError, in_range};

/// `perf-test profile`: the load shape and the pool, as flags; every value left out is
/// the standard scenario's ([`ProfileConfig::standard`]).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ProfileOptions {
    /// sustained, burst, ramp or overload.
    #[arg(value_enum)]
    pub kind: ProfileKind,
    /// The reference lengths (10, 10 and 30 minutes) instead of the ≤ 60 s scaling.
    #[arg(long)]
    pub full: bool,
    /// Requests per second: sustained's rate, burst's rate in a burst, ramp's top rate.
    #[arg(long, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Seconds: sustained's length, each idle and burst stretch, ramp's rise.
    #[arg(long, allow_negative_numbers = true)]
    pub seconds: Option<f64>,
    /// Burst: idle + burst cycles.
    #[arg(long, allow_negative_numbers = true)]
    pub cycles: Option<i64>,
    /// Ramp: the starting rate, and the rate after the drop.
    #[arg(long, allow_negative_numbers = true)]
    pub from: Option<f64>,
    /// Pool workers (capacity = workers / task time).
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    pub workers: i64,
    /// Milliseconds one request keeps a worker.
    #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
    pub task_time_ms: f64,
    /// Requests that may wait beyond the busy workers; more are rejected (errors).
    /// Default 1000 (overload: 200).
    #[arg(long, allow_negative_numbers = true)]
    pub queue: Option<i64>,
    /// A request ending later than this many seconds after its arrival is an error.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    pub request_timeout: f64,
    /// Ramp: the p95 latency (ms) a one-second window may have before it "breaks".
    #[arg(long, default_value_t = 500.0, allow_negative_numbers = true)]
    pub slo_p95_ms: f64,
    /// Ramp: the error rate a window may have (default 0.001).
    #[arg(long, allow_negative_numbers = true)]
    pub error_budget: Option<f64>,
    /// Evenly spaced arrivals instead of a Poisson process.
    #[arg(long)]
    pub even: bool,
    /// The report for bench-gate (default `target/perf/profile-<kind>.json`).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Serve Prometheus metrics on HOST:PORT (GET /metrics) while the run lasts.
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// The overload profile's own flags.
    #[command(flatten)]
    pub overload: OverloadOptions,
}

impl ProfileOptions {
    /// The profile these flags describe, checked; a value out of range is a usage
    /// error naming its flag.
    pub fn config(&self) -> Result<ProfileConfig, PerfError> {
        let kind = self.kind;
        let mut shape = Shape::standard(kind, self.full);
        if let Some(v) = self.rate {
            shape.rate = in_range("--rate", v, 0.001, 1e6)?;
        }
        if let Some(v) = self.seconds {
            shape.seconds = in_range("--seconds", v, 0.001, 86_400.0)?;
        }
        if let Some(v) = self.cycles {
            shape.cycles = usize::try_from(v)
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| PerfError::Usage(format!("--cycles must be 1..=10000, got {v}")))?;
        }
        if let Some(v) = self.from {
            shape.from = in_range("--from", v, 0.0, 1e6)?;
        }
        let mut config = ProfileConfig::new(kind, &shape);
        config.workers = usize::try_from(self.workers).unwrap_or(0);
        config.task_time = Duration::from_secs_f64(
            in_range("--task-time-ms", self.task_time_ms, 0.001, 3.6e6)? / 1e3,
        );
        if let Some(q) = self.queue {
            config.queue = usize::try_from(q)
                .map_err(|_| PerfError::Usage(format!("--queue must be at least 0, got {q}")))?;
        }
        config.request_timeout = Duration::from_secs_f64(in_range(
            "--request-timeout",
            self.request_timeout,
            0.001,
            3600.0,
        )?);
        config.slo_p95 =
            Duration::from_secs_f64(in_range("--slo-p95-ms", self.slo_p95_ms, 0.001, 3.6e6)? / 1e3);
        if let Some(b) = self.error_budget {
            config.error_budget = b;
        }
        config.even = self.even;
        config.validate()?;
        Ok(config)
    }
}

/// `perf-test profile overload`'s own flags (the others are the profile command's).
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct OverloadOptions {
    /// Overload: the adaptive pool's fewest workers (default 4; --workers is its most).
    #[arg(long, allow_negative_numbers = true)]
    pub min_workers: Option<i64>,
    /// Overload: the rate after the overload, requests/s (default a quarter of the capacity).
    #[arg(long, allow_negative_numbers = true)]
    pub after_rate: Option<f64>,
    /// Overload: the policies to run, comma-separated (default both).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub policy: Vec<Policy>,
    /// Overload: write the chart (workers, waiting requests and latency over time) here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// A backpressure policy, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Refuse an arrival at the cap.
    Reject,
    /// Wait for room.
    Wait,
}

impl Policy {
    /// `reject` or `wait`.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Reject => "reject",
            Policy::Wait => "wait",
        }
    }

    /// The pool's backpressure for this policy.
    pub fn backpressure(self) -> Backpressure {
        match self {
            Policy::Reject => Backpressure::Reject,
            Policy::Wait => Backpressure::Wait,
        }
    }
}
