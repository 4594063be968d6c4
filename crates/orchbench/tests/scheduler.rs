//! The worker pool's behaviour: backpressure under both policies, shutdown that drains
//! or cancels with every task accounted for, failing and panicking tasks, OS processes
//! (failures, and none left running after a cancel), submits after shutdown, dispatch
//! delay, adaptive sizing, and a property test that no task is ever lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orchbench::scheduler::{
    Adaptive, Backpressure, Outcome, Pool, PoolConfig, Shutdown, SubmitError, Task,
};
use proptest::prelude::*;

use crate::util;

fn runtime() -> tokio::runtime::Runtime {
    orchbench::scheduler::runtime().expect("a tokio runtime")
}

#[test]
fn reject_policy_refuses_at_the_cap_and_counts_it() {
    runtime().block_on(async {
        let config = PoolConfig {
            max_in_flight: 2,
            backpressure: Backpressure::Reject,
            ..PoolConfig::with_workers(1)
        };
        let pool = Pool::new(config).unwrap();
        pool.submit(Task::sleep(Duration::from_millis(50)))
            .await
            .unwrap();
        pool.submit(Task::sleep(Duration::from_millis(50)))
            .await
            .unwrap();
        assert_eq!(
            pool.submit(Task::noop()).await,
            Err(SubmitError::Full { cap: 2 })
        );
        assert_eq!(
            pool.try_submit(Task::noop()),
            Err(SubmitError::Full { cap: 2 })
        );
        assert_eq!(pool.stats().rejected_full, 2);
        pool.wait_idle().await;
        // Capacity is back once the tasks end.
        pool.submit(Task::noop()).await.unwrap();
        let report = pool.shutdown(Shutdown::Drain).await;
        assert_eq!((report.submitted, report.completed), (3, 3));
    });
}

#[test]
fn wait_policy_blocks_until_a_task_ends() {
    runtime().block_on(async {
        let config = PoolConfig {
            max_in_flight: 1,
            backpressure: Backpressure::Wait,
            ..PoolConfig::with_workers(1)
        };
        let pool = Pool::new(config).unwrap();
        pool.submit(Task::sleep(Duration::from_millis(30)))
            .await
            .unwrap();
        let t0 = Instant::now();
        pool.submit(Task::noop()).await.unwrap();
        // The second submit could only be accepted once the first task had ended.
        assert!(pool.stats().completed >= 1 || t0.elapsed() >= Duration::from_millis(25));
        assert_eq!(pool.stats().rejected_full, 0);
        pool.wait_idle().await;
        assert_eq!(pool.stats().completed, 2);
    });
}

/// Regression: idle workers of a draining pool used to return from `park` without
/// awaiting, spinning on the runtime threads and starving the workers that still had
/// tasks to finish, so a drain with work left never ended.
#[test]
fn drain_runs_everything_and_counts_add_up() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(4)).unwrap();
        for i in 0..300 {
            let task = match i % 3 {
                0 => Task::noop(),
                1 => Task::sleep(Duration::from_micros(200)),
                _ => Task::try_future(async { Err::<(), _>("tool said no") }),
            };
            pool.submit(task).await.unwrap();
        }
        let report = pool.shutdown(Shutdown::Drain).await;
        assert_eq!(report.submitted, 300);
        assert_eq!(report.completed, 200);
        assert_eq!(report.failed, 100);
        assert_eq!(report.cancelled, 0);
    });
}

#[test]
fn cancel_stops_running_and_queued_tasks() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(2)).unwrap();
        for _ in 0..10 {
            pool.submit(Task::sleep(Duration::from_secs(30)))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = Instant::now();
        let report = pool.shutdown(Shutdown::Cancel).await;
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "cancel must not wait for the tasks"
        );
        assert_eq!(report.submitted, 10);
        assert_eq!(report.cancelled, 10);
        let records = pool.take_records();
        assert_eq!(records.len(), 10);
        assert!(records.iter().all(|r| r.outcome == Outcome::Cancelled));
        // Two were running (dispatched), eight never left the queue.
        assert_eq!(records.iter().filter(|r| r.dispatched.is_some()).count(), 2);
    });
}

