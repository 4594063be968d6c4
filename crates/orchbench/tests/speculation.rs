//! Speculative tasks on the pool: confirmed before or after their run ends (the result
//! delivered once, then), abandoned queued, running or ended (the work wasted counted),
//! dropped handles, the refused decisions, a speculation outliving its pool's shutdown,
//! a full pool, and a property test that every speculation is decided exactly once and
//! every count adds up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use orchbench::scheduler::{
    Abandoned, Backpressure, Outcome, Pool, PoolConfig, Shutdown, SpeculationError, SubmitError,
    Task,
};
use proptest::prelude::*;
use tokio::sync::mpsc;

fn runtime() -> tokio::runtime::Runtime {
    orchbench::scheduler::runtime().expect("a tokio runtime")
}

/// A task that sleeps `ms` and sends its outcome on `tx` when told it.
fn tool(ms: u64, tx: &mpsc::UnboundedSender<Outcome>) -> Task {
    let tx = tx.clone();
    Task::sleep(Duration::from_millis(ms)).on_end(move |o| {
        let _ = tx.send(o.clone());
    })
}

#[test]
fn confirmed_before_the_end_delivers_at_the_end() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(2)).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let spec = pool.speculate(tool(30, &tx)).unwrap();
        spec.confirm().unwrap();
        assert!(rx.try_recv().is_err(), "delivered before the run ended");
        assert_eq!(rx.recv().await, Some(Outcome::Completed));
        pool.wait_idle().await;
        let stats = pool.stats().speculation;
        assert_eq!(
            (stats.started, stats.confirmed, stats.abandoned, stats.open),
            (1, 1, 0, 0)
        );
        assert_eq!(stats.wasted, Duration::ZERO);
        let report = pool.shutdown(Shutdown::Drain).await;
        assert_eq!((report.submitted, report.completed), (1, 1));
        assert!(rx.try_recv().is_err(), "delivered twice");
    });
}

#[test]
fn confirmed_after_the_end_delivers_at_the_confirmation() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let spec = pool.speculate(tool(1, &tx)).unwrap();
        pool.wait_idle().await;
        assert!(spec.has_ended() && spec.is_open());
        assert!(
            rx.try_recv().is_err(),
            "an open speculation's result leaked"
        );
        spec.confirm().unwrap();
        // Called on this thread, inside `confirm`.
        assert_eq!(rx.try_recv(), Ok(Outcome::Completed));
        assert!(!spec.is_open());
        assert_eq!(pool.stats().speculation.confirmed, 1);
        pool.shutdown(Shutdown::Drain).await;
    });
}

#[test]
fn abandoned_while_queued_never_runs() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        // The only worker is busy, so the speculation waits in the queue.
        pool.submit(Task::sleep(Duration::from_millis(40)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let counter = ran.clone();
        let spec = pool
            .speculate(Task::future(async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }))
            .unwrap();
        assert_eq!(spec.abandon(), Ok(Abandoned::Queued));
        pool.wait_idle().await;
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        let stats = pool.stats().speculation;
        assert_eq!((stats.abandoned, stats.abandoned_unstarted), (1, 1));
        assert_eq!(stats.wasted, Duration::ZERO);
        let records = pool.take_records();
        let record = records.iter().find(|r| r.id == spec.id()).unwrap();
        assert_eq!(
            (record.outcome.clone(), record.started),
            (Outcome::Cancelled, None)
        );
        let report = pool.shutdown(Shutdown::Drain).await;
        assert_eq!((report.completed, report.cancelled), (1, 1));
    });
}

#[test]
fn abandoned_while_running_stops_and_counts_the_waste() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let spec = pool.speculate(tool(30_000, &tx)).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = std::time::Instant::now();
        assert_eq!(spec.abandon(), Ok(Abandoned::Running));
        pool.wait_idle().await;
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the run was not stopped"
        );
        let stats = pool.stats().speculation;
        assert_eq!((stats.abandoned, stats.abandoned_unstarted), (1, 0));
        assert!(
            stats.wasted >= Duration::from_millis(15) && stats.wasted < Duration::from_secs(5),
            "{:?}",
            stats.wasted
        );
        drop(tx);
        assert_eq!(rx.recv().await, None, "an abandoned speculation delivered");
        // The pool goes on as before.
        pool.submit(Task::noop()).await.unwrap();
        let report = pool.shutdown(Shutdown::Drain).await;
        assert_eq!(
            (report.submitted, report.completed, report.cancelled),
            (2, 1, 1)
        );
    });
}

