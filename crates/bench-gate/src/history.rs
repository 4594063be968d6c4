//! The benchmark history store and its change-point check: a JSON-lines file, one run
//! per line (`{"commit", "date", "machine", "values": {id: number}}`, optionally
//! `"units"` and `"directions"` per id; unknown fields are ignored), appended
//! atomically; series per benchmark and machine, judged by [`changepoint`].
//!
//! Reading is lenient where a run can still be used and strict where it cannot: a line
//! that is not a run is an error naming its line number (or, with `skip_bad`, a warning
//! and the line is left out); a value that is not a positive finite number is left out
//! of its series with a warning naming the line and the benchmark; a commit that
//! appears twice keeps its later line, with a warning. Series from different machines
//! are never mixed.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::GateError;
use crate::changepoint::{self, Config};
use crate::model::{Direction, Results, Unit};

/// One run of the suite: what was measured at one commit on one machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The commit measured.
    pub commit: String,
    /// When (RFC 3339).
    pub date: String,
    /// The machine profile (`bench-gate baseline machine`) or fingerprint id.
    pub machine: String,
    /// Each benchmark's value (its point estimate, in its normalised unit).
    pub values: BTreeMap<String, f64>,
    /// Each benchmark's unit, where stated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub units: BTreeMap<String, Unit>,
    /// Which way is better, where stated; a benchmark not listed is lower-is-better.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub directions: BTreeMap<String, Direction>,
}

impl Run {
    /// A run of `results` at `commit`.
    pub fn of(results: &Results, commit: &str, date: &str, machine: &str) -> Run {
        Run {
            commit: commit.to_owned(),
            date: date.to_owned(),
            machine: machine.to_owned(),
            values: results
                .iter()
                .map(|(id, e)| (id.clone(), e.value))
                .collect(),
            units: results.iter().map(|(id, e)| (id.clone(), e.unit)).collect(),
            directions: results
                .iter()
                .filter(|(_, e)| e.direction != Direction::LowerIsBetter)
                .map(|(id, e)| (id.clone(), e.direction))
                .collect(),
        }
    }
}

/// A line as read: values may be anything, so one bad value costs only itself.
#[derive(Deserialize)]
struct RawRun {
    commit: String,
    #[serde(default)]
    date: String,
    machine: String,
    values: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    units: BTreeMap<String, Unit>,
    #[serde(default)]
    directions: BTreeMap<String, Direction>,
}

/// A history file as read: its runs in file order, each with its line number.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The runs, in file order (a commit's later line replaces its earlier one).
    pub runs: Vec<(usize, Run)>,
    /// What was left out or replaced, each naming the file and line.
    pub warnings: Vec<String>,
}

fn bad(path: &Path, detail: String) -> GateError {
    GateError::History {
        path: path.to_path_buf(),
        detail,
    }
}

/// Reads a history file. A missing or empty file, or one without a single usable run,
/// is an error; see the module's header for what is only a warning.
pub fn load(path: &Path, skip_bad: bool) -> Result<History, GateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(path, "no such history file".into()));
        }
        Err(e) => return Err(GateError::io(path, e)),
    };
    let mut history = History::default();
    let mut line_of: HashMap<String, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let raw: RawRun = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                let hint = if line.contains("NaN") || line.contains("Infinity") {
                    " (NaN and Infinity are not JSON: write null, or leave the value out)"
                } else {
                    ""
                };
                let detail = format!("line {number}: not a run: {e}{hint}");
                if skip_bad {
                    history.warnings.push(format!(
                        "{}: {detail}; skipped (--skip-bad)",
                        path.display()
                    ));
                    continue;
                }
                return Err(bad(path, format!("{detail}; --skip-bad reads past it")));
            }
        };
        if raw.commit.trim().is_empty() || raw.machine.trim().is_empty() {
            let detail = format!("line {number}: \"commit\" and \"machine\" must not be empty");
            if skip_bad {
                history
                    .warnings
                    .push(format!("{}: {detail}; skipped", path.display()));
                continue;
            }
            return Err(bad(path, detail));
        }
        let mut values = BTreeMap::new();
        for (id, v) in raw.values {
            match v.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 => {
                    values.insert(id, x);
                }
                _ => history.warnings.push(format!(
                    "{}: line {number}: {id}: value {v} is not a positive number; left out",
                    path.display()
                )),
            }
        }
        let run = Run {
            commit: raw.commit,
            date: raw.date,
            machine: raw.machine,
            values,
            units: raw.units,
            directions: raw.directions,
        };
        if let Some(earlier) = line_of.insert(run.commit.clone(), number) {
            history.warnings.push(format!(
                "{}: line {number}: commit {} is also on line {earlier}; line {number} wins",
                path.display(),
                run.commit
            ));
            history.runs.retain(|(n, _)| *n != earlier);
        }
        history.runs.push((number, run));
    }
    if history.runs.is_empty() {
        return Err(bad(path, "the history holds no run".into()));
    }
    Ok(history)
}

