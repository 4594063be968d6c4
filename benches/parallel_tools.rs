//! Wall-time benchmarks of parallel tool execution as the published tool benchmarks run it, for
//! regression testing: N simulated tool calls (`Task::sleep(DEFAULT_TOOL_TIME)`, 20 ms)
//! issued at once (one `submit_batch`, from a task on the runtime) to a pool of 100 workers
//! built beforehand, timed from the submission to the last completion. Ideal is 20 ms
//! whatever N; efficiency = 20 ms / measured time. Ids: `parallel_tools/{1,5,20,50,100}`.
//! Throughput is in tool calls.
//!
//! Quick mode (CI): `ORCHBENCH_QUICK=1 cargo bench --bench parallel_tools`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use orchbench::scenarios::{DEFAULT_TOOL_TIME, tool_calls};
use orchbench::scheduler::{Pool, PoolConfig, Shutdown};

fn parallel_tools(c: &mut Criterion) {
    let runtime = orchbench::scheduler::runtime().expect("a tokio runtime");
    let pool = Arc::new(
        runtime.block_on(async { Pool::new(PoolConfig::with_workers(100)).expect("valid pool") }),
    );
    let mut group = c.benchmark_group("parallel_tools");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    for tools in [1usize, 5, 20, 50, 100] {
        group.throughput(Throughput::Elements(tools as u64));
        group.bench_function(BenchmarkId::from_parameter(tools), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch = pool.clone();
                    total += orchbench_benches::on_runtime(&runtime, async move {
                        tool_calls(&batch, tools, DEFAULT_TOOL_TIME)
                            .await
                            .expect("the pool accepts every call")
                    });
                    drop(pool.take_records());
                }
                total
            })
        });
    }
    group.finish();
    let report = runtime.block_on(pool.shutdown(Shutdown::Drain));
    assert_eq!(
        report.failed + report.cancelled,
        0,
        "every tool call must complete"
    );
}

criterion_group! {
    name = benches;
    config = orchbench_benches::config();
    targets = parallel_tools
}
criterion_main!(benches);
