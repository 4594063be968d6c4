//! `perf-test speculate`: speculative tool calls on the pool, as the published
//! speculative-execution baseline is measured, side by side with not speculating,
//! in one run.
//!
//! An agent step is a model's decision that lasts D ms and selects one of K candidate
//! tool calls, then that call (T ms, holding a buffer of M KiB). Without speculation the
//! call starts when the decision ends: D + T. With speculation a predictor ranks the
//! candidates when the step starts, the top S start at once ([`Pool::speculate`]), and
//! when the decision ends the chosen one is confirmed if it was started (a hit: the
//! step takes max(D, T)) and the rest are abandoned; on a miss the chosen call is
//! submitted then. The predictor's first choice is the model's with probability
//! `--accuracy` (seeded draws), otherwise the model picks uniformly among the others.
//!
//! Several agents run steps at once, each alternating the two modes step by step, so
//! both see the same machine at the same moments (a paired comparison).
//!
//! Figures, with their definitions:
//! - **hit rate**: steps whose chosen call had been started speculatively / steps with
//!   speculation;
//! - **false-positive rate**: speculations abandoned / speculations started (with S = 1
//!   it is 1 − hit rate); **wasted work**: run time of abandoned speculations / run time
//!   of every tool call in the speculative steps;
//! - **overhead per speculation**: the caller's time in `speculate` plus its decision
//!   (`confirm` or `abandon`), per speculation; **hit excess**: a hit's latency beyond
//!   max(D, T) (what the pool and the delivery add);
//! - **net gain**: 1 − mean latency with / mean latency without; **gain vs ideal**: the
//!   time saved per step / the time the realised hit rate allows (hit rate × min(D, T));
//! - **extra memory**: the most bytes held at once by tool calls that were started
//!   speculatively and not (yet) confirmed: work that would not have run without
//!   speculation; with the process's peak RSS beside it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use bench_gate::Direction;
use bench_gate::perf::PerfReport;
use orchbench::monitor::{MonitorConfig, ResourceMonitor};
use orchbench::scheduler::{
    Outcome, Pool, PoolConfig, Shutdown, ShutdownReport, Speculation, SpeculationStats, Task,
};
use orchbench::workload::SplitMix64;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::{Console, PerfError, in_range, metric, percentile, positive, write_json_noted};

/// The published speculative-execution baseline, shown beside ours.
pub mod reference {
    /// Speculation hit rate.
    pub const HIT_RATE: f64 = 0.732;
    /// False-positive rate.
    pub const FALSE_POSITIVE_RATE: f64 = 0.084;
    /// Overhead per speculation, seconds.
    pub const OVERHEAD_S: f64 = 0.015;
    /// Speed-up when a speculation hits.
    pub const HIT_SPEEDUP: f64 = 2.3;
    /// Net latency improvement (1 205 ms with, 2 780 ms without).
    pub const NET_GAIN: f64 = 0.566;
    /// Extra memory, bytes (67 MB).
    pub const EXTRA_MEMORY_BYTES: f64 = 67e6;
}

/// `perf-test speculate`: the step's shape, the predictor and the run's size.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct SpeculateOptions {
    /// The model's decision time per step, milliseconds.
    #[arg(long, default_value_t = 25.0)]
    pub decision_ms: f64,
    /// One tool call's duration, milliseconds.
    #[arg(long, default_value_t = 25.0)]
    pub tool_ms: f64,
    /// Candidate tool calls per step (the decision picks one).
    #[arg(long, default_value_t = 4)]
    pub candidates: i64,
    /// Candidates started speculatively per step (the predictor's top S).
    #[arg(long, default_value_t = 1)]
    pub speculate: i64,
    /// How often the predictor's first choice is the model's.
    #[arg(long, default_value_t = 0.73)]
    pub accuracy: f64,
    /// Memory a tool call holds while it runs, KiB (touched, so it is resident).
    #[arg(long, default_value_t = 1024)]
    pub tool_memory_kib: u64,
    /// Agents stepping at once.
    #[arg(long, default_value_t = 8)]
    pub agents: i64,
    /// Steps per agent and mode (each agent alternates the modes).
    #[arg(long, default_value_t = 60)]
    pub steps: i64,
    /// The seed of the model's and the predictor's draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the summary as JSON to this file (atomically).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The report for bench-gate (`perf/speculate/<metric>`).
    #[arg(long, default_value = "target/perf/speculate.json")]
    pub gate_json: PathBuf,
}

