//! orchbench: the performance-critical core of a workflow/agent orchestrator.
//!
//! The modules are real, reusable parts of an orchestrator:
//! - [`planner`]: DAG planning (topological order, execution waves, critical path,
//!   transitive reduction, a plan cache) on top of petgraph.
//! - [`ratelimit`]: token bucket, sliding log and sliding counter, on a [`timing`]
//!   clock with precise deadline sleeps.
//! - [`scheduler`]: the worker pool (backpressure, adaptive sizing, async and process
//!   executors, drain/cancel shutdown).
//! - [`events`]: the event bus, lossless in memory or through Redis Streams across
//!   machines, chosen by URL.
//! - [`queueing`]: the M/M/c model with dispatch delay; [`monitor`]: the RSS/CPU
//!   sampler.
//!
//! [`workload`] holds the deterministic generators shared by the benches, the tests and
//! the tools; [`scenarios`] the scenarios both the benches and the load tester run. What measures the engine lives in other crates of the workspace: the
//! load tester (`perf-test`), the comparator (`bench-gate`) and the benches; nothing
//! here depends on them. See the workspace's `ARCHITECTURE.md` for the map.

pub mod events;
#[cfg(feature = "extra-work")]
mod extra_work;
pub mod monitor;
pub mod planner;
pub mod queueing;
pub mod ratelimit;
pub mod scenarios;
pub mod scheduler;
pub mod timing;
pub mod workload;

/// The crate README's code examples, compiled and run by `cargo test` so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
