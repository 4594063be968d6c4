//! `perf-test`'s distributed mode: the task queue lives in a Redis stream and worker
//! processes on any machine (`perf-test worker --broker redis://…`) execute the tasks.
//!
//! Both sides use the event bus's Redis Streams backend ([`orchbench::events`]), so the
//! queue has its delivery guarantees: consumer groups, acknowledgement after the
//! work, and reclaiming (`XAUTOCLAIM`) of what a dead consumer took.
//!
//! - **Coordinator** ([`run`]). It plans the workflows as the local load test does and
//!   publishes each ready task to the task stream (default `orchbench:perf:tasks`,
//!   group `perf-workers`). It reads the results from a stream of its own run
//!   (`orchbench:perf:results:<run id>`). A task's latency runs from its publication
//!   to the coordinator's receipt of its result, on the coordinator's clock, so no
//!   clocks need to agree across machines. A task reported twice (a reclaimed task
//!   runs again: at least once, not exactly once) is counted once, and the duplicate
//!   is reported.
//! - **Worker** ([`serve`]). A reader task reads tasks as one consumer whenever there
//!   is room: `slots` running on the local pool plus up to `batch` read ahead, so a
//!   slot that frees is refilled without waiting for a round trip. Each task's result
//!   is published as it ends (those that end together in one pipeline), and a read's
//!   entries are acknowledged once all its results are out (read with held
//!   acknowledgement, acknowledged with a later read). A worker killed mid-run
//!   therefore leaves its tasks pending, and a live worker reclaims them once they have
//!   been idle for `reclaim_after`.
//!
//! - **Broker death.** Both sides retry a broker lost mid-run every 0.2 s for
//!   `--broker-timeout`. A worker holds its tasks' results until they are out; the
//!   coordinator holds newly ready tasks and, when the broker answers with a new
//!   `run_id` (a restart), publishes again every unfinished task the task stream no
//!   longer holds. A broker that stays away ends the run with its report and the
//!   unfinished tasks listed (exit 4).
//!
//! Tasks carry their run's deadline. A worker drops tasks of a run that is already
//! over (a coordinator that timed out), so a stale queue drains without running them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::workflow::{Deps, DistributedStats, Executor, Latency, Progress, RunConfig, RunReport};
use crate::{Console, PerfError};
use orchbench::events::{
    BusError, EntryId, Event, EventBus, EventKind, RedisConfig, RedisStreamsBus, RedisSubscription,
    Subscription,
};
use orchbench::monitor::{MonitorConfig, ResourceMonitor};
use orchbench::planner::Plan;
use orchbench::scheduler::{Outcome, Pool, PoolConfig, Shutdown, Task};

/// The task stream when the broker URL names none.
pub const DEFAULT_TASK_STREAM: &str = "orchbench:perf:tasks";
/// The consumer group of the workers.
pub const WORKER_GROUP: &str = "perf-workers";
/// The consumer group the coordinator reads its results in.
const RESULT_GROUP: &str = "coordinator";

/// What a task event carries (its payload, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TaskSpec {
    /// The stream the result goes to.
    reply: String,
    /// After this (Unix ns) the run is over: drop the task.
    deadline_ns: u64,
    /// How long an async task sleeps (0: a no-op).
    duration_ns: u64,
    /// Run as `sh -c command` instead.
    command: Option<String>,
}

/// What a result event carries (its payload, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ResultSpec {
    /// The worker's consumer name.
    worker: String,
    /// The worker's slots (tasks it runs at once).
    slots: usize,
    /// From the worker taking the task to its end, ns (worker's clock).
    run_ns: u64,
    /// Why it failed, if it did.
    error: Option<String>,
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn unavailable(url: &str, e: &BusError) -> PerfError {
    PerfError::Unavailable(format!("broker {url}: {e}"))
}

/// The bus config for `url` (`redis://host:port[/db][?options]`), with the task stream
/// as the default stream.
pub fn broker_config(url: &str) -> Result<RedisConfig, PerfError> {
    if !url.starts_with("redis://") {
        return Err(PerfError::Usage(format!(
            "--broker {url:?}: expected redis://HOST:PORT"
        )));
    }
    let mut config = RedisConfig::from_url(url)
        .map_err(|e| PerfError::Usage(format!("--broker {url:?}: {e}")))?;
    if !url.contains("stream=") {
        config.stream = DEFAULT_TASK_STREAM.into();
    }
    Ok(config)
}

/// How long the coordinator and the worker wait between attempts to reach a lost broker.
const RETRY: Duration = Duration::from_millis(200);

/// What the coordinator's result reader hands over.
enum Inbound {
    /// Results read from the run's results stream.
    Results(Vec<Event>),
    /// A read failed: the first failure of an outage (the reader keeps retrying).
    Lost(BusError),
}

/// The coordinator's record of the broker's outages.
#[derive(Default)]
struct Outages {
    /// Since when the broker has been unreachable; None: it is reachable.
    since: Option<Instant>,
    /// The lengths of the outages survived, s.
    survived: Vec<f64>,
    /// Of those, how many were server restarts (a new run id).
    restarts: u64,
    /// Tasks published again after an outage.
    republished: u64,
}

