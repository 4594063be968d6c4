//! `bench-gate check`: judge this run's results against a baseline. The baseline is a
//! committed file, Criterion's saved baseline from the same runner, or both (wall time
//! from the same-runner pair, everything else from the file), with the base's
//! instruction counts optionally from the same runner too. The decision itself is
//! [`decide`]'s (pure); this module gathers its inputs and writes the reports.

use std::path::{Path, PathBuf};

use super::{Exit, Exports, Inputs, load_policy, parse_source};
use crate::baseline::{Baseline, Fingerprint};
use crate::decide::{decide, scaled};
use crate::machine::current_profile_id;
use crate::verdict::Decision;
use crate::{GateError, Results, Source, criterion, gungraun};

/// What `check` judges, against what, and what it writes.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct CheckOptions {
    /// Where this run's results are.
    #[command(flatten)]
    pub inputs: Inputs,
    /// A committed baseline file.
    #[arg(long, conflicts_with = "profile")]
    pub baseline: Option<PathBuf>,
    /// Shorthand for `--baseline baselines/NAME-<this machine's profile id>.json` when
    /// that file exists (the refresh's `--per-machine`), else `baselines/NAME.json`.
    #[arg(long)]
    pub profile: Option<String>,
    /// Compare Criterion's `new` results with the baseline saved under this name on
    /// the same runner (`cargo bench -- --save-baseline NAME`): the recommended PR mode.
    /// With `--baseline`/`--profile` too, wall time is judged on this same-runner pair
    /// and everything else (instruction counts, perf-test metrics) on the committed file.
    #[arg(long)]
    pub criterion_baseline: Option<String>,
    /// Instruction counts of the base measured on this runner (a copy of
    /// target/gungraun from the base's bench run): they replace the committed
    /// baseline's, so instruction counts are judged on the same machine and toolchain.
    #[arg(long, value_name = "DIR")]
    pub gungraun_base: Option<PathBuf>,
    /// The policy file (default: thresholds.toml if present, else the built-in one).
    #[arg(long)]
    pub thresholds: Option<PathBuf>,
    /// The reports to write besides the terminal table.
    #[command(flatten)]
    pub exports: Exports,
    /// Multiply this run's results by FACTOR before judging (e.g. 1.15): checks that
    /// the gate catches a regression of that size on real noise.
    #[arg(long, value_name = "FACTOR")]
    pub synthetic_regression: Option<f64>,
    /// Which results `--synthetic-regression` scales: wall_time (the default),
    /// instructions or perf.
    #[arg(long, value_name = "SOURCE", default_value = "wall_time", value_parser = parse_source)]
    pub synthetic_source: Source,
}

impl Default for CheckOptions {
    /// The command line's defaults: the standard result directories, no baseline yet.
    fn default() -> Self {
        CheckOptions {
            inputs: Inputs::default(),
            baseline: None,
            profile: None,
            criterion_baseline: None,
            gungraun_base: None,
            thresholds: None,
            exports: Exports::default(),
            synthetic_regression: None,
            synthetic_source: Source::WallTime,
        }
    }
}

impl CheckOptions {
    /// The committed baseline file: `--baseline`, or for `--profile NAME` this
    /// machine's `baselines/NAME-<profile id>.json` if there is one, else
    /// `baselines/NAME.json`.
    pub fn baseline_file(&self) -> Option<PathBuf> {
        self.baseline.clone().or_else(|| {
            self.profile.as_ref().map(|p| {
                let dir = PathBuf::from("baselines");
                let mine = dir.join(format!("{p}-{}.json", current_profile_id()));
                if mine.is_file() {
                    mine
                } else {
                    dir.join(format!("{p}.json"))
                }
            })
        })
    }
}

/// What `check` decided and wrote.
#[derive(Clone, Debug)]
pub struct CheckOutcome {
    /// One verdict per benchmark.
    pub decision: Decision,
    /// How many results this run had (after any synthetic scaling).
    pub results: usize,
    /// What the run was judged against, for the report's first line.
    pub against: String,
    /// The policy file used (`<built-in thresholds>` for the defaults).
    pub policy: PathBuf,
    /// Notes to show before the table (e.g. that results were scaled).
    pub notes: Vec<String>,
    /// The report files written.
    pub written: Vec<PathBuf>,
}

impl CheckOutcome {
    /// The exit code: [`Exit::CannotJudge`] when nothing was compared (see
    /// [`CheckOutcome::problem`]), [`Exit::Critical`] on a critical regression, else
    /// [`Exit::Pass`].
    pub fn exit(&self) -> Exit {
        super::exit_for(&self.decision)
    }

    /// Why the gate could not judge, when it could not.
    pub fn problem(&self) -> Option<GateError> {
        (self.decision.judged == 0).then(|| {
            GateError::NoResults(
                "nothing was compared: no benchmark of this run is in the baseline or has an absolute bound".into(),
            )
        })
    }

    /// The report's first line: how many results, against what, under which policy.
    pub fn header(&self) -> String {
        format!(
            "bench-gate: {} results against {}, policy {}",
            self.results,
            self.against,
            self.policy.display()
        )
    }
}