/// Appends `run` to the history file atomically: the whole new file is written beside
/// it, synced and renamed over it, so a crash or a full disk leaves the old file whole,
/// never a torn last line. A missing file is created.
pub fn append(path: &Path, run: &Run) -> Result<(), GateError> {
    let mut contents = match std::fs::read(path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(GateError::io(path, e)),
    };
    if !contents.is_empty() && !contents.ends_with(b"\n") {
        contents.push(b'\n');
    }
    let line = serde_json::to_string(run).map_err(|e| bad(path, e.to_string()))?;
    contents
        .write_all(line.as_bytes())
        .and_then(|()| contents.write_all(b"\n"))
        .map_err(|e| GateError::io(path, e))?;
    crate::fsutil::write_atomic(path, &contents)?;
    Ok(())
}

/// Whether `s` is an RFC 3339 date-time (`2026-12-02T01:02:03Z`, fractions and offsets
/// allowed).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
        || !matches!(b[10], b'T' | b't')
        || !(digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19))
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// Which way a change point moved its benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// Worse: slower, larger, or (higher-is-better) lower.
    Regression,
    /// Better.
    Improvement,
}

/// A change point in one benchmark's series on one machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// The benchmark.
    pub id: String,
    /// The machine whose series it is.
    pub machine: String,
    /// The first run after the change.
    pub commit: String,
    /// That run's index in the series (0-based).
    pub index: usize,
    /// The series' median before the change (back to the previous change point).
    pub before: f64,
    /// Its median after (up to the next change point).
    pub after: f64,
    /// `after / before − 1`.
    pub change: f64,
    /// The permutation p-value.
    pub p: f64,
    /// Better or worse.
    pub direction: Movement,
}

/// A benchmark's series on one machine, in run order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The benchmark.
    pub id: String,
    /// The machine.
    pub machine: String,
    /// The unit, when a run stated it.
    pub unit: Option<Unit>,
    /// Which way is better: the last direction a run stated, else lower-is-better.
    pub direction: Direction,
    /// `(commit, date, value)` per run that measured it.
    pub points: Vec<(String, String, f64)>,
}

impl Series {
    /// The values alone.
    pub fn values(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.2).collect()
    }
}

/// Every benchmark's series per machine, sorted by (machine, id).
pub fn series(history: &History) -> Vec<Series> {
    let mut by: BTreeMap<(String, String), Series> = BTreeMap::new();
    for (_, run) in &history.runs {
        for (id, &v) in &run.values {
            let s = by
                .entry((run.machine.clone(), id.clone()))
                .or_insert_with(|| Series {
                    id: id.clone(),
                    machine: run.machine.clone(),
                    unit: None,
                    direction: Direction::LowerIsBetter,
                    points: Vec::new(),
                });
            if let Some(u) = run.units.get(id) {
                s.unit = Some(*u);
            }
            if let Some(d) = run.directions.get(id) {
                s.direction = *d;
            }
            s.points.push((run.commit.clone(), run.date.clone(), v));
        }
    }
    by.into_values().collect()
}

