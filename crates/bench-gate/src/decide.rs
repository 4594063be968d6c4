//! The decision: one [`Verdict`] per benchmark, from the current results, the baseline
//! and the policy. Pure: no I/O, so it is tested by itself and costs microseconds.
//!
//! - Instruction counts (and perf metrics without samples) are judged by their relative
//!   change against the levels.
//! - Wall time is a regression only when the change exceeds the level *and* the raw
//!   samples show it (one-sided Mann–Whitney U), with Holm's correction across every
//!   wall-time benchmark so the suite-wide false-alarm rate stays at `alpha`.
//!   Improvements are judged the same way, in their own family.
//! - No relative level is applied tighter than the benchmark's calibrated noise band
//!   (the critical one not tighter than `noise_margin` × the band).
//! - Absolute bounds (SLOs) are checked on every run, baseline or not.
//! - A source whose environment differs where it matters (instruction counts across
//!   rustc or valgrind versions) is `incomparable`, not judged.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::GateError;
use crate::model::{Direction, Entry, Results, Source, Unit};
use crate::stats::{holm, mann_whitney_greater};
use crate::thresholds::{Bound, Policy};

/// The verdict on one benchmark, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Beyond the critical level (and significant, for wall time): fails the gate.
    Critical,
    /// Beyond the warning level.
    Warning,
    /// Not comparable with the baseline (environment differs where it matters).
    Incomparable,
    /// In the baseline, absent from the run.
    Missing,
    /// In the run, absent from the baseline.
    New,
    /// No change seen, but the run could not have seen one of the size it was asked
    /// to see (its minimum detectable effect is above the target): measure longer.
    Inconclusive,
    /// Better than the baseline beyond the warning level (and significant).
    Improved,
    /// Within the levels, or not significant.
    Unchanged,
}

impl Verdict {
    /// The lowercase name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Critical => "critical",
            Verdict::Warning => "warning",
            Verdict::Incomparable => "incomparable",
            Verdict::Missing => "missing",
            Verdict::New => "new",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
        }
    }
}

/// One benchmark's comparison and verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The benchmark id.
    pub id: String,
    /// Its source.
    pub source: Source,
    /// The unit of `current` and `baseline`.
    pub unit: Unit,
    /// Which way is better.
    pub direction: Direction,
    /// The verdict.
    pub verdict: Verdict,
    /// This run's value.
    pub current: Option<f64>,
    /// The baseline's value.
    pub baseline: Option<f64>,
    /// current / baseline − 1 (signed, as measured).
    pub change: Option<f64>,
    /// This run's confidence interval.
    pub ci: Option<[f64; 2]>,
    /// The Holm-adjusted one-sided p-value of the change's direction (wall time).
    pub p_value: Option<f64>,
    /// The relative warning and critical levels applied (after the noise floor).
    pub levels: Option<[f64; 2]>,
    /// The rule that set the levels, if any.
    pub rule: Option<String>,
    /// Why: which bound was crossed, or why nothing was judged.
    pub reason: String,
    /// The minimum detectable effect (`bench-gate ab`): the relative regression this
    /// run would have called critical with 80 % probability at its noise.
    pub mde: Option<f64>,
    /// What the paired rounds showed (`bench-gate ab` only).
    pub paired: Option<crate::paired::PairedStats>,
}

/// A run's verdicts and what they add up to.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// One per benchmark, worst first, then by id.
    pub comparisons: Vec<Comparison>,
    /// Benchmarks actually judged (against a baseline or an absolute bound).
    pub judged: usize,
}

impl Decision {
    /// The number of benchmarks with `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.comparisons
            .iter()
            .filter(|c| c.verdict == verdict)
            .count()
    }
}

/// The regression in the bad direction: +0.1 = 10 % worse.
fn regression(direction: Direction, current: f64, baseline: f64) -> f64 {
    match direction {
        Direction::LowerIsBetter => current / baseline - 1.0,
        Direction::HigherIsBetter => 1.0 - current / baseline,
    }
}

