//! The open-loop driver both profiles use: one request per scheduled arrival, submitted
//! when its time comes whatever the pool is doing, each request's end recorded on the
//! run's clock, so latency counts from the intended arrival (no coordinated omission).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use orchbench::scheduler::{Outcome, Pool, Task};
use orchbench::timing::{Clock, MonotonicClock};

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Not ended (the run stopped first).
    Open,
    /// Ended at this offset from the start, ns.
    Done(u64),
    /// The task failed, or could not be submitted.
    Failed,
    /// The pool was full on arrival and refused it.
    Refused,
}

/// What to drive: the arrivals and how a full pool is met.
pub(super) struct Schedule<'a> {
    /// Each request's intended arrival, ns after the start, in time order.
    pub arrivals: &'a [u64],
    /// How long each request's task takes.
    pub task_time: Duration,
    /// `Some(cap)`: a submission at a full pool (`cap` in flight) waits for room;
    /// `None`: it is refused at once.
    pub wait_at: Option<usize>,
    /// `Some(timeout)`: each end is reported to the live metrics, as an error when
    /// later than `timeout` ns after its arrival.
    pub live_timeout: Option<u64>,
}

/// What the driver saw.
pub(super) struct Driven {
    /// Per request, how it ended (by the time the caller reads it).
    pub ends: Arc<Mutex<Vec<End>>>,
    /// Per request, whether the pool pushed back (refused it, or made it wait).
    pub pushed_back: Vec<bool>,
    /// Submissions that waited for room, and the longest wait, ns.
    pub waited: u64,
    pub wait_max: u64,
    /// The driver's worst lateness behind the schedule, ns.
    pub lag_max: u64,
}

impl Driven {
    /// The ends, taken out of the shared list.
    pub fn take_ends(&self) -> Vec<End> {
        std::mem::take(&mut *self.ends.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Submits one request per arrival of `schedule` to `pool` at `start + arrival` on
/// `clock`, calling `after(i, now)` after each submission (for progress or sampling).
pub(super) async fn drive(
    pool: &Pool,
    clock: &MonotonicClock,
    start: u64,
    schedule: &Schedule<'_>,
    mut after: impl FnMut(usize, u64),
) -> Driven {
    let n = schedule.arrivals.len();
    let ends = Arc::new(Mutex::new(vec![End::Open; n]));
    let set = |i: usize, end: End| ends.lock().unwrap_or_else(PoisonError::into_inner)[i] = end;
    let mut driven = Driven {
        ends: ends.clone(),
        pushed_back: vec![false; n],
        waited: 0,
        wait_max: 0,
        lag_max: 0,
    };
    for (i, &at) in schedule.arrivals.iter().enumerate() {
        clock.sleep_until(start + at).await;
        let now = clock.now() - start;
        driven.lag_max = driven.lag_max.max(now.saturating_sub(at));
        let task = request(schedule, &ends, clock, start, i);
        match schedule.wait_at {
            None => {
                if pool.try_submit(task).is_err() {
                    driven.pushed_back[i] = true;
                    set(i, End::Refused);
                    if let Some(live) =
                        crate::live::get().filter(|_| schedule.live_timeout.is_some())
                    {
                        live.rejected();
                    }
                }
            }
            Some(cap) => {
                // The driver is the only submitter and in-flight tasks only end
                // meanwhile: a full pool now means this submission waits.
                let full = pool.stats().in_flight >= cap;
                let before = clock.now();
                if pool.submit(task).await.is_err() {
                    set(i, End::Failed);
                }
                if full {
                    driven.pushed_back[i] = true;
                    driven.waited += 1;
                    driven.wait_max = driven.wait_max.max(clock.now() - before);
                }
            }
        }
        after(i, now);
    }
    driven
}

/// Request `i`'s task: a sleep of the task time that records its end.
fn request(
    schedule: &Schedule,
    ends: &Arc<Mutex<Vec<End>>>,
    clock: &MonotonicClock,
    start: u64,
    i: usize,
) -> Task {
    let (ends, clock) = (ends.clone(), clock.clone());
    let (at, live_timeout) = (schedule.arrivals[i], schedule.live_timeout);
    Task::sleep(schedule.task_time).on_end(move |outcome: &Outcome| {
        let end = match outcome {
            Outcome::Completed => End::Done(clock.now().saturating_sub(start)),
            _ => End::Failed,
        };
        if let (Some(timeout), Some(live)) = (live_timeout, crate::live::get()) {
            let latency = clock.now().saturating_sub(start + at);
            let ok = matches!(end, End::Done(_)) && latency <= timeout;
            live.observe(latency as f64 / 1e9, ok);
        }
        ends.lock().unwrap_or_else(PoisonError::into_inner)[i] = end;
    })
}
