//! What the pool runs and what it records: [`Task`] (the executors: nothing, an exact
//! sleep, a busy spin, any future, an OS process) and [`TaskRecord`] (a task's four
//! timestamps and its [`Outcome`]). Running a task never panics the worker: a panicking
//! future is caught and recorded as failed.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A boxed task future: `Ok` completes the task, `Err` fails it with a message.
pub type TaskFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

/// A unit of work for the pool.
pub struct Task {
    pub(crate) kind: TaskKind,
    pub(crate) on_end: Option<OnEnd>,
}

/// A callback told how a task ended ([`Task::on_end`]).
pub(crate) type OnEnd = Box<dyn FnOnce(&Outcome) + Send + 'static>;

pub(crate) enum TaskKind {
    Noop,
    Sleep(Duration),
    Spin(Duration),
    Future(TaskFuture),
    Process(String),
}

impl Task {
    /// A task that does nothing: measures the scheduler's own overhead.
    pub fn noop() -> Task {
        Task {
            on_end: None,
            kind: TaskKind::Noop,
        }
    }

    /// A task that waits `duration` from its start, exactly (deadline-based, not on
    /// tokio's millisecond timer), without holding a thread.
    pub fn sleep(duration: Duration) -> Task {
        Task {
            on_end: None,
            kind: TaskKind::Sleep(duration),
        }
    }

    /// A task that keeps its worker thread busy for `duration`: CPU-bound work. It is
    /// not cancelled midway: cancellation takes effect when it ends.
    pub fn spin(duration: Duration) -> Task {
        Task {
            on_end: None,
            kind: TaskKind::Spin(duration),
        }
    }

    /// A task that runs `future`; a panic inside it fails the task, not the pool.
    pub fn future<F>(future: F) -> Task
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Task {
            on_end: None,
            kind: TaskKind::Future(Box::pin(async move {
                future.await;
                Ok(())
            })),
        }
    }

    /// A task that runs `future` and fails with the error's message if it returns `Err`.
    pub fn try_future<F, E>(future: F) -> Task
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        Task {
            on_end: None,
            kind: TaskKind::Future(Box::pin(
                async move { future.await.map_err(|e| e.to_string()) },
            )),
        }
    }

    /// A task that runs `sh -c command` as an OS process, like a workflow's task script;
    /// a non-zero exit fails the task. Cancelling it kills and reaps the process.
    pub fn process(command: impl Into<String>) -> Task {
        Task {
            on_end: None,
            kind: TaskKind::Process(command.into()),
        }
    }

    /// Calls `f` with how the task ended (completed, failed or cancelled) as soon as it
    /// does: what a workflow driver waits for before it submits the tasks that depend on
    /// this one. `f` runs on the worker that ran the task, so it should be short (a
    /// channel send).
    pub fn on_end(mut self, f: impl FnOnce(&Outcome) + Send + 'static) -> Task {
        self.on_end = Some(Box::new(f));
        self
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TaskKind::Noop => f.write_str("Task::noop()"),
            TaskKind::Sleep(d) => write!(f, "Task::sleep({d:?})"),
            TaskKind::Spin(d) => write!(f, "Task::spin({d:?})"),
            TaskKind::Future(_) => f.write_str("Task::future(..)"),
            TaskKind::Process(cmd) => write!(f, "Task::process({cmd:?})"),
        }
    }
}

/// A submitted task's id, unique within its pool, in submission order.
pub type TaskId = u64;

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to the end.
    Completed,
    /// It returned an error, panicked, or (a process) could not start or exited non-zero.
    Failed(String),
    /// The pool was shut down with [`super::Shutdown::Cancel`] before it ended, or (a
    /// speculation) it was abandoned before it ended.
    Cancelled,
}

/// A task's life: when it was created (submitted), dispatched (taken by a worker),
/// started (began running, after any dispatch delay) and finished, in nanoseconds of
/// the pool's clock; and how it ended. A task cancelled in the queue was never
/// dispatched nor started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The task's id.
    pub id: TaskId,
    /// The worker that took it (`u32::MAX` if none did).
    pub worker: u32,
    /// When it was submitted.
    pub created: u64,
    /// When a worker took it from the queue.
    pub dispatched: Option<u64>,
    /// When it began running.
    pub started: Option<u64>,
    /// When it ended (or was cancelled).
    pub finished: u64,
    /// How it ended.
    pub outcome: Outcome,
}