/// What the change-point check of a whole history found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checked {
    /// Every change point, by (machine, id, index).
    pub found: Vec<Found>,
    /// Series too short to judge: (id, machine, runs).
    pub too_short: Vec<(String, String, usize)>,
    /// Series judged.
    pub judged: usize,
}

/// Change points of every series; the series are shared among `threads` threads, and
/// each series' permutations are seeded from its id and machine, so the answer does not
/// depend on the thread count.
pub fn check(series: &[Series], config: &Config, threads: usize) -> Checked {
    let judge = |s: &Series| -> Result<Vec<Found>, usize> {
        if s.points.len() < config.shortest_series() {
            return Err(s.points.len());
        }
        let seeded = Config {
            seed: config.seed ^ fnv1a(&s.machine) ^ fnv1a(&s.id).rotate_left(17),
            ..*config
        };
        Ok(changepoint::detect(&s.values(), &seeded)
            .into_iter()
            .map(|c| {
                let worse = match s.direction {
                    Direction::LowerIsBetter => c.change > 0.0,
                    Direction::HigherIsBetter => c.change < 0.0,
                };
                Found {
                    id: s.id.clone(),
                    machine: s.machine.clone(),
                    commit: s.points[c.index].0.clone(),
                    index: c.index,
                    before: c.before,
                    after: c.after,
                    change: c.change,
                    p: c.p,
                    direction: if worse {
                        Movement::Regression
                    } else {
                        Movement::Improvement
                    },
                }
            })
            .collect())
    };
    let threads = threads.clamp(1, series.len().max(1));
    let chunk = series.len().div_ceil(threads).max(1);
    let outcomes: Vec<Result<Vec<Found>, usize>> = std::thread::scope(|scope| {
        let handles: Vec<_> = series
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(judge).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a change-point thread panicked"))
            .collect()
    });
    let mut checked = Checked::default();
    for (s, outcome) in series.iter().zip(outcomes) {
        match outcome {
            Ok(found) => {
                checked.judged += 1;
                checked.found.extend(found);
            }
            Err(runs) => checked
                .too_short
                .push((s.id.clone(), s.machine.clone(), runs)),
        }
    }
    checked
}

