//! Change points in one benchmark's history: E-Divisive means (Matteson & James, 2014),
//! pure (no I/O, no clock), deterministic for a given seed.
//!
//! A series is divided hierarchically: in every segment between the change points found
//! so far, the split that maximises the energy statistic
//! `q(τ) = τ(n−τ)/n · (2/(τ(n−τ)) Σ|xᵢ−yⱼ| − Σ|xᵢ−xₖ|/C(τ,2) − Σ|yⱼ−yₖ|/C(n−τ,2))`
//! is the candidate (each side at least [`Config::min_segment`] runs); the best candidate
//! over all segments is tested by permutation (every segment shuffled on its own, the
//! largest statistic over all of them taken each time, as the original does), and kept
//! when its p-value is at most [`Config::max_p`]. It stops at the first candidate that is
//! not significant.
//!
//! Two choices make it fit benchmark histories:
//! - **Logarithms**: times are compared as ratios, so a 3 % step weighs the same at 1 µs
//!   and at 1 s.
//! - **Isolated outliers replaced, for rare noisy runs** (a Hampel filter): a run further
//!   than [`Config::outlier`] robust standard deviations from the median of the
//!   [`OUTLIER_REACH`] runs either side of it is replaced by that median before the
//!   statistic is taken. The standard deviation comes from the median absolute
//!   deviation of successive differences, which a step moves by one difference only.
//!   One run at 2× the usual time (a noisy neighbour) would otherwise weigh like a 70σ
//!   change: it masks a 3 % step beside it, or pulls the split onto itself. A step
//!   survives the filter: from its first run on, most of each neighbourhood is on the
//!   new level. Up to [`OUTLIER_REACH`] outliers in a row are replaced.
//!
//! The permutation test stops early once its p-value can no longer reach `max_p` (the
//! usual case on a segment without a change), so a quiet series costs a few
//! permutations; a significant one costs all [`Config::permutations`]. Each
//! permutation's statistic for every split is one pass with a Fenwick tree over the
//! values' ranks, O(n log n).

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;

use crate::model::median;

/// Runs on either side of a run that make its neighbourhood for the outlier filter.
pub const OUTLIER_REACH: usize = 3;

/// How change points are searched for and judged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// The largest permutation p-value a change point may have (Otava's default, 0.001).
    pub max_p: f64,
    /// Permutations per test; the smallest p-value it can give is `1/(permutations+1)`,
    /// so it must be at least `1/max_p − 1`.
    pub permutations: usize,
    /// The fewest runs on either side of a change point.
    pub min_segment: usize,
    /// A run this many robust standard deviations from its neighbourhood's median is an
    /// outlier, replaced by that median.
    pub outlier: f64,
    /// Seed of the permutations (the same series and seed give the same answer).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_p: 0.001,
            permutations: 999,
            min_segment: 5,
            outlier: 5.0,
            seed: 0x0c4a_9e5e_ed00_0001,
        }
    }
}

impl Config {
    /// Why this configuration cannot be used, if it cannot (a field and its value).
    pub fn problem(&self) -> Option<String> {
        if self.max_p.is_nan() || self.max_p <= 0.0 || self.max_p >= 1.0 {
            return Some(format!("max_p = {}: must be in (0, 1)", self.max_p));
        }
        let least = (1.0 / self.max_p - 1.0).ceil() as usize;
        if self.permutations < least {
            return Some(format!(
                "permutations = {}: a p-value of {} needs at least {least}",
                self.permutations, self.max_p
            ));
        }
        if self.min_segment < 2 {
            return Some(format!(
                "min_segment = {}: must be at least 2",
                self.min_segment
            ));
        }
        if self.outlier.is_nan() || self.outlier <= 0.0 {
            return Some(format!("outlier = {}: must be positive", self.outlier));
        }
        None
    }

    /// The fewest runs a series needs before any change point can be found in it.
    pub fn shortest_series(&self) -> usize {
        2 * self.min_segment
    }
}