impl TaskRecord {
    /// From submission to the end: what a caller waits for.
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.finished.saturating_sub(self.created))
    }

    /// From submission to the start (dispatch delay included), if it started.
    pub fn queue_wait(&self) -> Option<Duration> {
        self.started
            .map(|s| Duration::from_nanos(s.saturating_sub(self.created)))
    }

    /// From the start to the end, if it started.
    pub fn run_time(&self) -> Option<Duration> {
        self.started
            .map(|s| Duration::from_nanos(self.finished.saturating_sub(s)))
    }
}

/// Raised once to stop running tasks; every clone of the pool's shares one.
#[derive(Debug, Default)]
pub(crate) struct CancelSignal {
    raised: AtomicBool,
    notify: Notify,
}

impl CancelSignal {
    pub(crate) fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Completes once the signal is raised.
    pub(crate) async fn raised(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_raised() {
                return;
            }
            notified.await;
        }
    }
}

/// What stops a running task: its pool's cancel, and for a speculation its own.
#[derive(Clone, Copy)]
pub(crate) struct Cancel<'a> {
    pool: &'a CancelSignal,
    task: Option<&'a CancelSignal>,
}

impl<'a> Cancel<'a> {
    /// Stopped by the pool's cancel only.
    pub(crate) fn pool(pool: &'a CancelSignal) -> Cancel<'a> {
        Cancel { pool, task: None }
    }

    /// Stopped by the pool's cancel or the task's own.
    pub(crate) fn either(pool: &'a CancelSignal, task: Option<&'a CancelSignal>) -> Cancel<'a> {
        Cancel { pool, task }
    }

    /// Completes once either signal is raised.
    async fn raised(self) {
        match self.task {
            None => self.pool.raised().await,
            Some(task) => tokio::select! {
                () = self.pool.raised() => {}
                () = task.raised() => {}
            },
        }
    }
}

/// Runs `future` unless `cancel` is raised first (then `None`).
pub(crate) async fn unless_cancelled<F: Future>(
    future: F,
    cancel: Cancel<'_>,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = future => Some(output),
        () = cancel.raised() => None,
    }
}

/// Polls a future inside `catch_unwind`, turning a panic into an `Err` with its message.
struct CatchUnwind(TaskFuture);

impl Future for CatchUnwind {
    type Output = Result<(), String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string payload".into());
                Poll::Ready(Err(format!("panicked: {message}")))
            }
        }
    }
}

/// The deadline of a timed task that starts now: `schedule + duration` if the worker's
/// schedule (the previous timed task's deadline, or the moment this task arrived) is
/// less than `duration` behind, otherwise `now + duration`.
///
/// This is deadline-based timing: a worker running timed tasks back to back releases
/// each at the previous one's deadline, so an OS wake-up that comes late makes the next
/// task's wait that much shorter instead of shifting every later deadline. Each task
/// still occupies its worker for exactly its duration of the schedule.
fn deadline(schedule: Option<Instant>, duration: Duration) -> Instant {
    let now = Instant::now();
    match schedule {
        Some(base) if now.saturating_duration_since(base) < duration => base + duration,
        _ => now + duration,
    }
}

/// Runs a task to its outcome. `started` is called once, when the task actually begins
/// (for a process: once it has been spawned), to record that moment. `schedule` is the
/// worker's schedule for timed tasks (see [`deadline`]). Returns the outcome and, for a
/// timed task that completed, its deadline: the schedule for the next task.
pub(crate) async fn execute(
    kind: TaskKind,
    cancel: Cancel<'_>,
    mut started: impl FnMut(),
    schedule: Option<Instant>,
) -> (Outcome, Option<Instant>) {
    match kind {
        TaskKind::Noop => {
            started();
            (Outcome::Completed, schedule)
        }
        TaskKind::Sleep(duration) => {
            started();
            let deadline = deadline(schedule, duration);
            match unless_cancelled(crate::timing::sleep_until(deadline), cancel).await {
                Some(()) => (Outcome::Completed, Some(deadline)),
                None => (Outcome::Cancelled, None),
            }
        }
        TaskKind::Spin(duration) => {
            started();
            let end = deadline(schedule, duration);
            while Instant::now() < end {
                std::hint::spin_loop();
            }
            (Outcome::Completed, Some(end))
        }
        TaskKind::Future(future) => {
            started();
            let outcome = match unless_cancelled(CatchUnwind(future), cancel).await {
                Some(Ok(())) => Outcome::Completed,
                Some(Err(message)) => Outcome::Failed(message),
                None => Outcome::Cancelled,
            };
            (outcome, None)
        }
        TaskKind::Process(command) => (run_process(&command, cancel, started).await, None),
    }
}

