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

use std::collections::BTreeMap;

use crate::GateError;
use crate::model::{Direction, Entry, Results, Source};
use crate::stats::{holm, mann_whitney_greater};
use crate::thresholds::{Bound, Policy};
use crate::verdict::{Comparison, Decision, Verdict};

/// The regression in the bad direction: +0.1 = 10 % worse.
fn regression(direction: Direction, current: f64, baseline: f64) -> f64 {
    match direction {
        Direction::LowerIsBetter => current / baseline - 1.0,
        Direction::HigherIsBetter => 1.0 - current / baseline,
    }
}

/// What the absolute bounds of a benchmark's levels say about its value alone.
#[derive(Clone, Debug, PartialEq)]
pub struct Absolute {
    /// The worst verdict they give (`Unchanged` when none is crossed).
    pub verdict: Verdict,
    /// Which bound was crossed.
    pub reason: String,
    /// Whether the benchmark has any absolute bound (it is then judged on every run).
    pub any: bool,
    /// The rule that set the benchmark's levels.
    pub rule: Option<String>,
}

/// The absolute bounds of `entry`'s levels, checked on its value alone (no baseline
/// needed).
pub fn absolute_verdict(entry: &Entry, policy: &Policy) -> Result<Absolute, GateError> {
    let id = &entry.id;
    let (levels, rule) = policy.levels_for(id, entry.source);
    let mut found = Absolute {
        verdict: Verdict::Unchanged,
        reason: String::new(),
        any: false,
        rule: rule.map(str::to_owned),
    };
    for (level, bounds) in [
        (Verdict::Critical, &levels.critical),
        (Verdict::Warning, &levels.warning),
    ] {
        for bound in bounds {
            let Bound::Absolute { value, unit } = bound else {
                continue;
            };
            found.any = true;
            let crossed = bound
                .crossed(entry, None)
                .map_err(|e| GateError::Thresholds {
                    path: policy.path.clone(),
                    detail: format!("{}: benchmark {id:?}: {e}", rule.unwrap_or("defaults")),
                })?;
            if found.verdict > level && crossed {
                let shown = unit.map_or(format!("{value}"), |u| u.format(*value));
                let side = match entry.direction {
                    Direction::LowerIsBetter => "above",
                    Direction::HigherIsBetter => "below",
                };
                found.verdict = level;
                found.reason = format!(
                    "{} {side} the absolute {} bound {shown}",
                    entry.unit.format(entry.value),
                    level.name()
                );
            }
        }
    }
    Ok(found)
}

/// The Holm-adjusted one-sided p-values (worse, better) of every wall-time benchmark
/// with at least three samples on both sides, by id.
fn wall_time_p_values<'a>(
    current: &'a Results,
    base: &Results,
    incomparable: &[(Source, String)],
) -> BTreeMap<&'a str, (f64, f64)> {
    let (mut ids, mut worse, mut better) = (Vec::new(), Vec::new(), Vec::new());
    for (id, c) in current {
        let Some(b) = base.get(id) else { continue };
        if c.source != Source::WallTime
            || b.source != c.source
            || c.samples.len() < 3
            || b.samples.len() < 3
            || incomparable.iter().any(|(s, _)| *s == c.source)
        {
            continue;
        }
        let (high, low) = match c.direction {
            Direction::LowerIsBetter => (&c.samples, &b.samples),
            Direction::HigherIsBetter => (&b.samples, &c.samples),
        };
        worse.push(mann_whitney_greater(low, high));
        better.push(mann_whitney_greater(high, low));
        ids.push(id.as_str());
    }
    let (worse, better) = (holm(&worse), holm(&better));
    ids.into_iter().zip(worse.into_iter().zip(better)).collect()
}

/// The relative warning and critical levels of `entry` against `base`, never tighter
/// than the calibrated noise band: a warning needs a change beyond anything the A/A
/// runs showed, a critical one `noise_margin` times that (the band is the largest of a
/// few A/A changes; a later run can exceed it by chance, rarely by half again).
fn relative_levels(entry: &Entry, base: &Entry, policy: &Policy) -> (Option<f64>, Option<f64>) {
    let (levels, _) = policy.levels_for(&entry.id, entry.source);
    let noise = base.noise.unwrap_or(0.0).max(entry.noise.unwrap_or(0.0));
    let warn = levels.relative_warning().map(|w| w.max(noise));
    let crit = levels
        .relative_critical()
        .map(|c| c.max(noise * policy.noise_margin));
    (warn, crit)
}

