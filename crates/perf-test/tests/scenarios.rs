//! The pacing scenarios on the real clock: a run neither over-grants nor collapses
//! (its accuracy figures are measured by `perf-test ratelimit`, docs/results.md).

use std::time::Duration;

use perf_test::rate_scenarios::{self, LimiterKind, Load, Scenario};

#[test]
fn real_clock_run_never_over_grants() {
    // Timing on a shared VM is measured by the scenario runs in docs/results.md, not
    // asserted here. What must hold on any machine: never more than the limit (plus the
    // burst), and not a collapse either.
    let scenario = Scenario {
        name: "real-smoke".into(),
        limiter: LimiterKind::TokenBucket {
            rate: 200.0,
            burst: 1,
        },
        load: Load::Closed { clients: 3 },
        duration: Duration::from_millis(500),
        seed: 1,
    };
    let report = rate_scenarios::run_real(&scenario).unwrap();
    assert!(
        report.granted <= 100,
        "over-granted: {} in 0.5 s at 200/s",
        report.granted
    );
    assert!(
        report.granted >= 50,
        "collapsed: {} in 0.5 s at 200/s",
        report.granted
    );
}