/// The validated shape of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Decision time.
    pub decision: Duration,
    /// Tool-call time.
    pub tool: Duration,
    /// Candidates per step.
    pub candidates: usize,
    /// Speculated candidates per step.
    pub speculate: usize,
    /// The predictor's first-choice accuracy.
    pub accuracy: f64,
    /// Bytes a tool call holds.
    pub tool_bytes: usize,
    /// Agents at once.
    pub agents: usize,
    /// Steps per agent and mode.
    pub steps: usize,
    /// The draws' seed.
    pub seed: u64,
}

impl SpeculateOptions {
    /// Checks every flag, naming the one out of range.
    pub fn validate(&self) -> Result<Shape, PerfError> {
        let ms = |flag: &str, v: f64| -> Result<Duration, PerfError> {
            in_range(flag, v, 0.0, 60_000.0).map(|v| Duration::from_secs_f64(v / 1e3))
        };
        let candidates = positive("--candidates", self.candidates)?;
        let speculate = positive("--speculate", self.speculate)?;
        if speculate > candidates {
            return Err(PerfError::Usage(format!(
                "--speculate must be at most --candidates ({candidates}), got {speculate}"
            )));
        }
        if candidates > 1_000 {
            return Err(PerfError::Usage(format!(
                "--candidates must be at most 1000, got {candidates}"
            )));
        }
        let tool_bytes = usize::try_from(self.tool_memory_kib)
            .ok()
            .filter(|&k| k <= 1 << 20)
            .ok_or_else(|| {
                PerfError::Usage(format!(
                    "--tool-memory-kib must be at most 1048576 (1 GiB), got {}",
                    self.tool_memory_kib
                ))
            })?
            * 1024;
        let shape = Shape {
            decision: ms("--decision-ms", self.decision_ms)?,
            tool: ms("--tool-ms", self.tool_ms)?,
            candidates,
            speculate,
            accuracy: in_range("--accuracy", self.accuracy, 0.0, 1.0)?,
            tool_bytes,
            agents: positive("--agents", self.agents)?,
            steps: positive("--steps", self.steps)?,
            seed: self.seed,
        };
        if shape.tool.is_zero() {
            return Err(PerfError::Usage(
                "--tool-ms must be more than 0, got 0".into(),
            ));
        }
        if shape.agents > 10_000 || shape.steps > 1_000_000 {
            return Err(PerfError::Usage(format!(
                "--agents must be at most 10000 and --steps at most 1000000, got {} and {}",
                shape.agents, shape.steps
            )));
        }
        Ok(shape)
    }
}

/// Latency figures of one mode, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Steps measured.
    pub steps: usize,
    /// Mean.
    pub mean_s: f64,
    /// Median.
    pub p50_s: f64,
    /// 99th percentile.
    pub p99_s: f64,
}

