//! A process-wide timer thread for precise async waits, independent of any executor.
//!
//! tokio's timer has millisecond granularity and wakes up to 2 ms late on this kind of
//! machine; a thread parked in the kernel with a timeout (a futex, i.e. a high-resolution
//! timer) wakes 10–30 µs late once its timer slack is lowered. This module keeps one such
//! thread: futures register a deadline and a waker without taking a lock, and the thread
//! parks until the earliest deadline and wakes them.
//! The thread sets its own timer slack to 1 ns (Linux `PR_SET_TIMERSLACK`; the default
//! 50 µs slack is most of the lateness). It owns nothing else; the final stretch to an
//! exact deadline is the caller's ([`super::sleep_until`] yields through it).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_queue::SegQueue;

/// One sleeper's state, shared by its future and the timer thread.
#[derive(Debug, Default)]
struct Slot {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn fire(&self) -> Option<Waker> {
        self.fired.store(true, AtomicOrdering::Release);
        self.waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// A heap entry, earliest deadline first, registration order breaking ties.
#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    slot: Arc<Slot>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and the earliest deadline must come first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// What sleepers share with the timer thread. Registration takes no lock: sleepers push
/// onto a lock-free queue and unpark the thread only when their deadline is earlier
/// than the one it will wake for (`next_wake`, nanoseconds after `epoch`). The heap is
/// the thread's alone.
#[derive(Debug)]
struct Shared {
    incoming: SegQueue<Entry>,
    next_wake: AtomicU64,
    seq: AtomicU64,
    epoch: Instant,
    thread: OnceLock<Thread>,
}

impl Shared {
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn register(&self, at: Instant, slot: Arc<Slot>) {
        let seq = self.seq.fetch_add(1, AtomicOrdering::Relaxed);
        self.incoming.push(Entry { at, seq, slot });
        // Pairs with the thread's store of `next_wake` and its re-check of `incoming`
        // before parking: either it sees this entry, or this load sees its plan.
        if self.nanos(at) < self.next_wake.load(AtomicOrdering::SeqCst)
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
    }
}

/// The timer thread, started on first use; `None` if the thread could not be spawned,
/// in which case sleepers fall back to yielding until their deadline.
fn shared() -> Option<&'static Arc<Shared>> {
    static TIMER: OnceLock<Option<Arc<Shared>>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let shared = Arc::new(Shared {
                incoming: SegQueue::new(),
                next_wake: AtomicU64::new(u64::MAX),
                seq: AtomicU64::new(0),
                epoch: Instant::now(),
                thread: OnceLock::new(),
            });
            let for_thread = shared.clone();
            let handle = std::thread::Builder::new()
                .name("orchbench-timer".into())
                .spawn(move || {
                    reduce_timer_slack();
                    run(&for_thread)
                })
                .ok()?;
            let _ = shared.thread.set(handle.thread().clone());
            Some(shared)
        })
        .as_ref()
}

/// Lets the kernel wake this thread within ~1 ns of its timeouts instead of 50 µs.
fn reduce_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only changes this
    // thread's timer slack; it reads and writes no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// How far ahead of its wake time the thread fires an entry (see `run`).
const FIRE_AHEAD: Duration = Duration::from_micros(30);

fn run(shared: &Shared) {
    let mut heap: BinaryHeap<Entry> = BinaryHeap::new();
    loop {
        while let Some(entry) = shared.incoming.pop() {
            heap.push(entry);
        }
        // Fire what is due, and what falls due within the next FIRE_AHEAD: parking for
        // less than that would cost more than it waits (each park wakes 10–25 µs late),
        // and a cluster of deadlines would otherwise be served one late park at a
        // time. Sleepers yield through their final stretch, so waking early is harmless.
        let horizon = Instant::now() + FIRE_AHEAD;
        while heap.peek().is_some_and(|e| e.at <= horizon) {
            if let Some(entry) = heap.pop()
                && let Some(waker) = entry.slot.fire()
            {
                waker.wake();
            }
        }
        let next = heap.peek().map(|e| e.at);
        shared.next_wake.store(
            next.map_or(u64::MAX, |at| shared.nanos(at)),
            AtomicOrdering::SeqCst,
        );
        if !shared.incoming.is_empty() {
            continue;
        }
        match next {
            Some(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
            None => std::thread::park(),
        }
        // Wake-ups may be spurious; the loop re-checks everything.
        shared.next_wake.store(0, AtomicOrdering::SeqCst);
    }
}

/// A future that completes at (or shortly after) `at`, woken by the timer thread.
#[derive(Debug)]
pub(crate) struct Sleep {
    at: Instant,
    slot: Option<Arc<Slot>>,
}

impl Sleep {
    /// A sleep until `at`.
    pub(crate) fn until(at: Instant) -> Sleep {
        Sleep { at, slot: None }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        let Some(shared) = shared() else {
            // No timer thread: degrade to yielding until the deadline.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        match &self.slot {
            Some(slot) => {
                if slot.fired.load(AtomicOrdering::Acquire) {
                    return Poll::Ready(());
                }
                let mut waker = slot.waker.lock().unwrap_or_else(PoisonError::into_inner);
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                drop(waker);
                // The thread may have fired between the check and the waker update.
                if slot.fired.load(AtomicOrdering::Acquire) {
                    return Poll::Ready(());
                }
            }
            None => {
                let slot = Arc::new(Slot {
                    fired: AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                shared.register(self.at, slot.clone());
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // A dropped sleep leaves its heap entry to expire; make sure it wakes nobody.
        if let Some(slot) = &self.slot {
            slot.waker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
        }
    }
}

/// Completes after one `Pending`: gives the executor a turn, on any executor.
pub(crate) async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wakes_in_deadline_order_without_tokio() {
        // A plain thread-parking executor: no tokio anywhere.
        fn block_on<F: Future>(fut: F) -> F::Output {
            struct ThreadWaker(std::thread::Thread);
            impl std::task::Wake for ThreadWaker {
                fn wake(self: Arc<Self>) {
                    self.0.unpark();
                }
            }
            let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
            let mut cx = Context::from_waker(&waker);
            let mut fut = std::pin::pin!(fut);
            loop {
                if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                    return v;
                }
                std::thread::park();
            }
        }
        let start = Instant::now();
        for ms in [3u64, 1, 2] {
            let at = start + Duration::from_millis(ms * 5);
            block_on(Sleep::until(at));
            let woke = Instant::now();
            assert!(woke >= at);
        }
        assert!(start.elapsed() >= Duration::from_millis(15));
    }

    #[test]
    fn a_dropped_sleep_wakes_nobody_and_others_still_fire() {
        let at = Instant::now() + Duration::from_millis(2);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let dropped = Sleep::until(at + Duration::from_millis(1));
            let mut dropped = Box::pin(dropped);
            let _ = futures_poll(dropped.as_mut());
            drop(dropped);
            Sleep::until(at).await;
            assert!(Instant::now() >= at);
        });
    }

    fn futures_poll<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
        let waker = Waker::noop();
        fut.poll(&mut Context::from_waker(waker))
    }
}
