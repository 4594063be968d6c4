//! The gate's regression demonstration on instruction counts: the `mmc` instruction
//! bench is measured under callgrind (gungraun) twice, once as shipped and once built
//! with the test-only `regression-demo` feature (a deliberately slower `Mmc::solve`),
//! and `bench-gate check` judges each against the committed baseline for this machine.
//! The shipped code must be `unchanged` (exit 0), the slower one `critical` (exit 1).
//!
//! Needs valgrind and `gungraun-runner` 0.20.0 (README). Under `CI=true` a missing one
//! fails the test; elsewhere the test prints that it was skipped and why. The bench runs
//! in its own target directory (`target/regression-demo`), so it neither waits for the
//! build lock of the `cargo test` running it nor rebuilds the main target's benches.

use std::path::{Path, PathBuf};
use std::process::Command;

const ID: &str = "instructions/mmc/solve_c_1_to_64";
const PROFILE: &str = "linux-2core-quick";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why the demonstration cannot run here, if it cannot.
fn missing_tools() -> Option<String> {
    for (tool, arg) in [("valgrind", "--version"), ("gungraun-runner", "--version")] {
        match Command::new(tool).arg(arg).output() {
            Ok(out) if out.status.success() => {}
            _ => {
                return Some(format!(
                    "{tool} is not installed (README: `cargo install --locked gungraun-runner --version 0.20.0`, `apt-get install valgrind`)"
                ));
            }
        }
    }
    None
}

/// Measures the `mmc` bench (with the demo feature or without) into `home`.
fn measure(home: &Path, demo: bool) {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root())
        .args(["bench", "--locked", "--bench", "instructions"])
        .env("GUNGRAUN_HOME", home)
        .env("GUNGRAUN_SAVE_SUMMARY", "json");
    if demo {
        cmd.args(["--features", "regression-demo"]);
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

/// Judges `home`'s summaries against the committed baseline; the exit code and the
/// demo benchmark's verdict.
fn judge(home: &Path) -> (i32, String, String) {
    let report = home.join("gate.json");
    let none = home.join("none");
    let out = Command::new(env!("CARGO_BIN_EXE_bench-gate"))
        .current_dir(root())
        .args(["check", "--profile", PROFILE, "--no-color"])
        .arg("--gungraun-dir")
        .arg(home)
        .arg("--criterion-dir")
        .arg(&none)
        .arg("--perf-dir")
        .arg(&none)
        .arg("--json")
        .arg(&report)
        .output()
        .expect("bench-gate runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&report).unwrap_or_else(|e| panic!("no report ({e}):\n{stdout}")),
    )
    .expect("the report is JSON");
    let verdict = json["comparisons"]
        .as_array()
        .expect("comparisons")
        .iter()
        .find(|c| c["id"] == ID)
        .unwrap_or_else(|| panic!("{ID} was not judged:\n{stdout}"))["verdict"]
        .as_str()
        .expect("a verdict")
        .to_owned();
    (out.status.code().unwrap_or(-1), verdict, stdout)
}

#[test]
fn a_slower_solve_is_critical_and_the_shipped_one_unchanged() {
    if let Some(why) = missing_tools() {
        if std::env::var_os("CI").is_some() {
            panic!("the regression demonstration needs its tools under CI=true: {why}");
        }
        eprintln!("skipped: the regression demonstration: {why}");
        return;
    }
    let shipped = tempfile::tempdir().expect("a temporary directory");
    measure(shipped.path(), false);
    let (code, verdict, out) = judge(shipped.path());
    assert_eq!(
        (code, verdict.as_str()),
        (0, "unchanged"),
        "the shipped code:\n{out}"
    );

    let slower = tempfile::tempdir().expect("a temporary directory");
    measure(slower.path(), true);
    let (code, verdict, out) = judge(slower.path());
    assert_eq!(
        (code, verdict.as_str()),
        (1, "critical"),
        "the slower variant:\n{out}"
    );
}
