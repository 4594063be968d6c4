//! Event-bus throughput, end to end: N events published (in batches of b, or one
//! `publish` per event for batch_1) and consumed by a subscriber that checks it got
//! every one, in order. Timed from the first publish to the subscriber's last event.
//! Throughput is in events (per subscriber for the fan-out).
//!
//! Ids:
//! - `event_throughput/memory/{1000,10000,100000}/batch_{1,64,1024}`
//! - `event_throughput/memory_fanout/4` (100 000 events, batches of 1024, 4 groups)
//! - yardsticks in the same run: `event_throughput/tokio_mpsc/100000/batch_1` (lossless,
//!   one consumer) and `event_throughput/tokio_broadcast/4` (loses lagging receivers'
//!   events; the loss is printed).
//! - `event_throughput/redis/N/batch_{1,100,1000}`: publish + consume through a
//!   consumer group + ack, on a real server (batch_1: one XADD per event, up to 1000
//!   publishes in flight on the multiplexed connection).
//! - `event_throughput/redis_publish/N/batch_1000`: the bus's publishing alone, and
//!   `event_throughput/redis_raw_xadd/N/batch_1000`: the redis crate's pipelined
//!   XADD of the same entries, the yardstick measured in the same run (same work).
//!
//! - `event_throughput/redis_server_xadd/{entry,one_field}`: the server's own XADD limit,
//!   measured by `redis-benchmark -P 64 -c 50` (50 connections, 64 commands in flight
//!   on each) on the same server in the same run: `entry` adds the bus's entries (four
//!   fields), `one_field` the `XADD key * f v` such runs usually quote. A sample's time is
//!   redis-benchmark's own figure (requests / its requests per second), so the bus's
//!   ratios to the server's limit are quoted from one run (docs/results.md).
//!
//! - `event_throughput/coordination/{memory,redis}`: one agent publishes a task event,
//!   another receives, acknowledges and answers it, the first sees the answer
//!   (`orchbench::scenarios::Pair`, which `perf-test coordinate` times for p50/p99);
//!   one round trip per iteration, the pair kept across samples.
//!
//! N is 100 000 events, or 10 000 in quick mode: a Redis sample is one whole run, ten
//! flat samples are Criterion's least, and at 100 000 events the five Redis benchmarks
//! took 70 % of a `bench-gate ab` round of the whole quick suite (49 s for batch_1's
//! pair alone).
//!
//! The Redis benches use `ORCHBENCH_REDIS_URL` if set, else start a `redis-server`
//! found on PATH; with neither they print why they were skipped.
//! Quick mode (CI): `ORCHBENCH_QUICK=1 cargo bench --bench event_throughput`.

use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use orchbench::events::{
    Event, EventBus, EventKind, MemoryBus, MemoryConfig, RedisConfig, RedisStreamsBus, Subscription,
};
use orchbench::scenarios::{self as coordinate, Pair};
use orchbench_redis_server::RedisServer;

fn ev(i: u64) -> Event {
    Event::new(
        EventKind::TaskFinished,
        i >> 4,
        i,
        1_700_000_000_000_000_000,
    )
}

/// Reads `n` events, checking that none is lost, duplicated or (when `ordered`, i.e.
/// one publisher issuing them in sequence) out of order; returns when the last one
/// arrived and was acknowledged.
async fn consume(mut sub: impl Subscription, n: u64, ordered: bool) -> Instant {
    let mut out = Vec::with_capacity(1024);
    let (mut got, mut sum) = (0u64, 0u64);
    while got < n {
        out.clear();
        let k = sub.recv_batch(&mut out, 1024).await.expect("receive") as u64;
        assert!(k > 0, "the bus ended after {got} of {n} events");
        if ordered {
            assert_eq!(
                out.last().map(|e| e.task),
                Some(got + k - 1),
                "events lost or reordered"
            );
        }
        sum += out.iter().map(|e| e.task).sum::<u64>();
        got += k;
    }
    sub.ack().await.expect("ack");
    assert_eq!(sum, n * (n - 1) / 2, "events lost or duplicated");
    Instant::now()
}

async fn publish_all<B: EventBus + Clone + 'static>(bus: &B, n: u64, batch: u64) {
    if batch == 1 {
        for i in 0..n {
            bus.publish(ev(i)).await.expect("publish");
        }
    } else {
        let mut i = 0;
        while i < n {
            let end = (i + batch).min(n);
            bus.publish_batch((i..end).map(ev)).await.expect("publish");
            i = end;
        }
    }
}

