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

/// Runs `future` as a task on one of `runtime`'s worker threads and waits for it.
///
/// Benches that submit work to a pool do it from inside the runtime, as an
/// orchestrator's own tasks would: with `block_on` alone the submitting loop runs on
/// the bench's thread, a third busy thread on two cores that the kernel time-slices
/// against the workers.
#[allow(dead_code)] // not every bench file submits to a pool
pub fn on_runtime<F>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime
        .block_on(runtime.spawn(future))
        .expect("the benchmark task panicked")
}
