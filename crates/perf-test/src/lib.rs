//! perf-test: orchbench's macro load tester, as a library behind the thin `perf-test`
//! binary. Each command is one options struct (also its command line, through clap's
//! derive) and one function that returns what it measured and wrote; live output goes
//! through a [`Console`], so the binary decides where it is printed and tests can
//! capture it. Reports for the gate are `bench-gate`'s own perf-report format.
//!
//! The commands, each in its module:
//! - the load test ([`load`]: the command; [`workflow`]: workflow runs from TOML
//!   configs, the published workflow load test's five), locally or through a Redis broker
//!   with remote workers ([`distributed`]);
//! - `profile` ([`profile`]: open-loop sustained, burst and ramp loads, and overload);
//! - `model` ([`model`]: the M/M/c table with dispatch delay);
//! - `tools` ([`tools`]: parallel tool calls) and `ratelimit` ([`ratelimit`], over
//!   [`rate_scenarios`]: the limiters' pacing scenarios), with reports for the gate;
//! - `coordinate` ([`coordinate`]: an agent-to-agent round trip over each bus);
//! - `speculate` ([`speculate`]: speculative tool calls against none, in one run);
//! - `worker` (the distributed worker, [`distributed`]).
//!
//! Load drivers: [`open_loop`] (scheduled arrivals, latency from the intended arrival).
//! Every report for the gate carries the machine's scheduling delay beside the run
//! ([`wakeup`]).
//! Any run can serve live Prometheus metrics ([`live`]); charts are drawn by
//! `bench_gate::chart` (plotters' SVG backend), the same as the gate's history report.

pub mod coordinate;
pub mod distributed;
pub mod live;
pub mod load;
pub mod model;
pub mod open_loop;
pub mod profile;
pub mod rate_scenarios;
pub mod ratelimit;
pub mod speculate;
pub mod tools;
pub mod wakeup;
pub mod workflow;

use std::path::{Path, PathBuf};

use bench_gate::Direction;
use bench_gate::fsutil::{WriteError, write_atomic};
use bench_gate::perf::{PerfMetric, PerfReport};
use serde::Serialize;

/// Where a command's live output goes while it runs: the binary prints status lines to
/// stderr and reports to stdout; a test can collect them.
pub trait Console {
    /// A line of live status: progress, a file written.
    fn status(&mut self, line: &str);
    /// A finished report's text (tables, summaries).
    fn report(&mut self, text: &str);
    /// Whether live progress may be drawn as a bar (an interactive terminal).
    fn is_terminal(&self) -> bool {
        false
    }
}

/// A [`Console`] that keeps everything, for tests and for callers that print later.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Captured {
    /// The status lines, in order.
    pub status: Vec<String>,
    /// The report texts, in order.
    pub reports: Vec<String>,
}

impl Console for Captured {
    fn status(&mut self, line: &str) {
        self.status.push(line.to_owned());
    }

    fn report(&mut self, text: &str) {
        self.reports.push(text.to_owned());
    }
}

/// The process exit codes of `perf-test`, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// The command ran but failed (a file could not be written, a run failed).
    Failure = 1,
    /// Bad arguments or input: nothing was run.
    Usage = 2,
    /// The run hit its time limit; the partial results were still written.
    TimedOut = 3,
    /// A service the run needs (the Redis broker) could not be reached or was lost.
    Unavailable = 4,
    /// Ctrl-C stopped the run; the partial results were still written (128 + SIGINT).
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// A command that could not run, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    /// An argument is out of range; the message names the flag.
    #[error("{0}")]
    Usage(String),
    /// A report file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The run itself failed.
    #[error("{0}")]
    Run(String),
    /// The run hit its time limit.
    #[error("{0}")]
    TimedOut(String),
    /// The broker could not be reached or was lost.
    #[error("{0}")]
    Unavailable(String),
    /// Ctrl-C stopped the run.
    #[error("{0}")]
    Interrupted(String),
}

impl PerfError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            PerfError::Usage(_) => Exit::Usage,
            PerfError::Write(_) | PerfError::Run(_) => Exit::Failure,
            PerfError::TimedOut(_) => Exit::TimedOut,
            PerfError::Unavailable(_) => Exit::Unavailable,
            PerfError::Interrupted(_) => Exit::Interrupted,
        }
    }
}

/// One metric of a report for `bench-gate`, without samples (perf-test's figures are
/// single values).
pub(crate) fn metric(
    name: impl Into<String>,
    value: f64,
    unit: &str,
    direction: Direction,
) -> PerfMetric {
    PerfMetric {
        name: name.into(),
        value,
        unit: unit.into(),
        direction,
        samples: Vec::new(),
    }
}

/// `report` with the machine's wake-up lateness beside the run appended ([`wakeup`]):
/// what `bench-gate check --allowance-from` judges the report's time bounds against.
pub fn with_wakeups(mut report: PerfReport) -> PerfReport {
    report.metrics.extend(wakeup::metrics());
    report
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), PerfError> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| PerfError::Run(e.to_string()))?;
    write_atomic(path, &json)?;
    Ok(())
}

/// Writes `value` as JSON to `path` and says so on the console.
pub(crate) fn write_json_noted<T: Serialize>(
    console: &mut dyn Console,
    path: &Path,
    value: &T,
) -> Result<PathBuf, PerfError> {
    write_json(path, value)?;
    console.status(&format!("wrote {}", path.display()));
    Ok(path.to_owned())
}

/// The async runtime for a command (`orchbench::scheduler::runtime`), and the metrics
/// endpoint if `metrics_addr` asks for one: it serves for as long as the returned
/// handle lives.
pub fn runtime_with_metrics(
    metrics_addr: Option<&str>,
    console: &mut dyn Console,
) -> Result<(tokio::runtime::Runtime, Option<live::Endpoint>), PerfError> {
    let runtime = orchbench::scheduler::runtime()
        .map_err(|e| PerfError::Run(format!("cannot start the async runtime: {e}")))?;
    let endpoint = match metrics_addr {
        Some(addr) => {
            let endpoint = runtime.block_on(live::install(addr))?;
            console.status(&format!(
                "serving metrics on http://{}/metrics",
                endpoint.addr()
            ));
            Some(endpoint)
        }
        None => None,
    };
    Ok((runtime, endpoint))
}

/// Nearest-rank percentile (`p` in 0..=100) of sorted values; the default when empty.
pub(crate) fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A count flag's value: positive, or a usage error naming the flag.
pub(crate) fn positive(flag: &str, v: i64) -> Result<usize, PerfError> {
    usize::try_from(v)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| PerfError::Usage(format!("{flag} must be a positive count, got {v}")))
}

/// A number flag's value within `lo..=hi`, or a usage error naming the flag.
pub(crate) fn in_range(flag: &str, v: f64, lo: f64, hi: f64) -> Result<f64, PerfError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(PerfError::Usage(format!(
            "{flag} must be in {lo}..={hi}, got {v}"
        )))
    }
}
