//! Shared helpers for bench-gate's integration tests.

use std::path::PathBuf;

/// The directory holding committed test fixtures (real Criterion and gungraun output).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}
