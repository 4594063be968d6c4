//! gungraun summaries (`target/gungraun/**/summary.json`, written by a bench run with
//! `--save-summary=json`): callgrind's exact instruction counts, the noise-free signal.
//!
//! Each summary (schema version 7, gungraun 0.20) is one benchmark. Its id is
//! `<bench file>/<function>/<bench id>` from the summary's `module_path`
//! (`file::group::function`) and `id`; a bench id written `_1000` (Rust identifiers
//! cannot start with a digit) becomes `1000`, so `#[bench::_1000(...)]` in
//! `fn plan` of `benches/instructions.rs` is `instructions/plan/1000`. The primary
//! metric is the Callgrind total `Ir` (instructions executed, lower is better); the
//! other Callgrind totals (`L1hits`, `LLhits`, `RamHits`, `TotalRW`, `EstimatedCycles`,
//! …) ride along as extras. A summary without a Callgrind `Ir`, with a version this
//! loader does not know, or with a non-numeric count is an error naming the file and field.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::GateError;
use crate::model::{Entry, Results};

/// The summary schema versions this loader reads.
pub const SCHEMA_VERSIONS: &[&str] = &["7"];

#[derive(Deserialize)]
struct Summary {
    version: String,
    module_path: String,
    function_name: String,
    #[serde(default)]
    id: Option<String>,
    profiles: Vec<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    tool: String,
    data: ProfileData,
}

#[derive(Deserialize)]
struct ProfileData {
    total: Total,
}

#[derive(Deserialize)]
struct Total {
    metrics: serde_json::Map<String, Value>,
}

/// The benchmark id of a summary: `<file>/<function>[/<bench id>]`.
pub fn benchmark_id(module_path: &str, function: &str, id: Option<&str>) -> String {
    let file = module_path.split("::").next().unwrap_or(module_path);
    let mut out = format!("{file}/{function}");
    if let Some(id) = id {
        let id = match id.strip_prefix('_') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
            _ => id,
        };
        out.push('/');
        out.push_str(id);
    }
    out
}

