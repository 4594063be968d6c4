//! Driving a pool with an open-loop load: task `i` is submitted at a scheduled offset
//! from the start, whatever happened to earlier tasks, and its latency is counted from
//! that scheduled moment, so a stalled driver or a full pool cannot hide its own delay
//! (no coordinated omission).

use std::time::Duration;

use orchbench::scheduler::{Pool, SubmitError, Task, TaskRecord};
use orchbench::timing::Clock;

/// A task of an open-loop run: when it was meant to arrive, and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The scheduled arrival, nanoseconds of the pool's clock.
    pub intended: u64,
    /// The task's record.
    pub record: TaskRecord,
}

impl Arrival {
    /// From the scheduled arrival to the end of the task.
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.record.finished.saturating_sub(self.intended))
    }
}

/// Submits `make(i)` at `start + schedule[i]` for every `i` (deadline-based sleeps), waits
/// for the pool to be idle, and returns every task's arrival and record in schedule order.
/// The pool must be otherwise unused, with `keep_records` on.
pub async fn open_loop(
    pool: &Pool,
    schedule: &[Duration],
    mut make: impl FnMut(usize) -> Task,
) -> Result<Vec<Arrival>, SubmitError> {
    drop(pool.take_records());
    // One clock for everything: the schedule is laid out, waited on and compared with
    // the records on the pool's clock. (Waiting on `Instant` deadlines while recording
    // on the pool's time-stamp-counter clock drifts by the counter's calibration error,
    // parts per million that add up to hundreds of µs over a long run.)
    let clock = pool.clock();
    let start_ns = clock.now();
    let intended =
        |offset: &Duration| start_ns + u64::try_from(offset.as_nanos()).unwrap_or(u64::MAX);
    let mut first_id = None;
    for (i, offset) in schedule.iter().enumerate() {
        clock.sleep_until(intended(offset)).await;
        let id = pool.submit(make(i)).await?;
        first_id.get_or_insert(id);
    }
    pool.wait_idle().await;
    let first_id = first_id.unwrap_or(0);
    let mut records = pool.take_records();
    records.sort_by_key(|r| r.id);
    Ok(records
        .into_iter()
        .map(|record| {
            let i = (record.id - first_id) as usize;
            Arrival {
                intended: intended(&schedule[i]),
                record,
            }
        })
        .collect())
}
