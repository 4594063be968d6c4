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
//! - `gate/history_check/500x200`: `bench-gate history check` over a history of 500
//!   benchmarks × 200 runs (`bench_gate::synthetic::history_runs`: 1 % noise, 1 % of runs
//!   at 2×, a +3 % step in every tenth series): read the file, find every change point
//!   on all cores; no report is written. Its absolute rule: at most 2 s. Full mode
//!   only: one iteration takes a good part of a second, which in quick mode (and in
//!   every round of `bench-gate ab`) would cost more than the rest of the file.
//!
//! Quick mode (CI): `ORCHBENCH_QUICK=1 cargo bench --bench gate_check`.

use bench_gate::command::{CheckHistoryOptions, CheckOptions, Inputs, check, check_history};
use bench_gate::decide::{decide, scaled};
use bench_gate::synthetic::{history_runs, wall_time_results, write_criterion_tree};
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
            gungraun_dir: none.clone(),
            counts_dir: none,
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
    if orchbench_benches::BenchProfile::from_env() == orchbench_benches::BenchProfile::QUICK {
        group.finish();
        return;
    }
    let file = dir.path().join("history.jsonl");
    let lines: Vec<String> = history_runs(500, 200, DEFAULT_SEED)
        .iter()
        .map(|run| serde_json::to_string(run).expect("serialisable") + "\n")
        .collect();
    std::fs::write(&file, lines.concat()).expect("write");
    let history = CheckHistoryOptions {
        file,
        since: None,
        previous: None,
        reach: 5,
        skip_bad: false,
        max_p: 0.001,
        min_segment: 5,
        permutations: 999,
        json: None,
        markdown: None,
        html: None,
        verdict: None,
    };
    let found = check_history(&history).expect("checks the history");
    assert_eq!(found.checked.judged, 500);
    assert!(
        found.checked.found.len() >= 45,
        "the steps are found: {}",
        found.checked.found.len()
    );
    group.sample_size(10);
    group.bench_function("history_check/500x200", |b| {
        b.iter(|| check_history(&history).expect("checks the history"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = orchbench_benches::config();
    targets = gate
}
criterion_main!(benches);
