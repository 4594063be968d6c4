//! Speculative tasks: started before anyone knows they are needed, then confirmed (kept,
//! a hit) or abandoned (cancelled, the work wasted).
//!
//! A speculation is a task in the pool like any other (it takes an in-flight slot, runs
//! on a worker, leaves a [`super::TaskRecord`]) whose *result is held back* until it is
//! decided. Its [`super::Task::on_end`] callback runs only if it is confirmed: at the end
//! of the run when confirmed first, or at the confirmation when the run ended first, so
//! whoever waits for it sees the result as if the task had been submitted then.
//! Abandoning it skips a queued run, stops a running one (as a cancel does) and drops
//! its callback uncalled.
//!
//! Every speculation is decided exactly once, by the caller or by the pool: dropping an
//! undecided handle abandons it, and a pool's shutdown (or drop) abandons every one left
//! open. The pool's [`SpeculationStats`] count them, so
//! `started == confirmed + abandoned + open` at every moment and `open == 0` in the
//! [`super::ShutdownReport`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::TaskId;
use super::task::{CancelSignal, OnEnd, Outcome};

/// How the pool's speculations stand: counts since the pool was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpeculationStats {
    /// Speculations accepted by [`super::Pool::speculate`].
    pub started: u64,
    /// Speculations confirmed: hits, whose results were delivered.
    pub confirmed: u64,
    /// Speculations abandoned, by their caller, a dropped handle or the pool's shutdown.
    pub abandoned: u64,
    /// Of the abandoned, those the pool's shutdown abandoned because nobody had decided.
    pub abandoned_by_shutdown: u64,
    /// Of the abandoned, those abandoned before a worker started them: no work wasted.
    pub abandoned_unstarted: u64,
    /// Speculations not decided yet (`started - confirmed - abandoned`).
    pub open: u64,
    /// Run time spent on abandoned speculations: the work wasted.
    pub wasted: Duration,
}

/// Why a decision on a speculation could not be taken. The speculation's state is
/// unchanged and every count stays exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpeculationError {
    /// It was confirmed before.
    #[error("speculation {id} is already confirmed")]
    AlreadyConfirmed {
        /// The speculation's task id.
        id: TaskId,
    },
    /// It was abandoned before, by its caller.
    #[error("speculation {id} is already abandoned")]
    AlreadyAbandoned {
        /// The speculation's task id.
        id: TaskId,
    },
    /// The pool shut down (or was dropped) with it undecided, and abandoned it then.
    #[error("speculation {id} was abandoned when its pool shut down")]
    ShutDown {
        /// The speculation's task id.
        id: TaskId,
    },
}

/// Where an abandoned speculation's run stood when it was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// Still queued: it will never run, nothing was wasted.
    Queued,
    /// Running: it is being stopped; its run time so far counts as wasted.
    Running,
    /// Its run had ended: all of it was wasted.
    Ended(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Open,
    Confirmed,
    Abandoned,
    AbandonedByShutdown,
}

enum Phase {
    Queued,
    Running(Instant),
    Ended { outcome: Outcome, ran: Duration },
}

struct State {
    decision: Decision,
    phase: Phase,
    on_end: Option<OnEnd>,
}

/// One speculation's state, shared by its handle, its job in the pool and the ledger.
pub(crate) struct Shared {
    id: TaskId,
    /// Stops this task alone when it is abandoned while running.
    pub(crate) cancel: CancelSignal,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section below leaves the state whole before it can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A worker is about to run the task: `false` if it was abandoned (skip the run).
    pub(crate) fn begin(&self) -> bool {
        let mut state = self.lock();
        if matches!(
            state.decision,
            Decision::Abandoned | Decision::AbandonedByShutdown
        ) {
            return false;
        }
        state.phase = Phase::Running(Instant::now());
        true
    }

