//! `bench-gate count`: the instruction counts of one tree's benchmarks (the working
//! tree, uncommitted changes included), for the history and for `check`: no base, no
//! wall time. The tree is checked out and built with the lockstep harness as a side of
//! `ab` is ([`super::sides`]); each benchmark is counted under Callgrind by two
//! processes ([`super::count`]), the same fixed iterations in every run, so
//! that its counts per iteration are comparable from one commit to the next. The
//! counts file ([`crate::counts`]) is written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::count::{self, Counted};
use super::suite::{self, Filter};
use super::{AbEvent, Place, process, sides};
use crate::GateError;
use crate::counts::{FILE, file};
use crate::fsutil::write_atomic;

/// What `bench-gate count` counts, and where it writes.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct CountOptions {
    /// The counts file to write (default: `counts.json` in `<target>/bench-gate-count`,
    /// where `check`, `baseline save` and `history append` read it).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Iterations counted per benchmark, after a fifth as many uncounted: the same in
    /// every run, so that one benchmark's counts compare across commits.
    #[arg(long, default_value_t = 10)]
    pub iterations: u64,
    /// The longest a benchmark process may take to reach its benchmark or finish
    /// counting, seconds.
    #[arg(long, default_value_t = 600.0)]
    pub run_timeout: f64,
    /// One more argument for the tree's `cargo bench --no-run` (repeatable):
    /// `--cargo-arg=--bench=NAME` builds that bench target alone.
    #[arg(long = "cargo-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub cargo_args: Vec<String>,
    /// A Criterion filter (a regex on benchmark ids), as after `cargo bench --`.
    #[arg(last = true)]
    pub filter: Option<String>,
}

/// What `bench-gate count` counted.
#[derive(Clone, Debug)]
pub struct Tally {
    /// The counts (both sides the same build) and those not countable.
    pub counted: Counted,
    /// The commit checked out, and whether the tree had uncommitted changes on top.
    pub commit: (String, bool),
    /// The file written.
    pub written: PathBuf,
}

impl Tally {
    /// One line: how many were counted, of what, and where they went.
    pub fn line(&self) -> String {
        let (commit, uncommitted) = &self.commit;
        format!(
            "bench-gate count: {} benchmarks counted, {} not countable, of {:.12}{} in {:.0} s; \
             written to {}",
            self.counted.sides[0].len(),
            self.counted.not_countable.len(),
            commit,
            if *uncommitted {
                " with uncommitted changes"
            } else {
                ""
            },
            self.counted.seconds,
            self.written.display()
        )
    }
}

/// Counts the benchmarks of the Cargo project in `dir` as `options` say.
pub fn count_tree(
    options: &CountOptions,
    dir: &Path,
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<Tally, GateError> {
    let timeout = Duration::try_from_secs_f64(options.run_timeout)
        .ok()
        .filter(|t| !t.is_zero() && options.iterations > 0)
        .ok_or_else(|| {
            GateError::Ab(format!(
                "--iterations {} --run-timeout {}: both must be above 0 (and the timeout a \
                 number of seconds)",
                options.iterations, options.run_timeout
            ))
        })?;
    let filter = Filter::new(options.filter.as_deref())?;
    let Some(version) = count::valgrind().filter(|_| cfg!(target_arch = "x86_64")) else {
        return Err(GateError::Ab(
            "cannot count: valgrind was not found (set BENCH_GATE_VALGRIND, or install it), \
             or this is not x86-64"
                .into(),
        ));
    };
    process::catch_interrupts()?;
    let place = Place::prepare(dir)?;
    let (built, commit) = build_tree(&place, dir, &options.cargo_args, events)?;
    let suite = suite::classify([&built.base, &built.head], &filter, &place.logs)?;
    if suite.lockstep.is_empty() {
        return Err(GateError::NoResults(format!(
            "no benchmark to count: no bench binary lists one{}",
            options
                .filter
                .as_ref()
                .map_or(String::new(), |f| format!(" that matches {f:?}"))
        )));
    }
    let iters: BTreeMap<String, u64> = suite
        .lockstep
        .iter()
        .map(|b| (b.id.clone(), options.iterations))
        .collect();
    let work = place.scratch.path().join("counts");
    let counted = count::count(&suite.lockstep, &iters, timeout, (&work, &version), events)?;
    drop(built);
    let written = match &options.out {
        Some(path) => path.clone(),
        None => place.target.join("bench-gate-count").join(FILE),
    };
    write(&written, &counted, &commit, &version, options.iterations)?;
    Ok(Tally {
        counted,
        commit,
        written,
    })
}

/// The working tree checked out (a snapshot commit when it has uncommitted changes)
/// and built with the harness; its commit and whether it had changes on top.
fn build_tree(
    place: &Place,
    dir: &Path,
    cargo_args: &[String],
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<(sides::Built, (String, bool)), GateError> {
    let head = place.repo.resolve("HEAD")?;
    let uncommitted = !place.repo.working_tree_is(&head)?;
    let tree = match uncommitted {
        true => place.repo.snapshot(&place.ab_dir, &place.target)?,
        false => head.clone(),
    };
    let built = sides::build(
        &place.request(dir, &tree, None, true, (true, cargo_args)),
        events,
    )?;
    if built.harness.is_none() {
        return Err(GateError::Ab(format!(
            "cannot count: the benches could not be built with the lockstep harness: {}",
            built.notes.join("; ")
        )));
    }
    Ok((built, (head, uncommitted)))
}

/// Writes the counts file of `counted` to `path`, atomically.
fn write(
    path: &Path,
    counted: &Counted,
    (commit, uncommitted): &(String, bool),
    valgrind: &str,
    iterations: u64,
) -> Result<(), GateError> {
    let about = Map::from_iter([
        ("commit".to_owned(), Value::from(commit.as_str())),
        ("uncommitted".to_owned(), (*uncommitted).into()),
        ("valgrind".to_owned(), valgrind.into()),
        ("iterations".to_owned(), iterations.into()),
        ("seconds".to_owned(), counted.seconds.into()),
        (
            "process_seconds_per_benchmark".to_owned(),
            counted.to_json()["process_seconds_per_benchmark"].clone(),
        ),
    ]);
    let text = file(&counted.sides[1], &counted.not_countable, about);
    let pretty = serde_json::to_string_pretty(&text).expect("JSON values serialise");
    Ok(write_atomic(path, pretty.as_bytes())?)
}
