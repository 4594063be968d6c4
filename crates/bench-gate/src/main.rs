//! `bench-gate`: turns benchmark results into a PR verdict. Thin: parses the command
//! line, calls the library's command (`bench_gate::command`), prints its outcome, and
//! exits with its code: 0 = no critical regression, 1 = at least one, 2 = could not
//! judge.

#![warn(clippy::too_many_lines)]

use std::io::IsTerminal;
use std::process::ExitCode;

use bench_gate::command::{
    CalibrateOptions, CheckOptions, Exit, SaveOptions, calibrate_runs, check, save_baseline,
};
use bench_gate::{GateError, report};
use clap::{Parser, Subcommand};

/// Compare benchmark results with a baseline and decide.
#[derive(Parser)]
#[command(name = "bench-gate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Judge the current results against a baseline (committed file or Criterion's).
    Check {
        #[command(flatten)]
        options: CheckOptions,
        /// No colours, even on a terminal.
        #[arg(long)]
        no_color: bool,
    },
    /// From two runs of the same code (A/A): each benchmark's noise band, and the false
    /// alarms the current thresholds would have raised.
    Calibrate(CalibrateOptions),
    /// Manage committed baselines.
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
    },
}

#[derive(Subcommand)]
enum BaselineCommand {
    /// Save the current results as `baselines/NAME.json` (atomically).
    Save(SaveOptions),
}

fn run(cli: Cli) -> Result<Exit, GateError> {
    match cli.command {
        Command::Check { options, no_color } => {
            let outcome = check(&options)?;
            for note in &outcome.notes {
                println!("{note}");
            }
            println!("{}\n", outcome.header());
            let colour = !no_color
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none();
            print!("{}", report::terminal(&outcome.decision, colour));
            if let Some(problem) = outcome.problem() {
                return Err(problem);
            }
            Ok(outcome.exit())
        }
        Command::Calibrate(options) => {
            print!("{}", calibrate_runs(&options)?.text());
            Ok(Exit::Pass)
        }
        Command::Baseline {
            command: BaselineCommand::Save(options),
        } => {
            let saved = save_baseline(&options)?;
            println!(
                "bench-gate: saved {} benchmarks to {}",
                saved.benchmarks,
                saved.path.display()
            );
            Ok(Exit::Pass)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            eprintln!("bench-gate: {e}");
            ExitCode::from(Exit::CannotJudge.code())
        }
    }
}
