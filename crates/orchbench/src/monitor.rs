//! The resource monitor: samples this process's resident memory (RSS) and CPU use, and
//! optionally its child processes', on a background thread every 50 ms (configurable),
//! refreshing only the processes it watches (sysinfo; about 40 µs per refresh here
//! against 2.7 ms for all processes). [`ResourceMonitor::stop`] returns the
//! initial/final/min/peak/mean figures.
//!
//! Children are found through `/proc/<pid>/task/*/children` on Linux, so finding them
//! costs no full process scan; elsewhere only this process is watched.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// Why the monitor could not start.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The sampling interval is zero.
    #[error("the sampling interval must be longer than zero")]
    Interval,
    /// sysinfo cannot read process information on this system.
    #[error("cannot read process information: {0}")]
    System(String),
    /// The sampling thread could not be started.
    #[error("cannot start the sampling thread: {0}")]
    Thread(std::io::Error),
}

/// What to sample, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Time between samples.
    pub interval: Duration,
    /// Also sum the memory and CPU of child processes.
    pub include_children: bool,
}

impl Default for MonitorConfig {
    /// Every 50 ms, this process only.
    fn default() -> Self {
        MonitorConfig {
            interval: Duration::from_millis(50),
            include_children: false,
        }
    }
}

/// One sample: the watched processes' totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the monitor started.
    pub at_s: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// CPU use since the previous sample, percent of one core (can exceed 100; the
    /// kernel counts CPU time in 10 ms ticks, so short intervals are coarse).
    pub cpu_percent: f64,
    /// Child processes alive at the sample.
    pub children: usize,
}

/// The figures [`ResourceMonitor::stop`] returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonitorReport {
    /// Samples taken.
    pub samples: usize,
    /// Seconds monitored.
    pub duration_s: f64,
    /// RSS at the first sample, bytes.
    pub rss_initial: u64,
    /// RSS at the last sample, bytes.
    pub rss_final: u64,
    /// Lowest RSS, bytes.
    pub rss_min: u64,
    /// Highest RSS, bytes.
    pub rss_peak: u64,
    /// Mean RSS, bytes.
    pub rss_mean: u64,
    /// Mean CPU use, percent of one core: all CPU time over all wall time (each window
    /// weighted by its length).
    pub cpu_mean: f64,
    /// Highest CPU use in one full interval, percent of one core. The last window,
    /// cut short by `stop`, is left out: with CPU time counted in 10 ms ticks, one tick
    /// in a 3 ms window would read 330 %.
    pub cpu_peak: f64,
    /// Most child processes seen at once.
    pub children_peak: usize,
    /// Mean time one sample took, microseconds (the monitor's own cost).
    pub sample_cost_us: f64,
}

impl MonitorReport {
    /// RSS growth from the first to the last sample, bytes (negative if it shrank).
    pub fn rss_growth(&self) -> i64 {
        self.rss_final as i64 - self.rss_initial as i64
    }
}

/// Live figures the sampling thread publishes for progress displays.
#[derive(Debug, Default)]
struct Live {
    rss: AtomicU64,
    /// CPU percent × 100.
    cpu_centi: AtomicU64,
}

/// A running monitor; [`ResourceMonitor::stop`] ends it and returns the figures.
#[derive(Debug)]
pub struct ResourceMonitor {
    stop: Arc<AtomicBool>,
    live: Arc<Live>,
    thread: JoinHandle<(Vec<Sample>, Duration)>,
    interval: Duration,
}

impl ResourceMonitor {
    /// Starts sampling on a background thread; the first sample is taken at once.
    pub fn start(config: MonitorConfig) -> Result<ResourceMonitor, MonitorError> {
        if config.interval.is_zero() {
            return Err(MonitorError::Interval);
        }
        let system = System::new().map_err(|e| MonitorError::System(e.to_string()))?;
        let pid = sysinfo::get_current_pid().map_err(|e| MonitorError::System(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Live::default());
        let interval = config.interval;
        let thread = {
            let (stop, live) = (stop.clone(), live.clone());
            std::thread::Builder::new()
                .name("orchbench-monitor".into())
                .spawn(move || sample_loop(system, pid, config, &stop, &live))
                .map_err(MonitorError::Thread)?
        };
        Ok(ResourceMonitor {
            stop,
            live,
            thread,
            interval,
        })
    }

    /// The latest RSS (bytes) and CPU (% of one core); zeros before the first sample.
    pub fn latest(&self) -> (u64, f64) {
        (
            self.live.rss.load(Ordering::Relaxed),
            self.live.cpu_centi.load(Ordering::Relaxed) as f64 / 100.0,
        )
    }

    /// Takes a last sample, stops the thread and summarises.
    pub fn stop(self) -> MonitorReport {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.thread().unpark();
        // The sampling thread does not panic (it only reads sysinfo), but if it did,
        // report no samples rather than propagate the panic.
        let (samples, cost) = self.thread.join().unwrap_or_default();
        summarise(&samples, cost, self.interval)
    }
}

fn sample_loop(
    mut system: System,
    pid: Pid,
    config: MonitorConfig,
    stop: &AtomicBool,
    live: &Live,
) -> (Vec<Sample>, Duration) {
    let start = Instant::now();
    let kind = ProcessRefreshKind::nothing().with_memory().with_cpu();
    let mut samples = Vec::new();
    let mut cost = Duration::ZERO;
    let mut next = start;
    // CPU % is the growth of each process's accumulated CPU time over the wall time
    // between samples (exact up to the kernel's tick); sysinfo's own per-process
    // percentage needs a system-wide CPU refresh this monitor deliberately avoids.
    let mut cpu_ms: HashMap<Pid, u64> = HashMap::new();
    let mut last = start;
    loop {
        let t0 = Instant::now();
        let mut pids = vec![pid];
        if config.include_children {
            pids.extend(children_of(pid));
        }
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&pids), true, kind);
        // The wall clock is read right at the refresh, the moment the CPU times are:
        // reading it later, after a preemption, would divide one window's CPU time by
        // a shorter or longer wall interval (a 50 ms window once showed 320 % here).
        let now = Instant::now();
        let (mut rss, mut cpu_delta_ms) = (0u64, 0u64);
        let mut children = 0;
        for (i, p) in pids.iter().enumerate() {
            if let Some(process) = system.process(*p) {
                rss += process.memory();
                let total = process.accumulated_cpu_time();
                let before = cpu_ms.insert(*p, total);
                cpu_delta_ms += total.saturating_sub(before.unwrap_or(total));
                children += usize::from(i > 0);
            }
        }
        let wall_ms = now.duration_since(last).as_secs_f64() * 1e3;
        last = now;
        let cpu = if wall_ms > 0.0 {
            cpu_delta_ms as f64 / wall_ms * 100.0
        } else {
            0.0
        };
        cost += t0.elapsed();
        live.rss.store(rss, Ordering::Relaxed);
        live.cpu_centi
            .store((cpu * 100.0) as u64, Ordering::Relaxed);
        samples.push(Sample {
            at_s: now.duration_since(start).as_secs_f64(),
            rss_bytes: rss,
            cpu_percent: cpu,
            children,
        });
        if stop.load(Ordering::SeqCst) {
            return (samples, cost);
        }
        next += config.interval;
        // Deadline-based, so sampling does not drift; park so `stop` can cut it short.
        while Instant::now() < next && !stop.load(Ordering::SeqCst) {
            std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
        }
    }
}

