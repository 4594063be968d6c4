//! The worker pool: submission with backpressure, the worker loop, adaptive sizing and
//! shutdown.
//!
//! Tasks wait in a lock-free queue (`crossbeam_queue::SegQueue`). The in-flight count
//! (queued + running) is one atomic: `submit` reserves a slot in it, and a worker gives
//! slots back in small batches (64 tasks, or after 20 µs). Workers likewise keep
//! records and counts locally and publish them in those batches, so a task costs the
//! shared state only a queue push and pop. An idle worker parks on a `Notify`; a
//! submitter wakes one only if some worker is idle.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::SeqCst, fence};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_queue::SegQueue;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::resize::{Resize, Seen, resize};
use super::speculation::{Ledger, Shared, Speculation};
use super::task::{Cancel, CancelSignal, TaskKind, execute, unless_cancelled};
use super::{
    Backpressure, Outcome, PoolConfig, PoolError, PoolStats, Shutdown, ShutdownReport, SubmitError,
    Task, TaskId, TaskRecord,
};
use crate::timing::{Clock, MonotonicClock};

const RUNNING: u8 = 0;
const DRAINING: u8 = 1;
const CANCELLING: u8 = 2;
const STOPPED: u8 = 3;

/// A worker publishes its batch after this many tasks...
const FLUSH_TASKS: usize = 64;
/// ...or once this many nanoseconds have passed since its last publication.
const FLUSH_NANOS: u64 = 20_000;
/// The worker index recorded for tasks no worker took.
const NO_WORKER: u32 = u32::MAX;

struct Job {
    id: TaskId,
    created: u64,
    kind: TaskKind,
    /// Told the outcome when the task ends ([`Task::on_end`]); a speculation's is held
    /// by its `spec` instead.
    on_end: Option<super::task::OnEnd>,
    /// Set for a speculative task: its decision and held result.
    spec: Option<Arc<Shared>>,
}

/// Delivers how a task ended: its callback now, or for a speculation whatever its
/// decision says (see [`Shared::end`]).
fn deliver(
    on_end: Option<super::task::OnEnd>,
    spec: Option<&Shared>,
    outcome: &Outcome,
    ledger: &Ledger,
) {
    let callback = match spec {
        None => on_end,
        Some(spec) => spec.end(outcome, ledger),
    };
    if let Some(f) = callback {
        f(outcome);
    }
}

/// A job a worker has taken; with a dispatch delay it "arrives" later.
struct Dispatched {
    job: Job,
    dispatched: u64,
    arrives: Option<Instant>,
}

struct Inner {
    config: PoolConfig,
    clock: MonotonicClock,
    handle: Handle,
    queue: SegQueue<Job>,
    state: AtomicU8,
    cancel: CancelSignal,
    in_flight: AtomicUsize,
    next_id: AtomicU64,
    /// Wakes an idle worker.
    work: Notify,
    /// Wakes submitters waiting for capacity.
    capacity: Notify,
    /// Wakes callers of `wait_idle` (and shutdown).
    idle: Notify,
    idle_workers: AtomicUsize,
    /// A single-task submit has woken a worker that has not started yet: further single
    /// submits do not wake more (the woken worker wakes the next if work is left).
    waking: AtomicBool,
    busy_workers: AtomicUsize,
    active_workers: AtomicUsize,
    target_workers: AtomicUsize,
    peak_workers: AtomicUsize,
    next_worker: AtomicU64,
    submitted: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    rejected_full: AtomicU64,
    rejected_shut_down: AtomicU64,
    records: Mutex<Vec<TaskRecord>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// The speculations: counts, and the open ones a shutdown abandons.
    speculations: Arc<Ledger>,
}

/// A worker pool running [`Task`]s on a tokio runtime; see the module docs of
/// [`crate::scheduler`]. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Pool {
    inner: Arc<Inner>,
}

impl Pool {
    /// A pool whose workers run on the current tokio runtime.
    pub fn new(config: PoolConfig) -> Result<Pool, PoolError> {
        let handle = Handle::try_current().map_err(|_| PoolError::NoRuntime)?;
        Self::with_handle(config, handle)
    }