/// One change point found in a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChangePoint {
    /// Index of the first run after the change.
    pub index: usize,
    /// Median of the runs from the previous change point (or the start) up to `index`.
    pub before: f64,
    /// Median of the runs from `index` up to the next change point (or the end).
    pub after: f64,
    /// `after / before − 1`.
    pub change: f64,
    /// The permutation p-value with which it was found.
    pub p: f64,
}

/// A segment `[start, end)` of the series.
type Bounds = (usize, usize);

/// A segment's best split (its index in the series) and statistic, if it has one.
type Candidate = Option<(usize, f64)>;

/// Change points of `values` (positive, finite: times, counts, rates), in index order.
/// Series shorter than [`Config::shortest_series`] have none.
pub fn detect(values: &[f64], config: &Config) -> Vec<ChangePoint> {
    debug_assert!(config.problem().is_none(), "{:?}", config.problem());
    let logs = without_outliers(values.iter().map(|v| v.ln()).collect(), config.outlier);
    let mut rng = SplitMix64::seed_from_u64(config.seed ^ (values.len() as u64));
    let mut found: Vec<(usize, f64)> = Vec::new();
    // Best candidate per segment (start, end), kept while the segment is not split.
    let mut memo: Vec<(Bounds, Candidate)> = Vec::new();
    loop {
        let bounds = segments(&found, logs.len());
        let mut windows = Vec::with_capacity(bounds.len());
        let mut best: Option<(usize, f64)> = None;
        for &(a, b) in &bounds {
            if b - a < config.shortest_series() {
                continue;
            }
            let window = Window::new(&logs[a..b]);
            let candidate = match memo.iter().find(|(k, _)| *k == (a, b)) {
                Some((_, c)) => *c,
                None => {
                    let c = window
                        .best_split(
                            &window.identity(),
                            config.min_segment,
                            &mut Scratch::default(),
                        )
                        .map(|(t, q)| (t + a, q));
                    memo.push(((a, b), c));
                    c
                }
            };
            if let Some((t, q)) = candidate
                && best.is_none_or(|(_, bq)| q > bq)
            {
                best = Some((t, q));
            }
            windows.push(window);
        }
        let Some((index, observed)) = best else { break };
        let p = permutation_p(&windows, observed, config, &mut rng);
        if p > config.max_p {
            break;
        }
        found.push((index, p));
        found.sort_by_key(|&(i, _)| i);
    }
    refine(&logs, &mut found, config.min_segment);
    let bounds = segments(&found, values.len());
    found
        .iter()
        .enumerate()
        .map(|(k, &(index, p))| {
            let before = median(&values[bounds[k].0..bounds[k].1]);
            let after = median(&values[bounds[k + 1].0..bounds[k + 1].1]);
            ChangePoint {
                index,
                before,
                after,
                change: after / before - 1.0,
                p,
            }
        })
        .collect()
}

/// `logs` with each isolated outlier replaced by the median of its neighbourhood (see
/// the module's header).
fn without_outliers(logs: Vec<f64>, threshold: f64) -> Vec<f64> {
    if logs.len() < 3 {
        return logs;
    }
    let steps: Vec<f64> = logs.windows(2).map(|w| w[1] - w[0]).collect();
    let centre = median(&steps);
    let spread: Vec<f64> = steps.iter().map(|d| (d - centre).abs()).collect();
    let sd = 1.4826 * median(&spread) / std::f64::consts::SQRT_2;
    let bound = threshold * sd;
    (0..logs.len())
        .map(|i| {
            let around =
                &logs[i.saturating_sub(OUTLIER_REACH)..(i + OUTLIER_REACH + 1).min(logs.len())];
            let local = median(around);
            if (logs[i] - local).abs() > bound {
                local
            } else {
                logs[i]
            }
        })
        .collect()
}