/// The live children of `pid`, from `/proc/<pid>/task/<tid>/children` (Linux).
fn children_of(pid: Pid) -> Vec<Pid> {
    let mut children = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return children;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            children.extend(
                list.split_whitespace()
                    .filter_map(|s| s.parse::<usize>().ok())
                    .map(Pid::from),
            );
        }
    }
    children
}

fn summarise(samples: &[Sample], cost: Duration, interval: Duration) -> MonitorReport {
    let Some(first) = samples.first() else {
        return MonitorReport::default();
    };
    let last = samples.last().unwrap_or(first);
    let n = samples.len();
    // The first CPU reading has no previous refresh to compare with; leave it out.
    // Each later one covers the window since the sample before it.
    let windows: Vec<(f64, f64)> = samples
        .windows(2)
        .map(|w| (w[1].cpu_percent, w[1].at_s - w[0].at_s))
        .collect();
    let wall: f64 = windows.iter().map(|&(_, len)| len).sum();
    let full = interval.as_secs_f64() * 0.9;
    MonitorReport {
        samples: n,
        duration_s: last.at_s,
        rss_initial: first.rss_bytes,
        rss_final: last.rss_bytes,
        rss_min: samples.iter().map(|s| s.rss_bytes).min().unwrap_or(0),
        rss_peak: samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0),
        rss_mean: samples.iter().map(|s| s.rss_bytes).sum::<u64>() / n as u64,
        cpu_mean: if wall > 0.0 {
            windows.iter().map(|&(cpu, len)| cpu * len).sum::<f64>() / wall
        } else {
            0.0
        },
        cpu_peak: windows
            .iter()
            .filter(|&&(_, len)| len >= full)
            .map(|&(cpu, _)| cpu)
            .fold(0.0, f64::max),
        children_peak: samples.iter().map(|s| s.children).max().unwrap_or(0),
        sample_cost_us: cost.as_secs_f64() * 1e6 / n as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_memory_grow_and_cpu_work() {
        let monitor = ResourceMonitor::start(MonitorConfig {
            interval: Duration::from_millis(10),
            include_children: false,
        })
        .unwrap();
        // Wait for the first sample, so the baseline is taken before the allocation.
        while monitor.latest().0 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let baseline = monitor.latest().0;
        // Touch 64 MiB and keep a core busy for a while.
        let block = vec![1u8; 64 << 20];
        let t0 = Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < Duration::from_millis(150) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box((x, &block));
        let report = monitor.stop();
        assert!(report.samples >= 5, "{report:?}");
        // Other tests run in this process too, so allow some slack below 64 MiB.
        assert!(
            report.rss_peak >= baseline + (56 << 20),
            "{baseline} {report:?}"
        );
        assert!(report.cpu_peak > 50.0, "{report:?}");
        assert!(
            report.sample_cost_us > 0.0 && report.sample_cost_us < 5_000.0,
            "{report:?}"
        );
    }

    #[test]
    fn counts_child_processes() {
        let mut child = std::process::Command::new("sleep")
            .arg("2")
            .spawn()
            .unwrap();
        let monitor = ResourceMonitor::start(MonitorConfig {
            interval: Duration::from_millis(10),
            include_children: true,
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(60));
        let report = monitor.stop();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(report.children_peak >= 1, "{report:?}");
    }

    #[test]
    fn zero_interval_is_an_error() {
        let err = ResourceMonitor::start(MonitorConfig {
            interval: Duration::ZERO,
            include_children: false,
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the sampling interval must be longer than zero"
        );
    }
}
