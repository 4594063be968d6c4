//! `perf-test worker` ([`serve`]): one consumer of the task stream that runs tasks on a
//! local pool, reads ahead while it has room, publishes each result as it ends,
//! acknowledges a read once its results are out, and reclaims a dead worker's tasks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::wire::{RETRY, ResultSpec, TaskSpec, WORKER_GROUP, broker_config, unavailable, unix_ns};
use crate::{Console, PerfError};
use orchbench::events::{
    BusError, EntryId, Event, EventBus, EventKind, RedisConfig, RedisStreamsBus, RedisSubscription,
    Subscription,
};
use orchbench::scheduler::{Outcome, Pool, PoolConfig, Shutdown, Task};

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
    let bus_config = worker_bus_config(&config)?;
    let name = worker_name(&config);
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
    settle(reader, state, unpublished).await
}

/// The task stream's settings for a worker: orphaned tasks reclaimed after
/// `reclaim_after`, looked for twice as often (at least once a second).
fn worker_bus_config(config: &WorkerConfig) -> Result<RedisConfig, PerfError> {
    let mut bus_config = broker_config(&config.url)?;
    let reclaim_ms = config.reclaim_after.as_millis().max(1) as u64;
    bus_config.claim_idle_ms = reclaim_ms;
    bus_config.claim_interval_ms = (reclaim_ms / 2).clamp(1, 1000);
    Ok(bus_config)
}

/// The worker's consumer name: `--name`, else `<host>-<pid>`.
fn worker_name(config: &WorkerConfig) -> String {
    config.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "worker".into());
        format!("{host}-{}", std::process::id())
    })
}

/// After the loop: waits for the reader, acknowledges what is done and published (not
/// what a stop left unpublished), and drains the pool.
async fn settle(
    reader: tokio::task::JoinHandle<(RedisSubscription, ReadAcks)>,
    mut state: Running,
    unpublished: bool,
) -> Result<WorkerReport, PerfError> {
    let (mut inbox, mut acks_rx) = reader
        .await
        .map_err(|e| PerfError::Run(format!("the task reader failed: {e}")))?;
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

/// The channel a worker's acknowledgements reach its reader on.
type ReadAcks = tokio::sync::mpsc::UnboundedReceiver<Vec<EntryId>>;

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
        self.release(&done, room);
        Ok(true)
    }

    /// Frees the slots of tasks whose results are out; a read whose tasks are all out
    /// is acknowledged with the next read (unless it was abandoned).
    fn release(&mut self, done: &[Done], room: &tokio::sync::Semaphore) {
        for d in done {
            let Some(read) = self.reads.get_mut(&d.read) else {
                continue;
            };
            read.left -= 1;
            self.in_flight -= 1;
            room.add_permits(1);
            if read.left == 0
                && let Some(read) = self.reads.remove(&d.read)
                && !read.abandoned
            {
                self.acks.extend(read.ids);
            }
        }
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
    acks: ReadAcks,
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
async fn read_tasks(mut r: Reader) -> (RedisSubscription, ReadAcks) {
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
