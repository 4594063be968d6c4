//! Criterion's in-process profiler hook: `--profile-time` runs start and stop a
//! `Profiler` around each benchmark. `ExternalProfiler` (the default) does nothing, for
//! profilers that attach from outside.

use std::path::Path;

/// Started and stopped around each benchmark in a `--profile-time` run.
pub trait Profiler {
    /// Called before the benchmark's iterations.
    fn start_profiling(&mut self, benchmark_id: &str, benchmark_dir: &Path);
    /// Called after them.
    fn stop_profiling(&mut self, benchmark_id: &str, benchmark_dir: &Path);
}

/// A profiler that does nothing.
pub struct ExternalProfiler;

impl Profiler for ExternalProfiler {
    fn start_profiling(&mut self, _benchmark_id: &str, _benchmark_dir: &Path) {}
    fn stop_profiling(&mut self, _benchmark_id: &str, _benchmark_dir: &Path) {}
}