    /// The task's run (or its cancellation in the queue) ended with `outcome`: returns
    /// the callback to call now if the speculation is confirmed; holds the outcome if it
    /// is open; counts the run as wasted if it was abandoned.
    pub(crate) fn end(&self, outcome: &Outcome, ledger: &Ledger) -> Option<OnEnd> {
        let mut state = self.lock();
        let ran = match state.phase {
            Phase::Running(started) => started.elapsed(),
            _ => Duration::ZERO,
        };
        match state.decision {
            Decision::Confirmed => {
                state.phase = Phase::Ended {
                    outcome: outcome.clone(),
                    ran,
                };
                state.on_end.take()
            }
            Decision::Open => {
                state.phase = Phase::Ended {
                    outcome: outcome.clone(),
                    ran,
                };
                None
            }
            Decision::Abandoned | Decision::AbandonedByShutdown => {
                ledger.add_wasted(ran);
                state.phase = Phase::Ended {
                    outcome: outcome.clone(),
                    ran,
                };
                // Dropped uncalled, outside the lock.
                let dropped = state.on_end.take();
                drop(state);
                drop(dropped);
                None
            }
        }
    }

    /// Marks the speculation abandoned (`why` is `Abandoned` or `AbandonedByShutdown`)
    /// if it is open; otherwise says what it is.
    fn abandon(&self, why: Decision, ledger: &Ledger) -> Result<Abandoned, SpeculationError> {
        let mut state = self.lock();
        self.undecided(state.decision)?;
        state.decision = why;
        let at = match &state.phase {
            Phase::Queued => Abandoned::Queued,
            Phase::Running(_) => Abandoned::Running,
            Phase::Ended { ran, .. } => Abandoned::Ended(*ran),
        };
        let callback = state.on_end.take();
        drop(state);
        ledger.decided_abandoned(self.id, at, why == Decision::AbandonedByShutdown);
        match at {
            Abandoned::Running => self.cancel.raise(),
            Abandoned::Ended(ran) => ledger.add_wasted(ran),
            Abandoned::Queued => {}
        }
        drop(callback);
        Ok(at)
    }

    fn undecided(&self, decision: Decision) -> Result<(), SpeculationError> {
        let id = self.id;
        match decision {
            Decision::Open => Ok(()),
            Decision::Confirmed => Err(SpeculationError::AlreadyConfirmed { id }),
            Decision::Abandoned => Err(SpeculationError::AlreadyAbandoned { id }),
            Decision::AbandonedByShutdown => Err(SpeculationError::ShutDown { id }),
        }
    }
}

/// The pool's book of speculations: the counts and the open ones (which a shutdown
/// abandons).
#[derive(Default)]
pub(crate) struct Ledger {
    started: AtomicU64,
    confirmed: AtomicU64,
    abandoned: AtomicU64,
    abandoned_by_shutdown: AtomicU64,
    abandoned_unstarted: AtomicU64,
    wasted_nanos: AtomicU64,
    closed: AtomicBool,
    open: Mutex<HashMap<TaskId, Arc<Shared>>>,
}

impl Ledger {
    fn lock_open(&self) -> MutexGuard<'_, HashMap<TaskId, Arc<Shared>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a speculation for the task `id`, holding its callback; `None` once the
    /// ledger is closed (the pool is shutting down).
    pub(crate) fn open(&self, id: TaskId, on_end: Option<OnEnd>) -> Option<Arc<Shared>> {
        let shared = Arc::new(Shared {
            id,
            cancel: CancelSignal::default(),
            state: Mutex::new(State {
                decision: Decision::Open,
                phase: Phase::Queued,
                on_end,
            }),
        });
        let mut open = self.lock_open();
        // Checked under the lock `close` takes: no speculation opens after it has run.
        if self.closed.load(SeqCst) {
            return None;
        }
        open.insert(id, shared.clone());
        self.started.fetch_add(1, SeqCst);
        Some(shared)
    }

    fn decided_abandoned(&self, id: TaskId, at: Abandoned, by_shutdown: bool) {
        self.lock_open().remove(&id);
        self.abandoned.fetch_add(1, SeqCst);
        if by_shutdown {
            self.abandoned_by_shutdown.fetch_add(1, SeqCst);
        }
        if at == Abandoned::Queued {
            self.abandoned_unstarted.fetch_add(1, SeqCst);
        }
    }

