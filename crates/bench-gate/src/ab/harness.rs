//! The lockstep harness's source, carried inside bench-gate (`harness/`, included at
//! compile time), written out for a side's build, and swapped in for the project's
//! `criterion` with Cargo's `--config 'patch.crates-io.criterion.path="…"'`: the
//! project's files are never edited, and the build happens in a worktree, whose lock
//! file the patch may rewrite.
//!
//! Cargo only takes a patch whose version is the one its lock file holds, so the
//! harness is written with exactly that version (`cargo metadata` names it), for
//! Criterion 0.4 to 0.8; other versions, and a `criterion` that does not come from
//! crates.io, are measured in process rounds instead, with a note saying why.

use std::path::{Path, PathBuf};

use crate::GateError;
use crate::fsutil::write_atomic;

/// The harness's files, by their path inside the crate written out.
const FILES: [(&str, &str); 12] = [
    ("Cargo.toml", include_str!("../../harness/manifest.toml")),
    ("src/lib.rs", include_str!("../../harness/src/lib.rs")),
    ("src/args.rs", include_str!("../../harness/src/args.rs")),
    (
        "src/async_executor.rs",
        include_str!("../../harness/src/async_executor.rs"),
    ),
    (
        "src/bencher.rs",
        include_str!("../../harness/src/bencher.rs"),
    ),
    ("src/count.rs", include_str!("../../harness/src/count.rs")),
    ("src/group.rs", include_str!("../../harness/src/group.rs")),
    (
        "src/lockstep.rs",
        include_str!("../../harness/src/lockstep.rs"),
    ),
    ("src/macros.rs", include_str!("../../harness/src/macros.rs")),
    (
        "src/measurement.rs",
        include_str!("../../harness/src/measurement.rs"),
    ),
    (
        "src/profiler.rs",
        include_str!("../../harness/src/profiler.rs"),
    ),
    (
        "src/standalone.rs",
        include_str!("../../harness/src/standalone.rs"),
    ),
];

/// The lockstep protocol version this driver speaks (the harness's `PROTOCOL`).
pub const PROTOCOL: u32 = 2;

/// What a harness binary's `--help` says (the harness's `HARNESS_MARK`).
pub const MARK: &str = "bench-gate lockstep harness";

/// The Criterion minor versions whose API the harness covers (0.4 to 0.8).
const MINORS: std::ops::RangeInclusive<u64> = 4..=8;

/// How a side's benches get the harness, or why they cannot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Swap {
    /// Patch in the harness written with this version.
    Version(String),
    /// Measured in process rounds: why.
    Unsupported(String),
}

/// The `criterion` a Cargo project at `dir` resolves to (`cargo metadata`, which writes
/// a lock file where there is none: call it in a worktree only), and whether the
/// harness can stand in for it.
pub fn swap_for(dir: &Path) -> Result<Swap, GateError> {
    Ok(swap_from_metadata(&super::build::metadata(dir, true)?))
}

