//! How a comparison is measured, and what it hands to the decision.
//!
//! With lockstep pairing, the benchmarks of binaries built with the harness on both
//! sides are measured in lockstep pairs ([`super::schedule`]); the other Criterion
//! benches (a binary whose `criterion` the harness could not stand in for) in
//! shared-CPU process rounds ([`super::rounds`]), each benchmark's verdict saying which.
//! Either way every benchmark ends as per-round values on both sides ([`Rounds`]): a
//! lockstep pair is one round, its base value the geometric mean of the base's
//! samples, its head value that times the pair's estimated ratio.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::build::BenchBinary;
use super::count;
use super::kind::{Kind, Order};
use super::lockstep::{self, Pair, PairRun, Settings};
use super::rounds::{self, Pairing, Side};
use super::schedule;
use super::sides::Built;
use super::suite::{self, Filter};
use super::{AbEvent, AbOptions, Progress, process};
use crate::GateError;
use crate::model::{Direction, Unit};
use crate::paired::Rounds;
use crate::thresholds::Policy;

/// What was measured, ready for the decision and the reports.
pub struct Measurement {
    /// Every benchmark's per-round values.
    pub rounds: Vec<Rounds>,
    /// Whether every value was measured with the machine to itself (absolute bounds
    /// apply to the head's values).
    pub alone: bool,
    /// How the sides were paired, for the report's header.
    pub how: String,
    /// The most rounds (pairs) any benchmark had.
    pub most_rounds: usize,
    /// What a reader should know about the measurement.
    pub notes: Vec<String>,
    /// Per benchmark: rounds run and the seconds its pairs took, costliest first.
    pub cost: Vec<(String, usize, f64)>,
    /// How long measuring took.
    pub elapsed: Duration,
    /// When this is one shard: every id of the whole suite, sorted.
    pub whole: Vec<String>,
    /// The lockstep pairs, per benchmark, with every sample.
    pub pairs: BTreeMap<String, Vec<PairRun>>,
    /// The process rounds, with the sides they measured.
    process_rounds: Option<(rounds::Measured, [Side; 2])>,
    /// The instruction counts, when they were taken.
    pub counted: Option<count::Counted>,
}

/// What every part of a measurement shares.
struct Context<'a> {
    options: &'a AbOptions,
    policy: &'a Policy,
    seed: u64,
    scratch: &'a Path,
}