#[test]
fn a_panicking_task_fails_and_the_pool_keeps_running() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        pool.submit(Task::future(async { panic!("the tool exploded") }))
            .await
            .unwrap();
        pool.submit(Task::noop()).await.unwrap();
        pool.wait_idle().await;
        let mut records = pool.take_records();
        records.sort_by_key(|r| r.id);
        assert_eq!(
            records[0].outcome,
            Outcome::Failed("panicked: the tool exploded".into())
        );
        assert_eq!(records[1].outcome, Outcome::Completed);
        let stats = pool.stats();
        assert_eq!((stats.failed, stats.completed, stats.workers), (1, 1, 1));
    });
}

#[test]
fn process_tasks_succeed_fail_and_report_why() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(2)).unwrap();
        pool.submit(Task::process("exit 0")).await.unwrap();
        pool.submit(Task::process("exit 7")).await.unwrap();
        pool.submit(Task::process("no-such-command-orchbench"))
            .await
            .unwrap();
        pool.wait_idle().await;
        let mut records = pool.take_records();
        records.sort_by_key(|r| r.id);
        assert_eq!(records[0].outcome, Outcome::Completed);
        let Outcome::Failed(why) = &records[1].outcome else {
            panic!("{:?}", records[1])
        };
        assert!(
            why.contains("exit 7") && why.contains("exit status: 7"),
            "{why}"
        );
        let Outcome::Failed(why) = &records[2].outcome else {
            panic!("{:?}", records[2])
        };
        assert!(why.contains("exit status: 127"), "{why}");
    });
}

/// Process tasks cancelled by a shutdown are killed and reaped: none is left running,
/// and not even a zombie (its /proc entry would stay until reaped). Each test marks its
/// commands with its own sleep length, so tests running at the same time in this
/// binary cannot confuse each other's processes.
#[test]
fn cancelled_processes_are_killed_and_reaped() {
    let marker = "sleep 30.5";
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(3)).unwrap();
        for _ in 0..3 {
            pool.submit(Task::process(marker)).await.unwrap();
        }
        let pids = util::wait_for_processes(marker, 3).await;
        let report = pool.shutdown(Shutdown::Cancel).await;
        assert_eq!(report.cancelled, 3);
        util::assert_gone(&pids).await;
    });
}

#[test]
fn a_dropped_pool_cancels_and_reaps_its_processes() {
    let marker = "sleep 30.25";
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(2)).unwrap();
        pool.submit(Task::process(marker)).await.unwrap();
        pool.submit(Task::process(marker)).await.unwrap();
        let pids = util::wait_for_processes(marker, 2).await;
        drop(pool); // no shutdown
        // The workers cancel on their own: the processes are killed and reaped.
        util::assert_gone(&pids).await;
    });
}

/// A shell that forks (`sleep …; true` cannot be exec'd in place) leaves its `sleep`
/// as a grandchild; killing only the shell would re-parent it to init, alive. The
/// cancel must reach every process the task started.
#[test]
fn cancel_kills_what_the_shell_started() {
    let marker = "sleep 29.75";
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(2)).unwrap();
        for _ in 0..2 {
            pool.submit(Task::process(format!("{marker}; true")))
                .await
                .unwrap();
        }
        // Two shells and their two sleeps.
        let pids = util::wait_for_processes(marker, 4).await;
        let report = pool.shutdown(Shutdown::Cancel).await;
        assert_eq!(report.cancelled, 2);
        util::assert_gone(&pids).await;
    });
}

#[test]
fn submits_after_shutdown_are_refused_and_counted() {
    runtime().block_on(async {
        let pool = Arc::new(Pool::new(PoolConfig::with_workers(1)).unwrap());
        pool.submit(Task::noop()).await.unwrap();
        pool.shutdown(Shutdown::Drain).await;
        assert_eq!(pool.submit(Task::noop()).await, Err(SubmitError::ShutDown));
        assert_eq!(pool.try_submit(Task::noop()), Err(SubmitError::ShutDown));
        let stats = pool.stats();
        assert_eq!(
            (stats.rejected_shut_down, stats.submitted, stats.workers),
            (2, 1, 0)
        );
        // Shutting down twice is harmless.
        let again = pool.shutdown(Shutdown::Cancel).await;
        assert_eq!(again.submitted, 1);
    });
}

