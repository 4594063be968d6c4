//! `bench-gate ab`'s options: the command line (clap's derive) and its checks. Some
//! defaults depend on the pairing: a lockstep pair is a fraction of a second, a
//! process round a Criterion run of its own.

use std::path::PathBuf;
use std::time::Duration;

use super::Pairing;
use super::shard::Shard;
use crate::GateError;
use crate::accept::PrOptions;
use crate::command::Reports;
use crate::paired::MIN_ROUNDS;

/// What `bench-gate ab` compares, how long it measures, and what it writes.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct AbOptions {
    /// The base revision (a commit, branch or tag).
    #[arg(long)]
    pub base: String,
    /// The head revision (default: the working tree, uncommitted changes included).
    #[arg(long)]
    pub head: Option<String>,
    /// How base and head are paired: in lockstep, sample by sample under a barrier,
    /// through the lockstep harness swapped in for criterion (`alternate`: one side at
    /// a time; `together`: both at once on one CPU; `duet`: both at once, a CPU each);
    /// or in process rounds, one Criterion run per side and round (`shared-cpu`: both
    /// at once on one CPU; `sequential`: one after the other).
    #[arg(long, value_enum, default_value_t = Pairing::Alternate)]
    pub pairing: Pairing,
    /// Measuring stops when this much time is spent (`90s`, `10m`, `1h`; a bare number
    /// is seconds): every benchmark gets `--min-rounds` pairs, then those whose minimum
    /// detectable effect is still above `--target-mde` get more while it lasts.
    /// Lockstep only; without it, `--rounds` bounds the pairs.
    #[arg(long, value_parser = parse_budget)]
    pub budget: Option<Duration>,
    /// The minimum detectable effect, per cent, at which a benchmark has been measured
    /// enough: after `--min-rounds` it gets no more pairs (rounds). One still above it
    /// at the end, with no change seen, is `inconclusive`. Decided on its noise alone,
    /// never on its change (0: no target).
    #[arg(long, visible_alias = "stop-at-mde", default_value_t = 1.0)]
    pub target_mde: f64,
    /// The most pairs (rounds) a benchmark gets without `--budget` (default: 30 lockstep
    /// pairs, 10 process rounds).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// The pairs (rounds) every benchmark gets before it may stop (default 5).
    #[arg(long)]
    pub min_rounds: Option<usize>,
    /// Warm-up per benchmark, side and pair (round), seconds (default: 0.01 in
    /// lockstep, 0.1 in process rounds).
    #[arg(long)]
    pub warm_up: Option<f64>,
    /// Lockstep: samples per side and pair of a benchmark that keeps one core busy (at
    /// least 3); one that waits or runs threads takes samples for 0.3 s per side (at
    /// least two).
    #[arg(long, default_value_t = 3)]
    pub samples: usize,
    /// Lockstep: one sample's wall time, milliseconds; both sides run the same
    /// iteration count, chosen per pair for samples of about this long, each after
    /// half a slice untimed.
    #[arg(long, default_value_t = 5.0)]
    pub slice: f64,
    /// Process rounds: Criterion's measurement time per run, seconds.
    #[arg(long, default_value_t = 0.3)]
    pub time: f64,
    /// Process rounds: Criterion's `--sample-size` per run (at least 10, Criterion's
    /// least; 0: each benchmark's own). A run only gives one value per round, and a
    /// benchmark slower than `--time` allows costs `n (n + 1) / 2` iterations.
    #[arg(long, default_value_t = 10)]
    pub sample_size: usize,
    /// Process rounds: pairs measured at once, each on its own CPU (shared-cpu).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// The policy file (default: the base revision's thresholds.toml, else the built-in
    /// one).
    #[arg(long)]
    pub thresholds: Option<PathBuf>,
    /// The seed of the run order's shuffle (default: from the clock; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The longest a benchmark process may take to reach its benchmark or answer a
    /// sample, or a process round may run, before it counts as hung (killed, retried
    /// once), seconds.
    #[arg(long, default_value_t = 600.0)]
    pub run_timeout: f64,
    /// Keep what was measured in this directory, which must not exist yet: every
    /// lockstep pair with its samples (`pairs.json`), and the process rounds' Criterion
    /// output with a `manifest.json`.
    #[arg(long)]
    pub keep_runs: Option<PathBuf>,
    /// Count each lockstep benchmark's instructions under Callgrind too, both sides, and
    /// judge the counts (the default where valgrind is installed).
    #[arg(long, overrides_with = "no_instructions")]
    pub instructions: bool,
    /// Judge wall time alone: no instruction counts.
    #[arg(long)]
    pub no_instructions: bool,
    /// One more argument for every `cargo bench --no-run` of both sides (repeatable):
    /// `--cargo-arg=--bench=NAME` builds one bench target, `--cargo-arg=--features=X`.
    #[arg(long = "cargo-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub cargo_args: Vec<String>,
    /// Measure part K of N of the suite (e.g. `2/4`), for `bench-gate merge` to join
    /// with the other parts; this run's own exit is 0 unless it could not measure.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Balance the shards by the costs in this earlier `ab --json` report (else: by id).
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub shard_costs: Option<PathBuf>,
    /// The PR's description, author and labels, for accept lines.
    #[command(flatten)]
    pub pr: PrOptions,
    /// The reports to write.
    #[command(flatten)]
    pub reports: Reports,
    /// A Criterion filter (a regex on benchmark ids), as after `cargo bench --`.
    #[arg(last = true)]
    pub filter: Option<String>,
}

