//! `bench-gate`: turns benchmark results into a PR verdict. Thin: parses the command
//! line, calls `orchbench::gate`, prints, and maps the outcome to an exit code:
//! 0 = no critical regression, 1 = at least one, 2 = could not judge.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orchbench::gate::baseline::{Baseline, FORMAT, Fingerprint};
use orchbench::gate::decide::{Decision, Verdict, decide};
use orchbench::gate::thresholds::Policy;
use orchbench::gate::{GateError, Results, Source, calibrate, criterion, gungraun, perf, report};

/// The exit codes, in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    /// No critical regression (warnings allowed).
    Pass = 0,
    /// At least one critical regression.
    Critical = 1,
    /// The gate could not judge: missing or corrupt input, bad thresholds, nothing found.
    CannotJudge = 2,
}

/// Compare benchmark results with a baseline and decide.
#[derive(Parser)]
#[command(name = "bench-gate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where this run's results are.
#[derive(clap::Args)]
struct Inputs {
    /// Criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    criterion_dir: PathBuf,
    /// perf-test's JSON reports.
    #[arg(long, default_value = "target/perf")]
    perf_dir: PathBuf,
    /// gungraun's output (`summary.json` files from `--save-summary=json`).
    #[arg(long, default_value = "target/gungraun")]
    gungraun_dir: PathBuf,
}

/// The reports `check` writes besides the terminal table.
#[derive(clap::Args)]
struct Outputs {
    /// Also write a markdown report here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Also write the decision as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// When wall-time benchmarks are critical, write a Criterion filter matching exactly
    /// them here (`^(id|id)$`), so a script can measure them again to confirm
    /// (scripts/bench-and-gate.sh); the file is removed when there are none.
    #[arg(long, value_name = "FILE")]
    rerun_filter: Option<PathBuf>,
}

