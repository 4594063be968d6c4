//! Calibration from A/A runs: two or more runs of the same code on one machine. What
//! differs between them is noise, so it measures each benchmark's noise band (stored in
//! the baseline, where it keeps every level at least that wide) and the false alarms
//! the current policy would have raised on code that did not change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::GateError;
use crate::decide::decide;
use crate::model::{Results, Source};
use crate::thresholds::Policy;
use crate::verdict::{Decision, Verdict};

/// Noise bands by benchmark id, as written by `bench-gate calibrate --save`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The relative noise band of each benchmark (0.03 = 3 %).
    pub noise: BTreeMap<String, f64>,
}

/// What A/A runs showed.
#[derive(Clone, Debug)]
pub struct AaReport {
    /// The noise bands.
    pub calibration: Calibration,
    /// The policy's verdicts on each later run against the first (every verdict other
    /// than `unchanged` and `improved` is a false alarm).
    pub decisions: Vec<Decision>,
}

impl AaReport {
    /// Benchmark comparisons made, over all pairs.
    pub fn compared(&self) -> usize {
        self.decisions.iter().map(|d| d.judged).sum()
    }

    /// Warnings and criticals raised on unchanged code, over all pairs.
    pub fn false_alarms(&self) -> (usize, usize) {
        let sum = |v| self.decisions.iter().map(|d| d.count(v)).sum();
        (sum(Verdict::Warning), sum(Verdict::Critical))
    }
}

/// The noise band of one benchmark from runs `a` and `b`: the larger of the change
/// between them (relative to the faster of the two, so the band is the same whichever
/// run comes first) and the half-widths of their confidence intervals.
pub fn noise_band(a: &crate::Entry, b: &crate::Entry) -> f64 {
    let low = a.value.min(b.value);
    let mut band = (a.value - b.value).abs() / low;
    for e in [a, b] {
        if let Some([lo, hi]) = e.ci {
            band = band.max((hi - lo) / 2.0 / low);
        }
    }
    band
}

/// Calibrates from runs of the same code: `first` and `others`. A benchmark's band is
/// the largest [`noise_band`] over every pair of runs, so a benchmark that switches
/// between two speeds from run to run gets a band as wide as the switch, once the runs
/// have seen it. Exact sources (instruction counts) get no band: any difference between
/// identical binaries is a real change.
pub fn calibrate(
    first: &Results,
    others: &[Results],
    policy: &Policy,
) -> Result<AaReport, GateError> {
    let runs: Vec<&Results> = std::iter::once(first).chain(others).collect();
    let mut calibration = Calibration::default();
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            for (id, ea) in a.iter() {
                if let Some(eb) = b.get(id)
                    && ea.source == eb.source
                    && ea.source != Source::Instructions
                    && ea.value > 0.0
                {
                    let band = noise_band(ea, eb);
                    let entry = calibration.noise.entry(id.clone()).or_insert(0.0);
                    *entry = entry.max(band);
                }
            }
        }
    }
    // The false alarms the policy *as written* would have raised: without the bands.
    let decisions = others
        .iter()
        .map(|b| decide(b, Some(first), policy, &[]))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AaReport {
        calibration,
        decisions,
    })
}

/// A synthetic regression check: B's wall-time samples scaled by `factor` are judged
/// against A with the calibrated noise bands in place. Returns, for the benchmarks
/// whose band is below `band_limit`, (how many, how many came out critical, the ids
/// that did not).
pub fn synthetic_regression(
    a: &Results,
    b: &Results,
    calibration: &Calibration,
    policy: &Policy,
    factor: f64,
    band_limit: f64,
) -> Result<(usize, usize, Vec<String>), GateError> {
    let mut base = a.clone();
    apply(&mut base, calibration);
    let slower = crate::decide::scaled(b, Source::WallTime, factor);
    let decision = decide(&slower, Some(&base), policy, &[])?;
    let (mut eligible, mut caught, mut escaped) = (0, 0, Vec::new());
    for c in &decision.comparisons {
        let band = calibration
            .noise
            .get(&c.id)
            .copied()
            .unwrap_or(f64::INFINITY);
        if c.source != Source::WallTime || band >= band_limit {
            continue;
        }
        eligible += 1;
        if c.verdict == Verdict::Critical {
            caught += 1;
        } else {
            escaped.push(format!("{} ({}: {})", c.id, c.verdict.name(), c.reason));
        }
    }
    Ok((eligible, caught, escaped))
}