impl AbOptions {
    /// The most pairs (`lockstep`) or rounds per benchmark.
    pub fn most_rounds(&self, lockstep: bool) -> usize {
        self.rounds.unwrap_or(if lockstep { 30 } else { 10 })
    }

    /// The pairs (`lockstep`) or rounds every benchmark gets (never more than the most).
    pub fn least_rounds(&self, lockstep: bool) -> usize {
        let least = self.min_rounds.unwrap_or(5);
        least.min(self.most_rounds(lockstep))
    }

    /// The warm-up per pair (`lockstep`) or run, seconds.
    pub fn warm_up_secs(&self, lockstep: bool) -> f64 {
        self.warm_up.unwrap_or(if lockstep { 0.01 } else { 0.1 })
    }

    /// A lockstep sample's wall time (`--slice`).
    pub fn sample_slice(&self) -> Duration {
        Duration::from_secs_f64(self.slice / 1e3)
    }

    /// The longest a benchmark process may take to answer (`--run-timeout`).
    pub fn run_limit(&self) -> Duration {
        Duration::from_secs_f64(self.run_timeout)
    }

    /// Whether the instruction counts are wanted (unless valgrind is missing).
    pub fn counts_wanted(&self) -> bool {
        !self.no_instructions && self.pairing.is_lockstep()
    }

    /// The target minimum detectable effect as a fraction (`None`: no target).
    pub fn target(&self) -> Option<f64> {
        (self.target_mde > 0.0).then_some(self.target_mde / 100.0)
    }

    /// Checks every value; a bad one is an error naming its flag.
    pub fn check(&self) -> Result<(), GateError> {
        let bad = |flag: &str, what: String| Err(GateError::Ab(format!("{flag}: {what}")));
        let lockstep = self.pairing.is_lockstep();
        let (most, least) = (self.most_rounds(lockstep), self.least_rounds(lockstep));
        if !(MIN_ROUNDS..=1000).contains(&most) {
            return bad(
                "--rounds",
                format!("{most} (a paired verdict needs {MIN_ROUNDS} to 1000)"),
            );
        }
        if least < MIN_ROUNDS {
            return bad(
                "--min-rounds",
                format!("{least}: a minimum detectable effect needs {MIN_ROUNDS} rounds"),
            );
        }
        let seconds = |x: f64| x.is_finite() && x > 0.0 && x <= 3600.0;
        if !seconds(self.time) {
            return bad("--time", format!("{} s: use (0, 3600]", self.time));
        }
        if !seconds(self.warm_up_secs(lockstep)) {
            let w = self.warm_up_secs(lockstep);
            return bad("--warm-up", format!("{w} s: use (0, 3600]"));
        }
        if self.sample_size != 0 && self.sample_size < 10 {
            return bad(
                "--sample-size",
                format!(
                    "{}: Criterion needs at least 10 (0: each benchmark's own)",
                    self.sample_size
                ),
            );
        }
        if self.samples < 3 || self.samples > 100_000 {
            return bad("--samples", format!("{}: use 3 to 100000", self.samples));
        }
        if !(self.slice.is_finite() && (0.01..=10_000.0).contains(&self.slice)) {
            return bad("--slice", format!("{} ms: use 0.01 to 10000", self.slice));
        }
        if !(self.target_mde.is_finite() && (0.0..=100.0).contains(&self.target_mde)) {
            let t = self.target_mde;
            return bad("--target-mde", format!("{t} %: use 0 (no target) to 100"));
        }
        if self.budget.is_some() && !self.pairing.is_lockstep() {
            return bad(
                "--budget",
                "only lockstep pairing measures to a budget; give process rounds --rounds".into(),
            );
        }
        if self.shard.is_some() && !lockstep {
            return bad(
                "--shard",
                "only lockstep pairing is split into shards".into(),
            );
        }
        if self.shard.is_some() && self.pr.pr_body.is_some() {
            return bad(
                "--pr-body",
                "a shard's verdicts are provisional: give the PR to `bench-gate merge`".into(),
            );
        }
        super::suite::Filter::new(self.filter.as_deref())?;
        if self.jobs == 0 {
            return bad("--jobs", "0: at least one pair must run".into());
        }
        if !(self.run_timeout.is_finite() && self.run_timeout >= 1.0) {
            let t = self.run_timeout;
            return bad("--run-timeout", format!("{t} s: use at least 1"));
        }
        Ok(())
    }
}

/// `90s`, `10m`, `1h` or a bare number of seconds, as a duration.
fn parse_budget(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = match text.as_bytes().last() {
        Some(b's') => (&text[..text.len() - 1], 1.0),
        Some(b'm') => (&text[..text.len() - 1], 60.0),
        Some(b'h') => (&text[..text.len() - 1], 3600.0),
        _ => (text, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(Duration::from_secs_f64(n * scale)),
        _ => Err(format!("{text:?} is not a duration such as 90s, 10m or 1h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_read_as_people_write_them() {
        assert_eq!(parse_budget("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_budget("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_budget("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_budget(" 45 "), Ok(Duration::from_secs(45)));
        for bad in ["", "m", "-3m", "ten minutes", "0s", "NaN"] {
            assert!(parse_budget(bad).is_err(), "{bad:?}");
        }
    }
}