/// One end-to-end run on a fresh memory bus with `groups` subscribers.
async fn memory_run(n: u64, batch: u64, groups: usize) -> Duration {
    let bus = MemoryBus::new(MemoryConfig::default()).expect("bus");
    let mut readers = Vec::new();
    for g in 0..groups {
        let sub = bus.subscribe(&format!("g{g}")).await.expect("subscribe");
        readers.push(tokio::spawn(consume(sub, n, true)));
    }
    let start = Instant::now();
    publish_all(&bus, n, batch).await;
    let mut last = start;
    for r in readers {
        last = last.max(r.await.expect("reader"));
    }
    last - start
}

fn memory(c: &mut Criterion) {
    let runtime = orchbench::scheduler::runtime().expect("a tokio runtime");
    let mut group = c.benchmark_group("event_throughput/memory");
    for n in [1_000u64, 10_000, 100_000] {
        group.throughput(Throughput::Elements(n));
        for batch in [1u64, 64, 1024] {
            group.bench_function(
                BenchmarkId::new(n.to_string(), format!("batch_{batch}")),
                |b| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| {
                                orchbench_benches::on_runtime(&runtime, memory_run(n, batch, 1))
                            })
                            .sum()
                    })
                },
            );
        }
    }
    group.finish();
    let mut group = c.benchmark_group("event_throughput/memory_fanout");
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("4", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| orchbench_benches::on_runtime(&runtime, memory_run(100_000, 1024, 4)))
                .sum()
        })
    });
    group.finish();
}

/// Yardstick: tokio's mpsc channel (one consumer, lossless), one event per send.
async fn tokio_mpsc_run(n: u64) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(8192);
    let reader = tokio::spawn(async move {
        let mut out = Vec::with_capacity(1024);
        let mut got = 0u64;
        while got < n {
            out.clear();
            got += rx.recv_many(&mut out, 1024).await as u64;
        }
        Instant::now()
    });
    let start = Instant::now();
    for i in 0..n {
        tx.send(ev(i)).await.expect("send");
    }
    reader.await.expect("reader") - start
}

/// Yardstick: tokio's broadcast channel with 4 receivers (capacity 8192, as the memory
/// bus): fast, but a lagging receiver loses events. Returns (time, events lost).
async fn tokio_broadcast_run(n: u64) -> (Duration, u64) {
    let (tx, _) = tokio::sync::broadcast::channel::<Event>(8192);
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let mut rx = tx.subscribe();
            tokio::spawn(async move {
                let mut got = 0u64;
                loop {
                    match rx.recv().await {
                        Ok(e) if e.task + 1 == n => return (Instant::now(), n - got - 1),
                        Ok(_) => got += 1,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        // Closed: the last event itself was lost.
                        Err(_) => return (Instant::now(), n - got),
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    for i in 0..n {
        tx.send(ev(i)).expect("send");
    }
    drop(tx);
    let (mut last, mut lost) = (start, 0);
    for r in readers {
        let (t, l) = r.await.expect("reader");
        last = last.max(t);
        lost += l;
    }
    (last - start, lost)
}

fn yardsticks(c: &mut Criterion) {
    let runtime = orchbench::scheduler::runtime().expect("a tokio runtime");
    let mut group = c.benchmark_group("event_throughput/tokio_mpsc");
    group.throughput(Throughput::Elements(100_000));
    group.bench_function(BenchmarkId::new("100000", "batch_1"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| orchbench_benches::on_runtime(&runtime, tokio_mpsc_run(100_000)))
                .sum()
        })
    });
    group.finish();
    let mut group = c.benchmark_group("event_throughput/tokio_broadcast");
    group.throughput(Throughput::Elements(100_000));
    let (mut runs, mut lost) = (0u64, 0u64);
    group.bench_function("4", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let (t, l) =
                        orchbench_benches::on_runtime(&runtime, tokio_broadcast_run(100_000));
                    runs += 1;
                    lost += l;
                    t
                })
                .sum()
        })
    });
    group.finish();
    if runs > 0 {
        eprintln!(
            "event_throughput/tokio_broadcast/4: {:.1} % of the events lost to lag over {runs} runs \
             (the memory bus loses none)",
            100.0 * lost as f64 / (runs * 4 * 100_000) as f64
        );
    }
}

/// `event_throughput/coordination/NAME`: round trips of a pair kept across samples.
fn coordination_bench<B>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    pair: Pair<B>,
) where
    B: EventBus + Clone + 'static,
    B::Subscription: 'static,
{
    let mut group = c.benchmark_group("event_throughput/coordination");
    let mut kept = Some(pair);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut pair = kept
                .take()
                .expect("the pair is put back after every sample");
            let (pair, total) = orchbench_benches::on_runtime(runtime, async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += pair.round_trip().await.expect("round trip");
                }
                (pair, total)
            });
            kept = Some(pair);
            total
        })
    });
    group.finish();
    if let Some(pair) = kept {
        orchbench_benches::on_runtime(runtime, async move {
            pair.finish().await.expect("the pair shuts down")
        });
    }
}

