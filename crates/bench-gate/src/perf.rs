//! `perf-test` reports (`target/perf/*.json`): macro figures with a unit and a
//! direction, gated like the micro benchmarks. The format (version 1):
//!
//! ```json
//! { "report": "standard",
//!   "metrics": [
//!     { "name": "latency_p99", "value": 0.0012, "unit": "s", "direction": "lower_is_better" },
//!     { "name": "efficiency", "value": 0.994, "unit": "ratio", "direction": "higher_is_better",
//!       "samples": [0.993, 0.995] } ] }
//! ```
//!
//! Each metric becomes the benchmark `perf/<report>/<name>`. Units are normalised
//! (`ms` → ns, `MiB` → bytes); an unknown unit, a non-finite value or a duplicate name
//! is an error naming the file and metric.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::{Direction, Entry, Results, Source, Unit};
use crate::{GateError, read_json};

/// One metric of a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerfMetric {
    /// The metric's name (`latency_p99`, `efficiency`, …).
    pub name: String,
    /// Its value in `unit`.
    pub value: f64,
    /// The unit (`s`, `ms`, `bytes`, `MiB`, `ratio`, `tasks/s`, …).
    pub unit: String,
    /// Which way is better.
    pub direction: Direction,
    /// Repeated measurements, if any (enables the significance test).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
}

/// A `perf-test` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerfReport {
    /// The report's name (the config or scenario).
    pub report: String,
    /// Its metrics.
    pub metrics: Vec<PerfMetric>,
}

/// Converts a report into entries.
pub fn entries(report: &PerfReport, path: &Path) -> Result<Vec<Entry>, GateError> {
    let mut out: Vec<Entry> = Vec::new();
    for m in &report.metrics {
        let id = format!("perf/{}/{}", report.report, m.name);
        let (unit, factor) = Unit::parse(&m.unit).ok_or_else(|| {
            GateError::field(path, &id, "unit", format!("unknown unit {:?}", m.unit))
        })?;
        // Checked after normalising: 1e302 s is finite, 1e311 ns is not.
        if !(m.value * factor).is_finite() {
            return Err(GateError::field(
                path,
                &id,
                "value",
                format!(
                    "{} {} is not a finite value once normalised",
                    m.value, m.unit
                ),
            ));
        }
        if let Some(i) = m.samples.iter().position(|s| !(s * factor).is_finite()) {
            return Err(GateError::field(
                path,
                &id,
                format!("samples[{i}]"),
                "not finite",
            ));
        }
        if out.iter().any(|e| e.id == id) {
            return Err(GateError::field(path, &id, "name", "appears twice"));
        }
        out.push(Entry {
            id,
            source: Source::Perf,
            unit,
            direction: m.direction,
            value: m.value * factor,
            ci: None,
            samples: m.samples.iter().map(|s| s * factor).collect(),
            noise: None,
            extra: Default::default(),
        });
    }
    Ok(out)
}

/// Loads every `*.json` report in `dir` (a missing directory holds no reports).
pub fn load(dir: &Path) -> Result<Results, GateError> {
    let mut results = Results::new();
    if !dir.exists() {
        return Ok(results);
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| GateError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let report: PerfReport = read_json(&path)?;
        for e in entries(&report, &path)? {
            if results.contains_key(&e.id) {
                return Err(GateError::field(
                    &path,
                    &e.id,
                    "report",
                    "another file has the same report name",
                ));
            }
            results.insert(e.id.clone(), e);
        }
    }
    Ok(results)
}
