//! `perf-test coordinate`: one agent coordinating with another over the event bus, the
//! published "overhead per agent coordination", as a round trip.
//!
//! Agent A publishes a task event on the `tasks` bus; agent B, a consumer of group
//! `agent-b`, receives it, acknowledges it to its consumer group and publishes a reply
//! on the `acks` bus (the acknowledgement and the reply go out together); agent A, a
//! consumer of group `agent-a` on `acks`, sees the reply for its task. The round trip
//! is timed on A's side, one at a time (the next task is published once the last reply
//! is seen), over the in-process bus and over Redis Streams.
//!
//! The two agents are the engine's [`Pair`] (`orchbench::scenarios`), kept across round
//! trips; the Criterion bench `event_throughput/coordination/{memory,redis}` times its
//! round trips too.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use bench_gate::Direction;
use bench_gate::perf::PerfReport;
use orchbench::events::{BusError, EventBus};
use orchbench::scenarios::{Pair, memory_pair_buses, redis_pair_buses};
use orchbench_redis_server::RedisServer;
use serde::Serialize;

use crate::{Console, PerfError, metric, percentile, positive, write_json_noted};

/// The reference: the published bound on one coordination, seconds.
pub const REFERENCE_BOUND_S: f64 = 0.100;

/// `perf-test coordinate`: which buses and how many round trips.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct CoordinateOptions {
    /// Buses to measure, comma-separated: memory, redis.
    #[arg(long, value_delimiter = ',', default_value = "memory,redis")]
    pub bus: Vec<String>,
    /// The Redis server (`redis://host:port[/db]`); without it a throwaway
    /// `redis-server` from PATH is started for the run.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Round trips measured per bus (after as many again to warm up, at most 1000).
    #[arg(long, default_value_t = 20_000)]
    pub round_trips: i64,
    /// Also write the summary as JSON to this file (atomically).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The report for bench-gate (`perf/coordination/<bus>_<figure>`).
    #[arg(long, default_value = "target/perf/coordination.json")]
    pub gate_json: PathBuf,
}

/// One bus's round trips.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoordinationRow {
    /// `memory` or `redis`.
    pub bus: String,
    /// Round trips measured.
    pub round_trips: usize,
    /// Mean, seconds.
    pub mean_s: f64,
    /// Median, seconds.
    pub p50_s: f64,
    /// 90th percentile, seconds.
    pub p90_s: f64,
    /// 99th percentile, seconds.
    pub p99_s: f64,
    /// 99.9th percentile, seconds.
    pub p999_s: f64,
    /// The slowest, seconds.
    pub max_s: f64,
}

impl CoordinationRow {
    fn of(bus: &str, times: &[Duration]) -> CoordinationRow {
        let mut s: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
        s.sort_by(f64::total_cmp);
        CoordinationRow {
            bus: bus.into(),
            round_trips: s.len(),
            mean_s: s.iter().sum::<f64>() / s.len().max(1) as f64,
            p50_s: percentile(&s, 50.0),
            p90_s: percentile(&s, 90.0),
            p99_s: percentile(&s, 99.0),
            p999_s: percentile(&s, 99.9),
            max_s: s.last().copied().unwrap_or(0.0),
        }
    }
}

async fn measure<B>(tasks: B, acks: B, n: usize) -> Result<Vec<Duration>, BusError>
where
    B: EventBus + Clone + 'static,
    B::Subscription: 'static,
{
    // Both agents are tasks on the runtime's workers, as an orchestrator's agents are
    // (not the thread that blocks on the runtime).
    tokio::spawn(async move {
        let mut pair = Pair::start(tasks, acks).await?;
        pair.round_trips(n.min(1000)).await?;
        let times = pair.round_trips(n).await?;
        pair.finish().await?;
        Ok(times)
    })
    .await
    .map_err(|_| BusError::Closed)?
}

