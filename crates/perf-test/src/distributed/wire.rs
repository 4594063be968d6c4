//! What the coordinator and the workers agree on: the streams and groups, the task and
//! result payloads, the broker URL, and how a lost broker is retried.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::PerfError;
use orchbench::events::{BusError, Event, EventBus, EventKind, RedisConfig, RedisStreamsBus};

/// The task stream when the broker URL names none.
pub const DEFAULT_TASK_STREAM: &str = "orchbench:perf:tasks";
/// The consumer group of the workers.
pub const WORKER_GROUP: &str = "perf-workers";
/// The consumer group the coordinator reads its results in.
pub(super) const RESULT_GROUP: &str = "coordinator";

/// What a task event carries (its payload, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct TaskSpec {
    /// The stream the result goes to.
    pub(super) reply: String,
    /// After this (Unix ns) the run is over: drop the task.
    pub(super) deadline_ns: u64,
    /// How long an async task sleeps (0: a no-op).
    pub(super) duration_ns: u64,
    /// Run as `sh -c command` instead.
    pub(super) command: Option<String>,
}

/// What a result event carries (its payload, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ResultSpec {
    /// The worker's consumer name.
    pub(super) worker: String,
    /// The worker's slots (tasks it runs at once).
    pub(super) slots: usize,
    /// From the worker taking the task to its end, ns (worker's clock).
    pub(super) run_ns: u64,
    /// Why it failed, if it did.
    pub(super) error: Option<String>,
}

pub(super) fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub(super) fn unavailable(url: &str, e: &BusError) -> PerfError {
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
pub(super) const RETRY: Duration = Duration::from_millis(200);

/// What the coordinator's result reader hands over.
pub(super) enum Inbound {
    /// Results read from the run's results stream.
    Results(Vec<Event>),
    /// A read failed: the first failure of an outage (the reader keeps retrying).
    Lost(BusError),
}

/// The coordinator's record of the broker's outages.
#[derive(Default)]
pub(super) struct Outages {
    /// Since when the broker has been unreachable; None: it is reachable.
    pub(super) since: Option<Instant>,
    /// The lengths of the outages survived, s.
    pub(super) survived: Vec<f64>,
    /// Of those, how many were server restarts (a new run id).
    pub(super) restarts: u64,
    /// Tasks published again after an outage.
    pub(super) republished: u64,
}

impl Outages {
    /// Notes that the broker failed with `e` (the start of an outage, or more of one).
    pub(super) fn begin(&mut self, e: &BusError, timeout: Duration) {
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
pub(super) async fn publish_tasks(
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
pub(super) async fn lost_tasks(
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