/// Each benchmark's median run: from runs of the same code, the entry whose point
/// estimate is the median of that benchmark's estimates (the lower middle one for an
/// even count). A baseline made of median runs sits in the middle of the noise, so a
/// later run must move twice as far from it to reach the edge of the band as from a
/// baseline that happened to be one of the extremes.
pub fn median_run(runs: &[Results]) -> Results {
    let mut out = Results::new();
    let ids: std::collections::BTreeSet<&String> = runs.iter().flat_map(|r| r.keys()).collect();
    for id in ids {
        let mut entries: Vec<&crate::Entry> = runs.iter().filter_map(|r| r.get(id)).collect();
        entries.sort_by(|a, b| a.value.total_cmp(&b.value));
        let mid = entries[(entries.len() - 1) / 2];
        out.insert(id.clone(), mid.clone());
    }
    out
}

/// Applies noise bands to `results` (entries without a band keep theirs).
pub fn apply(results: &mut Results, calibration: &Calibration) {
    for (id, noise) in &calibration.noise {
        if let Some(e) = results.get_mut(id) {
            e.noise = Some(*noise);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Direction, Entry, Unit};

    fn entry(id: &str, value: f64) -> Entry {
        Entry {
            id: id.into(),
            source: Source::WallTime,
            unit: Unit::Nanoseconds,
            direction: Direction::LowerIsBetter,
            value,
            ci: None,
            samples: vec![value; 10],
            noise: None,
            extra: Default::default(),
        }
    }

    fn run(values: &[(&str, f64)]) -> Results {
        values
            .iter()
            .map(|(id, v)| (id.to_string(), entry(id, *v)))
            .collect()
    }

    #[test]
    fn the_band_is_the_largest_change_between_any_two_runs() {
        let runs = [
            run(&[("a", 100.0), ("b", 10.0)]),
            run(&[("a", 104.0), ("b", 10.0)]),
            // `a` is slow in one later run: the band is its largest pairwise change,
            // 150 against 100.
            run(&[("a", 150.0), ("b", 10.1)]),
        ];
        let r = calibrate(&runs[0], &runs[1..], &Policy::builtin()).unwrap();
        assert!((r.calibration.noise["a"] - 0.5).abs() < 1e-12);
        assert!((r.calibration.noise["b"] - 0.01).abs() < 1e-9);
        // Symmetric: the same runs in another order give the same bands.
        let rev = [runs[2].clone(), runs[1].clone(), runs[0].clone()];
        let r2 = calibrate(&rev[0], &rev[1..], &Policy::builtin()).unwrap();
        assert_eq!(r.calibration.noise, r2.calibration.noise);
        assert_eq!(r.decisions.len(), 2);
    }

    #[test]
    fn the_median_run_is_chosen_per_benchmark() {
        let runs = [
            run(&[("a", 150.0), ("b", 3.0)]),
            run(&[("a", 100.0), ("b", 1.0), ("only", 7.0)]),
            run(&[("a", 104.0), ("b", 2.0)]),
        ];
        let m = median_run(&runs);
        assert_eq!(m["a"].value, 104.0);
        assert_eq!(m["b"].value, 2.0);
        assert_eq!(m["only"].value, 7.0);
        // An even count takes the lower middle.
        let m = median_run(&runs[..2]);
        assert_eq!(m["a"].value, 100.0);
    }
}
