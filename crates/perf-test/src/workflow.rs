//! `perf-test`'s macro load test (as the published workflow load test runs it): N
//! workflows of M tasks each, every workflow a DAG planned by the planner and executed by
//! the scheduler's pool, submitted as fast as possible and measured until every task has
//! ended.
//!
//! A task is submitted the moment its last predecessor ends (so `created` is when it
//! became ready), and its latency, queue wait and run time come from the pool's own
//! [`TaskRecord`](orchbench::scheduler::TaskRecord)s. The figures: latency avg/min/max and
//! p50/p95/p99/p99.9 (hdrhistogram), the pool's overhead (latency − queue wait − task
//! duration), submission rate (runs/s), completion rate (tasks/s) against the ideal
//! (busy workers / task duration), RSS initial/final/growth/peak and CPU (sampled by
//! [`orchbench::monitor`]), peak workers. [`RunReport::metrics`] turns them into the
//! report `bench-gate` reads (`bench_gate::perf`).
//!
//! Configurations are TOML (`perf-configs/*.toml`, built into the binary too):
//!
//! ```toml
//! runs = 100            # workflows
//! tasks_per_run = 5     # tasks per workflow
//! duration = 0.1        # seconds one task takes
//! workers = 20          # pool size
//! executor = "async"    # or "process" (sh -c 'sleep 0.1', or `command`)
//! shape = "fanout"      # "fanout" (independent tasks), "chain" or "dag"
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::PerfError;
use bench_gate::Direction;
use bench_gate::perf::PerfReport;
use orchbench::monitor::{MonitorConfig, MonitorReport, ResourceMonitor};
use orchbench::planner::stages::Topology;
use orchbench::planner::{Dag, Plan, Readiness};
use orchbench::scheduler::{Outcome, Pool, PoolConfig, Task};
use orchbench::workload;

/// The built-in configurations: the published workflow load test's five, with a pool size each.
pub const BUILTIN_CONFIGS: &[(&str, &str)] = &[
    ("quick", include_str!("../../../perf-configs/quick.toml")),
    (
        "standard",
        include_str!("../../../perf-configs/standard.toml"),
    ),
    ("heavy", include_str!("../../../perf-configs/heavy.toml")),
    (
        "latency",
        include_str!("../../../perf-configs/latency.toml"),
    ),
    ("memory", include_str!("../../../perf-configs/memory.toml")),
];

/// How a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    /// An exact async sleep of the task's duration on the pool (no thread held).
    Async,
    /// An OS process: `sh -c 'sleep SECS'`, or the configured command.
    Process,
}

impl Executor {
    /// `async` or `process`, as `--executor` takes it.
    pub fn parse(s: &str) -> Result<Executor, String> {
        match s {
            "async" => Ok(Executor::Async),
            "process" => Ok(Executor::Process),
            _ => Err(format!("{s:?}: use async or process")),
        }
    }
}

/// The dependency structure of one workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// M independent tasks (the published workflow load test's workflows).
    Fanout,
    /// M tasks one after another.
    Chain,
    /// A random DAG of M tasks (`workload::random_forward_dag`, seeded).
    Dag,
}

impl Shape {
    /// `fanout`, `chain` or `dag`, as `--shape` takes it.
    pub fn parse(s: &str) -> Result<Shape, String> {
        match s {
            "fanout" => Ok(Shape::Fanout),
            "chain" => Ok(Shape::Chain),
            "dag" => Ok(Shape::Dag),
            _ => Err(format!("{s:?}: use fanout, chain or dag")),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    description: Option<String>,
    runs: i64,
    tasks_per_run: i64,
    duration: f64,
    workers: Option<i64>,
    executor: Option<Executor>,
    shape: Option<Shape>,
    command: Option<String>,
    timeout: Option<f64>,
}

/// A load test: what to submit and how to run it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunConfig {
    /// The config's name (the report's name).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Workflows submitted.
    pub runs: usize,
    /// Tasks per workflow.
    pub tasks_per_run: usize,
    /// How long one task takes.
    pub duration: Duration,
    /// Pool workers.
    pub workers: usize,
    /// Async sleeps or OS processes.
    pub executor: Executor,
    /// The workflows' dependency structure.
    pub shape: Shape,
    /// The process executor's command (default `sleep <duration>`).
    pub command: Option<String>,
    /// Give up after this long (default: [`RunConfig::default_timeout`]); what
    /// completed is still reported.
    pub timeout: Option<Duration>,
}

impl RunConfig {
    /// The names of the built-in configs.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN_CONFIGS.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in config by name, or a TOML file by path (anything with a `/` or ending
    /// in `.toml`). An unknown name lists the known ones.
    pub fn named(name: &str) -> Result<RunConfig, PerfError> {
        if name.contains('/') || name.ends_with(".toml") {
            let path = Path::new(name);
            let text = std::fs::read_to_string(path)
                .map_err(|e| PerfError::Usage(format!("--config {}: {e}", path.display())))?;
            let stem = path
                .file_stem()
                .map_or("custom".into(), |s| s.to_string_lossy().into_owned());
            return RunConfig::parse(&stem, &text, &path.display().to_string());
        }
        match BUILTIN_CONFIGS.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => RunConfig::parse(n, text, &format!("perf-configs/{n}.toml")),
            None => Err(PerfError::Usage(format!(
                "--config {name:?}: no such config; the built-in ones are {} (or give a path to a .toml file)",
                RunConfig::builtin_names().join(", ")
            ))),
        }
    }