/// The absolute bounds of `entry`'s levels, checked on its value alone (no baseline
/// needed): the worst verdict they give (`Unchanged` when none is crossed), why,
/// whether it has any absolute bound, and the rule that set its levels.
pub fn absolute_verdict(
    entry: &Entry,
    policy: &Policy,
) -> Result<(Verdict, String, bool, Option<String>), GateError> {
    let id = &entry.id;
    let (levels, rule) = policy.levels_for(id, entry.source);
    let mut verdict = Verdict::Unchanged;
    let mut reason = String::new();
    let mut has_absolute = false;
    for (level, bounds) in [
        (Verdict::Critical, &levels.critical),
        (Verdict::Warning, &levels.warning),
    ] {
        for bound in bounds
            .iter()
            .filter(|b| matches!(b, Bound::Absolute { .. }))
        {
            has_absolute = true;
            let crossed = bound
                .crossed(entry, None)
                .map_err(|e| GateError::Thresholds {
                    path: policy.path.clone(),
                    detail: format!("{}: benchmark {id:?}: {e}", rule.unwrap_or("defaults")),
                })?;
            if verdict > level && crossed {
                verdict = level;
                let Bound::Absolute { value, unit } = bound else {
                    unreachable!()
                };
                let shown = unit.map_or(format!("{value}"), |u| u.format(*value));
                let side = if entry.direction == Direction::LowerIsBetter {
                    "above"
                } else {
                    "below"
                };
                reason = format!(
                    "{} {side} the absolute {} bound {shown}",
                    entry.unit.format(entry.value),
                    level.name()
                );
            }
        }
    }
    Ok((verdict, reason, has_absolute, rule.map(str::to_owned)))
}

