//! The comparator's own speed, for regression testing: `bench-gate check` must judge a
//! large suite in well under a second. Inputs are generated
//! (`bench_gate::synthetic::wall_time_results`: 200 wall-time benchmarks × 100 samples,
//! ±5 % noise) and written as Criterion's files before the timing.
//!
//! Ids:
//! - `gate/decide/200x100`: the decision alone (Mann–Whitney U per benchmark, Holm).
//! - `gate/check/200x100`: the library's `check` itself, as `bench-gate check
//!   --criterion-baseline base` runs it: load the policy and both Criterion trees from
//!   disk (1 200 JSON files), then decide; no report is written.
//!
//! Quick mode (CI): `ORCHBENCH_QUICK=1 cargo bench --bench gate_check`.

use bench_gate::command::{CheckOptions, Inputs, check};
use bench_gate::decide::{decide, scaled};
use bench_gate::synthetic::{wall_time_results, write_criterion_tree};
use bench_gate::thresholds::Policy;
use bench_gate::{Exit, Source};
use criterion::{Criterion, criterion_group, criterion_main};
use orchbench::workload::DEFAULT_SEED;

fn gate(c: &mut Criterion) {
    let base = wall_time_results(200, 100, 0.05, DEFAULT_SEED);
    let current = scaled(&base, Source::WallTime, 1.02);
    let policy = Policy::builtin();
    let mut group = c.benchmark_group("gate");
    group.bench_function("decide/200x100", |b| {
        b.iter(|| decide(&current, Some(&base), &policy, &[]).expect("decides"))
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_criterion_tree(dir.path(), &base, "base").expect("write");
    write_criterion_tree(dir.path(), &current, "new").expect("write");
    let none = dir.path().join("none");
    let options = CheckOptions {
        inputs: Inputs {
            criterion_dir: dir.path().to_owned(),
            perf_dir: none.clone(),
            gungraun_dir: none,
        },
        criterion_baseline: Some("base".into()),
        // The built-in policy, as for `decide/200x100`, not this workspace's file.
        thresholds: Some(dir.path().join("thresholds.toml")),
        ..CheckOptions::default()
    };
    std::fs::write(
        options.thresholds.as_ref().expect("set above"),
        bench_gate::thresholds::DEFAULT_POLICY,
    )
    .expect("write");
    let first = check(&options).expect("checks");
    assert_eq!(first.exit(), Exit::Pass, "a 2 % change is no regression");
    group.bench_function("check/200x100", |b| {
        b.iter(|| check(&options).expect("checks"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = orchbench_benches::config();
    targets = gate
}
criterion_main!(benches);