/// A metric's `new` value: a JSON number, or a string gungraun uses for non-finite floats.
fn new_value(v: &Value) -> Option<f64> {
    match v.get("values")?.get("new")? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Converts one summary into an entry; `path` is only used in messages.
fn entry(path: &Path, text: &[u8]) -> Result<Entry, GateError> {
    let s: Summary = serde_json::from_slice(text).map_err(|e| GateError::Json {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    let id = benchmark_id(&s.module_path, &s.function_name, s.id.as_deref());
    if !SCHEMA_VERSIONS.contains(&s.version.as_str()) {
        return Err(GateError::field(
            path,
            &id,
            "version",
            format!(
                "summary schema {:?} is not one this gate reads ({SCHEMA_VERSIONS:?}): \
                 use gungraun 0.20 or update crates/bench-gate/src/gungraun.rs",
                s.version
            ),
        ));
    }
    let callgrind = s
        .profiles
        .iter()
        .find(|p| p.tool == "Callgrind")
        .ok_or_else(|| {
            GateError::field(
                path,
                &id,
                "profiles",
                "no Callgrind profile (the instruction benches run under callgrind)",
            )
        })?;
    let metrics = &callgrind.data.total.metrics;
    let field = |name: &str| format!("profiles[Callgrind].data.total.metrics.{name}");
    let ir = metrics
        .get("Ir")
        .ok_or_else(|| GateError::field(path, &id, field("Ir"), "missing"))?;
    let value = new_value(ir).ok_or_else(|| {
        GateError::field(
            path,
            &id,
            field("Ir") + ".values.new",
            "missing or not a number",
        )
    })?;
    if !(value.is_finite() && value > 0.0) {
        return Err(GateError::field(
            path,
            &id,
            field("Ir") + ".values.new",
            format!("{value} instructions: nothing was measured"),
        ));
    }
    let mut extra = std::collections::BTreeMap::new();
    for (name, v) in metrics {
        if name == "Ir" {
            continue;
        }
        match new_value(v) {
            Some(x) if x.is_finite() => {
                extra.insert(name.clone(), x);
            }
            // A metric gungraun could not compute (e.g. a hit rate of nothing) is left out.
            _ => {}
        }
    }
    Ok(Entry::count(id, value, extra))
}

fn summaries(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), GateError> {
    for e in std::fs::read_dir(dir).map_err(|e| GateError::io(dir, e))? {
        let e = e.map_err(|e| GateError::io(dir, e))?;
        let path = e.path();
        let kind = e.file_type().map_err(|e| GateError::io(&path, e))?;
        if kind.is_dir() {
            summaries(&path, out)?;
        } else if e.file_name() == "summary.json" {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads every `summary.json` under `dir` (a missing directory holds none).
pub fn load(dir: &Path) -> Result<Results, GateError> {
    let mut results = Results::new();
    if !dir.exists() {
        return Ok(results);
    }
    let mut files = Vec::new();
    summaries(dir, &mut files)?;
    files.sort();
    let mut seen: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for path in files {
        let text = std::fs::read(&path).map_err(|e| GateError::io(&path, e))?;
        let e = entry(&path, &text)?;
        if let Some(other) = seen.insert(e.id.clone(), path.clone()) {
            return Err(GateError::field(
                &path,
                &e.id,
                "module_path",
                format!("{} has the same benchmark id", other.display()),
            ));
        }
        results.insert(e.id.clone(), e);
    }
    Ok(results)
}

/// Parses one summary's text (for tests and fuzzing); `path` names it in errors.
pub fn parse(path: &Path, text: &[u8]) -> Result<Entry, GateError> {
    entry(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;

    fn summary(version: &str, ir: &str) -> String {
        format!(
            r#"{{"version":"{version}","module_path":"instructions::graph::plan",
            "function_name":"plan","id":"_1000","kind":"LibraryBenchmark",
            "profiles":[{{"tool":"Callgrind","data":{{"parts":[],"total":{{"regressions":[],
            "metrics":{{"Ir":{{"values":{{"new":{ir},"old":5}}}},
            "EstimatedCycles":{{"values":{{"new":99}}}}}}}}}}}}]}}"#
        )
    }

    #[test]
    fn ids_drop_the_group_and_the_digit_guard() {
        assert_eq!(
            benchmark_id("instructions::graph::plan", "plan", Some("_1000")),
            "instructions/plan/1000"
        );
        assert_eq!(
            benchmark_id(
                "instructions::rl::token_bucket",
                "token_bucket",
                Some("try_acquire_x1000")
            ),
            "instructions/token_bucket/try_acquire_x1000"
        );
        assert_eq!(benchmark_id("f::g::h", "h", Some("_x")), "f/h/_x");
        assert_eq!(benchmark_id("f::g::h", "h", None), "f/h");
    }

    #[test]
    fn the_primary_metric_is_ir_and_the_rest_are_extras() {
        let e = parse(Path::new("s.json"), summary("7", "1234").as_bytes()).unwrap();
        assert_eq!(e.id, "instructions/plan/1000");
        assert_eq!(e.value, 1234.0);
        assert_eq!(e.source, Source::Instructions);
        assert_eq!(e.extra["EstimatedCycles"], 99.0);
    }

    #[test]
    fn bad_summaries_name_the_file_and_field() {
        let err = |text: String| {
            parse(Path::new("s.json"), text.as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert!(err(summary("6", "1")).contains("field \"version\""));
        let e = err(summary("7", "0"));
        assert!(
            e.contains("s.json")
                && e.contains("metrics.Ir.values.new")
                && e.contains("nothing was measured"),
            "{e}"
        );
        assert!(err(summary("7", "null")).contains("not a number"));
        assert!(
            err(summary("7", "1").replace("Callgrind", "DHAT")).contains("no Callgrind profile")
        );
        assert!(err(summary("7", "1")[..40].to_owned()).contains("not valid JSON"));
    }
}