impl Outages {
    /// Notes that the broker failed with `e` (the start of an outage, or more of one).
    fn begin(&mut self, e: &BusError, timeout: Duration) {
        if self.since.is_none() {
            eprintln!(
                "perf-test: broker lost ({e}); retrying every {:.1} s for up to {:.1} s (--broker-timeout)",
                RETRY.as_secs_f64(),
                timeout.as_secs_f64()
            );
            self.since = Some(Instant::now());
        }
    }
}

/// Publishes the tasks `list` names (run, node) in pipelined batches.
async fn publish_tasks(
    bus: &RedisStreamsBus,
    list: &[(usize, usize)],
    m: usize,
    payload: &bytes::Bytes,
) -> Result<(), BusError> {
    let batch: Vec<Event> = list
        .iter()
        .map(|&(run, node)| {
            Event::new(
                EventKind::TaskQueued,
                run as u64,
                (run * m + node) as u64,
                unix_ns(),
            )
            .with_payload(payload.clone())
        })
        .collect();
    bus.publish_batch(batch).await
}

/// After a restart of the broker: every task published and not ended that the task
/// stream no longer holds (a server without persistence lost them all; with AOF
/// `appendfsync everysec`, at most the last second's), as (run, node).
async fn lost_tasks(
    tasks: &RedisStreamsBus,
    reply: &str,
    published_at: &[u64],
    ended: &[bool],
    m: usize,
) -> Result<Vec<(usize, usize)>, BusError> {
    let mut held = vec![false; published_at.len()];
    for ev in tasks.entries(10_000).await? {
        let ours = serde_json::from_slice::<TaskSpec>(ev.payload.as_bytes())
            .is_ok_and(|spec| spec.reply == reply);
        if let Some(h) = held.get_mut(ev.task as usize).filter(|_| ours) {
            *h = true;
        }
    }
    Ok((0..published_at.len())
        .filter(|&t| published_at[t] != u64::MAX && !ended[t] && !held[t])
        .map(|t| (t / m, t % m))
        .collect())
}

