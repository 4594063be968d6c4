//! The machine's own scheduling delay beside a run: threads that sleep 1 ms over and
//! over and record how late they woke. A stall of the VM (the host took a CPU, another
//! process held both cores) delays the threads it catches, these too, so their worst
//! lateness says how much of a run's tail latency the machine imposed. A stall may take
//! one virtual CPU only, while threads on the other keep time: one sampler runs pinned
//! to each CPU the process may use (a fresh-clone CI run on the 2-core Intel VM,
//! 2026-12-07, saw a 3.0 ms task overhead beside a 1.3 ms worst wake-up of one unpinned
//! sampler). Every report for the gate carries the worst (`wakeup_max`), and `bench-gate
//! check --allowance-from wakeup_max` judges the report's times less it: what CI runs
//! before a change lands then does not depend on the machine's quiet. The worst is kept
//! since the samplers started: for `perf-test --all`, over every config run so far.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bench_gate::Direction;
use bench_gate::ab::process::{allowed_cpus, pin_thread};
use bench_gate::perf::PerfMetric;

/// The sleep the sampler asks for each time.
const PERIOD: Duration = Duration::from_millis(1);

static STARTED: Once = Once::new();
/// The latest any wake-up came, in nanoseconds.
static WORST_NS: AtomicU64 = AtomicU64::new(0);
/// Wake-ups recorded.
static WAKES: AtomicU64 = AtomicU64::new(0);

/// Starts the process's samplers, one pinned to each CPU it may run on (once; later
/// calls do nothing). Call it before the measured work starts; they sleep for as long
/// as the process lives. An error is a thread the system would not start.
pub fn start() -> std::io::Result<()> {
    let mut started = Ok(());
    STARTED.call_once(|| {
        started = allowed_cpus().into_iter().try_for_each(|cpu| {
            std::thread::Builder::new()
                .name(format!("wakeup-cpu{cpu}"))
                .spawn(move || {
                    pin_thread(&[cpu]);
                    first_in_line();
                    sample();
                })
                .map(drop)
        });
    });
    started
}

/// Makes the calling thread real-time (`SCHED_FIFO`, the lowest priority), so that
/// the run's own threads on its CPU do not delay its wake-ups, only what the run does
/// not control; where that is refused (no `CAP_SYS_NICE`) it samples as it is.
fn first_in_line() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sets the calling thread's scheduling policy from a parameter built here.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
    }
}

/// Sleeps `PERIOD` over and over, keeping the worst lateness.
fn sample() {
    loop {
        let asked = Instant::now();
        std::thread::sleep(PERIOD);
        let late = asked.elapsed().saturating_sub(PERIOD).as_nanos();
        WORST_NS.fetch_max(u64::try_from(late).unwrap_or(u64::MAX), Ordering::Relaxed);
        WAKES.fetch_add(1, Ordering::Relaxed);
    }
}

/// The latest any sampler's 1 ms sleep woke since [`start`], in seconds, and how many
/// woke (`None` before the first wake-up).
pub fn worst() -> Option<(f64, u64)> {
    let wakes = WAKES.load(Ordering::Relaxed);
    (wakes > 0).then(|| (WORST_NS.load(Ordering::Relaxed) as f64 / 1e9, wakes))
}

/// The report metric for the lateness seen so far, `wakeup_max` (none without a
/// sampler).
pub fn metrics() -> Vec<PerfMetric> {
    (worst().into_iter())
        .map(|(max, _)| crate::metric("wakeup_max", max, "s", Direction::LowerIsBetter))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampler_records_wake_ups_and_reports_them_as_metrics() {
        start().expect("the sampler starts");
        std::thread::sleep(Duration::from_millis(30));
        let (max, wakes) = worst().expect("the sampler woke");
        assert!(wakes >= 5, "{wakes} wake-ups");
        assert!(max > 0.0, "{max}");
        let metrics = metrics();
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["wakeup_max"]);
        assert!(metrics[0].value >= max, "the worst only grows");
    }
}