/// Moves each change point to the least-squares split of the two segments beside it,
/// within `min_segment` runs of where the energy statistic put it, keeping each side at
/// least `min_segment` runs long. The energy statistic finds
/// and tests a change of any kind, but for the run at which a level moved, least squares
/// is the sharper estimate (on the outlier-filtered logs, whose noise is close to normal).
fn refine(logs: &[f64], found: &mut [(usize, f64)], min_segment: usize) {
    for k in 0..found.len() {
        let start = if k == 0 { 0 } else { found[k - 1].0 };
        let end = found.get(k + 1).map_or(logs.len(), |c| c.0);
        let segment = &logs[start..end];
        let n = segment.len();
        let total: f64 = segment.iter().sum();
        let at = found[k].0 - start;
        let lo = at.saturating_sub(min_segment).max(min_segment);
        let hi = (at + min_segment).min(n.saturating_sub(min_segment));
        if lo >= hi {
            continue;
        }
        let mut prefix = segment[..lo].iter().sum::<f64>();
        let mut best = (at, f64::NEG_INFINITY);
        for (tau, value) in segment.iter().enumerate().take(hi + 1).skip(lo) {
            let (tx, ty) = (tau as f64, (n - tau) as f64);
            let gap = prefix / tx - (total - prefix) / ty;
            let score = tx * ty / n as f64 * gap * gap;
            if score > best.1 {
                best = (tau, score);
            }
            prefix += value;
        }
        found[k].0 = start + best.0;
    }
}

