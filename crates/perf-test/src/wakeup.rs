//! The machine's own scheduling delay beside a run: a thread that sleeps 1 ms over and
//! over and records how late it woke. A stall of the VM (the host took the CPU, another
//! process held both cores) delays every thread at once, this one too, so its worst
//! lateness says how much of a run's tail latency the machine imposed. Every report for
//! the gate carries it (`wakeup_max`), and `bench-gate check --allowance-from
//! wakeup_max` judges the report's times less it: what CI runs before a change lands
//! then does not depend on the machine's quiet.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bench_gate::Direction;
use bench_gate::perf::PerfMetric;
use hdrhistogram::Histogram;

/// The sleep the sampler asks for each time.
const PERIOD: Duration = Duration::from_millis(1);

/// The lateness of every wake-up so far, in nanoseconds, while the process lives.
static SAMPLER: OnceLock<Arc<Mutex<Histogram<u64>>>> = OnceLock::new();

/// Starts the process's sampler thread (once; later calls do nothing). Call it before
/// the measured work starts; it sleeps for as long as the process lives.
pub fn start() {
    SAMPLER.get_or_init(|| {
        let lateness = Arc::new(Mutex::new(
            Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
        ));
        let recorded = lateness.clone();
        std::thread::Builder::new()
            .name("wakeup-sampler".into())
            .spawn(move || sample(&recorded))
            .expect("the sampler thread starts");
        lateness
    });
}

/// Sleeps `PERIOD` over and over, recording each wake-up's lateness in nanoseconds.
fn sample(lateness: &Mutex<Histogram<u64>>) -> ! {
    loop {
        let asked = Instant::now();
        std::thread::sleep(PERIOD);
        let late = asked.elapsed().saturating_sub(PERIOD).as_nanos();
        if let Ok(mut h) = lateness.lock() {
            h.saturating_record(u64::try_from(late).unwrap_or(u64::MAX).max(1));
        }
    }
}

/// The lateness seen so far: p99 and max, in seconds, and how many wake-ups.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lateness {
    /// The 99th percentile of how late a 1 ms sleep woke.
    pub p99: f64,
    /// The latest any woke.
    pub max: f64,
    /// Wake-ups recorded.
    pub samples: u64,
}

/// The lateness the sampler has seen since [`start`] (`None` if it was not started or
/// has not woken yet).
pub fn lateness() -> Option<Lateness> {
    let h = SAMPLER.get()?.lock().ok()?;
    (!h.is_empty()).then(|| Lateness {
        p99: h.value_at_quantile(0.99) as f64 / 1e9,
        max: h.max() as f64 / 1e9,
        samples: h.len(),
    })
}

/// The report metric for the lateness seen so far, `wakeup_max` (none without a
/// sampler).
pub fn metrics() -> Vec<PerfMetric> {
    let latest = lateness().map(|l| l.max);
    (latest.into_iter())
        .map(|max| crate::metric("wakeup_max", max, "s", Direction::LowerIsBetter))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampler_records_wake_ups_and_reports_them_as_metrics() {
        start();
        std::thread::sleep(Duration::from_millis(30));
        let seen = lateness().expect("the sampler woke");
        assert!(seen.samples >= 5, "{seen:?}");
        assert!(seen.max >= seen.p99 && seen.p99 > 0.0, "{seen:?}");
        let names: Vec<String> = metrics().into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["wakeup_max"]);
    }
}
