//! Seed 004's parallel tool execution, measured on the pool: N simulated tool calls
//! of a fixed duration run one after another (one worker) and all at once (N workers);
//! speedup = sequential / parallel, efficiency = sequential / (parallel × N), and the
//! memory each in-flight tool costs, from the resource monitor's RSS.
//!
//! A "tool call" here is [`Task::sleep`]: it holds no thread while it waits, like an
//! HTTP call to a tool. Memory per tool is (peak RSS during the run − RSS before the
//! pool existed) / N; at small N that is below RSS's page granularity and noise, so a
//! large probe (10 000 tools by default) gives the figure to rely on.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Pool, PoolConfig, PoolError, Shutdown, SubmitError, Task};
use crate::monitor::{MonitorConfig, MonitorError, ResourceMonitor};

/// The simulated tool call's duration used by the bench and `perf-test tools`.
pub const DEFAULT_TOOL_TIME: Duration = Duration::from_millis(20);

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

/// One row of seed 004's table.
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

/// Issues `tools` calls of `tool_time` to `pool` as one batch (the calls of one step)
/// and returns the wall time from the submission to the last completion.
pub async fn run_calls(
    pool: &Pool,
    tools: usize,
    tool_time: Duration,
) -> Result<Duration, ToolsError> {
    let t0 = Instant::now();
    pool.submit_batch((0..tools).map(|_| Task::sleep(tool_time)))
        .await?;
    pool.wait_idle().await;
    Ok(t0.elapsed())
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
        let elapsed = run_calls(&pool, parallel, tool_time).await?;
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
    let parallel_s = run_calls(&pool, parallel, tool_time).await?.as_secs_f64();
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
