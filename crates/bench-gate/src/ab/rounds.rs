//! The interleaved measurement: N rounds, and in each round every benchmark of both
//! sides runs once, each as its own short process (the bench binary with an exact
//! filter for that one id, Criterion's own `--warm-up-time`/`--measurement-time`), the
//! base's and the head's back to back. The benchmarks' order is shuffled per round
//! (seeded), and which side goes first alternates (ABBA), so a slow stretch of the
//! machine, or a warm cache left by the previous run, hits both sides of a pair alike.
//! Pairing per benchmark rather than per binary matters on a shared VM: its speed
//! drifts by tens of percent over a minute (measured: `graph_planning/plan/1000` at 220
//! µs in four consecutive runs of its binary, then 142–204 µs), and a binary's run of a
//! whole family lasts that long. Each run writes into its own `CRITERION_HOME`
//! (`<scratch>/<side>/round-<r>/<n>`), which the Criterion loader reads back afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;

use super::build::BenchBinary;
use super::process::{Ended, Job, run_bounded, run_together, tail};
use crate::paired::Rounds;
use crate::{GateError, criterion};

/// How each run is measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Rounds.
    pub rounds: usize,
    /// Criterion's `--warm-up-time`, seconds.
    pub warm_up: f64,
    /// Criterion's `--measurement-time`, seconds.
    pub time: f64,
    /// A Criterion filter (a regex on ids), if any.
    pub filter: Option<String>,
    /// The shuffle's seed.
    pub seed: u64,
    /// The longest one run may take before it counts as hung.
    pub run_timeout: Duration,
    /// How a benchmark's base and head runs of a round are paired.
    pub pairing: Pairing,
    /// The CPUs pairs run on, one pair per CPU at a time (shared-CPU pairing).
    pub cpus: Vec<usize>,
    /// Criterion's `--sample-size` per run (`None`: each benchmark's own).
    pub sample_size: Option<usize>,
    /// Early stop: a benchmark is measured in no more rounds once, after at least
    /// `min_rounds`, its minimum detectable effect is at most this (`None`: every
    /// benchmark runs every round).
    pub target_mde: Option<f64>,
    /// The rounds every benchmark runs before it may stop early.
    pub min_rounds: usize,
    /// The paired levels the minimum detectable effect is computed at.
    pub levels: crate::thresholds::PairedLevels,
}

/// How a benchmark's base and head are paired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pairing {
    /// Lockstep, one side at a time: samples alternate AB BA AB … under a barrier, each
    /// with the machine to itself.
    Alternate,
    /// Lockstep, both sides' samples at once on one CPU, under a barrier.
    Together,
    /// Lockstep, both sides' samples at once, each on a CPU of its own.
    Duet,
    /// Process rounds, both runs at once, pinned to one CPU, sharing it in time slices:
    /// whatever the machine does to that CPU meanwhile hits both alike. One pair per
    /// CPU runs at a time.
    SharedCpu,
    /// Process rounds, one run after the other, each with the whole machine.
    Sequential,
}

impl Pairing {
    /// Whether this pairing measures in lockstep (through the harness).
    pub fn is_lockstep(self) -> bool {
        matches!(self, Pairing::Alternate | Pairing::Together | Pairing::Duet)
    }
}

/// One side: its name and its bench binaries.
#[derive(Clone, Debug)]
pub struct Side {
    /// `base` or `head`.
    pub name: &'static str,
    /// What was built.
    pub binaries: Vec<BenchBinary>,
}

/// Where the measurement stands, for a progress display.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Runs (pairs) done.
    pub done: usize,
    /// Runs (pairs) in all, as far as known.
    pub total: usize,
    /// What is counted: `runs` or `pairs`.
    pub unit: &'static str,
    /// With a budget: the seconds spent and the budget's.
    pub budget: Option<(f64, f64)>,
    /// The run just started: `round r/N: binary (side)`.
    pub current: String,
}

/// What Criterion's `--help` says of its executables; another harness that lists like
/// Criterion (gungraun, libtest) does not say it, and is left out before it costs a
/// round (a gungraun run is a valgrind run).
const CRITERION_MARK: &str = "is a Criterion.rs benchmark";

/// Whether `bin` is a Criterion bench (its `--help` says so).
fn is_criterion(bin: &BenchBinary, scratch: &Path) -> Result<bool, GateError> {
    let mut cmd = Command::new(&bin.path);
    cmd.current_dir(&bin.dir)
        .env("CRITERION_HOME", scratch.join("list"))
        .arg("--help");
    let (out, err) = (scratch.join("help.out"), scratch.join("help.err"));
    run_bounded(cmd, &out, &err, Some(Duration::from_secs(60)))?;
    let said = |p: &Path| std::fs::read_to_string(p).is_ok_and(|t| t.contains(CRITERION_MARK));
    Ok(said(&out) || said(&err))
}

