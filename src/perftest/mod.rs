//! The library side of the `perf-test` binary: its commands' inputs, the reports they
//! produce, and how those are rendered (seed-style markdown tables, JSON, SVG charts),
//! so that the binary only parses arguments and maps results to exit codes.
//!
//! The commands:
//! - the load test ([`workflow`]: seed 002's workflow runs and configs), locally or
//!   through a Redis broker with remote workers ([`distributed`]);
//! - `profile` ([`profile`]: seed 004's open-loop sustained, burst and ramp loads);
//! - `model` (seed 000/001's M/M/c table with dispatch delay);
//! - `tools` (seed 004's parallel tool execution) and `ratelimit` (its rate-limit
//!   scenarios), with reports for the gate;
//! - `worker` (the distributed worker).
//!
//! Any run can serve live Prometheus metrics ([`live`]).

pub mod distributed;
pub mod live;
pub mod profile;
pub mod svg;
pub mod workflow;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fsutil::{WriteError, write_atomic};
use crate::gate::Direction;
use crate::gate::perf::{PerfMetric, PerfReport};
use crate::queueing::{self, QueueingError};
use crate::ratelimit::scenario::ScenarioReport;
use crate::scheduler::tools::ToolsRow;

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

/// `perf-test model`'s inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelInput {
    /// Rows for 1..=max_workers workers.
    pub max_workers: u32,
    /// λ, tasks per second.
    pub arrival_rate: f64,
    /// μ, tasks per second per worker.
    pub service_rate: f64,
    /// d, seconds.
    pub network_delay: f64,
}

/// One row of the model table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRow {
    /// Workers (servers).
    pub workers: u32,
    /// ρ = λ/(cμ).
    pub utilisation: f64,
    /// `false` when ρ ≥ 1: the other figures are then absent.
    pub stable: bool,
    /// Tasks per second.
    pub throughput: Option<f64>,
    /// Mean latency T = d + Wq + 1/μ, milliseconds.
    pub latency_ms: Option<f64>,
    /// Mean queue length Lq.
    pub queue_length: Option<f64>,
    /// Mean wait in the queue Wq, milliseconds.
    pub queue_wait_ms: Option<f64>,
    /// Probability the system is empty.
    pub p0: Option<f64>,
}

/// `perf-test model`'s report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelReport {
    /// What was modelled.
    pub input: ModelInput,
    /// One row per worker count.
    pub rows: Vec<ModelRow>,
}

fn check_rate(flag: &str, value: f64) -> Result<(), PerfError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(PerfError::Usage(format!(
            "{flag} must be a finite number > 0, got {value}"
        )))
    }
}

/// Solves the M/M/c model for 1..=max_workers workers.
pub fn model(input: ModelInput) -> Result<ModelReport, PerfError> {
    if input.max_workers == 0 {
        return Err(PerfError::Usage(
            "--max-workers must be at least 1, got 0".into(),
        ));
    }
    check_rate("--arrival-rate", input.arrival_rate)?;
    check_rate("--service-rate", input.service_rate)?;
    if !(input.network_delay.is_finite() && input.network_delay >= 0.0) {
        return Err(PerfError::Usage(format!(
            "--network-delay must be a finite number of seconds >= 0, got {}",
            input.network_delay
        )));
    }
    let rows = queueing::sweep(
        input.arrival_rate,
        input.service_rate,
        input.network_delay,
        input.max_workers,
    )
    .into_iter()
    .map(|(workers, result)| match result {
        Ok(s) => Ok(ModelRow {
            workers,
            utilisation: s.utilisation,
            stable: true,
            throughput: Some(s.throughput),
            latency_ms: Some(s.latency * 1e3),
            queue_length: Some(s.queue_length),
            queue_wait_ms: Some(s.queue_wait * 1e3),
            p0: Some(s.p0),
        }),
        Err(QueueingError::Unstable { utilisation, .. }) => Ok(ModelRow {
            workers,
            utilisation,
            stable: false,
            throughput: None,
            latency_ms: None,
            queue_length: None,
            queue_wait_ms: None,
            p0: None,
        }),
        Err(e) => Err(PerfError::Usage(e.to_string())),
    })
    .collect::<Result<_, _>>()?;
    Ok(ModelReport { input, rows })
}