/// Runs a load test whose tasks are executed by remote workers through the broker at
/// `url`; `progress` is called every `progress_every`.
///
/// A broker that cannot be reached at the start is an error at once. Lost mid-run, it
/// is retried every 0.2 s for up to `broker_timeout`: when it answers again, the tasks
/// it no longer holds (all of them after a restart without persistence) are published
/// again, and the run goes on; results of a task that ran twice count once, as
/// duplicates. If it stays away, the report of what completed is still returned, with
/// `broker_lost` set and the tasks that did not complete listed.
pub async fn run(
    config: &RunConfig,
    url: &str,
    broker_timeout: Duration,
    progress_every: Duration,
    mut progress: impl FnMut(Progress),
) -> Result<RunReport, PerfError> {
    let task_config = broker_config(url)?;
    let tasks = RedisStreamsBus::connect(task_config.clone())
        .await
        .map_err(|e| unavailable(url, &e))?;
    let run_id = format!("{}-{}", std::process::id(), unix_ns());
    let reply = format!("orchbench:perf:results:{run_id}");
    let results = RedisStreamsBus::connect(RedisConfig {
        stream: reply.clone(),
        ..task_config.clone()
    })
    .await
    .map_err(|e| unavailable(url, &e))?;
    let mut server_id = tasks
        .server_run_id()
        .await
        .map_err(|e| unavailable(url, &e))?;
    // Both groups exist before the first task is published: the workers' group is
    // created at the stream's end, so a task published before it would be skipped.
    let probe = tasks
        .subscribe_as(WORKER_GROUP, "coordinator-setup")
        .await
        .map_err(|e| unavailable(url, &e))?;
    drop(probe);
    let mut inbox = results
        .subscribe_as(RESULT_GROUP, "coordinator")
        .await
        .map_err(|e| unavailable(url, &e))?;
    // Results are read by a task of their own and handed over a channel: a read must
    // never be cancelled half-way (by a progress tick or the deadline), or the entries
    // it took from the group would be lost to this run. A failed read is reported once
    // per outage and retried; the main loop decides when to give up.
    let (results_tx, mut results_rx) = tokio::sync::mpsc::channel::<Inbound>(8);
    let reader = tokio::spawn(async move {
        let mut lost = false;
        loop {
            let mut batch = Vec::with_capacity(1024);
            match inbox.poll_batch(&mut batch, 4096).await {
                Ok(n) => {
                    lost = false;
                    if n > 0 && results_tx.send(Inbound::Results(batch)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    if !lost {
                        lost = true;
                        if results_tx.send(Inbound::Lost(e)).await.is_err() {
                            break;
                        }
                    }
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    });

    let monitor = ResourceMonitor::start(MonitorConfig {
        interval: Duration::from_millis(50),
        include_children: false,
    })
    .map_err(|e| PerfError::Run(format!("cannot monitor resources: {e}")))?;

    let dag = config.dag();
    let m = dag.node_count();
    let total = config.total_tasks();
    let Deps {
        indegree,
        successors,
    } = Deps::of(&dag);
    let limit = config.effective_timeout();
    let deadline_ns = unix_ns() + limit.as_nanos() as u64;
    let spec = TaskSpec {
        reply: reply.clone(),
        deadline_ns,
        duration_ns: config.duration.as_nanos() as u64,
        command: (config.executor == Executor::Process).then(|| config.shell_command()),
    };
    let payload = serde_json::to_vec(&spec).map_err(|e| PerfError::Run(e.to_string()))?;
    let payload = bytes::Bytes::from(payload);
    let start = Instant::now();

    // Per task: when it was first published (ns since start), whether it ended.
    let mut published_at = vec![u64::MAX; total];
    let mut ended = vec![false; total];
    let mut waiting: Vec<u32> = (0..total).map(|t| indegree[t % m]).collect();
    let mut workflow_end = vec![0u64; config.runs];
    let mut latencies = Vec::with_capacity(total);
    let mut waits = Vec::with_capacity(total);
    let mut overheads = Vec::with_capacity(total);
    let (mut completed, mut failed, mut skipped, mut duplicates) = (0u64, 0u64, 0u64, 0u64);
    let mut workers: HashMap<String, (usize, u64)> = HashMap::new();
    let mut outages = Outages::default();
    // Ready tasks whose publication failed: published once the broker is back.
    let mut unpublished: Vec<(usize, usize)> = Vec::new();
    let mut broker_lost: Option<String> = None;

    // Every workflow's roots, in plan order, published in pipelined batches.
    let plan = Plan::build(&dag).map_err(|e| PerfError::Run(format!("planning: {e}")))?;
    let roots: Vec<usize> = plan
        .order()
        .iter()
        .map(|id| id.index())
        .filter(|&i| indegree[i] == 0)
        .collect();
    let mut ready: Vec<(usize, usize)> = Vec::with_capacity(config.runs * roots.len());
    for run in 0..config.runs {
        // Each workflow is planned, as an orchestrator plans each run.
        Plan::build(&dag).map_err(|e| PerfError::Run(format!("planning: {e}")))?;
        ready.extend(roots.iter().map(|&node| (run, node)));
    }
    // Tasks published so far (for the live queue depth).
    let mut published = 0u64;
    let mut tick = tokio::time::interval(progress_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut retry = tokio::time::interval(RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop_at = tokio::time::sleep(limit);
    tokio::pin!(stop_at);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let (mut timed_out, mut interrupted) = (false, false);
    let mut done = 0usize;
    let mut submission_s = None;
    loop {
        if !ready.is_empty() {
            let now = start.elapsed().as_nanos() as u64;
            for &(run, node) in &ready {
                published_at[run * m + node] = now;
            }
            published += ready.len() as u64;
            if outages.since.is_some() {
                unpublished.append(&mut ready);
            } else if let Err(e) = publish_tasks(&tasks, &ready, m, &payload).await {
                outages.begin(&e, broker_timeout);
                unpublished.append(&mut ready);
            } else {
                ready.clear();
            }
        }
        submission_s.get_or_insert_with(|| start.elapsed().as_secs_f64());
        if done >= total {
            break;
        }
        let received = tokio::select! {
            r = results_rx.recv() => match r {
                Some(Inbound::Results(batch)) => batch,
                Some(Inbound::Lost(e)) => {
                    outages.begin(&e, broker_timeout);
                    continue;
                }
                None => return Err(PerfError::Run("the result reader stopped".into())),
            },
            _ = retry.tick(), if outages.since.is_some() => {
                let attempt = async {
                    let id = tasks.server_run_id().await?;
                    let restarted = id != server_id;
                    let list = if restarted {
                        lost_tasks(&tasks, &reply, &published_at, &ended, m).await?
                    } else {
                        unpublished.clone()
                    };
                    publish_tasks(&tasks, &list, m, &payload).await?;
                    Ok::<_, BusError>((id, restarted, list.len()))
                };
                let since = outages.since.unwrap_or_else(Instant::now);
                match attempt.await {
                    Ok((id, restarted, n)) => {
                        let lasted = since.elapsed().as_secs_f64();
                        eprintln!(
                            "perf-test: broker back after {lasted:.1} s ({}); published {n} tasks again",
                            if restarted { "the server restarted" } else { "the same server" }
                        );
                        server_id = id;
                        unpublished.clear();
                        outages.since = None;
                        outages.survived.push(lasted);
                        outages.restarts += u64::from(restarted);
                        outages.republished += n as u64;
                    }
                    Err(e) if since.elapsed() >= broker_timeout => {
                        broker_lost = Some(format!(
                            "broker {url} unreachable for {:.1} s (--broker-timeout): {e}",
                            since.elapsed().as_secs_f64()
                        ));
                        break;
                    }
                    Err(_) => {}
                }
                continue;
            }
            () = &mut stop_at => { timed_out = true; break; }
            Ok(()) = &mut ctrl_c => { interrupted = true; break; }
            _ = tick.tick() => {
                let (rss, cpu) = monitor.latest();
                if let Some(live) = crate::live::get() {
                    live.set_state(published.saturating_sub(completed + failed), f64::NAN);
                }
                progress(Progress {
                    done: done as u64,
                    total: total as u64,
                    rss,
                    cpu,
                    active_workers: workers.len(),
                    elapsed_s: start.elapsed().as_secs_f64(),
                });
                continue;
            }
        };
        let now = start.elapsed().as_nanos() as u64;
        for ev in &received {
            let id = ev.task as usize;
            if id >= total || ev.workflow as usize != id / m {
                return Err(PerfError::Run(format!(
                    "a result for an unknown task {} of workflow {} in {reply}",
                    ev.task, ev.workflow
                )));
            }
            if ended[id] {
                duplicates += 1;
                continue;
            }
            let result: ResultSpec = serde_json::from_slice(ev.payload.as_bytes())
                .map_err(|e| PerfError::Run(format!("a malformed result in {reply}: {e}")))?;
            ended[id] = true;
            done += 1;
            let entry = workers.entry(result.worker).or_insert((result.slots, 0));
            entry.1 += 1;
            let latency = now.saturating_sub(published_at[id]);
            let (run, node) = (id / m, id % m);
            workflow_end[run] = workflow_end[run].max(now);
            let ok = ev.kind == EventKind::TaskFinished && result.error.is_none();
            if let Some(live) = crate::live::get() {
                live.observe(latency as f64 / 1e9, ok);
            }
            if ok {
                completed += 1;
                latencies.push(latency);
                waits.push(latency.saturating_sub(result.run_ns));
                overheads.push(
                    result
                        .run_ns
                        .saturating_sub(config.duration.as_nanos() as u64),
                );
                for &s in &successors[node] {
                    let s = s as usize;
                    let t = run * m + s;
                    waiting[t] -= 1;
                    if waiting[t] == 0 {
                        ready.push((run, s));
                    }
                }
            } else {
                failed += 1;
                // Everything downstream of a failed task never runs.
                let mut stack = successors[node].clone();
                while let Some(s) = stack.pop() {
                    let t = run * m + s as usize;
                    if !ended[t] && published_at[t] == u64::MAX {
                        ended[t] = true;
                        published_at[t] = 0;
                        done += 1;
                        skipped += 1;
                        stack.extend_from_slice(&successors[s as usize]);
                    }
                }
            }
        }
    }
    let duration_s = start.elapsed().as_secs_f64();
    reader.abort();
    // The results stream is this run's alone: remove it. Acknowledged tasks are trimmed.
    // (A lost broker is not waited for here: each step is bounded.)
    let cleanup = async {
        let _ = results.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let client = redis::Client::open(task_config.server.as_str()).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("DEL")
                .arg(&reply)
                .query_async::<()>(&mut conn)
                .await
                .ok()
        })
        .await;
        let _ = tasks.trim_acked().await;
        let _ = tasks.shutdown().await;
    };
    if broker_lost.is_some() {
        let _ = tokio::time::timeout(Duration::from_secs(2), cleanup).await;
    } else {
        cleanup.await;
    }
    let resources = monitor.stop();

    let not_run = (total - done) as u64;
    let unfinished: Vec<u64> = (0..total as u64).filter(|&t| !ended[t as usize]).collect();
    let stopped = timed_out || interrupted || broker_lost.is_some();
    let submission_s = submission_s.unwrap_or(duration_s);
    let slots: usize = workers.values().map(|&(s, _)| s).sum();
    let ideal_rate = if config.duration.is_zero() || slots == 0 {
        f64::INFINITY
    } else {
        slots as f64 / config.duration.as_secs_f64()
    };
    let completion_rate = completed as f64 / duration_s;
    let mut per_worker: Vec<(String, u64)> =
        workers.iter().map(|(w, &(_, n))| (w.clone(), n)).collect();
    per_worker.sort();
    Ok(RunReport {
        config: config.clone(),
        completed,
        failed,
        skipped: skipped + if stopped { not_run } else { 0 },
        cancelled: 0,
        timed_out,
        interrupted,
        latency: Latency::from_nanos(latencies.into_iter()),
        queue_wait: Latency::from_nanos(waits.into_iter()),
        overhead: Latency::from_nanos(overheads.into_iter()),
        workflow_latency: Latency::from_nanos(workflow_end.into_iter().filter(|&t| t > 0)),
        submission_s,
        submission_rate: config.runs as f64 / submission_s.max(1e-9),
        duration_s,
        completion_rate,
        ideal_rate,
        efficiency: crate::workflow::efficiency(completion_rate, ideal_rate),
        resources,
        peak_workers: slots,
        distributed: Some(DistributedStats {
            broker: task_config.server.clone(),
            stream: task_config.stream.clone(),
            workers_seen: workers.len(),
            slots,
            per_worker,
            duplicates,
            outages: outages.survived,
            restarts: outages.restarts,
            republished: outages.republished,
            broker_lost,
            unfinished,
        }),
    })
}

/// `perf-test worker`: the broker and how this worker takes tasks, as flags.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct WorkerOptions {
    /// The broker, `redis://HOST:PORT[/db][?stream=NAME&...]`.
    #[arg(long)]
    pub broker: String,
    /// Tasks this worker runs at once.
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    pub workers: i64,
    /// The most tasks taken per read, and read ahead beyond the running ones (default:
    /// --workers); more helps very short tasks.
    #[arg(long, allow_negative_numbers = true)]
    pub batch: Option<i64>,
    /// Take over a dead worker's tasks once they have been pending this many seconds
    /// (must exceed twice the longest task: a task read ahead waits for a slot first).
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    pub reclaim_after: f64,
    /// This worker's consumer name (default `<host>-<pid>`).
    #[arg(long)]
    pub name: Option<String>,
    /// Exit after this many seconds without a task (default: run until stopped).
    #[arg(long, allow_negative_numbers = true)]
    pub idle_exit: Option<f64>,
    /// Give up (exit 4) when the broker has been unreachable this many seconds, at
    /// start (a worker may start before its broker) or mid-run.
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    pub broker_timeout: f64,
}

impl WorkerOptions {
    /// The worker these flags describe, checked (the broker URL too); a value out of
    /// range is a usage error naming its flag.
    pub fn config(&self) -> Result<WorkerConfig, PerfError> {
        let count = |flag: &str, v: i64| {
            usize::try_from(v)
                .ok()
                .filter(|&n| (1..=100_000).contains(&n))
                .ok_or_else(|| PerfError::Usage(format!("{flag} must be 1..=100000, got {v}")))
        };
        let secs = |flag: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 86_400.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(PerfError::Usage(format!(
                    "{flag} must be seconds in (0, 86400], got {v}"
                )))
            }
        };
        let slots = count("--workers", self.workers)?;
        let config = WorkerConfig {
            url: self.broker.clone(),
            slots,
            batch: self.batch.map_or(Ok(slots), |b| count("--batch", b))?,
            reclaim_after: secs("--reclaim-after", self.reclaim_after)?,
            name: self.name.clone(),
            idle_exit: self.idle_exit.map(|v| secs("--idle-exit", v)).transpose()?,
            broker_timeout: secs("--broker-timeout", self.broker_timeout)?,
        };
        broker_config(&config.url)?;
        Ok(config)
    }
}

/// Runs the worker `options` describe until it is stopped (Ctrl-C, SIGTERM,
/// `--idle-exit`) or loses its broker; returns what it did.
pub fn run_worker(
    options: &WorkerOptions,
    console: &mut dyn Console,
) -> Result<WorkerReport, PerfError> {
    let config = options.config()?;
    let runtime = orchbench::scheduler::runtime()
        .map_err(|e| PerfError::Run(format!("cannot start the async runtime: {e}")))?;
    console.status(&format!(
        "worker: serving {} with {} slots",
        config.url, config.slots
    ));
    let report = runtime.block_on(serve(config))?;
    console.status(&format!(
        "worker: stopped after {} completed, {} failed, {} expired, {} taken over",
        report.completed, report.failed, report.expired, report.reclaimed
    ));
    Ok(report)
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The broker URL.
    pub url: String,
    /// Tasks run at once.
    pub slots: usize,
    /// Tasks taken per read (at least `slots`); more helps short tasks, fewer spreads
    /// long ones across workers.
    pub batch: usize,
    /// A task pending this long with a dead consumer is taken over.
    pub reclaim_after: Duration,
    /// This worker's consumer name (default `<host>-<pid>`).
    pub name: Option<String>,
    /// Exit after this long without a task (None: run until stopped).
    pub idle_exit: Option<Duration>,
    /// Give up when the broker has been unreachable this long.
    pub broker_timeout: Duration,
}

/// What a worker did, when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkerReport {
    /// Tasks run to completion.
    pub completed: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Tasks dropped because their run was over.
    pub expired: u64,
    /// Tasks taken over from a dead worker.
    pub reclaimed: u64,
}

