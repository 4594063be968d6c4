//! `bench-gate ab --shard K/N`: one runner measures part K of N of the suite, so a suite
//! too long for one runner's time limit is split over N runners and joined by
//! `bench-gate merge`. Every benchmark's pairs stay on one runner.
//!
//! The split is deterministic: every shard lists the same suite (both sides' benchmarks
//! after the filter) and computes the same assignment. With the costs of an earlier
//! report (`--shard-costs`, the `cost` of an `ab --json` file) it balances them: the
//! costliest first, each to the shard with the least so far (a benchmark the report
//! lacks costs the median). Without, every benchmark costs the same, which deals them
//! out in id order.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::GateError;

/// Part `index` of `count` (both from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which part, from 1.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?} is not a shard: write K/N with 1 ≤ K ≤ N, e.g. 2/4");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Each benchmark's seconds in the `cost` list of an earlier `ab --json` report.
pub fn costs(path: &Path) -> Result<BTreeMap<String, f64>, GateError> {
    let report: serde_json::Value = crate::read_json(path)?;
    let list = report["cost"].as_array().ok_or_else(|| {
        GateError::field(
            path,
            "",
            "cost",
            "missing: not a `bench-gate ab --json` report",
        )
    })?;
    list.iter()
        .map(|e| match (e["id"].as_str(), e["seconds"].as_f64()) {
            (Some(id), Some(secs)) if secs >= 0.0 => Ok((id.to_owned(), secs)),
            _ => Err(GateError::field(
                path,
                e["id"].as_str().unwrap_or("?"),
                "cost",
                format!("{e} is not {{\"id\": …, \"seconds\": ≥ 0}}"),
            )),
        })
        .collect()
}

/// The shard (from 1) of every id in `ids` among `count`, balancing `costs`.
pub fn assign(
    ids: &[String],
    costs: &BTreeMap<String, f64>,
    count: usize,
) -> BTreeMap<String, usize> {
    let mut known: Vec<f64> = ids.iter().filter_map(|id| costs.get(id).copied()).collect();
    known.sort_by(f64::total_cmp);
    let median = known.get(known.len() / 2).copied().unwrap_or(1.0);
    let mut order: Vec<(f64, &String)> = ids
        .iter()
        .map(|id| (costs.get(id).copied().unwrap_or(median), id))
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut load = vec![0.0_f64; count.max(1)];
    let mut out = BTreeMap::new();
    for (cost, id) in order {
        let least = (0..load.len())
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .unwrap_or(0);
        load[least] += cost;
        out.insert(id.clone(), least + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("b{i:02}")).collect()
    }

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "4", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_id_lands_in_exactly_one_shard_and_the_split_is_repeatable() {
        let all = ids(11);
        let split = assign(&all, &BTreeMap::new(), 3);
        assert_eq!(split.len(), 11);
        let sizes: Vec<usize> = (1..=3)
            .map(|k| split.values().filter(|&&s| s == k).count())
            .collect();
        assert_eq!(sizes, [4, 4, 3]);
        assert_eq!(split, assign(&all, &BTreeMap::new(), 3));
    }

    #[test]
    fn costs_balance_the_shards() {
        let all = ids(5);
        let costs: BTreeMap<String, f64> = [
            ("b00", 10.0),
            ("b01", 6.0),
            ("b02", 4.0),
            ("b03", 3.0),
            ("b04", 3.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let split = assign(&all, &costs, 2);
        let load = |k: usize| -> f64 {
            split
                .iter()
                .filter(|(_, s)| **s == k)
                .map(|(id, _)| costs[id])
                .sum()
        };
        // Costliest first, each to the lighter shard: 10 | 6 4 → 10 3 | 6 4 3.
        assert_eq!((load(1), load(2)), (13.0, 13.0));
    }
}