    /// A pool whose workers run on the runtime behind `handle`. OS-process tasks need
    /// that runtime to have its I/O driver enabled.
    pub fn with_handle(config: PoolConfig, handle: Handle) -> Result<Pool, PoolError> {
        let bad = |field, expected, value: usize| PoolError::Config {
            field,
            expected,
            value: value.to_string(),
        };
        if config.max_in_flight == 0 {
            return Err(bad("max_in_flight", "at least 1", 0));
        }
        let workers = match config.adaptive {
            None => {
                if config.workers == 0 {
                    return Err(bad("workers", "at least 1", 0));
                }
                config.workers
            }
            Some(a) => {
                if a.min == 0 {
                    return Err(bad("adaptive.min", "at least 1", 0));
                }
                if a.max < a.min {
                    return Err(bad("adaptive.max", "at least adaptive.min", a.max));
                }
                if a.interval.is_zero() {
                    return Err(PoolError::Config {
                        field: "adaptive.interval",
                        expected: "longer than zero",
                        value: format!("{:?}", a.interval),
                    });
                }
                config.workers.clamp(a.min, a.max)
            }
        };
        let inner = Arc::new(Inner {
            clock: MonotonicClock::new(),
            handle,
            queue: SegQueue::new(),
            state: AtomicU8::new(RUNNING),
            cancel: CancelSignal::default(),
            in_flight: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            work: Notify::new(),
            capacity: Notify::new(),
            idle: Notify::new(),
            idle_workers: AtomicUsize::new(0),
            waking: AtomicBool::new(false),
            busy_workers: AtomicUsize::new(0),
            active_workers: AtomicUsize::new(0),
            target_workers: AtomicUsize::new(workers),
            peak_workers: AtomicUsize::new(0),
            next_worker: AtomicU64::new(0),
            submitted: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            rejected_full: AtomicU64::new(0),
            rejected_shut_down: AtomicU64::new(0),
            records: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            speculations: Arc::new(Ledger::default()),
            config,
        });
        for _ in 0..workers {
            inner.spawn_worker();
        }
        if let Some(adaptive) = inner.config.adaptive {
            let controller = inner.handle.spawn(control(inner.clone(), adaptive));
            inner.lock_workers().push(controller);
        }
        Ok(Pool { inner })
    }

    /// Submits a task. With [`Backpressure::Wait`] this waits while the pool is full;
    /// with [`Backpressure::Reject`] it returns [`SubmitError::Full`] at once.
    pub async fn submit(&self, task: Task) -> Result<TaskId, SubmitError> {
        loop {
            let capacity = self.inner.capacity.notified();
            tokio::pin!(capacity);
            capacity.as_mut().enable();
            match self.inner.reserve() {
                Ok(()) => return Ok(self.inner.enqueue(task)),
                Err(SubmitError::Full { .. })
                    if self.inner.config.backpressure == Backpressure::Wait =>
                {
                    capacity.await;
                }
                Err(e) => return Err(self.inner.refused(e)),
            }
        }
    }

    /// Submits tasks that belong together (the tool calls of one step, say): each is
    /// accepted as by [`Pool::submit`], in order, and the idle workers are woken once
    /// for the whole batch instead of once per task. On an error, the tasks accepted so
    /// far stay accepted and the rest are not submitted.
    pub async fn submit_batch(
        &self,
        tasks: impl IntoIterator<Item = Task>,
    ) -> Result<Vec<TaskId>, SubmitError> {
        let mut ids = Vec::new();
        let mut woken = 0;
        for task in tasks {
            loop {
                let capacity = self.inner.capacity.notified();
                tokio::pin!(capacity);
                capacity.as_mut().enable();
                match self.inner.reserve() {
                    Ok(()) => {
                        ids.push(self.inner.push(task));
                        break;
                    }
                    Err(SubmitError::Full { .. })
                        if self.inner.config.backpressure == Backpressure::Wait =>
                    {
                        // Let idle workers start on what is queued before waiting.
                        self.inner.wake_idle(ids.len() - woken);
                        woken = ids.len();
                        capacity.await;
                    }
                    Err(e) => {
                        self.inner.wake_idle(ids.len() - woken);
                        return Err(self.inner.refused(e));
                    }
                }
            }
        }
        self.inner.wake_idle(ids.len() - woken);
        Ok(ids)
    }

