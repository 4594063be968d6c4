//! orchbench: the performance-critical core of a workflow/agent orchestrator and the
//! benchmark suite with regression gates around it.
//!
//! The engine modules are real, reusable parts of an orchestrator:
//! - [`planner`]: DAG planning (topological order, execution waves, critical path,
//!   transitive reduction, a plan cache) on top of petgraph.
//! - [`ratelimit`]: token bucket, sliding log and sliding counter, on a [`timing`]
//!   clock with precise deadline sleeps.
//! - [`scheduler`]: the worker pool (backpressure, adaptive sizing, async and process
//!   executors, drain/cancel shutdown) and its load drivers.
//! - [`events`]: the event bus, lossless in memory or through Redis Streams across
//!   machines, chosen by URL.
//! - [`queueing`]: the M/M/c model with dispatch delay; [`monitor`]: the RSS/CPU
//!   sampler; [`perftest`]: the engine behind the `perf-test` binary.
//!
//! [`workload`] holds the deterministic generators shared by the benches, the tests and
//! the command-line tools, and [`fsutil`] the atomic file writes every tool uses.
//! See `ARCHITECTURE.md` for the map of modules and their boundaries.

#![warn(missing_docs)]

pub mod events;
pub mod fsutil;
pub mod gate;
pub mod monitor;
pub mod perftest;
pub mod planner;
pub mod queueing;
pub mod ratelimit;
pub mod scheduler;
pub mod timing;
pub mod workload;

/// The README's code examples, compiled and run by `cargo test` so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
