//! A bench binary run by hand: each benchmark warmed up, then measured in samples of
//! one iteration count (flat sampling) for its measurement time, and its per-iteration
//! median printed with the fastest and slowest sample. No statistics beyond that and no
//! files: under `bench-gate ab` the driver measures and judges.

use std::time::{Duration, Instant};

use crate::bencher::Run;
use crate::measurement::ValueFormatter;
use crate::Config;

/// How long a warm-up may go on to reach its least iterations.
const WARM_LIMIT: Duration = Duration::from_millis(200);

/// Runs the routine with doubling iteration counts until `how_long` has passed in it
/// and it has run at least `least` iterations (or [`WARM_LIMIT`] has passed): a routine
/// of a few milliseconds is slow for its first iterations (the allocator adjusts its
/// thresholds to the first large blocks freed: measured 10, 3.5, then 2.3 ms for a
/// 10 000-node pass). Returns the last call's iterations and wall time, the steadiest,
/// and the whole warm-up's wall time.
pub(crate) fn warm_up(
    how_long: Duration,
    least: u64,
    routine: &mut dyn FnMut(u64) -> Run,
) -> (u64, Duration, Duration) {
    let (mut iters, mut total, mut spent) = (1u64, 0u64, Duration::ZERO);
    loop {
        let wall = routine(iters).wall;
        spent += wall;
        total += iters;
        if (spent > how_long && total >= least) || spent > WARM_LIMIT.max(how_long) {
            return (iters, wall, spent);
        }
        iters = iters.saturating_mul(2);
    }
}

/// Measures one benchmark and prints `ID  time: [fastest median slowest]` per iteration.
pub(crate) fn measure(
    id: &str,
    config: Config,
    formatter: &dyn ValueFormatter,
    routine: &mut dyn FnMut(u64) -> Run,
) {
    let (iters, spent, _) = warm_up(config.warm_up_time, 1, routine);
    let per_iter = spent.as_secs_f64() / iters as f64;
    let per_sample = config.measurement_time.as_secs_f64() / config.sample_size as f64;
    let n = ((per_sample / per_iter).ceil() as u64).max(1);
    let mut values: Vec<f64> = (0..config.sample_size)
        .map(|_| routine(n).value / n as f64)
        .collect();
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    let show = |v: f64| formatter.format_value(v);
    println!(
        "{id:<50} time: [{} {} {}]",
        show(values[0]),
        show(median),
        show(values[values.len() - 1])
    );
}

/// Iterates the routine for about `time` (a `--profile-time` run).
pub(crate) fn iterate_for(time: Duration, routine: &mut dyn FnMut(u64) -> Run) {
    let start = Instant::now();
    let mut iters = 1u64;
    while start.elapsed() < time {
        routine(iters);
        iters = iters.saturating_mul(2);
    }
}
