//! The comparator's data model: one [`Entry`] per benchmark id, with its primary metric
//! normalised (wall time in nanoseconds per iteration, sizes in bytes), the raw samples
//! when the source has them, and which way is better.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a result comes from; decides how it is judged and which defaults apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Criterion wall time: noisy, judged with statistics on the raw samples.
    WallTime,
    /// gungraun/callgrind instruction counts: exact, judged by relative change.
    Instructions,
    /// A `perf-test` report metric.
    Perf,
}

impl Source {
    /// The name used in thresholds.toml and reports.
    pub fn name(self) -> &'static str {
        match self {
            Source::WallTime => "wall_time",
            Source::Instructions => "instructions",
            Source::Perf => "perf",
        }
    }
}

/// Which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Time, memory, latency, instructions.
    LowerIsBetter,
    /// Throughput, efficiency, accuracy.
    HigherIsBetter,
}

/// The dimension of a metric, so absolute bounds can be checked in the right unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Nanoseconds (every time is normalised to ns).
    Nanoseconds,
    /// Bytes (every size is normalised to bytes).
    Bytes,
    /// A count (instructions, events, tasks).
    Count,
    /// A dimensionless number (ratio, efficiency, per-second rate).
    Number,
}

impl Unit {
    /// Parses a unit as written in a report and returns it with the factor that
    /// converts a value to the normalised unit (`"ms"` → (Nanoseconds, 1e6)).
    pub fn parse(unit: &str) -> Option<(Unit, f64)> {
        Some(match unit {
            "ns" => (Unit::Nanoseconds, 1.0),
            "us" | "µs" => (Unit::Nanoseconds, 1e3),
            "ms" => (Unit::Nanoseconds, 1e6),
            "s" => (Unit::Nanoseconds, 1e9),
            "B" | "bytes" => (Unit::Bytes, 1.0),
            "KB" => (Unit::Bytes, 1e3),
            "KiB" => (Unit::Bytes, 1024.0),
            "MB" => (Unit::Bytes, 1e6),
            "MiB" => (Unit::Bytes, 1024.0 * 1024.0),
            "GB" => (Unit::Bytes, 1e9),
            "GiB" => (Unit::Bytes, 1024.0 * 1024.0 * 1024.0),
            "count" | "instructions" | "events" | "tasks" | "requests" => (Unit::Count, 1.0),
            "" | "ratio" | "%" | "1/s" | "ops/s" | "tasks/s" | "events/s" | "runs/s"
            | "requests/s" => (Unit::Number, 1.0),
            _ => return None,
        })
    }

    /// Formats a normalised value for people: `1.23 ms`, `4.0 MiB`, `1.2 M`.
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Nanoseconds => {
                let a = v.abs();
                if a >= 1e9 {
                    format!("{:.3} s", v / 1e9)
                } else if a >= 1e6 {
                    format!("{:.3} ms", v / 1e6)
                } else if a >= 1e3 {
                    format!("{:.3} µs", v / 1e3)
                } else {
                    format!("{v:.2} ns")
                }
            }
            Unit::Bytes => {
                let a = v.abs();
                if a >= 1024.0 * 1024.0 * 1024.0 {
                    format!("{:.2} GiB", v / (1024.0 * 1024.0 * 1024.0))
                } else if a >= 1024.0 * 1024.0 {
                    format!("{:.2} MiB", v / (1024.0 * 1024.0))
                } else if a >= 1024.0 {
                    format!("{:.1} KiB", v / 1024.0)
                } else {
                    format!("{v:.0} B")
                }
            }
            Unit::Count => format!("{v:.0}"),
            Unit::Number => format!("{v:.4}"),
        }
    }
}

/// One benchmark's result: the primary metric the verdict is about, plus any others
/// (informational).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The benchmark id (`group/function/parameter`, or `report/metric` for perf).
    pub id: String,
    /// Where it comes from.
    pub source: Source,
    /// The normalised unit of `value`.
    pub unit: Unit,
    /// Which way is better.
    pub direction: Direction,
    /// The point estimate (Criterion: the median per-iteration time).
    pub value: f64,
    /// Its confidence interval, when the source gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<[f64; 2]>,
    /// Raw per-iteration samples, normalised (wall time: `times[i] / iters[i]` in ns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
    /// The calibrated noise band: the relative change two runs of the same code showed
    /// (0.03 = 3 %); no threshold is applied tighter than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    /// Other metrics of the same benchmark (e.g. callgrind's cache misses).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

impl Entry {
    /// An instruction count of benchmark `id` (exact: no interval, no samples), the
    /// other Callgrind figures in `extra`.
    pub fn count(id: String, value: f64, extra: BTreeMap<String, f64>) -> Entry {
        Entry {
            id,
            source: Source::Instructions,
            unit: Unit::Count,
            direction: Direction::LowerIsBetter,
            value,
            ci: None,
            samples: Vec::new(),
            noise: None,
            extra,
        }
    }
}

/// A run's results: entries by id (sorted, so files diff cleanly).
pub type Results = BTreeMap<String, Entry>;

/// The median of `v` (which must not be empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_normalise() {
        assert_eq!(Unit::parse("ms"), Some((Unit::Nanoseconds, 1e6)));
        assert_eq!(Unit::parse("MiB"), Some((Unit::Bytes, 1048576.0)));
        assert_eq!(Unit::parse("furlongs"), None);
        assert_eq!(Unit::Nanoseconds.format(1.5e6), "1.500 ms");
        assert_eq!(Unit::Bytes.format(2048.0), "2.0 KiB");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