/// Measures the benchmarks of both built sides as `options` say.
pub fn measure(
    options: &AbOptions,
    built: &Built,
    policy: &Policy,
    seed: u64,
    scratch: &Path,
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<Measurement, GateError> {
    let ctx = Context {
        options,
        policy,
        seed,
        scratch,
    };
    let sides = [built.base.clone(), built.head.clone()];
    if !options.pairing.is_lockstep() {
        let measured = in_rounds(&ctx, sides, options.pairing, events)?;
        if measured.rounds.is_empty() {
            return Err(nothing_to_measure(&measured.notes));
        }
        return Ok(measured);
    }
    let filter = Filter::new(options.filter.as_deref())?;
    let mut suite = suite::classify([&sides[0], &sides[1]], &filter, &scratch.join("logs"))?;
    if let Some(shard) = options.shard {
        let costs = match &options.shard_costs {
            Some(path) => super::shard::costs(path)?,
            None => BTreeMap::new(),
        };
        suite.keep_shard(shard, &costs);
    }
    let mut measured = match suite.rounds.iter().any(|r| !r.is_empty()) {
        true => in_rounds(&ctx, suite.rounds.clone(), Pairing::SharedCpu, events)?,
        false => Measurement::empty(),
    };
    measured.notes.extend(suite.notes.iter().cloned());
    measured.whole.clone_from(&suite.whole);
    if suite.lockstep.is_empty() && suite.one_sided.is_empty() {
        // A shard may be given none of the suite: it measured its part, nothing.
        return match measured.rounds.is_empty() && options.shard.is_none() {
            false => Ok(measured),
            true => Err(nothing_to_measure(&measured.notes)),
        };
    }
    in_lockstep(&ctx, &suite, &mut measured, events)?;
    if options.counts_wanted() && !suite.lockstep.is_empty() {
        in_counts(&ctx, &suite, &mut measured, events)?;
    }
    Ok(measured)
}

/// Counts the lockstep benchmarks' instructions under Callgrind into `measured`, or
/// notes why not (valgrind missing, or not x86-64, where the harness cannot ask
/// Callgrind to count).
fn in_counts(
    ctx: &Context<'_>,
    suite: &suite::Suite,
    measured: &mut Measurement,
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<(), GateError> {
    let Some(version) = count::valgrind().filter(|_| cfg!(target_arch = "x86_64")) else {
        measured.notes.push(
            "instruction counts skipped: valgrind was not found (or this is not x86-64); \
             wall time alone is judged"
                .into(),
        );
        return Ok(());
    };
    let slice = ctx.options.sample_slice();
    let iters = measured
        .pairs
        .iter()
        .map(|(id, p)| (id.clone(), count::iterations(p[0].iters, slice)))
        .collect();
    let dir = ctx.scratch.join("counts");
    let total = suite.lockstep.len();
    let limit = ctx.options.run_limit();
    let counted = count::count(&suite.lockstep, &iters, limit, (&dir, &version), events)?;
    measured.notes.push(format!(
        "instruction counts: {} of {total} benchmarks counted under Callgrind ({version}), \
         in {:.0} s",
        counted.sides[0].len(),
        counted.seconds
    ));
    measured.counted = Some(counted);
    Ok(())
}

/// Measures the suite's lockstep benchmarks (and those on one side only) into
/// `measured`.
fn in_lockstep(
    ctx: &Context<'_>,
    suite: &suite::Suite,
    measured: &mut Measurement,
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<(), GateError> {
    // A shard's stopping rule sees the whole suite's multiplicity, as `merge` will.
    let here = suite.lockstep.len() + suite.one_sided.len();
    let judged = here.max(suite.whole.len()) + measured.rounds.len();
    let plan = lockstep_plan(ctx.options, ctx.policy, judged, ctx.seed);
    let within = ctx.options.budget.map_or(String::new(), |b| {
        format!(", within {:.0} s", b.as_secs_f64())
    });
    events(AbEvent::Status(&format!(
        "measuring {} benchmarks in lockstep pairs ({}; at least {} pairs each{within}) ...",
        suite.lockstep.len(),
        order_name(plan.settings.order),
        plan.min_pairs,
    )));
    let dir = ctx.scratch.join("lockstep");
    std::fs::create_dir_all(&dir).map_err(|e| GateError::io(&dir, e))?;
    let mut progress = |step: schedule::Step<'_>| {
        events(AbEvent::Run(&Progress {
            done: step.done,
            total: step.planned,
            unit: "pairs",
            budget: step.budget,
            current: step.current.to_owned(),
        }));
    };
    if plan.settings.order != Order::Duet {
        lockstep::remember_cpus();
        process::keep_off(plan.settings.cpus[0]);
    }
    let lockstep = schedule::measure(&suite.lockstep, &plan, &dir, &mut progress)?;
    let solo = one_sided(&suite.one_sided, &plan, &dir)?;
    measured.absorb(lockstep, solo, &plan);
    Ok(())
}

/// The error for a comparison with nothing to measure, with what was left out and why.
fn nothing_to_measure(notes: &[String]) -> GateError {
    GateError::Ab(format!(
        "no Criterion benchmarks to measure: {}",
        match notes.is_empty() {
            true => "cargo bench --no-run built no bench target".to_owned(),
            false => notes.join("; "),
        }
    ))
}

/// The lockstep plan `options` describe, for a run judging `judged` benchmarks.
fn lockstep_plan(options: &AbOptions, policy: &Policy, judged: usize, seed: u64) -> schedule::Plan {
    let order = match options.pairing {
        Pairing::Together => Order::Together,
        Pairing::Duet => Order::Duet,
        _ => Order::Alternate,
    };
    let allowed = process::allowed_cpus();
    let wanted = if order == Order::Duet { 2 } else { 1 };
    let cpus = process::idlest_cpus(
        &allowed,
        wanted.min(allowed.len()),
        Duration::from_millis(500),
    );
    let slice = options.sample_slice();
    schedule::Plan {
        settings: Settings {
            warm_up: Duration::from_secs_f64(options.warm_up_secs(true)),
            slice,
            samples: options.samples,
            order,
            cpus,
            timeout: options.run_limit(),
        },
        min_pairs: options.least_rounds(true),
        max_pairs: if options.budget.is_some() {
            100_000
        } else {
            options.most_rounds(true)
        },
        budget: options.budget,
        target_mde: options.target(),
        suite: judged,
        levels: policy.paired,
        seed,
    }
}

fn order_name(order: Order) -> &'static str {
    match order {
        Order::Alternate => "alternating, one side at a time",
        Order::Together => "both sides at once on one CPU",
        Order::Duet => "both sides at once, a CPU each",
    }
}

/// Benchmarks on one side only, each measured alone in one pair so the report has its
/// value.
fn one_sided(
    benches: &[(String, usize, BenchBinary)],
    plan: &schedule::Plan,
    dir: &Path,
) -> Result<Vec<(String, usize, PairRun)>, GateError> {
    let mut out = Vec::new();
    for (n, (id, s, bin)) in benches.iter().enumerate() {
        let mut binaries = [None, None];
        binaries[*s] = Some(bin);
        let pair = Pair {
            id,
            binaries,
            dir,
            stem: format!("solo-{n}"),
            first: *s,
            kind: None,
        };
        out.push((id.clone(), *s, lockstep::run(&pair, &plan.settings)?));
    }
    Ok(out)
}

/// Process rounds over `sides` (base, head) with `pairing`.
fn in_rounds(
    ctx: &Context<'_>,
    sides: [Vec<BenchBinary>; 2],
    pairing: Pairing,
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<Measurement, GateError> {
    let (options, policy, seed, scratch) = (ctx.options, ctx.policy, ctx.seed, ctx.scratch);
    let plan = rounds::Plan {
        rounds: options.most_rounds(false),
        warm_up: options.warm_up_secs(false),
        time: options.time,
        filter: options.filter.clone(),
        seed,
        run_timeout: options.run_limit(),
        pairing,
        cpus: {
            let cpus = process::allowed_cpus();
            let jobs = options.jobs.clamp(1, cpus.len());
            process::idlest_cpus(&cpus, jobs, Duration::from_millis(500))
        },
        sample_size: (options.sample_size != 0).then_some(options.sample_size),
        target_mde: options.target(),
        min_rounds: options.least_rounds(false),
        levels: policy.paired,
    };
    let sides = [
        Side {
            name: "base",
            binaries: sides[0].clone(),
        },
        Side {
            name: "head",
            binaries: sides[1].clone(),
        },
    ];
    let measured = rounds::measure(&sides, &plan, scratch, events)?;
    let mut notes = measured.left_out.clone();
    if measured.is_empty() {
        let mut empty = Measurement::empty();
        empty.notes = notes;
        return Ok(empty);
    }
    if !measured.stopped_early.is_empty() {
        let mut by_round: BTreeMap<usize, usize> = BTreeMap::new();
        for (_, r) in &measured.stopped_early {
            *by_round.entry(*r).or_default() += 1;
        }
        notes.push(format!(
            "{} benchmark(s) stopped early, their minimum detectable effect already at most \
             {} % ({}): decided on their noise, never on their change",
            measured.stopped_early.len(),
            options.target_mde,
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
    let how = match pairing {
        Pairing::Sequential => "process rounds, one side after the other".to_owned(),
        _ => {
            notes.push(format!(
                "shared-CPU process rounds on CPU {:?}: each benchmark's base and head ran at \
                 once on one CPU, so the values shown are about twice their time alone; the \
                 changes are what is judged, and absolute bounds are left to `check`",
                plan.cpus
            ));
            "process rounds, both sides at once on one CPU".to_owned()
        }
    };
    let mut rounds = measured.rounds()?;
    let short = match pairing {
        Pairing::Sequential => "process rounds, one side after the other",
        _ => "process rounds, shared CPU",
    };
    for r in &mut rounds {
        r.measured = short.into();
    }
    Ok(Measurement {
        rounds,
        alone: pairing == Pairing::Sequential,
        how,
        most_rounds: options.most_rounds(false),
        notes,
        cost: measured.cost.clone(),
        elapsed: measured.elapsed,
        whole: Vec::new(),
        pairs: BTreeMap::new(),
        process_rounds: Some((measured, sides)),
        counted: None,
    })
}

impl Measurement {
    /// Whether benchmark `id`'s pairs found it keeping one core busy: its work all on
    /// the thread Callgrind counts.
    pub fn on_one_thread(&self, id: &str) -> bool {
        let kind = self.pairs.get(id).and_then(|p| p.first()).map(|p| p.kind);
        kind == Some(Kind::Busy)
    }

    fn empty() -> Measurement {
        Measurement {
            rounds: Vec::new(),
            alone: true,
            how: String::new(),
            most_rounds: 0,
            notes: Vec::new(),
            cost: Vec::new(),
            elapsed: Duration::ZERO,
            whole: Vec::new(),
            pairs: BTreeMap::new(),
            process_rounds: None,
            counted: None,
        }
    }

    /// Adds the lockstep pairs (and the one-sided benchmarks' solo runs).
    fn absorb(
        &mut self,
        lockstep: schedule::Measured,
        solo: Vec<(String, usize, PairRun)>,
        plan: &schedule::Plan,
    ) {
        for (id, pairs) in &lockstep.pairs {
            let unit = unit_of(&pairs[0].unit);
            let base: Vec<Option<f64>> = pairs.iter().map(|p| p.value(0)).collect();
            let head = pairs
                .iter()
                .zip(&base)
                .map(|(p, b)| Some(b.as_ref()? * p.estimate?.exp()))
                .collect();
            self.rounds.push(Rounds {
                id: id.clone(),
                unit,
                direction: Direction::LowerIsBetter,
                base,
                head,
                measured: how_measured(pairs),
            });
            let secs: f64 = pairs.iter().map(|p| p.seconds).sum();
            self.cost.push((id.clone(), pairs.len(), secs));
            self.most_rounds = self.most_rounds.max(pairs.len());
        }
        for (id, s, run) in solo {
            let value = run.value(s);
            let (base, head) = if s == 0 {
                (vec![value], vec![None])
            } else {
                (vec![None], vec![value])
            };
            self.rounds.push(Rounds {
                id,
                unit: unit_of(&run.unit),
                direction: Direction::LowerIsBetter,
                measured: how_measured(std::slice::from_ref(&run)),
                base,
                head,
            });
        }
        self.cost.sort_by(|a, b| b.2.total_cmp(&a.2));
        self.elapsed += lockstep.elapsed;
        let at_once: Vec<&str> = lockstep
            .pairs
            .iter()
            .filter(|(_, pairs)| pairs.iter().any(|p| p.order != Order::Alternate))
            .map(|(id, _)| id.as_str())
            .collect();
        let mut lockstep_how = format!("lockstep pairs, {}", order_name(plan.settings.order));
        if !at_once.is_empty() && plan.settings.order == Order::Alternate {
            lockstep_how += "; both at once for those that wait or run threads";
            self.notes.push(format!(
                "{} benchmark(s) sampled both sides at once (they wait or run threads), so \
                 their values are not their time alone: absolute bounds are left to `check`",
                at_once.len()
            ));
        }
        self.how = match self.how.is_empty() {
            true => lockstep_how,
            false => format!("{lockstep_how}; {}", self.how),
        };
        self.alone &= at_once.is_empty();
        if !lockstep.unsettled.is_empty() {
            self.notes.push(unsettled_note(&lockstep.unsettled));
        }
        self.pairs = lockstep.pairs;
    }

    /// Copies what was measured into `keep`: every lockstep pair with its samples
    /// (`pairs.json`) and the process rounds' Criterion output with a manifest.
    pub fn keep(&self, keep: &Path, scratch: &Path) -> Result<(), GateError> {
        let partial = keep.with_extension("partial");
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).map_err(|e| GateError::io(&partial, e))?;
        if let Some((measured, sides)) = &self.process_rounds {
            rounds::keep(&partial, scratch, sides, measured)?;
        }
        if !self.pairs.is_empty() {
            let path = partial.join("pairs.json");
            let json = serde_json::to_vec(&self.pairs).map_err(|e| GateError::Json {
                path: path.clone(),
                detail: e.to_string(),
            })?;
            std::fs::write(&path, json).map_err(|e| GateError::io(&path, e))?;
        }
        std::fs::rename(&partial, keep).map_err(|e| GateError::io(keep, e))
    }
}

/// How a benchmark's lockstep pairs ran, for its line in the report: by its kind (one
/// side at a time pinned to one CPU, both at once sharing one, or both at once on every
/// CPU), and the time one iteration took when a sample was one iteration.
fn how_measured(pairs: &[PairRun]) -> String {
    let cores = pairs.iter().flat_map(|p| p.cores).fold(0.0f64, f64::max);
    let cpu = pairs.iter().find_map(|p| p.pinned.first());
    let mut how = match (pairs.first().map(|p| (p.kind, p.order)), cpu) {
        (Some((Kind::Threads, _)), _) => {
            format!("lockstep, both at once on every CPU ({cores:.1} cores busy)")
        }
        (_, None) => format!("lockstep, every CPU ({cores:.1} cores busy)"),
        (Some((Kind::Waiting, _)), Some(c)) => {
            format!("lockstep, both at once on CPU {c} (waiting: {cores:.1} cores busy)")
        }
        (Some((_, Order::Duet)), Some(_)) => "lockstep, both at once, a CPU each".to_owned(),
        (Some((_, Order::Together)), Some(c)) => format!("lockstep, both at once on CPU {c}"),
        (_, Some(c)) => format!("lockstep, CPU {c}"),
    };
    let per_iteration = pairs
        .iter()
        .filter(|p| p.iters == 1)
        .filter_map(|p| p.value(0).or(p.value(1)))
        .fold(0.0f64, f64::max);
    if per_iteration > 1e9 {
        how += &format!(
            ", {:.1} s per iteration: one per sample",
            per_iteration / 1e9
        );
    }
    how
}

/// The report's unit for a harness's unit.
fn unit_of(unit: &str) -> Unit {
    Unit::parse(unit).map_or(Unit::Number, |(u, _)| u)
}

/// The note on the benchmarks still above the target MDE when measuring stopped: how
/// many, and why (the budget, or `--rounds`), naming them when they are few; each
/// benchmark's line has its verdict and MDE.
fn unsettled_note(unsettled: &BTreeMap<String, &'static str>) -> String {
    let budget = unsettled.values().filter(|why| **why == "budget").count();
    let mut why = Vec::new();
    if budget > 0 {
        why.push(format!("{budget} when the budget was spent"));
    }
    if unsettled.len() > budget {
        why.push(format!("{} at `--rounds`", unsettled.len() - budget));
    }
    let named = match unsettled.len() {
        1..=5 => format!(
            ": {}",
            unsettled.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        _ => String::new(),
    };
    format!(
        "{} benchmark(s) still above the target minimum detectable effect when measuring \
         stopped ({}){named}; those with no change seen are `inconclusive`, each with its MDE",
        unsettled.len(),
        why.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ab::lockstep::Sample;

    fn pair(iters: u64, ns: f64, pinned: Vec<usize>, cores: f64) -> PairRun {
        let sample = Sample {
            value: ns * iters as f64,
            wall_ns: 1,
            cpu_ns: 1,
        };
        PairRun {
            iters,
            unit: "ns".into(),
            samples: [vec![sample; 3], vec![sample; 3]],
            first: 0,
            cores: [cores, cores],
            kind: Kind::of(&[cores, cores], true),
            order: Kind::of(&[cores, cores], true).order(Order::Alternate),
            pinned,
            seconds: 1.0,
            estimate: Some(0.0),
        }
    }

    #[test]
    fn the_report_says_how_each_benchmark_was_measured() {
        let pinned = [
            pair(1000, 50.0, vec![1], 1.0),
            pair(1000, 50.0, vec![1], 1.0),
        ];
        assert_eq!(how_measured(&pinned), "lockstep, CPU 1");
        let threads = [pair(100, 5e3, vec![], 1.96)];
        assert_eq!(
            how_measured(&threads),
            "lockstep, both at once on every CPU (2.0 cores busy)"
        );
        let unpinned = [pair(1000, 50.0, vec![], 1.0)];
        assert_eq!(
            how_measured(&unpinned),
            "lockstep, every CPU (1.0 cores busy)"
        );
        let waiting = [pair(1, 2.7e7, vec![0], 0.27)];
        assert_eq!(
            how_measured(&waiting),
            "lockstep, both at once on CPU 0 (waiting: 0.3 cores busy)"
        );
        let slow = [pair(1, 1.5e9, vec![0], 1.0)];
        assert_eq!(
            how_measured(&slow),
            "lockstep, CPU 0, 1.5 s per iteration: one per sample"
        );
    }

    #[test]
    fn the_unsettled_note_counts_by_reason_and_names_only_a_few() {
        let few = BTreeMap::from([
            ("a/1".to_owned(), "budget"),
            ("a/2".to_owned(), "max_pairs"),
        ]);
        assert_eq!(
            unsettled_note(&few),
            "2 benchmark(s) still above the target minimum detectable effect when measuring \
             stopped (1 when the budget was spent, 1 at `--rounds`): a/1, a/2; those with no \
             change seen are `inconclusive`, each with its MDE"
        );
        let many: BTreeMap<String, &'static str> =
            (0..40).map(|i| (format!("b/{i}"), "budget")).collect();
        let note = unsettled_note(&many);
        assert!(note.starts_with("40 benchmark(s)"), "{note}");
        assert!(note.contains("(40 when the budget was spent);"), "{note}");
        assert!(!note.contains("b/1"), "{note}");
    }
}