fn coordination_memory(c: &mut Criterion) {
    let runtime = orchbench::scheduler::runtime().expect("a tokio runtime");
    let (tasks, acks) = coordinate::memory_pair_buses().expect("two memory buses");
    let pair = orchbench_benches::on_runtime(&runtime, async move {
        Pair::start(tasks, acks)
            .await
            .expect("the agents subscribe")
    });
    coordination_bench(c, &runtime, "memory", pair);
}

/// The server the Redis benches use: `ORCHBENCH_REDIS_URL`, or a local one started
/// here; `None` (with the reason printed) when neither is available.
fn redis_target() -> Option<(String, Option<RedisServer>)> {
    if let Ok(url) = std::env::var("ORCHBENCH_REDIS_URL") {
        return Some((url, None));
    }
    match RedisServer::start() {
        Ok(server) => Some((server.url(), Some(server))),
        Err(e) => {
            eprintln!("event_throughput/redis*: SKIPPED: {e} (or set ORCHBENCH_REDIS_URL)");
            None
        }
    }
}

/// A fresh stream key per run, so runs neither grow one stream nor see each other.
fn stream_key() -> String {
    static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "bench:{}:{}",
        std::process::id(),
        RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

async fn delete(url: &str, key: &str) {
    let mut conn = redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = redis::cmd("DEL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("DEL");
}

/// One end-to-end run: publish `n` events (pipelines of `batch`, or one `publish` per
/// event with 1000 in flight for batch 1) while a consumer-group subscriber reads and
/// acknowledges them all.
async fn redis_run(url: String, n: u64, batch: u64) -> Duration {
    let mut config = RedisConfig::new(url.clone());
    config.stream = stream_key();
    config.batch = batch.max(100) as usize;
    let bus = RedisStreamsBus::connect(config.clone())
        .await
        .expect("connect");
    let sub = bus.subscribe("bench").await.expect("subscribe");
    let reader = tokio::spawn(consume(sub, n, batch > 1));
    let start = Instant::now();
    if batch == 1 {
        use futures_util::StreamExt;
        let mut sends = futures_util::stream::iter(0..n)
            .map(|i| bus.publish(ev(i)))
            .buffered(1000);
        while let Some(r) = sends.next().await {
            r.expect("publish");
        }
    } else {
        publish_all(&bus, n, batch).await;
    }
    let end = reader.await.expect("reader");
    let elapsed = end - start;
    bus.shutdown().await.expect("shutdown");
    delete(&url, &config.stream).await;
    elapsed
}

/// The bus's publishing alone (pipelines of `batch`), the work the yardstick does.
async fn redis_publish_run(url: String, n: u64, batch: u64) -> Duration {
    let mut config = RedisConfig::new(url.clone());
    config.stream = stream_key();
    config.batch = batch as usize;
    let bus = RedisStreamsBus::connect(config.clone())
        .await
        .expect("connect");
    let start = Instant::now();
    publish_all(&bus, n, batch).await;
    let elapsed = start.elapsed();
    bus.shutdown().await.expect("shutdown");
    delete(&url, &config.stream).await;
    elapsed
}

/// The yardstick: the redis crate's own pipelined XADD of the same entries, no bus.
async fn raw_xadd_run(url: String, n: u64, batch: u64) -> Duration {
    let key = stream_key();
    let mut conn = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let mut pipe = redis::pipe();
        for j in i..(i + batch).min(n) {
            let e = ev(j);
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg("k")
                .arg(e.kind.name().as_bytes())
                .arg("w")
                .arg(e.workflow)
                .arg("t")
                .arg(e.task)
                .arg("ts")
                .arg(e.at_ns)
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await.expect("XADD");
        i += batch;
    }
    let elapsed = start.elapsed();
    delete(&url, &key).await;
    elapsed
}

fn redis_benches(c: &mut Criterion) {
    let Some((url, _server)) = redis_target() else {
        return;
    };
    let runtime = orchbench::scheduler::runtime().expect("a tokio runtime");
    let n = if orchbench_benches::BenchProfile::from_env() == orchbench_benches::BenchProfile::QUICK
    {
        10_000u64
    } else {
        100_000u64
    };
    let mut group = c.benchmark_group("event_throughput/redis");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    for batch in [1u64, 100, 1000] {
        group.bench_function(
            BenchmarkId::new(n.to_string(), format!("batch_{batch}")),
            |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            orchbench_benches::on_runtime(
                                &runtime,
                                redis_run(url.clone(), n, batch),
                            )
                        })
                        .sum()
                })
            },
        );
    }
    group.finish();
    let publish = |url: String| redis_publish_run(url, n, 1000);
    let raw = |url: String| raw_xadd_run(url, n, 1000);
    one_redis_bench(
        c,
        &runtime,
        "event_throughput/redis_publish",
        &url,
        n,
        publish,
    );
    one_redis_bench(c, &runtime, "event_throughput/redis_raw_xadd", &url, n, raw);
    server_xadd_benches(c, &url, n);
    let prefix = stream_key();
    let coordination_url = url.clone();
    let pair = orchbench_benches::on_runtime(&runtime, async move {
        let (tasks, acks) = coordinate::redis_pair_buses(&coordination_url, &prefix)
            .await
            .expect("connect");
        Pair::start(tasks, acks)
            .await
            .expect("the agents subscribe")
    });
    coordination_bench(c, &runtime, "redis", pair);
}

