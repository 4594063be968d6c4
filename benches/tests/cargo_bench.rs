//! `cargo bench` at the workspace root, as users and the PR workflow run it.
//!
//! Regression tests: `cargo bench -- --save-baseline NAME`, Criterion's standard way to
//! keep a baseline, once exited at once (`Unrecognized option: 'save-baseline'`) because
//! the library and binary targets' libtest harnesses were benched too; and the gungraun
//! harness read `--save-baseline NAME` as a filter `NAME` and measured nothing, and then
//! rejected the PR workflow's name `pr-base` (gungraun allows no `-`). Every
//! bench id of the committed baseline must also be listed by `cargo bench -- --list`,
//! since ids are the baseline's keys.
//!
//! Criterion's and gungraun's output goes to this test's own temporary directories
//! (`CRITERION_HOME`, `GUNGRAUN_HOME`); only the build lands in the workspace's target.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bench_gate::Source;
use bench_gate::baseline::Baseline;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ sits in the workspace")
        .to_owned()
}

/// `cargo bench --locked -- ARGS` at the workspace root, in quick mode, writing results
/// under `home`; fails the test unless it succeeds.
fn cargo_bench(home: &Path, cargo_args: &[&str], args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args(["bench", "--locked"])
        .args(cargo_args)
        .arg("--")
        .args(args)
        .env("ORCHBENCH_QUICK", "1")
        .env("CRITERION_HOME", home.join("criterion"))
        .env("GUNGRAUN_HOME", home.join("gungraun"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo bench {cargo_args:?} -- {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The benchmark ids a `--list` output names, in the gate's form: Criterion's as they
/// are, gungraun's `file::group::function::id` as `file/function/id`.
fn listed_ids(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|line| line.strip_suffix(": benchmark"))
        .map(|name| {
            let parts: Vec<&str> = name.split("::").collect();
            match parts.as_slice() {
                [file, _group, function, id] => {
                    bench_gate::gungraun::benchmark_id(file, function, Some(id))
                }
                _ => name.to_owned(),
            }
        })
        .collect()
}

#[test]
fn every_baseline_id_is_listed_and_baselines_save_and_compare() {
    let _cargo = crate::cargo_bench_lock();
    let home = tempfile::tempdir().expect("a temporary directory");

    // Every id of the committed baseline that a bench produces is listed.
    let out = cargo_bench(home.path(), &[], &["--list"]);
    let listed = listed_ids(&String::from_utf8_lossy(&out.stdout));
    let baseline = Baseline::load(&workspace().join("baselines/linux-2core-quick.json"))
        .expect("the committed baseline loads");
    let missing: Vec<&String> = baseline
        .benchmarks
        .iter()
        .filter(|(_, e)| e.source != Source::Perf)
        .map(|(id, _)| id)
        .filter(|id| !listed.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "baseline ids no bench lists: {missing:?}"
    );
    assert!(listed.contains("instructions/plan/1000"), "{listed:?}");

    // `--save-baseline NAME` through every bench target (the filter picks one small
    // Criterion bench; no target may reject the flags), then `--baseline NAME`; the name
    // is the PR workflow's own, `-` included.
    let filter = "^graph_planning/toposort/100$";
    cargo_bench(home.path(), &[], &["--save-baseline", "pr-base", filter]);
    let saved = home
        .path()
        .join("criterion/graph_planning/toposort/100/pr-base/estimates.json");
    assert!(saved.is_file(), "no {}", saved.display());
    cargo_bench(home.path(), &[], &["--baseline", "pr-base", filter]);
    let change = home
        .path()
        .join("criterion/graph_planning/toposort/100/change/estimates.json");
    assert!(
        change.is_file(),
        "--baseline compared nothing: no {}",
        change.display()
    );

    // The instruction counts are saved under the same name, Criterion's way of writing
    // it (gungraun spells it `pr_base`), and compared with it on the next run.
    let mmc = "instructions::model::mmc::*";
    let out = cargo_bench(
        home.path(),
        &["--bench", "instructions"],
        &["--save-baseline", "pr-base", mmc],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("solve_c_1_to_64") && text.contains("pr_base"),
        "gungraun did not measure into baseline `pr_base`:\n{text}"
    );
    let out = cargo_bench(
        home.path(),
        &["--bench", "instructions"],
        &["--baseline", "pr-base", mmc],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("solve_c_1_to_64") && text.contains("No change"),
        "gungraun did not compare with baseline `pr_base`:\n{text}"
    );
}
