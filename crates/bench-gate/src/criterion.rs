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

/// Per-iteration times of `sample.json`, each checked: as many iteration counts as
/// times, at least one sample, counts ≥ 1 and times > 0.
fn sample_times(path: &Path, id: &str) -> Result<Vec<f64>, GateError> {
    let sample: SampleJson = read_json(path)?;
    let (iters, times) = (&sample.iters, &sample.times);
    if iters.len() != times.len() {
        let detail = format!("{} iteration counts for {} times", iters.len(), times.len());
        return Err(GateError::field(path, id, "iters", detail));
    }
    if times.is_empty() {
        return Err(GateError::field(path, id, "times", "no samples"));
    }
    let mut samples = Vec::with_capacity(times.len());
    for (i, (&iters, &time)) in iters.iter().zip(times).enumerate() {
        if !(iters.is_finite() && iters >= 1.0) {
            let detail = format!("{iters} is not a count ≥ 1");
            return Err(GateError::field(path, id, format!("iters[{i}]"), detail));
        }
        if !(time.is_finite() && time > 0.0) {
            let detail = format!("{time} is not a time > 0");
            return Err(GateError::field(path, id, format!("times[{i}]"), detail));
        }
        samples.push(time / iters);
    }
    Ok(samples)
}

/// The median and its confidence interval from `estimates.json`, checked.
fn median_estimate(path: &Path, id: &str) -> Result<(f64, [f64; 2]), GateError> {
    let est: EstimatesJson = read_json(path)?;
    let m = est.median;
    let (lo, hi) = (
        m.confidence_interval.lower_bound,
        m.confidence_interval.upper_bound,
    );
    if !(m.point_estimate.is_finite() && m.point_estimate > 0.0) {
        let detail = format!("{} is not a time > 0", m.point_estimate);
        return Err(GateError::field(path, id, "median.point_estimate", detail));
    }
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        let detail = format!("[{lo}, {hi}] is not an interval");
        return Err(GateError::field(
            path,
            id,
            "median.confidence_interval",
            detail,
        ));
    }
    Ok((m.point_estimate, [lo, hi]))
}

/// Loads one benchmark from its `<which>` directory.
pub fn load_one(dir: &Path) -> Result<Entry, GateError> {
    let bench: BenchmarkJson = read_json(&dir.join("benchmark.json"))?;
    let id = bench.full_id;
    let samples = sample_times(&dir.join("sample.json"), &id)?;
    let est_path = dir.join("estimates.json");
    let (value, ci) = if est_path.is_file() {
        let (value, ci) = median_estimate(&est_path, &id)?;
        (value, Some(ci))
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