    /// Submits a task without ever waiting: [`SubmitError::Full`] when the pool is full,
    /// whatever the backpressure policy.
    pub fn try_submit(&self, task: Task) -> Result<TaskId, SubmitError> {
        match self.inner.reserve() {
            Ok(()) => Ok(self.inner.enqueue(task)),
            Err(e) => Err(self.inner.refused(e)),
        }
    }

    /// Starts `task` speculatively, before it is known to be needed, and returns its
    /// handle: [`Speculation::confirm`] keeps it (its `on_end` is then told its outcome,
    /// as if it had been submitted at the confirmation), [`Speculation::abandon`] or
    /// dropping the handle cancels it. It takes an in-flight slot like any task but never
    /// waits for one: speculative work must not hold up real work, so a full pool
    /// refuses it with [`SubmitError::Full`] whatever the backpressure policy.
    pub fn speculate(&self, mut task: Task) -> Result<Speculation, SubmitError> {
        let inner = &self.inner;
        inner.reserve().map_err(|e| inner.refused(e))?;
        let id = inner.next_id.fetch_add(1, SeqCst);
        let Some(shared) = inner.speculations.open(id, task.on_end.take()) else {
            inner.release(1);
            return Err(inner.refused(SubmitError::ShutDown));
        };
        inner.push_job(Job {
            id,
            created: inner.clock.now(),
            kind: task.kind,
            on_end: None,
            spec: Some(shared.clone()),
        });
        inner.wake_idle(1);
        Ok(Speculation {
            shared,
            ledger: inner.speculations.clone(),
        })
    }

    /// Waits until no task is queued or running.
    pub async fn wait_idle(&self) {
        self.inner.wait_idle().await;
    }

    /// Takes the records of the tasks that have ended so far (all of them once the pool
    /// is idle), oldest batch first. Empty if `keep_records` is off.
    pub fn take_records(&self) -> Vec<TaskRecord> {
        std::mem::take(&mut *self.inner.lock_records())
    }

    /// Counts of tasks and workers. Completion counts are published in batches, so while
    /// tasks run they may trail by a few; after `wait_idle` they are exact.
    pub fn stats(&self) -> PoolStats {
        let i = &self.inner;
        PoolStats {
            submitted: i.submitted.load(SeqCst),
            completed: i.completed.load(SeqCst),
            failed: i.failed.load(SeqCst),
            cancelled: i.cancelled.load(SeqCst),
            rejected_full: i.rejected_full.load(SeqCst),
            rejected_shut_down: i.rejected_shut_down.load(SeqCst),
            in_flight: i.in_flight.load(SeqCst),
            workers: i.active_workers.load(SeqCst),
            peak_workers: i.peak_workers.load(SeqCst),
            busy_workers: i.busy_workers.load(SeqCst),
            speculation: i.speculations.stats(),
        }
    }

    /// The pool's clock, whose nanoseconds the [`TaskRecord`]s are in.
    pub fn clock(&self) -> &MonotonicClock {
        &self.inner.clock
    }

