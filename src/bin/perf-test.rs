//! `perf-test`: the macro performance tool. Thin: it parses arguments, calls
//! `orchbench::perftest` and the engine modules, prints, and maps the result to an exit
//! code (`perftest::Exit`: 0 done, 1 the run failed or tasks failed, 2 bad arguments,
//! 3 the run hit its time limit, 4 the broker is unreachable or was lost, 130 Ctrl-C;
//! after 1, 3 and 130 the report of what completed has still been written).
//!
//! Commands:
//! - `perf-test --config quick|standard|heavy|latency|memory|FILE.toml [--json FILE]`,
//!   `perf-test --runs N --tasks-per-run M --duration SECS [--workers C]
//!   [--executor async|process] [--shape fanout|chain|dag] [--command CMD]`,
//!   `perf-test --all` (every built-in config; results to perf-results/)
//! - `perf-test model --max-workers 4 --arrival-rate 100 --service-rate 120 --network-delay 0.005 [--json FILE] [--svg DIR]`
//! - `perf-test tools --parallel 1,5,20,50,100 [--tool-time-ms 20] [--probe 10000] [--json FILE]
//!   [--gate-json FILE]`
//! - `perf-test ratelimit [--scenario all|token-bucket|sliding-window] [--seconds 10]
//!   [--virtual] [--json FILE] [--gate-json FILE]`

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use orchbench::perftest::distributed::{self, WorkerConfig};
use orchbench::perftest::workflow::{self, Executor, RunConfig, RunReport, Shape};
use orchbench::perftest::{self, Exit, ModelInput, PerfError, live};
use orchbench::ratelimit::{self, scenario::Scenario};
use orchbench::scheduler::tools;

/// orchbench's macro performance tool: without a subcommand, the load test (seed 002).
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: LoadArgs,
}

/// The load test's arguments: a config, and overrides of its values.
#[derive(clap::Args)]
struct LoadArgs {
    /// A built-in config (quick, standard, heavy, latency, memory) or a TOML file.
    #[arg(long)]
    config: Option<String>,
    /// Every built-in config, one after another; results to perf-results/.
    #[arg(long, conflicts_with_all = ["config", "runs", "tasks_per_run", "duration", "json"])]
    all: bool,
    /// Workflows to submit (with --tasks-per-run and --duration, instead of a config).
    #[arg(long, allow_negative_numbers = true)]
    runs: Option<i64>,
    /// Tasks per workflow.
    #[arg(long, allow_negative_numbers = true)]
    tasks_per_run: Option<i64>,
    /// Seconds one task takes.
    #[arg(long, allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Pool workers.
    #[arg(long, allow_negative_numbers = true)]
    workers: Option<i64>,
    /// async (exact sleeps) or process (`sh -c 'sleep SECS'`, or --command).
    #[arg(long, value_parser = parse_executor)]
    executor: Option<Executor>,
    /// fanout (independent tasks), chain, or dag (a random DAG).
    #[arg(long, value_parser = parse_shape)]
    shape: Option<Shape>,
    /// The process executor's command (default `sleep <duration>`).
    #[arg(long)]
    command: Option<String>,
    /// Give up after this many seconds, cancel what is unfinished, and still report what
    /// completed (exit 3). Default: ten times the ideal duration, at least 60.
    #[arg(long, allow_negative_numbers = true)]
    timeout: Option<f64>,
    /// Also run the same commands through `xargs -P <workers> -n 1 sh -c` and compare
    /// (process executor).
    #[arg(long)]
    compare_xargs: bool,
    /// Where to write the bench-gate report (default `target/perf/<config>.json`).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where --all writes its results.
    #[arg(long, default_value = "perf-results")]
    results_dir: PathBuf,
    /// Put the tasks in Redis Streams at this broker (redis://HOST:PORT) for
    /// `perf-test worker` processes to run, and measure end to end.
    #[arg(long)]
    broker: Option<String>,
    /// Serve Prometheus metrics on HOST:PORT (GET /metrics) while the run lasts.
    #[arg(long)]
    metrics_addr: Option<String>,
}

fn parse_executor(s: &str) -> Result<Executor, String> {
    match s {
        "async" => Ok(Executor::Async),
        "process" => Ok(Executor::Process),
        _ => Err(format!("{s:?}: use async or process")),
    }
}

