//! The `bench-gate` commands as library functions: each takes one options struct
//! (which is also its command line, through clap's derive) and returns an outcome that
//! says what was decided and written, and which [`Exit`] code it means. The binary
//! parses, calls one of these, prints the outcome and exits; the benches and tests call
//! the same functions.
//!
//! - [`check`]: judge a run against a baseline ([`CheckOptions`] → [`CheckOutcome`]);
//! - [`calibrate_runs`]: noise bands and false alarms from A/A runs;
//! - [`save_baseline`]: write the current results as a committed baseline;
//! - [`machine`]: this machine's profile id, and whether a baseline is its profile's.
//!
//! Shared here: where a run's results are ([`Inputs`]), the reports a command writes
//! besides its terminal output ([`Exports`]), and how the policy file is found.

mod calibrate;
mod check;
mod history;
mod machine;
mod save;

use std::path::{Path, PathBuf};

pub use calibrate::{CalibrateOptions, CalibrateOutcome, SyntheticCheck, calibrate_runs};
pub use check::{CheckOptions, CheckOutcome, Identical, check};
pub use history::{
    AppendOptions, Appended, CheckHistoryOptions, HistoryOutcome, append, check_history,
};
pub use machine::{MachineOptions, MachineOutcome, machine};
pub use save::{SaveOptions, SaveOutcome, save_baseline};

use crate::fsutil::write_atomic;
use crate::thresholds::Policy;
use crate::verdict::{Decision, Verdict};
use crate::{GateError, Results, Source, counts, criterion, gungraun, perf, report};

/// The exit codes of `bench-gate`, in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// No critical regression (warnings allowed).
    Pass = 0,
    /// At least one critical regression.
    Critical = 1,
    /// The gate could not judge: missing or corrupt input, bad thresholds, nothing found.
    CannotJudge = 2,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Where a run's results are.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct Inputs {
    /// Criterion's output directory (`none`: wall time is not read, and a baseline's
    /// wall-time results are not judged; likewise for the other two).
    #[arg(long, default_value = "target/criterion")]
    pub criterion_dir: PathBuf,
    /// perf-test's JSON reports.
    #[arg(long, default_value = "target/perf")]
    pub perf_dir: PathBuf,
    /// gungraun's output (`summary.json` files from `--save-summary=json`).
    #[arg(long, default_value = "target/gungraun")]
    pub gungraun_dir: PathBuf,
    /// `bench-gate count`'s output (`counts.json`): every Criterion benchmark's
    /// instructions per iteration, as `instructions/<id>`.
    #[arg(long, default_value = "target/bench-gate-count")]
    pub counts_dir: PathBuf,
}

impl Default for Inputs {
    /// The directories `cargo bench` and `perf-test` write to, relative to the
    /// workspace root: the command line's defaults.
    fn default() -> Self {
        Inputs {
            criterion_dir: "target/criterion".into(),
            perf_dir: "target/perf".into(),
            gungraun_dir: "target/gungraun".into(),
            counts_dir: "target/bench-gate-count".into(),
        }
    }
}

impl Inputs {
    /// The sources left out on purpose (their directory given as `none`): their
    /// baseline results that no other input of the run has are not this run's to
    /// judge, rather than `missing`.
    pub fn left_out(&self) -> Vec<Source> {
        [
            (&self.criterion_dir, Source::WallTime),
            (&self.perf_dir, Source::Perf),
            (&self.gungraun_dir, Source::Instructions),
        ]
        .into_iter()
        .filter(|(dir, _)| dir.as_os_str() == "none")
        .map(|(_, source)| source)
        .collect()
    }

    /// Every result of the run: Criterion's `which` results (`new`, or a saved
    /// baseline's name), the perf-test reports and the gungraun summaries. Finding none
    /// at all is an error naming the three places looked in.
    pub fn load(&self, which: &str) -> Result<Results, GateError> {
        let mut results = if self.criterion_dir.exists() {
            criterion::load(&self.criterion_dir, which)?
        } else {
            Results::new()
        };
        for (id, e) in perf::load(&self.perf_dir)?
            .into_iter()
            .chain(gungraun::load(&self.gungraun_dir)?)
            .chain(counts::load(&self.counts_dir)?)
        {
            results.insert(id, e);
        }
        if results.is_empty() {
            return Err(GateError::NoResults(format!(
                "no results found: nothing under {}/**/{which}/benchmark.json, {}/*.json, \
                 {}/**/summary.json nor {}/{} (run `cargo bench` first)",
                self.criterion_dir.display(),
                self.perf_dir.display(),
                self.gungraun_dir.display(),
                self.counts_dir.display(),
                counts::FILE
            )));
        }
        Ok(results)
    }
}