    fn add_wasted(&self, ran: Duration) {
        let nanos = u64::try_from(ran.as_nanos()).unwrap_or(u64::MAX);
        self.wasted_nanos.fetch_add(nanos, SeqCst);
    }

    /// Abandons every open speculation and accepts no more: the pool is shutting down.
    pub(crate) fn close(&self) {
        let open: Vec<Arc<Shared>> = {
            let open = self.lock_open();
            self.closed.store(true, SeqCst);
            open.values().cloned().collect()
        };
        for shared in open {
            // One decided meanwhile by its caller is left as decided.
            let _ = shared.abandon(Decision::AbandonedByShutdown, self);
        }
    }

    /// The counts now.
    pub(crate) fn stats(&self) -> SpeculationStats {
        // Read the decisions before the starts, so `open` never underflows.
        let confirmed = self.confirmed.load(SeqCst);
        let abandoned = self.abandoned.load(SeqCst);
        let started = self.started.load(SeqCst);
        SpeculationStats {
            started,
            confirmed,
            abandoned,
            abandoned_by_shutdown: self.abandoned_by_shutdown.load(SeqCst),
            abandoned_unstarted: self.abandoned_unstarted.load(SeqCst),
            open: started.saturating_sub(confirmed + abandoned),
            wasted: Duration::from_nanos(self.wasted_nanos.load(SeqCst)),
        }
    }
}

/// The handle of a speculative task ([`super::Pool::speculate`]): confirm it to keep its
/// result, abandon it (or drop the handle) to cancel it.
pub struct Speculation {
    pub(crate) shared: Arc<Shared>,
    pub(crate) ledger: Arc<Ledger>,
}

impl Speculation {
    /// The speculative task's id (its [`super::TaskRecord`]'s).
    pub fn id(&self) -> TaskId {
        self.shared.id
    }

    /// Keeps the speculation: a hit. Its `on_end` callback is called with its outcome,
    /// now (on this thread) if the task has ended, else when it ends. Confirming twice,
    /// or after an abandon or the pool's shutdown, is an error and changes nothing.
    pub fn confirm(&self) -> Result<(), SpeculationError> {
        let mut guard = self.shared.lock();
        self.shared.undecided(guard.decision)?;
        guard.decision = Decision::Confirmed;
        let state = &mut *guard;
        let deliver = match &state.phase {
            Phase::Ended { outcome, .. } => state.on_end.take().map(|f| (f, outcome.clone())),
            _ => None,
        };
        drop(guard);
        self.ledger.lock_open().remove(&self.shared.id);
        self.ledger.confirmed.fetch_add(1, SeqCst);
        if let Some((f, outcome)) = deliver {
            f(&outcome);
        }
        Ok(())
    }

    /// Gives the speculation up: a queued task never runs, a running one is stopped (as
    /// by a cancel), and its callback is dropped uncalled; the run time spent counts as
    /// wasted. Says where the run stood. Abandoning twice, or after a confirmation or the
    /// pool's shutdown, is an error and changes nothing.
    pub fn abandon(&self) -> Result<Abandoned, SpeculationError> {
        self.shared.abandon(Decision::Abandoned, &self.ledger)
    }

    /// Whether the speculation is still undecided.
    pub fn is_open(&self) -> bool {
        self.shared.lock().decision == Decision::Open
    }

    /// Whether the task's run has ended (its outcome is held until a confirmation).
    pub fn has_ended(&self) -> bool {
        matches!(self.shared.lock().phase, Phase::Ended { .. })
    }
}

impl Drop for Speculation {
    /// An undecided speculation whose handle is dropped is abandoned.
    fn drop(&mut self) {
        let _ = self.shared.abandon(Decision::Abandoned, &self.ledger);
    }
}

impl std::fmt::Debug for Speculation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        let phase = match state.phase {
            Phase::Queued => "queued",
            Phase::Running(_) => "running",
            Phase::Ended { .. } => "ended",
        };
        f.debug_struct("Speculation")
            .field("id", &self.shared.id)
            .field("decision", &state.decision)
            .field("phase", &phase)
            .finish()
    }
}
