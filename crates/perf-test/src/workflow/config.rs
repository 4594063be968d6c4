//! The load test's configurations: the TOML format, the five built in, and the
//! checks that name the file, key and value of a bad one.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::PerfError;
use orchbench::planner::Dag;
use orchbench::workload;

/// The built-in configurations: the published workflow load test's five, with a pool size each.
pub const BUILTIN_CONFIGS: &[(&str, &str)] = &[
    ("quick", include_str!("../../../../perf-configs/quick.toml")),
    (
        "standard",
        include_str!("../../../../perf-configs/standard.toml"),
    ),
    ("heavy", include_str!("../../../../perf-configs/heavy.toml")),
    (
        "latency",
        include_str!("../../../../perf-configs/latency.toml"),
    ),
    (
        "memory",
        include_str!("../../../../perf-configs/memory.toml"),
    ),
];

/// How a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    /// An exact async sleep of the task's duration on the pool (no thread held).
    Async,
    /// An OS process: `sh -c 'sleep SECS'`, or the configured command.
    Process,
}

impl Executor {
    /// `async` or `process`, as `--executor` takes it.
    pub fn parse(s: &str) -> Result<Executor, String> {
        match s {
            "async" => Ok(Executor::Async),
            "process" => Ok(Executor::Process),
            _ => Err(format!("{s:?}: use async or process")),
        }
    }
}

/// The dependency structure of one workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// M independent tasks (the published workflow load test's workflows).
    Fanout,
    /// M tasks one after another.
    Chain,
    /// A random DAG of M tasks (`workload::random_forward_dag`, seeded).
    Dag,
}

impl Shape {
    /// `fanout`, `chain` or `dag`, as `--shape` takes it.
    pub fn parse(s: &str) -> Result<Shape, String> {
        match s {
            "fanout" => Ok(Shape::Fanout),
            "chain" => Ok(Shape::Chain),
            "dag" => Ok(Shape::Dag),
            _ => Err(format!("{s:?}: use fanout, chain or dag")),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    description: Option<String>,
    runs: i64,
    tasks_per_run: i64,
    duration: f64,
    workers: Option<i64>,
    executor: Option<Executor>,
    shape: Option<Shape>,
    command: Option<String>,
    timeout: Option<f64>,
}

/// A load test: what to submit and how to run it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunConfig {
    /// The config's name (the report's name).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Workflows submitted.
    pub runs: usize,
    /// Tasks per workflow.
    pub tasks_per_run: usize,
    /// How long one task takes.
    pub duration: Duration,
    /// Pool workers.
    pub workers: usize,
    /// Async sleeps or OS processes.
    pub executor: Executor,
    /// The workflows' dependency structure.
    pub shape: Shape,
    /// The process executor's command (default `sleep <duration>`).
    pub command: Option<String>,
    /// Give up after this long (default: [`RunConfig::default_timeout`]); what
    /// completed is still reported.
    pub timeout: Option<Duration>,
}

impl RunConfig {
    /// The names of the built-in configs.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN_CONFIGS.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in config by name, or a TOML file by path (anything with a `/` or ending
    /// in `.toml`). An unknown name lists the known ones.
    pub fn named(name: &str) -> Result<RunConfig, PerfError> {
        if name.contains('/') || name.ends_with(".toml") {
            let path = Path::new(name);
            let text = std::fs::read_to_string(path)
                .map_err(|e| PerfError::Usage(format!("--config {}: {e}", path.display())))?;
            let stem = path
                .file_stem()
                .map_or("custom".into(), |s| s.to_string_lossy().into_owned());
            return RunConfig::parse(&stem, &text, &path.display().to_string());
        }
        match BUILTIN_CONFIGS.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => RunConfig::parse(n, text, &format!("perf-configs/{n}.toml")),
            None => Err(PerfError::Usage(format!(
                "--config {name:?}: no such config; the built-in ones are {} (or give a path to a .toml file)",
                RunConfig::builtin_names().join(", ")
            ))),
        }
    }