    /// Parses a config's TOML; `origin` names it in errors (which give line and key).
    pub fn parse(name: &str, text: &str, origin: &str) -> Result<RunConfig, PerfError> {
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| PerfError::Usage(format!("{origin}: {}", e.to_string().trim_end())))?;
        let config = RunConfig {
            name: name.to_owned(),
            description: raw.description.unwrap_or_default(),
            runs: count(origin, "runs", raw.runs)?,
            tasks_per_run: count(origin, "tasks_per_run", raw.tasks_per_run)?,
            duration: seconds(origin, "duration", raw.duration)?,
            workers: count(origin, "workers", raw.workers.unwrap_or(20))?,
            executor: raw.executor.unwrap_or(Executor::Async),
            shape: raw.shape.unwrap_or(Shape::Fanout),
            command: raw.command,
            timeout: match raw.timeout {
                None => None,
                Some(t) if t > 0.0 => Some(seconds(origin, "timeout", t)?),
                Some(t) => {
                    return Err(PerfError::Usage(format!(
                        "{origin}: timeout: must be seconds in (0, 3600], got {t}"
                    )));
                }
            },
        };
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks the limits (also after command-line overrides); `origin` names the source.
    pub fn validate(&self, origin: &str) -> Result<(), PerfError> {
        let bad = |key: &str, why: String| Err(PerfError::Usage(format!("{origin}: {key}: {why}")));
        if self.runs == 0 || self.runs > 1_000_000 {
            return bad("runs", format!("must be 1..=1000000, got {}", self.runs));
        }
        if self.tasks_per_run == 0 || self.tasks_per_run > 10_000 {
            return bad(
                "tasks_per_run",
                format!("must be 1..=10000, got {}", self.tasks_per_run),
            );
        }
        if self.runs * self.tasks_per_run > 10_000_000 {
            return bad(
                "runs × tasks_per_run",
                format!("{} tasks: at most 10000000", self.runs * self.tasks_per_run),
            );
        }
        if self.workers == 0 || self.workers > 100_000 {
            return bad(
                "workers",
                format!("must be 1..=100000, got {}", self.workers),
            );
        }
        if self.duration > Duration::from_secs(3600) {
            return bad(
                "duration",
                format!("at most 3600 s, got {:?}", self.duration),
            );
        }
        if matches!(&self.command, Some(c) if c.trim().is_empty()) {
            return bad("command", "is empty".into());
        }
        Ok(())
    }

    /// Total tasks.
    pub fn total_tasks(&self) -> usize {
        self.runs * self.tasks_per_run
    }

    /// How long the run should take at best: the waves of tasks the pool must run one
    /// after another (for a chain, at least its length), times the task duration.
    pub fn expected(&self) -> Duration {
        let waves = self.total_tasks().div_ceil(self.workers);
        let depth = match self.shape {
            Shape::Fanout => 1,
            Shape::Chain | Shape::Dag => self.tasks_per_run,
        };
        self.duration * waves.max(depth) as u32
    }

    /// The time limit when none is configured: ten times [`RunConfig::expected`], and
    /// at least a minute (a process command of unknown length gets that long).
    pub fn default_timeout(&self) -> Duration {
        (self.expected() * 10).max(Duration::from_secs(60))
    }

