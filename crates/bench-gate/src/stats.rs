//! The statistics behind wall-time verdicts: the one-sided Mann–Whitney U test on raw
//! samples (no normality assumed: timing samples are skewed and have outliers), and
//! Holm's step-down correction so the suite-wide chance of any false alarm stays at α
//! however many benchmarks are compared.

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

#[cfg(test)]
mod tests {
    use super::*;

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
