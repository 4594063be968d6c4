//! The in-process bus: a lossless broadcast ring buffer.
//!
//! One ring of `capacity` slots holds the last published events. Publishers take a
//! mutex (a batch takes it once), write events into free slots and advance `head`.
//! Every *group* has a cursor, the sequence of the next event it will read; the
//! subscriptions of a group take events under the group's own mutex, clone them out
//! and advance the cursor. A slot is reused only after every group's cursor has
//! passed it, so a slow group makes publishers wait (backpressure) and no event is
//! ever dropped — unlike `tokio::sync::broadcast`, which loses lagging receivers'
//! events. Waiting on either side spins briefly (a subscriber in request/response use
//! also yields its worker a while), then parks on an `event_listener::Event`, so a bus
//! at rest costs nothing.
//!
//! Invariants: `min(cursor) <= head <= min(cursor) + capacity`; slot `s % capacity`
//! holds event `s` for `head - capacity <= s < head`; only the producer mutex's
//! holder writes slots or `head`; only a group's mutex holder moves its cursor.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crossbeam_utils::CachePadded;

use super::{BusError, Event, EventBus, Subscription, parse_opt, split_query};

/// Settings of a [`MemoryBus`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Slots in the ring (rounded up to a power of two): how far the fastest publisher
    /// may run ahead of the slowest group before it waits.
    pub capacity: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig { capacity: 8_192 }
    }
}

impl MemoryConfig {
    /// Parses `memory://` or `memory://?capacity=N`.
    pub fn from_url(url: &str) -> Result<MemoryConfig, BusError> {
        let (base, pairs) = split_query(url, &["capacity"])?;
        if base != "memory://" {
            return Err(BusError::BadUrl {
                url: url.to_owned(),
                reason: "a memory bus URL has no host or path: memory://[?capacity=N]".into(),
            });
        }
        let mut config = MemoryConfig::default();
        for (k, v) in pairs {
            if k == "capacity" {
                config.capacity = parse_opt(url, k, v)?;
            }
        }
        Ok(config)
    }
}

/// Largest accepted capacity (2^26 slots, 4 GiB of 64-byte events).
const MAX_CAPACITY: usize = 1 << 26;
/// Rounds of `spin_loop` a waiting publisher makes before it parks.
const SPINS: u32 = 64;
/// Rounds a waiting subscriber makes before it parks, pausing 1, 2, 4, … 128
/// `spin_loop`s between checks (about 10 µs in all).
const BACKOFF_ROUNDS: u32 = 8;
/// A subscriber that finds fewer than this many events ready waits up to `PATIENCE`
/// backoff rounds (about half a microsecond) for more before taking them: reading right
/// behind the publisher moves every event's cache line between cores while both work
/// on it, and batches of 64 amortise that.
const BATCH_TARGET: u64 = 64;
/// See `BATCH_TARGET`.
const PATIENCE: u32 = 5;
/// How many times a subscription in request/response use (its last batch was a single
/// event) hands its worker over before it parks, after a short spin (about 10 µs in
/// all, as `BACKOFF_ROUNDS`). See `MemorySubscription::recv_batch`.
const HANDOFF_YIELDS: u32 = 128;

type Slot = UnsafeCell<MaybeUninit<Event>>;

struct Group {
    name: String,
    cursor: CachePadded<AtomicU64>,
    claim: Mutex<()>,
}

struct Producer {
    groups: Vec<(Arc<Group>, usize)>,
    /// A lower bound of every group's cursor (exact after `refresh_min`).
    min: u64,
}

struct Ring {
    slots: Box<[Slot]>,
    mask: u64,
    capacity: u64,
    head: CachePadded<AtomicU64>,
    closed: AtomicBool,
    producer: Mutex<Producer>,
    /// Notified after `head` moves or the bus closes.
    data: event_listener::Event,
    /// Notified after a cursor moves, a group leaves, or the bus closes.
    space: event_listener::Event,
}