    /// The time limit in force.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| self.default_timeout())
    }

    /// The shell command of one task (process executor).
    pub fn shell_command(&self) -> String {
        self.command
            .clone()
            .unwrap_or_else(|| format!("sleep {}", self.duration.as_secs_f64()))
    }

    /// One workflow's DAG.
    pub fn dag(&self) -> Dag {
        let m = self.tasks_per_run;
        match self.shape {
            Shape::Dag => workload::random_forward_dag(m, workload::DEFAULT_SEED),
            Shape::Fanout | Shape::Chain => {
                let costs = vec![self.duration.as_secs_f64(); m];
                let edges: Vec<(usize, usize)> = match self.shape {
                    Shape::Chain => (1..m).map(|i| (i - 1, i)).collect(),
                    _ => Vec::new(),
                };
                Dag::from_edges(&costs, &edges).expect("generated shapes are acyclic")
            }
        }
    }
}

fn count(origin: &str, key: &str, v: i64) -> Result<usize, PerfError> {
    usize::try_from(v).ok().filter(|&n| n > 0).ok_or_else(|| {
        PerfError::Usage(format!(
            "{origin}: {key}: must be a positive count, got {v}"
        ))
    })
}

fn seconds(origin: &str, key: &str, v: f64) -> Result<Duration, PerfError> {
    if v.is_finite() && (0.0..=3600.0).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(PerfError::Usage(format!(
            "{origin}: {key}: must be seconds in 0..=3600, got {v}"
        )))
    }
}

/// Latency figures in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// How many values.
    pub count: u64,
    /// Mean.
    pub avg: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

impl Latency {
    /// From nanosecond values: count, mean, min and max exact; the percentiles from an
    /// hdrhistogram at 3 significant digits (0.1 % resolution).
    pub fn from_nanos(values: impl Iterator<Item = u64>) -> Latency {
        // 1 ns to 1 hour; longer values are clamped to the top.
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
            .expect("valid histogram bounds");
        let (mut sum, mut min, mut max) = (0u128, u64::MAX, 0u64);
        for v in values {
            h.saturating_record(v);
            sum += u128::from(v);
            min = min.min(v);
            max = max.max(v);
        }
        if h.is_empty() {
            return Latency::default();
        }
        // A histogram bucket reports its highest equivalent value, which can lie above
        // the exact maximum: no percentile may exceed it.
        let s = |ns: u64| ns.min(max) as f64 / 1e9;
        Latency {
            count: h.len(),
            avg: sum as f64 / h.len() as f64 / 1e9,
            min: s(min),
            max: s(max),
            p50: s(h.value_at_quantile(0.50)),
            p95: s(h.value_at_quantile(0.95)),
            p99: s(h.value_at_quantile(0.99)),
            p999: s(h.value_at_quantile(0.999)),
        }
    }
}

/// What one load test measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The configuration run.
    pub config: RunConfig,
    /// Tasks that completed.
    pub completed: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Tasks never run because a predecessor failed.
    pub skipped: u64,
    /// Tasks cancelled unfinished when the run hit its time limit.
    pub cancelled: u64,
    /// Whether the run hit its time limit (the figures cover what ended before it).
    pub timed_out: bool,
    /// Whether Ctrl-C stopped the run (the figures cover what ended before it).
    pub interrupted: bool,
    /// Task latency: ready (submitted) to finished.
    pub latency: Latency,
    /// Queue wait: submitted to started.
    pub queue_wait: Latency,
    /// The pool's overhead per task: latency − queue wait − the task's duration.
    pub overhead: Latency,
    /// Workflow latency: trigger to its last task's end.
    pub workflow_latency: Latency,
    /// Seconds until every workflow had been submitted (its first tasks queued).
    pub submission_s: f64,
    /// Workflows submitted per second.
    pub submission_rate: f64,
    /// Seconds from the first submission to the last task's end.
    pub duration_s: f64,
    /// Tasks completed per second over `duration_s`.
    pub completion_rate: f64,
    /// The most tasks per second the pool could complete: busy workers / duration.
    pub ideal_rate: f64,
    /// `completion_rate / ideal_rate`.
    pub efficiency: f64,
    /// The resource monitor's figures (this process, plus children for processes),
    /// from the moment the pool is up and idle to the end of the run.
    pub resources: MonitorReport,
    /// The most workers the pool had (distributed: the workers' slots).
    pub peak_workers: usize,
    /// What a distributed run (`--broker`) adds; `None` for a local run.
    pub distributed: Option<DistributedStats>,
}