    /// Parses a config's TOML; `origin` names it in errors (which give line and key).
    pub fn parse(name: &str, text: &str, origin: &str) -> Result<RunConfig, PerfError> {
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| PerfError::Usage(format!("{origin}: {}", e.to_string().trim_end())))?;
        let config = RunConfig {
            name: name.to_owned(),
            description: raw.description.unwrap_or_default(),
            runs: count(origin, "runs", raw.runs)?,
            tasks_per_run: count(origin, "tasks_per_run", raw.tasks_per_run)?,
            duration: seconds(origin, "duration", raw.duration)?,
            workers: count(origin, "workers", raw.workers.unwrap_or(20))?,
            executor: raw.executor.unwrap_or(Executor::Async),
            shape: raw.shape.unwrap_or(Shape::Fanout),
            command: raw.command,
            timeout: match raw.timeout {
                None => None,
                Some(t) if t > 0.0 => Some(seconds(origin, "timeout", t)?),
                Some(t) => {
                    return Err(PerfError::Usage(format!(
                        "{origin}: timeout: must be seconds in (0, 3600], got {t}"
                    )));
                }
            },
        };
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks the limits (also after command-line overrides); `origin` names the source.
    pub fn validate(&self, origin: &str) -> Result<(), PerfError> {
        let bad = |key: &str, why: String| Err(PerfError::Usage(format!("{origin}: {key}: {why}")));
        if self.runs == 0 || self.runs > 1_000_000 {
            return bad("runs", format!("must be 1..=1000000, got {}", self.runs));
        }
        if self.tasks_per_run == 0 || self.tasks_per_run > 10_000 {
            return bad(
                "tasks_per_run",
                format!("must be 1..=10000, got {}", self.tasks_per_run),
            );
        }
        if self.runs * self.tasks_per_run > 10_000_000 {
            return bad(
                "runs × tasks_per_run",
                format!("{} tasks: at most 10000000", self.runs * self.tasks_per_run),
            );
        }
        if self.workers == 0 || self.workers > 100_000 {
            return bad(
                "workers",
                format!("must be 1..=100000, got {}", self.workers),
            );
        }
        if self.duration > Duration::from_secs(3600) {
            return bad(
                "duration",
                format!("at most 3600 s, got {:?}", self.duration),
            );
        }
        if matches!(&self.command, Some(c) if c.trim().is_empty()) {
            return bad("command", "is empty".into());
        }
        Ok(())
    }

    /// Total tasks.
    pub fn total_tasks(&self) -> usize {
        self.runs * self.tasks_per_run
    }

    /// How long the run should take at best: the waves of tasks the pool must run one
    /// after another (for a chain, at least its length), times the task duration.
    pub fn expected(&self) -> Duration {
        let waves = self.total_tasks().div_ceil(self.workers);
        let depth = match self.shape {
            Shape::Fanout => 1,
            Shape::Chain | Shape::Dag => self.tasks_per_run,
        };
        self.duration * waves.max(depth) as u32
    }

    /// The time limit when none is configured: ten times [`RunConfig::expected`], and
    /// at least a minute (a process command of unknown length gets that long).
    pub fn default_timeout(&self) -> Duration {
        (self.expected() * 10).max(Duration::from_secs(60))
    }

    /// The time limit in force.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| self.default_timeout())
    }

    /// The shell command of one task (process executor).
    pub fn shell_command(&self) -> String {
        self.command
            .clone()
            .unwrap_or_else(|| format!("sleep {}", self.duration.as_secs_f64()))
    }

    /// One workflow's DAG.
    pub fn dag(&self) -> Dag {
        let m = self.tasks_per_run;
        match self.shape {
            Shape::Dag => workload::random_forward_dag(m, workload::DEFAULT_SEED),
            Shape::Fanout | Shape::Chain => {
                let costs = vec![self.duration.as_secs_f64(); m];
                let edges: Vec<(usize, usize)> = match self.shape {
                    Shape::Chain => (1..m).map(|i| (i - 1, i)).collect(),
                    _ => Vec::new(),
                };
                Dag::from_edges(&costs, &edges).expect("generated shapes are acyclic")
            }
        }
    }
}

fn count(origin: &str, key: &str, v: i64) -> Result<usize, PerfError> {
    usize::try_from(v).ok().filter(|&n| n > 0).ok_or_else(|| {
        PerfError::Usage(format!(
            "{origin}: {key}: must be a positive count, got {v}"
        ))
    })
}

fn seconds(origin: &str, key: &str, v: f64) -> Result<Duration, PerfError> {
    if v.is_finite() && (0.0..=3600.0).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(PerfError::Usage(format!(
            "{origin}: {key}: must be seconds in 0..=3600, got {v}"
        )))
    }
}