#[test]
fn abandoned_after_the_end_wastes_the_whole_run() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        let spec = pool
            .speculate(Task::sleep(Duration::from_millis(10)))
            .unwrap();
        pool.wait_idle().await;
        let Ok(Abandoned::Ended(ran)) = spec.abandon() else {
            panic!("should have ended")
        };
        assert!(ran >= Duration::from_millis(10), "{ran:?}");
        assert_eq!(pool.stats().speculation.wasted, ran);
        pool.shutdown(Shutdown::Drain).await;
    });
}

#[test]
fn a_dropped_handle_abandons() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        drop(pool.speculate(tool(30_000, &tx)).unwrap());
        pool.wait_idle().await;
        let stats = pool.stats().speculation;
        assert_eq!((stats.started, stats.abandoned, stats.open), (1, 1, 0));
        drop(tx);
        assert_eq!(rx.recv().await, None);
        pool.shutdown(Shutdown::Drain).await;
    });
}

#[test]
fn refused_decisions_say_why_and_change_nothing() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let kept = pool.speculate(tool(1, &tx)).unwrap();
        let id = kept.id();
        kept.confirm().unwrap();
        assert_eq!(
            kept.confirm(),
            Err(SpeculationError::AlreadyConfirmed { id })
        );
        assert_eq!(
            kept.abandon(),
            Err(SpeculationError::AlreadyConfirmed { id })
        );
        let dropped = pool.speculate(tool(1, &tx)).unwrap();
        let id = dropped.id();
        dropped.abandon().unwrap();
        assert_eq!(
            dropped.abandon(),
            Err(SpeculationError::AlreadyAbandoned { id })
        );
        assert_eq!(
            dropped.confirm(),
            Err(SpeculationError::AlreadyAbandoned { id })
        );
        assert_eq!(
            dropped.confirm().unwrap_err().to_string(),
            format!("speculation {id} is already abandoned")
        );
        pool.wait_idle().await;
        let stats = pool.stats().speculation;
        assert_eq!((stats.started, stats.confirmed, stats.abandoned), (2, 1, 1));
        drop((kept, dropped, tx));
        assert_eq!(rx.recv().await, Some(Outcome::Completed));
        assert_eq!(rx.recv().await, None, "one delivery only");
        pool.shutdown(Shutdown::Drain).await;
    });
}

#[test]
fn a_speculation_outliving_its_pool_is_abandoned_by_the_shutdown() {
    runtime().block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(2)).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let running = pool.speculate(tool(30_000, &tx)).unwrap();
        let ended = pool.speculate(tool(1, &tx)).unwrap();
        let kept = pool.speculate(tool(1, &tx)).unwrap();
        kept.confirm().unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let t0 = std::time::Instant::now();
        // Drain: the unconfirmed 30 s run is stopped, not waited for.
        let report = pool.shutdown(Shutdown::Drain).await;
        assert!(t0.elapsed() < Duration::from_secs(5));
        let s = report.speculation;
        assert_eq!(
            (
                s.started,
                s.confirmed,
                s.abandoned,
                s.abandoned_by_shutdown,
                s.open
            ),
            (3, 1, 2, 2, 0)
        );
        assert_eq!(
            report.submitted,
            report.completed + report.failed + report.cancelled
        );
        for spec in [&running, &ended] {
            let id = spec.id();
            assert_eq!(spec.confirm(), Err(SpeculationError::ShutDown { id }));
            assert_eq!(spec.abandon(), Err(SpeculationError::ShutDown { id }));
        }
        assert_eq!(
            pool.speculate(Task::noop()).unwrap_err(),
            SubmitError::ShutDown
        );
        assert_eq!(pool.stats().rejected_shut_down, 1);
        drop((running, ended, kept, tx));
        assert_eq!(rx.recv().await, Some(Outcome::Completed));
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn a_dropped_pool_abandons_its_open_speculations() {
    let runtime = runtime();
    let (spec, stats) = runtime.block_on(async {
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        let spec = pool
            .speculate(Task::sleep(Duration::from_secs(30)))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let probe = pool.stats();
        drop(pool);
        (spec, probe)
    });
    assert_eq!(stats.speculation.open, 1);
    let id = spec.id();
    assert_eq!(spec.confirm(), Err(SpeculationError::ShutDown { id }));
}