impl ModelReport {
    /// Seed 000's table: workers, throughput, latency (ms), average queue length.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| workers | throughput (tasks/s) | latency (ms) | avg queue length |\n");
        out.push_str("| ------- | ------------------- | ------------ | ---------------- |\n");
        for r in &self.rows {
            match (r.throughput, r.latency_ms, r.queue_length) {
                (Some(t), Some(l), Some(q)) => {
                    let _ = writeln!(out, "| {} | {t:.2} | {l:.3} | {q:.2} |", r.workers);
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "| {} | unstable (ρ = {:.2} ≥ 1) | — | — |",
                        r.workers, r.utilisation
                    );
                }
            }
        }
        out
    }

    /// Writes `latency_vs_workers.svg` and `throughput_vs_workers.svg` into `dir`
    /// (created if missing) and returns their paths. Unstable rows have no point.
    pub fn write_svgs(&self, dir: &Path) -> Result<Vec<PathBuf>, PerfError> {
        let points = |f: fn(&ModelRow) -> Option<f64>| -> Vec<(f64, f64)> {
            self.rows
                .iter()
                .filter_map(|r| f(r).map(|v| (f64::from(r.workers), v)))
                .collect()
        };
        let subtitle = format!(
            "λ = {}/s, μ = {}/s, d = {} ms",
            self.input.arrival_rate,
            self.input.service_rate,
            self.input.network_delay * 1e3
        );
        let charts = [
            (
                "latency_vs_workers.svg",
                format!("Latency vs workers (M/M/c, {subtitle})"),
                "mean latency (ms)",
                points(|r| r.latency_ms),
            ),
            (
                "throughput_vs_workers.svg",
                format!("Throughput vs workers (M/M/c, {subtitle})"),
                "throughput (tasks/s)",
                points(|r| r.throughput),
            ),
        ];
        let mut written = Vec::new();
        for (file, title, y_label, pts) in charts {
            let chart = svg::line_chart(
                &title,
                "workers",
                y_label,
                true,
                &[svg::Series {
                    name: "model".into(),
                    points: pts,
                }],
            );
            let path = dir.join(file);
            write_atomic(&path, chart.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Renders seed 004's parallel-tools table.
pub fn tools_markdown(rows: &[ToolsRow]) -> String {
    let mut out = String::new();
    out.push_str("| parallel tools | tool time | sequential | parallel | speedup | efficiency | peak RSS | memory per tool |\n");
    out.push_str("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("—".to_string(), f);
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} ms | {} | {:.2} ms | {} | {} | {:.1} MiB | {:.1} KiB |",
            r.parallel,
            r.tool_time_ms,
            opt(r.sequential_s, &|s| format!("{:.1} ms", s * 1e3)),
            r.parallel_s * 1e3,
            opt(r.speedup, &|s| format!("{s:.1}×")),
            opt(r.efficiency, &|e| format!("{:.2} %", e * 100.0)),
            r.peak_rss_bytes as f64 / (1 << 20) as f64,
            r.memory_per_tool_bytes / 1024.0,
        );
    }
    out
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

/// The `tools` rows as the report `bench-gate` reads (`perf/tools/<metric>`), named as
/// `thresholds.toml`'s seed-004 rules expect:
/// - `single_tool_time`: one call on its own (the row with 1 call), seconds;
/// - `parallel_time_N`, `speedup_N`, `parallel_efficiency_N`: per row with a sequential
///   run;
/// - `peak_rss_N` and `memory_per_tool_N`: per row, bytes;
/// - `memory_50_tools`: the peak RSS with 50 calls in flight.
pub fn tools_metrics(rows: &[ToolsRow]) -> PerfReport {
    use Direction::{HigherIsBetter as Up, LowerIsBetter as Down};
    let mut metrics = Vec::new();
    for r in rows {
        let n = r.parallel;
        if n == 1 {
            metrics.push(metric("single_tool_time", r.parallel_s, "s", Down));
        }
        if n == 50 {
            metrics.push(metric(
                "memory_50_tools",
                r.peak_rss_bytes as f64,
                "bytes",
                Down,
            ));
        }
        metrics.push(metric(
            format!("parallel_time_{n}"),
            r.parallel_s,
            "s",
            Down,
        ));
        if let Some(speedup) = r.speedup {
            metrics.push(metric(format!("speedup_{n}"), speedup, "ratio", Up));
        }
        if let Some(efficiency) = r.efficiency {
            metrics.push(metric(
                format!("parallel_efficiency_{n}"),
                efficiency,
                "ratio",
                Up,
            ));
        }
        metrics.push(metric(
            format!("peak_rss_{n}"),
            r.peak_rss_bytes as f64,
            "bytes",
            Down,
        ));
        metrics.push(metric(
            format!("memory_per_tool_{n}"),
            r.memory_per_tool_bytes.max(0.0),
            "bytes",
            Down,
        ));
    }
    metrics.retain(|m| m.value.is_finite());
    PerfReport {
        report: "tools".into(),
        metrics,
    }
}

/// How close a limiter came to its target rate, from 0 to 1 whichever side it missed
/// on: `min(accuracy, 1 / accuracy)`. Granting 2 % too many is as wrong as 2 % too few,
/// and a "higher is better" metric must not reward over-granting.
pub fn rate_closeness(accuracy: f64) -> f64 {
    if accuracy > 0.0 && accuracy.is_finite() {
        accuracy.min(1.0 / accuracy)
    } else {
        0.0
    }
}

/// The rate-limit scenario reports as the report `bench-gate` reads
/// (`perf/ratelimit/<metric>`), per scenario `S` (its name with `-` as `_`):
/// `rate_limit_accuracy_S` ([`rate_closeness`]), `achieved_rate_S`, `wait_p95_S`
/// (seconds), `queue_depth_p95_S` and `limiter_memory_S` (bytes).
pub fn ratelimit_metrics(reports: &[ScenarioReport]) -> PerfReport {
    use Direction::{HigherIsBetter as Up, LowerIsBetter as Down};
    let mut metrics = Vec::new();
    for r in reports {
        let s: String = r
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        metrics.push(metric(
            format!("rate_limit_accuracy_{s}"),
            rate_closeness(r.accuracy),
            "ratio",
            Up,
        ));
        metrics.push(metric(
            format!("achieved_rate_{s}"),
            r.achieved_rate,
            "requests/s",
            Up,
        ));
        metrics.push(metric(
            format!("wait_p95_{s}"),
            r.wait_p95_ms / 1e3,
            "s",
            Down,
        ));
        metrics.push(metric(
            format!("queue_depth_p95_{s}"),
            r.queue_depth_p95 as f64,
            "requests",
            Down,
        ));
        metrics.push(metric(
            format!("limiter_memory_{s}"),
            r.memory_bytes as f64,
            "bytes",
            Down,
        ));
    }
    metrics.retain(|m| m.value.is_finite());
    PerfReport {
        report: "ratelimit".into(),
        metrics,
    }
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), PerfError> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| PerfError::Run(e.to_string()))?;
    write_atomic(path, &json)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_input() -> ModelInput {
        ModelInput {
            max_workers: 4,
            arrival_rate: 100.0,
            service_rate: 120.0,
            network_delay: 0.005,
        }
    }

    #[test]
    fn model_table_is_seed_000s() {
        let table = model(seed_input()).unwrap().markdown();
        assert_eq!(
            table,
            "| workers | throughput (tasks/s) | latency (ms) | avg queue length |\n\
             | ------- | ------------------- | ------------ | ---------------- |\n\
             | 1 | 100.00 | 55.000 | 4.17 |\n\
             | 2 | 100.00 | 15.084 | 0.18 |\n\
             | 3 | 100.00 | 13.555 | 0.02 |\n\
             | 4 | 100.00 | 13.362 | 0.00 |\n"
        );
    }

    #[test]
    fn unstable_rows_say_so() {
        let input = ModelInput {
            max_workers: 3,
            arrival_rate: 250.0,
            ..seed_input()
        };
        let report = model(input).unwrap();
        assert!(!report.rows[0].stable && !report.rows[1].stable && report.rows[2].stable);
        let table = report.markdown();
        assert!(
            table.contains("| 1 | unstable (ρ = 2.08 ≥ 1) | — | — |"),
            "{table}"
        );
        assert!(
            table.contains("| 2 | unstable (ρ = 1.04 ≥ 1) | — | — |"),
            "{table}"
        );
    }

    #[test]
    fn bad_inputs_name_the_flag() {
        let cases = [
            (
                ModelInput {
                    max_workers: 0,
                    ..seed_input()
                },
                "--max-workers",
            ),
            (
                ModelInput {
                    arrival_rate: -1.0,
                    ..seed_input()
                },
                "--arrival-rate",
            ),
            (
                ModelInput {
                    service_rate: f64::NAN,
                    ..seed_input()
                },
                "--service-rate",
            ),
            (
                ModelInput {
                    network_delay: -0.1,
                    ..seed_input()
                },
                "--network-delay",
            ),
        ];
        for (input, flag) in cases {
            let err = model(input).unwrap_err();
            assert!(err.to_string().starts_with(flag), "{err}");
            assert_eq!(err.exit(), Exit::Usage);
        }
    }

    #[test]
    fn writes_both_charts() {
        let dir = tempfile::tempdir().unwrap();
        let written = model(seed_input()).unwrap().write_svgs(dir.path()).unwrap();
        assert_eq!(written.len(), 2);
        for path in written {
            let svg = std::fs::read_to_string(&path).unwrap();
            assert_eq!(svg.matches("<circle").count(), 4, "{}", path.display());
        }
    }
}
