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
use crate::{Direction, GateError, Results, Source, Unit, criterion, gungraun};

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
    /// Require every instruction count to equal the base's exactly, as two runs of one
    /// build must: any difference, either way, is exit 1 naming the benchmark; no
    /// instruction count compared is exit 2.
    #[arg(long)]
    pub identical_counts: bool,
    /// Judge each perf-test report's times less what the machine itself added during
    /// that run: the report's metric NAME (e.g. `wakeup_max`, how late a 1 ms sleep
    /// woke beside the run) is taken off its other lower-is-better times before they
    /// are judged. A report without NAME is exit 2.
    #[arg(long, value_name = "NAME")]
    pub allowance_from: Option<String>,
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
            identical_counts: false,
            allowance_from: None,
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
    /// With `--identical-counts`: the instruction counts compared, and those that
    /// differ from the base's.
    pub identical: Option<Identical>,
}

/// What `--identical-counts` found.
#[derive(Clone, Debug, PartialEq)]
pub struct Identical {
    /// How many instruction counts were compared.
    pub compared: usize,
    /// Those that differ from the base's: id, the base's count and this run's.
    pub moved: Vec<(String, f64, f64)>,
}

impl Identical {
    /// The instruction counts of `decision`, which must hold at least one.
    fn of(decision: &Decision) -> Result<Identical, GateError> {
        let counts: Vec<(&String, f64, f64)> = (decision.comparisons.iter())
            .filter(|c| c.source == Source::Instructions)
            .filter_map(|c| Some((&c.id, c.baseline?, c.current?)))
            .collect();
        if counts.is_empty() {
            return Err(GateError::NoResults(
                "--identical-counts: no instruction count was compared".into(),
            ));
        }
        let moved = (counts.iter())
            .filter(|(_, base, now)| base != now)
            .map(|&(id, base, now)| (id.clone(), base, now))
            .collect();
        Ok(Identical {
            compared: counts.len(),
            moved,
        })
    }

    /// One line per moved count, or one saying all are identical.
    pub fn text(&self) -> String {
        if self.moved.is_empty() {
            return format!(
                "bench-gate: {} instruction counts identical to the base's\n",
                self.compared
            );
        }
        (self.moved.iter())
            .map(|(id, base, now)| {
                format!(
                    "bench-gate: {id}: {base} instructions, then {now}: \
                     two runs of one build differ (--identical-counts)\n"
                )
            })
            .collect()
    }
}

impl CheckOutcome {
    /// The exit code: [`Exit::CannotJudge`] when nothing was compared (see
    /// [`CheckOutcome::problem`]), [`Exit::Critical`] on a critical regression or a
    /// count that moved under `--identical-counts`, else [`Exit::Pass`].
    pub fn exit(&self) -> Exit {
        match &self.identical {
            Some(i) if !i.moved.is_empty() => Exit::Critical,
            _ => super::exit_for(&self.decision),
        }
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
    let current = match &options.allowance_from {
        Some(name) => less_allowance(current, name, &mut notes)?,
        None => current,
    };
    let decision = decide(&current, Some(&base.results), &policy, &base.incomparable)?;
    let written = options.exports.write(&decision)?;
    let identical = match options.identical_counts {
        true => Some(Identical::of(&decision)?),
        false => None,
    };
    Ok(CheckOutcome {
        decision,
        results: current.len(),
        against: base.against,
        policy: policy.path,
        notes,
        written,
        identical,
    })
}

/// `results` with each perf report's lower-is-better times less that report's metric
/// `name` (floored at 0), a note per report saying by how much.
fn less_allowance(
    mut results: Results,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<Results, GateError> {
    let report_of = |id: &str| -> Option<String> {
        let rest = id.strip_prefix("perf/")?;
        rest.split_once('/').map(|(report, _)| report.to_owned())
    };
    let reports: std::collections::BTreeSet<String> =
        results.keys().filter_map(|id| report_of(id)).collect();
    for report in reports {
        let key = format!("perf/{report}/{name}");
        let allowance = match results.get(&key) {
            Some(e) if e.unit == Unit::Nanoseconds => e.value,
            _ => {
                return Err(GateError::NoResults(format!(
                    "--allowance-from {name}: the perf report {report:?} has no time metric {key}"
                )));
            }
        };
        for (id, e) in results.iter_mut() {
            let timed = e.unit == Unit::Nanoseconds && e.direction == Direction::LowerIsBetter;
            if timed && *id != key && report_of(id).as_deref() == Some(report.as_str()) {
                e.value = (e.value - allowance).max(0.0);
            }
        }
        notes.push(format!(
            "bench-gate: perf/{report}: times judged less {name} = {} (--allowance-from)",
            Unit::Nanoseconds.format(allowance)
        ));
    }
    Ok(results)
}