/// The policy: `path` if given, else `thresholds.toml` in the current directory if
/// there is one, else the built-in defaults.
pub fn load_policy(path: Option<&Path>) -> Result<Policy, GateError> {
    match path {
        Some(p) => Policy::load(p),
        None if Path::new("thresholds.toml").is_file() => {
            Policy::load(Path::new("thresholds.toml"))
        }
        None => Ok(Policy::builtin()),
    }
}

/// The exit code a decision means: [`Exit::CannotJudge`] when nothing was compared,
/// [`Exit::Critical`] on a critical verdict, else [`Exit::Pass`].
pub fn exit_for(decision: &Decision) -> Exit {
    if decision.judged == 0 {
        Exit::CannotJudge
    } else if decision.count(Verdict::Critical) > 0 {
        Exit::Critical
    } else {
        Exit::Pass
    }
}

/// The report files a command writes besides its terminal output (hyperfine's export
/// manager): each one atomically, each only when asked for.
#[derive(Clone, Debug, Default, PartialEq, clap::Args)]
pub struct Reports {
    /// Also write a markdown report here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Also write the decision as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

impl Reports {
    /// Writes every requested report of `decision`; returns the files written.
    pub fn write(&self, decision: &Decision) -> Result<Vec<PathBuf>, GateError> {
        self.write_with(decision, &[], serde_json::Map::new())
    }

    /// As [`Reports::write`], with `preamble` lines under the markdown report's title
    /// and `extra` fields in the JSON report.
    pub fn write_with(
        &self,
        decision: &Decision,
        preamble: &[String],
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<PathBuf>, GateError> {
        let mut written = Vec::new();
        let rendered = [
            (&self.markdown, report::markdown_with(decision, preamble)),
            (&self.json, report::json_with(decision, extra)),
            (&self.junit, report::junit(decision)),
        ];
        for (path, text) in rendered {
            if let Some(path) = path {
                write_atomic(path, text.as_bytes())?;
                written.push(path.clone());
            }
        }
        Ok(written)
    }
}

/// What `check` writes: the reports, and the filter to measure critical ones again.
#[derive(Clone, Debug, Default, PartialEq, clap::Args)]
pub struct Exports {
    /// The report files.
    #[command(flatten)]
    pub reports: Reports,
    /// When wall-time benchmarks are critical, write a Criterion filter matching exactly
    /// them here (`^(id|id)$`), so a script can measure them again to confirm
    /// (scripts/bench-and-gate.sh); the file is removed when there are none.
    #[arg(long, value_name = "FILE")]
    pub rerun_filter: Option<PathBuf>,
}

impl Exports {
    /// Writes every requested report of `decision`; returns the files written.
    pub fn write(&self, decision: &Decision) -> Result<Vec<PathBuf>, GateError> {
        let mut written = self.reports.write(decision)?;
        if let Some(path) = &self.rerun_filter {
            let mut critical = decision
                .comparisons
                .iter()
                .filter(|c| c.verdict == Verdict::Critical && c.source == Source::WallTime)
                .map(|c| c.id.as_str())
                .peekable();
            if critical.peek().is_some() {
                write_atomic(path, (exact_filter(critical) + "\n").as_bytes())?;
                written.push(path.clone());
            } else if path.exists() {
                std::fs::remove_file(path).map_err(|e| GateError::io(path, e))?;
            }
        }
        Ok(written)
    }
}

/// A Criterion filter (a regex on full ids) matching exactly `ids`.
pub fn exact_filter<'a>(ids: impl Iterator<Item = &'a str>) -> String {
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

/// Parses a result source's name (`wall_time`, `instructions`, `perf`), as flags take it.
pub fn parse_source(s: &str) -> Result<Source, String> {
    [Source::WallTime, Source::Instructions, Source::Perf]
        .into_iter()
        .find(|x| x.name() == s)
        .ok_or_else(|| format!("{s:?}: use wall_time, instructions or perf"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Each options struct as a whole command line, to compare clap's defaults with
    /// `Default`'s.
    #[derive(Parser)]
    struct Wrapper<T: clap::Args> {
        #[command(flatten)]
        inner: T,
    }

    #[test]
    fn defaults_are_the_command_lines() {
        assert_eq!(
            Wrapper::<Inputs>::parse_from(["x"]).inner,
            Inputs::default()
        );
        assert_eq!(
            Wrapper::<Exports>::parse_from(["x"]).inner,
            Exports::default()
        );
        assert_eq!(
            Wrapper::<CheckOptions>::parse_from(["x"]).inner,
            CheckOptions::default()
        );
    }

    #[test]
    fn filters_escape_regex_characters() {
        let f = exact_filter(["a/b(1)", "c.d"].into_iter());
        assert_eq!(f, r"^(a/b\(1\)|c\.d)$");
    }

    #[test]
    fn sources_parse_by_name() {
        assert_eq!(parse_source("instructions"), Ok(Source::Instructions));
        assert!(parse_source("cpu").unwrap_err().contains("wall_time"));
    }
}
