//! A process-wide timer thread for precise async waits, independent of any executor.
//!
//! tokio's timer has millisecond granularity and wakes up to 2 ms late on this kind of
//! machine; a thread blocked in the kernel with a timeout (a futex, i.e. a high-resolution
//! timer) wakes 70–130 µs late. This module keeps one such thread: futures register a
//! deadline and a waker, the thread sleeps until the earliest deadline and wakes them.
//! It owns nothing else; the final stretch to an exact deadline is the caller's
//! ([`super::MonotonicClock::sleep_until`] yields through it).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

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

#[derive(Debug, Default)]
struct Shared {
    heap: Mutex<BinaryHeap<Entry>>,
    changed: Condvar,
    seq: AtomicU64,
}

/// The timer thread, started on first use; `None` if the thread could not be spawned,
/// in which case sleepers fall back to yielding until their deadline.
fn shared() -> Option<&'static Arc<Shared>> {
    static TIMER: OnceLock<Option<Arc<Shared>>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let shared = Arc::new(Shared::default());
            let for_thread = shared.clone();
            std::thread::Builder::new()
                .name("orchbench-timer".into())
                .spawn(move || run(&for_thread))
                .ok()
                .map(|_| shared)
        })
        .as_ref()
}

fn run(shared: &Shared) {
    let mut heap = shared.heap.lock().unwrap_or_else(PoisonError::into_inner);
    let mut due = Vec::new();
    loop {
        let now = Instant::now();
        while heap.peek().is_some_and(|e| e.at <= now) {
            if let Some(entry) = heap.pop() {
                due.push(entry.slot);
            }
        }
        if !due.is_empty() {
            // Wake outside the lock: a waker may run code that registers a new sleep.
            drop(heap);
            for slot in due.drain(..) {
                if let Some(waker) = slot.fire() {
                    waker.wake();
                }
            }
            heap = shared.heap.lock().unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        heap = match heap.peek().map(|e| e.at) {
            Some(at) => {
                shared
                    .changed
                    .wait_timeout(heap, at.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared
                .changed
                .wait(heap)
                .unwrap_or_else(PoisonError::into_inner),
        };
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
                let entry = Entry {
                    at: self.at,
                    seq: shared.seq.fetch_add(1, AtomicOrdering::Relaxed),
                    slot: slot.clone(),
                };
                let mut heap = shared.heap.lock().unwrap_or_else(PoisonError::into_inner);
                let earliest = heap.peek().is_none_or(|e| entry.at < e.at);
                heap.push(entry);
                drop(heap);
                if earliest {
                    shared.changed.notify_one();
                }
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
