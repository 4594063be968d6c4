//! What a load test measured: latencies, rates and resources, the text summary, and
//! the report bench-gate reads.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;

use bench_gate::Direction;
use bench_gate::perf::PerfReport;
use orchbench::monitor::MonitorReport;

use super::config::{Executor, RunConfig};

/// Latency figures in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// How many values.
    pub count: u64,
    /// Mean.
    pub avg: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

impl Latency {
    /// From nanosecond values: count, mean, min and max exact; the percentiles from an
    /// hdrhistogram at 3 significant digits (0.1 % resolution).
    pub fn from_nanos(values: impl Iterator<Item = u64>) -> Latency {
        // 1 ns to 1 hour; longer values are clamped to the top.
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
            .expect("valid histogram bounds");
        let (mut sum, mut min, mut max) = (0u128, u64::MAX, 0u64);
        for v in values {
            h.saturating_record(v);
            sum += u128::from(v);
            min = min.min(v);
            max = max.max(v);
        }
        if h.is_empty() {
            return Latency::default();
        }
        // A histogram bucket reports its highest equivalent value, which can lie above
        // the exact maximum: no percentile may exceed it.
        let s = |ns: u64| ns.min(max) as f64 / 1e9;
        Latency {
            count: h.len(),
            avg: sum as f64 / h.len() as f64 / 1e9,
            min: s(min),
            max: s(max),
            p50: s(h.value_at_quantile(0.50)),
            p95: s(h.value_at_quantile(0.95)),
            p99: s(h.value_at_quantile(0.99)),
            p999: s(h.value_at_quantile(0.999)),
        }
    }
}

/// What one load test measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The configuration run.
    pub config: RunConfig,
    /// Tasks that completed.
    pub completed: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Tasks never run because a predecessor failed.
    pub skipped: u64,
    /// Tasks cancelled unfinished when the run hit its time limit.
    pub cancelled: u64,
    /// Whether the run hit its time limit (the figures cover what ended before it).
    pub timed_out: bool,
    /// Whether Ctrl-C stopped the run (the figures cover what ended before it).
    pub interrupted: bool,
    /// Task latency: ready (submitted) to finished.
    pub latency: Latency,
    /// Queue wait: submitted to started.
    pub queue_wait: Latency,
    /// The pool's overhead per task: latency − queue wait − the task's duration.
    pub overhead: Latency,
    /// Workflow latency: trigger to its last task's end.
    pub workflow_latency: Latency,
    /// Seconds until every workflow had been submitted (its first tasks queued).
    pub submission_s: f64,
    /// Workflows submitted per second.
    pub submission_rate: f64,
    /// Seconds from the first submission to the last task's end.
    pub duration_s: f64,
    /// Tasks completed per second over `duration_s`.
    pub completion_rate: f64,
    /// The most tasks per second the pool could complete: busy workers / duration.
    pub ideal_rate: f64,
    /// `completion_rate / ideal_rate`.
    pub efficiency: f64,
    /// The resource monitor's figures (this process, plus children for processes),
    /// from the moment the pool is up and idle to the end of the run.
    pub resources: MonitorReport,
    /// The most workers the pool had (distributed: the workers' slots).
    pub peak_workers: usize,
    /// What a distributed run (`--broker`) adds; `None` for a local run.
    pub distributed: Option<DistributedStats>,
}

/// What the distributed run adds to a [`RunReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistributedStats {
    /// The broker, `host:port`.
    pub broker: String,
    /// The task stream.
    pub stream: String,
    /// Workers that reported a result.
    pub workers_seen: usize,
    /// Their slots in all.
    pub slots: usize,
    /// Results per worker.
    pub per_worker: Vec<(String, u64)>,
    /// Results received for tasks already reported (re-runs after a reclaim or a
    /// broker restart): counted here, never twice in the figures.
    pub duplicates: u64,
    /// The broker outages the run survived, each one's length in seconds.
    pub outages: Vec<f64>,
    /// Of those, how many were server restarts (the server's run id changed).
    pub restarts: u64,
    /// Tasks published again after an outage (a restart lost them, or their first
    /// publication failed).
    pub republished: u64,
    /// Why the run stopped early: the broker stayed unreachable past `--broker-timeout`.
    pub broker_lost: Option<String>,
    /// The tasks that did not end (neither completed nor failed), by id
    /// (`workflow × tasks_per_run + node`): empty unless the run stopped early.
    pub unfinished: Vec<u64>,
}

/// `ids` (ascending) as ranges: `3, 5-9, 12`.
pub fn id_ranges(ids: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if j == i {
            out.push_str(&ids[i].to_string());
        } else {
            out.push_str(&format!("{}-{}", ids[i], ids[j]));
        }
        i = j + 1;
    }
    out
}