fn parse_shape(s: &str) -> Result<Shape, String> {
    match s {
        "fanout" => Ok(Shape::Fanout),
        "chain" => Ok(Shape::Chain),
        "dag" => Ok(Shape::Dag),
        _ => Err(format!("{s:?}: use fanout, chain or dag")),
    }
}

/// The config to run: the named one (or a custom one from the three counts), with the
/// command line's overrides applied and checked.
fn load_config(a: &LoadArgs) -> Result<RunConfig, PerfError> {
    let mut config = match (&a.config, a.runs, a.tasks_per_run, a.duration) {
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
                "without --config, give all three of --runs, --tasks-per-run and --duration".into(),
            ));
        }
    };
    if let Some(v) = a.runs {
        config.runs = positive("--runs", v)?;
    }
    if let Some(v) = a.tasks_per_run {
        config.tasks_per_run = positive("--tasks-per-run", v)?;
    }
    if let Some(v) = a.workers {
        config.workers = positive("--workers", v)?;
    }
    if let Some(v) = a.duration {
        if !(v.is_finite() && (0.0..=3600.0).contains(&v)) {
            return Err(PerfError::Usage(format!(
                "--duration must be seconds in 0..=3600, got {v}"
            )));
        }
        config.duration = Duration::from_secs_f64(v);
    }
    if let Some(e) = a.executor {
        config.executor = e;
    }
    if let Some(s) = a.shape {
        config.shape = s;
    }
    if let Some(c) = &a.command {
        config.command = Some(c.clone());
    }
    if let Some(t) = a.timeout {
        if !(t.is_finite() && t > 0.0 && t <= 86_400.0) {
            return Err(PerfError::Usage(format!(
                "--timeout must be seconds in (0, 86400], got {t}"
            )));
        }
        config.timeout = Some(Duration::from_secs_f64(t));
    }
    if a.compare_xargs && a.broker.is_some() {
        return Err(PerfError::Usage(
            "--compare-xargs runs locally; drop --broker".into(),
        ));
    }
    if a.compare_xargs && config.executor != Executor::Process {
        return Err(PerfError::Usage(
            "--compare-xargs needs --executor process".into(),
        ));
    }
    config.validate("the command line")?;
    Ok(config)
}

/// A count flag's value: positive, or a usage error naming the flag.
fn positive(flag: &str, v: i64) -> Result<usize, PerfError> {
    usize::try_from(v)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| PerfError::Usage(format!("{flag} must be a positive count, got {v}")))
}

/// Runs one load test with live progress: a bar on a terminal, else a line a second.
fn load_test(
    runtime: &tokio::runtime::Runtime,
    config: &RunConfig,
    broker: Option<&str>,
) -> Result<RunReport, PerfError> {
    let tty = std::io::stdout().is_terminal();
    let bar = tty.then(|| {
        let bar = indicatif::ProgressBar::new(config.total_tasks() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {msg}").expect("a valid template"),
        );
        bar
    });
    let every = if tty {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(1)
    };
    let show = |p: workflow::Progress| match &bar {
        Some(bar) => {
            bar.set_position(p.done);
            bar.set_message(p.line());
        }
        None => eprintln!("Progress: {}", p.line()),
    };
    let report = match broker {
        None => runtime.block_on(workflow::run(config, every, show)),
        Some(url) => runtime.block_on(distributed::run(config, url, every, show)),
    };
    if let Some(bar) = bar {
        bar.finish();
    }
    report
}