    /// Stops accepting tasks, drains or cancels the rest, and waits for every worker to
    /// exit. Every accepted task is then counted once: the report's counts add up. Later
    /// submits get [`SubmitError::ShutDown`]; shutting down again just reports again.
    pub async fn shutdown(&self, mode: Shutdown) -> ShutdownReport {
        let inner = &self.inner;
        let state = match mode {
            Shutdown::Drain => DRAINING,
            Shutdown::Cancel => CANCELLING,
        };
        let _ = inner.state.compare_exchange(RUNNING, state, SeqCst, SeqCst);
        // Nobody can confirm a speculation once the pool stops: abandon the open ones
        // (stopping those running) before draining the rest.
        inner.speculations.close();
        if mode == Shutdown::Cancel {
            inner.cancel.raise();
        }
        inner.wake_everyone();
        loop {
            let idle = inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if inner.state.load(SeqCst) == CANCELLING {
                // Cancel what is still queued, in case every worker is busy ending a task.
                inner.cancel_queued(NO_WORKER);
            }
            if inner.in_flight.load(SeqCst) == 0 {
                break;
            }
            idle.await;
        }
        inner.state.store(STOPPED, SeqCst);
        inner.wake_everyone();
        // The adaptive controller may have spawned a worker between its last look at
        // the state and now: keep awaiting until no handle is left.
        loop {
            let handles = std::mem::take(&mut *inner.lock_workers());
            if handles.is_empty() {
                break;
            }
            for handle in handles {
                let _ = handle.await;
            }
        }
        ShutdownReport {
            submitted: inner.submitted.load(SeqCst),
            completed: inner.completed.load(SeqCst),
            failed: inner.failed.load(SeqCst),
            cancelled: inner.cancelled.load(SeqCst),
            speculation: inner.speculations.stats(),
        }
    }
}

impl Drop for Pool {
    /// A pool dropped without `shutdown` cancels its tasks: workers stop, processes are
    /// killed and reaped, and the worker tasks exit on their own.
    fn drop(&mut self) {
        if self.inner.state.load(SeqCst) != STOPPED {
            let _ = self
                .inner
                .state
                .compare_exchange(RUNNING, CANCELLING, SeqCst, SeqCst);
            let _ = self
                .inner
                .state
                .compare_exchange(DRAINING, CANCELLING, SeqCst, SeqCst);
            self.inner.speculations.close();
            self.inner.cancel.raise();
            self.inner.cancel_queued(NO_WORKER);
            self.inner.state.store(STOPPED, SeqCst);
            self.inner.wake_everyone();
        }
    }
}

