//! What a decision produces, whichever way it was reached: the [`Verdict`] per
//! benchmark, its [`Comparison`] with the figures behind it, and the [`Decision`] over a
//! run. Shared by the baseline decision (`decide`), the paired one (`paired`), and the
//! reports that print them; it depends on none of them.

use serde::Serialize;

use crate::model::{Direction, Entry, Source, Unit};

/// The verdict on one benchmark, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Beyond the critical level (and significant, for wall time): fails the gate.
    Critical,
    /// Beyond the warning level.
    Warning,
    /// A regression the PR accepted, within the bound it stated (`bench-gate:
    /// accept ID up to N%`, by someone the base's policy allows): passes the gate.
    Accepted,
    /// Not comparable with the baseline (environment differs where it matters).
    Incomparable,
    /// In the baseline, absent from the run.
    Missing,
    /// In the run, absent from the baseline.
    New,
    /// No change seen, but the run could not have seen one of the size it was asked
    /// to see (its minimum detectable effect is above the target): measure longer.
    Inconclusive,
    /// Better than the baseline beyond the warning level (and significant).
    Improved,
    /// Within the levels, or not significant.
    Unchanged,
}

impl Verdict {
    /// The lowercase name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Critical => "critical",
            Verdict::Warning => "warning",
            Verdict::Accepted => "accepted",
            Verdict::Incomparable => "incomparable",
            Verdict::Missing => "missing",
            Verdict::New => "new",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
        }
    }
}

/// One benchmark's comparison and verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The benchmark id.
    pub id: String,
    /// Its source.
    pub source: Source,
    /// The unit of `current` and `baseline`.
    pub unit: Unit,
    /// Which way is better.
    pub direction: Direction,
    /// The verdict.
    pub verdict: Verdict,
    /// This run's value.
    pub current: Option<f64>,
    /// The baseline's value.
    pub baseline: Option<f64>,
    /// current / baseline − 1 (signed, as measured).
    pub change: Option<f64>,
    /// This run's confidence interval.
    pub ci: Option<[f64; 2]>,
    /// The Holm-adjusted one-sided p-value of the change's direction (wall time).
    pub p_value: Option<f64>,
    /// The relative warning and critical levels applied (after the noise floor).
    pub levels: Option<[f64; 2]>,
    /// The rule that set the levels, if any.
    pub rule: Option<String>,
    /// Why: which bound was crossed, or why nothing was judged.
    pub reason: String,
    /// The minimum detectable effect (`bench-gate ab`): the relative regression this
    /// run would have called critical with 80 % probability at its noise.
    pub mde: Option<f64>,
    /// What the paired rounds showed (`bench-gate ab` only).
    pub paired: Option<PairedStats>,
    /// Which moved, when the benchmark's instructions were counted too (`bench-gate
    /// ab`): `more work (instructions +3.02 %)`, `same work, slower (…)`, …; kept out
    /// of `reason`, and printed after it ([`Comparison::why`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work: Option<String>,
}

impl Comparison {
    /// The reason with which moved after it, as the reports print it.
    pub fn why(&self) -> String {
        match &self.work {
            Some(work) => format!("{}; {work}", self.reason),
            None => self.reason.clone(),
        }
    }

    /// A benchmark with nothing judged yet: `Unchanged`, no figures, no reason.
    pub fn new(id: &str, source: Source, unit: Unit, direction: Direction) -> Self {
        Comparison {
            id: id.to_owned(),
            source,
            unit,
            direction,
            verdict: Verdict::Unchanged,
            current: None,
            baseline: None,
            change: None,
            ci: None,
            p_value: None,
            levels: None,
            rule: None,
            reason: String::new(),
            mde: None,
            paired: None,
            work: None,
        }
    }

    /// `entry` as this run measured it: its value and interval, nothing judged yet.
    pub fn of(entry: &Entry) -> Self {
        let mut c = Comparison::new(&entry.id, entry.source, entry.unit, entry.direction);
        c.current = Some(entry.value);
        c.ci = entry.ci;
        c
    }
}

/// A run's verdicts and what they add up to.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// One per benchmark, worst first, then by id.
    pub comparisons: Vec<Comparison>,
    /// Benchmarks actually judged (against a baseline or an absolute bound).
    pub judged: usize,
}

impl Decision {
    /// The decision over `comparisons`, sorted worst first, then by id.
    pub fn sorted(comparisons: Vec<Comparison>, judged: usize) -> Self {
        let mut d = Decision {
            comparisons,
            judged,
        };
        d.sort();
        d
    }

    /// Sorts the comparisons again, worst first, then by id, after verdicts changed.
    pub fn sort(&mut self) {
        self.comparisons
            .sort_by(|a, b| (a.verdict, &a.id).cmp(&(b.verdict, &b.id)));
    }

    /// The number of benchmarks with `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.comparisons
            .iter()
            .filter(|c| c.verdict == verdict)
            .count()
    }
}

/// What the paired rounds showed for one benchmark.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedStats {
    /// Rounds with a value on both sides.
    pub rounds: usize,
    /// The 95 % interval of the relative change (head / base − 1), not adjusted for
    /// multiplicity.
    pub change_ci: [f64; 2],
    /// The smallest and largest per-round change.
    pub spread: [f64; 2],
    /// When the per-round changes split into two groups: both groups.
    pub bimodal: Option<String>,
    /// The base's value in each paired round, in round order.
    pub base_rounds: Vec<f64>,
    /// The head's value in each paired round, in round order.
    pub head_rounds: Vec<f64>,
    /// How the rounds were measured.
    pub measured: String,
}
