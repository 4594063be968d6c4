//! `bench-gate history append` and `history check`: one run of the suite onto the
//! history file, and the change points of every benchmark's series with the reports
//! (JSON, markdown, the HTML page of [`html`]) and the exit code: 1 for a regression
//! change point after `--since` (and, with `--previous`, not in the previous check's
//! report), 0 otherwise, 2 when nothing could be judged.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Exit, Inputs};
use crate::GateError;
use crate::baseline::rfc3339;
use crate::changepoint::Config;
use crate::fsutil::write_atomic;
use crate::history::{self, Checked, Found, Movement, Run, Series};
use crate::html::{self, Verdicts};
use crate::machine::current_profile_id;

/// `history append`: which run, and from where.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct AppendOptions {
    /// The history file (JSON lines; created when missing).
    #[arg(long)]
    pub file: PathBuf,
    /// The commit the results are of.
    #[arg(long)]
    pub commit: String,
    /// When the run was (RFC 3339; default: now).
    #[arg(long)]
    pub date: Option<String>,
    /// The machine (default: this machine's profile id, `bench-gate baseline machine`).
    #[arg(long)]
    pub machine: Option<String>,
    /// Where the run's results are.
    #[command(flatten)]
    pub inputs: Inputs,
}

/// What `history append` added.
#[derive(Clone, Debug, PartialEq)]
pub struct Appended {
    /// The run's benchmarks.
    pub benchmarks: usize,
    /// The machine it was recorded for.
    pub machine: String,
}

/// Appends the current results (as `check` reads them) as one run.
pub fn append(options: &AppendOptions) -> Result<Appended, GateError> {
    let date = match &options.date {
        Some(d) if history::is_rfc3339(d) => d.clone(),
        Some(d) => {
            return Err(GateError::History {
                path: options.file.clone(),
                detail: format!("--date {d:?}: not an RFC 3339 date-time (2026-12-02T01:02:03Z)"),
            });
        }
        None => rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
    };
    if options.commit.trim().is_empty() {
        return Err(GateError::History {
            path: options.file.clone(),
            detail: "--commit is empty".into(),
        });
    }
    let results = options.inputs.load("new")?;
    let machine = options.machine.clone().unwrap_or_else(current_profile_id);
    let run = Run::of(&results, &options.commit, &date, &machine);
    history::append(&options.file, &run)?;
    Ok(Appended {
        benchmarks: run.values.len(),
        machine,
    })
}

/// `history check`: what to read, how to judge, what to write.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct CheckHistoryOptions {
    /// The history file.
    #[arg(long)]
    pub file: PathBuf,
    /// Fail (exit 1) only for regression change points after this commit (default:
    /// anywhere in the history).
    #[arg(long)]
    pub since: Option<String>,
    /// The previous check's `--json` report: a regression it already had (same
    /// benchmark and machine, within `--reach` runs) does not count again.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// How many runs a change point may move between two checks and stay the same one.
    #[arg(long, default_value_t = 5, requires = "previous")]
    pub reach: usize,
    /// Read past lines that are not runs, with a warning, instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    /// The largest permutation p-value a change point may have.
    #[arg(long, default_value_t = 0.001)]
    pub max_p: f64,
    /// The fewest runs on either side of a change point.
    #[arg(long, default_value_t = 5)]
    pub min_segment: usize,
    /// Permutations per test.
    #[arg(long, default_value_t = 999)]
    pub permutations: usize,
    /// Also write the change points as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write a markdown report here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Also write the HTML report here: one self-contained file, a trend chart per
    /// benchmark.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// The latest `check --json` or `ab --json` report, shown in the HTML report with
    /// each benchmark's verdict and minimum detectable effect.
    #[arg(long, requires = "html")]
    pub verdict: Option<PathBuf>,
}

/// What `history check` found.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryOutcome {
    /// The change points and the series too short to judge.
    pub checked: Checked,
    /// What reading the file left out or replaced.
    pub warnings: Vec<String>,
    /// The regressions that count for the exit code (after `--since`, and not in the
    /// `--previous` report).
    pub failing: Vec<Found>,
    /// The `--since` commit, as given.
    pub since: Option<String>,
    /// Whether `failing` left out the regressions of a previous report.
    pub against_previous: bool,
    /// The change points of either direction after `--since` (all without it).
    pub recent: Vec<Found>,
    /// The runs read.
    pub runs: usize,
}

impl HistoryOutcome {
    /// 2 when no series could be judged, 1 for a regression after `--since`, else 0.
    pub fn exit(&self) -> Exit {
        if self.checked.judged == 0 {
            Exit::CannotJudge
        } else if !self.failing.is_empty() {
            Exit::Critical
        } else {
            Exit::Pass
        }
    }