/// Kills a process task's whole process group when dropped, unless disarmed.
///
/// `sh -c 'a; b'` forks its commands: killing only the shell would leave them running,
/// re-parented to init. Each task's shell therefore leads a process group of its own,
/// and a cancel (or a dropped task) kills the group.
struct GroupKill {
    pgid: Option<i32>,
}

impl GroupKill {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: kill(2) with a negative pid signals that process group; it has no
            // memory-safety preconditions. A group already gone gives ESRCH, ignored.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn run_process(command: &str, cancel: Cancel<'_>, mut started: impl FnMut()) -> Outcome {
    let spawned = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a cancel reaches everything the shell started.
        .process_group(0)
        // A backstop: if this future is ever dropped without the cancel path below,
        // the child still gets killed (and `GroupKill` kills the rest of its group).
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Outcome::Failed(format!("cannot start `sh -c {command}`: {e}")),
    };
    let mut group = GroupKill {
        pgid: child.id().and_then(|pid| i32::try_from(pid).ok()),
    };
    started();
    let outcome = match unless_cancelled(child.wait(), cancel).await {
        Some(Ok(status)) if status.success() => Outcome::Completed,
        Some(Ok(status)) => Outcome::Failed(format!("`sh -c {command}` exited with {status}")),
        Some(Err(e)) => Outcome::Failed(format!("cannot wait for `sh -c {command}`: {e}")),
        None => {
            // Kill the group, then reap the shell, so no process outlives the pool.
            group.kill();
            let _ = child.kill().await;
            return Outcome::Cancelled;
        }
    };
    // The shell ended on its own: what it left running in the background is the
    // command's business, as in a shell script.
    group.pgid = None;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(task: Task) -> Outcome {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cancel = CancelSignal::default();
        runtime
            .block_on(execute(task.kind, Cancel::pool(&cancel), || {}, None))
            .0
    }

    #[test]
    fn outcomes_of_each_executor() {
        assert_eq!(run(Task::noop()), Outcome::Completed);
        assert_eq!(
            run(Task::sleep(Duration::from_micros(200))),
            Outcome::Completed
        );
        assert_eq!(
            run(Task::spin(Duration::from_micros(50))),
            Outcome::Completed
        );
        assert_eq!(run(Task::future(async {})), Outcome::Completed);
        assert_eq!(
            run(Task::try_future(async { Err::<(), _>("no route to tool") })),
            Outcome::Failed("no route to tool".into())
        );
        assert_eq!(run(Task::process("true")), Outcome::Completed);
        let Outcome::Failed(message) = run(Task::process("exit 3")) else {
            panic!("should fail")
        };
        assert!(message.contains("exit status: 3"), "{message}");
    }

    #[test]
    fn a_panicking_future_fails_the_task() {
        let outcome = run(Task::future(async { panic!("tool crashed") }));
        assert_eq!(outcome, Outcome::Failed("panicked: tool crashed".into()));
    }

    #[test]
    fn sleep_lasts_its_duration() {
        let t0 = Instant::now();
        run(Task::sleep(Duration::from_millis(3)));
        assert!(t0.elapsed() >= Duration::from_millis(3));
    }

    #[test]
    fn deadlines_follow_the_schedule_unless_too_far_behind() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        let now = Instant::now();
        // 0.3 ms behind a 1 ms task: released on schedule.
        assert_eq!(deadline(Some(now - us(300)), ms(1)), now - us(300) + ms(1));
        // A schedule in the future (a dispatch arrival not yet reached) is kept.
        assert_eq!(deadline(Some(now + ms(2)), ms(1)), now + ms(3));
        // 5 ms behind a 1 ms task: the schedule restarts now.
        let d = deadline(Some(now - ms(5)), ms(1));
        assert!(d >= now + ms(1) && d < now + ms(2), "{:?}", d - now);
        assert!(deadline(None, ms(1)) >= now + ms(1));
    }

    #[test]
    fn record_durations() {
        let record = TaskRecord {
            id: 1,
            worker: 0,
            created: 100,
            dispatched: Some(150),
            started: Some(400),
            finished: 1_400,
            outcome: Outcome::Completed,
        };
        assert_eq!(record.latency(), Duration::from_nanos(1_300));
        assert_eq!(record.queue_wait(), Some(Duration::from_nanos(300)));
        assert_eq!(record.run_time(), Some(Duration::from_nanos(1_000)));
    }
}
