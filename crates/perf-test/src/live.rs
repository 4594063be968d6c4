//! `--metrics-addr`: a Prometheus endpoint that serves `perf-test`'s figures while a run
//! lasts, named so that the published tool-execution benchmarks' PromQL queries work on them unchanged.
//!
//! | metric | type | what |
//! | --- | --- | --- |
//! | `async_orchestrator_duration_seconds` | histogram | task (request) latency |
//! | `async_orchestrator_requests_total` | counter | tasks ended (or rejected) |
//! | `async_orchestrator_errors_total` | counter | of those, failed, rejected or timed out |
//! | `async_orchestrator_tasks_completed_total` | counter | of those, completed |
//! | `async_orchestrator_queue_depth` | gauge | tasks waiting for a worker |
//! | `async_orchestrator_parallel_efficiency` | gauge | completion rate / ideal rate so far |
//! | `process_resident_memory_bytes` | gauge | this process's RSS, read at each scrape |
//!
//! The text is encoded by `prometheus-client` (OpenMetrics text, which Prometheus
//! scrapes). The HTTP side is a small server on a tokio listener: `GET /metrics`
//! answers the current figures; anything else gets 404, and a request slower than 2 s
//! is dropped. The instruments are process-wide ([`install`] once, then [`get`]), so
//! the load test, the profiles and the distributed coordinator feed them without extra
//! plumbing.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::PerfError;

/// The live instruments.
#[derive(Debug)]
pub struct LiveMetrics {
    registry: Registry,
    duration: Histogram,
    requests: Counter,
    errors: Counter,
    completed: Counter,
    queue_depth: Gauge,
    efficiency: Gauge<f64, AtomicU64>,
    rss: Gauge,
}

static METRICS: OnceLock<LiveMetrics> = OnceLock::new();

impl LiveMetrics {
    fn new() -> LiveMetrics {
        let mut registry = Registry::default();
        // 1 ms to ~65 s, doubling.
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        let (requests, errors, completed) =
            (Counter::default(), Counter::default(), Counter::default());
        let (queue_depth, rss) = (Gauge::default(), Gauge::default());
        let efficiency = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "async_orchestrator_duration_seconds",
            "Task latency, from submission (or intended arrival) to its end",
            duration.clone(),
        );
        registry.register(
            "async_orchestrator_requests",
            "Tasks that ended, or were rejected",
            requests.clone(),
        );
        registry.register(
            "async_orchestrator_errors",
            "Tasks that failed, were rejected or timed out",
            errors.clone(),
        );
        registry.register(
            "async_orchestrator_tasks_completed",
            "Tasks that completed",
            completed.clone(),
        );
        registry.register(
            "async_orchestrator_queue_depth",
            "Tasks waiting for a worker",
            queue_depth.clone(),
        );
        registry.register(
            "async_orchestrator_parallel_efficiency",
            "Completion rate so far over the ideal rate (busy workers / task duration)",
            efficiency.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of this process",
            rss.clone(),
        );
        LiveMetrics {
            registry,
            duration,
            requests,
            errors,
            completed,
            queue_depth,
            efficiency,
            rss,
        }
    }

    /// A task ended after `latency_s`: completed (`ok`) or not.
    pub fn observe(&self, latency_s: f64, ok: bool) {
        self.duration.observe(latency_s);
        self.requests.inc();
        if ok {
            self.completed.inc();
        } else {
            self.errors.inc();
        }
    }

    /// A request was refused before it ran (an error with no latency).
    pub fn rejected(&self) {
        self.requests.inc();
        self.errors.inc();
    }

    /// The current queue depth and efficiency (NaN: not known, left as it was).
    pub fn set_state(&self, queue_depth: u64, efficiency: f64) {
        self.queue_depth.set(queue_depth as i64);
        if efficiency.is_finite() {
            self.efficiency.set(efficiency);
        }
    }

    /// The exposition text; the RSS is read at this moment, as Prometheus's process
    /// collectors do.
    pub fn render(&self) -> String {
        self.rss.set(rss_now() as i64);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// This process's resident memory now, bytes (`/proc/self/statm`; 0 if unreadable).
pub fn rss_now() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = u64::try_from(page).unwrap_or(4096);
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page)
}

/// The process's instruments, if `--metrics-addr` installed them.
pub fn get() -> Option<&'static LiveMetrics> {
    METRICS.get()
}

/// A running endpoint; dropping it stops serving.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    /// The address it listens on (with the port the OS chose for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates the instruments and serves them on `addr` (`HOST:PORT`) from the current
/// tokio runtime. A bad or busy address is a usage error naming it.
pub async fn install(addr: &str) -> Result<Endpoint, PerfError> {
    let parsed: SocketAddr = addr.parse().map_err(|e| {
        PerfError::Usage(format!("--metrics-addr {addr:?}: expected HOST:PORT ({e})"))
    })?;
    let listener = TcpListener::bind(parsed)
        .await
        .map_err(|e| PerfError::Usage(format!("--metrics-addr {addr}: cannot listen: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| PerfError::Usage(format!("--metrics-addr {addr}: {e}")))?;
    let metrics = METRICS.get_or_init(LiveMetrics::new);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, say: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), answer(stream, metrics)).await;
            });
        }
    });
    Ok(Endpoint { addr: local, task })
}

/// Reads one request (up to 8 KiB of headers) and answers it; the connection closes.
async fn answer(mut stream: tokio::net::TcpStream, metrics: &LiveMetrics) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, kind, body) = if method == b"GET" && (path == b"/metrics" || path == b"/") {
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.render(),
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "perf-test serves GET /metrics\n".to_owned(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_has_the_reference_metric_names_and_counts() {
        let m = LiveMetrics::new();
        m.observe(0.02, true);
        m.observe(0.5, false);
        m.rejected();
        m.set_state(7, 0.9);
        let text = m.render();
        for line in [
            "async_orchestrator_duration_seconds_count 2",
            "async_orchestrator_requests_total 3",
            "async_orchestrator_errors_total 2",
            "async_orchestrator_tasks_completed_total 1",
            "async_orchestrator_queue_depth 7",
            "async_orchestrator_parallel_efficiency 0.9",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse::<f64>().ok());
        assert!(
            rss.is_some_and(|v| v > 1e6),
            "the RSS is read at render time:\n{text}"
        );
        assert!(
            text.contains("async_orchestrator_duration_seconds_sum 0.52"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
