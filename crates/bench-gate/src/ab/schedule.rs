//! Lockstep pairs over a suite: which benchmark gets the next pair, and when
//! measuring stops.
//!
//! 1. **Every benchmark** gets `min_pairs` pairs (fresh processes on both sides), in
//!    rounds whose order is shuffled (seeded), the side that starts alternating from
//!    pair to pair.
//!    Those whose pairs are cheap are then topped up to ten pairs (at most two seconds
//!    each), from which on the decision trims the pairs far out.
//! 2. **Then, levels the budget can reach**: while a benchmark's minimum detectable
//!    effect is above the target, it is open. Its time to a level is the pairs it
//!    still needs at its spread so far (the t quantiles of that many pairs included)
//!    times the seconds one of its pairs takes. Each round aims at the lowest level of
//!    [`LADDER`] (1, 1.25, 1.5, 2, 3, 5 times the target) to which the budget left can
//!    carry at least half of the open benchmarks still above it, takes those it can
//!    carry, cheapest first, and gives each pairs worth up to [`SLICE`] seconds toward
//!    it (without a budget: every open benchmark, toward the target). So a benchmark
//!    that needs an hour waits until those that need seconds are done, one whose
//!    estimate keeps moving cannot take the budget from the rest, and when the target
//!    is out of reach for most, the budget still moves the median down. It stops when
//!    none is open, every open one is at `max_pairs`, or the budget is spent (a pair is
//!    only started while it fits). Measured on this suite with 10 minutes (docs/gate.md):
//!    spread evenly, every benchmark got ten pairs and the median minimum detectable
//!    effect was 4.5 %.
//!
//! Which benchmark measures next is decided on the pairs' spread alone, never on their
//! change, so nothing stops because it looks unchanged. A pair that fails is run again
//! once; a second failure is an error naming the benchmark, the side and the sample.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;

use super::build::BenchBinary;
use super::kind::Kind;
use super::lockstep::{self, Pair, PairRun, Settings};
use super::process::{interrupted, interruption};
use crate::GateError;
use crate::paired::{TRIM_FROM, minimum_detectable};
use crate::thresholds::PairedLevels;

/// The most seconds of pairs one benchmark gets per round before the others' turn.
pub const SLICE: f64 = 2.0;

/// The most seconds topping one benchmark up to ten pairs may take.
pub const TOP_UP: f64 = 2.0;

/// The levels a budgeted round may aim at, as multiples of the target minimum
/// detectable effect.
pub const LADDER: [f64; 6] = [1.0, 1.25, 1.5, 2.0, 3.0, 5.0];

/// One benchmark measured in lockstep: its id and its binary on each side.
#[derive(Clone, Debug)]
pub struct Bench {
    /// The benchmark's id.
    pub id: String,
    /// Its binary on the base's and the head's side.
    pub binaries: [BenchBinary; 2],
}

/// How long and how far to measure.
#[derive(Clone, Debug)]
pub struct Plan {
    /// How each pair is measured.
    pub settings: Settings,
    /// Pairs every benchmark gets.
    pub min_pairs: usize,
    /// Pairs no benchmark goes beyond.
    pub max_pairs: usize,
    /// Measuring stops when this is spent (`None`: at `max_pairs`).
    pub budget: Option<Duration>,
    /// A benchmark stays open while its minimum detectable effect is above this.
    pub target_mde: Option<f64>,
    /// The benchmarks judged in the run, for the MDE's multiplicity.
    pub suite: usize,
    /// The paired levels the MDE is computed at.
    pub levels: PairedLevels,
    /// The shuffle's seed.
    pub seed: u64,
}

/// What the pairs measured.
#[derive(Debug, Default)]
pub struct Measured {
    /// Every benchmark's pairs, in the order they ran.
    pub pairs: BTreeMap<String, Vec<PairRun>>,
    /// How long measuring took.
    pub elapsed: Duration,
    /// The benchmarks still above the target MDE when measuring stopped, and why it
    /// stopped for them (`budget` or `max_pairs`).
    pub unsettled: BTreeMap<String, &'static str>,
}

