//! Which benchmarks a comparison measures, and how: every bench binary of both sides is
//! asked what it is (`--help`). Binaries built with the lockstep harness on both sides
//! list their benchmarks (`--list`), filtered here with the Criterion filter (a regex);
//! those the two sides share are measured in lockstep pairs, those on one side only
//! are `new` or `missing`. Every other binary is left to process rounds
//! ([`super::rounds`]), which measure the real Criterion's and leave out the rest.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::build::BenchBinary;
use super::harness::MARK;
use super::process::{Ended, run_bounded};
use super::schedule::Bench;
use super::shard::Shard;
use crate::GateError;

/// The benchmarks to measure, by how.
#[derive(Debug, Default)]
pub struct Suite {
    /// Benchmarks both sides have, measured in lockstep pairs.
    pub lockstep: Vec<Bench>,
    /// Lockstep benchmarks one side lacks: the id, the side that has it (0 base, 1
    /// head) and its binary there.
    pub one_sided: Vec<(String, usize, BenchBinary)>,
    /// The binaries left to process rounds, per side (base, head).
    pub rounds: [Vec<BenchBinary>; 2],
    /// What a reader should know (binaries built with the harness on one side only).
    pub notes: Vec<String>,
    /// When this is one shard: every id of the whole suite, sorted.
    pub whole: Vec<String>,
}

/// A compiled Criterion filter.
pub struct Filter(Option<regex_automata::meta::Regex>);

impl Filter {
    /// `text` as a regex on ids; an invalid one is an error naming it.
    pub fn new(text: Option<&str>) -> Result<Filter, GateError> {
        text.map(|t| {
            regex_automata::meta::Regex::new(t)
                .map_err(|e| GateError::Ab(format!("the filter {t:?} is not a valid regex: {e}")))
        })
        .transpose()
        .map(Filter)
    }

    /// Whether `id` passes.
    pub fn matches(&self, id: &str) -> bool {
        self.0.as_ref().is_none_or(|r| r.is_match(id))
    }
}

/// Whether `bin` was built with the lockstep harness (its `--help` says so).
fn is_harness(bin: &BenchBinary, logs: &Path) -> Result<bool, GateError> {
    let mut cmd = Command::new(&bin.path);
    cmd.current_dir(&bin.dir).arg("--help");
    let (out, err) = (logs.join("help-harness.out"), logs.join("help-harness.err"));
    run_bounded(cmd, &out, &err, Some(Duration::from_secs(60)))?;
    Ok(std::fs::read_to_string(&out).is_ok_and(|t| t.contains(MARK)))
}

/// The ids a harness binary lists.
fn list(bin: &BenchBinary, logs: &Path) -> Result<Vec<String>, GateError> {
    let mut cmd = Command::new(&bin.path);
    cmd.current_dir(&bin.dir).args(["--bench", "--list"]);
    let (out, err) = (logs.join("list-harness.out"), logs.join("list-harness.err"));
    match run_bounded(cmd, &out, &err, Some(Duration::from_secs(300)))? {
        Ended::Exited(s) if s.success() => {}
        Ended::Exited(s) => {
            return Err(GateError::Ab(format!(
                "{} --bench --list failed ({s}):\n{}",
                bin.path.display(),
                super::process::tail(&err, 20)
            )));
        }
        Ended::TimedOut => {
            return Err(GateError::Ab(format!(
                "{} --bench --list did not end within 300 s",
                bin.path.display()
            )));
        }
    }
    let text = std::fs::read_to_string(&out).map_err(|e| GateError::io(&out, e))?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_suffix(": benchmark"))
        .map(str::to_owned)
        .collect())
}

/// Sorts both sides' binaries (base, head) into lockstep benchmarks and binaries for
/// process rounds.
pub fn classify(
    sides: [&[BenchBinary]; 2],
    filter: &Filter,
    logs: &Path,
) -> Result<Suite, GateError> {
    let mut by_name: BTreeMap<&str, [Option<&BenchBinary>; 2]> = BTreeMap::new();
    for (s, bins) in sides.iter().enumerate() {
        for bin in bins.iter() {
            by_name.entry(&bin.name).or_default()[s] = Some(bin);
        }
    }
    let mut suite = Suite::default();
    for (name, bins) in by_name {
        let mut harness = [None, None];
        for s in 0..2 {
            if let Some(b) = bins[s] {
                harness[s] = Some(is_harness(b, logs)?);
            }
        }
        match (bins, harness) {
            ([Some(base), Some(head)], [Some(true), Some(true)]) => {
                add_lockstep(&mut suite, [base, head], filter, logs)?;
            }
            (_, [Some(true), Some(false)] | [Some(false), Some(true)]) => suite.notes.push(
                format!("{name}: built with the lockstep harness on one side only; left out"),
            ),
            _ => {
                for (side, bin) in suite.rounds.iter_mut().zip(bins) {
                    side.extend(bin.cloned());
                }
            }
        }
    }
    Ok(suite)
}

/// Adds the benchmarks of one binary built with the harness on both sides.
fn add_lockstep(
    suite: &mut Suite,
    bins: [&BenchBinary; 2],
    filter: &Filter,
    logs: &Path,
) -> Result<(), GateError> {
    let ids = [list(bins[0], logs)?, list(bins[1], logs)?];
    let mut seen: BTreeMap<&str, [bool; 2]> = BTreeMap::new();
    for (s, side_ids) in ids.iter().enumerate() {
        for id in side_ids.iter().filter(|id| filter.matches(id)) {
            seen.entry(id).or_default()[s] = true;
        }
    }
    for (id, on) in seen {
        match on {
            [true, true] => suite.lockstep.push(Bench {
                id: id.to_owned(),
                binaries: [bins[0].clone(), bins[1].clone()],
            }),
            [true, false] => suite.one_sided.push((id.to_owned(), 0, bins[0].clone())),
            _ => suite.one_sided.push((id.to_owned(), 1, bins[1].clone())),
        }
    }
    Ok(())
}

impl Suite {
    /// Every benchmark id this suite measures in lockstep or alone, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lockstep.iter().map(|b| b.id.clone()).collect();
        ids.extend(self.one_sided.iter().map(|(id, _, _)| id.clone()));
        ids.sort();
        ids
    }

    /// Keeps shard `shard`'s part of the suite as [`super::shard::assign`] splits it;
    /// the binaries left to process rounds (ids unknown until run) stay with shard 1.
    pub fn keep_shard(&mut self, shard: Shard, costs: &BTreeMap<String, f64>) {
        self.whole = self.ids();
        let split = super::shard::assign(&self.whole, costs, shard.count);
        let mine = |id: &str| split.get(id) == Some(&shard.index);
        self.lockstep.retain(|b| mine(&b.id));
        self.one_sided.retain(|(id, _, _)| mine(id));
        if shard.index != 1 && self.rounds.iter().any(|r| !r.is_empty()) {
            self.rounds = [Vec::new(), Vec::new()];
            self.notes.push(format!(
                "shard {shard}: the binaries measured in process rounds are shard 1's"
            ));
        }
    }
}
