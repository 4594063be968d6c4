//! Accepting an expected regression without editing code: a line in the PR's
//! description,
//!
//! ```text
//! bench-gate: accept graph_planning/plan/1000 up to 12%
//! ```
//!
//! turns that benchmark's `critical` or `warning` into `accepted` when the change is
//! within the bound: for wall time the upper end of its 95 % interval (the change may
//! be that large), for instruction counts the change itself. Who may accept is the
//! base's policy (`[accept]` in thresholds.toml), never the PR's: the lines count when
//! the PR's author is one of `by`, or when the PR carries the policy's `label` (only
//! people with triage or write access can apply a label, so applying it is a
//! maintainer's act). Without either, the lines are noted and ignored.

use std::path::PathBuf;

use serde::Deserialize;

use crate::GateError;
use crate::counts::PREFIX;
use crate::model::Direction;
use crate::verdict::{Comparison, Decision, Verdict};

/// Who may accept a regression (`[accept]` in thresholds.toml); by default nobody.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptPolicy {
    /// GitHub logins whose own PR descriptions may accept.
    #[serde(default)]
    pub by: Vec<String>,
    /// A label that makes the description's accept lines count, whoever wrote them.
    pub label: Option<String>,
}

/// What the PR says, for the accept lines (`bench-gate ab` and `merge`).
#[derive(Clone, Debug, Default, PartialEq, clap::Args)]
pub struct PrOptions {
    /// A file holding the PR's description, where `bench-gate: accept ID up to N%`
    /// lines are read.
    #[arg(long, value_name = "FILE")]
    pub pr_body: Option<PathBuf>,
    /// The PR's author (a GitHub login), checked against the policy's `[accept] by`.
    #[arg(long, value_name = "LOGIN")]
    pub pr_author: Option<String>,
    /// A label the PR carries (repeatable), checked against the policy's `[accept]
    /// label`.
    #[arg(long = "pr-label", value_name = "NAME")]
    pub pr_labels: Vec<String>,
}

/// One accept line: a benchmark and the largest regression accepted for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Acceptance {
    /// The benchmark id, as written.
    pub id: String,
    /// The bound, relative (0.12 = 12 %).
    pub bound: f64,
    /// The line's number in the description, from 1.
    pub line: usize,
}

