//! Instruction counts of the hot paths under callgrind (gungraun): the PR gate's
//! noise-free signal. The same binary gives the same counts on every run, so
//! `thresholds.toml` gates them tightly (warning 0.5 %, critical 3 %), where wall time on
//! a shared runner needs noise bands.
//!
//! Ids (`bench-gate` maps `file::group::function` + bench id to `file/function/id`; a
//! bench id `_1000` stands for `1000`, as Rust identifiers cannot start with a digit),
//! mirroring the Criterion ones:
//! - `instructions/plan/1000`: `Plan::build` on the 1000-node random DAG of
//!   `graph_planning/plan/1000`.
//! - `instructions/transitive_reduction/1000`: the reduction alone, on a ranked order
//!   prepared in setup (`graph_planning/transitive_reduction/1000`).
//! - `instructions/replan_cached/1000`: a `PlanCache` hit (`graph_planning/replan_cached/1000`).
//! - `instructions/token_bucket/try_acquire_x1000`,
//!   `instructions/sliding_counter/try_acquire_x1000`: 1000 granted `try_acquire` calls on
//!   the real clock (`rate_limiters/*/try_acquire`).
//! - `instructions/memory_bus/publish_batch_1024`: one `publish_batch` of 1024 events into
//!   a memory bus with one subscriber (`event_throughput/memory/*/batch_1024`).
//! - `instructions/mmc/solve_c_1_to_64`: the M/M/c solution for 1 to 64 servers.
//! - `instructions/gate/check_200_benchmarks`: the comparator's decision over 200
//!   generated wall-time benchmarks × 100 samples (`gate/decide/200x100`).
//!
//! Every input (graphs, caches, limiters, buses, events, gate results) is built in a
//! setup function, outside the measured function. Run (≈ 3 s, plus the build):
//! `cargo bench --bench instructions -- --save-summary=json`; `bench-gate check` reads
//! `target/gungraun/**/summary.json`. Needs valgrind and the `gungraun-runner` binary
//! of the same version as the `gungraun` crate (README).

// gungraun's macros generate public modules and functions without docs.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bench_gate::Results;
use bench_gate::Source;
use bench_gate::decide::{decide, scaled};
use bench_gate::thresholds::Policy;
use bench_gate::verdict::Decision;
use gungraun::{library_benchmark, library_benchmark_group, main};
use orchbench::events::{Event, EventBus, EventKind, MemoryBus, MemoryConfig, MemorySubscription};
use orchbench::planner::stages::{Ranked, Topology};
use orchbench::planner::{Dag, Plan, PlanCache};
use orchbench::queueing::{MmcSolution, QueueingError, sweep};
use orchbench::ratelimit::{RateLimiter, SlidingCounter, TokenBucket};
use orchbench::workload::{self, DEFAULT_SEED};

/// Runs a future that must complete without waiting (no runtime under callgrind: a
/// runtime's threads would make counts depend on scheduling).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the benchmark's future had to wait"),
    }
}

fn dag(nodes: usize) -> Dag {
    workload::random_forward_dag(nodes, DEFAULT_SEED)
}

#[library_benchmark]
#[bench::_1000(args = (1000), setup = dag)]
fn plan(dag: Dag) -> (Plan, Dag) {
    let plan = Plan::build(black_box(&dag)).expect("generated graphs are acyclic");
    (black_box(plan), dag)
}

/// A ranked order of the `nodes`-node DAG; the borrows it needs live for the process.
fn ranked(nodes: usize) -> Ranked<'static> {
    let topo: &'static Topology =
        Box::leak(Box::new(Topology::new(&dag(nodes)).expect("valid costs")));
    let sorted = Box::leak(Box::new(
        topo.toposort().expect("generated graphs are acyclic"),
    ));
    sorted.rank()
}

#[library_benchmark]
#[bench::_1000(args = (1000), setup = ranked)]
fn transitive_reduction(ranked: Ranked<'static>) -> (Vec<(u32, u32)>, Ranked<'static>) {
    let reduced = black_box(&ranked).transitive_reduction();
    (black_box(reduced), ranked)
}

fn warm_cache(nodes: usize) -> (PlanCache, Dag) {
    let dag = dag(nodes);
    let cache = PlanCache::default();
    cache
        .get_or_build(&dag)
        .expect("generated graphs are acyclic");
    (cache, dag)
}