/// [`swap_for`] on `cargo metadata`'s JSON.
fn swap_from_metadata(meta: &serde_json::Value) -> Swap {
    let empty = Vec::new();
    let found: Vec<(&str, &str)> = meta["packages"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .filter(|p| p["name"] == "criterion")
        .filter_map(|p| Some((p["version"].as_str()?, p["source"].as_str().unwrap_or(""))))
        .collect();
    let registry: Vec<&str> = found
        .iter()
        .filter(|(_, source)| source.contains("crates.io-index"))
        .map(|(v, _)| *v)
        .collect();
    match (registry.as_slice(), found.first()) {
        (_, None) => Swap::Unsupported("the project does not depend on criterion".into()),
        ([], Some((v, source))) => Swap::Unsupported(format!(
            "its criterion {v} comes from {}, not crates.io",
            if source.is_empty() { "a path" } else { source }
        )),
        ([version], _) => {
            let minor = version
                .strip_prefix("0.")
                .and_then(|rest| rest.split('.').next())
                .and_then(|m| m.parse::<u64>().ok());
            match minor {
                Some(m) if MINORS.contains(&m) => Swap::Version((*version).to_owned()),
                _ => Swap::Unsupported(format!(
                    "criterion {version}: the lockstep harness covers 0.{} to 0.{}",
                    MINORS.start(),
                    MINORS.end()
                )),
            }
        }
        (several, _) => Swap::Unsupported(format!(
            "it resolves several criterion versions ({}): one patch cannot stand in for all",
            several.join(", ")
        )),
    }
}

/// Writes the harness with `version` under `dir` (once: the directory's name holds the
/// version and a hash of the source) and returns its path.
pub fn write(dir: &Path, version: &str) -> Result<PathBuf, GateError> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in FILES {
        for b in name.bytes().chain(text.bytes()) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let root = dir.join(format!("criterion-{version}-{hash:016x}"));
    if root.join("Cargo.toml").is_file() {
        return Ok(root);
    }
    let partial = dir.join(format!("criterion-{version}-{hash:016x}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    for (name, text) in FILES {
        let text = if name == "Cargo.toml" {
            text.replace("@VERSION@", version)
        } else {
            text.to_owned()
        };
        write_atomic(&partial.join(name), text.as_bytes())?;
    }
    std::fs::rename(&partial, &root).map_err(|e| GateError::io(&root, e))?;
    Ok(root)
}

/// The `cargo` arguments that patch the harness at `path` in for `criterion`.
pub fn patch_args(path: &Path) -> [String; 2] {
    // A JSON string is a valid TOML basic string (the same escapes).
    let quoted = serde_json::Value::from(path.to_string_lossy()).to_string();
    [
        "--config".into(),
        format!("patch.crates-io.criterion.path={quoted}"),
    ]
}

/// Whether cargo's log says the patch went unused (another version, a renamed or
/// optional dependency): the build is then the real Criterion's.
pub fn patch_unused(cargo_log: &str) -> bool {
    cargo_log.contains("was not used in the crate graph")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(packages: &[(&str, &str, Option<&str>)]) -> serde_json::Value {
        let packages: Vec<serde_json::Value> = packages
            .iter()
            .map(|(name, version, source)| {
                serde_json::json!({"name": name, "version": version, "source": source})
            })
            .collect();
        serde_json::json!({ "packages": packages })
    }

    const REGISTRY: Option<&str> = Some("registry+https://github.com/rust-lang/crates.io-index");

    #[test]
    fn the_harness_takes_the_locked_version_of_a_covered_criterion() {
        let m = meta(&[
            ("criterion", "0.8.2", REGISTRY),
            ("serde", "1.0.0", REGISTRY),
        ]);
        assert_eq!(swap_from_metadata(&m), Swap::Version("0.8.2".into()));
        let m = meta(&[("criterion", "0.5.1", REGISTRY)]);
        assert_eq!(swap_from_metadata(&m), Swap::Version("0.5.1".into()));
    }

    #[test]
    fn other_versions_sources_and_none_say_why_not() {
        let why = |m| match swap_from_metadata(&m) {
            Swap::Unsupported(why) => why,
            other => panic!("{other:?}"),
        };
        assert!(why(meta(&[("criterion", "0.3.6", REGISTRY)])).contains("covers 0.4 to 0.8"));
        assert!(why(meta(&[("criterion", "0.8.2", None)])).contains("a path"));
        assert!(why(meta(&[("serde", "1.0.0", REGISTRY)])).contains("does not depend"));
        let both = meta(&[
            ("criterion", "0.5.1", REGISTRY),
            ("criterion", "0.8.2", REGISTRY),
        ]);
        assert!(why(both).contains("0.5.1, 0.8.2"));
    }

    #[test]
    fn the_written_harness_has_the_version_and_every_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = write(dir.path(), "0.8.2").unwrap();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("version = \"0.8.2\""), "{manifest}");
        assert!(root.join("src/lockstep.rs").is_file());
        // The same source and version: the same directory, not written again.
        assert_eq!(write(dir.path(), "0.8.2").unwrap(), root);
        assert_ne!(write(dir.path(), "0.5.1").unwrap(), root);
        // The driver and the harness agree on the protocol and the mark.
        let lockstep = std::fs::read_to_string(root.join("src/lockstep.rs")).unwrap();
        assert!(lockstep.contains(&format!("PROTOCOL: u32 = {PROTOCOL};")));
        let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
        assert!(lib.contains(&format!("HARNESS_MARK: &str = \"{MARK}\"")));
        let [flag, value] = patch_args(&root);
        assert_eq!(flag, "--config");
        assert!(
            value.starts_with("patch.crates-io.criterion.path=\""),
            "{value}"
        );
    }
}