/// The accept lines of `body`: every line starting with `bench-gate:` (after an
/// optional list marker) must read `accept ID up to N%`; any other is an error naming
/// its line, so a typo is never silently ignored.
pub fn parse(body: &str, file: &str) -> Result<Vec<Acceptance>, GateError> {
    let mut found = Vec::new();
    for (n, raw) in body.lines().enumerate() {
        let text = raw.trim().trim_start_matches(['-', '*', '>', ' ']).trim();
        let Some(rest) = text.strip_prefix("bench-gate:") else {
            continue;
        };
        let bad = |why: &str| {
            GateError::Accept(format!(
                "{file}, line {}: {text:?}: {why}; write `bench-gate: accept ID up to N%`",
                n + 1
            ))
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let [verb, id, up, to, bound] = words[..] else {
            return Err(bad("not an accept line"));
        };
        if verb != "accept" || up != "up" || to != "to" {
            return Err(bad("not an accept line"));
        }
        let pct: f64 = bound
            .strip_suffix('%')
            .ok_or_else(|| bad("the bound is not a percentage"))?
            .parse()
            .map_err(|_| bad("the bound is not a number"))?;
        if !(pct.is_finite() && pct > 0.0 && pct <= 1000.0) {
            return Err(bad("the bound must be above 0 % and at most 1000 %"));
        }
        found.push(Acceptance {
            id: id.trim_matches('`').to_owned(),
            bound: pct / 100.0,
            line: n + 1,
        });
    }
    Ok(found)
}

/// Who accepts under `policy`, as the report shows it, or `None` when nobody may.
fn accepter(pr: &PrOptions, policy: &AcceptPolicy) -> Option<String> {
    if let Some(author) = &pr.pr_author
        && policy.by.iter().any(|b| b.eq_ignore_ascii_case(author))
    {
        return Some(format!("@{author} (the PR's author, in the policy's `by`)"));
    }
    let label = policy.label.as_ref()?;
    pr.pr_labels
        .iter()
        .any(|l| l == label)
        .then(|| format!("the label `{label}`"))
}

/// The largest regression the comparison's figures allow, relative: the upper end of
/// a paired interval, else the change itself, in the metric's bad direction.
fn worst_case(c: &Comparison) -> Option<f64> {
    let ci = c.paired.as_ref().map(|p| p.change_ci);
    match c.direction {
        Direction::LowerIsBetter => ci.map(|[_, hi]| hi).or(c.change),
        Direction::HigherIsBetter => ci.map(|[lo, _]| -lo).or(c.change.map(|x| -x)),
    }
}

/// Applies the PR's accept lines to `decision` under `policy`; returns the notes to
/// show (lines ignored, benchmarks with nothing to accept). A line naming a benchmark
/// the run does not have is an error.
pub fn apply(
    decision: &mut Decision,
    pr: &PrOptions,
    policy: &AcceptPolicy,
) -> Result<Vec<String>, GateError> {
    let Some(path) = &pr.pr_body else {
        return Ok(Vec::new());
    };
    let body = std::fs::read_to_string(path).map_err(|e| GateError::io(path, e))?;
    let lines = parse(&body, &path.display().to_string())?;
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let Some(who) = accepter(pr, policy) else {
        let author = pr.pr_author.as_deref().unwrap_or("an unnamed author");
        return Ok(vec![format!(
            "{} accept line(s) ignored: the base's policy lets {author} accept nothing \
             (`[accept]` in thresholds.toml names who may, and which label makes the lines count)",
            lines.len()
        )]);
    };
    let mut notes = Vec::new();
    for a in &lines {
        let counted = format!("{PREFIX}{}", a.id);
        let mut matched = decision
            .comparisons
            .iter_mut()
            .filter(|c| c.id == a.id || c.id == counted)
            .peekable();
        if matched.peek().is_none() {
            return Err(GateError::Accept(format!(
                "{}, line {}: accepts `{}`, which this run did not measure",
                path.display(),
                a.line,
                a.id
            )));
        }
        let mut any = false;
        for c in matched {
            any |= accept_one(c, a, &who);
        }
        if !any {
            notes.push(format!(
                "`{}`: accepted up to {:.1} % by {who}, but it did not regress",
                a.id,
                a.bound * 100.0
            ));
        }
    }
    decision.sort();
    Ok(notes)
}

/// Accepts `c` when it regressed within the bound; returns whether it regressed.
fn accept_one(c: &mut Comparison, a: &Acceptance, who: &str) -> bool {
    if !matches!(c.verdict, Verdict::Critical | Verdict::Warning) {
        return false;
    }
    let bound = a.bound * 100.0;
    match worst_case(c) {
        Some(worst) if worst <= a.bound => {
            c.reason = format!(
                "accepted up to {bound:.1} % by {who} (was {}: {})",
                c.verdict.name(),
                c.reason
            );
            c.verdict = Verdict::Accepted;
        }
        worst => {
            let worst = worst.map_or("unknown".into(), |w| format!("{:.2} %", w * 100.0));
            c.reason.push_str(&format!(
                "; accepted up to {bound:.1} % by {who}, but the change may be {worst}: \
                 beyond the bound"
            ));
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Source, Unit};
    use crate::verdict::PairedStats;

    fn body(lines: &[&str]) -> String {
        lines.join("\n")
    }

    #[test]
    fn reads_accept_lines_and_names_a_bad_one() {
        let text = body(&[
            "Speeds up parsing.",
            "- bench-gate: accept graph_planning/plan/1000 up to 12%",
            "bench-gate: accept `work/spin` up to 2.5%",
        ]);
        let found = parse(&text, "body.md").unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].id, "graph_planning/plan/1000");
        assert!((found[0].bound - 0.12).abs() < 1e-12);
        assert_eq!((found[1].id.as_str(), found[1].line), ("work/spin", 3));
        for bad in [
            "bench-gate: accept x up to 12",
            "bench-gate: accept x up to -3%",
            "bench-gate: accept x upto 3%",
            "bench-gate: ignore x",
        ] {
            let e = parse(&body(&["ok", bad]), "body.md")
                .unwrap_err()
                .to_string();
            assert!(e.contains("body.md, line 2"), "{e}");
        }
    }

    fn regressed(id: &str, verdict: Verdict, ci: [f64; 2]) -> Comparison {
        let mut c = Comparison::new(
            id,
            Source::WallTime,
            Unit::Nanoseconds,
            Direction::LowerIsBetter,
        );
        c.verdict = verdict;
        c.change = Some((ci[0] + ci[1]) / 2.0);
        c.reason = "beyond the level".into();
        c.paired = Some(PairedStats {
            rounds: 10,
            change_ci: ci,
            spread: ci,
            bimodal: None,
            base_rounds: vec![],
            head_rounds: vec![],
            measured: String::new(),
        });
        c
    }

    fn run(
        lines: &[&str],
        author: &str,
        labels: &[&str],
    ) -> Result<(Decision, Vec<String>), GateError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body.md");
        std::fs::write(&path, body(lines)).unwrap();
        let mut d = Decision::sorted(
            vec![
                regressed("a", Verdict::Critical, [0.02, 0.04]),
                regressed("b", Verdict::Critical, [0.05, 0.07]),
                regressed("c", Verdict::Unchanged, [-0.01, 0.01]),
            ],
            3,
        );
        let pr = PrOptions {
            pr_body: Some(path),
            pr_author: Some(author.into()),
            pr_labels: labels.iter().map(|l| l.to_string()).collect(),
        };
        let policy = AcceptPolicy {
            by: vec!["Maintainer".into()],
            label: Some("perf-accepted".into()),
        };
        let notes = apply(&mut d, &pr, &policy)?;
        Ok((d, notes))
    }

    fn verdict_of(d: &Decision, id: &str) -> Verdict {
        d.comparisons.iter().find(|c| c.id == id).unwrap().verdict
    }

    #[test]
    fn accepts_within_the_bound_and_not_beyond() {
        let lines = [
            "bench-gate: accept a up to 5%",
            "bench-gate: accept b up to 5%",
            "bench-gate: accept c up to 5%",
        ];
        let (d, notes) = run(&lines, "maintainer", &[]).unwrap();
        assert_eq!(verdict_of(&d, "a"), Verdict::Accepted);
        assert_eq!(verdict_of(&d, "b"), Verdict::Critical);
        let b = d.comparisons.iter().find(|c| c.id == "b").unwrap();
        assert!(
            b.reason.contains("may be 7.00 %: beyond the bound"),
            "{}",
            b.reason
        );
        let a = d.comparisons.iter().find(|c| c.id == "a").unwrap();
        assert!(a.reason.contains("by @maintainer"), "{}", a.reason);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("`c`") && notes[0].contains("did not regress"));
    }

    #[test]
    fn a_label_lets_anyone_s_lines_count_and_nothing_else_does() {
        let lines = ["bench-gate: accept a up to 5%"];
        let (d, _) = run(&lines, "contributor", &["perf-accepted"]).unwrap();
        assert_eq!(verdict_of(&d, "a"), Verdict::Accepted);
        let (d, notes) = run(&lines, "contributor", &["other"]).unwrap();
        assert_eq!(verdict_of(&d, "a"), Verdict::Critical);
        assert!(notes[0].contains("ignored"), "{notes:?}");
    }

    #[test]
    fn a_benchmark_the_run_does_not_have_is_an_error() {
        let e = run(&["bench-gate: accept nope up to 5%"], "maintainer", &[]).unwrap_err();
        assert!(e.to_string().contains("line 1: accepts `nope`"), "{e}");
    }
}