/// A Criterion filter (a regex on full ids) matching exactly `ids`.
fn exact_filter<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let escaped: Vec<String> = ids
        .map(|id| {
            id.chars()
                .map(|c| {
                    if "\\.+*?()|[]{}^$#&-~".contains(c) {
                        format!("\\{c}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^({})$", escaped.join("|"))
}

#[derive(Subcommand)]
enum Command {
    /// Judge the current results against a baseline (committed file or Criterion's).
    Check {
        #[command(flatten)]
        inputs: Inputs,
        /// A committed baseline file.
        #[arg(long, conflicts_with = "profile")]
        baseline: Option<PathBuf>,
        /// Shorthand for `--baseline baselines/NAME.json`.
        #[arg(long)]
        profile: Option<String>,
        /// Compare Criterion's `new` results with the baseline saved under this name on
        /// the same runner (`cargo bench -- --save-baseline NAME`): the recommended PR mode.
        /// With `--baseline`/`--profile` too, wall time is judged on this same-runner pair
        /// and everything else (instruction counts, perf-test metrics) on the committed file.
        #[arg(long)]
        criterion_baseline: Option<String>,
        /// Instruction counts of the base measured on this runner (a copy of
        /// target/gungraun from the base's bench run): they replace the committed
        /// baseline's, so instruction counts are judged on the same machine and toolchain.
        #[arg(long, value_name = "DIR")]
        gungraun_base: Option<PathBuf>,
        /// The policy file (default: thresholds.toml if present, else the built-in one).
        #[arg(long)]
        thresholds: Option<PathBuf>,
        #[command(flatten)]
        outputs: Outputs,
        /// No colours, even on a terminal.
        #[arg(long)]
        no_color: bool,
        /// Multiply this run's wall-time samples by FACTOR before judging (e.g. 1.15):
        /// checks that the gate catches a regression of that size on real noise.
        #[arg(long, value_name = "FACTOR")]
        synthetic_regression: Option<f64>,
        /// Which results `--synthetic-regression` scales: wall_time (the default),
        /// instructions or perf.
        #[arg(long, value_name = "SOURCE", default_value = "wall_time", value_parser = parse_source)]
        synthetic_source: Source,
    },
    /// From two runs of the same code (A/A): each benchmark's noise band, and the false
    /// alarms the current thresholds would have raised.
    Calibrate {
        /// The first run's Criterion directory (a copy of target/criterion).
        #[arg(long)]
        a: PathBuf,
        /// A later run's Criterion directory; repeat for more runs (the band is the
        /// largest change seen between any two of them).
        #[arg(long, required = true)]
        b: Vec<PathBuf>,
        /// The policy file (default: thresholds.toml if present, else the built-in one).
        #[arg(long)]
        thresholds: Option<PathBuf>,
        /// Write the noise bands here (JSON), for `baseline save --calibration`.
        #[arg(long)]
        save: Option<PathBuf>,
        /// Also scale the first B run's wall-time samples by this factor (e.g. 1.15) and
        /// report whether every benchmark with a noise band under 5 % is then critical.
        #[arg(long)]
        synthetic_regression: Option<f64>,
    },
    /// Manage committed baselines.
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
    },
}

#[derive(Subcommand)]
enum BaselineCommand {
    /// Save the current results as `baselines/NAME.json` (atomically).
    Save {
        /// The runner profile (the file's name).
        #[arg(long)]
        profile: String,
        /// The directory to write to.
        #[arg(long, default_value = "baselines")]
        out: PathBuf,
        /// Noise bands from `bench-gate calibrate --save FILE`, stored with the results.
        #[arg(long)]
        calibration: Option<PathBuf>,
        /// Another A/A run's Criterion directory (repeatable): each benchmark is then
        /// stored from its median run among `--criterion-dir` and these, so the
        /// baseline sits in the middle of the noise rather than at one edge.
        #[arg(long)]
        median_of: Vec<PathBuf>,
        #[command(flatten)]
        inputs: Inputs,
    },
}

fn parse_source(s: &str) -> Result<Source, String> {
    [Source::WallTime, Source::Instructions, Source::Perf]
        .into_iter()
        .find(|x| x.name() == s)
        .ok_or_else(|| format!("{s:?}: use wall_time, instructions or perf"))
}

fn load_current(inputs: &Inputs, which: &str) -> Result<Results, GateError> {
    let mut results = if inputs.criterion_dir.exists() {
        criterion::load(&inputs.criterion_dir, which)?
    } else {
        Results::new()
    };
    for (id, e) in perf::load(&inputs.perf_dir)?
        .into_iter()
        .chain(gungraun::load(&inputs.gungraun_dir)?)
    {
        results.insert(id, e);
    }
    if results.is_empty() {
        return Err(GateError::NoResults(format!(
            "no results found: nothing under {}/**/{which}/benchmark.json, {}/*.json \
             nor {}/**/summary.json (run `cargo bench` first)",
            inputs.criterion_dir.display(),
            inputs.perf_dir.display(),
            inputs.gungraun_dir.display()
        )));
    }
    Ok(results)
}

fn write(path: &Path, text: &str) -> Result<(), GateError> {
    orchbench::fsutil::write_atomic(path, text.as_bytes()).map_err(|e| GateError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })
}

fn policy(path: Option<&Path>) -> Result<Policy, GateError> {
    match path {
        Some(p) => Policy::load(p),
        None if Path::new("thresholds.toml").is_file() => {
            Policy::load(Path::new("thresholds.toml"))
        }
        None => Ok(Policy::builtin()),
    }
}

#[allow(clippy::too_many_arguments)]
fn check(
    inputs: &Inputs,
    baseline: Option<PathBuf>,
    criterion_baseline: Option<String>,
    gungraun_base: Option<&Path>,
    thresholds: Option<&Path>,
    outputs: &Outputs,
    colour: bool,
    synthetic: (Option<f64>, Source),
) -> Result<Exit, GateError> {
    let (synthetic_regression, synthetic_source) = synthetic;
    let policy = policy(thresholds)?;
    let (current, base, incomparable, against) = match (baseline, criterion_baseline) {
        (committed, Some(name)) => {
            let current = load_current(inputs, "new")?;
            let mut base = criterion::load(&inputs.criterion_dir, &name)?;
            if base.is_empty() {
                return Err(GateError::NoResults(format!(
                    "no Criterion baseline named {name:?} under {} (save one with `cargo bench -- --save-baseline {name}`)",
                    inputs.criterion_dir.display()
                )));
            }
            let mut against = format!("Criterion baseline {name:?} (same runner)");
            let mut incomparable = Vec::new();
            if let Some(path) = committed {
                // Wall time from the same-runner pair; the other sources from the file.
                let b = Baseline::load(&path)?;
                incomparable = Fingerprint::current()
                    .incomparable(&b.fingerprint)
                    .into_iter()
                    .filter(|(s, _)| *s != Source::WallTime)
                    .collect();
                for (id, e) in b.benchmarks {
                    if e.source != Source::WallTime {
                        base.insert(id, e);
                    }
                }
                against += &format!(
                    " for wall time, {} ({}, {}) for the rest",
                    path.display(),
                    b.fingerprint.cpu_model,
                    b.fingerprint.date
                );
            }
            (current, base, incomparable, against)
        }
        (Some(path), None) => {
            let current = load_current(inputs, "new")?;
            let b = Baseline::load(&path)?;
            let incomparable = Fingerprint::current().incomparable(&b.fingerprint);
            (
                current,
                b.benchmarks,
                incomparable,
                format!(
                    "{} ({}, {})",
                    path.display(),
                    b.fingerprint.cpu_model,
                    b.fingerprint.date
                ),
            )
        }
        (None, None) if gungraun_base.is_some() => (
            load_current(inputs, "new")?,
            Results::new(),
            Vec::new(),
            String::new(),
        ),
        (None, None) => {
            return Err(GateError::NoResults(
                "no baseline given: use --baseline FILE, --profile NAME, --criterion-baseline NAME or --gungraun-base DIR".into(),
            ));
        }
    };
    let (mut base, mut incomparable, mut against) = (base, incomparable, against);
    if let Some(dir) = gungraun_base {
        if !dir.is_dir() {
            return Err(GateError::NoResults(format!(
                "--gungraun-base {}: not a directory (copy target/gungraun after the base's bench run)",
                dir.display()
            )));
        }
        base.retain(|_, e| e.source != Source::Instructions);
        base.extend(gungraun::load(dir)?);
        incomparable.retain(|(s, _)| *s != Source::Instructions);
        if !against.is_empty() {
            against += "; ";
        }
        against += &format!("instruction counts: {} (same runner)", dir.display());
    }
    let current = match synthetic_regression {
        Some(f) if f.is_finite() && f > 0.0 => {
            println!(
                "bench-gate: {} results multiplied by {f} (--synthetic-regression)",
                synthetic_source.name()
            );
            orchbench::gate::decide::scaled(&current, synthetic_source, f)
        }
        Some(f) => {
            return Err(GateError::NoResults(format!(
                "--synthetic-regression {f}: use a factor > 0, e.g. 1.15"
            )));
        }
        None => current,
    };
    let decision: Decision = decide(&current, Some(&base), &policy, &incomparable)?;
    println!(
        "bench-gate: {} results against {against}, policy {}\n",
        current.len(),
        policy.path.display()
    );
    print!("{}", report::terminal(&decision, colour));
    if let Some(p) = &outputs.markdown {
        write(p, &report::markdown(&decision))?;
    }
    if let Some(p) = &outputs.json {
        write(p, &report::json(&decision))?;
    }
    if let Some(p) = &outputs.junit {
        write(p, &report::junit(&decision))?;
    }
    if let Some(p) = &outputs.rerun_filter {
        let mut critical = decision
            .comparisons
            .iter()
            .filter(|c| c.verdict == Verdict::Critical && c.source == Source::WallTime)
            .map(|c| c.id.as_str())
            .peekable();
        if critical.peek().is_some() {
            write(p, &(exact_filter(critical) + "\n"))?;
        } else if p.exists() {
            std::fs::remove_file(p).map_err(|e| GateError::Io {
                path: p.clone(),
                source: e,
            })?;
        }
    }
    if decision.judged == 0 {
        return Err(GateError::NoResults(
            "nothing was compared: no benchmark of this run is in the baseline or has an absolute bound".into(),
        ));
    }
    Ok(if decision.count(Verdict::Critical) > 0 {
        Exit::Critical
    } else {
        Exit::Pass
    })
}

fn run(cli: Cli) -> Result<Exit, GateError> {
    match cli.command {
        Command::Check {
            inputs,
            baseline,
            profile,
            criterion_baseline,
            gungraun_base,
            thresholds,
            outputs,
            no_color,
            synthetic_regression,
            synthetic_source,
        } => {
            let baseline = baseline
                .or_else(|| profile.map(|p| PathBuf::from("baselines").join(format!("{p}.json"))));
            let colour = !no_color
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none();
            check(
                &inputs,
                baseline,
                criterion_baseline,
                gungraun_base.as_deref(),
                thresholds.as_deref(),
                &outputs,
                colour,
                (synthetic_regression, synthetic_source),
            )
        }
        Command::Calibrate {
            a,
            b,
            thresholds,
            save,
            synthetic_regression,
        } => {
            let policy = policy(thresholds.as_deref())?;
            let load = |dir: &Path| -> Result<Results, GateError> {
                let r = criterion::load(dir, "new")?;
                if r.is_empty() {
                    return Err(GateError::NoResults(format!(
                        "no results under {}/**/new/",
                        dir.display()
                    )));
                }
                Ok(r)
            };
            let ra = load(&a)?;
            let rbs = b.iter().map(|d| load(d)).collect::<Result<Vec<_>, _>>()?;
            let aa = calibrate::calibrate(&ra, &rbs, &policy)?;
            println!(
                "bench-gate calibrate: {} run(s) against {} (A), policy {}\n",
                b.len(),
                a.display(),
                policy.path.display()
            );
            let mut bands: Vec<(&String, &f64)> = aa.calibration.noise.iter().collect();
            bands.sort_by(|x, y| y.1.total_cmp(x.1).then(x.0.cmp(y.0)));
            println!("{:>9}  benchmark", "noise");
            for (id, band) in &bands {
                println!("{:>8.2}%  {id}", *band * 100.0);
            }
            let (warnings, criticals) = aa.false_alarms();
            let n = aa.compared().max(1) as f64;
            println!(
                "\nfalse alarms of the current thresholds (before noise bands), all runs against A: {criticals} critical ({:.1} %), \
                 {warnings} warning ({:.1} %) of {} comparisons",
                100.0 * criticals as f64 / n,
                100.0 * warnings as f64 / n,
                aa.compared()
            );
            if let Some(factor) = synthetic_regression {
                if !(factor.is_finite() && factor > 1.0) {
                    return Err(GateError::NoResults(format!(
                        "--synthetic-regression {factor}: use a factor above 1, e.g. 1.15"
                    )));
                }
                let (eligible, caught, escaped) = calibrate::synthetic_regression(
                    &ra,
                    &rbs[0],
                    &aa.calibration,
                    &policy,
                    factor,
                    0.05,
                )?;
                println!(
                    "synthetic regression ×{factor}: {caught} of {eligible} wall-time benchmarks with a noise band under 5 % judged critical"
                );
                for e in &escaped {
                    println!("  not caught: {e}");
                }
            }
            if let Some(path) = save {
                let json =
                    serde_json::to_string_pretty(&aa.calibration).map_err(|e| GateError::Json {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?;
                write(&path, &(json + "\n"))?;
                println!("noise bands written to {}", path.display());
            }
            Ok(Exit::Pass)
        }
        Command::Baseline {
            command:
                BaselineCommand::Save {
                    profile,
                    out,
                    calibration,
                    median_of,
                    inputs,
                },
        } => {
            if profile.is_empty() || profile.contains(['/', '\\']) || profile.starts_with('.') {
                return Err(GateError::NoResults(format!(
                    "--profile {profile:?}: use a plain file name"
                )));
            }
            let mut results = load_current(&inputs, "new")?;
            if !median_of.is_empty() {
                let mut runs = vec![results];
                for dir in &median_of {
                    let r = criterion::load(dir, "new")?;
                    if r.is_empty() {
                        return Err(GateError::NoResults(format!(
                            "--median-of {}: no Criterion results (nothing under */new/benchmark.json)",
                            dir.display()
                        )));
                    }
                    runs.push(r);
                }
                results = calibrate::median_run(&runs);
            }
            if let Some(path) = calibration {
                let c: calibrate::Calibration = orchbench::gate::read_json_file(&path)?;
                calibrate::apply(&mut results, &c);
            }
            let baseline = Baseline {
                format: FORMAT,
                profile: profile.clone(),
                fingerprint: Fingerprint::current(),
                benchmarks: results,
            };
            let path = out.join(format!("{profile}.json"));
            baseline.save(&path)?;
            println!(
                "bench-gate: saved {} benchmarks to {}",
                baseline.benchmarks.len(),
                path.display()
            );
            Ok(Exit::Pass)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(e) => {
            eprintln!("bench-gate: {e}");
            ExitCode::from(Exit::CannotJudge as u8)
        }
    }
}