/// The verdict of `entry` against a comparable `base` and why, in order of precedence:
/// critical, warning, improved (each beyond its level and significant), unchanged.
/// Fills `c`'s levels and p-value. `p` is (worse, better), `None` for exact sources
/// (instruction counts) or no samples, where the change itself is the evidence.
fn relative_verdict(
    entry: &Entry,
    base: &Entry,
    p: Option<(f64, f64)>,
    policy: &Policy,
    c: &mut Comparison,
) -> (Verdict, String) {
    let (warn, crit) = relative_levels(entry, base, policy);
    c.levels = match (warn, crit) {
        (Some(w), Some(c)) => Some([w, c]),
        (Some(w), None) => Some([w, f64::INFINITY]),
        (None, Some(c)) => Some([c, c]),
        (None, None) => None,
    };
    let r = regression(entry.direction, entry.value, base.value);
    c.p_value = p.map(|(worse, better)| if r >= 0.0 { worse } else { better });
    let (worse, better) = p.map_or((true, true), |(w, b)| {
        (w <= policy.alpha, b <= policy.alpha)
    });
    let beyond = |level: Option<f64>, x: f64| level.filter(|l| x > *l);
    let found = [
        (Verdict::Critical, beyond(crit, r).filter(|_| worse)),
        (Verdict::Warning, beyond(warn, r).filter(|_| worse)),
        (Verdict::Improved, beyond(warn, -r).filter(|_| better)),
    ]
    .into_iter()
    .find_map(|(v, level)| level.map(|l| (v, l)));
    let p_note = c
        .p_value
        .map(|p| format!(", p = {p:.2e}"))
        .unwrap_or_default();
    match found {
        Some((v, level)) => {
            let what = if v == Verdict::Improved {
                "better"
            } else {
                "worse"
            };
            let (r, level) = (r.abs() * 100.0, level * 100.0);
            (
                v,
                format!("{r:.2} % {what}, beyond the {level:.2} % level{p_note}"),
            )
        }
        None => match (warn, c.p_value) {
            (Some(w), Some(p)) if r.abs() > w => (
                Verdict::Unchanged,
                format!(
                    "{:.2} % change, not significant (p = {p:.2e} > α = {})",
                    r * 100.0,
                    policy.alpha
                ),
            ),
            _ => (Verdict::Unchanged, "within the levels".into()),
        },
    }
}

/// One benchmark of the run: its comparison, and whether it was judged (against a
/// comparable baseline or an absolute bound).
fn judge(
    entry: &Entry,
    base: Option<&Entry>,
    p: Option<(f64, f64)>,
    policy: &Policy,
    incomparable: &[(Source, String)],
) -> Result<(Comparison, bool), GateError> {
    let absolute = absolute_verdict(entry, policy)?;
    let mut c = Comparison::of(entry);
    c.rule = absolute.rule.clone();
    let base = base.filter(|b| b.source == entry.source);
    if let Some(b) = base {
        c.baseline = Some(b.value);
        c.change = Some(entry.value / b.value - 1.0);
    }
    let why_incomparable = incomparable.iter().find(|(s, _)| *s == entry.source);
    let relative = match (base, why_incomparable) {
        (None, _) => (Verdict::New, "not in the baseline".to_owned()),
        (Some(_), Some((_, why))) => (Verdict::Incomparable, why.clone()),
        (Some(b), None) => relative_verdict(entry, b, p, policy, &mut c),
    };
    // The worse of the two verdicts wins; on a tie, the absolute bound's reason, unless
    // nothing was crossed.
    (c.verdict, c.reason) =
        if relative.0 < absolute.verdict || absolute.verdict == Verdict::Unchanged {
            relative
        } else {
            (absolute.verdict, absolute.reason)
        };
    let judged = absolute.any || (base.is_some() && why_incomparable.is_none());
    Ok((c, judged))
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
    let p_values = wall_time_p_values(current, base, incomparable);
    let mut comparisons = Vec::with_capacity(current.len() + base.len());
    let mut judged = 0;
    for (id, entry) in current {
        let p = p_values.get(id.as_str()).copied();
        let (c, counted) = judge(entry, base.get(id), p, policy, incomparable)?;
        judged += usize::from(counted);
        comparisons.push(c);
    }
    for (id, b) in base.iter().filter(|(id, _)| !current.contains_key(*id)) {
        let mut c = Comparison::new(id, b.source, b.unit, b.direction);
        c.verdict = Verdict::Missing;
        c.baseline = Some(b.value);
        c.reason = "in the baseline, not in this run".into();
        comparisons.push(c);
    }
    Ok(Decision::sorted(comparisons, judged))
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
    fn an_absolute_bound_crossed_stays_critical_beside_an_unchanged_baseline() {
        let policy = Policy::parse(
            "[defaults]\n[[rule]]\nmatch = \"slo\"\ncritical = [\"10%\", \"1s\"]\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let base = set(vec![wall("slo", 2e9, 0.01)]);
        let d = decide(
            &set(vec![wall("slo", 2e9, 0.01)]),
            Some(&base),
            &policy,
            &[],
        )
        .unwrap();
        let c = &d.comparisons[0];
        assert_eq!(c.verdict, Verdict::Critical, "{}", c.reason);
        assert!(c.reason.contains("absolute critical bound"), "{}", c.reason);
        assert_eq!(d.judged, 1);
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
