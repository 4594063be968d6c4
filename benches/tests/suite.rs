//! The suite's own configuration: the shipped thresholds.toml is valid and holds the
//! rules the docs promise.

use std::path::Path;

#[test]
fn the_shipped_thresholds_file_is_valid_and_holds_the_reference_rules() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../thresholds.toml");
    let policy = bench_gate::thresholds::Policy::load(&path).unwrap();
    use bench_gate::Source;
    use bench_gate::thresholds::Bound;
    let (l, rule) = policy.levels_for("graph_planning/plan/1000", Source::WallTime);
    assert_eq!(rule, Some("graph_planning/plan/1000"));
    assert!(l.critical.contains(&Bound::parse("1s").unwrap()));
    let (l, _) = policy.levels_for("perf/tools/parallel_efficiency", Source::Perf);
    assert_eq!(
        (l.warning[0], l.critical[0]),
        (Bound::parse("0.80").unwrap(), Bound::parse("0.70").unwrap())
    );
    let (l, _) = policy.levels_for("perf/ratelimit/rate_limit_accuracy", Source::Perf);
    assert_eq!(
        (l.warning[0], l.critical[0]),
        (Bound::parse("0.98").unwrap(), Bound::parse("0.95").unwrap())
    );
    let (l, rule) = policy.levels_for("instructions/plan/1000", Source::Instructions);
    assert_eq!(
        (rule, l.relative_warning(), l.relative_critical()),
        (None, Some(0.005), Some(0.03))
    );
    assert_eq!(policy.alpha, 0.01);
    // A 15 % regression must be critical for every wall-time benchmark whose noise
    // band is under 5 %, even when this run happens to be 5 % faster than the baseline:
    // the critical level, and the margin over such a band, must stay under 1.15 × 0.95.
    let (l, _) = policy.levels_for("graph_planning/levels/100", Source::WallTime);
    let crit = l.relative_critical().unwrap();
    assert!(
        crit.max(0.05 * policy.noise_margin) < 1.15 * 0.95 - 1.0,
        "{crit}"
    );
    assert!(policy.noise_margin >= 1.0);
}
