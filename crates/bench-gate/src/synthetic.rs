//! Synthetic inputs for exercising the gate itself: generated wall-time results with a
//! known spread, and a writer that lays them out as Criterion's files so the real
//! loader reads them. The comparator's own benches (`gate/check/200x100`, the
//! instruction count of the decision) and tests use them; `bench-gate` never reads
//! them on its own.
//!
//! The noise is drawn from SplitMix64 (`rand_xoshiro`), a fixed published algorithm,
//! so a seed gives the same results in every version and the benches that time the
//! gate keep measuring the same input.

use std::path::Path;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;

use crate::model::{Direction, Entry, Results, Source, Unit, median};

/// Deterministic noise for generated inputs: uniform and normal draws from SplitMix64.
#[derive(Clone, Debug)]
pub struct Noise {
    rng: SplitMix64,
}

impl Noise {
    /// The noise sequence fixed by `seed`.
    pub fn new(seed: u64) -> Noise {
        Noise {
            rng: SplitMix64::seed_from_u64(seed),
        }
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal draw (Box–Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit(); // (0, 1]: the logarithm stays finite
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` wall-time benchmarks (`synthetic/bench_<i>`), each with `samples` per-iteration
/// times around its own median (1 µs–1 ms), spread ±`jitter` (0.05 = 5 %) with a few
/// slow outliers; the same arguments always give the same results.
pub fn wall_time_results(n: usize, samples: usize, jitter: f64, seed: u64) -> Results {
    let mut rng = Noise::new(seed);
    (0..n)
        .map(|i| {
            let center = 1e3 * 1e3f64.powf(rng.unit());
            let times: Vec<f64> = (0..samples)
                .map(|_| {
                    let u = rng.unit();
                    // Mostly symmetric noise; one sample in twenty is a slow outlier.
                    let outlier = if rng.unit() < 0.05 {
                        1.0 + 4.0 * jitter
                    } else {
                        1.0
                    };
                    center * (1.0 + jitter * (2.0 * u - 1.0)) * outlier
                })
                .collect();
            let id = format!("synthetic/bench_{i:04}");
            let value = median(&times);
            let entry = Entry {
                id: id.clone(),
                source: Source::WallTime,
                unit: Unit::Nanoseconds,
                direction: Direction::LowerIsBetter,
                value,
                ci: Some([value * (1.0 - jitter / 10.0), value * (1.0 + jitter / 10.0)]),
                samples: times,
                noise: None,
                extra: Default::default(),
            };
            (id, entry)
        })
        .collect()
}

/// Writes wall-time `results` as Criterion 0.8 leaves them
/// (`<dir>/<id>/<which>/{benchmark,sample,estimates}.json`, one iteration per sample),
/// for `which` = `new`, `base` or a saved baseline's name.
pub fn write_criterion_tree(dir: &Path, results: &Results, which: &str) -> std::io::Result<()> {
    for (id, e) in results {
        let d = dir.join(id).join(which);
        std::fs::create_dir_all(&d)?;
        let json = |v: serde_json::Value| serde_json::to_vec(&v).map_err(std::io::Error::other);
        let bench = serde_json::json!({
            "group_id": id.rsplit_once('/').map_or(id.as_str(), |(g, _)| g),
            "function_id": null, "value_str": null, "throughput": null,
            "full_id": id, "directory_name": id, "title": id,
        });
        std::fs::write(d.join("benchmark.json"), json(bench)?)?;
        let iters = vec![1.0; e.samples.len()];
        let sample =
            serde_json::json!({"sampling_mode": "Flat", "iters": iters, "times": e.samples});
        std::fs::write(d.join("sample.json"), json(sample)?)?;
        let [lo, hi] = e.ci.unwrap_or([e.value, e.value]);
        let est = |p: f64| {
            serde_json::json!({
                "confidence_interval": {"confidence_level": 0.95, "lower_bound": lo, "upper_bound": hi},
                "point_estimate": p, "standard_error": (hi - lo) / 4.0,
            })
        };
        let estimates = serde_json::json!({
            "mean": est(e.value), "median": est(e.value), "median_abs_dev": est(e.value * 0.01),
            "slope": null, "std_dev": est(e.value * 0.02),
        });
        std::fs::write(d.join("estimates.json"), json(estimates)?)?;
    }
    Ok(())
}

/// A generated benchmark history: `benchmarks` series (`synthetic/bench_<i>`, levels
/// 1 µs–1 ms) over `runs` runs on one machine, with 1 % lognormal noise, 1 % of runs at
/// 2× (a noisy neighbour), and a +3 % step at a random run in every tenth series; the
/// same arguments always give the same history.
pub fn history_runs(benchmarks: usize, runs: usize, seed: u64) -> Vec<crate::history::Run> {
    let mut rng = Noise::new(seed);
    let series: Vec<(f64, Option<usize>)> = (0..benchmarks)
        .map(|i| {
            let level = 1e3 * 1e3f64.powf(rng.unit());
            let step =
                (i % 10 == 0).then(|| 5 + (rng.unit() * (runs.saturating_sub(10)) as f64) as usize);
            (level, step)
        })
        .collect();
    (0..runs)
        .map(|r| crate::history::Run {
            commit: format!("{r:040x}"),
            date: crate::baseline::rfc3339(1_780_000_000 + 86_400 * r as u64),
            machine: "synthetic".into(),
            values: series
                .iter()
                .enumerate()
                .map(|(i, &(level, step))| {
                    let mut v = level * (0.01 * rng.normal()).exp();
                    if step.is_some_and(|s| r >= s) {
                        v *= 1.03;
                    }
                    if rng.unit() < 0.01 {
                        v *= 2.0;
                    }
                    (format!("synthetic/bench_{i:04}"), v)
                })
                .collect(),
            units: Default::default(),
            directions: Default::default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_deterministic_and_spread_as_asked() {
        let a = wall_time_results(20, 50, 0.05, 7);
        assert_eq!(a, wall_time_results(20, 50, 0.05, 7));
        assert_ne!(a, wall_time_results(20, 50, 0.05, 8));
        for e in a.values() {
            assert!(
                (1e3..=1e6 * 1.25).contains(&e.value),
                "{}: {}",
                e.id,
                e.value
            );
            let (lo, hi) = e
                .samples
                .iter()
                .fold((f64::MAX, 0.0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
            // ±5 % around the centre, outliers at most 20 % slower on top.
            assert!(hi / lo < 1.06 / 0.95 * 1.2 + 1e-9, "{}: {lo}..{hi}", e.id);
        }
    }

    #[test]
    fn the_noise_sequence_is_pinned() {
        // The reference SplitMix64 output for seed 42, and the first sample it leads to
        // (computed independently): if these change, the benches timing the gate
        // silently measure another input.
        let mut rng = SplitMix64::seed_from_u64(42);
        assert_eq!(rng.next_u64(), 13_679_457_532_755_275_413);
        let r = wall_time_results(1, 1, 0.05, 42);
        let first = r["synthetic/bench_0000"].samples[0];
        assert!(
            (first / 162_056.977_301_096_02 - 1.0).abs() < 1e-12,
            "{first}"
        );
    }

    #[test]
    fn the_criterion_loader_reads_the_written_tree_back() {
        let dir = tempfile::tempdir().unwrap();
        let results = wall_time_results(5, 30, 0.02, 3);
        write_criterion_tree(dir.path(), &results, "new").unwrap();
        let back = crate::criterion::load(dir.path(), "new").unwrap();
        assert_eq!(back.len(), 5);
        for (id, e) in &results {
            let b = &back[id];
            assert_eq!(b.samples, e.samples, "{id}");
            assert!((b.value - e.value).abs() <= 1e-9 * e.value, "{id}");
        }
    }
}
