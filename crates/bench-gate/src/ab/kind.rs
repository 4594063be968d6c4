//! What a benchmark's first warm-up says it is ([`Kind`]: busy, waiting or threaded,
//! from the cores it kept busy and whether its threads blocked), and how each kind's
//! two sides meet under the barrier ([`Order`]), warm up and sample.

use std::path::Path;
use std::time::Duration;

/// How the two sides' samples meet under the barrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// One side at a time, AB BA AB …: each sample has the machine to itself.
    Alternate,
    /// Both at once on one CPU, sharing it.
    Together,
    /// Both at once, each on a CPU of its own.
    Duet,
}

/// What a benchmark's warm-up showed it to be, from the cores it kept busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One core busy: computing, on one thread.
    Busy,
    /// Less than [`WAITING`] cores busy: mostly waiting on a server, a timer or I/O.
    Waiting,
    /// At least [`MULTI_CORE`] cores busy: threads at work at once.
    Threads,
}

impl Kind {
    /// The kind of a benchmark whose sides kept `cores` busy (the busier side's), and
    /// whether its threads blocked while warming up (`waited`). A side held up by the
    /// machine (a VM whose host took the CPU: its wall time ran on, its CPU time did
    /// not) keeps less than a core busy without blocking: that is `Busy`, not waiting.
    pub fn of(cores: &[f64; 2], waited: bool) -> Kind {
        let most = cores.iter().copied().fold(0.0f64, f64::max);
        if most >= MULTI_CORE {
            Kind::Threads
        } else if most < WAITING && waited {
            Kind::Waiting
        } else {
            Kind::Busy
        }
    }

    /// How this kind's samples meet, `default` being the settings' order.
    pub fn order(self, default: Order) -> Order {
        match self {
            Kind::Busy => default,
            Kind::Waiting => Order::Together,
            Kind::Threads => Order::Duet,
        }
    }
}

/// A benchmark whose warm-up kept at least this many cores busy is of [`Kind::Threads`]:
/// measured on every CPU (its threads are part of what it measures).
pub const MULTI_CORE: f64 = 1.25;

/// A benchmark whose warm-up kept fewer cores busy than this is of [`Kind::Waiting`].
pub const WAITING: f64 = 0.75;

/// The measuring time per side and pair of a benchmark that waits or runs threads.
pub const LONG: Duration = Duration::from_millis(300);

/// The fewest samples per side and pair of a benchmark that waits or runs threads: two,
/// so that a routine of 0.5 s (a scheduler's dispatch delay) takes 1 s of a pair, not
/// 1.5 s; its pairs, not its samples, are what the decision needs many of.
pub const LONG_LEAST: usize = 2;

/// Samples of `per_sample_ns` each for about `long` per side, at least `least`, at most
/// 1000.
pub(super) fn samples_for(long: Duration, per_sample_ns: f64, least: usize) -> usize {
    let n = (long.as_nanos() as f64 / per_sample_ns.max(1.0)).ceil();
    (n.min(1000.0) as usize).max(least)
}

/// How often process `pid`'s threads have blocked so far: their voluntary context
/// switches (`/proc/PID/task/*/status`). A benchmark that waits on a timer, a server or
/// I/O blocks at least once an iteration; one the machine holds up does not block at
/// all. The harness itself blocks once or twice a command. `None` if unreadable.
pub(super) fn blocked(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks {
        total += thread_blocked(&task.ok()?.path())?;
    }
    Some(total)
}

/// A thread's voluntary context switches, from its `/proc` directory's `status`.
fn thread_blocked(task: &Path) -> Option<u64> {
    let status = std::fs::read_to_string(task.join("status")).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?;
    line.trim().parse().ok()
}

/// The CPU of each of `sides` sides while they warm up at once in a later pair of a
/// benchmark of `kind`: a busy one's sides get a CPU each (so that a slow routine's
/// warm-up takes one side's time, not two), a waiting one's share its sampling CPU,
/// and a threaded one's keep every CPU (an empty list: none pinned).
pub(super) fn warm_placement(kind: Kind, cpus: &[usize], sides: usize) -> Vec<usize> {
    match kind {
        Kind::Busy => (0..sides).map(|i| cpus[i % cpus.len()]).collect(),
        Kind::Waiting => vec![cpus[0]; sides],
        Kind::Threads => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn later_warm_ups_are_placed_as_the_kinds_samples_are() {
        assert_eq!(warm_placement(Kind::Busy, &[1, 0], 2), vec![1, 0]);
        assert_eq!(warm_placement(Kind::Busy, &[3], 2), vec![3, 3]);
        assert_eq!(warm_placement(Kind::Busy, &[1, 0], 1), vec![1]);
        assert_eq!(warm_placement(Kind::Waiting, &[1, 0], 2), vec![1, 1]);
        assert!(warm_placement(Kind::Threads, &[1, 0], 2).is_empty());
    }

    #[test]
    fn the_busier_side_says_what_kind_a_benchmark_is() {
        assert_eq!(Kind::of(&[1.0, 0.98], false), Kind::Busy);
        assert_eq!(Kind::of(&[0.27, 0.3], true), Kind::Waiting);
        assert_eq!(Kind::of(&[0.5, 0.9], true), Kind::Busy);
        assert_eq!(Kind::of(&[1.1, 1.96], true), Kind::Threads);
        // Held up by the machine, not waiting: it never blocked.
        assert_eq!(Kind::of(&[0.26, 0.52], false), Kind::Busy);
        assert_eq!(Kind::Busy.order(Order::Alternate), Order::Alternate);
        assert_eq!(Kind::Waiting.order(Order::Alternate), Order::Together);
        assert_eq!(Kind::Threads.order(Order::Alternate), Order::Duet);
    }

    #[test]
    fn a_thread_that_sleeps_blocks_and_one_that_computes_does_not() {
        // SAFETY: gettid takes no arguments and only names the calling thread.
        let tid = unsafe { libc::gettid() };
        let me = PathBuf::from(format!("/proc/self/task/{tid}"));
        let count = || thread_blocked(&me).expect("this thread's status is readable");
        let before = count();
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let slept = count() - before;
        let before = count();
        let mut x = 1u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let computed = count() - before;
        assert!(slept >= 5, "{slept}");
        assert!(computed <= 1, "{computed}");
        // The whole process: its threads' together, this one's included.
        let all = blocked(std::process::id()).expect("this process's threads are readable");
        assert!(all >= count(), "{all}");
    }

    #[test]
    fn long_pairs_take_samples_for_their_time_within_bounds() {
        let long = Duration::from_millis(300);
        assert_eq!(samples_for(long, 5e6, 3), 60);
        assert_eq!(samples_for(long, 27e6, 3), 12);
        assert_eq!(samples_for(long, 200e6, 3), 3);
        assert_eq!(samples_for(long, 500e6, LONG_LEAST), 2);
        assert_eq!(samples_for(long, 1.0, 3), 1000);
    }
}