/// The ids a bench binary lists (`--list`, Criterion's `id: benchmark` lines) for the
/// filter; `None` when it lists none.
fn list(bin: &BenchBinary, plan: &Plan, scratch: &Path) -> Result<Option<Vec<String>>, GateError> {
    let mut cmd = Command::new(&bin.path);
    cmd.current_dir(&bin.dir)
        .env("CRITERION_HOME", scratch.join("list"))
        .args(["--bench", "--list"]);
    if let Some(f) = &plan.filter {
        cmd.arg(f);
    }
    let (out, err) = (scratch.join("list.out"), scratch.join("list.err"));
    match run_bounded(cmd, &out, &err, Some(Duration::from_secs(120)))? {
        Ended::Exited(s) if s.success() => {}
        _ => return Ok(None),
    }
    let text = std::fs::read_to_string(&out).map_err(|e| GateError::io(&out, e))?;
    let ids: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_suffix(": benchmark"))
        .map(str::to_owned)
        .collect();
    Ok((!ids.is_empty()).then_some(ids))
}

/// `id` as one path component: letters, digits, `-` and `_` kept, every other byte as
/// `%XX` (so two ids never share a name, and none is `.` or `..`).
pub(crate) fn file_stem(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The command of one run: `bin` measuring benchmark `id` into `home`.
fn run_command(bin: &BenchBinary, plan: &Plan, id: &str, home: &Path) -> Command {
    let mut cmd = Command::new(&bin.path);
    cmd.current_dir(&bin.dir)
        .env("CRITERION_HOME", home)
        .arg("--bench")
        .args(["--warm-up-time", &plan.warm_up.to_string()])
        .args(["--measurement-time", &plan.time.to_string()])
        .args(["--nresamples", "1000", "--noplot"]);
    if let Some(n) = plan.sample_size {
        cmd.args(["--sample-size", &n.to_string()]);
    }
    cmd.arg(crate::command::exact_filter(std::iter::once(id)));
    cmd
}

/// One round's pair of runs of one benchmark: both sides (those that have it), the
/// `first` side started first, on `cpu` together (shared-CPU pairing) or one after the
/// other; retried once if a run fails or hangs, then an error naming the binary, the
/// side, the round and the benchmark.
fn run_pair(
    unit: &Unit,
    round: usize,
    first: usize,
    cpu: Option<usize>,
    ctx: &Context<'_>,
) -> Result<(), GateError> {
    let ((_, id), bins) = unit;
    let mut last = String::new();
    for attempt in 1..=2 {
        let mut jobs = Vec::new();
        let mut sides = Vec::new();
        for s in [first, 1 - first] {
            let Some(bin) = &bins[s] else { continue };
            let home = ctx.home(s, round, id);
            let _ = std::fs::remove_dir_all(&home);
            let stem = format!(
                "{}-{}-{}-round{}-try{attempt}",
                bin.name,
                file_stem(id),
                ctx.sides[s].name,
                round + 1
            );
            jobs.push(Job {
                cmd: run_command(bin, ctx.plan, id, &home),
                out: ctx.logs.join(format!("{stem}.out")),
                err: ctx.logs.join(format!("{stem}.err")),
            });
            sides.push((s, bin));
        }
        let errs: Vec<PathBuf> = jobs.iter().map(|j| j.err.clone()).collect();
        let ended = match ctx.plan.pairing {
            Pairing::SharedCpu => run_together(jobs, cpu, Some(ctx.plan.run_timeout))?,
            _ => {
                let mut ended = Vec::new();
                for job in jobs {
                    ended.extend(run_together(vec![job], None, Some(ctx.plan.run_timeout))?);
                }
                ended
            }
        };
        let failed: Vec<String> = ended
            .iter()
            .zip(&sides)
            .zip(&errs)
            .filter_map(|((e, (s, bin)), err)| {
                let why = match e {
                    Ended::Exited(status) if status.success() => return None,
                    Ended::Exited(status) => format!("{status}:\n{}", tail(err, 20)),
                    Ended::TimedOut => format!(
                        "no end within {:.0} s (killed)",
                        ctx.plan.run_timeout.as_secs_f64()
                    ),
                };
                Some(format!(
                    "{} ({} side): {why}",
                    bin.path.display(),
                    ctx.sides[*s].name
                ))
            })
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        last = failed.join("\n");
    }
    Err(GateError::Ab(format!(
        "round {}, benchmark {id}: a run failed twice: {last}",
        round + 1
    )))
}

/// What every pair of a measurement shares.
struct Context<'a> {
    sides: &'a [Side; 2],
    plan: &'a Plan,
    logs: &'a Path,
    scratch: &'a Path,
}

