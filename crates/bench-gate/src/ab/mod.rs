//! `bench-gate ab`: a paired A/B comparison of two revisions of any Cargo project with
//! Criterion benches, measured interleaved on this machine.
//!
//! 1. The base revision (and the head, when it is a revision rather than the working
//!    tree) is checked out into a worktree in a scratch directory ([`git`]).
//! 2. Each side's benches are built into a target directory of its own ([`build`]):
//!    the working tree into the project's usual one, a worktree into
//!    `<target>/bench-gate-ab/<side>`, kept between runs so only what changed is
//!    rebuilt. When both sides hold the same tree, one build serves both.
//! 3. Rounds: every benchmark of both sides, its base and head runs back to back, each
//!    run short and its own process ([`rounds`]).
//! 4. The paired decision ([`crate::paired`]) on the per-round values, under the
//!    *base's* `thresholds.toml` (a change cannot loosen the policy that judges it).
//!
//! Worktrees and the scratch directory are removed on every exit path, Ctrl-C
//! included: the signal only sets a flag ([`process`]), the running bench's process
//! group is killed, and the guards drop.

pub mod build;
pub mod callgrind;
pub mod count;
pub mod git;
pub mod harness;
pub mod kind;
pub mod lockstep;
pub mod measure;
pub mod merge;
pub mod one_tree;
mod options;
pub mod process;
pub mod record;
pub mod reuse;
pub mod rounds;
pub mod schedule;
pub mod shard;
pub mod sides;
pub mod suite;

use std::path::{Path, PathBuf};

pub use rounds::Progress;

use crate::GateError;
use crate::command::Reports;
use crate::thresholds::Policy;
use crate::verdict::Decision;
use git::Repo;
pub use one_tree::{CountOptions, Tally, count_tree};
pub use options::AbOptions;
pub use rounds::Pairing;

/// What a progress display hears about.
#[derive(Debug)]
pub enum AbEvent<'a> {
    /// A step: what is being checked out or built.
    Status(&'a str),
    /// A measurement run starts.
    Run(&'a Progress),
}

/// What `ab` measured and decided.
#[derive(Clone, Debug)]
pub struct AbOutcome {
    /// One paired verdict per benchmark.
    pub decision: Decision,
    /// The base revision as given (its commit is `recorded.base`).
    pub base: String,
    /// The most rounds (pairs) any benchmark had.
    pub rounds: usize,
    /// Notes: binaries left out, one build for both sides, a changed policy file.
    pub notes: Vec<String>,
    /// The report files written.
    pub written: Vec<PathBuf>,
    /// What was measured (the head, the pairing, the costs, the counts, the policy),
    /// as the `--json` report keeps it for `merge`.
    pub recorded: record::Recorded,
}

impl AbOutcome {
    /// The exit code, as for `check`; a shard's is 0, its decision being `merge`'s.
    pub fn exit(&self) -> crate::Exit {
        match self.recorded.shard {
            Some(_) => crate::Exit::Pass,
            None => crate::command::exit_for(&self.decision),
        }
    }

    /// The report's first lines: what was compared, how, and under which policy.
    pub fn header(&self) -> String {
        format!(
            "bench-gate ab: {} against {}, {}, up to {} rounds, in {:.0} s, policy {}",
            self.recorded.head,
            named(&self.base, &self.recorded.base),
            self.recorded.how,
            self.rounds,
            self.recorded.seconds,
            self.recorded.policy.0
        )
    }
}

/// A revision as the reports name it: `main (1a2b3c4d5e6f)`, or the commit's first 12
/// digits alone when it was given as a commit.
fn named(rev: &str, sha: &str) -> String {
    let short = &sha[..sha.len().min(12)];
    match sha.starts_with(rev) {
        true => short.to_owned(),
        false => format!("{rev} ({short})"),
    }
}

/// The project's target directory (`cargo metadata`).
fn target_directory(dir: &Path) -> Result<PathBuf, GateError> {
    build::metadata(dir, false)?["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| GateError::Ab("cargo metadata names no target_directory".into()))
}

/// The policy: `--thresholds`, else the base revision's `thresholds.toml`, else the
/// built-in one; and a note when the head's file differs from the base's.
fn policy(
    options: &AbOptions,
    repo: &Repo,
    base: &str,
    head: Option<&str>,
) -> Result<(Policy, Vec<String>), GateError> {
    let name = Path::new("thresholds.toml");
    let base_text = repo.show(base, name);
    let head_text = match head {
        Some(h) => repo.show(h, name),
        None => std::fs::read_to_string(repo.root.join(&repo.project).join(name)).ok(),
    };
    let mut notes = Vec::new();
    // `git show` output comes trimmed; so is the file, for the comparison.
    if base_text.as_deref().map(str::trim) != head_text.as_deref().map(str::trim) {
        notes.push(
            "the head changes thresholds.toml: judged by the base's policy, as every change is"
                .into(),
        );
    }
    let policy = match (&options.thresholds, base_text) {
        (Some(path), _) => Policy::load(path)?,
        (None, Some(text)) => {
            Policy::parse(&text, &PathBuf::from(format!("{base:.12}:thresholds.toml")))?
        }
        (None, None) => Policy::builtin(),
    };
    Ok((policy, notes))
}

/// Where `ab` and `count` work: the repository, the project's target directory, the
/// lock on `<target>/bench-gate-ab`, and a scratch directory removed on drop.
struct Place {
    repo: Repo,
    target: PathBuf,
    ab_dir: PathBuf,
    _lock: reuse::Lock,
    scratch: tempfile::TempDir,
    logs: PathBuf,
}

impl Place {
    /// Finds the repository and the project's target directory and takes the lock.
    fn prepare(dir: &Path) -> Result<Place, GateError> {
        let repo = Repo::discover(dir)?;
        if !dir.join("Cargo.toml").is_file() {
            return Err(GateError::Ab(format!(
                "{}: no Cargo.toml here; run bench-gate in the directory of the Cargo project to measure",
                dir.display()
            )));
        }
        let target = target_directory(dir)?;
        let ab_dir = target.join("bench-gate-ab");
        let lock = reuse::lock(&ab_dir)?;
        let scratch = tempfile::Builder::new()
            .prefix("bench-gate-ab-")
            .tempdir()
            .map_err(|e| GateError::Ab(format!("cannot create a scratch directory: {e}")))?;
        let logs = scratch.path().join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| GateError::io(&logs, e))?;
        Ok(Place {
            repo,
            target,
            ab_dir,
            _lock: lock,
            scratch,
            logs,
        })
    }

    /// What to check out and build: `base`, and `head` (`None`: the working tree),
    /// with the harness or not and more cargo arguments.
    fn request<'a>(
        &'a self,
        dir: &'a Path,
        base: &'a str,
        head: Option<&'a str>,
        same_tree: bool,
        (lockstep, cargo_args): (bool, &'a [String]),
    ) -> sides::Request<'a> {
        sides::Request {
            repo: &self.repo,
            dir,
            base,
            head,
            same_tree,
            target: &self.target,
            ab_dir: &self.ab_dir,
            logs: &self.logs,
            lockstep,
            cargo_args,
        }
    }
}

