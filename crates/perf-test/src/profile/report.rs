//! A scenario's report: the figures bench-gate judges and the summary a person reads,
//! with the published targets beside them.

use std::fmt::Write as _;

use super::scenarios::{ProfileKind, ProfileReport};
use bench_gate::Direction;
use bench_gate::perf::PerfReport;

/// The bursts taken together: what the published tool-execution benchmarks' burst targets judge.
struct BurstTotals {
    /// The slowest recovery, seconds.
    worst_recovery_s: f64,
    /// The highest queue peak.
    queue_peak: u64,
    /// Errors over requests, across every burst (0 without requests).
    error_rate: f64,
}

impl ProfileReport {
    fn burst_totals(&self) -> BurstTotals {
        let requests: u64 = self.bursts.iter().map(|b| b.requests).sum();
        let errors: u64 = self.bursts.iter().map(|b| b.errors).sum();
        BurstTotals {
            worst_recovery_s: self.bursts.iter().map(|b| b.recovery_s).fold(0.0, f64::max),
            queue_peak: self.bursts.iter().map(|b| b.queue_peak).max().unwrap_or(0),
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
        }
    }

    /// The report `bench-gate` reads: `perf/profile_<kind>/<metric>`.
    pub fn metrics(&self) -> PerfReport {
        use crate::metric as m;
        use Direction::{HigherIsBetter as Up, LowerIsBetter as Down};
        let l = &self.latency;
        let mut metrics = vec![
            m("latency_p50", l.p50, "s", Down),
            m("latency_p95", l.p95, "s", Down),
            m("latency_p99", l.p99, "s", Down),
            m("success_rate", self.success_rate, "ratio", Up),
            m("throughput", self.throughput, "requests/s", Up),
            m("rss_growth_pct", self.rss_growth_pct.max(0.0), "%", Down),
            m("queue_depth_peak", self.queue_peak as f64, "requests", Down),
        ];
        match self.config.kind {
            ProfileKind::Sustained | ProfileKind::Overload => {}
            ProfileKind::Burst => {
                let t = self.burst_totals();
                metrics.push(m("recovery_time_max", t.worst_recovery_s, "s", Down));
                metrics.push(m("error_rate", t.error_rate, "ratio", Down));
            }
            ProfileKind::Ramp => {
                // Never broken: the highest rate offered is a lower bound, and is
                // reported as the breaking point (the text says "not reached").
                metrics.push(m(
                    "breaking_point",
                    self.breaking_point.unwrap_or(self.highest_good_rate),
                    "requests/s",
                    Up,
                ));
                metrics.push(m(
                    "recovery_time",
                    self.ramp_recovery_s.unwrap_or(f64::INFINITY),
                    "s",
                    Down,
                ));
            }
        }
        metrics.retain(|x| x.value.is_finite());
        PerfReport {
            report: format!("profile_{}", self.config.kind.name()),
            metrics,
        }
    }

    /// The summary, with the published tool-execution benchmarks' targets beside the figures.
    pub fn text(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        let _ = writeln!(out, "=== Load profile: {} ===", c.kind.name());
        let _ = writeln!(
            out,
            "Schedule: {:.0} s, {} {} arrivals; pool: {} workers × {} ms tasks (capacity {:.0}/s), queue {}, request timeout {} s",
            self.config.seconds(),
            self.requests,
            if c.even { "evenly spaced" } else { "Poisson" },
            c.workers,
            c.task_time.as_secs_f64() * 1e3,
            c.capacity(),
            c.queue,
            c.request_timeout.as_secs_f64()
        );
        let l = &self.latency;
        let _ = writeln!(
            out,
            "Latency from intended arrival: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            l.p50 * 1e3,
            l.p95 * 1e3,
            l.p99 * 1e3,
            l.max * 1e3
        );
        let _ = writeln!(
            out,
            "Requests: {} — {} succeeded ({:.3} %), {} rejected, {} failed or timed out",
            self.requests,
            self.succeeded,
            self.success_rate * 100.0,
            self.rejected,
            self.other_errors
        );
        let _ = writeln!(
            out,
            "Throughput: {:.1} completed/s; queue depth peak {}; driver lag max {:.2} ms",
            self.throughput,
            self.queue_peak,
            self.driver_lag_max_s * 1e3
        );
        let r = &self.resources;
        let _ = writeln!(
            out,
            "RSS: {} KB → {} KB ({:+.1} %), peak {} KB; CPU avg {:.1} % of one core",
            r.rss_initial / 1024,
            r.rss_final / 1024,
            self.rss_growth_pct,
            r.rss_peak / 1024,
            r.cpu_mean
        );
        match c.kind {
            ProfileKind::Sustained => self.sustained_text(&mut out),
            ProfileKind::Burst => self.burst_text(&mut out),
            ProfileKind::Ramp => self.ramp_text(&mut out),
            // Never a `ProfileReport`: its own report is `OverloadReport`.
            ProfileKind::Overload => {}
        }
        out
    }