impl Inner {
    fn lock_records(&self) -> std::sync::MutexGuard<'_, Vec<TaskRecord>> {
        // Records are appended whole; a panic elsewhere cannot leave one half-written.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_workers(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn_worker(self: &Arc<Self>) {
        if self.state.load(SeqCst) == STOPPED {
            return;
        }
        let index = self.next_worker.fetch_add(1, SeqCst) as u32;
        let active = self.active_workers.fetch_add(1, SeqCst) + 1;
        self.peak_workers.fetch_max(active, SeqCst);
        let handle = self.handle.spawn(worker(self.clone(), index));
        self.lock_workers().push(handle);
    }

    /// Takes an in-flight slot, or says why not.
    /// Takes one in-flight slot. The count never passes the cap, not even for a moment
    /// (a full pool refuses without touching it), so `stats().in_flight` is exact and a
    /// refusal wakes no waiting submitter. The slot is taken before the state is read:
    /// a shutdown either sees it or is seen.
    fn reserve(&self) -> Result<(), SubmitError> {
        let cap = self.config.max_in_flight;
        let mut now = self.in_flight.load(SeqCst);
        loop {
            if now >= cap {
                return Err(if self.state.load(SeqCst) != RUNNING {
                    SubmitError::ShutDown
                } else {
                    SubmitError::Full { cap }
                });
            }
            match self
                .in_flight
                .compare_exchange_weak(now, now + 1, SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(actual) => now = actual,
            }
        }
        if self.state.load(SeqCst) != RUNNING {
            self.release(1);
            return Err(SubmitError::ShutDown);
        }
        Ok(())
    }

    fn refused(&self, e: SubmitError) -> SubmitError {
        match e {
            SubmitError::Full { .. } => self.rejected_full.fetch_add(1, SeqCst),
            SubmitError::ShutDown => self.rejected_shut_down.fetch_add(1, SeqCst),
        };
        e
    }

    /// Queues a task whose slot is reserved and wakes a worker if one is idle.
    fn enqueue(&self, task: Task) -> TaskId {
        let id = self.push(task);
        self.wake_idle(1);
        id
    }

    /// Queues a task whose slot is reserved, without waking anyone.
    fn push(&self, task: Task) -> TaskId {
        let id = self.next_id.fetch_add(1, SeqCst);
        self.push_job(Job {
            id,
            created: self.clock.now(),
            kind: task.kind,
            on_end: task.on_end,
            spec: None,
        });
        id
    }

    /// Queues a job whose slot is reserved and counts it as submitted.
    fn push_job(&self, job: Job) {
        self.submitted.fetch_add(1, SeqCst);
        self.queue.push(job);
    }

    /// Wakes idle workers for `n` newly queued tasks.
    ///
    /// For a single task, at most one wake is in flight: while a woken worker has not
    /// started, further single submits wake nobody, and that worker wakes the next one
    /// if it finds more queued (see `worker`). Without this, a submitter inside the
    /// runtime wakes a worker per task, tokio runs each woken worker next on the same
    /// thread, and submitter and worker ping-pong one task at a time. A batch wakes a
    /// worker per task (all idle ones at once if it has more tasks than that).
    fn wake_idle(&self, n: usize) {
        // Pairs with the fence in `park`: either this load sees a worker as idle and
        // wakes it, or that worker's queue check sees the queued job.
        fence(SeqCst);
        let idle = self.idle_workers.load(SeqCst);
        if n == 0 || idle == 0 {
            return;
        }
        if n == 1 {
            if !self.waking.swap(true, SeqCst) {
                self.work.notify_one();
            }
        } else if n >= idle {
            self.work.notify_waiters();
        } else {
            for _ in 0..n {
                self.work.notify_one();
            }
        }
    }

    /// Gives back `n` in-flight slots, waking whoever waits on the result.
    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.in_flight.fetch_sub(n, SeqCst);
        if before == n {
            self.idle.notify_waiters();
        }
        if before >= self.config.max_in_flight {
            self.capacity.notify_waiters();
        }
    }

    async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight.load(SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    fn wake_everyone(&self) {
        self.work.notify_waiters();
        self.capacity.notify_waiters();
        self.idle.notify_waiters();
    }

    /// Records every queued task as cancelled and releases its slot.
    fn cancel_queued(&self, worker: u32) {
        let mut batch = Batch::default();
        while let Some(job) = self.queue.pop() {
            let record = cancelled(job, worker, None, self.clock.now(), &self.speculations);
            batch.push(&self.config, record);
        }
        batch.flush(self);
    }
}

/// A worker's unpublished records and counts.
#[derive(Default)]
struct Batch {
    records: Vec<TaskRecord>,
    tasks: usize,
    completed: u64,
    failed: u64,
    cancelled: u64,
    last_flush: u64,
}

impl Batch {
    fn push(&mut self, config: &PoolConfig, record: TaskRecord) {
        match record.outcome {
            Outcome::Completed => self.completed += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Cancelled => self.cancelled += 1,
        }
        self.tasks += 1;
        if config.keep_records {
            self.records.push(record);
        }
    }

    fn due(&self, now: u64) -> bool {
        self.tasks >= FLUSH_TASKS || now.saturating_sub(self.last_flush) >= FLUSH_NANOS
    }

    /// Publishes records and counts, then gives back the in-flight slots: whoever sees
    /// the pool idle also sees every record and count of the tasks that made it so.
    fn flush(&mut self, inner: &Inner) {
        if self.tasks == 0 {
            return;
        }
        if !self.records.is_empty() {
            inner.lock_records().append(&mut self.records);
        }
        inner.completed.fetch_add(self.completed, SeqCst);
        inner.failed.fetch_add(self.failed, SeqCst);
        inner.cancelled.fetch_add(self.cancelled, SeqCst);
        let tasks = std::mem::take(&mut self.tasks);
        (self.completed, self.failed, self.cancelled) = (0, 0, 0);
        inner.release(tasks);
    }
}

