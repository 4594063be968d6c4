//! `bench-gate merge`: the shards of one suite (`ab --shard K/N --json`) joined into one
//! decision, as if one run had measured them all: the shards' recorded rounds and counts
//! are put together and judged once ([`Recorded::decide`]), so Holm and the minimum
//! detectable effects see the whole suite's multiplicity, not a shard's. The shards must
//! come from one base, one head, one filter and one policy, each part once; anything
//! else is refused, naming the files.

use std::path::{Path, PathBuf};

use super::record::Recorded;
use crate::GateError;
use crate::accept::PrOptions;
use crate::command::{Exit, Reports, exit_for};
use crate::verdict::Decision;

/// What `bench-gate merge` joins and writes.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct MergeOptions {
    /// The shards' `--json` reports (`bench-gate ab --shard K/N --json FILE`), one per
    /// shard, in any order.
    #[arg(required = true, value_name = "SHARD.json")]
    pub shards: Vec<PathBuf>,
    /// The PR's description, author and labels, for accept lines.
    #[command(flatten)]
    pub pr: PrOptions,
    /// The reports to write.
    #[command(flatten)]
    pub reports: Reports,
}

/// The merged decision.
#[derive(Clone, Debug)]
pub struct Merged {
    /// One verdict per benchmark of the whole suite.
    pub decision: Decision,
    /// What was merged: the revisions, the shards, the policy.
    pub header: String,
    /// The shards' notes, each with its shard, and the accept lines' notes.
    pub notes: Vec<String>,
    /// The report files written.
    pub written: Vec<PathBuf>,
}

impl Merged {
    /// The exit code, as for `ab`.
    pub fn exit(&self) -> Exit {
        exit_for(&self.decision)
    }
}

/// A shard's `recorded` measurements and its notes, read from its report.
fn read(path: &Path) -> Result<(Recorded, Vec<String>), GateError> {
    let mut report: serde_json::Value = crate::read_json(path)?;
    let not_shard = |why: &str| {
        GateError::Merge(format!(
            "{}: {why}: give the --json reports of `bench-gate ab --shard K/N`",
            path.display()
        ))
    };
    let recorded: Recorded = serde_json::from_value(report["recorded"].take())
        .map_err(|e| not_shard(&format!("no measurements to merge ({e})")))?;
    if recorded.shard.is_none() {
        return Err(not_shard("a whole run, not a shard"));
    }
    let notes = serde_json::from_value(report["notes"].take()).unwrap_or_default();
    Ok((recorded, notes))
}

/// Refuses shards that are not the parts of one run, naming the files.
fn check(shards: &[(PathBuf, Recorded)]) -> Result<(), GateError> {
    let (first_path, first) = &shards[0];
    let count = first.shard.map_or(0, |s| s.count);
    for (path, r) in &shards[1..] {
        let differs = [
            ("base", r.base != first.base),
            ("head", r.head != first.head),
            ("filter", r.filter != first.filter),
            ("policy", r.policy.1 != first.policy.1),
            ("shard count", r.shard.map(|s| s.count) != Some(count)),
            ("suite", r.whole != first.whole),
        ];
        if let Some((what, _)) = differs.iter().find(|(_, d)| *d) {
            return Err(GateError::Merge(format!(
                "{} and {} are not shards of one run: their {what} differs (base {:.12} / \
                 {:.12}, head {} / {}, policy {} / {})",
                first_path.display(),
                path.display(),
                first.base,
                r.base,
                first.head,
                r.head,
                first.policy.0,
                r.policy.0
            )));
        }
    }
    for k in 1..=count {
        let with: Vec<&PathBuf> = shards
            .iter()
            .filter(|(_, r)| r.shard.map(|s| s.index) == Some(k))
            .map(|(p, _)| p)
            .collect();
        match with[..] {
            [_] => {}
            [] => {
                return Err(GateError::Merge(format!(
                    "shard {k}/{count} is missing: none of the {} reports given is it",
                    shards.len()
                )));
            }
            [a, b, ..] => {
                return Err(GateError::Merge(format!(
                    "{} and {} are both shard {k}/{count}",
                    a.display(),
                    b.display()
                )));
            }
        }
    }
    Ok(())
}

