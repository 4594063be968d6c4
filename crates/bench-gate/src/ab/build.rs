//! Building one side's benches: `cargo bench --no-run --message-format=json` in that
//! side's checkout names every bench executable and the package directory it runs in.
//! Each side builds into its own target directory: cargo's unit hash ignores the
//! checkout's path, so two checkouts sharing one target directory would not be rebuilt
//! and the second "side" would run the first one's binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::{Ended, run_bounded, tail};
use crate::GateError;

/// One bench executable of a side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchBinary {
    /// The bench target's name (`graph_planning`).
    pub name: String,
    /// The executable.
    pub path: PathBuf,
    /// Its package's directory: `cargo bench` runs a bench there.
    pub dir: PathBuf,
}

/// `cargo metadata --format-version 1` of the project at `dir` (`deps`: with the
/// dependency graph, which resolves and may write a lock file: in a worktree only); an
/// error says it is not a Cargo project, with cargo's message.
pub fn metadata(dir: &Path, deps: bool) -> Result<serde_json::Value, GateError> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir)
        .args(["metadata", "--format-version", "1"]);
    if !deps {
        cmd.arg("--no-deps");
    }
    let out = cmd
        .output()
        .map_err(|e| GateError::Ab(format!("cannot run cargo metadata: {e}")))?;
    if !out.status.success() {
        return Err(GateError::Ab(format!(
            "{}: not a Cargo project cargo can read (cargo metadata: {})",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| GateError::Ab(format!("cargo metadata's output: {e}")))
}

/// The bench executables in `cargo bench --no-run --message-format=json`'s stdout.
pub fn bench_executables(stdout: &str) -> Vec<BenchBinary> {
    let mut found: Vec<BenchBinary> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bench"))
        })
        .filter_map(|m| {
            let path = PathBuf::from(m["executable"].as_str()?);
            let manifest = PathBuf::from(m["manifest_path"].as_str()?);
            Some(BenchBinary {
                name: m["target"]["name"].as_str()?.to_owned(),
                path,
                dir: manifest.parent()?.to_owned(),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.dedup_by(|a, b| a.name == b.name);
    found
}

/// Builds the benches of the project at `dir` into `target_dir` (`None`: the project's
/// own), with `extra` cargo arguments and cargo's log in `logs`; a build that fails is
/// an error naming `side` and showing the compiler's last lines.
pub fn build(
    dir: &Path,
    target_dir: Option<&Path>,
    side: &str,
    logs: &Path,
    extra: &[String],
) -> Result<Vec<BenchBinary>, GateError> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir).args([
        "bench",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    cmd.args(extra);
    if let Some(t) = target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let (out, err) = (
        logs.join(format!("build-{side}.json")),
        logs.join(format!("build-{side}.log")),
    );
    match run_bounded(cmd, &out, &err, None)? {
        Ended::Exited(status) if status.success() => {}
        Ended::Exited(status) => {
            return Err(GateError::Ab(format!(
                "the {side} side's benches do not build (cargo bench --no-run in {}, {status}):\n{}",
                dir.display(),
                tail(&err, 40)
            )));
        }
        Ended::TimedOut => unreachable!("builds have no time limit"),
    }
    let stdout = std::fs::read_to_string(&out).map_err(|e| GateError::io(&out, e))?;
    Ok(bench_executables(&stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_messages_name_the_bench_executables_and_their_packages() {
        let stdout = [
            r#"{"reason":"compiler-artifact","manifest_path":"/p/benches/Cargo.toml","target":{"kind":["bench"],"name":"graph_planning"},"executable":"/t/release/deps/graph_planning-1"}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/p/Cargo.toml","target":{"kind":["lib"],"name":"p"},"executable":null}"#,
            r#"{"reason":"compiler-message","message":{}}"#,
            "not json",
            r#"{"reason":"compiler-artifact","manifest_path":"/p/x/Cargo.toml","target":{"kind":["bench"],"name":"alpha"},"executable":"/t/release/deps/alpha-2"}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        let found = bench_executables(&stdout);
        assert_eq!(
            found,
            [
                BenchBinary {
                    name: "alpha".into(),
                    path: "/t/release/deps/alpha-2".into(),
                    dir: "/p/x".into(),
                },
                BenchBinary {
                    name: "graph_planning".into(),
                    path: "/t/release/deps/graph_planning-1".into(),
                    dir: "/p/benches".into(),
                },
            ]
        );
    }
}