// SAFETY: slots are written only by the producer-mutex holder, at sequences no group
// can read (at or beyond `head`, and at least `capacity` past every cursor), and read
// (cloned through `&Event`) only below `head` (published with Release, read with
// Acquire) and at or beyond the reader's cursor, which the writer waits for.
unsafe impl Sync for Ring {}
unsafe impl Send for Ring {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Producer {
    fn refresh_min(&mut self, head: u64) -> u64 {
        self.min = self
            .groups
            .iter()
            .map(|(g, _)| g.cursor.load(Ordering::Acquire))
            .min()
            .unwrap_or(head);
        self.min
    }
}

impl Ring {
    /// Free slots for the producer-mutex holder.
    fn free(&self, p: &mut Producer, head: u64) -> u64 {
        let free = p.min + self.capacity - head;
        if free > 0 {
            free
        } else {
            p.refresh_min(head) + self.capacity - head
        }
    }

    /// Writes `event` at sequence `seq` (the caller holds the producer mutex and has
    /// checked the slot is free).
    unsafe fn write(&self, seq: u64, event: Event) {
        // SAFETY: per the caller's contract no reader can touch this slot now.
        let slot = unsafe { &mut *self.slots[(seq & self.mask) as usize].get() };
        if seq >= self.capacity {
            // SAFETY: every slot was written once before sequence `capacity`.
            unsafe { slot.assume_init_drop() };
        }
        slot.write(event);
    }

    /// Takes up to `max` events for `group` into `out`; 0 if none is published yet.
    fn take(&self, group: &Group, out: &mut Vec<Event>, max: usize) -> usize {
        let claim = lock(&group.claim);
        let cursor = group.cursor.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        if head == cursor {
            return 0;
        }
        let n = (head - cursor).min(max as u64);
        // The events are at most two contiguous runs of slots (the ring may wrap).
        let first = (cursor & self.mask) as usize;
        let run = (n as usize).min(self.slots.len() - first);
        for slots in [
            &self.slots[first..first + run],
            &self.slots[..n as usize - run],
        ] {
            // SAFETY: these slots hold events cursor..cursor + n, all below `head`, which
            // the producer will not overwrite before this group's cursor passes them.
            out.extend(
                slots
                    .iter()
                    .map(|slot| unsafe { (*slot.get()).assume_init_ref() }.clone()),
            );
        }
        group.cursor.store(cursor + n, Ordering::Release);
        drop(claim);
        self.space.notify(usize::MAX);
        n as usize
    }

    /// True once the bus is closed and `group` has read everything.
    fn drained(&self, group: &Group) -> bool {
        self.closed.load(Ordering::Acquire)
            && self.head.load(Ordering::Acquire) == group.cursor.load(Ordering::Acquire)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let written = (*self.head.get_mut()).min(self.capacity);
        for slot in &mut self.slots[..written as usize] {
            // SAFETY: slots below min(head, capacity) were written and are dropped once.
            unsafe { slot.get_mut().assume_init_drop() };
        }
    }
}

/// The in-process, lossless event bus (see the module header). Cloning gives another
/// handle to the same bus.
#[derive(Clone)]
pub struct MemoryBus {
    ring: Arc<Ring>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus")
            .field("capacity", &self.ring.capacity)
            .field("published", &self.published())
            .finish()
    }
}

impl MemoryBus {
    /// A bus with `config`; rejects a capacity of 0 or above 2^26.
    pub fn new(config: MemoryConfig) -> Result<MemoryBus, BusError> {
        if config.capacity == 0 || config.capacity > MAX_CAPACITY {
            return Err(BusError::BadConfig {
                field: "capacity",
                value: config.capacity.to_string(),
                reason: "must be between 1 and 67108864 slots",
            });
        }
        let capacity = config.capacity.next_power_of_two();
        let slots = (0..capacity)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        Ok(MemoryBus {
            ring: Arc::new(Ring {
                slots,
                mask: capacity as u64 - 1,
                capacity: capacity as u64,
                head: CachePadded::new(AtomicU64::new(0)),
                closed: AtomicBool::new(false),
                producer: Mutex::new(Producer {
                    groups: Vec::new(),
                    min: 0,
                }),
                data: event_listener::Event::new(),
                space: event_listener::Event::new(),
            }),
        })
    }

