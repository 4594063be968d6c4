//! The paired decision behind `bench-gate ab`: base and head measured in interleaved
//! rounds on one machine, each round giving one value per side. Pure: no I/O.
//!
//! Per benchmark, each round's pair gives a log-ratio d = ln(head / base) (or
//! ln(base / head) for a higher-is-better metric, so d > 0 is always "worse"). A slow
//! minute of the machine hits both sides of a round, so it cancels in d; what is left is
//! the change plus the round-to-round noise of the pair.
//!
//! - The effect is the mean of d, its interval Student's t on the rounds (n − 1 degrees
//!   of freedom). Why not a rank method (Hodges–Lehmann with Wilcoxon's interval): with
//!   n rounds a signed-rank test cannot give a p-value below 2^-n, so after Holm across
//!   a suite of m benchmarks (α/m ≈ 7e-4 for 74) nothing could ever be critical with
//!   fewer than 11 rounds. An outlier round widens t's interval (the benchmark loses
//!   power in that run) but cannot fake a regression: it moves the mean by O/n and the
//!   standard error by about O/n too. docs/gate.md has the measurements.
//! - **critical**: Holm-adjusted across every paired benchmark, the one-sided test of
//!   "the regression is at most the critical level" rejects at `alpha`: the whole
//!   simultaneous interval lies beyond the level.
//! - **warning** / **improved**: Benjamini–Hochberg across the suite at `fdr`, the
//!   one-sided test against the warning level (a regression, or an improvement, larger
//!   than the warning level).
//! - Every verdict carries its **minimum detectable effect**: the regression this run
//!   would have called critical with 80 % probability, at this benchmark's noise and
//!   the suite's multiplicity. A change below it can have been missed.
//! - Pairs that split into two groups (a gap between two clusters of the per-round
//!   changes much wider than either cluster) are reported with both groups: the change
//!   shows in some rounds and not in others, and the interval is wide accordingly.
//! - Absolute bounds of the policy's rules are checked on the head's value, as in `check`,
//!   when the values were measured alone (not in shared-CPU pairs).

use crate::GateError;
use crate::decide::absolute_verdict;
use crate::model::{Direction, Entry, Source, Unit};
use crate::stats::{benjamini_hochberg, holm, t_quantile, t_sf};
use crate::thresholds::{PairedLevels, Policy};
use crate::verdict::{Comparison, Decision, PairedStats, Verdict};

/// The fewest paired rounds a verdict needs.
pub const MIN_ROUNDS: usize = 3;

/// The power the minimum detectable effect is stated at.
pub const MDE_POWER: f64 = 0.8;

/// One benchmark's per-round values on both sides (`None`: the round has no value on
/// that side, e.g. the benchmark does not exist there).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rounds {
    /// The benchmark id.
    pub id: String,
    /// The values' unit.
    pub unit: Unit,
    /// Which way is better.
    pub direction: Direction,
    /// The base's value per round.
    pub base: Vec<Option<f64>>,
    /// The head's value per round.
    pub head: Vec<Option<f64>>,
    /// How the rounds were measured (`lockstep, CPU 1`, `process rounds, shared CPU`).
    pub measured: String,
}

impl Rounds {
    /// The per-round log-ratios of the rounds with a value on both sides, in the
    /// "worse" direction.
    pub fn log_ratios(&self) -> Vec<f64> {
        log_ratios(self).0
    }
}

/// The per-round log-ratios in the "worse" direction, and the rounds' values per side.
fn log_ratios(r: &Rounds) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut d, mut base, mut head) = (Vec::new(), Vec::new(), Vec::new());
    for (b, h) in r.base.iter().zip(&r.head) {
        if let (Some(b), Some(h)) = (b, h)
            && let Some(x) = log_ratio(*b, *h, r.direction)
        {
            d.push(x);
            base.push(*b);
            head.push(*h);
        }
    }
    (d, base, head)
}

/// The per-round log-ratio of one pair in the "worse" direction (`None` unless both
/// values are positive).
fn log_ratio(base: f64, head: f64, direction: Direction) -> Option<f64> {
    (base > 0.0 && head > 0.0).then(|| match direction {
        Direction::LowerIsBetter => (head / base).ln(),
        Direction::HigherIsBetter => (base / head).ln(),
    })
}

