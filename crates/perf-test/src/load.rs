//! `perf-test` without a subcommand: the load test. [`LoadOptions`] are its flags (a
//! built-in or TOML config, and overrides of its values); [`run`] runs one config, or
//! every built-in one with `--all`, locally ([`workflow::run`]) or through a broker
//! ([`distributed::run`]), with live progress, and writes the reports: the gate's JSON
//! (`target/perf/<config>.json` by default) and, for `--all`, a timestamped text and
//! JSON copy per config. A run that timed out, was interrupted or lost tasks still
//! writes what completed, then returns the error that gives its exit code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::workflow::{self, Executor, Progress, RunConfig, RunReport, Shape};
use crate::{Console, PerfError, distributed, positive, runtime_with_metrics, write_json};

/// The load test's flags: a config, and overrides of its values.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct LoadOptions {
    /// A built-in config (quick, standard, heavy, latency, memory) or a TOML file.
    #[arg(long)]
    pub config: Option<String>,
    /// Every built-in config, one after another; results to perf-results/.
    #[arg(long, conflicts_with_all = ["config", "runs", "tasks_per_run", "duration", "json"])]
    pub all: bool,
    /// Workflows to submit (with --tasks-per-run and --duration, instead of a config).
    #[arg(long, allow_negative_numbers = true)]
    pub runs: Option<i64>,
    /// Tasks per workflow.
    #[arg(long, allow_negative_numbers = true)]
    pub tasks_per_run: Option<i64>,
    /// Seconds one task takes.
    #[arg(long, allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// Pool workers.
    #[arg(long, allow_negative_numbers = true)]
    pub workers: Option<i64>,
    /// async (exact sleeps) or process (`sh -c 'sleep SECS'`, or --command).
    #[arg(long, value_parser = Executor::parse)]
    pub executor: Option<Executor>,
    /// fanout (independent tasks), chain, or dag (a random DAG).
    #[arg(long, value_parser = Shape::parse)]
    pub shape: Option<Shape>,
    /// The process executor's command (default `sleep <duration>`).
    #[arg(long)]
    pub command: Option<String>,
    /// Give up after this many seconds, cancel what is unfinished, and still report what
    /// completed (exit 3). Default: ten times the ideal duration, at least 60.
    #[arg(long, allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Also run the same commands through `xargs -P <workers> -n 1 sh -c` and compare
    /// (process executor).
    #[arg(long)]
    pub compare_xargs: bool,
    /// Where to write the bench-gate report (default `target/perf/<config>.json`).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where --all writes its results.
    #[arg(long, default_value = "perf-results")]
    pub results_dir: PathBuf,
    /// Put the tasks in Redis Streams at this broker (redis://HOST:PORT) for
    /// `perf-test worker` processes to run, and measure end to end.
    #[arg(long)]
    pub broker: Option<String>,
    /// With --broker: how long to keep retrying a broker lost mid-run before giving up
    /// (exit 4, the report of what completed still written). When it answers again,
    /// the tasks it lost are published again and the run goes on.
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    pub broker_timeout: f64,
    /// Serve Prometheus metrics on HOST:PORT (GET /metrics) while the run lasts.
    #[arg(long)]
    pub metrics_addr: Option<String>,
}