    /// The ring's capacity in events (a power of two).
    pub fn capacity(&self) -> usize {
        self.ring.capacity as usize
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.ring.head.load(Ordering::Acquire)
    }

    /// Events published but not yet taken by `group` (None if no such group exists).
    pub fn lag(&self, group: &str) -> Option<u64> {
        let p = lock(&self.ring.producer);
        let g = p.groups.iter().find(|(g, _)| g.name == group)?;
        Some(self.ring.head.load(Ordering::Acquire) - g.0.cursor.load(Ordering::Acquire))
    }

    /// Publishes without waiting: writes as many events as fit now and returns how
    /// many it took from `events` (`Err(Closed)` after shutdown).
    pub fn try_publish_batch<I: Iterator<Item = Event>>(
        &self,
        events: &mut std::iter::Peekable<I>,
    ) -> Result<usize, BusError> {
        let ring = &*self.ring;
        let mut p = lock(&ring.producer);
        if ring.closed.load(Ordering::Relaxed) {
            return Err(BusError::Closed);
        }
        let head = ring.head.load(Ordering::Relaxed);
        let end = head + ring.free(&mut p, head);
        let mut seq = head;
        while seq < end {
            let Some(event) = events.next() else { break };
            #[cfg(feature = "extra-work")]
            crate::extra_work::publish();
            // SAFETY: we hold the producer mutex and seq < min(cursor) + capacity.
            unsafe { ring.write(seq, event) };
            seq += 1;
        }
        if seq == head {
            return Ok(0);
        }
        ring.head.store(seq, Ordering::Release);
        drop(p);
        ring.data.notify(usize::MAX);
        Ok((seq - head) as usize)
    }

    async fn wait_for_space(&self) {
        let ring = &*self.ring;
        let has_space = || {
            let mut p = lock(&ring.producer);
            let head = ring.head.load(Ordering::Relaxed);
            ring.closed.load(Ordering::Relaxed) || ring.free(&mut p, head) > 0
        };
        for _ in 0..SPINS {
            if has_space() {
                return;
            }
            std::hint::spin_loop();
        }
        loop {
            let listener = ring.space.listen();
            if has_space() {
                return;
            }
            listener.await;
        }
    }
}

impl EventBus for MemoryBus {
    type Subscription = MemorySubscription;

    async fn publish_batch<I>(&self, events: I) -> Result<(), BusError>
    where
        I: IntoIterator<Item = Event> + Send,
        I::IntoIter: Send,
    {
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            if self.try_publish_batch(&mut events)? == 0 {
                self.wait_for_space().await;
            }
        }
        Ok(())
    }

    async fn subscribe(&self, group: &str) -> Result<MemorySubscription, BusError> {
        let ring = &self.ring;
        let mut p = lock(&ring.producer);
        let found = p.groups.iter_mut().find(|(g, _)| g.name == group);
        let group = match found {
            Some((g, members)) => {
                *members += 1;
                g.clone()
            }
            None => {
                let head = ring.head.load(Ordering::Relaxed);
                let g = Arc::new(Group {
                    name: group.to_owned(),
                    cursor: CachePadded::new(AtomicU64::new(head)),
                    claim: Mutex::new(()),
                });
                p.groups.push((g.clone(), 1));
                g
            }
        };
        Ok(MemorySubscription {
            ring: ring.clone(),
            group,
            single: false,
        })
    }

    async fn shutdown(&self) -> Result<(), BusError> {
        let ring = &self.ring;
        let p = lock(&ring.producer);
        ring.closed.store(true, Ordering::Release);
        drop(p);
        ring.data.notify(usize::MAX);
        ring.space.notify(usize::MAX);
        Ok(())
    }
}

