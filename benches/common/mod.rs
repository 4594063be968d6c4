//! Shared by every bench file (included with `mod common;`): the Criterion
//! configuration built from `workload::BenchProfile`, so all benches honour quick mode
//! (`ORCHBENCH_QUICK=1`) the same way. Inputs and generators live in `src/workload.rs`.

use criterion::Criterion;
use orchbench::workload::BenchProfile;

/// Criterion configured from the environment's bench profile; command-line flags
/// (`--quick`, `--test`, …) still apply on top.
pub fn config() -> Criterion {
    let profile = BenchProfile::from_env();
    Criterion::default()
        .warm_up_time(profile.warm_up)
        .measurement_time(profile.measurement)
        .sample_size(profile.sample_size)
}
