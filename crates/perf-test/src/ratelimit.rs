//! `perf-test ratelimit`: runs the pacing scenarios of [`crate::rate_scenarios`] that
//! the flags select, on the real or a virtual clock, shows them as a table and writes
//! the report bench-gate reads (accuracy as closeness to the target rate, wait
//! percentiles).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::rate_scenarios::{Scenario, ScenarioReport, ScenarioSet, run_real, run_virtual};
use crate::{Console, PerfError, metric, write_json_noted};
use bench_gate::Direction;
use bench_gate::perf::PerfReport;

/// Renders reports as an aligned text table.
pub fn table(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:<7} {:<32} {:>8} {:>10} {:>10} {:>8} {:>15} {:>9} {:>9} {:>6} {:>9}",
        "scenario",
        "clock",
        "limiter",
        "target/s",
        "achieved/s",
        "accuracy",
        "granted",
        "per-second",
        "wait avg",
        "wait p95",
        "q p95",
        "memory"
    );
    for r in reports {
        let _ = writeln!(
            out,
            "{:<26} {:<7} {:<32} {:>8.1} {:>10.2} {:>10.5} {:>8} {:>8.1} ± {:<4.1} {:>6.2} ms {:>6.2} ms {:>6} {:>7} B",
            r.name,
            r.clock,
            r.limiter,
            r.target_rate,
            r.achieved_rate,
            r.accuracy,
            r.granted,
            r.per_second_mean,
            r.per_second_sd,
            r.wait_avg_ms,
            r.wait_p95_ms,
            r.queue_depth_p95,
            r.memory_bytes
        );
    }
    out
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

/// `perf-test ratelimit`: which scenarios, on which clock, and the reports to write.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct RatelimitOptions {
    /// Which scenarios: all, token-bucket, or sliding-window (log and counter).
    #[arg(long, value_enum, default_value_t = ScenarioSet::All)]
    pub scenario: ScenarioSet,
    /// Length of the sliding-window scenarios, seconds (the reference runs 60).
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub seconds: f64,
    /// Run instantly on a manual clock (an exact simulation) instead of the real one.
    #[arg(long = "virtual")]
    pub virtual_clock: bool,
    /// Also write the full scenario reports as JSON to this file (atomically).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The report for bench-gate (rate_limit_accuracy_S, wait_p95_S, ...).
    #[arg(long, default_value = "target/perf/ratelimit.json")]
    pub gate_json: PathBuf,
}

/// Runs the scenarios `options` selects, shows the table and writes the reports;
/// returns one report per scenario.
pub fn run(
    options: &RatelimitOptions,
    console: &mut dyn Console,
) -> Result<Vec<ScenarioReport>, PerfError> {
    let seconds = options.seconds;
    if !(seconds.is_finite() && (1.0..=86_400.0).contains(&seconds)) {
        return Err(PerfError::Usage(format!(
            "--seconds must be between 1 and 86400, got {seconds}"
        )));
    }
    let mut reports = Vec::new();
    for s in Scenario::standard(options.scenario, Duration::from_secs_f64(seconds)) {
        console.status(&format!(
            "running {} ({}) ...",
            s.name,
            s.limiter.describe()
        ));
        let report = if options.virtual_clock {
            run_virtual(&s)
        } else {
            run_real(&s)
        };
        reports.push(report.map_err(|e| PerfError::Run(e.to_string()))?);
    }
    console.report(&table(&reports));
    if let Some(path) = &options.json {
        write_json_noted(console, path, &reports)?;
    }
    write_json_noted(
        console,
        &options.gate_json,
        &crate::with_wakeups(ratelimit_metrics(&reports)),
    )?;
    Ok(reports)
}