/// Takes what is ready: `Some(n)` with the `n > 0` events taken (noting whether it was a
/// single one), `Some(0)` when the bus is shut down and drained, `None` to wait on.
fn take_or_end(
    ring: &Ring,
    group: &Group,
    single: &mut bool,
    out: &mut Vec<Event>,
    max: usize,
) -> Option<usize> {
    let n = ring.take(group, out, max);
    if n > 0 {
        *single = n == 1;
        return Some(n);
    }
    ring.drained(group).then_some(0)
}

/// Returns `Pending` once, waking itself: the task goes to the back of its worker's
/// queue, so a task waiting there runs first. Unlike `tokio::task::yield_now`, which
/// defers the wake-up until the worker next polls its I/O driver (a system call per
/// yield), and is tied to tokio.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// One consumer of one group on a [`MemoryBus`]. Dropping the last subscription of a
/// group removes the group (it no longer holds publishers back).
pub struct MemorySubscription {
    ring: Arc<Ring>,
    group: Arc<Group>,
    /// The last batch taken was a single event: request/response use, where the event
    /// awaited comes from a task that may be queued on this very worker.
    single: bool,
}

impl MemorySubscription {
    /// The group this subscription belongs to.
    pub fn group(&self) -> &str {
        &self.group.name
    }

    /// Takes up to `max` events that are already published, without waiting.
    pub fn try_recv_batch(&mut self, out: &mut Vec<Event>, max: usize) -> usize {
        self.ring.take(&self.group, out, max.max(1))
    }
}

impl Subscription for MemorySubscription {
    async fn recv_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<usize, BusError> {
        let max = max.max(1);
        let ring = &*self.ring;
        // Spin with exponential backoff before parking: polling `head` in a tight loop
        // would take its cache line from the publisher on every check.
        let target = BATCH_TARGET.min(max as u64);
        // Bulk reading spins (about 10 µs) and parks. In request/response use (the last
        // batch was one event) the event awaited is often a reply from a task that the
        // request's wake-up queued on this worker, and tokio runs that task only once this
        // one returns: spinning would hold it back for the whole spin, and parking leaves
        // the reply to a futex wake of another thread (20-50 µs on these VMs). So that
        // use spins briefly, then yields the worker to such a task, up to
        // `HANDOFF_YIELDS` times, before it parks. Bulk reading never yields: a
        // subscriber yielding next to a publisher on one worker takes events a few at a
        // time and slows both (measured: up to 3× fewer events/s).
        let single = self.single;
        let rounds = if single { PATIENCE + 1 } else { BACKOFF_ROUNDS };
        for round in 0..rounds {
            // Saturating: another subscription of the group may move the cursor past the
            // head we loaded.
            let ready = ring
                .head
                .load(Ordering::Acquire)
                .saturating_sub(self.group.cursor.load(Ordering::Relaxed));
            if ready >= target || (ready > 0 && round >= PATIENCE) {
                let n = ring.take(&self.group, out, max);
                if n > 0 {
                    self.single = n == 1;
                    return Ok(n);
                }
            } else if ready == 0 && ring.drained(&self.group) {
                return Ok(0);
            }
            for _ in 0..1u32 << round {
                std::hint::spin_loop();
            }
        }
        if single {
            for _ in 0..HANDOFF_YIELDS {
                YieldOnce(false).await;
                if let Some(n) = take_or_end(ring, &self.group, &mut self.single, out, max) {
                    return Ok(n);
                }
            }
        }
        loop {
            let listener = ring.data.listen();
            if let Some(n) = take_or_end(ring, &self.group, &mut self.single, out, max) {
                return Ok(n);
            }
            listener.await;
        }
    }

    async fn ack(&mut self) -> Result<(), BusError> {
        // Events are taken (and their slots released) when they are cloned out.
        Ok(())
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        let mut p = lock(&self.ring.producer);
        if let Some(i) = p
            .groups
            .iter()
            .position(|(g, _)| Arc::ptr_eq(g, &self.group))
        {
            p.groups[i].1 -= 1;
            if p.groups[i].1 == 0 {
                p.groups.swap_remove(i);
            }
        }
        drop(p);
        self.ring.space.notify(usize::MAX);
    }
}