async fn worker(inner: Arc<Inner>, index: u32) {
    let mut batch = Batch::default();
    let mut pipeline: VecDeque<Dispatched> = VecDeque::new();
    let delay = inner.config.dispatch_delay;
    let ahead = if delay.is_zero() {
        0
    } else {
        inner.config.prefetch
    };
    // The schedule for timed tasks (see `task::deadline`): the last timed task's deadline
    // while this worker runs tasks back to back; `None` once it has idled.
    let mut schedule: Option<Instant> = None;
    loop {
        let state = inner.state.load(SeqCst);
        if state == CANCELLING || state == STOPPED {
            let now = inner.clock.now();
            for d in pipeline.drain(..) {
                let record = cancelled(d.job, index, Some(d.dispatched), now, &inner.speculations);
                batch.push(&inner.config, record);
            }
            batch.flush(&inner);
            inner.cancel_queued(index);
            if state == STOPPED {
                break;
            }
        }
        // Take jobs: the next one, plus `ahead` more whose dispatch delay runs meanwhile.
        let had = pipeline.len();
        while pipeline.len() <= ahead {
            let Some(job) = inner.queue.pop() else { break };
            let dispatched = inner.clock.now();
            let arrives = (!delay.is_zero()).then(|| Instant::now() + delay);
            pipeline.push_back(Dispatched {
                job,
                dispatched,
                arrives,
            });
        }
        // More work than this worker took: wake another (the chain behind `waking`).
        if pipeline.len() > had && !inner.queue.is_empty() {
            inner.wake_idle(1);
        }
        let Some(Dispatched {
            job,
            dispatched,
            arrives,
        }) = pipeline.pop_front()
        else {
            batch.flush(&inner);
            // An idle worker keeps no buffer: with thousands of workers (perf-test's
            // memory config has 2000), their emptied record buffers add up to megabytes.
            batch.records = Vec::new();
            schedule = None;
            match park(&inner).await {
                Park::Work => continue,
                Park::Stop => break,
                // Adaptive sizing already took this worker off the active count.
                Park::Retired => return,
            }
        };
        if let Some(arrives) = arrives {
            let arrived = crate::timing::sleep_until(arrives);
            if unless_cancelled(arrived, Cancel::pool(&inner.cancel))
                .await
                .is_none()
            {
                let now = inner.clock.now();
                let record = cancelled(job, index, Some(dispatched), now, &inner.speculations);
                batch.push(&inner.config, record);
                schedule = None;
                continue;
            }
        }
        // An abandoned speculation is not run.
        if job.spec.as_ref().is_some_and(|spec| !spec.begin()) {
            let now = inner.clock.now();
            let record = cancelled(job, index, Some(dispatched), now, &inner.speculations);
            batch.push(&inner.config, record);
            continue;
        }
        // A task that travelled starts on the schedule, but not before it arrived.
        let release = match (schedule, arrives) {
            (Some(s), Some(a)) => Some(s.max(a)),
            (s, a) => s.or(a),
        };
        inner.busy_workers.fetch_add(1, SeqCst);
        let mut started = None;
        let mark_start = || started = Some(inner.clock.now());
        let Job {
            id,
            created,
            kind,
            on_end,
            spec,
        } = job;
        let cancel = Cancel::either(&inner.cancel, spec.as_deref().map(|s| &s.cancel));
        let (outcome, next) = execute(kind, cancel, mark_start, release).await;
        deliver(on_end, spec.as_deref(), &outcome, &inner.speculations);
        inner.busy_workers.fetch_sub(1, SeqCst);
        schedule = next;
        let finished = inner.clock.now();
        let done = TaskRecord {
            id,
            worker: index,
            created,
            dispatched: Some(dispatched),
            started,
            finished,
            outcome,
        };
        batch.push(&inner.config, done);
        if batch.due(finished) {
            batch.last_flush = finished;
            batch.flush(&inner);
        }
    }
    batch.flush(&inner);
    inner.active_workers.fetch_sub(1, SeqCst);
}