/// The shards' measurements as one run's; a benchmark in two shards is refused.
fn union(shards: Vec<(PathBuf, Recorded)>) -> Result<Recorded, GateError> {
    let mut seen = std::collections::BTreeMap::new();
    let mut iter = shards.into_iter();
    let (first_path, mut all) = iter.next().expect("at least one shard");
    for r in &all.rounds {
        seen.insert(r.id.clone(), first_path.clone());
    }
    for (path, r) in iter {
        for rounds in &r.rounds {
            if let Some(other) = seen.insert(rounds.id.clone(), path.clone()) {
                return Err(GateError::Merge(format!(
                    "`{}` was measured by two shards: {} and {}",
                    rounds.id,
                    other.display(),
                    path.display()
                )));
            }
        }
        all.rounds.extend(r.rounds);
        all.one_thread.extend(r.one_thread);
        all.cost.extend(r.cost);
        all.seconds = all.seconds.max(r.seconds);
        all.counted = match (all.counted.take(), r.counted) {
            (Some(mut a), Some(b)) => {
                let [b0, b1] = b.sides;
                a.sides[0].extend(b0);
                a.sides[1].extend(b1);
                a.not_countable.extend(b.not_countable);
                a.syscalls.extend(b.syscalls);
                a.cost.extend(b.cost);
                a.seconds = a.seconds.max(b.seconds);
                Some(a)
            }
            (a, b) => a.or(b),
        };
    }
    all.cost.sort_by(|a, b| b.2.total_cmp(&a.2));
    Ok(all)
}

