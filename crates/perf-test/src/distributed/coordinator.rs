//! The coordinator of a distributed load test ([`run`]): it plans the workflows, publishes
//! each ready task to the task stream, reads the results from its run's own stream,
//! releases dependents through the planner's [`Readiness`], and rides out a lost or
//! restarted broker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::wire::{
    Inbound, Outages, RESULT_GROUP, RETRY, ResultSpec, TaskSpec, WORKER_GROUP, broker_config,
    lost_tasks, publish_tasks, unavailable, unix_ns,
};
use crate::PerfError;
use crate::workflow::{
    DistributedStats, Executor, Latency, Progress, RunConfig, RunReport, efficiency,
};
use orchbench::events::{BusError, Event, EventBus, EventKind, RedisConfig, RedisStreamsBus};
use orchbench::monitor::{MonitorConfig, MonitorReport, ResourceMonitor};
use orchbench::planner::stages::Topology;
use orchbench::planner::{Plan, Readiness};

/// The run's two streams: tasks out, results in (read by a task of its own, handed over
/// a channel).
struct Buses {
    /// The task stream's settings.
    config: RedisConfig,
    tasks: RedisStreamsBus,
    results: RedisStreamsBus,
    /// The results stream, this run's alone.
    reply: String,
    /// The server's run id when last seen (a new one is a restart).
    server_id: String,
    inbound: tokio::sync::mpsc::Receiver<Inbound>,
    reader: tokio::task::JoinHandle<()>,
}

/// Connects both streams and starts the result reader. Both groups exist before the
/// first task is published: the workers' group is created at the stream's end, so a
/// task published before it would be skipped.
async fn connect(url: &str) -> Result<Buses, PerfError> {
    let config = broker_config(url)?;
    let failed = |e: BusError| unavailable(url, &e);
    let tasks = RedisStreamsBus::connect(config.clone())
        .await
        .map_err(failed)?;
    let reply = format!(
        "orchbench:perf:results:{}-{}",
        std::process::id(),
        unix_ns()
    );
    let results_config = RedisConfig {
        stream: reply.clone(),
        ..config.clone()
    };
    let results = RedisStreamsBus::connect(results_config)
        .await
        .map_err(failed)?;
    let server_id = tasks.server_run_id().await.map_err(failed)?;
    drop(
        tasks
            .subscribe_as(WORKER_GROUP, "coordinator-setup")
            .await
            .map_err(failed)?,
    );
    let inbox = results
        .subscribe_as(RESULT_GROUP, "coordinator")
        .await
        .map_err(failed)?;
    let (tx, inbound) = tokio::sync::mpsc::channel::<Inbound>(8);
    Ok(Buses {
        config,
        tasks,
        results,
        reply,
        server_id,
        inbound,
        reader: tokio::spawn(read_results(inbox, tx)),
    })
}

