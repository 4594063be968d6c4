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
pub mod git;
pub mod process;
pub mod reuse;
pub mod rounds;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use rounds::Progress;

use crate::GateError;
use crate::command::Reports;
use crate::decide::Decision;
use crate::paired::{MIN_ROUNDS, decide_paired};
use crate::thresholds::Policy;
use git::Repo;
pub use rounds::Pairing;
use rounds::{Plan, Side};

/// What `bench-gate ab` compares, how long it measures, and what it writes.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct AbOptions {
    /// The base revision (a commit, branch or tag).
    #[arg(long)]
    pub base: String,
    /// The head revision (default: the working tree, uncommitted changes included).
    #[arg(long)]
    pub head: Option<String>,
    /// Rounds: each runs every benchmark of both sides once.
    #[arg(long, default_value_t = 10)]
    pub rounds: usize,
    /// Criterion's measurement time per benchmark and run, seconds.
    #[arg(long, default_value_t = 0.3)]
    pub time: f64,
    /// Criterion's warm-up time per benchmark and run, seconds.
    #[arg(long, default_value_t = 0.1)]
    pub warm_up: f64,
    /// Criterion's `--sample-size` per run (at least 10, Criterion's least): a run's
    /// samples only need to give one value per round, and a benchmark slower than
    /// `--time` allows for its samples costs `sample size × (sample size + 1) / 2`
    /// iterations (0: each benchmark's own).
    #[arg(long, default_value_t = 10)]
    pub sample_size: usize,
    /// Early stop: after `--min-rounds`, a benchmark whose minimum detectable effect is
    /// at most this many per cent runs no more rounds (0: every benchmark runs every
    /// round). Decided on its noise alone, never on its change.
    #[arg(long, default_value_t = 2.0)]
    pub stop_at_mde: f64,
    /// The rounds every benchmark runs before it may stop early.
    #[arg(long, default_value_t = 5)]
    pub min_rounds: usize,
    /// The policy file (default: the base revision's thresholds.toml, else the built-in
    /// one).
    #[arg(long)]
    pub thresholds: Option<PathBuf>,
    /// The seed of the run order's shuffle (default: from the clock; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// How each benchmark's base and head runs of a round are paired: `shared-cpu` (both
    /// at once, pinned to one CPU, so the machine's state at that moment hits both) or
    /// `sequential` (one after the other, each with every core).
    #[arg(long, value_enum, default_value_t = Pairing::SharedCpu)]
    pub pairing: Pairing,
    /// Pairs measured at once, each on its own CPU (shared-cpu pairing). One is the
    /// default: two pairs at once on this 2-core VM had 1.5× the noise per pair.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// The longest one benchmark run may take before it counts as hung (killed,
    /// retried once), seconds.
    #[arg(long, default_value_t = 600.0)]
    pub run_timeout: f64,
    /// Keep every run's Criterion output in this directory (`base/round-N/<id>/`,
    /// `head/…`, and `manifest.json` naming each side's bench executables and which
    /// binary measures which benchmark), for a second look or another analysis. It must
    /// not exist yet.
    #[arg(long)]
    pub keep_runs: Option<PathBuf>,
    /// The reports to write.
    #[command(flatten)]
    pub reports: Reports,
    /// A Criterion filter (a regex on benchmark ids), as after `cargo bench --`.
    #[arg(last = true)]
    pub filter: Option<String>,
}

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
    /// The base revision as given, and its commit.
    pub base: (String, String),
    /// The head: a revision and its commit, or the working tree.
    pub head: String,
    /// Rounds measured.
    pub rounds: usize,
    /// The policy file used.
    pub policy: String,
    /// Notes: binaries left out, one build for both sides, a changed policy file.
    pub notes: Vec<String>,
    /// Per benchmark: rounds run and the seconds its pairs took, costliest first.
    pub cost: Vec<(String, usize, f64)>,
    /// How long the rounds took.
    pub measured_for: Duration,
    /// The report files written.
    pub written: Vec<PathBuf>,
}

impl AbOutcome {
    /// The exit code, as for `check`.
    pub fn exit(&self) -> crate::Exit {
        crate::command::exit_for(&self.decision)
    }