#[test]
fn dispatch_delay_is_pipelined_and_recorded() {
    runtime().block_on(async {
        let delay = Duration::from_millis(5);
        let config = PoolConfig {
            dispatch_delay: delay,
            prefetch: 1,
            ..PoolConfig::with_workers(1)
        };
        let pool = Pool::new(config).unwrap();
        let t0 = Instant::now();
        for _ in 0..20 {
            pool.submit(Task::sleep(Duration::from_millis(5)))
                .await
                .unwrap();
        }
        pool.wait_idle().await;
        let elapsed = t0.elapsed();
        // Serial would be 20 × (5 + 5) ms; pipelined is 5 + 20 × 5 ms.
        assert!(
            elapsed < Duration::from_millis(150),
            "not pipelined: {elapsed:?}"
        );
        for r in pool.take_records() {
            let travel = r.started.unwrap() - r.dispatched.unwrap();
            assert!(
                travel >= delay.as_nanos() as u64 - 50_000,
                "started {travel} ns after dispatch"
            );
        }
    });
}

#[test]
fn adaptive_pool_grows_under_backlog_and_shrinks_when_idle() {
    runtime().block_on(async {
        let config = PoolConfig {
            adaptive: Some(Adaptive::between(1, 8)),
            ..PoolConfig::with_workers(1)
        };
        let pool = Pool::new(config).unwrap();
        for _ in 0..200 {
            pool.submit(Task::sleep(Duration::from_millis(5)))
                .await
                .unwrap();
        }
        pool.wait_idle().await;
        let peak = pool.stats().peak_workers;
        assert!(peak >= 4, "peak workers {peak}");
        // Quiet for a while: the pool shrinks back towards its minimum.
        let deadline = Instant::now() + Duration::from_secs(3);
        while pool.stats().workers > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(pool.stats().workers, 1);
        let report = pool.shutdown(Shutdown::Drain).await;
        assert_eq!(report.completed, 200);
    });
}

#[test]
fn shutdown_leaves_no_worker_task_running() {
    let runtime = runtime();
    runtime.block_on(async {
        let alive = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        let before = alive();
        let pool = Pool::new(PoolConfig {
            adaptive: Some(Adaptive::between(2, 6)),
            ..PoolConfig::with_workers(4)
        })
        .unwrap();
        for _ in 0..50 {
            pool.submit(Task::sleep(Duration::from_millis(1)))
                .await
                .unwrap();
        }
        pool.shutdown(Shutdown::Drain).await;
        assert_eq!(pool.stats().workers, 0);
        // `shutdown` has awaited every worker and the controller, but tokio counts a
        // finished task as alive until its runtime thread drops its last reference, a
        // moment after the join. A task that really outlived shutdown never settles.
        let settle = Instant::now() + Duration::from_secs(1);
        while alive() != before && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            alive(),
            before,
            "worker or controller tasks outlived shutdown"
        );
    });
}

/// Single submits wake at most one worker at a time (the woken worker wakes the next):
/// workers parking and waking all the time must never leave a task queued with every
/// worker asleep. A lost wake-up would hang here, so the wait is bounded.
#[test]
fn throttled_wake_ups_never_strand_a_task() {
    let runtime = runtime();
    let pool =
        Arc::new(runtime.block_on(async { Pool::new(PoolConfig::with_workers(4)).unwrap() }));
    let submitter = pool.clone();
    runtime
        .block_on(runtime.spawn(async move {
            for round in 0..200u64 {
                for _ in 0..(round % 17) + 1 {
                    submitter.submit(Task::noop()).await.unwrap();
                }
                // Idle gaps of varying length, so workers park between bursts.
                if round % 3 == 0 {
                    tokio::time::sleep(Duration::from_micros(round % 5 * 100)).await;
                } else {
                    tokio::task::yield_now().await;
                }
            }
            let idle = tokio::time::timeout(Duration::from_secs(10), submitter.wait_idle());
            idle.await
                .expect("a submitted task was stranded: no worker woke for it");
        }))
        .unwrap();
    let stats = pool.stats();
    assert_eq!(stats.completed, stats.submitted);
}