/// What the distributed run adds to a [`RunReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistributedStats {
    /// The broker, `host:port`.
    pub broker: String,
    /// The task stream.
    pub stream: String,
    /// Workers that reported a result.
    pub workers_seen: usize,
    /// Their slots in all.
    pub slots: usize,
    /// Results per worker.
    pub per_worker: Vec<(String, u64)>,
    /// Results received for tasks already reported (re-runs after a reclaim or a
    /// broker restart): counted here, never twice in the figures.
    pub duplicates: u64,
    /// The broker outages the run survived, each one's length in seconds.
    pub outages: Vec<f64>,
    /// Of those, how many were server restarts (the server's run id changed).
    pub restarts: u64,
    /// Tasks published again after an outage (a restart lost them, or their first
    /// publication failed).
    pub republished: u64,
    /// Why the run stopped early: the broker stayed unreachable past `--broker-timeout`.
    pub broker_lost: Option<String>,
    /// The tasks that did not end (neither completed nor failed), by id
    /// (`workflow × tasks_per_run + node`): empty unless the run stopped early.
    pub unfinished: Vec<u64>,
}

/// `ids` (ascending) as ranges: `3, 5-9, 12`.
pub fn id_ranges(ids: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if j == i {
            out.push_str(&ids[i].to_string());
        } else {
            out.push_str(&format!("{}-{}", ids[i], ids[j]));
        }
        i = j + 1;
    }
    out
}

/// `completion / ideal`; NaN (no efficiency, and no metric) without an ideal rate, as
/// for zero-length tasks.
pub(crate) fn efficiency(completion_rate: f64, ideal_rate: f64) -> f64 {
    if ideal_rate.is_finite() && ideal_rate > 0.0 {
        completion_rate / ideal_rate
    } else {
        f64::NAN
    }
}

/// A live snapshot for progress displays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Tasks ended so far.
    pub done: u64,
    /// Tasks in all.
    pub total: u64,
    /// RSS now, bytes.
    pub rss: u64,
    /// CPU now, percent of one core.
    pub cpu: f64,
    /// Workers running a task now.
    pub active_workers: usize,
    /// Seconds since the start.
    pub elapsed_s: f64,
}

impl Progress {
    /// One line: `Progress: 350/500 tasks | RSS 9.1 MiB, CPU 5.8 % | workers 20`.
    pub fn line(&self) -> String {
        format!(
            "{}/{} tasks | RSS {:.1} MiB, CPU {:.1} % | workers {} | {:.1} s",
            self.done,
            self.total,
            self.rss as f64 / (1024.0 * 1024.0),
            self.cpu,
            self.active_workers,
            self.elapsed_s
        )
    }
}

/// Per-workflow bookkeeping shared by its driver.
struct Shared {
    done: AtomicU64,
    submitted_runs: AtomicUsize,
    all_submitted_ns: AtomicU64,
    skipped: AtomicU64,
}

/// Drives one workflow: submits each task when its last predecessor has ended (the
/// pool tells the driver through [`Task::on_end`] and a channel). Returns the
/// workflow's latency in nanoseconds.
async fn drive(
    pool: Arc<Pool>,
    plan: Plan,
    topology: Arc<Topology>,
    make: Arc<dyn Fn() -> Task + Send + Sync>,
    shared: Arc<Shared>,
    start: Instant,
    runs: usize,
) -> u64 {
    let triggered = Instant::now();
    let n = topology.node_count();
    let indegree = topology.indegrees();
    let mut readiness = Readiness::new(topology.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u32, bool)>();
    let task = |node: u32| {
        let tx = tx.clone();
        let made = Instant::now();
        make().on_end(move |outcome: &Outcome| {
            let ok = *outcome == Outcome::Completed;
            if let Some(live) = crate::live::get() {
                live.observe(made.elapsed().as_secs_f64(), ok);
            }
            // The driver outlives its tasks; a send can only fail if it was aborted.
            let _ = tx.send((node, ok));
        })
    };
    let mut outstanding = 0usize;
    let mut ended = 0usize;
    // Roots, in the plan's order, as one batch.
    let roots: Vec<u32> = plan
        .order()
        .iter()
        .map(|id| id.index() as u32)
        .filter(|&i| indegree[i as usize] == 0)
        .collect();
    let first: Vec<Task> = roots.iter().map(|&i| task(i)).collect();
    match pool.submit_batch(first).await {
        Ok(ids) => outstanding += ids.len(),
        Err(_) => ended += roots.len(),
    }
    if shared.submitted_runs.fetch_add(1, Ordering::SeqCst) + 1 == runs {
        shared
            .all_submitted_ns
            .store(start.elapsed().as_nanos() as u64, Ordering::SeqCst);
    }
    while outstanding > 0 {
        let Some((node, completed)) = rx.recv().await else {
            break;
        };
        outstanding -= 1;
        ended += 1;
        shared.done.fetch_add(1, Ordering::Relaxed);
        if !completed {
            readiness.fail(node);
            continue;
        }
        for s in readiness.complete(node) {
            match pool.submit(task(s)).await {
                Ok(_) => outstanding += 1,
                Err(_) => ended += 1,
            }
        }
    }
    // Tasks behind a failed one (or one the pool refused) never ran.
    let skipped = (n - ended) as u64;
    shared.skipped.fetch_add(skipped, Ordering::Relaxed);
    shared.done.fetch_add(skipped, Ordering::Relaxed);
    triggered.elapsed().as_nanos() as u64
}