#[library_benchmark]
#[bench::_1000(args = (1000), setup = warm_cache)]
fn replan_cached(input: (PlanCache, Dag)) -> (Arc<Plan>, (PlanCache, Dag)) {
    let plan = input.0.get_or_build(black_box(&input.1)).expect("cached");
    (black_box(plan), input)
}

/// 1e9 permits per second, bursts of 1e6: 1000 calls are never refused.
fn bucket() -> TokenBucket {
    TokenBucket::new(1e9, 1_000_000).expect("valid bucket")
}

/// A window of a minute: the 1000 calls (a few ms under valgrind) stay inside one
/// window, so the count does not depend on how many window boundaries the run happened
/// to cross. With a 1 ms window it did: two runs of one binary differed by 3
/// instructions (a CI run of 2026-12-03).
fn counter() -> SlidingCounter {
    SlidingCounter::new(1_000_000, std::time::Duration::from_secs(60)).expect("valid counter")
}

fn acquire_1000(limiter: &impl RateLimiter) -> u32 {
    let mut granted = 0;
    for _ in 0..1000 {
        granted += u32::from(black_box(limiter).try_acquire().is_ok());
    }
    assert_eq!(granted, 1000, "the bench quota was exhausted");
    granted
}

#[library_benchmark]
#[bench::try_acquire_x1000(setup = bucket)]
fn token_bucket(limiter: TokenBucket) -> (u32, TokenBucket) {
    (black_box(acquire_1000(&limiter)), limiter)
}

#[library_benchmark]
#[bench::try_acquire_x1000(setup = counter)]
fn sliding_counter(limiter: SlidingCounter) -> (u32, SlidingCounter) {
    (black_box(acquire_1000(&limiter)), limiter)
}

fn bus_and_events(n: u64) -> ((MemoryBus, MemorySubscription), Vec<Event>) {
    let bus = MemoryBus::new(MemoryConfig::default()).expect("bus");
    let sub = ready(bus.subscribe("g")).expect("subscribe");
    let events = (0..n)
        .map(|i| {
            Event::new(
                EventKind::TaskFinished,
                i >> 4,
                i,
                1_700_000_000_000_000_000,
            )
        })
        .collect();
    ((bus, sub), events)
}

// The events move into the bus (their slots are freed later, by the subscriber's
// reads or the bus's drop, outside the measured function). (A doc comment here would be
// refused by `#[library_benchmark]`.)
#[library_benchmark]
#[bench::publish_batch_1024(args = (1024), setup = bus_and_events)]
fn memory_bus(
    input: ((MemoryBus, MemorySubscription), Vec<Event>),
) -> (u64, (MemoryBus, MemorySubscription)) {
    let (bus, events) = input;
    ready(bus.0.publish_batch(black_box(events))).expect("publish");
    (black_box(bus.0.published()), bus)
}

#[library_benchmark]
#[bench::solve_c_1_to_64(args = (64))]
fn mmc(max_servers: u32) -> Vec<(u32, Result<MmcSolution, QueueingError>)> {
    // 100 arrivals/s, 10 tasks/s per worker: unstable below 11 servers, as in the published
    // queueing study's M/M/c table.
    black_box(sweep(black_box(100.0), 10.0, 0.001, max_servers))
}

fn gate_inputs(n: usize) -> (Results, Results, Policy) {
    let base = bench_gate::synthetic::wall_time_results(n, 100, 0.05, DEFAULT_SEED);
    let current = scaled(&base, Source::WallTime, 1.02);
    (current, base, Policy::builtin())
}

#[library_benchmark]
#[bench::check_200_benchmarks(args = (200), setup = gate_inputs)]
fn gate(input: (Results, Results, Policy)) -> (Decision, (Results, Results, Policy)) {
    let (current, base, policy) = &input;
    let decision = decide(black_box(current), Some(base), policy, &[]).expect("decides");
    (black_box(decision), input)
}

library_benchmark_group!(
    name = graph,
    benchmarks = [plan, transitive_reduction, replan_cached]
);
library_benchmark_group!(name = limits, benchmarks = [token_bucket, sliding_counter]);
library_benchmark_group!(name = events, benchmarks = [memory_bus]);
library_benchmark_group!(name = model, benchmarks = [mmc, gate]);

main!(library_benchmark_groups = graph, limits, events, model);