    /// The report's first lines: what was compared, how, and under which policy.
    pub fn header(&self) -> String {
        format!(
            "bench-gate ab: {} against {} ({}), {} interleaved rounds in {:.0} s, policy {}",
            self.head,
            self.base.0,
            &self.base.1[..self.base.1.len().min(12)],
            self.rounds,
            self.measured_for.as_secs_f64(),
            self.policy
        )
    }
}

/// A worktree side's checkout.
struct Checkout {
    /// The worktree (the repository's root).
    root: PathBuf,
    /// The project's directory inside it.
    project: PathBuf,
    /// Its tracked files' blobs.
    sources: reuse::Sources,
}

/// The project's target directory (`cargo metadata`).
fn target_directory(dir: &Path) -> Result<PathBuf, GateError> {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(dir)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| GateError::Ab(format!("cannot run cargo metadata: {e}")))?;
    if !out.status.success() {
        return Err(GateError::Ab(format!(
            "{}: not a Cargo project (cargo metadata: {})",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| GateError::Ab(format!("cargo metadata's output: {e}")))?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| GateError::Ab("cargo metadata names no target_directory".into()))
}

fn check_options(options: &AbOptions) -> Result<(), GateError> {
    let bad = |flag: &str, what: String| Err(GateError::Ab(format!("{flag}: {what}")));
    if options.rounds < MIN_ROUNDS || options.rounds > 1000 {
        return bad(
            "--rounds",
            format!(
                "{} (a paired verdict needs {MIN_ROUNDS} to 1000)",
                options.rounds
            ),
        );
    }
    if !(options.time.is_finite() && options.time > 0.0 && options.time <= 3600.0) {
        return bad("--time", format!("{} s: use (0, 3600]", options.time));
    }
    if !(options.warm_up.is_finite() && options.warm_up > 0.0 && options.warm_up <= 3600.0) {
        return bad("--warm-up", format!("{} s: use (0, 3600]", options.warm_up));
    }
    if options.sample_size != 0 && options.sample_size < 10 {
        return bad(
            "--sample-size",
            format!(
                "{}: Criterion needs at least 10 (0: each benchmark's own)",
                options.sample_size
            ),
        );
    }
    if !(options.stop_at_mde.is_finite() && (0.0..=100.0).contains(&options.stop_at_mde)) {
        return bad(
            "--stop-at-mde",
            format!("{} %: use 0 (off) to 100", options.stop_at_mde),
        );
    }
    if options.min_rounds < MIN_ROUNDS {
        return bad(
            "--min-rounds",
            format!(
                "{}: a minimum detectable effect needs {MIN_ROUNDS} rounds",
                options.min_rounds
            ),
        );
    }
    if options.jobs == 0 {
        return bad("--jobs", "0: at least one pair must run".into());
    }
    if !(options.run_timeout.is_finite() && options.run_timeout >= 1.0) {
        return bad(
            "--run-timeout",
            format!("{} s: use at least 1", options.run_timeout),
        );
    }
    Ok(())
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
            Policy::parse(&text, &PathBuf::from(format!("{base}:thresholds.toml")))?
        }
        (None, None) => Policy::builtin(),
    };
    Ok((policy, notes))
}