impl Context<'_> {
    /// Where side `s`'s run of benchmark `id` in `round` writes its results.
    fn home(&self, s: usize, round: usize, id: &str) -> PathBuf {
        self.scratch
            .join(self.sides[s].name)
            .join(format!("round-{}", round + 1))
            .join(file_stem(id))
    }
}

/// What a slot thread tells the measuring thread.
enum Msg {
    Started(String),
    /// A pair ended: its runs, its benchmark's id, and how long it took.
    Done(usize, String, Duration),
    Failed(GateError),
}

/// Runs one round: every unit's pair, on `slots` (CPUs, or one unpinned slot for
/// sequential pairing) at once, in the order given.
fn run_round(
    units: &[Unit],
    round: usize,
    ctx: &Context<'_>,
    slots: &[Option<usize>],
    progress: &mut dyn FnMut(Msg),
) -> Result<(), GateError> {
    let queue = std::sync::Mutex::new((0..units.len()).collect::<std::collections::VecDeque<_>>());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    std::thread::scope(|scope| {
        for &cpu in slots {
            let (tx, queue, stop) = (tx.clone(), &queue, &stop);
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Some(k) = queue.lock().map_or(None, |mut q| q.pop_front()) else {
                        break;
                    };
                    let unit = &units[k];
                    let runs = unit.1.iter().flatten().count();
                    let _ = tx.send(Msg::Started(format!(
                        "round {}/{}: {}",
                        round + 1,
                        ctx.plan.rounds,
                        unit.0.1
                    )));
                    let began = Instant::now();
                    match run_pair(unit, round, (round + k) % 2, cpu, ctx) {
                        Ok(()) => {
                            let _ = tx.send(Msg::Done(runs, unit.0.1.clone(), began.elapsed()));
                        }
                        Err(e) => {
                            stop.store(true, std::sync::atomic::Ordering::Relaxed);
                            let _ = tx.send(Msg::Failed(e));
                        }
                    }
                }
            });
        }
        drop(tx);
        let mut first_error = None;
        for msg in rx {
            match msg {
                Msg::Failed(e) => {
                    first_error.get_or_insert(e);
                }
                other => progress(other),
            }
        }
        first_error.map_or(Ok(()), Err)
    })
}

/// What the rounds measured: per side and round, the directory Criterion wrote.
pub struct Measured {
    /// `homes[side][round]`.
    homes: Vec<Vec<PathBuf>>,
    /// Binaries left out, with why.
    pub left_out: Vec<String>,
    /// How long the measurement took.
    pub elapsed: Duration,
    /// Per benchmark: the rounds it ran and the seconds its pairs took in all, the
    /// costliest first.
    pub cost: Vec<(String, usize, f64)>,
    /// The benchmarks that stopped before the last round, with the rounds they ran.
    pub stopped_early: Vec<(String, usize)>,
    /// Every measured benchmark and the name of the bench binary that measures it.
    pub measured_by: Vec<(String, String)>,
}

/// One benchmark to measure: its binary's name, its id, and the binary on each side
/// that lists it.
type Unit = ((String, String), [Option<BenchBinary>; 2]);