/// What a progress display hears: the pair just started, pairs done, pairs planned.
pub struct Step<'a> {
    /// `pair n: id`.
    pub current: &'a str,
    /// Pairs done.
    pub done: usize,
    /// Pairs planned so far (grows while benchmarks stay open).
    pub planned: usize,
    /// With a budget: the seconds spent and the budget's.
    pub budget: Option<(f64, f64)>,
}

/// Runs the pairs `plan` describes for `benches`, with logs and sockets in `dir`.
pub fn measure(
    benches: &[Bench],
    plan: &Plan,
    dir: &Path,
    progress: &mut dyn FnMut(Step<'_>),
) -> Result<Measured, GateError> {
    let mut run = Runner {
        benches,
        plan,
        dir,
        start: Instant::now(),
        measured: Measured::default(),
        done: 0,
    };
    run.first_pairs(progress)?;
    run.top_up(progress)?;
    run.budgeted_rounds(progress)?;
    let mut measured = run.measured;
    let still_open: Vec<String> = measured
        .pairs
        .iter()
        .filter(|(_, pairs)| plan.target_mde.is_some() && !settled(pairs, plan))
        .map(|(id, _)| id.clone())
        .collect();
    for id in still_open {
        measured.unsettled.entry(id).or_insert("max_pairs");
    }
    measured
        .unsettled
        .retain(|id, _| !settled(&measured.pairs[id], plan));
    measured.elapsed = run.start.elapsed();
    Ok(measured)
}

/// The state of a measurement in progress.
struct Runner<'a> {
    benches: &'a [Bench],
    plan: &'a Plan,
    dir: &'a Path,
    start: Instant,
    measured: Measured,
    /// Pairs run.
    done: usize,
}