/// Measures every bus asked for, shows the table and writes the reports.
pub fn run(
    options: &CoordinateOptions,
    console: &mut dyn Console,
) -> Result<Vec<CoordinationRow>, PerfError> {
    let n = positive("--round-trips", options.round_trips)?;
    if n > 10_000_000 {
        return Err(PerfError::Usage(format!(
            "--round-trips must be at most 10000000, got {n}"
        )));
    }
    for bus in &options.bus {
        if bus != "memory" && bus != "redis" {
            return Err(PerfError::Usage(format!(
                "--bus must list memory and/or redis, got {bus:?}"
            )));
        }
    }
    let runtime = orchbench::scheduler::runtime()
        .map_err(|e| PerfError::Run(format!("cannot start the async runtime: {e}")))?;
    let mut rows = Vec::new();
    for bus in &options.bus {
        console.status(&format!(
            "coordinate: {n} round trips over the {bus} bus ..."
        ));
        let times = if bus == "memory" {
            let (tasks, acks) = memory_pair_buses().map_err(|e| PerfError::Run(e.to_string()))?;
            runtime
                .block_on(measure(tasks, acks, n))
                .map_err(|e| PerfError::Run(e.to_string()))?
        } else {
            // The server lives until the measurement is done.
            let (url, _server) = match &options.redis_url {
                Some(url) => (url.clone(), None),
                None => {
                    let server = RedisServer::start().map_err(|e| {
                        PerfError::Unavailable(format!(
                            "coordinate over redis: cannot start a redis-server ({e}); install it or pass --redis-url"
                        ))
                    })?;
                    (server.url(), Some(server))
                }
            };
            let prefix = format!("orchbench:coordinate:{}", std::process::id());
            runtime
                .block_on(async {
                    let (tasks, acks) = redis_pair_buses(&url, &prefix).await?;
                    measure(tasks, acks, n).await
                })
                .map_err(|e| match e {
                    BusError::Redis { .. } | BusError::Timeout { .. } => {
                        PerfError::Unavailable(format!("coordinate over redis: {e}"))
                    }
                    e => PerfError::Run(format!("coordinate over redis: {e}")),
                })?
        };
        rows.push(CoordinationRow::of(bus, &times));
    }
    console.report(&markdown(&rows));
    if let Some(path) = &options.json {
        write_json_noted(console, path, &rows)?;
    }
    write_json_noted(
        console,
        &options.gate_json,
        &crate::with_wakeups(metrics(&rows)),
    )?;
    Ok(rows)
}

/// The round trips per bus, beside the reference's bound.
pub fn markdown(rows: &[CoordinationRow]) -> String {
    let us = |s: f64| format!("{:.1} µs", s * 1e6);
    let mut out = String::from(
        "One agent publishes a task, another receives and acknowledges it, the first sees the acknowledgement.\n\n\
         | bus | round trips | mean | p50 | p90 | p99 | p99.9 | max | reference bound |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | < {:.0} ms |",
            r.bus,
            r.round_trips,
            us(r.mean_s),
            us(r.p50_s),
            us(r.p90_s),
            us(r.p99_s),
            us(r.p999_s),
            us(r.max_s),
            REFERENCE_BOUND_S * 1e3
        );
    }
    out
}

/// The rows as the report bench-gate reads: `perf/coordination/<bus>_{mean,p50,p99}`.
pub fn metrics(rows: &[CoordinationRow]) -> PerfReport {
    let mut metrics = Vec::new();
    for r in rows {
        for (figure, value) in [("mean", r.mean_s), ("p50", r.p50_s), ("p99", r.p99_s)] {
            metrics.push(metric(
                format!("{}_{figure}", r.bus),
                value,
                "s",
                Direction::LowerIsBetter,
            ));
        }
    }
    PerfReport {
        report: "coordination".into(),
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_take_nearest_rank_percentiles() {
        let times: Vec<Duration> = (1..=1000).map(Duration::from_micros).collect();
        let row = CoordinationRow::of("memory", &times);
        assert_eq!(row.p50_s, 500e-6);
        assert_eq!(row.p99_s, 990e-6);
        assert_eq!(row.max_s, 1000e-6);
        assert!((row.mean_s - 500.5e-6).abs() < 1e-12);
    }
}