/// Where one comparison runs: the place, the revisions and the policy.
struct Setup {
    place: Place,
    base: String,
    head: Option<String>,
    same_tree: bool,
    policy: Policy,
    notes: Vec<String>,
}

impl Setup {
    /// Finds the repository and the revisions, reads the policy and takes the lock.
    fn prepare(options: &AbOptions, dir: &Path) -> Result<Setup, GateError> {
        let place = Place::prepare(dir)?;
        let repo = &place.repo;
        let base = repo.resolve(&options.base)?;
        let head = match &options.head {
            Some(rev) => {
                let sha = repo.resolve(rev)?;
                if sha == repo.resolve("HEAD")? && repo.is_dirty()? {
                    return Err(GateError::Ab(format!(
                        "--head {rev} is the checked-out commit, but the working tree has uncommitted \
                         changes: leave out --head to measure the working tree, or commit or stash them"
                    )));
                }
                Some(sha)
            }
            None => None,
        };
        if let Some(keep) = &options.keep_runs
            && keep.exists()
        {
            return Err(GateError::Ab(format!(
                "--keep-runs {}: already exists; name a new directory",
                keep.display()
            )));
        }
        let (policy, notes) = policy(options, repo, &base, head.as_deref())?;
        let same_tree = match &head {
            None => repo.working_tree_is(&base)?,
            Some(h) => h == &base,
        };
        Ok(Setup {
            place,
            base,
            head,
            same_tree,
            policy,
            notes,
        })
    }
}