impl Latency {
    fn of(mut samples: Vec<f64>) -> Latency {
        samples.sort_by(f64::total_cmp);
        let mean_s = if samples.is_empty() {
            0.0
        } else {
            samples.iter().sum::<f64>() / samples.len() as f64
        };
        Latency {
            steps: samples.len(),
            mean_s,
            p50_s: percentile(&samples, 50.0),
            p99_s: percentile(&samples, 99.0),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeculateSummary {
    /// The decision time, milliseconds.
    pub decision_ms: f64,
    /// The tool-call time, milliseconds.
    pub tool_ms: f64,
    /// Candidates per step.
    pub candidates: usize,
    /// Candidates started per step.
    pub speculate: usize,
    /// The predictor's first-choice accuracy asked for.
    pub accuracy: f64,
    /// Agents at once.
    pub agents: usize,
    /// Steps without speculation.
    pub without: Latency,
    /// Steps with speculation.
    pub with: Latency,
    /// Steps with speculation that hit.
    pub hits: Latency,
    /// Hits / steps with speculation.
    pub hit_rate: f64,
    /// Abandoned / started speculations.
    pub false_positive_rate: f64,
    /// Wasted run time / all tool run time of the speculative steps.
    pub wasted_work_share: f64,
    /// Mean caller time per speculation (speculate + decision), seconds.
    pub overhead_per_speculation_s: f64,
    /// Mean hit latency beyond max(decision, tool), seconds.
    pub hit_excess_s: f64,
    /// Mean latency without / mean hit latency.
    pub hit_speedup: f64,
    /// 1 − mean with / mean without.
    pub net_gain: f64,
    /// The time the realised hit rate allows to save per step (hit rate × min(D, T)), s.
    pub ideal_saving_s: f64,
    /// Saved per step / ideal saving.
    pub gain_vs_ideal: f64,
    /// The most bytes held at once by unconfirmed speculative calls.
    pub extra_memory_peak_bytes: u64,
    /// The process's peak RSS during the run, bytes.
    pub rss_peak_bytes: u64,
    /// The pool's own count of the speculations.
    pub pool: SpeculationCounts,
}

/// The pool's speculation counts at shutdown (its `ShutdownReport`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpeculationCounts {
    /// Started.
    pub started: u64,
    /// Confirmed.
    pub confirmed: u64,
    /// Abandoned.
    pub abandoned: u64,
    /// Abandoned before they ran.
    pub abandoned_unstarted: u64,
    /// Run time wasted, seconds.
    pub wasted_s: f64,
}

impl From<SpeculationStats> for SpeculationCounts {
    fn from(s: SpeculationStats) -> Self {
        SpeculationCounts {
            started: s.started,
            confirmed: s.confirmed,
            abandoned: s.abandoned,
            abandoned_unstarted: s.abandoned_unstarted,
            wasted_s: s.wasted.as_secs_f64(),
        }
    }
}

/// Bytes held by speculative calls not confirmed (yet): now, and the most at once.
#[derive(Debug, Default)]
struct Extra {
    now: AtomicU64,
    peak: AtomicU64,
}

impl Extra {
    fn add(&self, bytes: u64) {
        let now = self.now.fetch_add(bytes, SeqCst) + bytes;
        self.peak.fetch_max(now, SeqCst);
    }

    fn sub(&self, bytes: u64) {
        self.now.fetch_sub(bytes, SeqCst);
    }
}

/// A speculative call's memory, counted as extra from its allocation until it is
/// confirmed or freed, whichever comes first.
struct Held {
    /// 0: not allocated, 1: allocated and counted, 2: confirmed or freed (not counted).
    state: AtomicU8,
    bytes: u64,
    extra: Arc<Extra>,
}

impl Held {
    fn allocated(&self) {
        if self.state.compare_exchange(0, 1, SeqCst, SeqCst).is_ok() {
            self.extra.add(self.bytes);
        }
    }

    /// Confirmed, or its buffer freed: no longer extra.
    fn settled(&self) {
        if self.state.swap(2, SeqCst) == 1 {
            self.extra.sub(self.bytes);
        }
    }
}

/// Settles its `Held` when the tool call's future ends or is dropped (a cancel).
struct FreeOnDrop(Option<Arc<Held>>);

impl Drop for FreeOnDrop {
    fn drop(&mut self) {
        if let Some(held) = &self.0 {
            held.settled();
        }
    }
}

/// One tool call: holds `bytes` (touched) for `time`, then reports on `done`.
fn tool_call(
    time: Duration,
    bytes: usize,
    held: Option<Arc<Held>>,
    done: Option<oneshot::Sender<Instant>>,
) -> Task {
    let task = Task::future(async move {
        let _free = FreeOnDrop(held.clone());
        let mut buffer = vec![0u8; bytes];
        // One byte per page makes the buffer resident, as a tool's response would be.
        for page in buffer.chunks_mut(4096) {
            page[0] = 1;
        }
        if let Some(held) = &held {
            held.allocated();
        }
        orchbench::timing::sleep(time).await;
        std::hint::black_box(&buffer);
    });
    task.on_end(move |outcome| {
        if let (Some(done), Outcome::Completed) = (done, outcome) {
            let _ = done.send(Instant::now());
        }
    })
}

/// One agent's measurements.
#[derive(Debug, Default)]
struct AgentRecord {
    without: Vec<f64>,
    with: Vec<f64>,
    hits: Vec<f64>,
    speculations: u64,
    caller_time: Duration,
}

/// The model's choice and the predictor's ranking for one step: `(chosen, ranked)`,
/// `ranked[0]` being the predictor's first choice.
fn draw(rng: &mut SplitMix64, shape: &Shape) -> (usize, Vec<usize>) {
    let mut ranked: Vec<usize> = (0..shape.candidates).collect();
    rng.shuffle(&mut ranked);
    let chosen = if shape.candidates == 1 || rng.unit() < shape.accuracy {
        ranked[0]
    } else {
        ranked[1 + rng.below(shape.candidates as u64 - 1) as usize]
    };
    (chosen, ranked)
}

async fn step_without(pool: &Pool, shape: &Shape) -> Result<f64, String> {
    let t0 = Instant::now();
    orchbench::timing::sleep(shape.decision).await;
    let (tx, rx) = oneshot::channel();
    pool.submit(tool_call(shape.tool, shape.tool_bytes, None, Some(tx)))
        .await
        .map_err(|e| e.to_string())?;
    let done = rx
        .await
        .map_err(|_| "a tool call did not complete".to_string())?;
    Ok((done - t0).as_secs_f64())
}

/// A started speculation: its candidate, handle, memory and result.
type Started = (
    usize,
    Speculation,
    Arc<Held>,
    Option<oneshot::Receiver<Instant>>,
);

async fn step_with(
    pool: &Pool,
    shape: &Shape,
    chosen: usize,
    ranked: &[usize],
    extra: &Arc<Extra>,
    record: &mut AgentRecord,
) -> Result<(), String> {
    let t0 = Instant::now();
    let mut started: Vec<Started> = Vec::with_capacity(shape.speculate);
    for &candidate in &ranked[..shape.speculate] {
        let held = Arc::new(Held {
            state: AtomicU8::new(0),
            bytes: shape.tool_bytes as u64,
            extra: extra.clone(),
        });
        let (tx, rx) = oneshot::channel();
        let call = tool_call(shape.tool, shape.tool_bytes, Some(held.clone()), Some(tx));
        let s0 = Instant::now();
        let spec = pool.speculate(call).map_err(|e| e.to_string())?;
        record.caller_time += s0.elapsed();
        started.push((candidate, spec, held, Some(rx)));
    }
    record.speculations += started.len() as u64;
    orchbench::timing::sleep(shape.decision).await;
    let mut hit = None;
    for (candidate, spec, held, rx) in &mut started {
        let s0 = Instant::now();
        if *candidate == chosen {
            held.settled();
            spec.confirm().map_err(|e| e.to_string())?;
            hit = rx.take();
        } else {
            spec.abandon().map_err(|e| e.to_string())?;
        }
        record.caller_time += s0.elapsed();
    }
    let done = match hit {
        Some(rx) => rx.await,
        None => {
            let (tx, rx) = oneshot::channel();
            pool.submit(tool_call(shape.tool, shape.tool_bytes, None, Some(tx)))
                .await
                .map_err(|e| e.to_string())?;
            rx.await
        }
    }
    .map_err(|_| "a tool call did not complete".to_string())?;
    let latency = (done - t0).as_secs_f64();
    record.with.push(latency);
    if started.iter().any(|(c, ..)| *c == chosen) {
        record.hits.push(latency);
    }
    Ok(())
}

async fn agent(
    pool: Arc<Pool>,
    shape: Shape,
    index: usize,
    extra: Arc<Extra>,
) -> Result<AgentRecord, String> {
    let mut rng = SplitMix64::new(shape.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut record = AgentRecord::default();
    for step in 0..shape.steps * 2 {
        let (chosen, ranked) = draw(&mut rng, &shape);
        // Alternate the modes, starting half the agents with each.
        if (step + index).is_multiple_of(2) {
            record.without.push(step_without(&pool, &shape).await?);
        } else {
            step_with(&pool, &shape, chosen, &ranked, &extra, &mut record).await?;
        }
    }
    Ok(record)
}

/// Runs the comparison: every agent's steps, both modes, on one pool.
pub async fn measure(shape: Shape) -> Result<SpeculateSummary, String> {
    let monitor = ResourceMonitor::start(MonitorConfig {
        interval: Duration::from_millis(5),
        include_children: false,
    })
    .map_err(|e| e.to_string())?;
    let config = PoolConfig {
        // Every agent's speculations and its chosen call at once, never queued.
        workers: shape.agents * (shape.speculate + 1),
        ..PoolConfig::default()
    };
    let pool = Arc::new(Pool::new(config).map_err(|e| e.to_string())?);
    let extra = Arc::new(Extra::default());
    let agents: Vec<_> = (0..shape.agents)
        .map(|i| tokio::spawn(agent(pool.clone(), shape, i, extra.clone())))
        .collect();
    let mut records = Vec::new();
    let mut failure = None;
    for handle in agents {
        match handle.await {
            Ok(Ok(r)) => records.push(r),
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(format!("an agent panicked: {e}")),
        }
    }
    let report = pool.shutdown(Shutdown::Drain).await;
    let rss = monitor.stop();
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(summarise(&shape, &records, &report, &extra, rss.rss_peak))
}

fn summarise(
    shape: &Shape,
    records: &[AgentRecord],
    report: &ShutdownReport,
    extra: &Extra,
    rss_peak: u64,
) -> SpeculateSummary {
    let gather = |f: fn(&AgentRecord) -> &Vec<f64>| -> Vec<f64> {
        records.iter().flat_map(|r| f(r).iter().copied()).collect()
    };
    let without = Latency::of(gather(|r| &r.without));
    let with = Latency::of(gather(|r| &r.with));
    let hits = Latency::of(gather(|r| &r.hits));
    let speculations: u64 = records.iter().map(|r| r.speculations).sum();
    let caller: Duration = records.iter().map(|r| r.caller_time).sum();
    let s = report.speculation;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let hit_rate = ratio(hits.steps as f64, with.steps as f64);
    let (d, t) = (shape.decision.as_secs_f64(), shape.tool.as_secs_f64());
    let ideal_saving_s = hit_rate * d.min(t);
    // Tool run time in the speculative steps: every confirmed or missed call runs its
    // full time; the abandoned ones ran for what the pool counts as wasted.
    let useful = with.steps as f64 * t;
    let wasted = s.wasted.as_secs_f64();
    SpeculateSummary {
        decision_ms: d * 1e3,
        tool_ms: t * 1e3,
        candidates: shape.candidates,
        speculate: shape.speculate,
        accuracy: shape.accuracy,
        agents: shape.agents,
        without,
        with,
        hits,
        hit_rate,
        false_positive_rate: ratio(s.abandoned as f64, s.started as f64),
        wasted_work_share: ratio(wasted, useful + wasted),
        overhead_per_speculation_s: ratio(caller.as_secs_f64(), speculations as f64),
        hit_excess_s: if hits.steps > 0 {
            hits.mean_s - d.max(t)
        } else {
            0.0
        },
        hit_speedup: ratio(without.mean_s, hits.mean_s),
        net_gain: 1.0 - ratio(with.mean_s, without.mean_s),
        ideal_saving_s,
        gain_vs_ideal: ratio(without.mean_s - with.mean_s, ideal_saving_s),
        extra_memory_peak_bytes: extra.peak.load(SeqCst),
        rss_peak_bytes: rss_peak,
        pool: s.into(),
    }
}

/// Measures, shows the table and writes the reports; returns the summary.
pub fn run(
    options: &SpeculateOptions,
    console: &mut dyn Console,
) -> Result<SpeculateSummary, PerfError> {
    let shape = options.validate()?;
    let runtime = orchbench::scheduler::runtime()
        .map_err(|e| PerfError::Run(format!("cannot start the async runtime: {e}")))?;
    console.status(&format!(
        "speculate: {} agents x {} steps per mode; decision {:.0} ms, tool {:.0} ms, top {} of {} candidates started, predictor right {:.0} % of the time",
        shape.agents,
        shape.steps,
        shape.decision.as_secs_f64() * 1e3,
        shape.tool.as_secs_f64() * 1e3,
        shape.speculate,
        shape.candidates,
        shape.accuracy * 100.0
    ));
    let summary = runtime.block_on(measure(shape)).map_err(PerfError::Run)?;
    console.report(&markdown(&summary));
    if let Some(path) = &options.json {
        write_json_noted(console, path, &summary)?;
    }
    write_json_noted(
        console,
        &options.gate_json,
        &crate::with_wakeups(metrics(&summary)),
    )?;
    Ok(summary)
}

/// The summary beside the reference document's figures.
pub fn markdown(s: &SpeculateSummary) -> String {
    let ms = |v: f64| format!("{:.2} ms", v * 1e3);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Speculation: decision {:.0} ms, tool call {:.0} ms, top {} of {} candidates started, predictor right {:.0} % of the time, {} agents.\n",
        s.decision_ms,
        s.tool_ms,
        s.speculate,
        s.candidates,
        s.accuracy * 100.0,
        s.agents
    );
    out.push_str("| | steps | mean | p50 | p99 |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (name, l) in [
        ("without speculation", &s.without),
        ("with speculation", &s.with),
        ("with speculation, hits", &s.hits),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            l.steps,
            ms(l.mean_s),
            ms(l.p50_s),
            ms(l.p99_s)
        );
    }
    out.push_str("\n| figure | here | reference |\n| --- | ---: | ---: |\n");
    let rows = figure_rows(s);
    for (name, here, reference) in rows {
        let _ = writeln!(out, "| {name} | {here} | {reference} |");
    }
    let p = &s.pool;
    let _ = writeln!(
        out,
        "\nThe pool's count: {} speculations started, {} confirmed, {} abandoned ({} before they ran), {:.2} s of run time wasted.",
        p.started, p.confirmed, p.abandoned, p.abandoned_unstarted, p.wasted_s
    );
    out
}

/// The figures beside the published speculative-execution baseline: (figure, here,
/// reference).
fn figure_rows(s: &SpeculateSummary) -> Vec<(&'static str, String, String)> {
    let ms = |v: f64| format!("{:.2} ms", v * 1e3);
    let pct = |v: f64| format!("{:.1} %", v * 100.0);
    vec![
        ("hit rate", pct(s.hit_rate), pct(reference::HIT_RATE)),
        (
            "false-positive rate (abandoned / started)",
            pct(s.false_positive_rate),
            pct(reference::FALSE_POSITIVE_RATE),
        ),
        (
            "wasted work (share of tool time)",
            pct(s.wasted_work_share),
            "—".into(),
        ),
        (
            "overhead per speculation",
            format!("{:.1} µs", s.overhead_per_speculation_s * 1e6),
            ms(reference::OVERHEAD_S),
        ),
        (
            "a hit's latency beyond max(D, T)",
            ms(s.hit_excess_s),
            "—".into(),
        ),
        (
            "faster when it hits",
            format!("{:.2}×", s.hit_speedup),
            format!("{:.1}×", reference::HIT_SPEEDUP),
        ),
        ("net gain", pct(s.net_gain), pct(reference::NET_GAIN)),
        (
            "gain vs the ideal the hit rate allows",
            pct(s.gain_vs_ideal),
            "—".into(),
        ),
        (
            "extra memory (unconfirmed speculative calls, peak)",
            format!(
                "{:.1} MiB",
                s.extra_memory_peak_bytes as f64 / (1u64 << 20) as f64
            ),
            format!("{:.0} MB", reference::EXTRA_MEMORY_BYTES / 1e6),
        ),
        (
            "peak RSS of the run",
            format!("{:.1} MiB", s.rss_peak_bytes as f64 / (1u64 << 20) as f64),
            "—".into(),
        ),
    ]
}

/// The summary as the report bench-gate reads (`perf/speculate/<metric>`).
pub fn metrics(s: &SpeculateSummary) -> PerfReport {
    use Direction::{HigherIsBetter as Up, LowerIsBetter as Down};
    let mut metrics = vec![
        metric("hit_rate", s.hit_rate, "ratio", Up),
        metric("false_positive_rate", s.false_positive_rate, "ratio", Down),
        metric("wasted_work_share", s.wasted_work_share, "ratio", Down),
        metric(
            "overhead_per_speculation",
            s.overhead_per_speculation_s,
            "s",
            Down,
        ),
        metric("hit_excess", s.hit_excess_s.max(0.0), "s", Down),
        metric("latency_mean_without", s.without.mean_s, "s", Down),
        metric("latency_mean_with", s.with.mean_s, "s", Down),
        metric("latency_p99_with", s.with.p99_s, "s", Down),
        metric("hit_speedup", s.hit_speedup, "ratio", Up),
        metric("net_gain", s.net_gain, "ratio", Up),
        metric("gain_vs_ideal", s.gain_vs_ideal, "ratio", Up),
        metric(
            "extra_memory_peak",
            s.extra_memory_peak_bytes as f64,
            "bytes",
            Down,
        ),
    ];
    metrics.retain(|m| m.value.is_finite());
    PerfReport {
        report: "speculate".into(),
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> SpeculateOptions {
        SpeculateOptions {
            decision_ms: 25.0,
            tool_ms: 25.0,
            candidates: 4,
            speculate: 1,
            accuracy: 0.73,
            tool_memory_kib: 1024,
            agents: 8,
            steps: 60,
            seed: 1,
            json: None,
            gate_json: "x.json".into(),
        }
    }

    #[test]
    fn bad_flags_are_named() {
        type Change = fn(&mut SpeculateOptions);
        let cases: [(Change, &str); 6] = [
            (
                |o| o.candidates = 0,
                "--candidates must be a positive count",
            ),
            (
                |o| o.speculate = 5,
                "--speculate must be at most --candidates (4)",
            ),
            (|o| o.accuracy = 1.5, "--accuracy must be in 0..=1"),
            (|o| o.tool_ms = 0.0, "--tool-ms must be more than 0"),
            (|o| o.decision_ms = f64::NAN, "--decision-ms must be in"),
            (
                |o| o.tool_memory_kib = 1 << 30,
                "--tool-memory-kib must be at most",
            ),
        ];
        for (change, expected) in cases {
            let mut o = options();
            change(&mut o);
            let err = o.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        assert!(options().validate().is_ok());
    }

    #[test]
    fn the_predictor_is_right_as_often_as_asked() {
        let shape = options().validate().unwrap();
        let mut rng = SplitMix64::new(7);
        let n = 20_000;
        let right = (0..n)
            .filter(|_| {
                let (chosen, ranked) = draw(&mut rng, &shape);
                chosen == ranked[0]
            })
            .count();
        let rate = right as f64 / n as f64;
        assert!((rate - 0.73).abs() < 0.015, "{rate}");
    }

    #[test]
    fn extra_memory_counts_only_until_confirmed_or_freed() {
        let extra = Arc::new(Extra::default());
        let held = |bytes| Held {
            state: AtomicU8::new(0),
            bytes,
            extra: extra.clone(),
        };
        let (a, b, c) = (held(10), held(20), held(40));
        a.allocated();
        b.allocated();
        assert_eq!(extra.now.load(SeqCst), 30);
        a.settled();
        a.settled();
        // Confirmed before it allocated: never counted.
        c.settled();
        c.allocated();
        assert_eq!(extra.now.load(SeqCst), 20);
        b.settled();
        assert_eq!((extra.now.load(SeqCst), extra.peak.load(SeqCst)), (0, 30));
    }
}
