//! The statistics behind wall-time verdicts: the one-sided Mann–Whitney U test on raw
//! samples (no normality assumed: timing samples are skewed and have outliers);
//! Student's t distribution for the paired verdicts on per-round log-ratios (`paired`);
//! and the multiple-comparison corrections: Holm's step-down, so the suite-wide chance
//! of any false alarm stays at α however many benchmarks are compared, and
//! Benjamini–Hochberg's step-up, which bounds the share of false discoveries instead.

/// The standard normal upper tail, P(Z > z), via `erfc` (absolute error < 1.2e-7).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, |ε| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// One-sided Mann–Whitney U: the p-value of "`b` tends to be larger than `a`"
/// (normal approximation with tie and continuity corrections; both samples need at
/// least 3 values, else 1.0 is returned: too few to show anything).
pub fn mann_whitney_greater(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 < 3 || n2 < 3 {
        return 1.0;
    }
    // Rank the pooled samples, averaging ties.
    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, false))
        .chain(b.iter().map(|&x| (x, true)))
        .collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = pooled.len();
    let (mut rank_sum_b, mut tie_term) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_b += avg_rank * pooled[i..=j].iter().filter(|p| p.1).count() as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let u_b = rank_sum_b - n2f * (n2f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let nf = n as f64;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var <= 0.0 {
        return 1.0; // every value equal: no evidence either way
    }
    let z = (u_b - mean - 0.5) / var.sqrt();
    normal_sf(z)
}

/// Holm's step-down adjustment: returns adjusted p-values in the input's order; reject
/// hypothesis i at family-wise level α when `adjusted[i] <= α`.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Benjamini–Hochberg's step-up adjustment: adjusted p-values in the input's order;
/// rejecting every hypothesis with `adjusted[i] <= q` keeps the expected share of false
/// discoveries among the rejections at most q.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[j].total_cmp(&p[i]));
    let mut adjusted = vec![0.0; m];
    let mut running = 1.0f64;
    for (k, &i) in order.iter().enumerate() {
        let rank = (m - k) as f64;
        running = running.min(p[i] * m as f64 / rank).min(1.0);
        adjusted[i] = running;
    }
    adjusted
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-13).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction
/// (modified Lentz), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where that
/// converges faster.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp() / a;
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..=300 {
        let m = f64::from(m);
        // Even step.
        let num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 + num * d;
        d = if d.abs() < tiny { 1.0 / tiny } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < tiny {
            c = tiny;
        }
        f *= d * c;
        // Odd step.
        let num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 + num * d;
        d = if d.abs() < tiny { 1.0 / tiny } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < tiny {
            c = tiny;
        }
        let delta = d * c;
        f *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f
}

/// Student's t upper tail, P(T > t), for `df` > 0 degrees of freedom.
pub fn t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    if t == f64::INFINITY {
        return 0.0;
    }
    if t == f64::NEG_INFINITY {
        return 1.0;
    }
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 { tail } else { 1.0 - tail }
}

/// The t quantile: the `t` with P(T ≤ t) = `p`, for 0 < p < 1 (bisection on [`t_sf`],
/// to 1e-10 relative).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let target = 1.0 - p;
    let mut hi = 1.0;
    while t_sf(hi, df) > target {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_sf(mid, df) > target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-10 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution_matches_tables() {
        // Two-sided 95 % and 99 % points (any statistics table).
        for (p, df, t) in [
            (0.975, 5.0, 2.570_582),
            (0.975, 10.0, 2.228_139),
            (0.995, 2.0, 9.924_843),
            (0.95, 1.0, 6.313_752),
            (0.999, 30.0, 3.385_185),
        ] {
            let q = t_quantile(p, df);
            assert!((q - t).abs() < 1e-5, "t({p}, {df}) = {q}, table {t}");
            assert!((t_sf(t, df) - (1.0 - p)).abs() < 1e-8, "sf({t}, {df})");
        }
        // df = 3 has a closed form: 1/2 − (atan(t/√3) + √3·t/(3 + t²))/π.
        assert!((t_sf(2.0, 3.0) - 0.069_662_984).abs() < 1e-8);
        assert!((t_sf(-1.0, 4.0) - (1.0 - t_sf(1.0, 4.0))).abs() < 1e-12);
        assert_eq!(t_sf(0.0, 7.0), 0.5);
        // Far tails stay accurate (what a Holm-adjusted suite needs).
        assert!((t_quantile(1.0 - 1e-4, 5.0) - 9.677_566).abs() < 1e-4);
        // With many degrees of freedom it is the normal.
        assert!((t_sf(1.959_964, 1e6) - 0.025).abs() < 1e-5);
    }

    #[test]
    fn benjamini_hochberg_matches_its_definition() {
        let p = [0.01, 0.04, 0.03, 0.005, 0.5];
        let adj = benjamini_hochberg(&p);
        // Sorted: 0.005, 0.01, 0.03, 0.04, 0.5 → ×5/rank: 0.025, 0.025, 0.05, 0.05, 0.5.
        let expected = [0.025, 0.05, 0.05, 0.025, 0.5];
        for (a, e) in adj.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adj:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
    }

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(-1.644_854) - 0.95).abs() < 1e-6);
        assert!((normal_sf(3.090_232) - 0.001).abs() < 1e-6);
    }

    #[test]
    fn mann_whitney_sees_a_shift_and_not_noise() {
        let a: Vec<f64> = (0..50).map(|i| 100.0 + (i % 7) as f64).collect();
        let shifted: Vec<f64> = a.iter().map(|x| x * 1.05).collect();
        assert!(mann_whitney_greater(&a, &shifted) < 1e-6);
        assert!(mann_whitney_greater(&shifted, &a) > 0.999);
        assert!((mann_whitney_greater(&a, &a) - 0.5).abs() < 0.1);
        assert_eq!(
            mann_whitney_greater(&[1.0, 1.0, 1.0], &[1.0, 1.0, 1.0]),
            1.0
        );
        assert_eq!(mann_whitney_greater(&[1.0], &[2.0, 3.0, 4.0]), 1.0);
    }

    #[test]
    fn mann_whitney_matches_a_textbook_value() {
        // No ties, n1 = n2 = 10, b entirely above a: U = 100, z = (100 − 50 − 0.5) /
        // sqrt(10·10·21/12) = 3.742, p = 9.1e-5.
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = (10..20).map(f64::from).collect();
        let p = mann_whitney_greater(&a, &b);
        assert!((p - 9.1e-5).abs() < 0.3e-5, "{p}");
    }

    #[test]
    fn holm_adjusts_step_down() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.2]);
        // sorted: 0.01×4 = 0.04, 0.03×3 = 0.09, 0.04×2 = 0.08 → 0.09 (monotone), 0.2×1 → 0.2
        let expected = [0.04, 0.09, 0.09, 0.2];
        for (a, e) in adj.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adj:?}");
        }
        assert!(holm(&[]).is_empty());
    }
}
