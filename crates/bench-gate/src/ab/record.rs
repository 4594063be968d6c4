//! What `bench-gate ab` measured, kept in its `--json` report under `recorded`: every
//! benchmark's per-round values, the instruction counts, and the policy's text, so the
//! decision can be taken again from the file alone. `bench-gate merge` does that over
//! the shards of one suite; one decision function serves both, so a merged verdict is
//! the verdict one run over the union would have given.

use serde::{Deserialize, Serialize};

use super::count::{self, Counted};
use super::shard::Shard;
use crate::GateError;
use crate::paired::{Judging, Rounds, decide_paired};
use crate::thresholds::Policy;
use crate::verdict::Decision;

/// One run's measurements and what they were measured against.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recorded {
    /// The base's commit.
    pub base: String,
    /// The head: `REV (commit)`, or `the working tree`.
    pub head: String,
    /// The Criterion filter, if one was given.
    pub filter: Option<String>,
    /// Where the policy was read from, and its text.
    pub policy: (String, String),
    /// Whether every value was measured with the machine to itself.
    pub alone: bool,
    /// The target minimum detectable effect, relative.
    pub target_mde: Option<f64>,
    /// Which part of the suite this is, when it is one.
    pub shard: Option<Shard>,
    /// When this is a shard: every id of the whole suite.
    pub whole: Vec<String>,
    /// Every benchmark's per-round values.
    pub rounds: Vec<Rounds>,
    /// The benchmarks whose pairs kept one core busy (their work on the counted thread).
    pub one_thread: Vec<String>,
    /// The instruction counts, when taken.
    pub counted: Option<Counted>,
    /// Per benchmark: rounds run and the seconds its pairs took.
    pub cost: Vec<(String, usize, f64)>,
    /// How the sides were paired.
    pub how: String,
    /// How long measuring took, seconds.
    pub seconds: f64,
}

impl Recorded {
    /// The policy it was judged by, parsed again from its text.
    pub fn policy(&self) -> Result<Policy, GateError> {
        Policy::parse(&self.policy.1, std::path::Path::new(&self.policy.0))
    }

    /// The paired verdicts, joined with the instruction counts' where they were taken.
    pub fn decide(&self, policy: &Policy) -> Result<Decision, GateError> {
        let judging = Judging {
            absolute: self.alone,
            target_mde: self.target_mde,
        };
        let mut decision = decide_paired(&self.rounds, policy, judging)?;
        if let Some(counted) = &self.counted {
            let alone = |id: &str| self.one_thread.iter().any(|x| x == id);
            count::join(&mut decision, counted, policy, &alone)?;
        }
        Ok(decision)
    }

    /// What the counts leave out: benchmarks not countable, system calls not counted.
    pub fn count_notes(&self) -> Vec<String> {
        let Some(counted) = &self.counted else {
            return Vec::new();
        };
        let mut notes: Vec<String> = counted
            .not_countable
            .iter()
            .map(|(id, why)| format!("`{id}`: {why}"))
            .collect();
        notes.extend(counted.syscalls.iter().map(|(id, calls)| {
            format!(
                "`{id}`: counted, but its routine makes {}: the kernel's work is not in \
                 its counts",
                count::syscalls_text(*calls)
            )
        }));
        notes
    }
}
