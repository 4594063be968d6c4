//! The comparator's own speed, for regression testing: `bench-gate check` must judge a
//! large suite in well under a second. Inputs are generated (`workload::gate_results`:
//! 200 wall-time benchmarks × 100 samples, ±5 % noise) before the timing.
//!
//! Ids:
//! - `gate/decide/200x100`: the decision alone (Mann–Whitney U per benchmark, Holm).
//! - `gate/check/200x100`: what `bench-gate check --criterion-baseline` does: load both
//!   Criterion trees from disk (1 200 JSON files), then decide.
//!
//! Quick mode (CI): `ORCHBENCH_QUICK=1 cargo bench --bench gate_check`.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use orchbench::gate::decide::{decide, scaled};
use orchbench::gate::thresholds::Policy;
use orchbench::gate::{Source, criterion as loader};
use orchbench::workload;

fn gate(c: &mut Criterion) {
    let base = workload::gate_results(200, 100, 0.05, workload::DEFAULT_SEED);
    let current = scaled(&base, Source::WallTime, 1.02);
    let policy = Policy::builtin();
    let mut group = c.benchmark_group("gate");
    group.bench_function("decide/200x100", |b| {
        b.iter(|| decide(&current, Some(&base), &policy, &[]).expect("decides"))
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    workload::write_criterion_tree(dir.path(), &base, "base").expect("write");
    workload::write_criterion_tree(dir.path(), &current, "new").expect("write");
    group.bench_function("check/200x100", |b| {
        b.iter(|| {
            let now = loader::load(dir.path(), "new").expect("load new");
            let before = loader::load(dir.path(), "base").expect("load base");
            decide(&now, Some(&before), &policy, &[]).expect("decides")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = gate
}
criterion_main!(benches);