/// One of a few task kinds, chosen by the property test.
fn task(kind: u8) -> Task {
    match kind % 4 {
        0 => Task::noop(),
        1 => Task::sleep(Duration::from_micros(300)),
        2 => Task::try_future(async { Err::<(), _>("no") }),
        _ => Task::future(async { tokio::task::yield_now().await }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn no_task_is_ever_lost(
        kinds in prop::collection::vec(any::<u8>(), 0..200),
        workers in 1usize..5,
        cancel in any::<bool>(),
        split in 0usize..200,
    ) {
        let (report, accepted, records) = runtime().block_on(async {
            let pool = Arc::new(Pool::new(PoolConfig::with_workers(workers)).unwrap());
            let accepted = Arc::new(AtomicUsize::new(0));
            // The first part is queued before the shutdown starts, so the shutdown
            // finds a backlog (sleeps keep the workers busy); the rest races it.
            let split = split.min(kinds.len());
            for &k in &kinds[..split] {
                pool.submit(task(k)).await.unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
            }
            let submitter = {
                let (pool, accepted, rest) = (pool.clone(), accepted.clone(), kinds[split..].to_vec());
                tokio::spawn(async move {
                    for k in rest {
                        if pool.submit(task(k)).await.is_ok() {
                            accepted.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            };
            let mode = if cancel { Shutdown::Cancel } else { Shutdown::Drain };
            let report = pool.shutdown(mode).await;
            submitter.await.unwrap();
            (report, accepted.load(Ordering::SeqCst), pool.take_records())
        });
        prop_assert_eq!(report.submitted as usize, accepted);
        prop_assert_eq!(report.submitted, report.completed + report.failed + report.cancelled);
        let mut ids: Vec<u64> = records.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        prop_assert_eq!(ids, (0..report.submitted).collect::<Vec<_>>());
    }
}

#[test]
fn on_end_reports_every_outcome_once() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let hook = |name: &'static str| {
            let tx = tx.clone();
            move |o: &Outcome| {
                tx.send((name, o.clone())).unwrap();
            }
        };
        pool.submit(Task::noop().on_end(hook("ok"))).await.unwrap();
        pool.submit(Task::process("exit 2").on_end(hook("failed")))
            .await
            .unwrap();
        pool.submit(Task::sleep(Duration::from_secs(30)).on_end(hook("running")))
            .await
            .unwrap();
        pool.submit(Task::noop().on_end(hook("queued")))
            .await
            .unwrap();
        // Let the first two end and the sleep start, then cancel.
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(rx.recv().await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        pool.shutdown(Shutdown::Cancel).await;
        drop(tx);
        while let Some(x) = rx.recv().await {
            seen.push(x);
        }
        seen.sort_by_key(|(name, _)| *name);
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(
            matches!(&seen[0], ("failed", Outcome::Failed(_))),
            "{seen:?}"
        );
        assert_eq!(seen[1], ("ok", Outcome::Completed));
        assert_eq!(seen[2], ("queued", Outcome::Cancelled));
        assert_eq!(seen[3], ("running", Outcome::Cancelled));
    });
}

/// The benchmark's pattern (`scheduler_scaling/noop/1`): one worker, batches of single
/// submits from inside the runtime, `wait_idle` between batches. A worker that leaves
/// its park because it found work queued (not because it was woken) must still let the
/// next submit wake it; before that was so, this hung within a few hundred batches.
#[test]
fn a_lone_worker_is_always_woken_between_batches() {
    let runtime = runtime();
    let pool =
        Arc::new(runtime.block_on(async { Pool::new(PoolConfig::with_workers(1)).unwrap() }));
    let submitter = pool.clone();
    runtime
        .block_on(runtime.spawn(async move {
            for batch in 0..2000u64 {
                for _ in 0..(batch % 50) + 1 {
                    submitter.submit(Task::noop()).await.unwrap();
                }
                let idle = tokio::time::timeout(Duration::from_secs(5), submitter.wait_idle());
                idle.await.unwrap_or_else(|_| {
                    panic!("batch {batch}: a task was stranded with the worker asleep")
                });
            }
        }))
        .unwrap();
    let stats = pool.stats();
    assert_eq!(stats.completed, stats.submitted);
}

/// A pool runs every task it accepts and keeps a consistent record of each.
#[test]
fn runs_every_task_and_records_it() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(3)).unwrap();
        for i in 0..1000u64 {
            let task = if i % 2 == 0 {
                Task::noop()
            } else {
                Task::sleep(Duration::from_micros(10))
            };
            assert_eq!(pool.submit(task).await.unwrap(), i);
        }
        pool.wait_idle().await;
        let mut records = pool.take_records();
        assert_eq!(records.len(), 1000);
        records.sort_by_key(|r| r.id);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.id, i as u64);
            assert_eq!(r.outcome, Outcome::Completed);
            let (d, s) = (r.dispatched.unwrap(), r.started.unwrap());
            assert!(r.created <= d && d <= s && s <= r.finished, "{r:?}");
        }
        let stats = pool.stats();
        assert_eq!(
            (stats.submitted, stats.completed, stats.in_flight),
            (1000, 1000, 0)
        );
        let report = pool.shutdown(Shutdown::Drain).await;
        assert_eq!(report.completed, 1000);
    });
}