/// Serves tasks from the broker until Ctrl-C / SIGTERM, `idle_exit`, or the broker is
/// lost for longer than `broker_timeout` (an error, exit 4).
pub async fn serve(config: WorkerConfig) -> Result<WorkerReport, PerfError> {
    let url = config.url.as_str();
    let mut bus_config = broker_config(url)?;
    let reclaim_ms = config.reclaim_after.as_millis().max(1) as u64;
    bus_config.claim_idle_ms = reclaim_ms;
    bus_config.claim_interval_ms = (reclaim_ms / 2).clamp(1, 1000);
    let name = config.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "worker".into());
        format!("{host}-{}", std::process::id())
    });
    // Stopping is checked between reads, never by cancelling one (see
    // `RedisSubscription::poll_batch`): a stopped worker stops reading within one
    // `block_ms` of the signal, finishes the tasks it has taken, publishes their
    // results and acknowledges them.
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = tokio::spawn({
        let stopping = stopping.clone();
        async move {
            stop_signal().await;
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let (_tasks, inbox) = match join(&config, &bus_config, &name, &stopping).await? {
        Some(joined) => joined,
        None => {
            watcher.abort();
            return Ok(WorkerReport::default());
        }
    };
    let batch = config.batch.max(config.slots);
    // Tasks taken and not yet published: the slots' worth running, and up to a batch
    // read ahead, so a slot that frees is refilled without waiting for a read.
    let room = Arc::new(tokio::sync::Semaphore::new(config.slots + batch));
    let (acks_tx, acks_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<EntryId>>();
    let (taken_tx, mut taken_rx) = tokio::sync::mpsc::channel::<Result<Taken, PerfError>>(4);
    let reader = tokio::spawn(read_tasks(Reader {
        inbox,
        room: room.clone(),
        batch,
        acks: acks_rx,
        taken: taken_tx,
        stopping: stopping.clone(),
        name: name.clone(),
        url: url.to_owned(),
        timeout: config.broker_timeout,
    }));
    let mut state = Running {
        pool: new_pool(config.slots)?,
        reads: HashMap::new(),
        next_read: 0,
        in_flight: 0,
        report: WorkerReport::default(),
        replies: HashMap::new(),
        acks: Vec::new(),
    };
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Done>();
    let mut tick = tokio::time::interval(RETRY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_task = Instant::now();
    let mut reader_done = false;
    let mut unpublished = false;
    while !(reader_done && state.in_flight == 0) {
        tokio::select! {
            taken = taken_rx.recv(), if !reader_done => match taken {
                Some(Ok(taken)) => {
                    last_task = Instant::now();
                    state.start(taken, &name, &done_tx, &room).await;
                }
                Some(Err(e)) => return Err(e),
                None => reader_done = true,
            },
            Some(first) = done_rx.recv() => {
                let mut done = vec![first];
                while let Ok(d) = done_rx.try_recv() {
                    done.push(d);
                }
                if !state.finish(done, &config, &name, (&bus_config, &stopping), &room).await? {
                    // Stopped while the broker was away: what is unpublished stays
                    // unacknowledged, and another worker runs it again.
                    unpublished = true;
                    break;
                }
                if !state.acks.is_empty() {
                    let _ = acks_tx.send(std::mem::take(&mut state.acks));
                }
            }
            _ = tick.tick() => {
                state.cancel_overdue(&config, &name).await?;
                if config.idle_exit.is_some_and(|d| last_task.elapsed() >= d) && state.in_flight == 0 {
                    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    }
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.abort();
    let (mut inbox, mut acks_rx) = reader
        .await
        .map_err(|e| PerfError::Run(format!("the task reader failed: {e}")))?;
    // Acknowledge what is done and published (not what a stop left unpublished).
    if !unpublished {
        while let Ok(ids) = acks_rx.try_recv() {
            inbox.ack_later(ids);
        }
        inbox.ack_later(std::mem::take(&mut state.acks));
        let _ = inbox.ack().await;
    }
    let mut report = state.report;
    report.reclaimed = inbox.stats().claimed;
    state.pool.shutdown(Shutdown::Drain).await;
    Ok(report)
}

fn new_pool(slots: usize) -> Result<Arc<Pool>, PerfError> {
    Ok(Arc::new(
        Pool::new(PoolConfig::with_workers(slots))
            .map_err(|e| PerfError::Usage(format!("--workers: {e}")))?,
    ))
}

/// One read of the task stream, handed from the reader to the worker's loop.
struct Taken {
    events: Vec<Event>,
    ids: Vec<EntryId>,
}

/// A task that ended on the local pool.
struct Done {
    read: u64,
    index: usize,
    outcome: Outcome,
    run_ns: u64,
}

/// A read whose tasks are running: its entries are acknowledged when the last ends.
struct Read {
    events: Vec<Event>,
    ids: Vec<EntryId>,
    specs: Vec<Option<TaskSpec>>,
    /// Tasks still running.
    left: usize,
    /// Set when a cancel stopped some of them before their run was over: the read is
    /// then left unacknowledged, for the group to hand out again.
    abandoned: bool,
}

/// The worker loop's state.
struct Running {
    pool: Arc<Pool>,
    reads: HashMap<u64, Read>,
    next_read: u64,
    in_flight: usize,
    report: WorkerReport,
    replies: HashMap<String, RedisStreamsBus>,
    /// Ids whose work is done and published, to acknowledge.
    acks: Vec<EntryId>,
}

impl Running {
    /// Starts the tasks of `taken` on the pool; drops those of a run that is over and
    /// malformed ones (their slots are given back at once).
    async fn start(
        &mut self,
        taken: Taken,
        name: &str,
        done: &tokio::sync::mpsc::UnboundedSender<Done>,
        room: &tokio::sync::Semaphore,
    ) {
        let read = self.next_read;
        self.next_read += 1;
        let mut specs = Vec::with_capacity(taken.events.len());
        let mut left = 0;
        for (index, ev) in taken.events.iter().enumerate() {
            let spec: TaskSpec = match serde_json::from_slice(ev.payload.as_bytes()) {
                Ok(spec) => spec,
                Err(e) => {
                    eprintln!("worker {name}: dropping a malformed task {}: {e}", ev.task);
                    specs.push(None);
                    room.add_permits(1);
                    continue;
                }
            };
            if spec.deadline_ns <= unix_ns() {
                self.report.expired += 1;
                specs.push(None);
                room.add_permits(1);
                continue;
            }
            let task = match &spec.command {
                Some(cmd) => Task::process(cmd.clone()),
                None if spec.duration_ns == 0 => Task::noop(),
                None => Task::sleep(Duration::from_nanos(spec.duration_ns)),
            };
            let done = done.clone();
            let taken_at = Instant::now();
            let task = task.on_end(move |outcome: &Outcome| {
                let _ = done.send(Done {
                    read,
                    index,
                    outcome: outcome.clone(),
                    run_ns: taken_at.elapsed().as_nanos() as u64,
                });
            });
            specs.push(Some(spec));
            if self.pool.submit(task).await.is_ok() {
                left += 1;
            } else {
                room.add_permits(1);
            }
        }
        if left == 0 {
            self.acks.extend(taken.ids);
            return;
        }
        self.in_flight += left;
        self.reads.insert(
            read,
            Read {
                events: taken.events,
                ids: taken.ids,
                specs,
                left,
                abandoned: false,
            },
        );
    }

    /// Publishes the results of `done` (grouped by their run's result stream), then
    /// gives their slots back and queues the acknowledgement of every read whose tasks
    /// have all ended. A result for a run that is over is not published: nobody listens.
    /// `Ok(false)`: stopped before the results were out.
    async fn finish(
        &mut self,
        done: Vec<Done>,
        config: &WorkerConfig,
        name: &str,
        (bus_config, stopping): (&RedisConfig, &std::sync::atomic::AtomicBool),
        room: &tokio::sync::Semaphore,
    ) -> Result<bool, PerfError> {
        let mut by_reply: HashMap<String, Vec<Event>> = HashMap::new();
        let now = unix_ns();
        for d in &done {
            let Some(read) = self.reads.get_mut(&d.read) else {
                continue;
            };
            let Some(spec) = read.specs[d.index].as_ref() else {
                continue;
            };
            if spec.deadline_ns <= now {
                self.report.expired += 1;
                continue;
            }
            if d.outcome == Outcome::Cancelled && read.abandoned {
                // Stopped by `cancel_overdue` although its own run is not over: run
                // again elsewhere, not reported as failed.
                continue;
            }
            let (kind, error) = match &d.outcome {
                Outcome::Completed => {
                    self.report.completed += 1;
                    (EventKind::TaskFinished, None)
                }
                Outcome::Failed(why) => {
                    self.report.failed += 1;
                    (EventKind::TaskFailed, Some(why.clone()))
                }
                Outcome::Cancelled => {
                    self.report.failed += 1;
                    (EventKind::TaskCancelled, Some("cancelled".into()))
                }
            };
            let result = ResultSpec {
                worker: name.to_owned(),
                slots: config.slots,
                run_ns: d.run_ns,
                error,
            };
            let payload = serde_json::to_vec(&result).map_err(|e| PerfError::Run(e.to_string()))?;
            let ev = &read.events[d.index];
            by_reply
                .entry(spec.reply.clone())
                .or_default()
                .push(Event::new(kind, ev.workflow, ev.task, unix_ns()).with_payload(payload));
        }
        let mut out = Outbox {
            replies: &mut self.replies,
            bus_config,
            name,
            timeout: config.broker_timeout,
            stopping,
        };
        for (reply, events) in by_reply {
            if !out.publish(&reply, events).await? {
                return Ok(false);
            }
        }
        for d in done {
            let Some(read) = self.reads.get_mut(&d.read) else {
                continue;
            };
            read.left -= 1;
            self.in_flight -= 1;
            room.add_permits(1);
            if read.left == 0 {
                let read = self.reads.remove(&d.read).expect("present");
                if !read.abandoned {
                    self.acks.extend(read.ids);
                }
            }
        }
        Ok(true)
    }

    /// A task still running past its run's deadline holds a slot nobody waits for (a
    /// hung command): the pool is cancelled and replaced. Reads caught in it whose run
    /// is not over are left unacknowledged, for the group to hand out again.
    async fn cancel_overdue(&mut self, config: &WorkerConfig, name: &str) -> Result<(), PerfError> {
        let now = unix_ns();
        let overdue = self
            .reads
            .values()
            .any(|r| r.specs.iter().flatten().any(|s| s.deadline_ns <= now));
        if !overdue {
            return Ok(());
        }
        eprintln!("worker {name}: a task outlived its run's deadline; cancelling the pool");
        for read in self.reads.values_mut() {
            read.abandoned = read.specs.iter().flatten().any(|s| s.deadline_ns > now);
        }
        let old = std::mem::replace(&mut self.pool, new_pool(config.slots)?);
        old.shutdown(Shutdown::Cancel).await;
        Ok(())
    }
}

/// What the task reader owns.
struct Reader {
    inbox: RedisSubscription,
    room: Arc<tokio::sync::Semaphore>,
    batch: usize,
    acks: tokio::sync::mpsc::UnboundedReceiver<Vec<EntryId>>,
    taken: tokio::sync::mpsc::Sender<Result<Taken, PerfError>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    name: String,
    url: String,
    timeout: Duration,
}

/// Reads tasks while there is room (a slot free, or a batch's worth of read-ahead),
/// sending the acknowledgements handed back with each read, and retrying a lost broker
/// for `timeout` (then the error goes to the loop, exit 4). Stops between reads once
/// `stopping` is set, never by cancelling one, and hands its subscription back.
async fn read_tasks(
    mut r: Reader,
) -> (
    RedisSubscription,
    tokio::sync::mpsc::UnboundedReceiver<Vec<EntryId>>,
) {
    let mut lost: Option<Instant> = None;
    let stopped = |r: &Reader| r.stopping.load(std::sync::atomic::Ordering::SeqCst);
    while !stopped(&r) {
        // At least one slot, then whatever more is free, up to a batch.
        let Ok(Ok(first)) = tokio::time::timeout(RETRY, r.room.acquire()).await else {
            continue;
        };
        first.forget();
        let mut n = 1;
        while n < r.batch {
            match r.room.try_acquire() {
                Ok(p) => {
                    p.forget();
                    n += 1;
                }
                Err(_) => break,
            }
        }
        while let Ok(ids) = r.acks.try_recv() {
            r.inbox.ack_later(ids);
        }
        let (mut events, mut ids) = (Vec::with_capacity(n), Vec::with_capacity(n));
        match r.inbox.poll_batch_held(&mut events, &mut ids, n).await {
            Ok(got) => {
                note_back(&r.name, &mut lost);
                r.room.add_permits(n - got);
                if (got > 0 || !ids.is_empty())
                    && r.taken.send(Ok(Taken { events, ids })).await.is_err()
                {
                    break;
                }
            }
            Err(e) => {
                r.room.add_permits(n);
                let since = note_lost(&r.name, &mut lost, r.timeout, &e);
                if since.elapsed() >= r.timeout {
                    let _ = r.taken.send(Err(lost_for(&r.url, since, &e))).await;
                    break;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
    (r.inbox, r.acks)
}

/// Notes a failed read: the start of an outage (said once) or more of one; returns
/// since when the broker has been unreachable.
fn note_lost(name: &str, lost: &mut Option<Instant>, timeout: Duration, e: &BusError) -> Instant {
    if lost.is_none() {
        eprintln!(
            "worker {name}: {e}; retrying for up to {:.1} s (--broker-timeout)",
            timeout.as_secs_f64()
        );
    }
    *lost.get_or_insert_with(Instant::now)
}

/// Notes a read that worked: the end of an outage, if there was one.
fn note_back(name: &str, lost: &mut Option<Instant>) {
    if let Some(since) = lost.take() {
        eprintln!(
            "worker {name}: broker back after {:.1} s",
            since.elapsed().as_secs_f64()
        );
    }
}

/// The error of a broker unreachable since `since`, past `--broker-timeout`.
fn lost_for(url: &str, since: Instant, e: &BusError) -> PerfError {
    PerfError::Unavailable(format!(
        "broker {url} unreachable for {:.1} s (--broker-timeout): {e}",
        since.elapsed().as_secs_f64()
    ))
}

/// Where a worker publishes its results: one bus per run's result stream.
struct Outbox<'a> {
    replies: &'a mut HashMap<String, RedisStreamsBus>,
    bus_config: &'a RedisConfig,
    name: &'a str,
    timeout: Duration,
    stopping: &'a std::sync::atomic::AtomicBool,
}

impl Outbox<'_> {
    /// Publishes `events` to the result stream `reply`, retrying every 0.2 s while the
    /// broker is away, for up to `timeout` (then an error, exit 4). A batch published
    /// in part before a failure is published whole again: the coordinator counts the
    /// repeats as duplicates. `Ok(false)`: stopped (Ctrl-C, SIGTERM) before it was out.
    async fn publish(&mut self, reply: &str, events: Vec<Event>) -> Result<bool, PerfError> {
        let url = self.bus_config.server.as_str();
        let mut lost: Option<Instant> = None;
        loop {
            let attempt = async {
                if !self.replies.contains_key(reply) {
                    let bus = RedisStreamsBus::connect(RedisConfig {
                        stream: reply.to_owned(),
                        ..self.bus_config.clone()
                    })
                    .await?;
                    self.replies.insert(reply.to_owned(), bus);
                }
                self.replies[reply].publish_batch(events.clone()).await
            };
            let Err(e) = attempt.await else {
                if let Some(since) = lost {
                    eprintln!(
                        "worker {}: results published after {:.1} s",
                        self.name,
                        since.elapsed().as_secs_f64()
                    );
                }
                return Ok(true);
            };
            if lost.is_none() {
                eprintln!(
                    "worker {}: cannot publish results ({e}); retrying for up to {:.1} s (--broker-timeout)",
                    self.name,
                    self.timeout.as_secs_f64()
                );
            }
            let since = *lost.get_or_insert_with(Instant::now);
            if since.elapsed() >= self.timeout {
                return Err(lost_for(url, since, &e));
            }
            if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(false);
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// Connects to the task stream and joins the worker group. A worker may start before
/// its broker (or while it restarts): an unreachable broker is retried every 200 ms for
/// up to `broker_timeout`, then it is an error (exit 4). None: stopped while waiting.
async fn join(
    config: &WorkerConfig,
    bus_config: &RedisConfig,
    name: &str,
    stopping: &std::sync::atomic::AtomicBool,
) -> Result<Option<(RedisStreamsBus, RedisSubscription)>, PerfError> {
    let url = config.url.as_str();
    let started = Instant::now();
    let mut waiting = false;
    loop {
        let attempt = async {
            let tasks = RedisStreamsBus::connect(bus_config.clone()).await?;
            let inbox = tasks.subscribe_as(WORKER_GROUP, name).await?;
            Ok::<_, BusError>((tasks, inbox))
        };
        match attempt.await {
            Ok(joined) => {
                if waiting {
                    eprintln!(
                        "worker {name}: connected to {url} after {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                return Ok(Some(joined));
            }
            Err(e) if started.elapsed() >= config.broker_timeout => {
                return Err(unavailable(url, &e));
            }
            Err(e) => {
                if !waiting {
                    eprintln!(
                        "worker {name}: broker {url}: {e}; waiting up to {:.1} s for it (--broker-timeout)",
                        config.broker_timeout.as_secs_f64()
                    );
                    waiting = true;
                }
                tokio::time::sleep(RETRY).await;
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return Ok(None);
                }
            }
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_are_checked_and_default_to_the_task_stream() {
        let c = broker_config("redis://127.0.0.1:6379").unwrap();
        assert_eq!(c.stream, DEFAULT_TASK_STREAM);
        let c = broker_config("redis://127.0.0.1:6379?stream=mine").unwrap();
        assert_eq!(c.stream, "mine");
        let e = broker_config("http://x").unwrap_err().to_string();
        assert!(e.contains("expected redis://HOST:PORT"), "{e}");
        let e = broker_config("redis://h:1?batch=0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("batch"), "{e}");
    }

    #[test]
    fn task_and_result_payloads_round_trip() {
        let spec = TaskSpec {
            reply: "r".into(),
            deadline_ns: 5,
            duration_ns: 7,
            command: Some("sleep 1".into()),
        };
        let back: TaskSpec = serde_json::from_slice(&serde_json::to_vec(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }
}
