//! `perf-test`: orchbench's macro load tester. Thin: parses the command line, calls the
//! library's command (`perf_test::*::run…`), prints what it shows (status lines to
//! stderr, reports to stdout) and exits with `perf_test::Exit`: 0 done, 1 the run
//! failed or tasks failed, 2 bad arguments, 3 the run hit its time limit, 4 the broker
//! is unreachable or was lost past `--broker-timeout`, 130 Ctrl-C; after 1, 3, 4
//! (mid-run) and 130 the report of what completed has still been written.

#![warn(clippy::too_many_lines)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use perf_test::coordinate::{self, CoordinateOptions};
use perf_test::distributed::{self, WorkerOptions};
use perf_test::load::{self, LoadOptions};
use perf_test::model::{self, ModelOptions};
use perf_test::profile::{self, ProfileOptions};
use perf_test::ratelimit::{self, RatelimitOptions};
use perf_test::speculate::{self, SpeculateOptions};
use perf_test::tools::{self, ToolsOptions};
use perf_test::{Console, Exit, PerfError};

/// orchbench's macro performance tool: without a subcommand, the load test.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: LoadOptions,
}

#[derive(Subcommand)]
enum Command {
    /// The M/M/c queueing model with dispatch delay: throughput, latency and queue
    /// length for 1..=max-workers workers.
    Model(ModelOptions),
    /// Parallel tool execution: N simulated tool calls run one after another and all
    /// at once; speedup, efficiency and memory per in-flight tool.
    Tools(ToolsOptions),
    /// Open-loop load profiles on the pool: sustained, burst or ramp. Arrivals follow a
    /// schedule, and latency counts from each intended arrival.
    Profile(ProfileOptions),
    /// A distributed worker: runs tasks from the broker's task stream (consumer group
    /// perf-workers) until Ctrl-C or SIGTERM, taking over tasks a dead worker left.
    Worker(WorkerOptions),
    /// The rate limiters' pacing scenarios: a token bucket at 100/s for 1000 requests,
    /// and a sliding log and a sliding counter at 500/s sustained; accuracy, waits,
    /// queue depth.
    Ratelimit(RatelimitOptions),
    /// Speculative tool calls: a decision selects one of K candidates, the predicted
    /// ones start during it; hit rate, false positives, overhead per speculation,
    /// latency with and without (same run), net gain and extra memory.
    Speculate(SpeculateOptions),
    /// Agent coordination round trips (publish a task, the other agent acknowledges,
    /// see the acknowledgement) over the memory bus and Redis Streams: p50/p99.
    Coordinate(CoordinateOptions),
}

/// The terminal: status lines to stderr, reports to stdout.
struct Terminal;

impl Console for Terminal {
    fn status(&mut self, line: &str) {
        eprintln!("{line}");
    }

    fn report(&mut self, text: &str) {
        print!("{text}");
    }

    fn is_terminal(&self) -> bool {
        std::io::stdout().is_terminal()
    }
}

fn run(cli: Cli) -> Result<(), PerfError> {
    let console = &mut Terminal;
    // The machine's scheduling delay beside every measured run (not the worker's or
    // the model's: they write no report for the gate).
    if !matches!(cli.command, Some(Command::Worker(_) | Command::Model(_))) {
        perf_test::wakeup::start()
            .map_err(|e| PerfError::Run(format!("the wake-up sampler thread: {e}")))?;
    }
    match cli.command {
        None => load::run(&cli.load, console),
        Some(Command::Model(options)) => model::run(&options, console).map(drop),
        Some(Command::Tools(options)) => tools::run(&options, console).map(drop),
        Some(Command::Profile(options)) => profile::run_command(&options, console).map(drop),
        Some(Command::Worker(options)) => distributed::run_worker(&options, console).map(drop),
        Some(Command::Ratelimit(options)) => ratelimit::run(&options, console).map(drop),
        Some(Command::Speculate(options)) => speculate::run(&options, console).map(drop),
        Some(Command::Coordinate(options)) => coordinate::run(&options, console).map(drop),
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