/// Runs a load test on the current tokio runtime, calling `progress` every
/// `progress_every` with a snapshot.
pub async fn run(
    config: &RunConfig,
    progress_every: Duration,
    mut progress: impl FnMut(Progress),
) -> Result<RunReport, PerfError> {
    let pool = Arc::new(
        Pool::new(PoolConfig::with_workers(config.workers))
            .map_err(|e| PerfError::Usage(format!("--workers: {e}")))?,
    );
    // The initial RSS is the scheduler's, running idle before any workflow arrives (as the
    // published workflow load test measures its scheduler process): let the workers start and
    // park first.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let monitor = ResourceMonitor::start(MonitorConfig {
        interval: Duration::from_millis(50),
        include_children: config.executor == Executor::Process,
    })
    .map_err(|e| PerfError::Run(format!("cannot monitor resources: {e}")))?;
    let dag = config.dag();
    let topology =
        Arc::new(Topology::new(&dag).map_err(|e| PerfError::Run(format!("planning: {e}")))?);
    let make: Arc<dyn Fn() -> Task + Send + Sync> = match config.executor {
        Executor::Async => {
            let d = config.duration;
            Arc::new(move || Task::sleep(d))
        }
        Executor::Process => {
            let cmd = config.shell_command();
            Arc::new(move || Task::process(cmd.clone()))
        }
    };
    let shared = Arc::new(Shared {
        done: AtomicU64::new(0),
        submitted_runs: AtomicUsize::new(0),
        all_submitted_ns: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
    });
    let total = config.total_tasks() as u64;
    let width = Plan::build(&dag)
        .map(|p| p.max_parallelism())
        .unwrap_or(1)
        .max(1);
    let start = Instant::now();
    let mut drivers = tokio::task::JoinSet::new();
    for _ in 0..config.runs {
        // Each workflow is planned on its own, as an orchestrator plans each run.
        let plan = Plan::build(&dag).map_err(|e| PerfError::Run(format!("planning: {e}")))?;
        drivers.spawn(drive(
            pool.clone(),
            plan,
            topology.clone(),
            make.clone(),
            shared.clone(),
            start,
            config.runs,
        ));
    }
    let busy = config.workers.min(config.runs * width).max(1);
    let ideal_rate = if config.duration.is_zero() {
        f64::INFINITY
    } else {
        busy as f64 / config.duration.as_secs_f64()
    };
    let mut workflow_ns = Vec::with_capacity(config.runs);
    let mut tick = tokio::time::interval(progress_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let limit = tokio::time::sleep(config.effective_timeout());
    tokio::pin!(limit);
    let mut timed_out = false;
    let mut interrupted = false;
    // Process tasks run in process groups of their own, out of the terminal's reach:
    // Ctrl-C must stop them through the pool, and the partial report is still written.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            () = &mut limit => {
                timed_out = true;
                drivers.abort_all();
                break;
            }
            Ok(()) = &mut ctrl_c => {
                interrupted = true;
                drivers.abort_all();
                break;
            }
            joined = drivers.join_next() => match joined {
                Some(Ok(ns)) => workflow_ns.push(ns),
                Some(Err(e)) => return Err(PerfError::Run(format!("a workflow driver failed: {e}"))),
                None => break,
            },
            _ = tick.tick() => {
                let (rss, cpu) = monitor.latest();
                let stats = pool.stats();
                let done = shared.done.load(Ordering::Relaxed);
                let elapsed_s = start.elapsed().as_secs_f64();
                if let Some(live) = crate::live::get() {
                    let queued = stats.in_flight.saturating_sub(stats.busy_workers) as u64;
                    live.set_state(queued, efficiency(done as f64 / elapsed_s, ideal_rate));
                }
                progress(Progress {
                    done,
                    total,
                    rss,
                    cpu,
                    active_workers: stats.busy_workers,
                    elapsed_s,
                });
            }
        }
    }
    let duration_s = start.elapsed().as_secs_f64();
    // On a timeout, running tasks are stopped (processes killed and reaped) and queued
    // ones cancelled; either way every record is in once the shutdown returns.
    let shutdown = if timed_out || interrupted {
        orchbench::scheduler::Shutdown::Cancel
    } else {
        orchbench::scheduler::Shutdown::Drain
    };
    pool.shutdown(shutdown).await;
    let stats = pool.stats();
    let records = pool.take_records();
    let (rss, cpu) = monitor.latest();
    progress(Progress {
        done: total,
        total,
        rss,
        cpu,
        active_workers: 0,
        elapsed_s: duration_s,
    });
    let resources = monitor.stop();
    let d_ns = config.duration.as_nanos() as u64;
    let completed = records
        .iter()
        .filter(|r| r.outcome == Outcome::Completed)
        .count() as u64;
    let failed = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count() as u64;
    let cancelled = records
        .iter()
        .filter(|r| r.outcome == Outcome::Cancelled)
        .count() as u64;
    // Latencies are those of the tasks that ran to the end.
    let ran = || records.iter().filter(|r| r.outcome == Outcome::Completed);
    let latency = Latency::from_nanos(ran().map(|r| r.latency().as_nanos() as u64));
    let queue_wait = Latency::from_nanos(
        ran()
            .filter_map(|r| r.queue_wait())
            .map(|d| d.as_nanos() as u64),
    );
    let overhead = Latency::from_nanos(ran().filter_map(|r| {
        let wait = r.queue_wait()?.as_nanos() as u64;
        Some((r.latency().as_nanos() as u64).saturating_sub(wait + d_ns))
    }));
    let submission_s = shared.all_submitted_ns.load(Ordering::SeqCst) as f64 / 1e9;
    let completion_rate = completed as f64 / duration_s;
    // Tasks the aborted drivers never submitted count as skipped.
    let skipped = if timed_out || interrupted {
        (config.total_tasks() as u64).saturating_sub(completed + failed + cancelled)
    } else {
        shared.skipped.load(Ordering::Relaxed)
    };
    Ok(RunReport {
        config: config.clone(),
        completed,
        failed,
        skipped,
        cancelled,
        timed_out,
        interrupted,
        latency,
        queue_wait,
        overhead,
        workflow_latency: Latency::from_nanos(workflow_ns.into_iter()),
        submission_s,
        submission_rate: config.runs as f64 / submission_s.max(1e-9),
        duration_s,
        completion_rate,
        ideal_rate,
        efficiency: efficiency(completion_rate, ideal_rate),
        resources,
        peak_workers: stats.peak_workers,
        distributed: None,
    })
}