impl Runner<'_> {
    /// Every benchmark's first pairs, in rounds shuffled by the seed (after the fewest
    /// a verdict needs, only while the budget lasts).
    fn first_pairs(&mut self, progress: &mut dyn FnMut(Step<'_>)) -> Result<(), GateError> {
        let mut rng = SplitMix64::seed_from_u64(self.plan.seed);
        let mut order: Vec<usize> = (0..self.benches.len()).collect();
        let planned = self.benches.len() * self.plan.min_pairs;
        for round in 0..self.plan.min_pairs {
            for i in (1..order.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            for &b in &order {
                if round >= crate::paired::MIN_ROUNDS && !self.fits(b) {
                    self.out_of_budget(b);
                    continue;
                }
                self.pair(b, progress, planned)?;
            }
        }
        Ok(())
    }

    /// Tops every open benchmark up to [`TRIM_FROM`] pairs where that takes at most
    /// [`TOP_UP`] seconds: from ten pairs on, the decision trims the pairs far out, so a
    /// cheap benchmark whose pairs scatter (a contended lock: pairs of a tenth of a
    /// second, 16 % apart) is not left with the interval of five the budget's rounds
    /// would never give it more than.
    fn top_up(&mut self, progress: &mut dyn FnMut(Step<'_>)) -> Result<(), GateError> {
        for b in 0..self.benches.len() {
            let have = self
                .measured
                .pairs
                .get(&self.benches[b].id)
                .map_or(0, Vec::len);
            let missing = TRIM_FROM.saturating_sub(have);
            if missing == 0 || missing as f64 * self.cost(b) > TOP_UP {
                continue;
            }
            for _ in 0..missing {
                if self.done_with(b) || !self.fits(b) {
                    break;
                }
                self.pair(b, progress, self.done + missing)?;
            }
        }
        Ok(())
    }

    /// The rounds after the first pairs, while a benchmark is open and the budget lasts.
    fn budgeted_rounds(&mut self, progress: &mut dyn FnMut(Step<'_>)) -> Result<(), GateError> {
        let mut open: Vec<usize> = (0..self.benches.len())
            .filter(|&b| !self.measured.unsettled.contains_key(&self.benches[b].id))
            .collect();
        loop {
            open.retain(|&b| !self.done_with(b));
            if open.is_empty() {
                return Ok(());
            }
            let (level, round) = self.next_round(&open);
            for b in round {
                let want = (self.time_to(b, level).min(SLICE) / self.cost(b)).ceil();
                for _ in 0..want.max(1.0) as usize {
                    if !self.fits(b) {
                        open.retain(|&x| x != b);
                        self.out_of_budget(b);
                        break;
                    }
                    self.pair(b, progress, self.done + open.len())?;
                    if self.done_with(b) {
                        break;
                    }
                }
            }
        }
    }

    /// Whether `b` needs no more pairs: at the target, or at `max_pairs`.
    fn done_with(&self, b: usize) -> bool {
        let pairs = &self.measured.pairs[&self.benches[b].id];
        pairs.len() >= self.plan.max_pairs || settled(pairs, self.plan)
    }

    /// Records that the budget ran out for `b`.
    fn out_of_budget(&mut self, b: usize) {
        let id = self.benches[b].id.clone();
        self.measured.unsettled.insert(id, "budget");
    }

    /// Runs one more pair of benchmark `b`.
    fn pair(
        &mut self,
        b: usize,
        progress: &mut dyn FnMut(Step<'_>),
        planned: usize,
    ) -> Result<(), GateError> {
        if interrupted() {
            return Err(interruption());
        }
        let bench = &self.benches[b];
        let pairs = self.measured.pairs.entry(bench.id.clone()).or_default();
        let round = pairs.len();
        let current = format!("pair {}: {}", round + 1, bench.id);
        progress(Step {
            current: &current,
            done: self.done,
            planned: planned.max(self.done + 1),
            budget: self
                .plan
                .budget
                .map(|b| (self.start.elapsed().as_secs_f64(), b.as_secs_f64())),
        });
        let first = (round + b) % 2;
        let kind = pairs.first().map(|p| p.kind);
        let run = run_twice(bench, (round, first, kind), self.plan, self.dir)?;
        pairs.push(run);
        self.done += 1;
        Ok(())
    }

    /// Whether one more pair of `b` fits in the budget (always, without one).
    fn fits(&self, b: usize) -> bool {
        let Some(budget) = self.plan.budget else {
            return true;
        };
        self.start.elapsed() + typical_cost(&self.measured, &self.benches[b].id) <= budget
    }

    /// The next round: the level it aims at and its benchmarks. Without a budget,
    /// every open benchmark, at the target. With one, the lowest of [`LADDER`] (times
    /// the target) to which the budget left can carry at least half of the open
    /// benchmarks still above it, and those it can carry, cheapest first; every open
    /// one when no level qualifies.
    fn next_round(&self, open: &[usize]) -> (f64, Vec<usize>) {
        let target = self.plan.target_mde.unwrap_or(0.0);
        let Some(budget) = self.plan.budget else {
            return (target, open.to_vec());
        };
        let left = budget.as_secs_f64() - self.start.elapsed().as_secs_f64();
        for factor in LADDER {
            let level = target * factor;
            let mut above: Vec<(f64, usize)> = open
                .iter()
                .filter(|&&b| self.mde(b) > level)
                .map(|&b| (self.time_to(b, level), b))
                .collect();
            above.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut spent = 0.0;
            let carried: Vec<usize> = above
                .iter()
                .take_while(|(t, _)| {
                    spent += t;
                    spent <= left
                })
                .map(|&(_, b)| b)
                .collect();
            if !carried.is_empty() && 2 * carried.len() >= above.len() {
                return (level, carried);
            }
        }
        (target, open.to_vec())
    }

    /// The minimum detectable effect of `b`'s pairs so far.
    fn mde(&self, b: usize) -> f64 {
        let d = self.estimates(b);
        crate::paired::minimum_detectable(&d, self.plan.suite, &self.plan.levels)
            .unwrap_or(f64::INFINITY)
    }

    fn estimates(&self, b: usize) -> Vec<f64> {
        let pairs = &self.measured.pairs[&self.benches[b].id];
        pairs.iter().filter_map(|p| p.estimate).collect()
    }

    /// The seconds one pair of `b` takes (the mean of its pairs so far).
    fn cost(&self, b: usize) -> f64 {
        typical_cost(&self.measured, &self.benches[b].id)
            .as_secs_f64()
            .max(1e-3)
    }

    /// The seconds `b` would need to reach a minimum detectable effect of `level` at
    /// its spread so far (its pairs still needed, times a pair's seconds).
    fn time_to(&self, b: usize, level: f64) -> f64 {
        let d = self.estimates(b);
        let needed = crate::paired::rounds_needed(&d, self.plan.suite, &self.plan.levels, level);
        let more = needed.map_or(1e9, |n| n.saturating_sub(d.len()).max(1) as f64);
        more * self.cost(b)
    }
}

/// Whether `pairs` already reach the plan's target MDE (no target: never, so every
/// benchmark runs to `max_pairs` or the budget).
fn settled(pairs: &[PairRun], plan: &Plan) -> bool {
    let Some(target) = plan.target_mde else {
        return false;
    };
    let d: Vec<f64> = pairs.iter().filter_map(|p| p.estimate).collect();
    minimum_detectable(&d, plan.suite, &plan.levels).is_some_and(|mde| mde <= target)
}

/// The seconds one more pair of `id` should take: the mean of its pairs so far.
fn typical_cost(measured: &Measured, id: &str) -> Duration {
    let pairs = measured.pairs.get(id).map_or(&[][..], Vec::as_slice);
    if pairs.is_empty() {
        return Duration::ZERO;
    }
    let mean = pairs.iter().map(|p| p.seconds).sum::<f64>() / pairs.len() as f64;
    Duration::from_secs_f64(mean)
}

/// One pair of `bench` (its round, the side that runs first and the kind its first pair
/// found), run again once if it fails.
fn run_twice(
    bench: &Bench,
    (round, first, kind): (usize, usize, Option<Kind>),
    plan: &Plan,
    dir: &Path,
) -> Result<PairRun, GateError> {
    let mut last = None;
    for attempt in 1..=2 {
        let pair = Pair {
            id: &bench.id,
            binaries: [Some(&bench.binaries[0]), Some(&bench.binaries[1])],
            dir,
            stem: format!(
                "{}-{}-round{}-try{attempt}",
                bench.binaries[1].name,
                super::rounds::file_stem(&bench.id),
                round + 1
            ),
            first,
            kind,
        };
        match lockstep::run(&pair, &plan.settings) {
            Ok(run) => return Ok(run),
            Err(e) if interrupted() => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(GateError::Ab(format!(
        "round {}: a pair failed twice: {}",
        round + 1,
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ab::build::BenchBinary;
    use crate::ab::kind::Order;
    use crate::ab::lockstep::Sample;

    /// A pair of `seconds` whose estimate is `estimate`.
    fn pair(estimate: f64, seconds: f64) -> PairRun {
        let sample = Sample {
            value: 1.0,
            wall_ns: 1,
            cpu_ns: 1,
        };
        PairRun {
            iters: 1,
            unit: "ns".into(),
            samples: [vec![sample], vec![sample]],
            first: 0,
            cores: [1.0, 1.0],
            kind: Kind::Busy,
            order: Order::Alternate,
            pinned: vec![0],
            seconds,
            estimate: Some(estimate),
        }
    }

    fn plan(budget: Option<f64>) -> Plan {
        Plan {
            settings: Settings {
                warm_up: Duration::from_millis(20),
                slice: Duration::from_millis(10),
                samples: 3,
                order: Order::Alternate,
                cpus: vec![0],
                timeout: Duration::from_secs(60),
            },
            min_pairs: 5,
            max_pairs: 100_000,
            budget: budget.map(Duration::from_secs_f64),
            target_mde: Some(0.01),
            suite: 3,
            levels: crate::thresholds::PairedLevels::default(),
            seed: 1,
        }
    }

    /// Five pairs spread `sd` around zero, each `seconds` long.
    fn pairs(sd: f64, seconds: f64) -> Vec<PairRun> {
        [-1.0, -0.5, 0.0, 0.5, 1.0]
            .iter()
            .map(|z| pair(z * sd, seconds))
            .collect()
    }

    #[test]
    fn a_round_takes_those_the_budget_can_carry_to_the_target_cheapest_first() {
        let bin = BenchBinary {
            name: "b".into(),
            path: "/nonexistent".into(),
            dir: "/".into(),
        };
        let benches: Vec<Bench> = ["quiet", "noisy", "hopeless"]
            .iter()
            .map(|id| Bench {
                id: (*id).into(),
                binaries: [bin.clone(), bin.clone()],
            })
            .collect();
        let with_budget = plan(Some(120.0));
        let mut run = Runner {
            benches: &benches,
            plan: &with_budget,
            dir: Path::new("/"),
            start: Instant::now(),
            measured: Measured::default(),
            done: 0,
        };
        run.measured.pairs.insert("quiet".into(), pairs(0.004, 0.2));
        run.measured.pairs.insert("noisy".into(), pairs(0.01, 0.2));
        run.measured
            .pairs
            .insert("hopeless".into(), pairs(0.2, 0.2));
        let times: Vec<f64> = (0..3).map(|b| run.time_to(b, 0.01)).collect();
        assert!(times[0] < times[1] && times[1] < times[2], "{times:?}");
        assert!(times[1] < 120.0 && times[2] > 120.0, "{times:?}");
        // The hopeless one waits while two of three can still be carried to the target.
        assert_eq!(run.next_round(&[2, 1, 0]), (0.01, vec![0, 1]));
        // Alone, it aims at the lowest level the budget can carry it to.
        let (level, chosen) = run.next_round(&[2]);
        assert!(level > 0.01 && chosen == [2], "{level}: {chosen:?}");
        // Without a budget, every open one, toward the target.
        let unbounded = plan(None);
        run.plan = &unbounded;
        assert_eq!(run.next_round(&[2, 1, 0]), (0.01, vec![2, 1, 0]));
    }

    #[test]
    fn with_the_target_out_of_reach_a_round_aims_at_a_level_half_can_reach() {
        let bin = BenchBinary {
            name: "b".into(),
            path: "/nonexistent".into(),
            dir: "/".into(),
        };
        let benches: Vec<Bench> = (0..4)
            .map(|i| Bench {
                id: format!("b{i}"),
                binaries: [bin.clone(), bin.clone()],
            })
            .collect();
        let tight = plan(Some(30.0));
        let mut run = Runner {
            benches: &benches,
            plan: &tight,
            dir: Path::new("/"),
            start: Instant::now(),
            measured: Measured::default(),
            done: 0,
        };
        for (i, sd) in [0.03, 0.03, 0.05, 0.3].iter().enumerate() {
            run.measured.pairs.insert(format!("b{i}"), pairs(*sd, 0.2));
        }
        let (level, chosen) = run.next_round(&[0, 1, 2, 3]);
        assert!(level > 0.01, "{level}");
        assert!(
            chosen.len() * 2 >= 4 && !chosen.contains(&3),
            "{level}: {chosen:?}"
        );
        for &b in &chosen {
            assert!(run.time_to(b, level) <= 30.0, "{b} at {level}");
        }
    }
}