/// `completion / ideal`; NaN (no efficiency, and no metric) without an ideal rate, as
/// for zero-length tasks.
pub(crate) fn efficiency(completion_rate: f64, ideal_rate: f64) -> f64 {
    if ideal_rate.is_finite() && ideal_rate > 0.0 {
        completion_rate / ideal_rate
    } else {
        f64::NAN
    }
}

/// A live snapshot for progress displays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Tasks ended so far.
    pub done: u64,
    /// Tasks in all.
    pub total: u64,
    /// RSS now, bytes.
    pub rss: u64,
    /// CPU now, percent of one core.
    pub cpu: f64,
    /// Workers running a task now.
    pub active_workers: usize,
    /// Seconds since the start.
    pub elapsed_s: f64,
}

impl Progress {
    /// One line: `Progress: 350/500 tasks | RSS 9.1 MiB, CPU 5.8 % | workers 20`.
    pub fn line(&self) -> String {
        format!(
            "{}/{} tasks | RSS {:.1} MiB, CPU {:.1} % | workers {} | {:.1} s",
            self.done,
            self.total,
            self.rss as f64 / (1024.0 * 1024.0),
            self.cpu,
            self.active_workers,
            self.elapsed_s
        )
    }
}

impl RunReport {
    /// The report `bench-gate` reads: `perf/<config>/<metric>`, with units and directions.
    pub fn metrics(&self) -> PerfReport {
        use crate::metric as m;
        use Direction::{HigherIsBetter as Up, LowerIsBetter as Down};
        let r = &self.resources;
        let mut metrics = vec![
            m("latency_avg", self.latency.avg, "s", Down),
            m("latency_p50", self.latency.p50, "s", Down),
            m("latency_p95", self.latency.p95, "s", Down),
            m("latency_p99", self.latency.p99, "s", Down),
            m("latency_p999", self.latency.p999, "s", Down),
            m("latency_max", self.latency.max, "s", Down),
            m("overhead_p50", self.overhead.p50, "s", Down),
            m("overhead_p99", self.overhead.p99, "s", Down),
            m("submission_rate", self.submission_rate, "runs/s", Up),
            m("completion_rate", self.completion_rate, "tasks/s", Up),
            m("efficiency", self.efficiency, "ratio", Up),
            m("duration", self.duration_s, "s", Down),
            m("rss_final", r.rss_final as f64, "bytes", Down),
            m("rss_peak", r.rss_peak as f64, "bytes", Down),
            m("rss_growth", r.rss_growth().max(0) as f64, "bytes", Down),
            m("cpu_avg", r.cpu_mean, "%", Down),
            m(
                "failed",
                (self.failed + self.skipped + self.cancelled) as f64,
                "tasks",
                Down,
            ),
        ];
        metrics.retain(|x| x.value.is_finite());
        PerfReport {
            report: self.config.name.clone(),
            metrics,
        }
    }