impl LoadOptions {
    /// The config to run: the named one (or a custom one from the three counts), with
    /// the overrides applied and checked; a bad value is a usage error naming its flag.
    pub fn config(&self) -> Result<RunConfig, PerfError> {
        let mut config = match (&self.config, self.runs, self.tasks_per_run, self.duration) {
            (Some(name), ..) => RunConfig::named(name)?,
            (None, Some(_), Some(_), Some(_)) => RunConfig::parse(
                "custom",
                "runs = 1\ntasks_per_run = 1\nduration = 0.0\n",
                "the command line",
            )?,
            (None, None, None, None) => {
                return Err(PerfError::Usage(format!(
                    "give --config NAME (one of {}), --all, or --runs N --tasks-per-run M --duration SECS",
                    RunConfig::builtin_names().join(", ")
                )));
            }
            _ => {
                return Err(PerfError::Usage(
                    "without --config, give all three of --runs, --tasks-per-run and --duration"
                        .into(),
                ));
            }
        };
        self.apply_counts(&mut config)?;
        if let Some(e) = self.executor {
            config.executor = e;
        }
        if let Some(s) = self.shape {
            config.shape = s;
        }
        if let Some(c) = &self.command {
            config.command = Some(c.clone());
        }
        if let Some(t) = self.timeout {
            if !(t.is_finite() && t > 0.0 && t <= 86_400.0) {
                return Err(PerfError::Usage(format!(
                    "--timeout must be seconds in (0, 86400], got {t}"
                )));
            }
            config.timeout = Some(Duration::from_secs_f64(t));
        }
        self.broker_timeout()?;
        if self.compare_xargs && self.broker.is_some() {
            return Err(PerfError::Usage(
                "--compare-xargs runs locally; drop --broker".into(),
            ));
        }
        if self.compare_xargs && config.executor != Executor::Process {
            return Err(PerfError::Usage(
                "--compare-xargs needs --executor process".into(),
            ));
        }
        config.validate("the command line")?;
        Ok(config)
    }

    /// `--broker-timeout`, checked.
    pub fn broker_timeout(&self) -> Result<Duration, PerfError> {
        let t = self.broker_timeout;
        if t.is_finite() && t > 0.0 && t <= 86_400.0 {
            Ok(Duration::from_secs_f64(t))
        } else {
            Err(PerfError::Usage(format!(
                "--broker-timeout must be seconds in (0, 86400], got {t}"
            )))
        }
    }

    /// `--runs`, `--tasks-per-run`, `--workers` and `--duration` over `config`'s values.
    fn apply_counts(&self, config: &mut RunConfig) -> Result<(), PerfError> {
        if let Some(v) = self.runs {
            config.runs = positive("--runs", v)?;
        }
        if let Some(v) = self.tasks_per_run {
            config.tasks_per_run = positive("--tasks-per-run", v)?;
        }
        if let Some(v) = self.workers {
            config.workers = positive("--workers", v)?;
        }
        if let Some(v) = self.duration {
            if !(v.is_finite() && (0.0..=3600.0).contains(&v)) {
                return Err(PerfError::Usage(format!(
                    "--duration must be seconds in 0..=3600, got {v}"
                )));
            }
            config.duration = Duration::from_secs_f64(v);
        }
        Ok(())
    }
}

/// Runs one load test with live progress: a bar on a terminal, else a status line a
/// second.
fn measure(
    runtime: &tokio::runtime::Runtime,
    config: &RunConfig,
    broker: Option<(&str, Duration)>,
    console: &mut dyn Console,
) -> Result<RunReport, PerfError> {
    let bar = console.is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(config.total_tasks() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {msg}").expect("a valid template"),
        );
        bar
    });
    let every = if bar.is_some() {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(1)
    };
    let show = |p: Progress| match &bar {
        Some(bar) => {
            bar.set_position(p.done);
            bar.set_message(p.line());
        }
        None => console.status(&format!("Progress: {}", p.line())),
    };
    let report = match broker {
        None => runtime.block_on(workflow::run(config, every, show)),
        Some((url, timeout)) => {
            runtime.block_on(distributed::run(config, url, timeout, every, show))
        }
    };
    if let Some(bar) = bar {
        bar.finish();
    }
    report
}

