//! Wall-time benchmarks of the worker pool's scaling, for regression testing and for the
//! comparison with the published queueing study's documents (their figures are in
//! docs/results.md).
//!
//! Each iteration submits a batch of tasks to a pool built beforehand (on a tokio
//! multi-thread runtime with one thread per core) and waits until all have ended; the
//! time covers the first submit to the last completion. Throughput is in tasks.
//! Ids:
//! - `scheduler_scaling/sleep_1ms/{1,2,4,8}`: 200 × c tasks that each take exactly 1 ms,
//!   at c workers (efficiency = throughput / (c × 1000/s));
//! - `scheduler_scaling/noop/{1,2,4,8}`: 100 000 empty tasks: the scheduler's own cost;
//! - `scheduler_scaling/dispatch_delay/{1,2,3,4}`: the published queueing study's benchmark,
//!   100 × c tasks of 5 ms behind a 5 ms dispatch delay, pipelined (ideal: c × 200 tasks/s;
//!   the first task of each worker waits the delay, so a batch of 100 per worker can reach
//!   0.995 of it).
//!
//! Quick mode (CI): `ORCHBENCH_QUICK=1 cargo bench --bench scheduler_scaling`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use orchbench::scheduler::{Pool, PoolConfig, Shutdown, Task};

/// Times batches of `tasks` tasks made by `make` on a pool built from `config`; the
/// submitting loop runs as a task on the runtime (`orchbench_benches::on_runtime`).
fn bench_batches(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &tokio::runtime::Runtime,
    id: BenchmarkId,
    config: PoolConfig,
    tasks: usize,
    make: fn() -> Task,
) {
    let pool = Arc::new(runtime.block_on(async { Pool::new(config).expect("valid pool") }));
    group.throughput(Throughput::Elements(tasks as u64));
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = pool.clone();
                total += orchbench_benches::on_runtime(runtime, async move {
                    let t0 = Instant::now();
                    for _ in 0..tasks {
                        batch.submit(make()).await.expect("the pool accepts");
                    }
                    batch.wait_idle().await;
                    t0.elapsed()
                });
                // Dropping the records is bookkeeping between batches, not timed.
                drop(pool.take_records());
            }
            total
        })
    });
    let report = runtime.block_on(pool.shutdown(Shutdown::Drain));
    assert_eq!(
        report.failed + report.cancelled,
        0,
        "every benchmark task must complete"
    );
}

fn scheduler_scaling(c: &mut Criterion) {
    let runtime = orchbench::scheduler::runtime().expect("a tokio runtime");
    let mut group = c.benchmark_group("scheduler_scaling");
    // Each sample is a whole batch (tens to hundreds of milliseconds).
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);

    for workers in [1, 2, 4, 8] {
        bench_batches(
            &mut group,
            &runtime,
            BenchmarkId::new("sleep_1ms", workers),
            PoolConfig::with_workers(workers),
            200 * workers,
            || Task::sleep(Duration::from_millis(1)),
        );
    }
    for workers in [1, 2, 4, 8] {
        bench_batches(
            &mut group,
            &runtime,
            BenchmarkId::new("noop", workers),
            PoolConfig::with_workers(workers),
            100_000,
            Task::noop,
        );
    }
    for workers in [1, 2, 3, 4] {
        let config = PoolConfig {
            dispatch_delay: Duration::from_millis(5),
            prefetch: 1,
            ..PoolConfig::with_workers(workers)
        };
        bench_batches(
            &mut group,
            &runtime,
            BenchmarkId::new("dispatch_delay", workers),
            config,
            100 * workers,
            || Task::sleep(Duration::from_millis(5)),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = orchbench_benches::config();
    targets = scheduler_scaling
}
criterion_main!(benches);