    /// The summary, in the published workflow load test's layout with the percentiles added.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.config_text(&mut out);
        self.latency_text(&mut out);
        self.throughput_text(&mut out);
        self.resources_text(&mut out);
        if let Some(d) = &self.distributed {
            self.distributed_text(&mut out, d);
        }
        out
    }

    /// The configuration run.
    fn config_text(&self, out: &mut String) {
        let c = &self.config;
        let _ = writeln!(out, "=== Performance Test Configuration ===");
        let _ = writeln!(out, "Config: {}", c.name);
        let _ = writeln!(out, "Runs to trigger: {}", c.runs);
        let _ = writeln!(out, "Tasks per run: {} ({:?})", c.tasks_per_run, c.shape);
        let _ = writeln!(out, "Task duration: {}s", c.duration.as_secs_f64());
        let _ = writeln!(out, "Total tasks: {}", c.total_tasks());
        let _ = writeln!(
            out,
            "Workers: {}, executor: {:?}{}",
            c.workers,
            c.executor,
            if c.executor == Executor::Process {
                format!(" (sh -c '{}')", c.shell_command())
            } else {
                String::new()
            }
        );
    }

    /// How the tasks ended, and their latencies.
    fn latency_text(&self, out: &mut String) {
        let (c, l) = (&self.config, &self.latency);
        let _ = writeln!(out, "\n=== Performance Test Results ===\n");
        let _ = writeln!(out, "Latency Stats:");
        if self.interrupted {
            let _ = writeln!(
                out,
                "  INTERRUPTED: {} cancelled unfinished; the figures cover what ended",
                self.cancelled
            );
        }
        if self.timed_out {
            let _ = writeln!(
                out,
                "  TIMED OUT after {:.1}s: {} cancelled unfinished; the figures cover what ended",
                c.effective_timeout().as_secs_f64(),
                self.cancelled
            );
        }
        let _ = writeln!(
            out,
            "  Tasks: {} completed, {} failed, {} not run",
            self.completed,
            self.failed,
            self.skipped + self.cancelled
        );
        let _ = writeln!(out, "  Avg latency: {:.4}s", l.avg);
        let _ = writeln!(out, "  Min latency: {:.4}s", l.min);
        let _ = writeln!(out, "  Max latency: {:.4}s", l.max);
        let _ = writeln!(
            out,
            "  p50 / p95 / p99 / p99.9: {:.4}s / {:.4}s / {:.4}s / {:.4}s",
            l.p50, l.p95, l.p99, l.p999
        );
        let _ = writeln!(
            out,
            "  Queue wait avg / p99: {:.4}s / {:.4}s",
            self.queue_wait.avg, self.queue_wait.p99
        );
        let _ = writeln!(
            out,
            "  Overhead (latency - wait - duration) p50 / p99 / max: {:.1} µs / {:.1} µs / {:.1} µs",
            self.overhead.p50 * 1e6,
            self.overhead.p99 * 1e6,
            self.overhead.max * 1e6
        );
        let _ = writeln!(
            out,
            "  Workflow latency avg / p99: {:.4}s / {:.4}s",
            self.workflow_latency.avg, self.workflow_latency.p99
        );
    }

    /// Submission and completion rates.
    fn throughput_text(&self, out: &mut String) {
        let _ = writeln!(out, "\nThroughput:");
        let _ = writeln!(
            out,
            "  Run submission: {:.2} runs/sec",
            self.submission_rate
        );
        if self.ideal_rate.is_finite() {
            let _ = writeln!(
                out,
                "  Task completion: {:.2} tasks/sec ({:.1} % of the ideal {:.2})",
                self.completion_rate,
                100.0 * self.efficiency,
                self.ideal_rate
            );
        } else {
            let _ = writeln!(
                out,
                "  Task completion: {:.2} tasks/sec (zero-length tasks: no ideal rate)",
                self.completion_rate
            );
        }
        let _ = writeln!(out, "  Total duration: {:.2}s", self.duration_s);
    }

    /// Memory, CPU and workers.
    fn resources_text(&self, out: &mut String) {
        let (c, r) = (&self.config, &self.resources);
        let kib = |b: u64| b / 1024;
        let _ = writeln!(out, "\nResource Usage:");
        let _ = writeln!(
            out,
            "  RSS initial / final / peak: {} KB / {} KB / {} KB",
            kib(r.rss_initial),
            kib(r.rss_final),
            kib(r.rss_peak)
        );
        let _ = writeln!(out, "  RSS growth: {} KB", r.rss_growth() / 1024);
        let _ = writeln!(
            out,
            "  CPU avg / peak: {:.1} % / {:.1} % of one core",
            r.cpu_mean, r.cpu_peak
        );
        let _ = writeln!(out, "  Peak worker count: {}", self.peak_workers);
        if c.executor == Executor::Process && self.distributed.is_none() {
            let _ = writeln!(out, "  Peak child processes: {}", r.children_peak);
        }
    }

    /// The broker, the workers and the outages of a distributed run.
    fn distributed_text(&self, out: &mut String, d: &DistributedStats) {
        let c = &self.config;
        let _ = writeln!(
            out,
            "\nDistributed (broker {}, stream {}):",
            d.broker, d.stream
        );
        let _ = writeln!(
            out,
            "  Workers: {} reporting, {} slots in all",
            d.workers_seen, d.slots
        );
        for (worker, n) in &d.per_worker {
            let _ = writeln!(out, "    {worker}: {n} tasks");
        }
        let _ = writeln!(
            out,
            "  Duplicate results (tasks re-run after a reclaim or a restart): {}",
            d.duplicates
        );
        let lengths: Vec<String> = d.outages.iter().map(|s| format!("{s:.1} s")).collect();
        let _ = writeln!(
            out,
            "  Broker outages survived: {}{}; server restarts: {}; tasks published again: {}",
            d.outages.len(),
            if lengths.is_empty() {
                String::new()
            } else {
                format!(" ({})", lengths.join(", "))
            },
            d.restarts,
            d.republished
        );
        if let Some(why) = &d.broker_lost {
            let _ = writeln!(out, "  Broker lost: {why}");
        }
        if !d.unfinished.is_empty() {
            let _ = writeln!(
                out,
                "  Not completed: {} tasks (id = workflow × {} + node): {}",
                d.unfinished.len(),
                c.tasks_per_run,
                id_ranges(&d.unfinished)
            );
        }
        let _ = writeln!(
            out,
            "  (latency: publication to the result's receipt, on this machine's clock; \
             queue wait: latency minus the worker's run time)"
        );
    }
}

/// `perf-results/<UTC timestamp>-<config>.{txt,json}` for `--all`.
pub fn results_paths(dir: &Path, config: &str, unix: u64) -> (PathBuf, PathBuf) {
    let stamp = bench_gate::baseline::rfc3339(unix).replace([':', '-'], "");
    (
        dir.join(format!("{stamp}-{config}.txt")),
        dir.join(format!("{stamp}-{config}.json")),
    )
}