/// Prints and writes one report; an error when tasks failed (after writing).
fn finish(
    report: &RunReport,
    json: &Path,
    extra: Option<(&Path, String)>,
) -> Result<(), PerfError> {
    let text = report.text();
    print!("{text}");
    perftest::write_json(json, &report.metrics())?;
    eprintln!("wrote {}", json.display());
    if let Some((path, more)) = extra {
        orchbench::fsutil::write_atomic(path, (text + &more).as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    if report.interrupted {
        return Err(PerfError::Interrupted(format!(
            "interrupted: {} of {} tasks completed (the report covers them)",
            report.completed,
            report.config.total_tasks()
        )));
    }
    if report.timed_out {
        return Err(PerfError::TimedOut(format!(
            "the run hit its time limit of {:.1}s: {} of {} tasks completed (the report covers them)",
            report.config.effective_timeout().as_secs_f64(),
            report.completed,
            report.config.total_tasks()
        )));
    }
    let lost = report.failed + report.skipped;
    if lost > 0 {
        return Err(PerfError::Run(format!(
            "{lost} of {} tasks failed or could not run (the figures above count what completed)",
            report.config.total_tasks()
        )));
    }
    Ok(())
}

/// The async runtime, and the metrics endpoint if one was asked for (it serves for as
/// long as the returned handle lives).
fn runtime_with_metrics(
    addr: Option<&str>,
) -> Result<(tokio::runtime::Runtime, Option<live::Endpoint>), PerfError> {
    let runtime = orchbench::workload::runtime()
        .map_err(|e| PerfError::Run(format!("cannot start the async runtime: {e}")))?;
    let endpoint = match addr {
        Some(addr) => {
            let endpoint = runtime.block_on(live::install(addr))?;
            eprintln!("serving metrics on http://{}/metrics", endpoint.addr());
            Some(endpoint)
        }
        None => None,
    };
    Ok((runtime, endpoint))
}

fn run_load(a: LoadArgs) -> Result<(), PerfError> {
    if a.all {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut failures = Vec::new();
        let (runtime, _endpoint) = runtime_with_metrics(a.metrics_addr.as_deref())?;
        for name in RunConfig::builtin_names() {
            let mut config = RunConfig::named(name)?;
            if let Some(w) = a.workers {
                config.workers = positive("--workers", w)?;
                config.validate("the command line")?;
            }
            eprintln!("=== {name}");
            let report = load_test(&runtime, &config, a.broker.as_deref())?;
            let (txt, json) = workflow::results_paths(&a.results_dir, name, unix);
            if let Err(e) = finish(&report, &json, Some((&txt, String::new()))) {
                failures.push(format!("{name}: {e}"));
            }
            perftest::write_json(
                &PathBuf::from(format!("target/perf/{name}.json")),
                &report.metrics(),
            )?;
        }
        return if failures.is_empty() {
            Ok(())
        } else {
            Err(PerfError::Run(failures.join("; ")))
        };
    }
    let config = load_config(&a)?;
    let json = a
        .json
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/perf/{}.json", config.name)));
    let (runtime, _endpoint) = runtime_with_metrics(a.metrics_addr.as_deref())?;
    let report = load_test(&runtime, &config, a.broker.as_deref())?;
    let result = finish(&report, &json, None);
    if a.compare_xargs && result.is_err() {
        eprintln!("not comparing with xargs: the run itself did not complete");
    } else if a.compare_xargs {
        eprintln!(
            "running the same commands through xargs -P {} ...",
            config.workers
        );
        let xargs = workflow::xargs_seconds(&config)?;
        println!(
            "\nSame commands through `xargs -P {} -n 1 sh -c`: {:.2}s; perf-test took {:.2}s ({:.3} × xargs)",
            config.workers,
            xargs,
            report.duration_s,
            report.duration_s / xargs
        );
    }
    result
}

#[derive(Subcommand)]
enum Command {
    /// The M/M/c queueing model with dispatch delay (seeds 000 and 001): throughput,
    /// latency and queue length for 1..=max-workers workers.
    Model {
        /// Rows for 1 up to this many workers.
        #[arg(long, default_value_t = 4)]
        max_workers: u32,
        /// Arrival rate λ, tasks per second.
        #[arg(long, default_value_t = 100.0)]
        arrival_rate: f64,
        /// Service rate μ of one worker, tasks per second.
        #[arg(long, default_value_t = 120.0)]
        service_rate: f64,
        /// Dispatch (network) delay d per task, seconds.
        #[arg(long, default_value_t = 0.005)]
        network_delay: f64,
        /// Also write the report as JSON to this file (atomically).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also write latency_vs_workers.svg and throughput_vs_workers.svg into this directory.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Seed 004's parallel tool execution: N simulated tool calls run one after another
    /// and all at once; speedup, efficiency and memory per in-flight tool.
    Tools {
        /// Tool-call counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,5,20,50,100")]
        parallel: Vec<usize>,
        /// Duration of one simulated tool call, milliseconds.
        #[arg(long, default_value_t = 20)]
        tool_time_ms: u64,
        /// Also run this many calls at once (without the sequential run) for a memory
        /// figure above RSS noise; 0 skips it.
        #[arg(long, default_value_t = 10_000)]
        probe: usize,
        /// Also write the rows as JSON to this file (atomically).
        #[arg(long)]
        json: Option<PathBuf>,
        /// The report for bench-gate (single_tool_time, parallel_efficiency_N,
        /// memory_50_tools, ...).
        #[arg(long, default_value = "target/perf/tools.json")]
        gate_json: PathBuf,
    },
    /// Seed 004's open-loop load profiles on the pool: sustained, burst or ramp.
    /// Arrivals follow a schedule, and latency counts from each intended arrival.
    Profile {
        /// sustained, burst or ramp.
        #[arg(value_parser = ["sustained", "burst", "ramp"])]
        kind: String,
        /// Seed 004's full lengths (10, 10 and 30 minutes) instead of the ≤ 60 s scaling.
        #[arg(long)]
        full: bool,
        /// Requests per second: sustained's rate, burst's rate in a burst, ramp's top rate.
        #[arg(long, allow_negative_numbers = true)]
        rate: Option<f64>,
        /// Seconds: sustained's length, each idle and burst stretch, ramp's rise.
        #[arg(long, allow_negative_numbers = true)]
        seconds: Option<f64>,
        /// Burst: idle + burst cycles.
        #[arg(long, allow_negative_numbers = true)]
        cycles: Option<i64>,
        /// Ramp: the starting rate, and the rate after the drop.
        #[arg(long, allow_negative_numbers = true)]
        from: Option<f64>,
        /// Pool workers (capacity = workers / task time).
        #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
        workers: i64,
        /// Milliseconds one request keeps a worker.
        #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
        task_time_ms: f64,
        /// Requests that may wait beyond the busy workers; more are rejected (errors).
        #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
        queue: i64,
        /// A request ending later than this many seconds after its arrival is an error.
        #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
        request_timeout: f64,
        /// Ramp: the p95 latency (ms) a one-second window may have before it "breaks".
        #[arg(long, default_value_t = 500.0, allow_negative_numbers = true)]
        slo_p95_ms: f64,
        /// Ramp: the error rate a window may have (default 0.001).
        #[arg(long, allow_negative_numbers = true)]
        error_budget: Option<f64>,
        /// Evenly spaced arrivals instead of a Poisson process.
        #[arg(long)]
        even: bool,
        /// The report for bench-gate (default `target/perf/profile-<kind>.json`).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Serve Prometheus metrics on HOST:PORT (GET /metrics) while the run lasts.
        #[arg(long)]
        metrics_addr: Option<String>,
    },
    /// A distributed worker: runs tasks from the broker's task stream (consumer group
    /// perf-workers) until Ctrl-C or SIGTERM, taking over tasks a dead worker left.
    Worker {
        /// The broker, `redis://HOST:PORT[/db][?stream=NAME&...]`.
        #[arg(long)]
        broker: String,
        /// Tasks this worker runs at once.
        #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
        workers: i64,
        /// Tasks taken per read (default: --workers); more helps very short tasks.
        #[arg(long, allow_negative_numbers = true)]
        batch: Option<i64>,
        /// Take over a dead worker's tasks once they have been pending this many seconds
        /// (must exceed the longest task).
        #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
        reclaim_after: f64,
        /// This worker's consumer name (default `<host>-<pid>`).
        #[arg(long)]
        name: Option<String>,
        /// Exit after this many seconds without a task (default: run until stopped).
        #[arg(long, allow_negative_numbers = true)]
        idle_exit: Option<f64>,
        /// Give up (exit 4) when the broker has been unreachable this many seconds, at
        /// start (a worker may start before its broker) or mid-run.
        #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
        broker_timeout: f64,
    },
    /// Seed 004's rate-limit scenarios: a token bucket at 100/s for 1000 requests, and a
    /// sliding log and a sliding counter at 500/s sustained; accuracy, waits, queue depth.
    Ratelimit {
        /// Which scenarios: all, token-bucket, or sliding-window (log and counter).
        #[arg(long, default_value = "all", value_parser = ["all", "token-bucket", "sliding-window"])]
        scenario: String,
        /// Length of the sliding-window scenarios, seconds (seed 004: 60).
        #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
        seconds: f64,
        /// Run instantly on a manual clock (an exact simulation) instead of the real one.
        #[arg(long = "virtual")]
        virtual_clock: bool,
        /// Also write the full scenario reports as JSON to this file (atomically).
        #[arg(long)]
        json: Option<PathBuf>,
        /// The report for bench-gate (rate_limit_accuracy_S, wait_p95_S, ...).
        #[arg(long, default_value = "target/perf/ratelimit.json")]
        gate_json: PathBuf,
    },
}

/// Seed 004's rate-limit scenarios, as chosen on the command line.
fn ratelimit_scenarios(which: &str, seconds: f64) -> Result<Vec<Scenario>, PerfError> {
    if !(seconds.is_finite() && (1.0..=86_400.0).contains(&seconds)) {
        return Err(PerfError::Usage(format!(
            "--seconds must be between 1 and 86400, got {seconds}"
        )));
    }
    Ok(Scenario::seed_004(
        which != "sliding-window",
        which != "token-bucket",
        Duration::from_secs_f64(seconds),
    ))
}

fn run(cli: Cli) -> Result<(), PerfError> {
    let Some(command) = cli.command else {
        return run_load(cli.load);
    };
    match command {
        Command::Model {
            max_workers,
            arrival_rate,
            service_rate,
            network_delay,
            json,
            svg,
        } => {
            let report = perftest::model(ModelInput {
                max_workers,
                arrival_rate,
                service_rate,
                network_delay,
            })?;
            print!("{}", report.markdown());
            if let Some(path) = json {
                perftest::write_json(&path, &report)?;
                eprintln!("wrote {}", path.display());
            }
            if let Some(dir) = svg {
                for path in report.write_svgs(&dir)? {
                    eprintln!("wrote {}", path.display());
                }
            }
            Ok(())
        }
        Command::Tools {
            parallel,
            tool_time_ms,
            probe,
            json,
            gate_json,
        } => {
            if tool_time_ms == 0 {
                return Err(PerfError::Usage(
                    "--tool-time-ms must be at least 1, got 0".into(),
                ));
            }
            if let Some(bad) = parallel.iter().find(|&&n| n == 0 || n > 100_000) {
                return Err(PerfError::Usage(format!(
                    "--parallel counts must be between 1 and 100000, got {bad}"
                )));
            }
            if probe > 100_000 {
                return Err(PerfError::Usage(format!(
                    "--probe must be at most 100000, got {probe}"
                )));
            }
            let tool_time = Duration::from_millis(tool_time_ms);
            let runtime = orchbench::workload::runtime()
                .map_err(|e| PerfError::Run(format!("cannot start the async runtime: {e}")))?;
            let rows = runtime.block_on(async {
                let mut rows = Vec::new();
                for &n in &parallel {
                    eprintln!("running {n} tool call(s) ...");
                    rows.push(tools::measure(n, tool_time, true).await?);
                }
                if probe > 0 {
                    eprintln!("running the memory probe: {probe} calls at once ...");
                    rows.push(tools::measure(probe, tool_time, false).await?);
                }
                Ok::<_, tools::ToolsError>(rows)
            });
            let rows = rows.map_err(|e| PerfError::Run(e.to_string()))?;
            print!("{}", perftest::tools_markdown(&rows));
            if let Some(path) = json {
                perftest::write_json(&path, &rows)?;
                eprintln!("wrote {}", path.display());
            }
            perftest::write_json(&gate_json, &perftest::tools_metrics(&rows))?;
            eprintln!("wrote {}", gate_json.display());
            Ok(())
        }
        Command::Profile {
            kind,
            full,
            rate,
            seconds,
            cycles,
            from,
            workers,
            task_time_ms,
            queue,
            request_timeout,
            slo_p95_ms,
            error_budget,
            even,
            json,
            metrics_addr,
        } => {
            use orchbench::perftest::profile::{ProfileConfig, ProfileKind, Shape};
            let kind = match kind.as_str() {
                "sustained" => ProfileKind::Sustained,
                "burst" => ProfileKind::Burst,
                _ => ProfileKind::Ramp,
            };
            let number = |flag: &str, v: f64, lo: f64, hi: f64| {
                if v.is_finite() && v >= lo && v <= hi {
                    Ok(v)
                } else {
                    Err(PerfError::Usage(format!(
                        "{flag} must be in {lo}..={hi}, got {v}"
                    )))
                }
            };
            let mut shape = Shape::seed_004(kind, full);
            if let Some(v) = rate {
                shape.rate = number("--rate", v, 0.001, 1e6)?;
            }
            if let Some(v) = seconds {
                shape.seconds = number("--seconds", v, 0.001, 86_400.0)?;
            }
            if let Some(v) = cycles {
                shape.cycles = usize::try_from(v)
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        PerfError::Usage(format!("--cycles must be 1..=10000, got {v}"))
                    })?;
            }
            if let Some(v) = from {
                shape.from = number("--from", v, 0.0, 1e6)?;
            }
            let mut config = ProfileConfig::new(kind, &shape);
            config.workers = usize::try_from(workers).unwrap_or(0);
            config.task_time = Duration::from_secs_f64(
                number("--task-time-ms", task_time_ms, 0.001, 3.6e6)? / 1e3,
            );
            config.queue = usize::try_from(queue).map_err(|_| {
                PerfError::Usage(format!("--queue must be at least 0, got {queue}"))
            })?;
            config.request_timeout = Duration::from_secs_f64(number(
                "--request-timeout",
                request_timeout,
                0.001,
                3600.0,
            )?);
            config.slo_p95 =
                Duration::from_secs_f64(number("--slo-p95-ms", slo_p95_ms, 0.001, 3.6e6)? / 1e3);
            if let Some(b) = error_budget {
                config.error_budget = b;
            }
            config.even = even;
            config.validate()?;
            let (runtime, _endpoint) = runtime_with_metrics(metrics_addr.as_deref())?;
            eprintln!(
                "profile {}: {:.0} s of open-loop load ...",
                kind.name(),
                config.seconds()
            );
            let report = runtime
                .block_on(orchbench::perftest::profile::run(&config, |t, n, q| {
                    eprintln!("Progress: {t:.0} s, {n} requests, queue {q}")
                }))?;
            print!("{}", report.text());
            let path = json.unwrap_or_else(|| {
                PathBuf::from(format!("target/perf/profile-{}.json", kind.name()))
            });
            perftest::write_json(&path, &report.metrics())?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
        Command::Worker {
            broker,
            workers,
            batch,
            reclaim_after,
            name,
            idle_exit,
            broker_timeout,
        } => {
            let count = |flag: &str, v: i64| {
                usize::try_from(v)
                    .ok()
                    .filter(|&n| (1..=100_000).contains(&n))
                    .ok_or_else(|| PerfError::Usage(format!("{flag} must be 1..=100000, got {v}")))
            };
            let secs = |flag: &str, v: f64| {
                if v.is_finite() && v > 0.0 && v <= 86_400.0 {
                    Ok(Duration::from_secs_f64(v))
                } else {
                    Err(PerfError::Usage(format!(
                        "{flag} must be seconds in (0, 86400], got {v}"
                    )))
                }
            };
            let slots = count("--workers", workers)?;
            let config = WorkerConfig {
                url: broker,
                slots,
                batch: batch.map_or(Ok(slots), |b| count("--batch", b))?,
                reclaim_after: secs("--reclaim-after", reclaim_after)?,
                name,
                idle_exit: idle_exit.map(|v| secs("--idle-exit", v)).transpose()?,
                broker_timeout: secs("--broker-timeout", broker_timeout)?,
            };
            distributed::broker_config(&config.url)?;
            let runtime = orchbench::workload::runtime()
                .map_err(|e| PerfError::Run(format!("cannot start the async runtime: {e}")))?;
            eprintln!("worker: serving {} with {} slots", config.url, config.slots);
            let report = runtime.block_on(distributed::serve(config))?;
            eprintln!(
                "worker: stopped after {} completed, {} failed, {} expired, {} taken over",
                report.completed, report.failed, report.expired, report.reclaimed
            );
            Ok(())
        }
        Command::Ratelimit {
            scenario,
            seconds,
            virtual_clock,
            json,
            gate_json,
        } => {
            let mut reports = Vec::new();
            for s in ratelimit_scenarios(&scenario, seconds)? {
                eprintln!("running {} ({}) ...", s.name, s.limiter.describe());
                let report = if virtual_clock {
                    ratelimit::scenario::run_virtual(&s)
                } else {
                    ratelimit::scenario::run_real(&s)
                };
                reports.push(report.map_err(|e| PerfError::Run(e.to_string()))?);
            }
            print!("{}", ratelimit::scenario::table(&reports));
            if let Some(path) = json {
                perftest::write_json(&path, &reports)?;
                eprintln!("wrote {}", path.display());
            }
            perftest::write_json(&gate_json, &perftest::ratelimit_metrics(&reports))?;
            eprintln!("wrote {}", gate_json.display());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; everything else clap rejects is usage.
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    match run(cli) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            eprintln!("perf-test: {e}");
            e.exit().into()
        }
    }
}