/// Shows and writes one report (and the text copy `extra` names, with its addition);
/// then an error if the run timed out, was interrupted or lost tasks.
fn finish(
    report: &RunReport,
    json: &Path,
    extra: Option<(&Path, String)>,
    console: &mut dyn Console,
) -> Result<(), PerfError> {
    let text = report.text();
    console.report(&text);
    write_json(json, &crate::with_wakeups(report.metrics()))?;
    console.status(&format!("wrote {}", json.display()));
    if let Some((path, more)) = extra {
        bench_gate::fsutil::write_atomic(path, (text + &more).as_bytes())?;
        console.status(&format!("wrote {}", path.display()));
    }
    let total = report.config.total_tasks();
    if let Some(why) = report
        .distributed
        .as_ref()
        .and_then(|d| d.broker_lost.as_ref())
    {
        return Err(PerfError::Unavailable(format!(
            "{why}: {} of {total} tasks completed (the report covers them and lists the rest)",
            report.completed
        )));
    }
    if report.interrupted {
        return Err(PerfError::Interrupted(format!(
            "interrupted: {} of {total} tasks completed (the report covers them)",
            report.completed
        )));
    }
    if report.timed_out {
        return Err(PerfError::TimedOut(format!(
            "the run hit its time limit of {:.1}s: {} of {total} tasks completed (the report covers them)",
            report.config.effective_timeout().as_secs_f64(),
            report.completed
        )));
    }
    let lost = report.failed + report.skipped;
    if lost > 0 {
        return Err(PerfError::Run(format!(
            "{lost} of {total} tasks failed or could not run (the figures above count what completed)"
        )));
    }
    Ok(())
}

/// Every built-in config, one after another: each report to `--results-dir` (text and
/// JSON, timestamped) and to `target/perf/<config>.json`. A failed config does not
/// stop the others; the error names every one that failed.
fn run_all(options: &LoadOptions, console: &mut dyn Console) -> Result<(), PerfError> {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut failures = Vec::new();
    let (runtime, _endpoint) = runtime_with_metrics(options.metrics_addr.as_deref(), console)?;
    let timeout = options.broker_timeout()?;
    let broker = options.broker.as_deref().map(|url| (url, timeout));
    for name in RunConfig::builtin_names() {
        let mut config = RunConfig::named(name)?;
        if let Some(w) = options.workers {
            config.workers = positive("--workers", w)?;
            config.validate("the command line")?;
        }
        console.status(&format!("=== {name}"));
        let report = measure(&runtime, &config, broker, console)?;
        let (txt, json) = workflow::results_paths(&options.results_dir, name, unix);
        let result = finish(&report, &json, Some((&txt, String::new())), console);
        write_json(
            &PathBuf::from(format!("target/perf/{name}.json")),
            &crate::with_wakeups(report.metrics()),
        )?;
        match result {
            // The broker is gone: the configs after this one cannot run either.
            Err(e @ PerfError::Unavailable(_)) => return Err(e),
            Err(e) => failures.push(format!("{name}: {e}")),
            Ok(()) => {}
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(PerfError::Run(failures.join("; ")))
    }
}

/// Runs the load test `options` describe (see the module's documentation).
pub fn run(options: &LoadOptions, console: &mut dyn Console) -> Result<(), PerfError> {
    if options.all {
        return run_all(options, console);
    }
    let config = options.config()?;
    let json = options
        .json
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/perf/{}.json", config.name)));
    let (runtime, _endpoint) = runtime_with_metrics(options.metrics_addr.as_deref(), console)?;
    let timeout = options.broker_timeout()?;
    let broker = options.broker.as_deref().map(|url| (url, timeout));
    let report = measure(&runtime, &config, broker, console)?;
    let result = finish(&report, &json, None, console);
    if options.compare_xargs && result.is_err() {
        console.status("not comparing with xargs: the run itself did not complete");
    } else if options.compare_xargs {
        console.status(&format!(
            "running the same commands through xargs -P {} ...",
            config.workers
        ));
        let xargs = workflow::xargs_seconds(&config)?;
        console.report(&format!(
            "\nSame commands through `xargs -P {} -n 1 sh -c`: {:.2}s; perf-test took {:.2}s ({:.3} × xargs)\n",
            config.workers,
            xargs,
            report.duration_s,
            report.duration_s / xargs
        ));
    }
    result
}