    /// The terminal report: a summary line and one line per change point.
    pub fn text(&self) -> String {
        let mut out = format!(
            "history: {} runs, {} series judged, {} too short, {} ({} counted)\n",
            self.runs,
            self.checked.judged,
            self.checked.too_short.len(),
            counted(self.checked.found.len(), "change point"),
            counted(self.failing.len(), "regression")
        );
        for f in &self.checked.found {
            out.push_str(&format!(
                "  {:<11} {} [{}] at {} (run {}): {:+.2} %, p {:.4}\n",
                movement(f.direction),
                f.id,
                f.machine,
                f.commit,
                f.index,
                100.0 * f.change,
                f.p
            ));
        }
        for (id, machine, runs) in &self.checked.too_short {
            out.push_str(&format!("  too short   {id} [{machine}]: {runs} runs\n"));
        }
        out
    }

    /// The JSON report: `{"change_points": [...], "too_short": [...], ...}`.
    pub fn json(&self) -> String {
        let report = json!({
            "change_points": self.checked.found,
            "too_short": self.checked.too_short.iter().map(|(id, machine, runs)| {
                json!({"id": id, "machine": machine, "runs": runs})
            }).collect::<Vec<_>>(),
            "judged": self.checked.judged,
            "runs": self.runs,
            "failing": self.failing.len(),
            "new_regressions": self.against_previous.then_some(&self.failing),
            "since": self.since,
            "since_change_points": self.recent,
            "warnings": self.warnings,
        });
        serde_json::to_string_pretty(&report).expect("serialisable") + "\n"
    }

    /// The markdown report: a table of the change points (with `--since`, of those
    /// after it, and how many came before).
    pub fn markdown(&self) -> String {
        let mut out = match &self.since {
            None => format!(
                "## Benchmark history: {}\n\n{} runs, {} series judged, {} too short.\n\n",
                counted(self.checked.found.len(), "change point"),
                self.runs,
                self.checked.judged,
                self.checked.too_short.len()
            ),
            Some(since) => {
                let earlier = self.checked.found.len() - self.recent.len();
                format!(
                    "## Benchmark history: {} since `{since}`\n\n{} runs, {} series judged, \
                     {} too short; {} before `{since}` {} not listed.\n\n",
                    counted(self.recent.len(), "change point"),
                    self.runs,
                    self.checked.judged,
                    self.checked.too_short.len(),
                    counted(earlier, "change point"),
                    if earlier == 1 { "is" } else { "are" }
                )
            }
        };
        if self.against_previous {
            out.push_str(&format!(
                "### {} not in the previous check\n\n",
                counted(self.failing.len(), "new regression")
            ));
            out.push_str(&table(&self.failing));
            out.push_str("\n### Every change point\n\n");
        }
        out.push_str(&table(&self.recent));
        out
    }
}

/// A markdown table of change points (nothing when there are none).
fn table(points: &[Found]) -> String {
    if points.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("| benchmark | machine | first run after | change | before | after | p |\n");
    out.push_str("| --- | --- | --- | ---: | ---: | ---: | ---: |\n");
    for f in points {
        out.push_str(&format!(
            "| {} `{}` | {} | `{}` (run {}) | {:+.2} % | {:.6} | {:.6} | {:.4} |\n",
            movement(f.direction),
            f.id,
            f.machine,
            f.commit,
            f.index,
            100.0 * f.change,
            f.before,
            f.after,
            f.p
        ));
    }
    out
}

/// The part of a previous `history check --json` report that `--previous` reads.
#[derive(serde::Deserialize)]
struct PreviousReport {
    change_points: Vec<Found>,
}

/// The regressions of `found` that `previous` had no regression of (same benchmark and
/// machine) within `reach` runs of: a change point's run can move a little as runs
/// arrive, and one regression is reported once.
pub fn new_regressions(previous: &[Found], found: &[Found], reach: usize) -> Vec<Found> {
    let regression = |f: &&Found| f.direction == Movement::Regression;
    let known = |f: &Found| {
        previous
            .iter()
            .filter(regression)
            .any(|p| p.id == f.id && p.machine == f.machine && p.index.abs_diff(f.index) <= reach)
    };
    found
        .iter()
        .filter(regression)
        .filter(|f| !known(f))
        .cloned()
        .collect()
}

/// `n` and `what`, plural unless `n` is 1.
fn counted(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn movement(m: Movement) -> &'static str {
    match m {
        Movement::Regression => "regression",
        Movement::Improvement => "improvement",
    }
}