    /// The sustained load's targets, met or missed.
    fn sustained_text(&self, out: &mut String) {
        let l = &self.latency;
        let _ = writeln!(out, "The published tool-execution benchmarks' targets:");
        let _ = writeln!(
            out,
            "  p95 < 500 ms: {:.1} ms, {}",
            l.p95 * 1e3,
            verdict(l.p95 < 0.5)
        );
        let _ = writeln!(
            out,
            "  success > 99.5 %: {:.3} %, {}",
            self.success_rate * 100.0,
            verdict(self.success_rate > 0.995)
        );
        let _ = writeln!(
            out,
            "  RSS growth < 10 %: {:+.1} %, {}",
            self.rss_growth_pct,
            verdict(self.rss_growth_pct < 10.0)
        );
    }

    /// Each burst, and the burst targets, met or missed.
    fn burst_text(&self, out: &mut String) {
        let _ = writeln!(out, "Bursts (queue peak, recovery, errors):");
        for b in &self.bursts {
            let _ = writeln!(
                out,
                "  at {:>5.1} s: peak {:>4}, recovered in {:.3} s, {} of {} failed",
                b.at_s, b.queue_peak, b.recovery_s, b.errors, b.requests
            );
        }
        let BurstTotals {
            worst_recovery_s: worst,
            queue_peak: peak,
            error_rate: rate,
        } = self.burst_totals();
        let _ = writeln!(out, "The published tool-execution benchmarks' targets:");
        let _ = writeln!(
            out,
            "  recovery < 2 s: {worst:.3} s, {}",
            verdict(worst < 2.0)
        );
        let _ = writeln!(out, "  queue depth < 50: {peak}, {}", verdict(peak < 50));
        let _ = writeln!(
            out,
            "  errors < 0.1 %: {:.3} %, {}",
            rate * 100.0,
            verdict(rate < 0.001)
        );
    }

    /// The ramp's breaking point and its recovery.
    fn ramp_text(&self, out: &mut String) {
        let c = &self.config;
        match self.breaking_point {
            Some(rate) => {
                let _ = writeln!(
                    out,
                    "Breaking point: {rate:.0} requests/s offered (p95 over {} ms or errors over {:.2} %); the pool's capacity is {:.0}/s",
                    c.slo_p95.as_secs_f64() * 1e3,
                    c.error_budget * 100.0,
                    c.capacity()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "Breaking point: not reached up to {:.0} requests/s",
                    self.highest_good_rate
                );
            }
        }
        let _ = writeln!(
            out,
            "Highest rate within the SLO: {:.0} requests/s",
            self.highest_good_rate
        );
        match self.ramp_recovery_s {
            Some(r) if r.is_finite() => {
                let _ = writeln!(
                    out,
                    "Recovery after the drop: {r:.3} s (reference: < 30 s), {}",
                    verdict(r < 30.0)
                );
            }
            _ => {
                let _ = writeln!(out, "Recovery after the drop: not within the run, MISSED");
            }
        }
    }
}

/// `met` or `MISSED`.
fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}
