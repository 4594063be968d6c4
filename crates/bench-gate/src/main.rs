//! `bench-gate`: turns benchmark results into a PR verdict. Thin: parses the command
//! line, calls the library's command (`bench_gate::command`), prints its outcome, and
//! exits with its code: 0 = no critical regression, 1 = at least one, 2 = could not
//! judge.

#![warn(clippy::too_many_lines)]

use std::io::IsTerminal;
use std::process::ExitCode;

use bench_gate::ab::merge::{MergeOptions, merge};
use bench_gate::ab::{AbEvent, AbOptions, CountOptions, ab, count_tree};
use bench_gate::command::{
    AppendOptions, CalibrateOptions, CheckHistoryOptions, CheckOptions, Exit, MachineOptions,
    SaveOptions, append, calibrate_runs, check, check_history, machine, save_baseline,
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
    /// Paired A/B: benchmark two revisions of this Cargo project interleaved on this
    /// machine and judge the head against the base.
    Ab {
        #[command(flatten)]
        options: AbOptions,
        /// No colours, even on a terminal.
        #[arg(long)]
        no_color: bool,
    },
    /// Join the shards of one suite (`ab --shard K/N --json FILE`, one file each) into
    /// one decision over the whole suite.
    Merge {
        #[command(flatten)]
        options: MergeOptions,
        /// No colours, even on a terminal.
        #[arg(long)]
        no_color: bool,
    },
    /// Count the instructions of every Criterion benchmark of the working tree under
    /// Callgrind (no base, no wall time), into the counts file that `check`, `baseline
    /// save` and `history append` read.
    Count(CountOptions),
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
    /// The benchmark history: append a run, find its change points.
    History {
        #[command(subcommand)]
        command: HistoryCommand,
    },
}

#[derive(Subcommand)]
enum HistoryCommand {
    /// Append the current results as one run (one JSON line, atomically).
    Append(AppendOptions),
    /// Change points of every benchmark's series per machine (E-Divisive means); exit 1
    /// for a regression after `--since`.
    Check(CheckHistoryOptions),
}

#[derive(Subcommand)]
enum BaselineCommand {
    /// Save the current results as `baselines/NAME.json` (atomically).
    Save(SaveOptions),
    /// This machine's profile id, or whether a baseline (`--of FILE`) was recorded on a
    /// machine of this profile (exit 1 when not).
    Machine(MachineOptions),
}

/// Whether the terminal table gets colours.
fn colour(no_color: bool) -> bool {
    !no_color && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The current directory: the Cargo project `ab` and `count` measure.
fn here() -> Result<std::path::PathBuf, GateError> {
    std::env::current_dir().map_err(|e| GateError::Io {
        path: ".".into(),
        source: e,
    })
}

/// Runs `work` with live progress: a bar with an ETA on a terminal, else a line per
/// run started.
fn with_progress<T>(work: impl FnOnce(&mut dyn FnMut(AbEvent<'_>)) -> T) -> T {
    let tty = std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::hidden();
    if tty {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {prefix} {msg}")
                .expect("a valid template"),
        );
    }
    let mut last = String::new();
    let out = work(&mut |event| match event {
        // A hidden bar prints nothing, not even `println`.
        AbEvent::Status(line) if tty => bar.println(line),
        AbEvent::Status(line) => eprintln!("{line}"),
        AbEvent::Run(p) => {
            // With a budget the bar is time; otherwise it counts, with an ETA.
            match p.budget {
                Some((spent, budget)) => {
                    bar.set_length(budget.ceil() as u64);
                    bar.set_position(spent as u64);
                    bar.set_prefix(format!("{spent:.0}/{budget:.0} s, {} {}", p.done, p.unit));
                }
                None => {
                    bar.set_length(p.total as u64);
                    bar.set_position(p.done as u64);
                    let eta = indicatif::HumanDuration(bar.eta());
                    bar.set_prefix(format!("{}/{} {}, ETA {eta}", p.done, p.total, p.unit));
                }
            }
            bar.set_message(p.current.clone());
            if !tty && p.current != last {
                eprintln!("[{}/{}] {}", p.done, p.total, p.current);
                last.clone_from(&p.current);
            }
        }
    });
    bar.finish_and_clear();
    out
}

/// `ab`: measure, then print the notes, the header and the table.
fn run_ab(options: &AbOptions, no_color: bool) -> Result<Exit, GateError> {
    let dir = here()?;
    let outcome = with_progress(|events| ab(options, &dir, events))?;
    for note in &outcome.notes {
        println!("note: {note}");
    }
    println!("{}\n", outcome.header());
    print!("{}", report::terminal(&outcome.decision, colour(no_color)));
    Ok(outcome.exit())
}

/// `count`: count, then print what was not countable and where the counts went.
fn run_count(options: &CountOptions) -> Result<Exit, GateError> {
    let dir = here()?;
    let tally = with_progress(|events| count_tree(options, &dir, events))?;
    for (id, why) in &tally.counted.not_countable {
        println!("note: `{id}`: {why}");
    }
    for (id, calls) in &tally.counted.syscalls {
        let calls = bench_gate::ab::count::syscalls_text(*calls);
        println!("note: `{id}`: {calls}, not in its counts");
    }
    println!("{}", tally.line());
    Ok(Exit::Pass)
}

fn run(cli: Cli) -> Result<Exit, GateError> {
    match cli.command {
        Command::Ab { options, no_color } => run_ab(&options, no_color),
        Command::Merge { options, no_color } => {
            let merged = merge(&options)?;
            for note in &merged.notes {
                println!("note: {note}");
            }
            println!("{}\n", merged.header);
            print!("{}", report::terminal(&merged.decision, colour(no_color)));
            Ok(merged.exit())
        }
        Command::Count(options) => run_count(&options),
        Command::Check { options, no_color } => {
            let outcome = check(&options)?;
            for note in &outcome.notes {
                println!("{note}");
            }
            println!("{}\n", outcome.header());
            print!("{}", report::terminal(&outcome.decision, colour(no_color)));
            if let Some(problem) = outcome.problem() {
                return Err(problem);
            }
            if let Some(identical) = &outcome.identical {
                print!("{}", identical.text());
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
        Command::Baseline {
            command: BaselineCommand::Machine(options),
        } => {
            let found = machine(&options)?;
            println!("{}", found.line());
            Ok(found.exit())
        }
        Command::History { command } => run_history(command),
    }
}

/// The history commands: print what was done or found, return its exit code.
fn run_history(command: HistoryCommand) -> Result<Exit, GateError> {
    match command {
        HistoryCommand::Append(options) => {
            let added = append(&options)?;
            println!(
                "bench-gate: appended {} benchmarks of {} ({}) to {}",
                added.benchmarks,
                options.commit,
                added.machine,
                options.file.display()
            );
            Ok(Exit::Pass)
        }
        HistoryCommand::Check(options) => {
            let outcome = check_history(&options)?;
            for warning in &outcome.warnings {
                eprintln!("warning: {warning}");
            }
            print!("{}", outcome.text());
            Ok(outcome.exit())
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
