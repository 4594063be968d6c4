//! Calibration from an A/A pair: two runs of the same code on the same machine. What
//! differs between them is noise, so it measures each benchmark's noise band (stored in
//! the baseline, where it keeps every level at least that wide) and the false alarms
//! the current policy would have raised on code that did not change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::GateError;
use super::decide::{Decision, Verdict, decide};
use super::model::{Results, Source};
use super::thresholds::Policy;

/// Noise bands by benchmark id, as written by `bench-gate calibrate --save`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The relative noise band of each benchmark (0.03 = 3 %).
    pub noise: BTreeMap<String, f64>,
}

/// What an A/A pair showed.
#[derive(Clone, Debug)]
pub struct AaReport {
    /// The noise bands.
    pub calibration: Calibration,
    /// The policy's verdicts on B against A (every non-`unchanged` one is a false alarm).
    pub decision: Decision,
}

impl AaReport {
    /// Benchmarks compared.
    pub fn compared(&self) -> usize {
        self.decision.judged
    }

    /// Warnings and criticals raised on unchanged code.
    pub fn false_alarms(&self) -> (usize, usize) {
        (
            self.decision.count(Verdict::Warning),
            self.decision.count(Verdict::Critical),
        )
    }
}

/// The noise band of one benchmark from runs `a` and `b`: the larger of the change
/// between them and the half-widths of their confidence intervals, relative to `a`.
pub fn noise_band(a: &super::Entry, b: &super::Entry) -> f64 {
    let mut band = (b.value / a.value - 1.0).abs();
    for e in [a, b] {
        if let Some([lo, hi]) = e.ci {
            band = band.max((hi - lo) / 2.0 / a.value);
        }
    }
    band
}

/// Calibrates from runs `a` and `b` of the same code. Exact sources (instruction
/// counts) get no band: any difference between identical binaries is a real change.
pub fn calibrate(a: &Results, b: &Results, policy: &Policy) -> Result<AaReport, GateError> {
    let mut calibration = Calibration::default();
    for (id, ea) in a {
        if let Some(eb) = b.get(id)
            && ea.source == eb.source
            && ea.source != Source::Instructions
            && ea.value > 0.0
        {
            calibration.noise.insert(id.clone(), noise_band(ea, eb));
        }
    }
    // The false alarms the policy *as written* would have raised: without the bands.
    let decision = decide(b, Some(a), policy, &[])?;
    Ok(AaReport {
        calibration,
        decision,
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
    let slower = super::decide::scaled(b, Source::WallTime, factor);
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

/// Applies noise bands to `results` (entries without a band keep theirs).
pub fn apply(results: &mut Results, calibration: &Calibration) {
    for (id, noise) in &calibration.noise {
        if let Some(e) = results.get_mut(id) {
            e.noise = Some(*noise);
        }
    }
}