/// Decides every benchmark. `incomparable` lists the sources whose environment differs
/// from the baseline's where it matters, with the reason.
pub fn decide(
    current: &Results,
    baseline: Option<&Results>,
    policy: &Policy,
    incomparable: &[(Source, String)],
) -> Result<Decision, GateError> {
    let empty = Results::new();
    let base = baseline.unwrap_or(&empty);
    let ids: BTreeSet<&String> = current.keys().chain(base.keys()).collect();

    // Pass 1: raw p-values of every wall-time pair that has samples on both sides.
    let mut reg_p = Vec::new();
    let mut imp_p = Vec::new();
    let mut tested: Vec<&str> = Vec::new();
    for id in &ids {
        if let (Some(c), Some(b)) = (current.get(*id), base.get(*id))
            && c.source == Source::WallTime
            && b.source == c.source
            && c.samples.len() >= 3
            && b.samples.len() >= 3
            && !incomparable.iter().any(|(s, _)| *s == c.source)
        {
            let (worse, better) = match c.direction {
                Direction::LowerIsBetter => (
                    mann_whitney_greater(&b.samples, &c.samples),
                    mann_whitney_greater(&c.samples, &b.samples),
                ),
                Direction::HigherIsBetter => (
                    mann_whitney_greater(&c.samples, &b.samples),
                    mann_whitney_greater(&b.samples, &c.samples),
                ),
            };
            reg_p.push(worse);
            imp_p.push(better);
            tested.push(id.as_str());
        }
    }
    let reg_adj = holm(&reg_p);
    let imp_adj = holm(&imp_p);
    let adjusted = |id: &str| {
        tested
            .iter()
            .position(|t| *t == id)
            .map(|i| (reg_adj[i], imp_adj[i]))
    };

    // Pass 2: verdicts.
    let mut comparisons = Vec::with_capacity(ids.len());
    let mut judged = 0;
    for id in ids {
        let Some(entry) = current.get(id) else {
            let b = &base[id];
            comparisons.push(Comparison {
                id: id.clone(),
                source: b.source,
                unit: b.unit,
                direction: b.direction,
                verdict: Verdict::Missing,
                current: None,
                baseline: Some(b.value),
                change: None,
                ci: None,
                p_value: None,
                levels: None,
                rule: None,
                reason: "in the baseline, not in this run".into(),
                mde: None,
                paired: None,
            });
            continue;
        };
        let (levels, rule) = policy.levels_for(id, entry.source);
        // Absolute bounds: on every run.
        let (verdict, reason, has_absolute, _) = absolute_verdict(entry, policy)?;

        let mut comparison = Comparison {
            id: id.clone(),
            source: entry.source,
            unit: entry.unit,
            direction: entry.direction,
            verdict,
            current: Some(entry.value),
            baseline: None,
            change: None,
            ci: entry.ci,
            p_value: None,
            levels: None,
            rule: rule.map(str::to_owned),
            reason,
            mde: None,
            paired: None,
        };
        let b = base.get(id).filter(|b| b.source == entry.source);
        let Some(b) = b else {
            if has_absolute {
                judged += 1;
            }
            if comparison.verdict == Verdict::Unchanged {
                comparison.verdict = Verdict::New;
                comparison.reason = "not in the baseline".into();
            }
            comparisons.push(comparison);
            continue;
        };
        comparison.baseline = Some(b.value);
        comparison.change = Some(entry.value / b.value - 1.0);
        if let Some((_, why)) = incomparable.iter().find(|(s, _)| *s == entry.source) {
            if has_absolute {
                judged += 1;
            }
            if comparison.verdict == Verdict::Unchanged {
                comparison.verdict = Verdict::Incomparable;
                comparison.reason = why.clone();
            }
            comparisons.push(comparison);
            continue;
        }
        judged += 1;

        // Relative levels, never tighter than the calibrated noise band: a warning needs
        // a change beyond anything the A/A runs showed, a critical one `noise_margin`
        // times that (the band is the largest of a few A/A changes; a later run can
        // exceed it by chance, rarely by half again).
        let noise = b.noise.unwrap_or(0.0).max(entry.noise.unwrap_or(0.0));
        let warn = levels.relative_warning().map(|w| w.max(noise));
        let crit = levels
            .relative_critical()
            .map(|c| c.max(noise * policy.noise_margin));
        comparison.levels = match (warn, crit) {
            (Some(w), Some(c)) => Some([w, c]),
            (Some(w), None) => Some([w, f64::INFINITY]),
            (None, Some(c)) => Some([c, c]),
            (None, None) => None,
        };
        let r = regression(entry.direction, entry.value, b.value);
        let (significant_worse, significant_better) = match adjusted(id) {
            Some((pw, pb)) => {
                comparison.p_value = Some(if r >= 0.0 { pw } else { pb });
                (pw <= policy.alpha, pb <= policy.alpha)
            }
            // Exact sources (instruction counts), or no samples: the change is the evidence.
            None => (true, true),
        };
        let relative = if crit.is_some_and(|c| r > c) && significant_worse {
            Some((Verdict::Critical, crit.unwrap_or_default()))
        } else if warn.is_some_and(|w| r > w) && significant_worse {
            Some((Verdict::Warning, warn.unwrap_or_default()))
        } else if warn.is_some_and(|w| -r > w) && significant_better {
            Some((Verdict::Improved, warn.unwrap_or_default()))
        } else {
            None
        };
        match relative {
            Some((v, level)) if v < comparison.verdict => {
                comparison.verdict = v;
                let what = if v == Verdict::Improved {
                    "better"
                } else {
                    "worse"
                };
                comparison.reason = format!(
                    "{:.2} % {what}, beyond the {:.2} % level",
                    r.abs() * 100.0,
                    level * 100.0
                );
                if let Some(p) = comparison.p_value {
                    comparison.reason += &format!(", p = {p:.2e}");
                }
            }
            _ if comparison.verdict == Verdict::Unchanged => {
                comparison.reason = match (warn, comparison.p_value) {
                    (Some(w), Some(p)) if r.abs() > w => {
                        format!(
                            "{:.2} % change, not significant (p = {p:.2e} > α = {})",
                            r * 100.0,
                            policy.alpha
                        )
                    }
                    _ => "within the levels".into(),
                };
            }
            _ => {}
        }
        comparisons.push(comparison);
    }
    comparisons.sort_by(|a, b| a.verdict.cmp(&b.verdict).then_with(|| a.id.cmp(&b.id)));
    Ok(Decision {
        comparisons,
        judged,
    })
}