/// FNV-1a, for seeding a series' permutations from its name.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn line(commit: &str, machine: &str, values: &str) -> String {
        format!(
            r#"{{"commit": "{commit}", "date": "2026-12-02T00:00:00Z", "machine": "{machine}", "values": {values}}}"#
        )
    }

    fn write(dir: &Path, lines: &[String]) -> PathBuf {
        let path = dir.join("history.jsonl");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    #[test]
    fn the_documented_shape_is_read_and_unknown_fields_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &[r#"{"commit": "a1", "date": "2026-12-02T00:00:00Z", "machine": "m", "values": {"x/y": 12.5}, "note": "ignored", "spreads": {"x/y": 0.01}}"#.into()],
        );
        let h = load(&path, false).unwrap();
        assert_eq!(h.runs.len(), 1);
        assert_eq!(h.runs[0].1.values["x/y"], 12.5);
        assert!(h.warnings.is_empty());
        let s = series(&h);
        assert_eq!(s[0].direction, Direction::LowerIsBetter);
    }

    #[test]
    fn a_line_that_is_not_json_names_its_number_unless_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &[
                line("a", "m", r#"{"x": 1}"#),
                "{not json".into(),
                line("b", "m", r#"{"x": 2}"#),
            ],
        );
        let err = load(&path, false).unwrap_err().to_string();
        assert!(
            err.contains("history.jsonl") && err.contains("line 2"),
            "{err}"
        );
        let h = load(&path, true).unwrap();
        assert_eq!(h.runs.len(), 2);
        assert!(h.warnings[0].contains("line 2"), "{:?}", h.warnings);
    }

    #[test]
    fn nan_gets_a_hint_and_bad_values_are_left_out_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &[line("a", "m", r#"{"x": NaN}"#)]);
        let err = load(&path, false).unwrap_err().to_string();
        assert!(err.contains("NaN and Infinity are not JSON"), "{err}");
        let path = write(
            dir.path(),
            &[line(
                "a",
                "m",
                r#"{"x": -1, "y": 0, "z": null, "w": "3", "ok": 2.0}"#,
            )],
        );
        let h = load(&path, false).unwrap();
        assert_eq!(h.runs[0].1.values.keys().collect::<Vec<_>>(), ["ok"]);
        assert_eq!(h.warnings.len(), 4, "{:?}", h.warnings);
        assert!(h.warnings.iter().all(|w| w.contains("line 1")));
    }

    #[test]
    fn a_repeated_commit_keeps_its_later_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &[
                line("a", "m", r#"{"x": 1}"#),
                line("b", "m", r#"{"x": 2}"#),
                line("a", "m", r#"{"x": 3}"#),
            ],
        );
        let h = load(&path, false).unwrap();
        let order: Vec<(&str, f64)> = h
            .runs
            .iter()
            .map(|(_, r)| (r.commit.as_str(), r.values["x"]))
            .collect();
        assert_eq!(order, [("b", 2.0), ("a", 3.0)]);
        assert!(h.warnings[0].contains("line 3") && h.warnings[0].contains("line 1"));
    }

    #[test]
    fn missing_and_empty_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.jsonl");
        assert!(
            load(&missing, false)
                .unwrap_err()
                .to_string()
                .contains("none.jsonl")
        );
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "\n").unwrap();
        let err = load(&empty, false).unwrap_err().to_string();
        assert!(
            err.contains("empty.jsonl") && err.contains("no run"),
            "{err}"
        );
    }

    #[test]
    fn appends_keep_every_line_and_mend_a_missing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, line("a", "m", r#"{"x": 1}"#)).unwrap();
        let run = Run {
            commit: "b".into(),
            date: "2026-12-02T00:00:00Z".into(),
            machine: "m".into(),
            values: [("x".to_owned(), 2.0)].into(),
            units: BTreeMap::new(),
            directions: [("x".to_owned(), Direction::HigherIsBetter)].into(),
        };
        append(&path, &run).unwrap();
        let h = load(&path, false).unwrap();
        assert_eq!(h.runs.len(), 2);
        assert_eq!(h.runs[1].1, run);
        assert_eq!(series(&h)[0].direction, Direction::HigherIsBetter);
    }

    #[test]
    fn machines_are_never_mixed_and_short_series_are_listed() {
        let mut history = History::default();
        for i in 0..30 {
            let step = if i >= 15 { 1.05 } else { 1.0 };
            for (m, v) in [("fast", step), ("slow", 2.0 * step)] {
                history.runs.push((
                    i,
                    Run {
                        commit: format!("c{i}"),
                        date: String::new(),
                        machine: m.into(),
                        values: [("x".to_owned(), v), ("rare".to_owned(), v)]
                            .into_iter()
                            .filter(|(id, _)| id == "x" || i < 3)
                            .collect(),
                        units: BTreeMap::new(),
                        directions: BTreeMap::new(),
                    },
                ));
            }
        }
        let s = series(&history);
        assert_eq!(s.len(), 4);
        let checked = check(&s, &Config::default(), 2);
        assert_eq!(checked.judged, 2);
        assert_eq!(checked.too_short.len(), 2);
        assert_eq!(checked.found.len(), 2, "{:?}", checked.found);
        for f in &checked.found {
            assert_eq!((f.index, f.commit.as_str()), (15, "c15"));
            assert_eq!(f.direction, Movement::Regression);
            assert!((f.change - 0.05).abs() < 1e-9);
        }
        assert_eq!(check(&s, &Config::default(), 1), checked);
    }

    #[test]
    fn dates_are_checked_as_rfc_3339() {
        for ok in [
            "2026-12-02T01:02:03Z",
            "2026-12-02T01:02:03.5+01:00",
            "2026-12-02t01:02:03z",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for no in [
            "2026-12-02",
            "2026-12-02 01:02:03Z",
            "2026-12-02T01:02:03",
            "2026-12-02T01:02:03.Z",
        ] {
            assert!(!is_rfc3339(no), "{no}");
        }
    }
}