/// The fields of the bus's entries, as `redis-benchmark` arguments.
const ENTRY_FIELDS: &[&str] = &[
    "k",
    "task.finished",
    "w",
    "624",
    "t",
    "9999",
    "ts",
    "1700000000000000000",
];

/// `event_throughput/redis_server_xadd/{entry,one_field}` (see the header); skipped with
/// the reason printed when `redis-benchmark` is not on PATH or the server is not TCP.
fn server_xadd_benches(c: &mut Criterion, url: &str, n: u64) {
    let info = redis::Client::open(url)
        .expect("url")
        .get_connection_info()
        .clone();
    let redis::ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
        eprintln!("event_throughput/redis_server_xadd: SKIPPED: the server is not on TCP");
        return;
    };
    if std::process::Command::new("redis-benchmark")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("event_throughput/redis_server_xadd: SKIPPED: redis-benchmark is not on PATH");
        return;
    }
    // 20 requests per event of the bus's runs: long enough (about 0.2 s here) for
    // redis-benchmark's 50 connections to reach their rate.
    let requests = n * 20;
    let mut group = c.benchmark_group("event_throughput/redis_server_xadd");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(requests));
    let shapes: [(&str, &[&str]); 2] = [("entry", ENTRY_FIELDS), ("one_field", &["f", "v"])];
    for (name, fields) in shapes {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| server_xadd_run(&host, port, &info, requests, fields))
                    .sum()
            })
        });
    }
    group.finish();
}

/// One `redis-benchmark -P 64 -c 50 -n REQUESTS XADD key * FIELDS…` run against a fresh
/// key (deleted after): the time `requests` take at the rate it reports.
fn server_xadd_run(
    host: &str,
    port: u16,
    info: &redis::ConnectionInfo,
    requests: u64,
    fields: &[&str],
) -> Duration {
    let key = stream_key();
    let mut cmd = std::process::Command::new("redis-benchmark");
    cmd.args(["-h", host, "-p", &port.to_string()]).args([
        "-P",
        "64",
        "-c",
        "50",
        "-n",
        &requests.to_string(),
        "-q",
    ]);
    let settings = info.redis_settings();
    if let Some(password) = settings.password() {
        cmd.args(["-a", password]);
        if let Some(user) = settings.username() {
            cmd.args(["--user", user]);
        }
    }
    if settings.db() != 0 {
        cmd.args(["--dbnum", &settings.db().to_string()]);
    }
    cmd.args(["XADD", key.as_str(), "*"]).args(fields);
    let out = cmd.output().expect("redis-benchmark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // The last line: "XADD …: 869565.25 requests per second, p50=3.527 msec".
    let rps: f64 = text
        .rsplit_once(": ")
        .and_then(|(_, tail)| tail.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .filter(|&v: &f64| v > 0.0 && out.status.success())
        .unwrap_or_else(|| panic!("redis-benchmark printed no rate: {text}"));
    let client = redis::Client::open(info.clone()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).expect("DEL");
    Duration::from_secs_f64(requests as f64 / rps)
}

/// `GROUP/N/batch_1000`: ten flat samples of one whole run each.
fn one_redis_bench<F, Fut>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    group: &str,
    url: &str,
    n: u64,
    run: F,
) where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Duration> + Send + 'static,
{
    let mut group = c.benchmark_group(group);
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function(BenchmarkId::new(n.to_string(), "batch_1000"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| orchbench_benches::on_runtime(runtime, run(url.to_owned())))
                .sum()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = orchbench_benches::config();
    targets = memory, coordination_memory, yardsticks, redis_benches
}
criterion_main!(benches);
