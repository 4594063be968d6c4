//! The task scheduler: a worker pool on tokio that runs [`Task`]s from a lock-free
//! queue, with backpressure (submit waits, or is refused, once in-flight tasks reach a
//! cap), optional adaptive sizing between a minimum and a maximum of workers, an
//! optional simulated dispatch delay that is pipelined with execution, and per-task
//! timestamps ([`TaskRecord`]). Shutdown drains or cancels; either way every submitted
//! task ends counted as completed, failed or cancelled, and no child process survives.
//!
//! [`runtime`] builds the tokio runtime the pool is made for.
//!
//! Not here: load drivers (open-loop arrivals, parallel tool calls) and the distributed
//! queue over Redis Streams, which belong to the load tester (`perf-test`) and are
//! built from this module's public API only.

mod pool;
mod resize;
mod speculation;
mod task;

use std::time::Duration;

pub use pool::Pool;
pub use speculation::{Abandoned, Speculation, SpeculationError, SpeculationStats};
pub use task::{Outcome, Task, TaskFuture, TaskId, TaskRecord};

/// The tokio runtime a pool is made for, and the one the benches, tests and tools
/// share: multi-threaded with one worker thread per core, timers and I/O (for process
/// tasks) enabled.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
}

/// What `submit` does when in-flight tasks (queued + running) reach the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// `submit` waits until a task finishes.
    Wait,
    /// `submit` returns [`SubmitError::Full`] at once.
    Reject,
}

/// Adaptive sizing: grow while queued tasks outnumber idle workers, shrink while workers idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adaptive {
    /// The fewest workers.
    pub min: usize,
    /// The most workers.
    pub max: usize,
    /// How often the backlog and utilisation are checked.
    pub interval: Duration,
    /// Consecutive quiet checks (no backlog, under half the workers busy) before one
    /// worker is retired.
    pub scale_down_after: u32,
}

impl Adaptive {
    /// Between `min` and `max` workers, checked every 10 ms, shrinking after 5 quiet checks.
    pub fn between(min: usize, max: usize) -> Adaptive {
        Adaptive {
            min,
            max,
            interval: Duration::from_millis(10),
            scale_down_after: 5,
        }
    }
}

/// How a pool is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Workers at start (with `adaptive`, clamped to its range).
    pub workers: usize,
    /// The most tasks queued and running at once.
    pub max_in_flight: usize,
    /// What `submit` does at the cap.
    pub backpressure: Backpressure,
    /// Grow and shrink between bounds; `None` keeps `workers` fixed.
    pub adaptive: Option<Adaptive>,
    /// A simulated dispatch (network) delay between a worker taking a task and the task
    /// starting, as in the published queueing study's distributed benchmark.
    pub dispatch_delay: Duration,
    /// With a dispatch delay: tasks each worker takes ahead while it runs one, so the
    /// delay overlaps execution instead of adding to it. Ignored without a delay.
    pub prefetch: usize,
    /// Keep a [`TaskRecord`] per task for [`Pool::take_records`].
    pub keep_records: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_in_flight: 1 << 20,
            backpressure: Backpressure::Wait,
            adaptive: None,
            dispatch_delay: Duration::ZERO,
            prefetch: 1,
            keep_records: true,
        }
    }
}

impl PoolConfig {
    /// The default configuration with `workers` fixed workers.
    pub fn with_workers(workers: usize) -> PoolConfig {
        PoolConfig {
            workers,
            ..PoolConfig::default()
        }
    }
}

/// A pool that cannot be built, naming the field and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// A numeric setting is out of range.
    #[error("{field} must be {expected}, got {value}")]
    Config {
        /// The setting's name.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// The rejected value.
        value: String,
    },
    /// No tokio runtime to run the workers on.
    #[error("the pool needs a tokio runtime: create it inside one or use Pool::with_handle")]
    NoRuntime,
}

/// Why a task was not accepted. Every refusal is counted in [`PoolStats`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// In-flight tasks are at the cap and the policy is [`Backpressure::Reject`].
    #[error("the pool is full: {cap} tasks in flight")]
    Full {
        /// The in-flight cap.
        cap: usize,
    },
    /// The pool is shutting down or shut down.
    #[error("the pool is shut down")]
    ShutDown,
}

/// How [`Pool::shutdown`] treats unfinished tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Run every queued and running task to its end.
    Drain,
    /// Cancel queued tasks and stop running ones (processes are killed and reaped).
    Cancel,
}

/// Counts of a pool's tasks and workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Tasks accepted by `submit`.
    pub submitted: u64,
    /// Tasks that ran to the end.
    pub completed: u64,
    /// Tasks that failed (error, panic, process failure).
    pub failed: u64,
    /// Tasks cancelled by shutdown.
    pub cancelled: u64,
    /// Submissions refused because the pool was full (`Reject` policy).
    pub rejected_full: u64,
    /// Submissions refused because the pool was shut down.
    pub rejected_shut_down: u64,
    /// Tasks queued or running now.
    pub in_flight: usize,
    /// Workers now.
    pub workers: usize,
    /// The most workers at any time.
    pub peak_workers: usize,
    /// Workers running a task now.
    pub busy_workers: usize,
    /// The speculations ([`Pool::speculate`]): started, confirmed, abandoned, wasted.
    pub speculation: SpeculationStats,
}

/// What a shutdown accounted for: `submitted == completed + failed + cancelled`, and
/// every speculation decided (`speculation.open == 0`). A speculation is a submitted
/// task like any other, so its run counts in those three too: an abandoned one as
/// cancelled if it was stopped or never ran, as completed if its run had ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Tasks accepted over the pool's life.
    pub submitted: u64,
    /// Tasks that ran to the end.
    pub completed: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Tasks cancelled.
    pub cancelled: u64,
    /// The speculations, all decided: `started == confirmed + abandoned`.
    pub speculation: SpeculationStats,
}