/// Scales every wall-time sample and value of `results` by `factor` (a synthetic
/// regression, for checking that the gate catches one).
pub fn scaled(results: &Results, source: Source, factor: f64) -> Results {
    results
        .iter()
        .map(|(id, e)| {
            let mut e: Entry = e.clone();
            if e.source == source {
                e.value *= factor;
                e.ci = e.ci.map(|[lo, hi]| [lo * factor, hi * factor]);
                e.samples.iter_mut().for_each(|s| *s *= factor);
            }
            (id.clone(), e)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Unit;

    fn wall(id: &str, center: f64, jitter: f64) -> Entry {
        // Deterministic pseudo-noise: ±jitter around center.
        let samples = (0..50u64)
            .map(|i| center * (1.0 + jitter * (((i * 7919) % 101) as f64 / 50.0 - 1.0)))
            .collect::<Vec<_>>();
        Entry {
            id: id.into(),
            source: Source::WallTime,
            unit: Unit::Nanoseconds,
            direction: Direction::LowerIsBetter,
            value: crate::model::median(&samples),
            ci: None,
            samples,
            noise: None,
            extra: Default::default(),
        }
    }

    fn instr(id: &str, v: f64) -> Entry {
        Entry {
            id: id.into(),
            source: Source::Instructions,
            unit: Unit::Count,
            direction: Direction::LowerIsBetter,
            value: v,
            ci: None,
            samples: vec![],
            noise: None,
            extra: Default::default(),
        }
    }

    fn set(entries: Vec<Entry>) -> Results {
        entries.into_iter().map(|e| (e.id.clone(), e)).collect()
    }

    fn verdict_of(d: &Decision, id: &str) -> Verdict {
        d.comparisons.iter().find(|c| c.id == id).unwrap().verdict
    }

    #[test]
    fn every_kind_of_verdict() {
        let policy = Policy::builtin();
        let base = set(vec![
            wall("same", 100.0, 0.02),
            wall("slower", 100.0, 0.02),
            wall("faster", 100.0, 0.02),
            wall("gone", 100.0, 0.02),
            instr("i/up", 1000.0),
            instr("i/warn", 1000.0),
        ]);
        let cur = set(vec![
            wall("same", 100.0, 0.02),
            wall("slower", 115.0, 0.02),
            wall("faster", 80.0, 0.02),
            wall("fresh", 100.0, 0.02),
            instr("i/up", 1040.0),
            instr("i/warn", 1015.0),
        ]);
        let d = decide(&cur, Some(&base), &policy, &[]).unwrap();
        assert_eq!(verdict_of(&d, "same"), Verdict::Unchanged);
        assert_eq!(verdict_of(&d, "slower"), Verdict::Critical);
        assert_eq!(verdict_of(&d, "faster"), Verdict::Improved);
        assert_eq!(verdict_of(&d, "gone"), Verdict::Missing);
        assert_eq!(verdict_of(&d, "fresh"), Verdict::New);
        assert_eq!(verdict_of(&d, "i/up"), Verdict::Critical);
        assert_eq!(verdict_of(&d, "i/warn"), Verdict::Warning);
        assert_eq!(d.comparisons[0].verdict, Verdict::Critical, "worst first");
        assert_eq!(d.judged, 5);
        let d = decide(
            &cur,
            Some(&base),
            &policy,
            &[(Source::Instructions, "rustc differs".into())],
        )
        .unwrap();
        assert_eq!(verdict_of(&d, "i/up"), Verdict::Incomparable);
    }

    #[test]
    fn a_large_but_noisy_change_is_not_a_regression() {
        // Two overlapping, very noisy sample sets whose medians differ by 12 %.
        let b = wall("x", 100.0, 0.9);
        let mut c = b.clone();
        c.samples.rotate_left(1);
        c.value = b.value * 1.12;
        let d = decide(&set(vec![c]), Some(&set(vec![b])), &Policy::builtin(), &[]).unwrap();
        assert_eq!(
            d.comparisons[0].verdict,
            Verdict::Unchanged,
            "{:?}",
            d.comparisons[0]
        );
        assert!(d.comparisons[0].reason.contains("not significant"));
    }

    #[test]
    fn the_noise_band_raises_the_levels() {
        let b = wall("x", 100.0, 0.01);
        let mut noisy = b.clone();
        noisy.noise = Some(0.2);
        let c = wall("x", 115.0, 0.01);
        let d = decide(
            &set(vec![c.clone()]),
            Some(&set(vec![b])),
            &Policy::builtin(),
            &[],
        )
        .unwrap();
        assert_eq!(d.comparisons[0].verdict, Verdict::Critical);
        let d = decide(
            &set(vec![c]),
            Some(&set(vec![noisy.clone()])),
            &Policy::builtin(),
            &[],
        )
        .unwrap();
        assert_eq!(d.comparisons[0].verdict, Verdict::Unchanged);
        // Warning at the band, critical at noise_margin (1.5) × the band.
        let levels = d.comparisons[0].levels.unwrap();
        assert!((levels[0] - 0.2).abs() < 1e-12 && (levels[1] - 0.3).abs() < 1e-12);
        for (value, verdict) in [(125.0, Verdict::Warning), (135.0, Verdict::Critical)] {
            let d = decide(
                &set(vec![wall("x", value, 0.01)]),
                Some(&set(vec![noisy.clone()])),
                &Policy::builtin(),
                &[],
            )
            .unwrap();
            assert_eq!(d.comparisons[0].verdict, verdict, "{value}");
        }
    }

    #[test]
    fn absolute_bounds_apply_without_a_baseline() {
        let policy = Policy::parse(
            "[defaults]\n[[rule]]\nmatch = \"slo\"\ncritical = [\"10%\", \"1s\"]\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let d = decide(&set(vec![wall("slo", 2e9, 0.01)]), None, &policy, &[]).unwrap();
        assert_eq!(d.comparisons[0].verdict, Verdict::Critical);
        assert!(
            d.comparisons[0]
                .reason
                .contains("above the absolute critical bound 1.000 s"),
            "{}",
            d.comparisons[0].reason
        );
        assert_eq!(d.judged, 1);
        let d = decide(&set(vec![wall("other", 2e9, 0.01)]), None, &policy, &[]).unwrap();
        assert_eq!((d.comparisons[0].verdict, d.judged), (Verdict::New, 0));
    }

    #[test]
    fn holm_controls_the_suite_wide_false_alarm_rate() {
        // 200 benchmarks, each 3 % slower with heavy overlap: individually some would
        // pass α = 0.01 by luck; after Holm, and with a 5 % level, none is flagged.
        let base = set((0..200)
            .map(|i| wall(&format!("b{i}"), 100.0, 0.5))
            .collect());
        let cur = scaled(&base, Source::WallTime, 1.03);
        let d = decide(&cur, Some(&base), &Policy::builtin(), &[]).unwrap();
        assert_eq!(d.count(Verdict::Critical) + d.count(Verdict::Warning), 0);
        let cur = scaled(&base, Source::WallTime, 1.5);
        let d = decide(&cur, Some(&base), &Policy::builtin(), &[]).unwrap();
        assert_eq!(d.count(Verdict::Critical), 200);
    }
}