/// Joins the shards `options` names into one decision and writes its reports.
pub fn merge(options: &MergeOptions) -> Result<Merged, GateError> {
    let mut shards = Vec::new();
    let mut notes = Vec::new();
    for path in &options.shards {
        let (recorded, shard_notes) = read(path)?;
        let k = recorded.shard.map_or(String::new(), |s| s.to_string());
        notes.extend(shard_notes.into_iter().map(|n| format!("shard {k}: {n}")));
        shards.push((path.clone(), recorded));
    }
    check(&shards)?;
    let count = shards.len();
    let mut all = union(shards)?;
    all.shard = None;
    let policy = all.policy()?;
    let mut decision = all.decide(&policy)?;
    notes.extend(all.count_notes());
    notes.extend(crate::accept::apply(
        &mut decision,
        &options.pr,
        &policy.accept,
    )?);
    let header = format!(
        "bench-gate merge: {} against {:.12}, {count} shards, {}, longest shard {:.0} s, \
         policy {}",
        all.head, all.base, all.how, all.seconds, all.policy.0
    );
    let mut preamble = vec![header.clone()];
    preamble.extend(notes.iter().map(|n| format!("- {n}")));
    let mut extra = serde_json::Map::new();
    extra.insert("base".into(), serde_json::json!({"commit": all.base}));
    extra.insert("head".into(), all.head.clone().into());
    extra.insert("shards".into(), count.into());
    extra.insert("notes".into(), notes.clone().into());
    let recorded = serde_json::to_value(&all)
        .map_err(|e| GateError::Merge(format!("cannot encode the measurements: {e}")))?;
    extra.insert("recorded".into(), recorded);
    let written = options.reports.write_with(&decision, &preamble, extra)?;
    Ok(Merged {
        decision,
        header,
        notes,
        written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ab::shard::{Shard, assign};
    use crate::model::{Direction, Unit};
    use crate::paired::Rounds;
    use crate::thresholds::DEFAULT_POLICY;
    use crate::verdict::Verdict;

    /// Twelve benchmarks' rounds, recorded: noise of ±0.5 %, three of them 1.2 %, 2 %
    /// and 6 % slower on the head.
    fn recorded() -> Recorded {
        let mut state = 7_u64;
        let mut noise = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.01
        };
        let rounds = (0..12)
            .map(|i| {
                let change = [0.012, 0.02, 0.06].get(i).copied().unwrap_or(0.0);
                let base: Vec<Option<f64>> =
                    (0..20).map(|_| Some(100.0 * (1.0 + noise()))).collect();
                let head = base
                    .iter()
                    .map(|b| Some(b.unwrap() * (1.0 + change) * (1.0 + noise())))
                    .collect();
                Rounds {
                    id: format!("group/bench_{i:02}"),
                    unit: Unit::Nanoseconds,
                    direction: Direction::LowerIsBetter,
                    base,
                    head,
                    measured: "lockstep pairs".into(),
                }
            })
            .collect();
        Recorded {
            base: "b".repeat(40),
            head: "the working tree".into(),
            filter: None,
            policy: ("<built-in thresholds>".into(), DEFAULT_POLICY.into()),
            alone: true,
            target_mde: Some(0.01),
            shard: None,
            whole: Vec::new(),
            rounds,
            one_thread: Vec::new(),
            counted: None,
            cost: Vec::new(),
            how: "lockstep pairs".into(),
            seconds: 1.0,
        }
    }

    /// `all` split into `count` shard reports under `dir`, as `ab --shard` writes them.
    fn shards(all: &Recorded, count: usize, dir: &Path) -> Vec<PathBuf> {
        let ids: Vec<String> = all.rounds.iter().map(|r| r.id.clone()).collect();
        let split = assign(&ids, &Default::default(), count);
        (1..=count)
            .map(|k| {
                let mut part = all.clone();
                part.shard = Some(Shard { index: k, count });
                part.whole.clone_from(&ids);
                part.rounds.retain(|r| split[&r.id] == k);
                let path = dir.join(format!("shard-{k}.json"));
                let json = serde_json::json!({"recorded": part, "notes": []});
                std::fs::write(&path, json.to_string()).unwrap();
                path
            })
            .collect()
    }

    fn options(shards: Vec<PathBuf>) -> MergeOptions {
        MergeOptions {
            shards,
            pr: PrOptions::default(),
            reports: Reports::default(),
        }
    }

    fn figures(d: &Decision) -> Vec<(String, Verdict, Option<f64>, Option<f64>)> {
        let mut v: Vec<_> = d
            .comparisons
            .iter()
            .map(|c| (c.id.clone(), c.verdict, c.p_value, c.mde))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn merged_shards_decide_as_one_run_over_the_union() {
        let all = recorded();
        let whole = all.decide(&all.policy().unwrap()).unwrap();
        assert_eq!(whole.count(Verdict::Critical), 3, "{:?}", figures(&whole));
        let dir = tempfile::tempdir().unwrap();
        for count in [2, 3, 5] {
            let merged = merge(&options(shards(&all, count, dir.path()))).unwrap();
            assert_eq!(figures(&merged.decision), figures(&whole), "{count} shards");
        }
    }

    #[test]
    fn the_multiplicity_is_the_union_s_not_a_shard_s() {
        let all = recorded();
        let whole = all.decide(&all.policy().unwrap()).unwrap();
        let mut alone = all.clone();
        alone.rounds.truncate(2);
        let part = alone.decide(&alone.policy().unwrap()).unwrap();
        let mde = |d: &Decision| {
            d.comparisons
                .iter()
                .find(|c| c.id.ends_with("_00"))
                .unwrap()
                .mde
        };
        // Fewer benchmarks judged together: a smaller Holm correction, a smaller MDE.
        assert!(mde(&part).unwrap() < mde(&whole).unwrap());
    }

    #[test]
    fn shards_of_different_runs_or_a_missing_one_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let all = recorded();
        let paths = shards(&all, 3, dir.path());
        let e = merge(&options(paths[..2].to_vec()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("shard 3/3 is missing"), "{e}");
        let e = merge(&options(vec![
            paths[0].clone(),
            paths[0].clone(),
            paths[2].clone(),
        ]));
        assert!(e.unwrap_err().to_string().contains("are both shard 1/3"));
        let mut other = all.clone();
        other.base = "c".repeat(40);
        let other_dir = tempfile::tempdir().unwrap();
        let foreign = shards(&other, 3, other_dir.path());
        let e = merge(&options(vec![
            paths[0].clone(),
            foreign[1].clone(),
            paths[2].clone(),
        ]));
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("their base differs") && e.contains("shard-2.json"),
            "{e}"
        );
        let whole = dir.path().join("whole.json");
        std::fs::write(&whole, serde_json::json!({"recorded": all}).to_string()).unwrap();
        let e = merge(&options(vec![whole])).unwrap_err().to_string();
        assert!(e.contains("a whole run, not a shard"), "{e}");
    }
}