/// Runs the comparison `options` describe from the Cargo project in `dir`.
pub fn ab(
    options: &AbOptions,
    dir: &Path,
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<AbOutcome, GateError> {
    options.check()?;
    process::catch_interrupts()?;
    let setup = Setup::prepare(options, dir)?;
    let request = setup.place.request(
        dir,
        &setup.base,
        setup.head.as_deref(),
        setup.same_tree,
        (options.pairing.is_lockstep(), &options.cargo_args),
    );
    let built = sides::build(&request, events)?;
    if process::interrupted() {
        return Err(process::interruption());
    }
    let seed = options.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let mut notes = setup.notes.clone();
    notes.extend(built.notes.iter().cloned());
    notes.push(format!("run order seed {seed} (--seed {seed} repeats it)"));
    let scratch = setup.place.scratch.path();
    let measured = measure::measure(options, &built, &setup.policy, seed, scratch, events)?;
    if let Some(keep) = &options.keep_runs {
        measured.keep(keep, scratch)?;
        notes.push(format!("every run's output kept in {}", keep.display()));
    }
    notes.extend(measured.notes.iter().cloned());
    drop(built);
    let head = match (&options.head, &setup.head) {
        (Some(rev), Some(sha)) => named(rev, sha),
        _ => "the working tree".into(),
    };
    let rounds = measured.most_rounds;
    let recorded = setup.record(options, head, measured);
    let mut decision = recorded.decide(&setup.policy)?;
    notes.extend(recorded.count_notes());
    notes.extend(crate::accept::apply(
        &mut decision,
        &options.pr,
        &setup.policy.accept,
    )?);
    if let Some(shard) = options.shard {
        notes.push(format!(
            "shard {shard} of the suite: these verdicts count only this shard's benchmarks; \
             `bench-gate merge` over every shard's --json report decides"
        ));
    }
    let mut outcome = AbOutcome {
        decision,
        base: options.base.clone(),
        rounds,
        notes,
        written: Vec::new(),
        recorded,
    };
    outcome.written = outcome.write_reports(&options.reports)?;
    Ok(outcome)
}

impl Setup {
    /// What `measured` holds, for the decision and the `--json` report.
    fn record(
        &self,
        options: &AbOptions,
        head: String,
        measured: measure::Measurement,
    ) -> record::Recorded {
        let one_thread = measured
            .rounds
            .iter()
            .filter(|r| measured.on_one_thread(&r.id))
            .map(|r| r.id.clone())
            .collect();
        record::Recorded {
            base: self.base.clone(),
            head,
            filter: options.filter.clone(),
            policy: (
                self.policy.path.display().to_string(),
                self.policy.text.clone(),
            ),
            alone: measured.alone,
            target_mde: options.target(),
            shard: options.shard,
            whole: measured.whole,
            one_thread,
            rounds: measured.rounds,
            counted: measured.counted,
            cost: measured.cost,
            how: measured.how,
            seconds: measured.elapsed.as_secs_f64(),
        }
    }
}

impl AbOutcome {
    /// Writes the requested reports, each saying what was compared and with the notes.
    fn write_reports(&self, reports: &Reports) -> Result<Vec<PathBuf>, GateError> {
        let mut preamble = vec![self.header()];
        preamble.extend(self.notes.iter().map(|n| format!("- {n}")));
        let r = &self.recorded;
        let mut extra = serde_json::Map::new();
        extra.insert(
            "base".into(),
            serde_json::json!({"revision": self.base, "commit": r.base}),
        );
        extra.insert("head".into(), r.head.clone().into());
        extra.insert("rounds".into(), self.rounds.into());
        extra.insert("policy".into(), r.policy.0.clone().into());
        extra.insert("measured_seconds".into(), r.seconds.into());
        extra.insert("notes".into(), self.notes.clone().into());
        extra.insert(
            "cost".into(),
            r.cost
                .iter()
                .map(|(id, n, secs)| serde_json::json!({"id": id, "rounds": n, "seconds": secs}))
                .collect::<Vec<_>>()
                .into(),
        );
        if let Some(counted) = &r.counted {
            extra.insert("counts".into(), counted.to_json());
        }
        let recorded = serde_json::to_value(r)
            .map_err(|e| GateError::Ab(format!("cannot encode the measurements: {e}")))?;
        extra.insert("recorded".into(), recorded);
        reports.write_with(&self.decision, &preamble, extra)
    }
}

#[cfg(test)]
mod tests {
    use super::named;

    #[test]
    fn a_revision_given_as_a_commit_is_named_by_its_first_12_digits() {
        let sha = "9d9cb3a2bc32065e0e39ba35048aa6cbfa051169";
        assert_eq!(named(sha, sha), "9d9cb3a2bc32");
        assert_eq!(named("9d9cb3a", sha), "9d9cb3a2bc32");
        assert_eq!(named("main", sha), "main (9d9cb3a2bc32)");
        assert_eq!(named("HEAD~1", sha), "HEAD~1 (9d9cb3a2bc32)");
    }
}