impl RunReport {
    /// The report `bench-gate` reads: `perf/<config>/<metric>`, with units and directions.
    pub fn metrics(&self) -> PerfReport {
        use crate::metric as m;
        use Direction::{HigherIsBetter as Up, LowerIsBetter as Down};
        let r = &self.resources;
        let mut metrics = vec![
            m("latency_avg", self.latency.avg, "s", Down),
            m("latency_p50", self.latency.p50, "s", Down),
            m("latency_p95", self.latency.p95, "s", Down),
            m("latency_p99", self.latency.p99, "s", Down),
            m("latency_p999", self.latency.p999, "s", Down),
            m("latency_max", self.latency.max, "s", Down),
            m("overhead_p50", self.overhead.p50, "s", Down),
            m("overhead_p99", self.overhead.p99, "s", Down),
            m("submission_rate", self.submission_rate, "runs/s", Up),
            m("completion_rate", self.completion_rate, "tasks/s", Up),
            m("efficiency", self.efficiency, "ratio", Up),
            m("duration", self.duration_s, "s", Down),
            m("rss_final", r.rss_final as f64, "bytes", Down),
            m("rss_peak", r.rss_peak as f64, "bytes", Down),
            m("rss_growth", r.rss_growth().max(0) as f64, "bytes", Down),
            m("cpu_avg", r.cpu_mean, "%", Down),
            m(
                "failed",
                (self.failed + self.skipped + self.cancelled) as f64,
                "tasks",
                Down,
            ),
        ];
        metrics.retain(|x| x.value.is_finite());
        PerfReport {
            report: self.config.name.clone(),
            metrics,
        }
    }

