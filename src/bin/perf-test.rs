//! `perf-test`: the macro performance tool. Thin: it parses arguments, calls
//! `orchbench::perftest` and the engine modules, prints, and maps the result to an exit
//! code (`perftest::Exit`: 0 done, 1 the run failed, 2 bad arguments).
//!
//! Commands:
//! - `perf-test model --max-workers 4 --arrival-rate 100 --service-rate 120 --network-delay 0.005 [--json FILE] [--svg DIR]`
//! - `perf-test tools --parallel 1,5,20,50,100 [--tool-time-ms 20] [--probe 10000] [--json FILE]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use orchbench::perftest::{self, Exit, ModelInput, PerfError};
use orchbench::scheduler::tools;

/// orchbench's macro performance tool.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    },
}

fn run(cli: Cli) -> Result<(), PerfError> {
    match cli.command {
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
