//! Loads Criterion's output (criterion 0.5–0.8 layout).
//!
//! Criterion writes, per benchmark, `target/criterion/<directory_name>/<which>/`, where
//! `<which>` is `new` (the latest run), `base` (the run before) or a name given with
//! `--save-baseline NAME`. Each holds:
//! - `benchmark.json`: `full_id` (the id: `group/function/value`), `directory_name`,
//!   `throughput` (`{"Elements": n}` or `{"Bytes": n}`, or null);
//! - `sample.json`: `sampling_mode`, `iters[i]` and `times[i]` (total ns of sample i),
//!   so the per-iteration time of sample i is `times[i] / iters[i]`;
//! - `estimates.json`: `mean`, `median`, `std_dev`, `median_abs_dev`, `slope`, each
//!   `{point_estimate, standard_error, confidence_interval: {lower_bound, upper_bound,
//!   confidence_level}}` (`slope` is null in flat sampling mode).
//!
//! The entry's value is the median per-iteration time with its bootstrap CI; the
//! samples are the per-iteration times. Directories without `benchmark.json`
//! (`report/`, `change/`) are ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{Direction, Entry, Results, Source, Unit, median};
use crate::{GateError, read_json};

#[derive(Deserialize)]
struct BenchmarkJson {
    full_id: String,
}

#[derive(Deserialize)]
struct SampleJson {
    iters: Vec<f64>,
    times: Vec<f64>,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct EstimatesJson {
    median: Estimate,
}

/// Every `<which>` directory (holding `benchmark.json`) under `root`.
fn find(root: &Path, which: &str, out: &mut Vec<PathBuf>) -> Result<(), GateError> {
    let entries = std::fs::read_dir(root).map_err(|e| GateError::io(root, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| GateError::io(root, e))?;
        let path = entry.path();
        if !entry
            .file_type()
            .map_err(|e| GateError::io(&path, e))?
            .is_dir()
        {
            continue;
        }
        if entry.file_name() == which && path.join("benchmark.json").is_file() {
            out.push(path);
        } else if entry.file_name() != "report" {
            find(&path, which, out)?;
        }
    }
    Ok(())
}

/// Loads one benchmark from its `<which>` directory.
pub fn load_one(dir: &Path) -> Result<Entry, GateError> {
    let bench_path = dir.join("benchmark.json");
    let bench: BenchmarkJson = read_json(&bench_path)?;
    let id = bench.full_id;
    let sample_path = dir.join("sample.json");
    let sample: SampleJson = read_json(&sample_path)?;
    if sample.iters.len() != sample.times.len() {
        return Err(GateError::field(
            &sample_path,
            &id,
            "iters",
            format!(
                "{} iteration counts for {} times",
                sample.iters.len(),
                sample.times.len()
            ),
        ));
    }
    if sample.times.is_empty() {
        return Err(GateError::field(&sample_path, &id, "times", "no samples"));
    }
    let mut samples = Vec::with_capacity(sample.times.len());
    for (i, (&iters, &time)) in sample.iters.iter().zip(&sample.times).enumerate() {
        if !(iters.is_finite() && iters >= 1.0) {
            return Err(GateError::field(
                &sample_path,
                &id,
                format!("iters[{i}]"),
                format!("{iters} is not a count ≥ 1"),
            ));
        }
        if !(time.is_finite() && time > 0.0) {
            return Err(GateError::field(
                &sample_path,
                &id,
                format!("times[{i}]"),
                format!("{time} is not a time > 0"),
            ));
        }
        samples.push(time / iters);
    }
    let est_path = dir.join("estimates.json");
    let (value, ci) = if est_path.is_file() {
        let est: EstimatesJson = read_json(&est_path)?;
        let m = est.median;
        let (lo, hi) = (
            m.confidence_interval.lower_bound,
            m.confidence_interval.upper_bound,
        );
        if !(m.point_estimate.is_finite() && m.point_estimate > 0.0) {
            return Err(GateError::field(
                &est_path,
                &id,
                "median.point_estimate",
                format!("{} is not a time > 0", m.point_estimate),
            ));
        }
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(GateError::field(
                &est_path,
                &id,
                "median.confidence_interval",
                format!("[{lo}, {hi}] is not an interval"),
            ));
        }
        (m.point_estimate, Some([lo, hi]))
    } else {
        (median(&samples), None)
    };
    Ok(Entry {
        id,
        source: Source::WallTime,
        unit: Unit::Nanoseconds,
        direction: Direction::LowerIsBetter,
        value,
        ci,
        samples,
        noise: None,
        extra: Default::default(),
    })
}

/// Loads every benchmark under `root` (e.g. `target/criterion`) from its `which`
/// directory (`new`, `base` or a saved baseline's name). An id seen twice is an error.
pub fn load(root: &Path, which: &str) -> Result<Results, GateError> {
    let mut dirs = Vec::new();
    find(root, which, &mut dirs)?;
    dirs.sort();
    let mut results = Results::new();
    for dir in dirs {
        let entry = load_one(&dir)?;
        if let Some(previous) = results.get(&entry.id) {
            return Err(GateError::field(
                dir.join("benchmark.json"),
                &entry.id,
                "full_id",
                format!(
                    "the same id as another benchmark ({} µs)",
                    previous.value / 1e3
                ),
            ));
        }
        results.insert(entry.id.clone(), entry);
    }
    Ok(results)
}