/// Runs the comparison `options` describe from the Cargo project in `dir`.
pub fn ab(
    options: &AbOptions,
    dir: &Path,
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<AbOutcome, GateError> {
    check_options(options)?;
    process::catch_interrupts()?;
    let repo = Repo::discover(dir)?;
    if !dir.join("Cargo.toml").is_file() {
        return Err(GateError::Ab(format!(
            "{}: no Cargo.toml here; run bench-gate ab in the directory of the Cargo project to measure",
            dir.display()
        )));
    }
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
    let (policy, mut notes) = policy(options, &repo, &base, head.as_deref())?;
    let target = target_directory(dir)?;
    let ab_dir = target.join("bench-gate-ab");
    let _lock = reuse::lock(&ab_dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("bench-gate-ab-")
        .tempdir()
        .map_err(|e| GateError::Ab(format!("cannot create a scratch directory: {e}")))?;
    let logs = scratch.path().join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| GateError::io(&logs, e))?;
    let same_tree = match &head {
        None => repo.working_tree_is(&base)?,
        Some(h) => h == &base,
    };

    // Checkouts and builds; the worktree guards live until the end of this function.
    let side_target = |side: &str| ab_dir.join(side);
    let mut worktrees = Vec::new();
    let mut checkout = |side: &str, commit: &str, events: &mut dyn FnMut(AbEvent<'_>)| {
        events(AbEvent::Status(&format!(
            "checking out the {side} ({commit:.12}) ..."
        )));
        let wt = repo.worktree(commit, &reuse::checkout_path(&ab_dir, side))?;
        let sources = reuse::Sources::of(&wt.path)?;
        sources.restore(&wt.path, &side_target(side))?;
        // Until this build succeeds, the target holds no build of a known source.
        reuse::Sources::forget(&side_target(side));
        let checkout = Checkout {
            root: wt.path.clone(),
            project: wt.path.join(&repo.project),
            sources,
        };
        worktrees.push(wt);
        Ok::<_, GateError>(checkout)
    };
    let head_checkout = match &head {
        Some(h) => Some(checkout("head", h, events)?),
        None => None,
    };
    let base_checkout = if same_tree {
        None
    } else {
        Some(checkout("base", &base, events)?)
    };
    let build_side = |side: &'static str, checkout: Option<&Checkout>| match checkout {
        None => build::build(dir, None, side, &logs),
        Some(c) => {
            let bins = build::build(&c.project, Some(&side_target(side)), side, &logs)?;
            c.sources.record(&side_target(side))?;
            Ok(bins)
        }
    };
    events(AbEvent::Status("building the head's benches ..."));
    let head_bins = build_side("head", head_checkout.as_ref())?;
    let base_bins = match &base_checkout {
        Some(c) => {
            let head_target = match &head_checkout {
                None => target.clone(),
                Some(_) => side_target("head"),
            };
            events(AbEvent::Status("building the base's benches ..."));
            if let Some(bytes) = c
                .sources
                .seed(&c.root, &head_target, &side_target("base"))?
            {
                notes.push(format!(
                    "the base's first build reused the head's dependencies ({:.1} GB copied \
                     from {}); its own crates were built from its sources",
                    bytes as f64 / 1e9,
                    head_target.display()
                ));
            }
            build_side("base", Some(c))?
        }
        None => {
            notes.push(
                "base and head hold the same tree: one build measured as both sides (an A/A run)"
                    .into(),
            );
            head_bins.clone()
        }
    };
    if process::interrupted() {
        return Err(process::interruption());
    }

    let seed = options.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    notes.push(format!("run order seed {seed} (--seed {seed} repeats it)"));
    let plan = Plan {
        rounds: options.rounds,
        warm_up: options.warm_up,
        time: options.time,
        filter: options.filter.clone(),
        seed,
        run_timeout: Duration::from_secs_f64(options.run_timeout),
        pairing: options.pairing,
        cpus: {
            let cpus = process::allowed_cpus();
            let jobs = options.jobs.clamp(1, cpus.len());
            process::idlest_cpus(&cpus, jobs, Duration::from_millis(500))
        },
        sample_size: (options.sample_size != 0).then_some(options.sample_size),
        target_mde: (options.stop_at_mde > 0.0).then_some(options.stop_at_mde / 100.0),
        min_rounds: options.min_rounds,
        levels: policy.paired,
    };
    let sides = [
        Side {
            name: "base",
            binaries: base_bins,
        },
        Side {
            name: "head",
            binaries: head_bins,
        },
    ];
    let measured = rounds::measure(&sides, &plan, scratch.path(), events)?;
    if let Some(keep) = &options.keep_runs {
        keep_runs(keep, scratch.path(), &sides, &measured)?;
        notes.push(format!(
            "every run's Criterion output kept in {}",
            keep.display()
        ));
    }
    notes.extend(measured.left_out.iter().cloned());
    if !measured.stopped_early.is_empty() {
        let mut by_round: std::collections::BTreeMap<usize, usize> = Default::default();
        for (_, r) in &measured.stopped_early {
            *by_round.entry(*r).or_default() += 1;
        }
        notes.push(format!(
            "{} benchmark(s) stopped early, their minimum detectable effect already at most \
             {} % ({}): decided on their noise, never on their change",
            measured.stopped_early.len(),
            options.stop_at_mde,
            by_round
                .iter()
                .map(|(r, n)| format!("{n} after {r} rounds"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let costliest: Vec<String> = measured
        .cost
        .iter()
        .take(3)
        .map(|(id, n, secs)| format!("{id} {:.1} s per round", secs / *n as f64))
        .collect();
    if !costliest.is_empty() {
        notes.push(format!("the costliest pairs: {}", costliest.join(", ")));
    }
    match plan.pairing {
        Pairing::SharedCpu => notes.push(format!(
            "shared-CPU pairs on CPU {:?}: each benchmark's base and head ran at once on one \
             CPU, so the values shown are about twice their time alone; the changes are what \
             is judged, and absolute bounds are left to `check`",
            plan.cpus
        )),
        Pairing::Sequential => {}
    }
    let decision = decide_paired(
        &measured.rounds()?,
        &policy,
        plan.pairing == Pairing::Sequential,
    )?;
    drop(worktrees);
    let mut outcome = AbOutcome {
        decision,
        base: (options.base.clone(), base),
        head: match (&options.head, &head) {
            (Some(rev), Some(sha)) => format!("{rev} ({sha:.12})"),
            _ => "the working tree".into(),
        },
        rounds: options.rounds,
        policy: policy.path.display().to_string(),
        notes,
        measured_for: measured.elapsed,
        cost: measured.cost.clone(),
        written: Vec::new(),
    };
    outcome.written = outcome.write_reports(&options.reports)?;
    Ok(outcome)
}

/// Copies the rounds' Criterion output from `scratch` into `keep`, with a manifest.
fn keep_runs(
    keep: &Path,
    scratch: &Path,
    sides: &[Side; 2],
    measured: &rounds::Measured,
) -> Result<(), GateError> {
    let partial = keep.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    for side in sides {
        let from = scratch.join(side.name);
        if from.exists() {
            reuse::copy_tree(&from, &partial.join(side.name))?;
        }
    }
    let binaries = |side: &Side| -> serde_json::Value {
        side.binaries
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    serde_json::json!({"path": b.path, "dir": b.dir}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let manifest = serde_json::json!({
        "base": binaries(&sides[0]),
        "head": binaries(&sides[1]),
        "benchmarks": measured
            .measured_by
            .iter()
            .map(|(id, bin)| (id.clone(), serde_json::Value::from(bin.clone())))
            .collect::<serde_json::Map<_, _>>(),
        "layout": "<side>/round-<r>/<id with every byte but letters, digits, - and _ as %XX>/ is that run's CRITERION_HOME",
    });
    let path = partial.join("manifest.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )
    .map_err(|e| GateError::io(&path, e))?;
    std::fs::rename(&partial, keep).map_err(|e| GateError::io(keep, e))
}

impl AbOutcome {
    /// Writes the requested reports, each saying what was compared and with the notes.
    fn write_reports(&self, reports: &Reports) -> Result<Vec<PathBuf>, GateError> {
        let mut preamble = vec![self.header()];
        preamble.extend(self.notes.iter().map(|n| format!("- {n}")));
        let mut extra = serde_json::Map::new();
        extra.insert(
            "base".into(),
            serde_json::json!({"revision": self.base.0, "commit": self.base.1}),
        );
        extra.insert("head".into(), self.head.clone().into());
        extra.insert("rounds".into(), self.rounds.into());
        extra.insert("policy".into(), self.policy.clone().into());
        extra.insert(
            "measured_seconds".into(),
            self.measured_for.as_secs_f64().into(),
        );
        extra.insert("notes".into(), self.notes.clone().into());
        extra.insert(
            "cost".into(),
            self.cost
                .iter()
                .map(|(id, n, secs)| serde_json::json!({"id": id, "rounds": n, "seconds": secs}))
                .collect::<Vec<_>>()
                .into(),
        );
        reports.write_with(&self.decision, &preamble, extra)
    }
}
