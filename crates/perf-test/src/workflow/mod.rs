//! `perf-test`'s macro load test (as the published workflow load test runs it): N
//! workflows of M tasks each, every workflow a DAG planned by the planner and executed by
//! the scheduler's pool, submitted as fast as possible and measured until every task has
//! ended.
//!
//! A task is submitted the moment its last predecessor ends (so `created` is when it
//! became ready), and its latency, queue wait and run time come from the pool's own
//! [`TaskRecord`]s. The figures: latency avg/min/max and
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

mod config;
mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::PerfError;
use orchbench::monitor::{MonitorConfig, MonitorReport, ResourceMonitor};
use orchbench::planner::stages::Topology;
use orchbench::planner::{Plan, Readiness};
use orchbench::scheduler::{Outcome, Pool, PoolConfig, Task, TaskRecord};

pub use config::{BUILTIN_CONFIGS, Executor, RunConfig, Shape};
pub(crate) use report::efficiency;
pub use report::{DistributedStats, Latency, Progress, RunReport, id_ranges, results_paths};

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
    let shared = Arc::new(Shared {
        done: AtomicU64::new(0),
        submitted_runs: AtomicUsize::new(0),
        all_submitted_ns: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
    });
    let total = config.total_tasks() as u64;
    let start = Instant::now();
    let (mut drivers, width) = spawn_drivers(config, &pool, &shared, start)?;
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
                let active_workers = stats.busy_workers;
                progress(Progress { done, total, rss, cpu, active_workers, elapsed_s });
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
    let end = LocalEnd {
        timed_out,
        interrupted,
        duration_s,
        submission_s: shared.all_submitted_ns.load(Ordering::SeqCst) as f64 / 1e9,
        workflow_ns,
        skipped: shared.skipped.load(Ordering::Relaxed),
        ideal_rate,
        peak_workers: stats.peak_workers,
    };
    Ok(local_report(config, &records, end, monitor.stop()))
}

/// Starts one driver per workflow, each workflow planned on its own (as an orchestrator
/// plans each run); returns them and the DAG's widest wave.
fn spawn_drivers(
    config: &RunConfig,
    pool: &Arc<Pool>,
    shared: &Arc<Shared>,
    start: Instant,
) -> Result<(tokio::task::JoinSet<u64>, usize), PerfError> {
    let dag = config.dag();
    let planning = |e| PerfError::Run(format!("planning: {e}"));
    let topology = Arc::new(Topology::new(&dag).map_err(planning)?);
    let make = task_maker(config);
    let width = Plan::build(&dag).map_or(1, |p| p.max_parallelism()).max(1);
    let mut drivers = tokio::task::JoinSet::new();
    for _ in 0..config.runs {
        let plan = Plan::build(&dag).map_err(planning)?;
        let (pool, topology, make, shared) =
            (pool.clone(), topology.clone(), make.clone(), shared.clone());
        drivers.spawn(drive(
            pool,
            plan,
            topology,
            make,
            shared,
            start,
            config.runs,
        ));
    }
    Ok((drivers, width))
}

/// What the load test's tasks are: a sleep of the configured duration, or the shell
/// command.
fn task_maker(config: &RunConfig) -> Arc<dyn Fn() -> Task + Send + Sync> {
    match config.executor {
        Executor::Async => {
            let d = config.duration;
            Arc::new(move || Task::sleep(d))
        }
        Executor::Process => {
            let cmd = config.shell_command();
            Arc::new(move || Task::process(cmd.clone()))
        }
    }
}

/// How a local run ended, and what its drivers and pool counted.
struct LocalEnd {
    timed_out: bool,
    interrupted: bool,
    duration_s: f64,
    /// Until the last workflow's roots were submitted, s.
    submission_s: f64,
    /// Each finished workflow's latency, ns.
    workflow_ns: Vec<u64>,
    /// Tasks the drivers never submitted (behind a failure).
    skipped: u64,
    ideal_rate: f64,
    peak_workers: usize,
}

/// A local run's report from the pool's task records.
fn local_report(
    config: &RunConfig,
    records: &[TaskRecord],
    end: LocalEnd,
    resources: MonitorReport,
) -> RunReport {
    let d_ns = config.duration.as_nanos() as u64;
    let count = |f: &dyn Fn(&Outcome) -> bool| records.iter().filter(|r| f(&r.outcome)).count();
    let completed = count(&|o| *o == Outcome::Completed) as u64;
    let failed = count(&|o| matches!(o, Outcome::Failed(_))) as u64;
    let cancelled = count(&|o| *o == Outcome::Cancelled) as u64;
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
    let completion_rate = completed as f64 / end.duration_s;
    // Tasks the aborted drivers never submitted count as skipped.
    let skipped = if end.timed_out || end.interrupted {
        (config.total_tasks() as u64).saturating_sub(completed + failed + cancelled)
    } else {
        end.skipped
    };
    RunReport {
        config: config.clone(),
        completed,
        failed,
        skipped,
        cancelled,
        timed_out: end.timed_out,
        interrupted: end.interrupted,
        latency,
        queue_wait,
        overhead,
        workflow_latency: Latency::from_nanos(end.workflow_ns.into_iter()),
        submission_s: end.submission_s,
        submission_rate: config.runs as f64 / end.submission_s.max(1e-9),
        duration_s: end.duration_s,
        completion_rate,
        ideal_rate: end.ideal_rate,
        efficiency: efficiency(completion_rate, end.ideal_rate),
        resources,
        peak_workers: end.peak_workers,
        distributed: None,
    }
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
