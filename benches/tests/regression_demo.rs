//! The gate's regression demonstration on instruction counts: the `mmc` instruction
//! bench is measured under callgrind (gungraun) twice, once as shipped and once built
//! with the test-only `regression-demo` feature (a deliberately slower `Mmc::solve`),
//! and bench-gate's `check` judges each against the committed baseline for this
//! machine. The shipped code must be `unchanged` (exit 0), the slower one `critical`
//! (exit 1).
//!
//! Needs valgrind and `gungraun-runner` 0.20.0, which the README's test command
//! installs; without them the test fails, naming what is missing. Each measurement
//! writes its summaries into its own temporary directory (`GUNGRAUN_HOME`).

use std::path::{Path, PathBuf};
use std::process::Command;

use bench_gate::command::{CheckOptions, Inputs, check};
use bench_gate::{Exit, Verdict};

const ID: &str = "instructions/mmc/solve_c_1_to_64";
const PROFILE: &str = "linux-2core-quick";

/// The workspace root: `cargo bench` runs there, as a user runs it.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ sits in the workspace")
        .to_owned()
}

/// Fails the test, naming the tool, unless valgrind and gungraun-runner both run.
fn require_tools() {
    for (tool, arg) in [("valgrind", "--version"), ("gungraun-runner", "--version")] {
        let ok = Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|out| out.status.success());
        assert!(
            ok,
            "the regression demonstration needs {tool} (the README's test command installs it: \
             scripts/install-test-deps.sh)"
        );
    }
}

/// Measures the `mmc` bench (with the demo feature or without) into `home`. Run at the
/// workspace root without `-p`, as `cargo bench` is: the features of the dependencies
/// are then the whole workspace's, so only the engine and the bench are rebuilt with
/// the demo feature (8 s on a 2-core VM); `-p orchbench-benches` unified them over this
/// package alone and rebuilt about half the dependency graph (50 s).
fn measure(home: &Path, demo: bool) {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(workspace())
        .args(["bench", "--locked", "--bench", "instructions"])
        .env("GUNGRAUN_HOME", home)
        .env("GUNGRAUN_SAVE_SUMMARY", "json");
    if demo {
        cmd.args(["--features", "orchbench-benches/regression-demo"]);
    }
    cmd.args(["--", "instructions::model::mmc::*"]);
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "the instruction bench failed (demo: {demo}):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Judges `home`'s summaries against the committed baseline: the exit code and the
/// demo benchmark's verdict.
fn judge(home: &Path) -> (Exit, Verdict) {
    let none = home.join("none");
    let options = CheckOptions {
        inputs: Inputs {
            criterion_dir: none.clone(),
            perf_dir: none.clone(),
            gungraun_dir: home.to_owned(),
            counts_dir: none,
        },
        baseline: Some(workspace().join(format!("baselines/{PROFILE}.json"))),
        thresholds: Some(workspace().join("thresholds.toml")),
        ..CheckOptions::default()
    };
    let outcome = check(&options).expect("the gate judges the summaries");
    let verdict = outcome
        .decision
        .comparisons
        .iter()
        .find(|c| c.id == ID)
        .unwrap_or_else(|| panic!("{ID} was not judged: {:?}", outcome.decision))
        .verdict;
    (outcome.exit(), verdict)
}

#[test]
fn a_slower_solve_is_critical_and_the_shipped_one_unchanged() {
    require_tools();
    let _cargo = crate::cargo_bench_lock();
    // The slower build first, so the target directory ends with the shipped one.
    let slower = tempfile::tempdir().expect("a temporary directory");
    measure(slower.path(), true);
    let shipped = tempfile::tempdir().expect("a temporary directory");
    measure(shipped.path(), false);
    assert_eq!(
        judge(slower.path()),
        (Exit::Critical, Verdict::Critical),
        "the slower variant"
    );
    assert_eq!(
        judge(shipped.path()),
        (Exit::Pass, Verdict::Unchanged),
        "the shipped code"
    );
}