/// The base a run is judged against.
struct Base {
    results: Results,
    /// Sources the fingerprint rules out, with the reason.
    incomparable: Vec<(Source, String)>,
    against: String,
}

impl Base {
    /// From the committed file, Criterion's saved baseline, or both.
    fn resolve(options: &CheckOptions) -> Result<Base, GateError> {
        let committed = options.baseline_file();
        let dir = &options.inputs.criterion_dir;
        match (committed, &options.criterion_baseline) {
            (committed, Some(name)) => {
                let mut results = criterion::load(dir, name)?;
                if results.is_empty() {
                    return Err(GateError::NoResults(format!(
                        "no Criterion baseline named {name:?} under {} (save one with `cargo bench -- --save-baseline {name}`)",
                        dir.display()
                    )));
                }
                let mut base = Base {
                    results: Results::new(),
                    incomparable: Vec::new(),
                    against: format!("Criterion baseline {name:?} (same runner)"),
                };
                if let Some(path) = committed {
                    // Wall time from the same-runner pair; the other sources from the file.
                    let file = Baseline::load(&path)?;
                    base.incomparable = Fingerprint::current()
                        .incomparable(&file.fingerprint)
                        .into_iter()
                        .filter(|(s, _)| *s != Source::WallTime)
                        .collect();
                    results.extend(
                        file.benchmarks
                            .into_iter()
                            .filter(|(_, e)| e.source != Source::WallTime),
                    );
                    base.against += &format!(
                        " for wall time, {} ({}, {}) for the rest",
                        path.display(),
                        file.fingerprint.cpu_model,
                        file.fingerprint.date
                    );
                }
                base.results = results;
                Ok(base)
            }
            (Some(path), None) => {
                let file = Baseline::load(&path)?;
                Ok(Base {
                    incomparable: Fingerprint::current().incomparable(&file.fingerprint),
                    against: format!(
                        "{} ({}, {})",
                        path.display(),
                        file.fingerprint.cpu_model,
                        file.fingerprint.date
                    ),
                    results: file.benchmarks,
                })
            }
            // Only instruction counts, from `--gungraun-base` (checked by the caller).
            (None, None) => Ok(Base {
                results: Results::new(),
                incomparable: Vec::new(),
                against: String::new(),
            }),
        }
    }

    /// Replaces the instruction counts with those measured on this runner in `dir`.
    fn instructions_from(&mut self, dir: &Path) -> Result<(), GateError> {
        if !dir.is_dir() {
            return Err(GateError::NoResults(format!(
                "--gungraun-base {}: not a directory (copy target/gungraun after the base's bench run)",
                dir.display()
            )));
        }
        self.results.retain(|_, e| e.source != Source::Instructions);
        self.results.extend(gungraun::load(dir)?);
        self.incomparable
            .retain(|(s, _)| *s != Source::Instructions);
        if !self.against.is_empty() {
            self.against += "; ";
        }
        self.against += &format!("instruction counts: {} (same runner)", dir.display());
        Ok(())
    }
}

/// Judges this run's results against the baseline `options` name and writes the
/// requested reports. An error is a run the gate could not judge (exit 2), naming the
/// file, benchmark and field; a decision that compared nothing is returned with
/// [`Exit::CannotJudge`] (its reports are still written, to show what was found).
pub fn check(options: &CheckOptions) -> Result<CheckOutcome, GateError> {
    let policy = load_policy(options.thresholds.as_deref())?;
    if options.baseline_file().is_none()
        && options.criterion_baseline.is_none()
        && options.gungraun_base.is_none()
    {
        return Err(GateError::NoResults(
            "no baseline given: use --baseline FILE, --profile NAME, --criterion-baseline NAME or --gungraun-base DIR".into(),
        ));
    }
    let current = options.inputs.load("new")?;
    let mut base = Base::resolve(options)?;
    if let Some(dir) = &options.gungraun_base {
        base.instructions_from(dir)?;
    }
    let mut notes = Vec::new();
    for source in options.inputs.left_out() {
        let before = base.results.len();
        // Unless another input of the run has them (counts read beside `--gungraun-dir
        // none`, say).
        base.results
            .retain(|id, e| e.source != source || current.contains_key(id));
        let dropped = before - base.results.len();
        if dropped > 0 {
            notes.push(format!(
                "bench-gate: {dropped} {} baseline results not judged: this run does not read them",
                source.name()
            ));
        }
    }
    let current = match options.synthetic_regression {
        Some(f) if f.is_finite() && f > 0.0 => {
            let source = options.synthetic_source;
            notes.push(format!(
                "bench-gate: {} results multiplied by {f} (--synthetic-regression)",
                source.name()
            ));
            scaled(&current, source, f)
        }
        Some(f) => {
            return Err(GateError::NoResults(format!(
                "--synthetic-regression {f}: use a factor > 0, e.g. 1.15"
            )));
        }
        None => current,
    };
    let decision = decide(&current, Some(&base.results), &policy, &base.incomparable)?;
    let written = options.exports.write(&decision)?;
    Ok(CheckOutcome {
        decision,
        results: current.len(),
        against: base.against,
        policy: policy.path,
        notes,
        written,
    })
}