/// Every benchmark either side lists, by binary and id; binaries that list none are
/// named in `left_out`.
fn units(
    sides: &[Side; 2],
    plan: &Plan,
    logs: &Path,
    left_out: &mut Vec<String>,
) -> Result<Vec<Unit>, GateError> {
    let mut units: BTreeMap<(String, String), [Option<BenchBinary>; 2]> = BTreeMap::new();
    let mut silent: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut other: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (i, side) in sides.iter().enumerate() {
        for bin in &side.binaries {
            if !is_criterion(bin, logs)? {
                other.entry(bin.name.clone()).or_default().push(side.name);
                continue;
            }
            match list(bin, plan, logs)? {
                Some(ids) => {
                    for id in ids {
                        units.entry((bin.name.clone(), id)).or_default()[i] = Some(bin.clone());
                    }
                }
                None => silent.entry(bin.name.clone()).or_default().push(side.name),
            }
        }
    }
    let named = |by: &BTreeMap<String, Vec<&str>>| -> String {
        by.iter()
            .map(|(name, on)| match on.as_slice() {
                [one] => format!("{name} ({one} side only)"),
                _ => name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !other.is_empty() {
        left_out.push(format!(
            "not Criterion benches (their --help does not say so): {}",
            named(&other)
        ));
    }
    if !silent.is_empty() {
        left_out.push(format!(
            "list no Criterion benchmark{}: {}",
            plan.filter
                .as_ref()
                .map_or(String::new(), |f| format!(" matching {f:?}")),
            named(&silent)
        ));
    }
    Ok(units.into_iter().collect())
}

/// The binaries none of whose round-1 runs wrote Criterion results (a harness that lists
/// like Criterion but is not, such as gungraun), with a note each.
fn silent_binaries(units: &[Unit], homes: &[Vec<PathBuf>]) -> Vec<(String, String)> {
    let wrote: std::collections::BTreeSet<String> = homes
        .iter()
        .filter_map(|h| std::fs::read_dir(&h[0]).ok())
        .flat_map(|dirs| dirs.flatten().map(|d| d.path()))
        .flat_map(|home| criterion::load(&home, "new").ok().into_iter().flatten())
        .map(|(id, _)| id)
        .collect();
    let names: std::collections::BTreeSet<&String> = units.iter().map(|((n, _), _)| n).collect();
    names
        .into_iter()
        .filter(|n| !units.iter().any(|((b, id), _)| b == *n && wrote.contains(id)))
        .map(|name| {
            let n = units.iter().filter(|((b, _), _)| b == name).count();
            (
                name.clone(),
                format!("{name}: wrote no Criterion results for its {n} listed benchmark(s) (not a Criterion bench)"),
            )
        })
        .collect()
}

/// Runs the rounds. Binaries that list no Criterion benchmark on either side are left
/// out, and so is a binary that, listed, wrote no Criterion results in round 1.
pub fn measure(
    sides: &[Side; 2],
    plan: &Plan,
    scratch: &Path,
    events: &mut dyn FnMut(super::AbEvent<'_>),
) -> Result<Measured, GateError> {
    let logs = scratch.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| GateError::io(&logs, e))?;
    let mut left_out = Vec::new();
    let mut units = units(sides, plan, &logs, &mut left_out)?;
    if units.is_empty() {
        return Ok(Measured {
            homes: Vec::new(),
            left_out,
            elapsed: Duration::ZERO,
            cost: Vec::new(),
            stopped_early: Vec::new(),
            measured_by: Vec::new(),
        });
    }
    let homes: Vec<Vec<PathBuf>> = sides
        .iter()
        .map(|s| {
            (0..plan.rounds)
                .map(|r| scratch.join(s.name).join(format!("round-{}", r + 1)))
                .collect()
        })
        .collect();
    let ctx = Context {
        sides,
        plan,
        logs: &logs,
        scratch,
    };
    let slots: Vec<Option<usize>> = match plan.pairing {
        Pairing::SharedCpu => plan.cpus.iter().map(|&c| Some(c)).collect(),
        _ => vec![None],
    };
    let mut rng = SplitMix64::seed_from_u64(plan.seed);
    let runs_per_round =
        |units: &[Unit]| -> usize { units.iter().map(|(_, b)| b.iter().flatten().count()).sum() };
    let mut total = plan.rounds * runs_per_round(&units);
    let pairs = plan.rounds * units.len();
    let per_pair = plan.warm_up + plan.time + 0.2;
    events(super::AbEvent::Status(&format!(
        "measuring {} benchmarks × {} rounds ({total} runs, {} at a time): about {:.0} min, more \
         if benchmarks need longer than --time for their samples",
        units.len(),
        plan.rounds,
        if plan.pairing == Pairing::SharedCpu {
            format!("{} pair(s)", slots.len())
        } else {
            "1".into()
        },
        (pairs as f64 * per_pair / slots.len() as f64 / 60.0).max(1.0)
    )));
    let (mut done, start) = (0, Instant::now());
    let mut current = String::new();
    let mut cost: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut stopped_early = Vec::new();
    let suite = units.len();
    let mut measured_by = Vec::new();
    for round in 0..plan.rounds {
        for i in (1..units.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            units.swap(i, j);
        }
        run_round(&units, round, &ctx, &slots, &mut |msg| {
            match msg {
                Msg::Started(what) => current = what,
                Msg::Done(runs, id, took) => {
                    done += runs;
                    let c = cost.entry(id).or_default();
                    c.0 += 1;
                    c.1 += took.as_secs_f64();
                }
                Msg::Failed(_) => {}
            }
            events(super::AbEvent::Run(&Progress {
                done,
                total,
                unit: "runs",
                budget: None,
                current: current.clone(),
            }));
        })?;
        if round == 0 {
            let silent = silent_binaries(&units, &homes);
            units.retain(|((b, _), _)| !silent.iter().any(|(n, _)| n == b));
            left_out.extend(silent.into_iter().map(|(_, note)| note));
            measured_by = units
                .iter()
                .map(|((bin, id), _)| (id.clone(), bin.clone()))
                .collect();
            total = done + (plan.rounds - 1) * runs_per_round(&units);
            let left = start.elapsed().as_secs_f64() * (plan.rounds - 1) as f64;
            events(super::AbEvent::Status(&format!(
                "round 1 took {:.0} s: about {:.0} min to go",
                start.elapsed().as_secs_f64(),
                (left / 60.0).ceil()
            )));
        }
        // Early stop: a benchmark whose rounds so far already see the target effect
        // needs no more (its noise is judged, never its change).
        if let Some(target) = plan.target_mde
            && round + 1 >= plan.min_rounds
            && round + 1 < plan.rounds
        {
            let d: BTreeMap<String, Vec<f64>> = read_rounds(&homes, round + 1)?
                .into_iter()
                .map(|r| {
                    let d = r.log_ratios();
                    (r.id, d)
                })
                .collect();
            let before = units.len();
            units.retain(|((_, id), _)| {
                let settled = d.get(id).and_then(|d| {
                    crate::paired::minimum_detectable(d, suite, &plan.levels)
                        .filter(|mde| *mde <= target)
                });
                if settled.is_some() {
                    stopped_early.push((id.clone(), round + 1));
                }
                settled.is_none()
            });
            if units.len() < before {
                total = done + (plan.rounds - round - 1) * runs_per_round(&units);
                events(super::AbEvent::Status(&format!(
                    "round {}: {} benchmark(s) reached a minimum detectable effect of {:.1} % \
                     and stop; {} go on",
                    round + 1,
                    before - units.len(),
                    target * 100.0,
                    units.len()
                )));
            }
            if units.is_empty() {
                break;
            }
        }
    }
    events(super::AbEvent::Run(&Progress {
        done: total,
        total,
        unit: "runs",
        budget: None,
        current: "done".into(),
    }));
    let mut cost: Vec<(String, usize, f64)> = cost
        .into_iter()
        .map(|(id, (n, secs))| (id, n, secs))
        .collect();
    cost.sort_by(|a, b| b.2.total_cmp(&a.2));
    Ok(Measured {
        homes,
        left_out,
        elapsed: start.elapsed(),
        cost,
        stopped_early,
        measured_by,
    })
}

impl Measured {
    /// Every benchmark's per-round values on both sides (the median per-iteration time
    /// of each run), read back with the Criterion loader.
    pub fn rounds(&self) -> Result<Vec<Rounds>, GateError> {
        match self.homes.first() {
            Some(first) => read_rounds(&self.homes, first.len()),
            None => Ok(Vec::new()),
        }
    }

    /// Whether no benchmark was measured (no binary listed a Criterion benchmark).
    pub fn is_empty(&self) -> bool {
        self.homes.is_empty()
    }
}

/// Every benchmark's values in the first `upto` rounds of `homes[side][round]`, read
/// back with the Criterion loader (a round not run yet holds nothing).
fn read_rounds(homes: &[Vec<PathBuf>], upto: usize) -> Result<Vec<Rounds>, GateError> {
    let measured = "process rounds";
    let mut by_id: BTreeMap<String, Rounds> = BTreeMap::new();
    for (s, homes) in homes.iter().enumerate() {
        for (r, home) in homes.iter().take(upto).enumerate() {
            if !home.exists() {
                continue;
            }
            for (id, e) in criterion::load(home, "new")? {
                let entry = by_id.entry(id.clone()).or_insert_with(|| Rounds {
                    id,
                    unit: e.unit,
                    direction: e.direction,
                    base: vec![None; upto],
                    head: vec![None; upto],
                    measured: measured.into(),
                });
                let side = if s == 0 {
                    &mut entry.base
                } else {
                    &mut entry.head
                };
                side[r] = Some(e.value);
            }
        }
    }
    Ok(by_id.into_values().collect())
}

/// Copies the rounds' Criterion output from `scratch` into `into`, with a manifest
/// naming each side's bench executables and which binary measures which benchmark.
pub fn keep(
    into: &Path,
    scratch: &Path,
    sides: &[Side; 2],
    measured: &Measured,
) -> Result<(), GateError> {
    for side in sides {
        let from = scratch.join(side.name);
        if from.exists() {
            super::reuse::copy_tree(&from, &into.join(side.name))?;
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
    let path = into.join("manifest.json");
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| GateError::Json {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    std::fs::write(&path, json).map_err(|e| GateError::io(&path, e))
}