/// Reads results until the coordinator hangs up. A read must never be cancelled
/// half-way (by a progress tick or the deadline), or the entries it took from the group
/// would be lost to this run, hence a task of its own. A failed read is reported once
/// per outage and retried; the coordinator decides when to give up.
async fn read_results(
    mut inbox: orchbench::events::RedisSubscription,
    tx: tokio::sync::mpsc::Sender<Inbound>,
) {
    let mut lost = false;
    loop {
        let mut batch = Vec::with_capacity(1024);
        match inbox.poll_batch(&mut batch, 4096).await {
            Ok(n) => {
                lost = false;
                if n > 0 && tx.send(Inbound::Results(batch)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if !lost {
                    lost = true;
                    if tx.send(Inbound::Lost(e)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// What the coordinator knows of every task (`run * m + node`) and what it measured.
struct Ledger {
    /// Tasks per workflow.
    m: usize,
    total: usize,
    /// A task's nominal run time, ns.
    duration_ns: u64,
    /// When each task was first published (ns since the start; `u64::MAX`: never).
    published_at: Vec<u64>,
    /// Whether each task ended (a result, or skipped behind a failure).
    ended: Vec<bool>,
    /// Per workflow, which tasks its results make ready.
    readiness: Vec<Readiness>,
    /// Per workflow, its last result (ns since the start).
    workflow_end: Vec<u64>,
    latencies: Vec<u64>,
    waits: Vec<u64>,
    overheads: Vec<u64>,
    completed: u64,
    failed: u64,
    skipped: u64,
    duplicates: u64,
    /// Per worker: its slots and the results it sent.
    workers: HashMap<String, (usize, u64)>,
    /// Tasks ended.
    done: usize,
    /// Ready tasks (run, node) not yet published.
    ready: Vec<(usize, usize)>,
    /// Tasks published so far (for the live queue depth).
    published: u64,
}

impl Ledger {
    /// Every workflow planned (as an orchestrator plans each run), its roots ready in
    /// plan order.
    fn new(config: &RunConfig) -> Result<Ledger, PerfError> {
        let dag = config.dag();
        let planning = |e| PerfError::Run(format!("planning: {e}"));
        let topology = Arc::new(Topology::new(&dag).map_err(planning)?);
        let plan = Plan::build(&dag).map_err(planning)?;
        let roots: Vec<usize> = (plan.order().iter())
            .map(|id| id.index())
            .filter(|&i| topology.indegrees()[i] == 0)
            .collect();
        let mut ready = Vec::with_capacity(config.runs * roots.len());
        for run in 0..config.runs {
            Plan::build(&dag).map_err(planning)?;
            ready.extend(roots.iter().map(|&node| (run, node)));
        }
        let total = config.total_tasks();
        Ok(Ledger {
            m: dag.node_count(),
            total,
            duration_ns: config.duration.as_nanos() as u64,
            published_at: vec![u64::MAX; total],
            ended: vec![false; total],
            readiness: (0..config.runs)
                .map(|_| Readiness::new(topology.clone()))
                .collect(),
            workflow_end: vec![0; config.runs],
            latencies: Vec::with_capacity(total),
            waits: Vec::with_capacity(total),
            overheads: Vec::with_capacity(total),
            completed: 0,
            failed: 0,
            skipped: 0,
            duplicates: 0,
            workers: HashMap::new(),
            done: 0,
            ready,
            published: 0,
        })
    }

    /// Where the run stands, for the progress line (and the live queue depth).
    fn progress(&self, monitor: &ResourceMonitor, start: Instant) -> Progress {
        let (rss, cpu) = monitor.latest();
        if let Some(live) = crate::live::get() {
            let queued = self.published.saturating_sub(self.completed + self.failed);
            live.set_state(queued, f64::NAN);
        }
        Progress {
            done: self.done as u64,
            total: self.total as u64,
            rss,
            cpu,
            active_workers: self.workers.len(),
            elapsed_s: start.elapsed().as_secs_f64(),
        }
    }

    /// Notes the ready tasks as published at `now`.
    fn stamp_ready(&mut self, now: u64) {
        for &(run, node) in &self.ready {
            self.published_at[run * self.m + node] = now;
        }
        self.published += self.ready.len() as u64;
    }

    /// One result received at `now`: a duplicate is counted apart; a completion
    /// releases its dependents, a failure skips them.
    fn record(&mut self, ev: &Event, now: u64, reply: &str) -> Result<(), PerfError> {
        let id = ev.task as usize;
        if id >= self.total || ev.workflow as usize != id / self.m {
            return Err(PerfError::Run(format!(
                "a result for an unknown task {} of workflow {} in {reply}",
                ev.task, ev.workflow
            )));
        }
        if self.ended[id] {
            self.duplicates += 1;
            return Ok(());
        }
        let result: ResultSpec = serde_json::from_slice(ev.payload.as_bytes())
            .map_err(|e| PerfError::Run(format!("a malformed result in {reply}: {e}")))?;
        self.ended[id] = true;
        self.done += 1;
        self.workers
            .entry(result.worker)
            .or_insert((result.slots, 0))
            .1 += 1;
        let latency = now.saturating_sub(self.published_at[id]);
        let (run, node) = (id / self.m, (id % self.m) as u32);
        self.workflow_end[run] = self.workflow_end[run].max(now);
        let ok = ev.kind == EventKind::TaskFinished && result.error.is_none();
        if let Some(live) = crate::live::get() {
            live.observe(latency as f64 / 1e9, ok);
        }
        if ok {
            self.completed += 1;
            self.latencies.push(latency);
            self.waits.push(latency.saturating_sub(result.run_ns));
            self.overheads
                .push(result.run_ns.saturating_sub(self.duration_ns));
            let released = self.readiness[run].complete(node);
            self.ready
                .extend(released.into_iter().map(|s| (run, s as usize)));
            return Ok(());
        }
        self.failed += 1;
        // Everything downstream of a failed task never runs.
        for s in self.readiness[run].fail(node) {
            let t = run * self.m + s as usize;
            self.ended[t] = true;
            self.published_at[t] = 0;
            self.done += 1;
            self.skipped += 1;
        }
        Ok(())
    }
}

/// The broker as the coordinator sees it: its outages, the tasks waiting for it, and
/// the one payload every task carries.
struct Broker {
    outages: Outages,
    /// Ready tasks whose publication failed: published once the broker is back.
    unpublished: Vec<(usize, usize)>,
    payload: bytes::Bytes,
    timeout: Duration,
}

impl Broker {
    /// The broker of a run with `config` whose results go to `reply` and whose tasks
    /// expire after `limit`.
    fn new(
        config: &RunConfig,
        reply: &str,
        limit: Duration,
        timeout: Duration,
    ) -> Result<Broker, PerfError> {
        let spec = TaskSpec {
            reply: reply.to_owned(),
            deadline_ns: unix_ns() + limit.as_nanos() as u64,
            duration_ns: config.duration.as_nanos() as u64,
            command: (config.executor == Executor::Process).then(|| config.shell_command()),
        };
        let payload = serde_json::to_vec(&spec).map_err(|e| PerfError::Run(e.to_string()))?;
        Ok(Broker {
            outages: Outages::default(),
            unpublished: Vec::new(),
            payload: bytes::Bytes::from(payload),
            timeout,
        })
    }

    /// Publishes the ledger's ready tasks, or keeps them for later if the broker is away.
    async fn publish(&mut self, buses: &Buses, ledger: &mut Ledger) {
        if self.outages.since.is_some() {
            self.unpublished.append(&mut ledger.ready);
        } else if let Err(e) =
            publish_tasks(&buses.tasks, &ledger.ready, ledger.m, &self.payload).await
        {
            self.outages.begin(&e, self.timeout);
            self.unpublished.append(&mut ledger.ready);
        } else {
            ledger.ready.clear();
        }
    }

    /// One attempt to reach the lost broker: when it answers, publishes again what it
    /// no longer holds (everything unfinished after a restart, else what waited).
    /// Returns why the run gives up once the outage outlasts the timeout.
    async fn retry(&mut self, buses: &mut Buses, ledger: &Ledger, url: &str) -> Option<String> {
        let attempt = async {
            let id = buses.tasks.server_run_id().await?;
            let restarted = id != buses.server_id;
            let list = if restarted {
                let (at, ended, m) = (&ledger.published_at, &ledger.ended, ledger.m);
                lost_tasks(&buses.tasks, &buses.reply, at, ended, m).await?
            } else {
                self.unpublished.clone()
            };
            publish_tasks(&buses.tasks, &list, ledger.m, &self.payload).await?;
            Ok::<_, BusError>((id, restarted, list.len()))
        };
        let since = self.outages.since.unwrap_or_else(Instant::now);
        match attempt.await {
            Ok((id, restarted, n)) => {
                let lasted = since.elapsed().as_secs_f64();
                let how = if restarted {
                    "the server restarted"
                } else {
                    "the same server"
                };
                eprintln!(
                    "perf-test: broker back after {lasted:.1} s ({how}); published {n} tasks again"
                );
                buses.server_id = id;
                self.unpublished.clear();
                self.outages.since = None;
                self.outages.survived.push(lasted);
                self.outages.restarts += u64::from(restarted);
                self.outages.republished += n as u64;
                None
            }
            Err(e) if since.elapsed() >= self.timeout => Some(format!(
                "broker {url} unreachable for {:.1} s (--broker-timeout): {e}",
                since.elapsed().as_secs_f64()
            )),
            Err(_) => None,
        }
    }
}

/// Removes the run's results stream and trims acknowledged tasks. A lost broker is not
/// waited for: each step is bounded.
async fn clean_up(buses: Buses, broker_lost: bool) {
    buses.reader.abort();
    let server = buses.config.server.clone();
    let reply = buses.reply.clone();
    let cleanup = async {
        let _ = buses.results.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let client = redis::Client::open(server.as_str()).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("DEL")
                .arg(&reply)
                .query_async::<()>(&mut conn)
                .await
                .ok()
        })
        .await;
        let _ = buses.tasks.trim_acked().await;
        let _ = buses.tasks.shutdown().await;
    };
    if broker_lost {
        let _ = tokio::time::timeout(Duration::from_secs(2), cleanup).await;
    } else {
        cleanup.await;
    }
}

/// How the run ended, and its times.
struct Ending {
    timed_out: bool,
    interrupted: bool,
    broker_lost: Option<String>,
    /// Until every root was published, s.
    submission_s: f64,
    duration_s: f64,
}

/// The run's report from what the ledger recorded.
fn report(
    config: &RunConfig,
    task_config: &RedisConfig,
    ledger: Ledger,
    outages: Outages,
    end: Ending,
    resources: MonitorReport,
) -> RunReport {
    let not_run = (ledger.total - ledger.done) as u64;
    let unfinished: Vec<u64> = (0..ledger.total as u64)
        .filter(|&t| !ledger.ended[t as usize])
        .collect();
    let stopped = end.timed_out || end.interrupted || end.broker_lost.is_some();
    let slots: usize = ledger.workers.values().map(|&(s, _)| s).sum();
    let ideal_rate = if config.duration.is_zero() || slots == 0 {
        f64::INFINITY
    } else {
        slots as f64 / config.duration.as_secs_f64()
    };
    let completion_rate = ledger.completed as f64 / end.duration_s;
    let mut per_worker: Vec<(String, u64)> = (ledger.workers.iter())
        .map(|(w, &(_, n))| (w.clone(), n))
        .collect();
    per_worker.sort();
    RunReport {
        config: config.clone(),
        completed: ledger.completed,
        failed: ledger.failed,
        skipped: ledger.skipped + if stopped { not_run } else { 0 },
        cancelled: 0,
        timed_out: end.timed_out,
        interrupted: end.interrupted,
        latency: Latency::from_nanos(ledger.latencies.into_iter()),
        queue_wait: Latency::from_nanos(ledger.waits.into_iter()),
        overhead: Latency::from_nanos(ledger.overheads.into_iter()),
        workflow_latency: Latency::from_nanos(ledger.workflow_end.into_iter().filter(|&t| t > 0)),
        submission_s: end.submission_s,
        submission_rate: config.runs as f64 / end.submission_s.max(1e-9),
        duration_s: end.duration_s,
        completion_rate,
        ideal_rate,
        efficiency: efficiency(completion_rate, ideal_rate),
        resources,
        peak_workers: slots,
        distributed: Some(DistributedStats {
            broker: task_config.server.clone(),
            stream: task_config.stream.clone(),
            workers_seen: ledger.workers.len(),
            slots,
            per_worker,
            duplicates: ledger.duplicates,
            outages: outages.survived,
            restarts: outages.restarts,
            republished: outages.republished,
            broker_lost: end.broker_lost,
            unfinished,
        }),
    }
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
    let mut buses = connect(url).await?;
    let monitor = ResourceMonitor::start(MonitorConfig {
        interval: Duration::from_millis(50),
        include_children: false,
    })
    .map_err(|e| PerfError::Run(format!("cannot monitor resources: {e}")))?;
    let limit = config.effective_timeout();
    let mut broker = Broker::new(config, &buses.reply, limit, broker_timeout)?;
    let start = Instant::now();
    let mut ledger = Ledger::new(config)?;
    let mut tick = tokio::time::interval(progress_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut retry = tokio::time::interval(RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop_at = tokio::time::sleep(limit);
    tokio::pin!(stop_at);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let (mut timed_out, mut interrupted, mut broker_lost) = (false, false, None);
    let mut submission_s = None;
    loop {
        if !ledger.ready.is_empty() {
            ledger.stamp_ready(start.elapsed().as_nanos() as u64);
            broker.publish(&buses, &mut ledger).await;
        }
        submission_s.get_or_insert_with(|| start.elapsed().as_secs_f64());
        if ledger.done >= ledger.total {
            break;
        }
        tokio::select! {
            r = buses.inbound.recv() => match r {
                Some(Inbound::Results(batch)) => {
                    let now = start.elapsed().as_nanos() as u64;
                    for ev in &batch {
                        ledger.record(ev, now, &buses.reply)?;
                    }
                }
                Some(Inbound::Lost(e)) => broker.outages.begin(&e, broker_timeout),
                None => return Err(PerfError::Run("the result reader stopped".into())),
            },
            _ = retry.tick(), if broker.outages.since.is_some() => {
                broker_lost = broker.retry(&mut buses, &ledger, url).await;
                if broker_lost.is_some() {
                    break;
                }
            }
            () = &mut stop_at => { timed_out = true; break; }
            Ok(()) = &mut ctrl_c => { interrupted = true; break; }
            _ = tick.tick() => progress(ledger.progress(&monitor, start)),
        }
    }
    let duration_s = start.elapsed().as_secs_f64();
    let task_config = buses.config.clone();
    clean_up(buses, broker_lost.is_some()).await;
    let end = Ending {
        timed_out,
        interrupted,
        broker_lost,
        submission_s: submission_s.unwrap_or(duration_s),
        duration_s,
    };
    Ok(report(
        config,
        &task_config,
        ledger,
        broker.outages,
        end,
        monitor.stop(),
    ))
}
