//! The scenarios the benches and the load tester both run, so that a Criterion bench
//! and its `perf-test` report time the same code: two agents coordinating over a pair
//! of event buses ([`Pair`]; `event_throughput/coordination/*` and `perf-test
//! coordinate`), and a batch of simulated tool calls on the pool ([`tool_calls`];
//! `parallel_tools/*` and `perf-test tools`). Each is built from the public API of
//! [`crate::events`] and [`crate::scheduler`]; nothing in the engine calls it.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::events::{
    BusError, Event, EventBus, EventKind, MemoryBus, MemoryConfig, RedisConfig, RedisStreamsBus,
    Subscription,
};
use crate::scheduler::{Pool, SubmitError, Task};

/// A simulated tool call's duration: the bench's and `perf-test tools`' default.
pub const DEFAULT_TOOL_TIME: Duration = Duration::from_millis(20);

/// Issues `tools` calls of `tool_time` ([`Task::sleep`]: no thread held while waiting)
/// to `pool` as one batch, the calls of one step, and returns the wall time from the
/// submission to the last completion.
pub async fn tool_calls(
    pool: &Pool,
    tools: usize,
    tool_time: Duration,
) -> Result<Duration, SubmitError> {
    let t0 = Instant::now();
    pool.submit_batch((0..tools).map(|_| Task::sleep(tool_time)))
        .await?;
    pool.wait_idle().await;
    Ok(t0.elapsed())
}

/// Two agents coordinating over a pair of buses of one backend.
pub struct Pair<B: EventBus> {
    tasks: B,
    acks: B,
    replies: B::Subscription,
    responder: JoinHandle<Result<u64, BusError>>,
    next: u64,
    got: Vec<Event>,
}

/// Agent B: every task event it receives is acknowledged and answered; returns how many
/// once the bus ends.
async fn respond<B: EventBus>(mut sub: B::Subscription, acks: B) -> Result<u64, BusError> {
    let mut batch = Vec::with_capacity(64);
    let mut answered = 0u64;
    loop {
        batch.clear();
        if sub.recv_batch(&mut batch, 64).await? == 0 {
            return Ok(answered);
        }
        answered += batch.len() as u64;
        // The replies are made as they are published: no allocation per round trip.
        let replies = batch
            .iter()
            .map(|e| Event::new(EventKind::TaskFinished, e.workflow, e.task, e.at_ns));
        let (acked, replied) = tokio::join!(sub.ack(), acks.publish_batch(replies));
        acked?;
        replied?;
    }
}

impl<B> Pair<B>
where
    B: EventBus + Clone + 'static,
    B::Subscription: 'static,
{
    /// Subscribes both agents (A to `acks`, B to `tasks`) and starts B.
    pub async fn start(tasks: B, acks: B) -> Result<Pair<B>, BusError> {
        let replies = acks.subscribe("agent-a").await?;
        let requests = tasks.subscribe("agent-b").await?;
        let responder = tokio::spawn(respond(requests, acks.clone()));
        Ok(Pair {
            tasks,
            acks,
            replies,
            responder,
            next: 0,
            got: Vec::with_capacity(4),
        })
    }

    /// One coordination: publish a task, wait for its reply; returns the round trip.
    pub async fn round_trip(&mut self) -> Result<Duration, BusError> {
        let task = self.next;
        self.next += 1;
        let t0 = Instant::now();
        self.tasks
            .publish(Event::new(EventKind::TaskQueued, 1, task, 0))
            .await?;
        loop {
            self.got.clear();
            if self.replies.recv_batch(&mut self.got, 4).await? == 0 {
                return Err(BusError::Closed);
            }
            if self.got.iter().any(|e| e.task == task) {
                return Ok(t0.elapsed());
            }
        }
    }

    /// `n` round trips, one after another: their times.
    pub async fn round_trips(&mut self, n: usize) -> Result<Vec<Duration>, BusError> {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(self.round_trip().await?);
        }
        Ok(times)
    }

    /// Acknowledges the last reply, shuts both buses down and waits for B; returns how
    /// many tasks B answered.
    pub async fn finish(mut self) -> Result<u64, BusError> {
        self.replies.ack().await?;
        self.tasks.shutdown().await?;
        let answered = self.responder.await.map_err(|_| BusError::Closed)??;
        self.acks.shutdown().await?;
        Ok(answered)
    }
}

/// Two fresh in-process buses.
pub fn memory_pair_buses() -> Result<(MemoryBus, MemoryBus), BusError> {
    Ok((
        MemoryBus::new(MemoryConfig::default())?,
        MemoryBus::new(MemoryConfig::default())?,
    ))
}

/// Two buses on the Redis server at `url`, on streams named after `prefix`. Replies
/// and tasks are read as soon as they arrive (each `XREADGROUP` blocks until one does).
pub async fn redis_pair_buses(
    url: &str,
    prefix: &str,
) -> Result<(RedisStreamsBus, RedisStreamsBus), BusError> {
    let config = |name: &str| {
        let mut c = RedisConfig::from_url(url)?;
        c.stream = format!("{prefix}:{name}");
        Ok::<_, BusError>(c)
    };
    Ok((
        RedisStreamsBus::connect(config("tasks")?).await?,
        RedisStreamsBus::connect(config("acks")?).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_round_trip_is_answered_for_its_own_task() {
        let runtime = crate::scheduler::runtime().unwrap();
        runtime.block_on(async {
            let (tasks, acks) = memory_pair_buses().unwrap();
            let mut pair = Pair::start(tasks, acks).await.unwrap();
            let times = pair.round_trips(100).await.unwrap();
            assert_eq!(times.len(), 100);
            assert!(times.iter().all(|t| !t.is_zero()));
            assert_eq!(pair.finish().await.unwrap(), 100);
        });
    }

    #[test]
    fn a_batch_of_tool_calls_takes_one_call_s_time_on_as_many_workers() {
        let runtime = crate::scheduler::runtime().unwrap();
        runtime.block_on(async {
            let pool = Pool::new(crate::scheduler::PoolConfig::with_workers(8)).unwrap();
            let took = tool_calls(&pool, 8, Duration::from_millis(20))
                .await
                .unwrap();
            assert!(took >= Duration::from_millis(20), "{took:?}");
            assert!(
                took < Duration::from_millis(160),
                "not one after another: {took:?}"
            );
            pool.shutdown(crate::scheduler::Shutdown::Drain).await;
        });
    }
}