#[test]
fn a_full_pool_refuses_speculation_even_when_submits_wait() {
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
        assert_eq!(
            pool.speculate(Task::noop()).unwrap_err(),
            SubmitError::Full { cap: 1 }
        );
        let stats = pool.stats();
        assert_eq!((stats.rejected_full, stats.speculation.started), (1, 0));
        pool.wait_idle().await;
        let spec = pool.speculate(Task::noop()).unwrap();
        spec.confirm().unwrap();
        pool.shutdown(Shutdown::Drain).await;
    });
}

#[test]
fn an_abandoned_process_is_killed() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        let pool = Pool::new(PoolConfig::with_workers(1)).unwrap();
        let command = format!("sleep 2 && touch {}", marker.display());
        let spec = pool.speculate(Task::process(command)).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(spec.abandon(), Ok(Abandoned::Running));
        pool.wait_idle().await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert!(!marker.exists(), "the abandoned process ran on");
        pool.shutdown(Shutdown::Drain).await;
    });
}

/// What the property test does with one speculation.
#[derive(Debug, Clone, Copy)]
enum Decide {
    Confirm,
    Abandon,
    Drop,
    /// Leave it open for the shutdown.
    Leave,
}

fn decide() -> impl Strategy<Value = Decide> {
    prop_oneof![
        Just(Decide::Confirm),
        Just(Decide::Abandon),
        Just(Decide::Drop),
        Just(Decide::Leave)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_speculation_is_decided_once_and_counted(
        plan in prop::collection::vec((decide(), 0u64..3, any::<bool>()), 0..60),
        workers in 1usize..4,
        cancel in any::<bool>(),
    ) {
        let (report, delivered, confirmed, records) = runtime().block_on(async {
            let pool = Pool::new(PoolConfig::with_workers(workers)).unwrap();
            let delivered = Arc::new(AtomicUsize::new(0));
            let mut kept = Vec::new();
            let mut confirmed = 0;
            for &(decision, ms, wait) in &plan {
                let counter = delivered.clone();
                let task = Task::sleep(Duration::from_millis(ms)).on_end(move |_| {
                    counter.fetch_add(1, Ordering::SeqCst);
                });
                let spec = pool.speculate(task).unwrap();
                if wait {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                match decision {
                    Decide::Confirm => {
                        spec.confirm().unwrap();
                        confirmed += 1;
                    }
                    Decide::Abandon => {
                        spec.abandon().unwrap();
                    }
                    Decide::Drop => drop(spec),
                    Decide::Leave => kept.push(spec),
                }
            }
            let mode = if cancel { Shutdown::Cancel } else { Shutdown::Drain };
            let report = pool.shutdown(mode).await;
            for spec in &kept {
                prop_assert_eq!(spec.confirm(), Err(SpeculationError::ShutDown { id: spec.id() }));
            }
            Ok((report, delivered.load(Ordering::SeqCst), confirmed, pool.take_records()))
        })?;
        let s = report.speculation;
        prop_assert_eq!(s.started as usize, plan.len());
        prop_assert_eq!(s.confirmed, confirmed);
        prop_assert_eq!(s.started, s.confirmed + s.abandoned);
        prop_assert_eq!(s.open, 0);
        // Each confirmed speculation's callback ran once (with Completed, or Cancelled
        // by a cancelling shutdown); no abandoned one's did.
        prop_assert_eq!(delivered as u64, confirmed);
        prop_assert_eq!(report.submitted, report.completed + report.failed + report.cancelled);
        prop_assert_eq!(records.len() as u64, report.submitted);
    }
}