    /// The summary, in the published workflow load test's layout with the percentiles added.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.config_text(&mut out);
        self.latency_text(&mut out);
        self.throughput_text(&mut out);
        self.resources_text(&mut out);
        if let Some(d) = &self.distributed {
            self.distributed_text(&mut out, d);
        }
        out
    }

    /// The configuration run.
    fn config_text(&self, out: &mut String) {
        let c = &self.config;
        let _ = writeln!(out, "=== Performance Test Configuration ===");
        let _ = writeln!(out, "Config: {}", c.name);
        let _ = writeln!(out, "Runs to trigger: {}", c.runs);
        let _ = writeln!(out, "Tasks per run: {} ({:?})", c.tasks_per_run, c.shape);
        let _ = writeln!(out, "Task duration: {}s", c.duration.as_secs_f64());
        let _ = writeln!(out, "Total tasks: {}", c.total_tasks());
        let _ = writeln!(
            out,
            "Workers: {}, executor: {:?}{}",
            c.workers,
            c.executor,
            if c.executor == Executor::Process {
                format!(" (sh -c '{}')", c.shell_command())
            } else {
                String::new()
            }
        );
    }

    /// How the tasks ended, and their latencies.
    fn latency_text(&self, out: &mut String) {
        let (c, l) = (&self.config, &self.latency);
        let _ = writeln!(out, "\n=== Performance Test Results ===\n");
        let _ = writeln!(out, "Latency Stats:");
        if self.interrupted {
            let _ = writeln!(
                out,
                "  INTERRUPTED: {} cancelled unfinished; the figures cover what ended",
                self.cancelled
            );
        }
        if self.timed_out {
            let _ = writeln!(
                out,
                "  TIMED OUT after {:.1}s: {} cancelled unfinished; the figures cover what ended",
                c.effective_timeout().as_secs_f64(),
                self.cancelled
            );
        }
        let _ = writeln!(
            out,
            "  Tasks: {} completed, {} failed, {} not run",
            self.completed,
            self.failed,
            self.skipped + self.cancelled
        );
        let _ = writeln!(out, "  Avg latency: {:.4}s", l.avg);
        let _ = writeln!(out, "  Min latency: {:.4}s", l.min);
        let _ = writeln!(out, "  Max latency: {:.4}s", l.max);
        let _ = writeln!(
            out,
            "  p50 / p95 / p99 / p99.9: {:.4}s / {:.4}s / {:.4}s / {:.4}s",
            l.p50, l.p95, l.p99, l.p999
        );
        let _ = writeln!(
            out,
            "  Queue wait avg / p99: {:.4}s / {:.4}s",
            self.queue_wait.avg, self.queue_wait.p99
        );
        let _ = writeln!(
            out,
            "  Overhead (latency - wait - duration) p50 / p99 / max: {:.1} µs / {:.1} µs / {:.1} µs",
            self.overhead.p50 * 1e6,
            self.overhead.p99 * 1e6,
            self.overhead.max * 1e6
        );
        let _ = writeln!(
            out,
            "  Workflow latency avg / p99: {:.4}s / {:.4}s",
            self.workflow_latency.avg, self.workflow_latency.p99
        );
    }

    /// Submission and completion rates.
    fn throughput_text(&self, out: &mut String) {
        let _ = writeln!(out, "\nThroughput:");
        let _ = writeln!(
            out,
            "  Run submission: {:.2} runs/sec",
            self.submission_rate
        );
        if self.ideal_rate.is_finite() {
            let _ = writeln!(
                out,
                "  Task completion: {:.2} tasks/sec ({:.1} % of the ideal {:.2})",
                self.completion_rate,
                100.0 * self.efficiency,
                self.ideal_rate
            );
        } else {
            let _ = writeln!(
                out,
                "  Task completion: {:.2} tasks/sec (zero-length tasks: no ideal rate)",
                self.completion_rate
            );
        }
        let _ = writeln!(out, "  Total duration: {:.2}s", self.duration_s);
    }

    /// Memory, CPU and workers.
    fn resources_text(&self, out: &mut String) {
        let (c, r) = (&self.config, &self.resources);
        let kib = |b: u64| b / 1024;
        let _ = writeln!(out, "\nResource Usage:");
        let _ = writeln!(
            out,
            "  RSS initial / final / peak: {} KB / {} KB / {} KB",
            kib(r.rss_initial),
            kib(r.rss_final),
            kib(r.rss_peak)
        );
        let _ = writeln!(out, "  RSS growth: {} KB", r.rss_growth() / 1024);
        let _ = writeln!(
            out,
            "  CPU avg / peak: {:.1} % / {:.1} % of one core",
            r.cpu_mean, r.cpu_peak
        );
        let _ = writeln!(out, "  Peak worker count: {}", self.peak_workers);
        if c.executor == Executor::Process && self.distributed.is_none() {
            let _ = writeln!(out, "  Peak child processes: {}", r.children_peak);
        }
    }

    /// The broker, the workers and the outages of a distributed run.
    fn distributed_text(&self, out: &mut String, d: &DistributedStats) {
        let c = &self.config;
        let _ = writeln!(
            out,
            "\nDistributed (broker {}, stream {}):",
            d.broker, d.stream
        );
        let _ = writeln!(
            out,
            "  Workers: {} reporting, {} slots in all",
            d.workers_seen, d.slots
        );
        for (worker, n) in &d.per_worker {
            let _ = writeln!(out, "    {worker}: {n} tasks");
        }
        let _ = writeln!(
            out,
            "  Duplicate results (tasks re-run after a reclaim or a restart): {}",
            d.duplicates
        );
        let lengths: Vec<String> = d.outages.iter().map(|s| format!("{s:.1} s")).collect();
        let _ = writeln!(
            out,
            "  Broker outages survived: {}{}; server restarts: {}; tasks published again: {}",
            d.outages.len(),
            if lengths.is_empty() {
                String::new()
            } else {
                format!(" ({})", lengths.join(", "))
            },
            d.restarts,
            d.republished
        );
        if let Some(why) = &d.broker_lost {
            let _ = writeln!(out, "  Broker lost: {why}");
        }
        if !d.unfinished.is_empty() {
            let _ = writeln!(
                out,
                "  Not completed: {} tasks (id = workflow × {} + node): {}",
                d.unfinished.len(),
                c.tasks_per_run,
                id_ranges(&d.unfinished)
            );
        }
        let _ = writeln!(
            out,
            "  (latency: publication to the result's receipt, on this machine's clock; \
             queue wait: latency minus the worker's run time)"
        );
    }
}

