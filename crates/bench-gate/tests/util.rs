//! Shared helpers for bench-gate's integration tests.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use assert_cmd::Command;

/// The directory holding committed test fixtures (real Criterion and gungraun output).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Held by every test that times code (`ab`'s power test) or keeps both cores busy
/// (scratch-project builds, the change-point fixtures): on a 2-core machine one such
/// test beside a measurement turned a 3 % slowdown into a warning. The tests of this
/// binary run in parallel otherwise; a test that panicked while holding it does not
/// block the rest.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static MACHINE: Mutex<()> = Mutex::new(());
    MACHINE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The target directory every scratch project of these tests builds in: their
/// dependencies (criterion, the harness's) are compiled once, not once per test. `ab`
/// takes a lock in it, so each test that runs `ab` holds [`exclusive`]; `ab`'s side
/// builds stay exact across projects (its reuse module dates back only files whose
/// blob is the one the last build saw).
pub fn scratch_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scratch-projects")
}

/// `cargo ARGS` in `dir` with `target` as its target directory; fails the test, with
/// cargo's output, unless it succeeds.
pub fn cargo(dir: &Path, target: &Path, args: &[&str]) {
    let out =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target)
            .args(args)
            .output()
            .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?} in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The arguments that leave every source but `bench-gate count`'s out of a command.
pub const COUNTS_ONLY: [&str; 6] = [
    "--criterion-dir",
    "none",
    "--gungraun-dir",
    "none",
    "--perf-dir",
    "none",
];

/// The `bench-gate` binary, run in `dir` without colour.
pub fn gate(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("bench-gate").expect("the bench-gate binary is built");
    cmd.current_dir(dir).env("NO_COLOR", "1");
    cmd
}
