//! `perf-test tools`: parallel tool execution as the published tool-execution benchmarks measure
//! it, on the pool: N simulated tool calls
//! of a fixed duration run one after another (one worker) and all at once (N workers);
//! speedup = sequential / parallel, efficiency = sequential / (parallel × N), and the
//! memory each in-flight tool costs, from the resource monitor's RSS.
//!
//! A "tool call" here is [`Task::sleep`]: it holds no thread while it waits, like an
//! HTTP call to a tool. Memory per tool is (peak RSS during the run − RSS before the
//! pool existed) / N; at small N that is below RSS's page granularity and noise, so a
//! large probe (10 000 tools by default) gives the figure to rely on.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use bench_gate::Direction;
use bench_gate::perf::PerfReport;
use orchbench::monitor::{MonitorConfig, MonitorError, ResourceMonitor};
use orchbench::scenarios::tool_calls;
use orchbench::scheduler::{Pool, PoolConfig, PoolError, Shutdown, SubmitError};
use serde::Serialize;

use crate::{Console, PerfError, metric, with_wakeups, write_json_noted};

/// Why a measurement could not run.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    /// The pool could not be built.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A tool call was refused.
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// The resource monitor could not start.
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// A parameter is out of range.
    #[error("{0}")]
    Parameter(String),
}

/// One row of the parallel-tools table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolsRow {
    /// Tool calls issued at once.
    pub parallel: usize,
    /// Each call's duration, milliseconds.
    pub tool_time_ms: f64,
    /// All calls one after another, seconds (measured; skipped rows are `None`).
    pub sequential_s: Option<f64>,
    /// All calls at once, seconds.
    pub parallel_s: f64,
    /// `sequential_s / parallel_s`.
    pub speedup: Option<f64>,
    /// `sequential_s / (parallel_s × parallel)`: 1.0 is perfect overlap.
    pub efficiency: Option<f64>,
    /// Peak RSS during the parallel run, bytes.
    pub peak_rss_bytes: u64,
    /// (peak RSS − RSS before the pool existed) / `parallel`, bytes.
    pub memory_per_tool_bytes: f64,
}

/// Measures one row: `parallel` calls at once (and one after another unless
/// `sequential` is false, which the memory probe uses to avoid a 200 s run).
pub async fn measure(
    parallel: usize,
    tool_time: Duration,
    sequential: bool,
) -> Result<ToolsRow, ToolsError> {
    if parallel == 0 {
        return Err(ToolsError::Parameter(
            "--parallel counts must be at least 1".into(),
        ));
    }
    if tool_time.is_zero() {
        return Err(ToolsError::Parameter(
            "the tool time must be longer than zero".into(),
        ));
    }
    let sequential_s = if sequential {
        let pool = Pool::new(PoolConfig::with_workers(1))?;
        let elapsed = tool_calls(&pool, parallel, tool_time).await?;
        pool.shutdown(Shutdown::Drain).await;
        Some(elapsed.as_secs_f64())
    } else {
        None
    };
    let monitor = ResourceMonitor::start(MonitorConfig {
        interval: Duration::from_millis(5),
        include_children: false,
    })?;
    // The baseline is the first sample, taken before the pool exists.
    while monitor.latest().0 == 0 {
        tokio::task::yield_now().await;
    }
    let before = monitor.latest().0;
    let config = PoolConfig {
        max_in_flight: parallel.max(1),
        ..PoolConfig::with_workers(parallel)
    };
    let pool = Pool::new(config)?;
    let parallel_s = tool_calls(&pool, parallel, tool_time).await?.as_secs_f64();
    let report = monitor.stop();
    pool.shutdown(Shutdown::Drain).await;
    let peak = report.rss_peak.max(before);
    Ok(ToolsRow {
        parallel,
        tool_time_ms: tool_time.as_secs_f64() * 1e3,
        sequential_s,
        parallel_s,
        speedup: sequential_s.map(|s| s / parallel_s),
        efficiency: sequential_s.map(|s| s / (parallel_s * parallel as f64)),
        peak_rss_bytes: peak,
        memory_per_tool_bytes: (peak - before) as f64 / parallel as f64,
    })
}

/// `perf-test tools`: which call counts to measure and the reports to write.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ToolsOptions {
    /// Tool-call counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,5,20,50,100")]
    pub parallel: Vec<usize>,
    /// Duration of one simulated tool call, milliseconds.
    #[arg(long, default_value_t = 20)]
    pub tool_time_ms: u64,
    /// Also run this many calls at once (without the sequential run) for a memory
    /// figure above RSS noise; 0 skips it.
    #[arg(long, default_value_t = 10_000)]
    pub probe: usize,
    /// Also write the rows as JSON to this file (atomically).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The report for bench-gate (single_tool_time, parallel_efficiency_N,
    /// memory_50_tools, ...).
    #[arg(long, default_value = "target/perf/tools.json")]
    pub gate_json: PathBuf,
}

impl ToolsOptions {
    /// Checks the counts and the call time, naming the flag that is out of range.
    pub fn validate(&self) -> Result<Duration, PerfError> {
        if self.tool_time_ms == 0 {
            return Err(PerfError::Usage(
                "--tool-time-ms must be at least 1, got 0".into(),
            ));
        }
        if let Some(bad) = self.parallel.iter().find(|&&n| n == 0 || n > 100_000) {
            return Err(PerfError::Usage(format!(
                "--parallel counts must be between 1 and 100000, got {bad}"
            )));
        }
        if self.probe > 100_000 {
            return Err(PerfError::Usage(format!(
                "--probe must be at most 100000, got {}",
                self.probe
            )));
        }
        Ok(Duration::from_millis(self.tool_time_ms))
    }
}

/// Measures every row `options` asks for (and the memory probe), shows the table and
/// writes the reports; returns the rows.
pub fn run(options: &ToolsOptions, console: &mut dyn Console) -> Result<Vec<ToolsRow>, PerfError> {
    let tool_time = options.validate()?;
    let runtime = orchbench::scheduler::runtime()
        .map_err(|e| PerfError::Run(format!("cannot start the async runtime: {e}")))?;
    let row = |n, sequential| {
        runtime
            .block_on(measure(n, tool_time, sequential))
            .map_err(|e| PerfError::Run(e.to_string()))
    };
    let mut rows = Vec::new();
    for &n in &options.parallel {
        console.status(&format!("running {n} tool call(s) ..."));
        rows.push(row(n, true)?);
    }
    if options.probe > 0 {
        console.status(&format!(
            "running the memory probe: {} calls at once ...",
            options.probe
        ));
        rows.push(row(options.probe, false)?);
    }
    console.report(&tools_markdown(&rows));
    if let Some(path) = &options.json {
        write_json_noted(console, path, &rows)?;
    }
    write_json_noted(
        console,
        &options.gate_json,
        &with_wakeups(tools_metrics(&rows)),
    )?;
    Ok(rows)
}

/// Renders the parallel-tools table (the published tool-execution benchmarks' columns).
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

/// The `tools` rows as the report `bench-gate` reads (`perf/tools/<metric>`), named as
/// `thresholds.toml`'s parallel-tool rules expect:
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