/// `perf-results/<UTC timestamp>-<config>.{txt,json}` for `--all`.
pub fn results_paths(dir: &Path, config: &str, unix: u64) -> (PathBuf, PathBuf) {
    let stamp = bench_gate::baseline::rfc3339(unix).replace([':', '-'], "");
    (
        dir.join(format!("{stamp}-{config}.txt")),
        dir.join(format!("{stamp}-{config}.json")),
    )
}

/// Runs the same commands through `xargs -P workers -n 1 sh -c` (the shell's own
/// parallel runner) and returns its wall time in seconds.
pub fn xargs_seconds(config: &RunConfig) -> Result<f64, PerfError> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let line = format!("'{}'\n", config.shell_command().replace('\'', "'\\''"));
    let input = line.repeat(config.total_tasks());
    let start = Instant::now();
    use std::os::unix::process::CommandExt as _;
    let mut child = Command::new("xargs")
        .args(["-P", &config.workers.to_string(), "-n", "1", "sh", "-c"])
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| PerfError::Run(format!("cannot start xargs: {e}")))?;
    // Fed from a thread: xargs reads its input only as it starts commands, so writing
    // more than a pipe holds would block here until commands end, out of the time
    // limit's reach. Once xargs is killed, the write fails (EPIPE) and the thread ends.
    let mut stdin = child.stdin.take().expect("piped");
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    // Bounded like the run itself: a command that never ends must not hang the tool.
    let limit = config.effective_timeout();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= limit => {
                // xargs leads its own process group: kill it with every command it runs.
                // SAFETY: kill(2) on a process group; no memory is involved.
                unsafe {
                    libc::kill(-(child.id() as i32), libc::SIGKILL);
                }
                let _ = child.wait();
                let _ = feeder.join();
                return Err(PerfError::TimedOut(format!(
                    "xargs did not finish within {:.1}s",
                    limit.as_secs_f64()
                )));
            }
            // 1 ms polls: at most 1 ms added to a multi-second xargs time.
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(PerfError::Run(format!("waiting for xargs: {e}"))),
        }
    };
    let elapsed = start.elapsed().as_secs_f64();
    match feeder.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(PerfError::Run(format!("feeding xargs: {e}"))),
        Err(_) => return Err(PerfError::Run("feeding xargs: the writer panicked".into())),
    }
    if !status.success() {
        return Err(PerfError::Run(format!("xargs failed: {status}")));
    }
    Ok(elapsed)
}
