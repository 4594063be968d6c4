//! The counts file: what `bench-gate count` measured of one tree, read back as results
//! by `check`, `baseline save` and `history append` (`--counts-dir`, default
//! `target/bench-gate-count`, the file `counts.json` in it).
//!
//! ```json
//! {"format": "bench-gate-counts", "version": 1, "commit": "…", "uncommitted": false,
//!  "valgrind": "valgrind-3.19.0", "iterations": 10, "seconds": 95.1,
//!  "process_seconds_per_benchmark": {"graph_planning/plan/1000": 1.2},
//!  "per_iteration": {"graph_planning/plan/1000": {"instructions": 812345.0,
//!      "l1_hits": …, "ll_hits": …, "ram_hits": …, "estimated_cycles": …, "syscalls": 0.0}},
//!  "not_countable": {"event_throughput/redis/publish": "not countable: …"}}
//! ```
//!
//! Each benchmark becomes the entry `instructions/<id>` (an instruction count, lower is
//! better, the other figures as extras), as in `ab`'s reports; those not countable
//! are not results. A file that is not this format, or a figure that is not a
//! positive number, is an error naming the file and the benchmark.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::GateError;
use crate::model::{Entry, Results};

/// The file `bench-gate count` writes in its directory.
pub const FILE: &str = "counts.json";

/// The `format` field's value.
pub const FORMAT: &str = "bench-gate-counts";

/// What a benchmark's count id starts with: `instructions/graph_planning/plan/1000`.
pub const PREFIX: &str = "instructions/";

/// One entry's figures as the JSON object of `per_iteration`: `instructions` and the
/// extras.
pub fn figures(entry: &Entry) -> Value {
    let mut m = Map::new();
    m.insert("instructions".into(), entry.value.into());
    for (k, v) in &entry.extra {
        m.insert(k.clone(), (*v).into());
    }
    Value::Object(m)
}

/// The counts file of `counted` (entries with [`PREFIX`]) and `not_countable`, with
/// `about` (commit, valgrind, iterations, seconds) at its top.
pub fn file(
    counted: &Results,
    not_countable: &[(String, String)],
    about: Map<String, Value>,
) -> Value {
    let per: Map<String, Value> = counted
        .iter()
        .map(|(key, e)| {
            (
                key.strip_prefix(PREFIX).unwrap_or(key).to_owned(),
                figures(e),
            )
        })
        .collect();
    let not: Map<String, Value> = not_countable
        .iter()
        .map(|(id, why)| (id.clone(), why.clone().into()))
        .collect();
    let mut top = Map::new();
    top.insert("format".into(), FORMAT.into());
    top.insert("version".into(), 1.into());
    top.extend(about);
    top.insert("per_iteration".into(), Value::Object(per));
    top.insert("not_countable".into(), Value::Object(not));
    json!(top)
}

/// The counts in `dir/counts.json` as results; none when the file is not there.
pub fn load(dir: &Path) -> Result<Results, GateError> {
    let path = dir.join(FILE);
    if !path.is_file() {
        return Ok(Results::new());
    }
    let top: Value = crate::read_json_file(&path)?;
    let bad =
        |bench: &str, field: &str, problem: String| GateError::field(&path, bench, field, problem);
    if top["format"] != FORMAT || top["version"] != 1 {
        return Err(bad(
            "-",
            "format",
            format!(
                "{} version {}: not a counts file of version 1 ({FORMAT:?})",
                top["format"], top["version"]
            ),
        ));
    }
    let Some(per) = top["per_iteration"].as_object() else {
        return Err(bad("-", "per_iteration", "missing or not an object".into()));
    };
    let mut results = Results::new();
    for (id, figures) in per {
        let number = |field: &str| -> Result<f64, GateError> {
            match figures[field].as_f64() {
                Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
                _ => Err(bad(
                    id,
                    field,
                    format!("{}: not a number ≥ 0", figures[field]),
                )),
            }
        };
        let value = number("instructions")?;
        if value <= 0.0 {
            return Err(bad(
                id,
                "instructions",
                "0: no instruction was counted".into(),
            ));
        }
        let mut extra = BTreeMap::new();
        for key in figures.as_object().into_iter().flat_map(|o| o.keys()) {
            if key != "instructions" {
                extra.insert(key.clone(), number(key)?);
            }
        }
        let entry = Entry::count(format!("{PREFIX}{id}"), value, extra);
        results.insert(entry.id.clone(), entry);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, value: f64) -> Entry {
        let extra = BTreeMap::from([("l1_hits".to_owned(), 7.5)]);
        Entry::count(format!("{PREFIX}{id}"), value, extra)
    }

    #[test]
    fn a_written_file_reads_back_as_the_same_entries() {
        let dir = tempfile::tempdir().unwrap();
        let e = entry("group/a", 1234.5);
        let counted = Results::from([(e.id.clone(), e.clone())]);
        let not = vec![("group/b".to_owned(), "not countable: x".to_owned())];
        let about = Map::from_iter([("commit".to_owned(), Value::from("abc"))]);
        let text = file(&counted, &not, about).to_string();
        std::fs::write(dir.path().join(FILE), text).unwrap();
        let read = load(dir.path()).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[&e.id], e);
    }

    #[test]
    fn a_missing_file_is_no_results_and_a_bad_one_names_file_benchmark_and_field() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        let path = dir.path().join(FILE);
        std::fs::write(&path, r#"{"format": "other", "version": 1}"#).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("counts.json") && e.contains("format"), "{e}");
        let bad = json!({"format": FORMAT, "version": 1,
            "per_iteration": {"g/a": {"instructions": 10.0, "l1_hits": "many"}}});
        std::fs::write(&path, bad.to_string()).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("g/a") && e.contains("l1_hits") && e.contains("many"),
            "{e}"
        );
        let zero = json!({"format": FORMAT, "version": 1,
            "per_iteration": {"g/z": {"instructions": 0.0}}});
        std::fs::write(&path, zero.to_string()).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("g/z") && e.contains("instructions"), "{e}");
    }
}