/// The share of rounds trimmed from each end once there are [`TRIM_FROM`] rounds.
pub const TRIM: f64 = 0.2;

/// The fewest rounds that are trimmed; fewer have none to spare.
pub const TRIM_FROM: usize = 10;

/// The spread of `d` the decision sees: the standard error of its trimmed mean times
/// the square root of its count (for 10 or more values, the winsorized standard
/// deviation scaled to the trimmed mean's).
pub fn spread(d: &[f64]) -> f64 {
    let (_, se, _) = mean_se(d);
    se * (d.len() as f64).sqrt()
}

/// The location of `d`, its standard error and degrees of freedom: the 20 % trimmed
/// mean with Yuen's standard error (from the winsorized variance) and `h − 1` degrees
/// of freedom, `h` the rounds kept; under [`TRIM_FROM`] rounds, the mean and Student's
/// t. A few rounds far out (a process that landed in a slow memory layout, measured:
/// one pair in ten at +7 % where the rest agree within 0.3 %) then cost the interval
/// little instead of setting its width.
fn mean_se(d: &[f64]) -> (f64, f64, f64) {
    let n = d.len();
    let g = if n >= TRIM_FROM {
        (TRIM * n as f64) as usize
    } else {
        0
    };
    let mut sorted = d.to_vec();
    sorted.sort_by(f64::total_cmp);
    let kept = &sorted[g..n - g];
    let h = kept.len() as f64;
    let center = kept.iter().sum::<f64>() / h;
    let (low, high) = (sorted[g], sorted[n - g - 1]);
    let winsorized: Vec<f64> = sorted.iter().map(|x| x.clamp(low, high)).collect();
    let wmean = winsorized.iter().sum::<f64>() / n as f64;
    let wvar = winsorized.iter().map(|x| (x - wmean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    let se = ((n as f64 - 1.0) * wvar / (h * (h - 1.0))).sqrt();
    (center, se, h - 1.0)
}

/// P(T > (mean − level) / se): one-sided evidence that the effect exceeds `level`.
fn p_beyond(mean: f64, se: f64, df: f64, level: f64) -> f64 {
    if se == 0.0 {
        return if mean > level { 0.0 } else { 1.0 };
    }
    t_sf((mean - level) / se, df)
}

/// The minimum detectable effect of per-round log-ratios `d` (worse direction) in a suite
/// of `suite` judged benchmarks: the relative regression this run would call critical
/// with [`MDE_POWER`] probability, at these rounds' noise (`None` under
/// [`MIN_ROUNDS`]).
pub fn minimum_detectable(d: &[f64], suite: usize, levels: &PairedLevels) -> Option<f64> {
    if d.len() < MIN_ROUNDS {
        return None;
    }
    let (_, se, df) = mean_se(d);
    Some(mde_of(se, df, suite.max(1) as f64, levels))
}

/// The rounds at which rounds like `d` would reach a minimum detectable effect of
/// `target`, their spread staying as it is (`None`: fewer than [`MIN_ROUNDS`], or not
/// within a million rounds, as for a target at or under the critical level).
pub fn rounds_needed(d: &[f64], suite: usize, levels: &PairedLevels, target: f64) -> Option<usize> {
    if d.len() < MIN_ROUNDS {
        return None;
    }
    let sd = spread(d);
    let m = suite.max(1) as f64;
    let reached = |n: usize| {
        let g = if n >= TRIM_FROM {
            (TRIM * n as f64) as usize
        } else {
            0
        };
        let df = (n - 2 * g) as f64 - 1.0;
        mde_of(sd / (n as f64).sqrt(), df, m, levels) <= target
    };
    let (mut low, mut high) = (d.len(), d.len());
    while !reached(high) {
        if high >= 1_000_000 {
            return None;
        }
        (low, high) = (high, high * 2);
    }
    while high - low > 1 {
        let mid = (low + high) / 2;
        if reached(mid) { high = mid } else { low = mid }
    }
    Some(if reached(low) { low } else { high })
}

/// The minimum detectable effect at standard error `se` with `df` degrees of freedom, in
/// a suite of `m` benchmarks.
fn mde_of(se: f64, df: f64, m: f64, levels: &PairedLevels) -> f64 {
    let t_alpha = t_quantile(1.0 - levels.alpha / m, df);
    let t_power = t_quantile(MDE_POWER, df);
    ((1.0 + levels.critical).ln() + (t_alpha + t_power) * se).exp() - 1.0
}

fn median(v: &[f64]) -> f64 {
    crate::model::median(v)
}

/// Two speeds in `values`: the widest relative gap between neighbours (sorted), when it
/// is over 5 % and over four times the relative spread of each side of it.
pub fn two_speeds(values: &[f64]) -> Option<(f64, f64, f64, f64)> {
    if values.len() < 4 {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let (k, gap) = (0..v.len() - 1)
        .map(|i| (i, v[i + 1] / v[i] - 1.0))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let (low, high) = v.split_at(k + 1);
    let spread = |c: &[f64]| c[c.len() - 1] / c[0] - 1.0;
    (gap > 0.05 && gap > 4.0 * spread(low).max(spread(high)).max(0.002))
        .then(|| (low[0], low[low.len() - 1], high[0], high[high.len() - 1]))
}

/// One benchmark's adjusted p-values: beyond the critical level (Holm), beyond the
/// warning level and better than it (Benjamini–Hochberg).
struct Adjusted {
    critical: f64,
    warning: f64,
    better: f64,
}

/// The verdict on a judged benchmark and why, in order of precedence: critical, warning,
/// improved, inconclusive (its MDE above the target), unchanged.
fn verdict_of(
    regression: f64,
    mde: f64,
    p: Adjusted,
    levels: &PairedLevels,
    judging: Judging,
) -> (Verdict, String) {
    let pct = |x: f64| x * 100.0;
    if p.critical <= levels.alpha {
        let (r, c, a) = (pct(regression), pct(levels.critical), levels.alpha);
        return (
            Verdict::Critical,
            format!("{r:.2} % worse; beyond the {c:.2} % level with α = {a} across the suite"),
        );
    }
    if p.warning <= levels.fdr {
        let (r, w) = (pct(regression), pct(levels.warning));
        return (
            Verdict::Warning,
            format!("{r:.2} % worse, beyond the {w:.2} % warning level"),
        );
    }
    if p.better <= levels.fdr {
        let (r, w) = (pct(-regression), pct(levels.warning));
        return (
            Verdict::Improved,
            format!("{r:.2} % better, beyond the {w:.2} % level"),
        );
    }
    if let Some(target) = judging.target_mde.filter(|t| mde > *t) {
        let (m, t) = (pct(mde), pct(target));
        return (
            Verdict::Inconclusive,
            format!(
                "no change seen, but a regression under {m:.2} % could not be seen here \
                 (the target is {t:.2} %)"
            ),
        );
    }
    let m = pct(mde);
    (
        Verdict::Unchanged,
        format!("within the noise: a regression under {m:.2} % could not be seen here"),
    )
}

/// How a run's values are judged beyond the policy.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Judging {
    /// The values were measured alone (not sharing a CPU with the other side): the
    /// policy's absolute bounds are checked on the head's values.
    pub absolute: bool,
    /// A benchmark judged unchanged whose minimum detectable effect is above this is
    /// `inconclusive`: the run could not have seen a regression the user cares about.
    pub target_mde: Option<f64>,
}

/// One benchmark's location, standard error and degrees of freedom of its per-round
/// log-ratios (see [`mean_se`]).
struct Judged {
    mean: f64,
    se: f64,
    df: f64,
}

/// The suite's adjusted p-values, one per judged benchmark in order: beyond the critical
/// level (Holm), beyond the warning level and better than it (Benjamini–Hochberg).
fn adjust(judged: &[&Judged], levels: &PairedLevels) -> Vec<Adjusted> {
    let (crit, warn) = ((1.0 + levels.critical).ln(), (1.0 + levels.warning).ln());
    let p = |f: &dyn Fn(&Judged) -> f64| judged.iter().map(|j| f(j)).collect::<Vec<_>>();
    let critical = holm(&p(&|j| p_beyond(j.mean, j.se, j.df, crit)));
    let warning = benjamini_hochberg(&p(&|j| p_beyond(j.mean, j.se, j.df, warn)));
    let better = benjamini_hochberg(&p(&|j| p_beyond(-j.mean, j.se, j.df, warn)));
    (0..judged.len())
        .map(|k| Adjusted {
            critical: critical[k],
            warning: warning[k],
            better: better[k],
        })
        .collect()
}

/// The comparison of `r` before any paired judgement: the sides' medians, the paired
/// levels, and the policy's absolute bounds checked on the head's value when
/// `absolute`. Also says whether it has an absolute bound.
fn start(r: &Rounds, policy: &Policy, absolute: bool) -> Result<(Comparison, bool), GateError> {
    let mut c = Comparison::new(&r.id, Source::WallTime, r.unit, r.direction);
    let values = |v: &[Option<f64>]| v.iter().flatten().copied().collect::<Vec<_>>();
    let (base, head) = (values(&r.base), values(&r.head));
    c.current = (!head.is_empty()).then(|| median(&head));
    c.baseline = (!base.is_empty()).then(|| median(&base));
    c.levels = Some([policy.paired.warning, policy.paired.critical]);
    let Some(value) = c.current.filter(|_| absolute) else {
        return Ok((c, false));
    };
    let entry = Entry {
        id: r.id.clone(),
        source: Source::WallTime,
        unit: r.unit,
        direction: r.direction,
        value,
        ci: None,
        samples: Vec::new(),
        noise: None,
        extra: Default::default(),
    };
    let found = absolute_verdict(&entry, policy)?;
    c.rule = found.rule;
    if found.verdict < Verdict::Unchanged {
        (c.verdict, c.reason) = (found.verdict, found.reason);
    }
    Ok((c, found.any))
}

/// Why a benchmark with too few paired rounds has no paired verdict.
fn unjudged(r: &Rounds, paired: usize) -> (Verdict, String) {
    let has = |v: &[Option<f64>]| v.iter().any(Option::is_some);
    match (has(&r.base), has(&r.head)) {
        (false, true) => (Verdict::New, "not on the base side".into()),
        (true, false) => (Verdict::Missing, "not on the head side".into()),
        _ => (
            Verdict::Incomparable,
            format!("{paired} paired round(s): a verdict needs {MIN_ROUNDS}"),
        ),
    }
}

/// The paired statistics of `r` as reported: changes are head / base − 1, signed as
/// measured.
fn paired_stats(r: &Rounds, j: &Judged) -> PairedStats {
    let (d, base_rounds, head_rounds) = log_ratios(r);
    let measured = |x: f64| match r.direction {
        Direction::LowerIsBetter => x.exp() - 1.0,
        Direction::HigherIsBetter => (-x).exp() - 1.0,
    };
    let half = t_quantile(0.975, j.df) * j.se;
    let mut change_ci = [measured(j.mean - half), measured(j.mean + half)];
    change_ci.sort_by(f64::total_cmp);
    let per_round: Vec<f64> = d.iter().map(|&x| measured(x)).collect();
    let spread = [
        per_round.iter().copied().fold(f64::INFINITY, f64::min),
        per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    ];
    // Two speeds in the per-round ratios: the pairs themselves split into two groups.
    let ratios: Vec<f64> = per_round.iter().map(|r| 1.0 + r).collect();
    let pct = |x: f64| (x - 1.0) * 100.0;
    let bimodal = two_speeds(&ratios).map(|(a, b, x, y)| {
        let (a, b, x, y) = (pct(a), pct(b), pct(x), pct(y));
        format!(
            "the per-round changes split into two groups: {a:+.2} % to {b:+.2} % and {x:+.2} % to {y:+.2} %"
        )
    });
    PairedStats {
        rounds: d.len(),
        change_ci,
        spread,
        bimodal,
        base_rounds,
        head_rounds,
        measured: r.measured.clone(),
    }
}

/// The paired verdicts for every benchmark in `rounds`, judged as `judging` says.
pub fn decide_paired(
    rounds: &[Rounds],
    policy: &Policy,
    judging: Judging,
) -> Result<Decision, GateError> {
    let levels = &policy.paired;
    let stats: Vec<Option<Judged>> = rounds
        .iter()
        .map(|r| {
            let (d, _, _) = log_ratios(r);
            (d.len() >= MIN_ROUNDS).then(|| {
                let (mean, se, df) = mean_se(&d);
                Judged { mean, se, df }
            })
        })
        .collect();
    let judged: Vec<&Judged> = stats.iter().flatten().collect();
    let suite = judged.len().max(1) as f64;
    let mut adjusted = adjust(&judged, levels).into_iter();
    let mut comparisons = Vec::with_capacity(rounds.len());
    let mut judged_count = 0;
    for (r, s) in rounds.iter().zip(&stats) {
        let (mut c, has_absolute) = start(r, policy, judging.absolute)?;
        let Some(j) = s else {
            judged_count += usize::from(has_absolute);
            if c.verdict == Verdict::Unchanged {
                (c.verdict, c.reason) = unjudged(r, log_ratios(r).0.len());
            }
            comparisons.push(c);
            continue;
        };
        judged_count += 1;
        let p = adjusted
            .next()
            .expect("one adjusted p-value per judged benchmark");
        let stats = paired_stats(r, j);
        let mde = mde_of(j.se, j.df, suite, levels);
        c.change = Some(match r.direction {
            Direction::LowerIsBetter => j.mean.exp() - 1.0,
            Direction::HigherIsBetter => (-j.mean).exp() - 1.0,
        });
        c.mde = Some(mde);
        c.p_value = Some(p.critical);
        if c.verdict == Verdict::Unchanged {
            (c.verdict, c.reason) = verdict_of(j.mean.exp() - 1.0, mde, p, levels, judging);
        }
        if let Some(b) = &stats.bimodal {
            c.reason = format!("{}; {b}", c.reason);
        }
        c.paired = Some(stats);
        comparisons.push(c);
    }
    Ok(Decision::sorted(comparisons, judged_count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Noise;

    const ALONE: Judging = Judging {
        absolute: true,
        target_mde: None,
    };

    fn rounds(id: &str, base: &[f64], head: &[f64]) -> Rounds {
        Rounds {
            id: id.into(),
            unit: Unit::Nanoseconds,
            direction: Direction::LowerIsBetter,
            base: base.iter().map(|&v| Some(v)).collect(),
            head: head.iter().map(|&v| Some(v)).collect(),
            measured: "test".into(),
        }
    }

    /// A suite of `m` benchmarks measured in `n` rounds: every round has a machine
    /// speed factor common to both sides, and each side its own noise of `cv`.
    fn suite(m: usize, n: usize, cv: f64, effect: f64, seed: u64) -> Vec<Rounds> {
        let mut rng = Noise::new(seed);
        (0..m)
            .map(|i| {
                let center = 1e3 * (1.0 + i as f64);
                let (mut b, mut h) = (Vec::new(), Vec::new());
                for _ in 0..n {
                    let machine = 1.0 + 0.2 * rng.unit();
                    b.push(center * machine * (1.0 + cv * rng.normal()));
                    h.push(center * machine * (1.0 + effect) * (1.0 + cv * rng.normal()));
                }
                rounds(&format!("b/{i}"), &b, &h)
            })
            .collect()
    }

    fn verdict(d: &Decision, id: &str) -> Verdict {
        d.comparisons.iter().find(|c| c.id == id).unwrap().verdict
    }

    #[test]
    fn unchanged_code_is_never_critical_though_the_machine_drifts() {
        let policy = Policy::builtin();
        let mut criticals = 0;
        let mut warnings = 0;
        for seed in 0..50 {
            let d = decide_paired(&suite(74, 6, 0.003, 0.0, seed), &policy, ALONE).unwrap();
            criticals += d.count(Verdict::Critical);
            warnings += d.count(Verdict::Warning);
        }
        assert_eq!(criticals, 0);
        assert!(warnings <= 50, "{warnings} warnings in 50 A/A suites");
    }

    #[test]
    fn a_three_percent_regression_is_critical_at_low_noise() {
        let policy = Policy::builtin();
        let mut suites = suite(74, 6, 0.003, 0.0, 9);
        let slow = suite(1, 6, 0.003, 0.03, 10).remove(0);
        suites[0] = Rounds {
            id: "b/slow".into(),
            ..slow
        };
        let d = decide_paired(&suites, &policy, ALONE).unwrap();
        assert_eq!(verdict(&d, "b/slow"), Verdict::Critical);
        let c = d.comparisons.iter().find(|c| c.id == "b/slow").unwrap();
        let [lo, hi] = c.paired.as_ref().unwrap().change_ci;
        assert!(lo < 0.03 && 0.03 < hi, "{lo}..{hi}");
        assert!(c.mde.unwrap() < 0.03, "{:?}", c.mde);
        assert_eq!(d.count(Verdict::Critical), 1);
    }

    #[test]
    fn the_early_stop_sees_the_minimum_detectable_effect_the_verdict_states() {
        let policy = Policy::builtin();
        let suite = suite(20, 7, 0.004, 0.0, 3);
        let d = decide_paired(&suite, &policy, ALONE).unwrap();
        for r in &suite {
            let (ratios, _, _) = log_ratios(r);
            let early = minimum_detectable(&ratios, suite.len(), &policy.paired).unwrap();
            let stated = d.comparisons.iter().find(|c| c.id == r.id).unwrap().mde;
            assert!(
                (early - stated.unwrap()).abs() < 1e-12,
                "{early} vs {stated:?}"
            );
        }
        // Fewer rounds than a verdict needs: no MDE; more rounds, a smaller one.
        let (ratios, _, _) = log_ratios(&suite[0]);
        assert_eq!(minimum_detectable(&ratios[..2], 20, &policy.paired), None);
        let few = minimum_detectable(&ratios[..4], 20, &policy.paired).unwrap();
        let all = minimum_detectable(&ratios, 20, &policy.paired).unwrap();
        assert!(all < few, "{all} vs {few}");
    }

    #[test]
    fn an_outlier_round_costs_power_but_never_fakes_a_regression() {
        let policy = Policy::builtin();
        // Five quiet rounds and one where only the head was 20 % slow.
        let base = [100.0, 100.2, 99.9, 100.1, 100.0, 100.0];
        let head = [100.1, 100.0, 100.0, 99.9, 100.2, 120.0];
        let d = decide_paired(&[rounds("x", &base, &head)], &policy, ALONE).unwrap();
        assert_ne!(verdict(&d, "x"), Verdict::Critical);
        let c = &d.comparisons[0];
        assert!(
            c.mde.unwrap() > 0.05,
            "the noisy run says it could not see much"
        );
    }

    /// Rounds whose log-ratios have a tight core (0.3 %) and, one in ten, a process
    /// that landed in a slow layout (±10 %), around `effect`.
    fn heavy_tailed(id: &str, n: usize, effect: f64, seed: u64) -> Rounds {
        let mut rng = Noise::new(seed);
        let (mut b, mut h) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let machine = 1.0 + 0.2 * rng.unit();
            let mut d = effect + 0.003 * rng.normal();
            if rng.unit() < 0.1 {
                d += if rng.unit() < 0.5 { 0.1 } else { -0.1 };
            }
            b.push(100.0 * machine);
            h.push(100.0 * machine * d.exp());
        }
        rounds(id, &b, &h)
    }

    #[test]
    fn rounds_far_out_cost_the_trimmed_interval_little_and_fake_nothing() {
        let policy = Policy::builtin();
        let (mut criticals, mut seen) = (0, 0);
        for seed in 0..40 {
            let mut suite: Vec<Rounds> = (0..20)
                .map(|i| heavy_tailed(&format!("b/{i}"), 20, 0.0, seed * 100 + i))
                .collect();
            suite.push(heavy_tailed("b/slow", 20, 0.02, seed * 100 + 99));
            let d = decide_paired(&suite, &policy, ALONE).unwrap();
            criticals += d
                .comparisons
                .iter()
                .filter(|c| c.id != "b/slow" && c.verdict == Verdict::Critical)
                .count();
            seen += usize::from(verdict(&d, "b/slow") == Verdict::Critical);
        }
        assert_eq!(criticals, 0, "false criticals in 40 suites of 20");
        // The mean and its t interval would be set by the ±10 % rounds (an SD of about
        // 3 %); the trimmed mean sees the 2 % regression in nearly every suite.
        assert!(seen >= 36, "2 % critical in {seen} of 40");
    }

    #[test]
    fn the_rounds_needed_reach_the_target_and_no_further() {
        let levels = Policy::builtin().paired;
        let r = heavy_tailed("x", 12, 0.0, 5);
        let d = r.log_ratios();
        let now = minimum_detectable(&d, 50, &levels).unwrap();
        let target = now * 0.7;
        let n = rounds_needed(&d, 50, &levels, target).unwrap();
        assert!(n > d.len(), "{n}");
        // One round fewer would not have reached it, at the same spread.
        let spread = spread(&d);
        let at = |n: usize| {
            let g = if n >= TRIM_FROM {
                (TRIM * n as f64) as usize
            } else {
                0
            };
            mde_of(
                spread / (n as f64).sqrt(),
                (n - 2 * g) as f64 - 1.0,
                50.0,
                &levels,
            )
        };
        assert!(
            at(n) <= target && at(n - 1) > target,
            "{} {}",
            at(n),
            at(n - 1)
        );
        // A target at or under the critical level can never be reached.
        assert_eq!(rounds_needed(&d, 50, &levels, levels.critical), None);
        assert_eq!(rounds_needed(&d[..2], 50, &levels, 0.5), None);
    }

    #[test]
    fn a_benchmark_that_could_not_see_the_target_is_inconclusive() {
        let policy = Policy::builtin();
        let base = [100.0, 103.0, 97.0, 101.0, 99.0, 102.0];
        let head = [101.0, 101.0, 99.0, 103.0, 98.0, 100.0];
        let judging = Judging {
            absolute: true,
            target_mde: Some(0.01),
        };
        let d = decide_paired(&[rounds("x", &base, &head)], &policy, judging).unwrap();
        assert_eq!(verdict(&d, "x"), Verdict::Inconclusive);
        assert!(d.comparisons[0].reason.contains("the target is 1.00 %"));
        // Without a target the same rounds are unchanged.
        let d = decide_paired(&[rounds("x", &base, &head)], &policy, ALONE).unwrap();
        assert_eq!(verdict(&d, "x"), Verdict::Unchanged);
    }

    #[test]
    fn pairs_in_two_groups_are_reported_with_both() {
        let policy = Policy::builtin();
        // The head is 30 % slower in three rounds and unchanged in the other three.
        let base = [100.0, 130.0, 100.5, 131.0, 100.2, 130.5];
        let head = [130.2, 130.1, 130.4, 131.3, 100.0, 130.3];
        let d = decide_paired(&[rounds("x", &base, &head)], &policy, ALONE).unwrap();
        let c = &d.comparisons[0];
        let p = c.paired.as_ref().unwrap();
        assert!(p.bimodal.as_ref().unwrap().contains("two groups"), "{p:?}");
        assert!(p.spread[0] < 0.01 && p.spread[1] > 0.25, "{p:?}");
        assert!(c.reason.contains("two groups"));
        // A side's values in two speeds with every pair alike is not two groups.
        let alike: Vec<f64> = base.iter().map(|b| b * 1.001).collect();
        let d = decide_paired(&[rounds("y", &base, &alike)], &policy, ALONE).unwrap();
        assert_eq!(d.comparisons[0].paired.as_ref().unwrap().bimodal, None);
        assert_eq!(two_speeds(&[1.0, 1.001, 1.002, 0.999]), None);
    }

    #[test]
    fn one_sided_and_short_benchmarks_are_named_not_judged() {
        let policy = Policy::builtin();
        let new = Rounds {
            base: vec![None; 4],
            ..rounds("n", &[1.0; 4], &[1.0; 4])
        };
        let gone = Rounds {
            head: vec![None; 4],
            ..rounds("g", &[1.0; 4], &[1.0; 4])
        };
        let short = rounds("s", &[1.0, 1.0], &[1.0, 1.0]);
        let d = decide_paired(&[new, gone, short], &policy, ALONE).unwrap();
        assert_eq!(verdict(&d, "n"), Verdict::New);
        assert_eq!(verdict(&d, "g"), Verdict::Missing);
        assert_eq!(verdict(&d, "s"), Verdict::Incomparable);
        assert_eq!(d.judged, 0);
    }

    #[test]
    fn improvements_and_higher_is_better_metrics_point_the_right_way() {
        let policy = Policy::builtin();
        let base = [100.0, 101.0, 99.0, 100.5, 100.0, 99.5];
        let faster: Vec<f64> = base.iter().map(|b| b * 0.9).collect();
        let d = decide_paired(&[rounds("f", &base, &faster)], &policy, ALONE).unwrap();
        assert_eq!(verdict(&d, "f"), Verdict::Improved);
        assert!(d.comparisons[0].change.unwrap() < -0.09);
        // For a throughput, the same numbers are a regression.
        let throughput = Rounds {
            direction: Direction::HigherIsBetter,
            ..rounds("t", &base, &faster)
        };
        let d = decide_paired(&[throughput], &policy, ALONE).unwrap();
        assert_eq!(verdict(&d, "t"), Verdict::Critical);
    }
}