/// The record of a job cancelled (or, a speculation, abandoned) before it started.
fn cancelled(
    job: Job,
    worker: u32,
    dispatched: Option<u64>,
    now: u64,
    ledger: &Ledger,
) -> TaskRecord {
    deliver(job.on_end, job.spec.as_deref(), &Outcome::Cancelled, ledger);
    TaskRecord {
        id: job.id,
        worker,
        created: job.created,
        dispatched,
        started: None,
        finished: now,
        outcome: Outcome::Cancelled,
    }
}

/// What an idle worker does next.
enum Park {
    /// Look for work again.
    Work,
    /// Exit: the pool is stopped.
    Stop,
    /// Exit: adaptive sizing retired this worker (already off the active count).
    Retired,
}

/// An idle worker waits for work, unless the pool stopped or it should retire.
async fn park(inner: &Inner) -> Park {
    let work = inner.work.notified();
    tokio::pin!(work);
    work.as_mut().enable();
    inner.idle_workers.fetch_add(1, SeqCst);
    fence(SeqCst);
    // Only queued work or a stop ends the wait at once. A worker of a draining or
    // cancelling pool with nothing queued must wait too: returning straight away would
    // spin without yielding and could starve the workers still running tasks. State
    // changes reach it through `wake_everyone`, which it cannot miss: its `work`
    // notification was enabled before these checks.
    let next = if inner.state.load(SeqCst) == STOPPED {
        Park::Stop
    } else if retire(inner) {
        Park::Retired
    } else if !inner.queue.is_empty() {
        Park::Work
    } else {
        work.await;
        Park::Work
    };
    inner.idle_workers.fetch_sub(1, SeqCst);
    // However this worker leaves its park, a wake sent to it may be spent: a submitter's
    // `notify_one` can land on it just before it finds the queued work itself, and its
    // dropped notification is then forwarded or lost. Clearing `waking` on every exit
    // (not only after the await) keeps the flag from staying set with every worker
    // asleep, which would make every later single submit wake nobody. A worker that goes
    // on to take work wakes the next one if more is queued, so no wake is needed.
    inner.waking.store(false, SeqCst);
    next
}

/// Takes this worker off the active count if there are more workers than the target.
fn retire(inner: &Inner) -> bool {
    let active = inner.active_workers.load(SeqCst);
    active > inner.target_workers.load(SeqCst)
        && inner
            .active_workers
            .compare_exchange(active, active - 1, SeqCst, SeqCst)
            .is_ok()
}

/// Adaptive sizing: grow while tasks wait, shrink after a run of quiet checks.
async fn control(inner: Arc<Inner>, adaptive: super::Adaptive) {
    let mut quiet = 0u32;
    while inner.state.load(SeqCst) == RUNNING {
        tokio::time::sleep(adaptive.interval).await;
        let target = inner.target_workers.load(SeqCst);
        let seen = Seen {
            backlog: inner.queue.len(),
            target,
            busy: inner.busy_workers.load(SeqCst),
        };
        match resize(seen, &mut quiet, &adaptive) {
            Resize::Grow(grow) => {
                inner.target_workers.store(target + grow, SeqCst);
                for _ in 0..grow {
                    inner.spawn_worker();
                }
            }
            Resize::Retire => {
                inner.target_workers.store(target - 1, SeqCst);
                inner.work.notify_waiters();
            }
            Resize::Keep => {}
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn bad_configs_name_the_field() {
        runtime().block_on(async {
            let err = Pool::new(PoolConfig::with_workers(0)).unwrap_err();
            assert_eq!(err.to_string(), "workers must be at least 1, got 0");
            let config = PoolConfig {
                max_in_flight: 0,
                ..PoolConfig::default()
            };
            assert!(
                Pool::new(config)
                    .unwrap_err()
                    .to_string()
                    .starts_with("max_in_flight")
            );
            let config = PoolConfig {
                adaptive: Some(super::super::Adaptive::between(4, 2)),
                ..PoolConfig::default()
            };
            assert!(
                Pool::new(config)
                    .unwrap_err()
                    .to_string()
                    .starts_with("adaptive.max")
            );
        });
        assert_eq!(
            Pool::new(PoolConfig::default()).unwrap_err(),
            PoolError::NoRuntime
        );
    }
}