/// Reads the history, judges every series, writes the reports asked for.
pub fn check_history(options: &CheckHistoryOptions) -> Result<HistoryOutcome, GateError> {
    let config = Config {
        max_p: options.max_p,
        permutations: options.permutations,
        min_segment: options.min_segment,
        ..Config::default()
    };
    if let Some(problem) = config.problem() {
        return Err(GateError::History {
            path: options.file.clone(),
            detail: format!("bad option: {problem}"),
        });
    }
    let verdict: Option<Verdicts> = match &options.verdict {
        Some(path) => Some(crate::read_json(path)?),
        None => None,
    };
    let read = history::load(&options.file, options.skip_bad)?;
    let since = match &options.since {
        None => None,
        Some(c) => Some(since_run(&read, c, &options.file)?),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let series = history::series(&read);
    let checked = history::check(&series, &config, threads);
    // A change counts when its first run after comes after the --since commit.
    let order: std::collections::HashMap<&str, usize> = read
        .runs
        .iter()
        .enumerate()
        .map(|(i, (_, r))| (r.commit.as_str(), i))
        .collect();
    let recent: Vec<Found> = checked
        .found
        .iter()
        .filter(|f| since.is_none_or(|s| order.get(f.commit.as_str()).is_some_and(|&i| i > s)))
        .cloned()
        .collect();
    let previous = match &options.previous {
        Some(path) => crate::read_json::<PreviousReport>(path)?.change_points,
        None => Vec::new(),
    };
    let failing = new_regressions(&previous, &recent, options.reach);
    let outcome = HistoryOutcome {
        checked,
        warnings: read.warnings,
        failing,
        since: options.since.clone(),
        against_previous: options.previous.is_some(),
        recent,
        runs: read.runs.len(),
    };
    if let Some(path) = &options.json {
        write_atomic(path, outcome.json().as_bytes())?;
    }
    if let Some(path) = &options.markdown {
        write_atomic(path, outcome.markdown().as_bytes())?;
    }
    if let Some(path) = &options.html {
        write_html(
            path,
            options,
            &read.runs,
            &series,
            &outcome,
            verdict.as_ref(),
        )?;
    }
    Ok(outcome)
}

/// The index of the run of commit `c` (or a prefix of at least 7 characters).
fn since_run(read: &history::History, c: &str, file: &Path) -> Result<usize, GateError> {
    let matches = |r: &Run| r.commit == c || (c.len() >= 7 && r.commit.starts_with(c));
    (read.runs.iter().position(|(_, r)| matches(r))).ok_or_else(|| GateError::History {
        path: file.to_path_buf(),
        detail: format!("--since {c}: no run of that commit in the history"),
    })
}

/// Writes the history page to `path`.
fn write_html(
    path: &Path,
    options: &CheckHistoryOptions,
    runs: &[(usize, Run)],
    series: &[Series],
    outcome: &HistoryOutcome,
    verdict: Option<&Verdicts>,
) -> Result<(), GateError> {
    let runs: Vec<Run> = runs.iter().map(|(_, r)| r.clone()).collect();
    let verdict_name = options
        .verdict
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let page = html::Page {
        source: &options.file.display().to_string(),
        runs: &runs,
        series,
        checked: &outcome.checked,
        failing: &outcome.failing,
        warnings: &outcome.warnings,
        verdict: verdict.map(|v| (verdict_name.as_str(), v)),
    };
    let text = html::render(&page).map_err(|detail| GateError::History {
        path: path.to_path_buf(),
        detail,
    })?;
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(id: &str, machine: &str, index: usize, direction: Movement) -> Found {
        Found {
            id: id.into(),
            machine: machine.into(),
            commit: format!("c{index}"),
            index,
            before: 1.0,
            after: 1.05,
            change: 0.05,
            p: 0.001,
            direction,
        }
    }

    #[test]
    fn a_regression_is_new_unless_the_previous_report_had_it_within_reach() {
        use Movement::{Improvement, Regression};
        let ids = |found: Vec<Found>| -> Vec<(String, usize)> {
            found.into_iter().map(|f| (f.machine, f.index)).collect()
        };
        let was = [point("a/b", "m", 40, Regression)];
        let moved = [point("a/b", "m", 45, Regression)];
        assert!(new_regressions(&was, &moved, 5).is_empty(), "moved 5 runs");
        assert_eq!(ids(new_regressions(&was, &moved, 4)), [("m".into(), 45)]);
        let other = [
            point("a/b", "n", 40, Regression),
            point("a/c", "m", 40, Regression),
        ];
        assert_eq!(
            new_regressions(&was, &other, 5).len(),
            2,
            "another machine or benchmark"
        );
        assert!(new_regressions(&[], &[point("a/b", "m", 40, Improvement)], 5).is_empty());
        let improved_before = [point("a/b", "m", 40, Improvement)];
        assert_eq!(new_regressions(&improved_before, &was, 5).len(), 1);
        assert_eq!(new_regressions(&[], &was, 5).len(), 1, "no previous report");
    }
}