/// The segments `[start, end)` that the sorted change points cut `0..n` into.
fn segments(found: &[(usize, f64)], n: usize) -> Vec<(usize, usize)> {
    let mut cuts = vec![0];
    cuts.extend(found.iter().map(|&(i, _)| i));
    cuts.push(n);
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The permutation p-value of `observed`, the largest statistic over `windows`:
/// `(1 + exceedances) / (1 + permutations)`, stopping as soon as it must exceed `max_p`.
fn permutation_p(windows: &[Window], observed: f64, config: &Config, rng: &mut SplitMix64) -> f64 {
    let mut orders: Vec<Vec<usize>> = windows.iter().map(Window::identity).collect();
    let total = config.permutations as f64 + 1.0;
    let mut exceed = 0usize;
    let mut scratch = Scratch::default();
    for _ in 0..config.permutations {
        let mut largest = f64::NEG_INFINITY;
        for (window, order) in windows.iter().zip(&mut orders) {
            shuffle(order, rng);
            if let Some((_, q)) = window.best_split(order, config.min_segment, &mut scratch) {
                largest = largest.max(q);
            }
        }
        // Ties count against the change: a permutation as extreme as the data is one.
        if largest >= observed * (1.0 - 1e-12) {
            exceed += 1;
            if (1 + exceed) as f64 / total > config.max_p {
                return (1 + exceed) as f64 / total;
            }
        }
    }
    (1 + exceed) as f64 / total
}

/// Fisher–Yates with Lemire's multiply-shift bound (bias below n/2⁶⁴).
fn shuffle(order: &mut [usize], rng: &mut SplitMix64) {
    for i in (1..order.len()).rev() {
        let j = ((rng.next_u64() as u128 * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
}

/// The Fenwick tree's arrays (counts and sums by rank), reused from one permutation to
/// the next so the permutation loop does not allocate.
#[derive(Default)]
struct Scratch {
    count: Vec<u32>,
    sum: Vec<f64>,
}

/// One segment, with what every split's statistic needs precomputed.
struct Window {
    /// The log values, outliers replaced.
    z: Vec<f64>,
    /// Each value's rank (0-based) among the segment's values, for the Fenwick tree.
    rank: Vec<usize>,
    /// Each value's summed distance to every value of the segment.
    dist: Vec<f64>,
    /// Half the sum of `dist`: the summed distance over all pairs.
    pairs: f64,
}

impl Window {
    fn new(logs: &[f64]) -> Window {
        // Distances do not change with a shift; measured from one of the values, equal
        // values (an instruction count that did not move) are exactly 0 and so are all
        // their distances, instead of rounding residues that a permutation could rank.
        let centre = median(logs);
        let z: Vec<f64> = logs.iter().map(|v| v - centre).collect();
        let n = z.len();
        let mut by_value: Vec<usize> = (0..n).collect();
        by_value.sort_by(|&a, &b| z[a].total_cmp(&z[b]));
        let mut rank = vec![0; n];
        let mut dist = vec![0.0; n];
        // Σⱼ|zᵢ − zⱼ| from the sorted order: i·zᵢ − (sum below) + (sum above) − (n−1−i)·zᵢ.
        let total: f64 = z.iter().sum();
        let mut below = 0.0;
        for (r, &i) in by_value.iter().enumerate() {
            rank[i] = r;
            let above = total - below - z[i];
            dist[i] = r as f64 * z[i] - below + above - (n - 1 - r) as f64 * z[i];
            below += z[i];
        }
        let pairs = dist.iter().sum::<f64>() / 2.0;
        Window {
            z,
            rank,
            dist,
            pairs,
        }
    }

    fn identity(&self) -> Vec<usize> {
        (0..self.z.len()).collect()
    }

    /// The split (index of the first value after it, within the segment) that maximises
    /// the statistic when the values are taken in `order`, and that statistic.
    fn best_split(
        &self,
        order: &[usize],
        min_segment: usize,
        scratch: &mut Scratch,
    ) -> Option<(usize, f64)> {
        let n = order.len();
        if n < 2 * min_segment {
            return None;
        }
        let Scratch { count, sum } = scratch;
        count.clear();
        count.resize(n + 1, 0);
        sum.clear();
        sum.resize(n + 1, 0.0);
        let (mut within_x, mut dist_x, mut sum_x) = (0.0, 0.0, 0.0);
        let mut best: Option<(usize, f64)> = None;
        let nf = n as f64;
        for (t, &e) in order.iter().enumerate().take(n - min_segment) {
            let (z, r) = (self.z[e], self.rank[e]);
            // Of the values already in X: how many are below z, and their sum.
            let (mut below, mut below_sum) = (0u32, 0.0);
            let mut k = r;
            while k > 0 {
                below += count[k];
                below_sum += sum[k];
                k &= k - 1;
            }
            let above = t as f64 - below as f64;
            within_x += z * below as f64 - below_sum + (sum_x - below_sum) - z * above;
            let mut k = r + 1;
            while k <= n {
                count[k] += 1;
                sum[k] += z;
                k += k & k.wrapping_neg();
            }
            sum_x += z;
            dist_x += self.dist[e];
            let tau = t + 1;
            if tau < min_segment {
                continue;
            }
            // X = the first τ values, Y = the rest.
            let across = dist_x - 2.0 * within_x;
            let within_y = self.pairs - within_x - across;
            let (tx, ty) = (tau as f64, nf - tau as f64);
            let energy = 2.0 * across / (tx * ty)
                - within_x / (tx * (tx - 1.0) / 2.0)
                - within_y / (ty * (ty - 1.0) / 2.0);
            let q = tx * ty / nf * energy;
            if best.is_none_or(|(_, bq)| q > bq) {
                best = Some((tau, q));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Noise;

    /// `n` runs of lognormal noise (`sd`), with `factor` applied from `step` on.
    fn series(n: usize, sd: f64, step: usize, factor: f64, seed: u64) -> Vec<f64> {
        let mut noise = Noise::new(seed);
        (0..n)
            .map(|i| {
                let level = if i >= step { factor } else { 1.0 };
                level * (sd * noise.normal()).exp()
            })
            .collect()
    }

    /// The statistic straight from its definition, O(n²), to check the fast pass.
    fn q_direct(z: &[f64], tau: usize) -> f64 {
        let (x, y) = z.split_at(tau);
        let pair_sum = |a: &[f64], b: &[f64]| {
            a.iter()
                .map(|u| b.iter().map(|v| (u - v).abs()).sum::<f64>())
                .sum::<f64>()
        };
        let (tx, ty) = (x.len() as f64, y.len() as f64);
        let e = 2.0 * pair_sum(x, y) / (tx * ty)
            - pair_sum(x, x) / (tx * (tx - 1.0))
            - pair_sum(y, y) / (ty * (ty - 1.0));
        tx * ty / (tx + ty) * e
    }

    #[test]
    fn the_fenwick_pass_gives_the_statistic_of_its_definition() {
        let values = series(40, 0.02, 17, 1.05, 3);
        let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
        let w = Window::new(&logs);
        let mut order = w.identity();
        let mut rng = SplitMix64::seed_from_u64(9);
        for round in 0..3 {
            if round > 0 {
                shuffle(&mut order, &mut rng);
            }
            let z: Vec<f64> = order.iter().map(|&e| w.z[e]).collect();
            let (best_t, best_q) = (3..=37)
                .map(|t| (t, q_direct(&z, t)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            let (t, q) = w.best_split(&order, 3, &mut Scratch::default()).unwrap();
            assert_eq!(t, best_t);
            assert!(
                (q - best_q).abs() < 1e-9 * best_q.abs().max(1.0),
                "{q} vs {best_q}"
            );
        }
    }

    #[test]
    fn a_three_percent_step_is_found_at_its_run() {
        let values = series(100, 0.01, 63, 1.03, 11);
        let found = detect(&values, &Config::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].index.abs_diff(63) <= 1, "{found:?}");
        assert!((found[0].change - 0.03).abs() < 0.01, "{found:?}");
        assert!(found[0].p <= 0.001);
    }

    #[test]
    fn exact_counts_change_only_where_they_move() {
        // Instruction counts: the same number run after run, then one step.
        let flat = vec![54_007.0; 200];
        assert_eq!(detect(&flat, &Config::default()), vec![]);
        let mut step = flat.clone();
        step[120..].iter_mut().for_each(|v| *v = 55_627.0);
        let found = detect(&step, &Config::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].index, 120);
        assert!((found[0].change - 0.03).abs() < 1e-3);
    }

    #[test]
    fn pure_noise_has_no_change_point() {
        for seed in 0..20 {
            let values = series(100, 0.01, 100, 1.0, 100 + seed);
            assert_eq!(detect(&values, &Config::default()), vec![], "seed {seed}");
        }
    }

    #[test]
    fn a_two_fold_outlier_beside_a_step_neither_masks_it_nor_passes_for_one() {
        let mut values = series(100, 0.01, 40, 1.03, 5);
        values[38] *= 2.0;
        values[75] *= 2.0;
        let found = detect(&values, &Config::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].index.abs_diff(40) <= 1, "{found:?}");
    }

    #[test]
    fn two_steps_are_both_found_and_a_return_is_an_improvement() {
        let mut values = series(120, 0.01, 40, 1.05, 21);
        for v in &mut values[80..] {
            *v /= 1.05;
        }
        let found = detect(&values, &Config::default());
        let at: Vec<usize> = found.iter().map(|c| c.index).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(at[0].abs_diff(40) <= 1 && at[1].abs_diff(80) <= 1, "{at:?}");
        assert!(
            found[0].change > 0.03 && found[1].change < -0.03,
            "{found:?}"
        );
    }

    #[test]
    fn identical_counts_with_one_step_are_split_there() {
        let values: Vec<f64> = (0..30)
            .map(|i| if i < 12 { 1000.0 } else { 1010.0 })
            .collect();
        let found = detect(&values, &Config::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].index, 12);
        assert_eq!(found[0].before, 1000.0);
        assert_eq!(found[0].after, 1010.0);
    }

    #[test]
    fn a_series_shorter_than_two_segments_has_none() {
        let values: Vec<f64> = (0..9).map(|i| if i < 4 { 1.0 } else { 2.0 }).collect();
        assert_eq!(detect(&values, &Config::default()), vec![]);
        assert_eq!(Config::default().shortest_series(), 10);
    }

    #[test]
    fn the_same_seed_gives_the_same_answer() {
        let values = series(80, 0.02, 30, 1.04, 8);
        let c = Config::default();
        assert_eq!(detect(&values, &c), detect(&values, &c));
    }

    #[test]
    fn bad_configurations_name_their_field() {
        let c = Config::default();
        let with = |f: &dyn Fn(&mut Config)| {
            let mut c = c;
            f(&mut c);
            c.problem().unwrap()
        };
        assert!(with(&|c| c.max_p = 0.0).starts_with("max_p"));
        assert!(with(&|c| c.permutations = 100).starts_with("permutations"));
        assert!(with(&|c| c.min_segment = 1).starts_with("min_segment"));
        assert!(with(&|c| c.outlier = f64::NAN).starts_with("outlier"));
        assert_eq!(c.problem(), None);
    }
}
