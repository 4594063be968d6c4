//! Incremental builds of a worktree side. A fresh `git worktree add` gives every file
//! a new mtime, so cargo would rebuild every workspace crate of that side on every run
//! (minutes, for a suite like this one). Two things make the side's next build
//! incremental, and both keep it exact:
//!
//! - the worktree is always checked out at the same path
//!   (`<target>/bench-gate-ab/<side>-src`, removed again at the end of every run), so
//!   the paths in cargo's dep-info files still name the sources;
//! - after each successful build, [`Sources::record`] writes which blob every tracked
//!   file had (`git ls-files -s`) into the side's target directory; on the next
//!   checkout, [`Sources::restore`] dates back exactly the files whose blob is the same,
//!   to a fixed time older than any build. A file that changed, appeared or vanished
//!   keeps its fresh mtime (or is missing from the dep-info), so cargo rebuilds what it
//!   feeds, as it would after an edit.
//!
//! A side whose target directory is still empty (a fresh clone's first run) is seeded
//! from another build ([`Sources::seed`]): the head's from the project's own target, the
//! base's from the head's. Cargo's unit hash ignores the checkout's path, so a copied
//! unit would pass for this side's whatever its sources: each file of the checkout is
//! dated by what the copied build saw. A file with the blob the head's build recorded,
//! or, for the project's build, the content of an unmodified file of the working tree,
//! gets that build's view of it (2000-01-01, or the working tree file's own mtime), so
//! cargo judges it as it would have judged it there; every other file is dated *now*,
//! newer than any copied output, and cargo rebuilds what it feeds.
//!
//! A lock file (`<target>/bench-gate-ab/lock`) keeps two `ab` runs of one project from
//! sharing the fixed paths; a worktree left at the fixed path by a killed run is removed
//! before the next checkout.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::git::git_raw;
use crate::GateError;
use crate::fsutil::write_atomic;

/// The mtime given to files that are as the last build saw them: 2000-01-01, older
/// than any build.
const UNCHANGED_MTIME: Duration = Duration::from_secs(946_684_800);

/// The manifest's name in a side's target directory.
const MANIFEST: &str = "bench-gate-ab-sources.tsv";

/// The profile directory `cargo bench` builds into.
const BENCH_PROFILE_DIR: &str = "release";

/// What a profile directory holds that another checkout's build can reuse.
const REUSABLE: [&str; 3] = [".fingerprint", "build", "deps"];

/// Holds `<target>/bench-gate-ab/lock` for the run.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the project's `ab` lock, or says another run holds it.
pub fn lock(dir: &Path) -> Result<Lock, GateError> {
    std::fs::create_dir_all(dir).map_err(|e| GateError::io(dir, e))?;
    let path = dir.join("lock");
    let file = File::create(&path).map_err(|e| GateError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Lock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(GateError::Ab(format!(
            "another bench-gate ab is running with this target directory (it holds {}): \
             wait for it, or give this project a CARGO_TARGET_DIR of its own",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(GateError::io(&path, e)),
    }
}

/// The build a side's empty target directory is seeded from.
#[derive(Debug, Clone, Copy)]
pub enum Seed<'a> {
    /// Another side's target directory, with the manifest of the blobs its build saw.
    Side(&'a Path),
    /// The project's own target directory, built from the working tree at `root`.
    WorkingTree {
        /// The target directory.
        target: &'a Path,
        /// The working tree's top level.
        root: &'a Path,
    },
}

/// The blobs of a checkout's tracked files, by path.
#[derive(Debug, Default, PartialEq)]
pub struct Sources {
    blobs: BTreeMap<String, String>,
}

impl Sources {
    /// The tracked files of the checkout at `root` (`git ls-files -s`).
    pub fn of(root: &Path) -> Result<Sources, GateError> {
        let out = git_raw(root, &["ls-files", "-s", "-z"]).map_err(|e| {
            GateError::Ab(format!("git ls-files failed in {}: {e}", root.display()))
        })?;
        Ok(Sources::parse_ls_files(&out))
    }

    /// `git ls-files -s -z` output: `MODE BLOB STAGE\tPATH\0`.
    fn parse_ls_files(text: &str) -> Sources {
        let blobs = text
            .split('\0')
            .filter_map(|entry| {
                let (meta, path) = entry.split_once('\t')?;
                let blob = meta.split(' ').nth(1)?;
                Some((path.to_owned(), blob.to_owned()))
            })
            .collect();
        Sources { blobs }
    }

    /// The manifest the last successful build into `target` left, if any.
    fn load(target: &Path) -> Sources {
        let text = std::fs::read_to_string(target.join(MANIFEST)).unwrap_or_default();
        let blobs = text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(blob, path)| (path.to_owned(), blob.to_owned()))
            .collect();
        Sources { blobs }
    }

    /// Dates back the files of the checkout at `root` whose blob is the one the last
    /// build into `target` saw; returns how many.
    pub fn restore(&self, root: &Path, target: &Path) -> Result<usize, GateError> {
        let last = Sources::load(target);
        let old = SystemTime::UNIX_EPOCH + UNCHANGED_MTIME;
        let mut restored = 0;
        for (path, blob) in &self.blobs {
            if last.blobs.get(path) != Some(blob) {
                continue;
            }
            if date(&root.join(path), old)? {
                restored += 1;
            }
        }
        Ok(restored)
    }

    /// Records these blobs as what the build into `target` saw.
    pub fn record(&self, target: &Path) -> Result<(), GateError> {
        let mut text = String::new();
        for (path, blob) in &self.blobs {
            if !path.contains(['\n', '\t']) {
                text.push_str(&format!("{blob}\t{path}\n"));
            }
        }
        let manifest = target.join(MANIFEST);
        write_atomic(&manifest, text.as_bytes()).map_err(GateError::from)
    }

    /// Seeds the side target `to`, when it holds no build yet, with the build `from`
    /// names, and dates the files of this checkout at `root` as the module says: cargo
    /// then reuses every unit whose sources are the ones it was built from and rebuilds
    /// the rest. Returns the bytes copied, or `None` when `to` already holds a build or
    /// `from` holds none.
    pub fn seed(&self, root: &Path, from: Seed<'_>, to: &Path) -> Result<Option<u64>, GateError> {
        let from_target = match from {
            Seed::Side(target) | Seed::WorkingTree { target, .. } => target,
        };
        let (from_profile, to_profile) = (
            from_target.join(BENCH_PROFILE_DIR),
            to.join(BENCH_PROFILE_DIR),
        );
        if to_profile.exists() || !from_profile.join(".fingerprint").is_dir() {
            return Ok(None);
        }
        let partial = to.join(format!("{BENCH_PROFILE_DIR}.seeding"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| GateError::io(&partial, e))?;
        }
        let mut bytes = 0;
        for part in REUSABLE {
            if from_profile.join(part).is_dir() {
                bytes += copy_tree(&from_profile.join(part), &partial.join(part))?;
            }
        }
        // Whole or not at all: a seed cut short by Ctrl-C is never taken for a build.
        std::fs::rename(&partial, &to_profile).map_err(|e| GateError::io(&to_profile, e))?;
        let seen = match from {
            Seed::Side(target) => {
                let old = SystemTime::UNIX_EPOCH + UNCHANGED_MTIME;
                let last = Sources::load(target);
                self.blobs
                    .iter()
                    .filter(|(path, blob)| last.blobs.get(*path) == Some(*blob))
                    .map(|(path, _)| (path.clone(), old))
                    .collect()
            }
            Seed::WorkingTree { root: tree, .. } => self.unmodified_in(tree)?,
        };
        let now = SystemTime::now();
        for path in self.blobs.keys() {
            date(&root.join(path), seen.get(path).copied().unwrap_or(now))?;
        }
        Ok(Some(bytes))
    }

    /// The files of this checkout whose content is that of the same file, unmodified,
    /// in the working tree at `tree`, with that file's mtime. A file `git diff-files`
    /// lists (modified, or only its stat changed) is left out.
    fn unmodified_in(&self, tree: &Path) -> Result<BTreeMap<String, SystemTime>, GateError> {
        let index = Sources::of(tree)?;
        let listed = git_raw(tree, &["diff-files", "--name-only", "-z"]).map_err(|e| {
            GateError::Ab(format!("git diff-files failed in {}: {e}", tree.display()))
        })?;
        let modified: std::collections::BTreeSet<&str> = listed.split('\0').collect();
        let mut seen = BTreeMap::new();
        for (path, blob) in &self.blobs {
            if index.blobs.get(path) != Some(blob) || modified.contains(path.as_str()) {
                continue;
            }
            if let Ok(mtime) = std::fs::metadata(tree.join(path)).and_then(|m| m.modified()) {
                seen.insert(path.clone(), mtime);
            }
        }
        Ok(seen)
    }

    /// Forgets what the build into `target` saw (after a failed build).
    pub fn forget(target: &Path) {
        let _ = std::fs::remove_file(target.join(MANIFEST));
    }
}

/// Sets the mtime of the regular file `file` to `time`; `false` when there is no such
/// file (a symlink or a submodule entry has no file of its own to date).
fn date(file: &Path, time: SystemTime) -> Result<bool, GateError> {
    let Ok(handle) = File::open(file) else {
        return Ok(false);
    };
    if !handle.metadata().is_ok_and(|m| m.is_file()) {
        return Ok(false);
    }
    handle
        .set_modified(time)
        .map_err(|e| GateError::io(file, e))?;
    Ok(true)
}

/// Copies the tree `from` to `to`, keeping every file's mtime (cargo judges freshness
/// by them) and permissions; returns the bytes copied. Symlinks and special files are
/// skipped (neither a cargo profile directory nor Criterion's output holds any).
pub fn copy_tree(from: &Path, to: &Path) -> Result<u64, GateError> {
    std::fs::create_dir_all(to).map_err(|e| GateError::io(to, e))?;
    let mut bytes = 0;
    let entries = std::fs::read_dir(from).map_err(|e| GateError::io(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| GateError::io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| GateError::io(&src, e))?;
        if kind.is_dir() {
            bytes += copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            bytes += std::fs::copy(&src, &dst).map_err(|e| GateError::io(&src, e))?;
            let mtime = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| GateError::io(&src, e))?;
            date(&dst, mtime)?;
        }
    }
    Ok(bytes)
}

/// The fixed checkout path of `side` under `ab_dir` (`<target>/bench-gate-ab`).
pub fn checkout_path(ab_dir: &Path, side: &str) -> PathBuf {
    ab_dir.join(format!("{side}-src"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_with_the_recorded_blob_are_dated_back() {
        let dir = tempfile::tempdir().unwrap();
        let (root, target) = (dir.path().join("src"), dir.path().join("target"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&target).unwrap();
        for name in ["same.rs", "changed.rs", "new.rs"] {
            std::fs::write(root.join(name), name).unwrap();
        }
        let last = Sources::parse_ls_files("100644 aaa 0\tsame.rs\x00100644 bbb 0\tchanged.rs\0");
        last.record(&target).unwrap();
        let now = Sources::parse_ls_files(
            "100644 aaa 0\tsame.rs\x00100644 ccc 0\tchanged.rs\x00100644 ddd 0\tnew.rs\0",
        );
        assert_eq!(now.restore(&root, &target).unwrap(), 1);
        let mtime = |n: &str| std::fs::metadata(root.join(n)).unwrap().modified().unwrap();
        assert_eq!(mtime("same.rs"), SystemTime::UNIX_EPOCH + UNCHANGED_MTIME);
        assert!(mtime("changed.rs") > SystemTime::UNIX_EPOCH + UNCHANGED_MTIME);
        assert!(mtime("new.rs") > SystemTime::UNIX_EPOCH + UNCHANGED_MTIME);
        // Without a manifest (a failed build), nothing is dated back.
        Sources::forget(&target);
        assert_eq!(now.restore(&root, &target).unwrap(), 0);
    }

    /// A build in `target/release` of one unit, its files dated `built`.
    fn fake_build(target: &Path, built: SystemTime) {
        let unit = target.join("release/.fingerprint/dep-123");
        std::fs::create_dir_all(&unit).unwrap();
        std::fs::write(unit.join("lib-dep"), "hash").unwrap();
        std::fs::create_dir_all(target.join("release/deps")).unwrap();
        std::fs::write(target.join("release/deps/libdep-123.rlib"), "rlib").unwrap();
        std::fs::create_dir_all(target.join("release/examples")).unwrap();
        File::options()
            .write(true)
            .open(target.join("release/deps/libdep-123.rlib"))
            .unwrap()
            .set_modified(built)
            .unwrap();
    }

    fn mtime(path: &Path) -> SystemTime {
        std::fs::metadata(path).unwrap().modified().unwrap()
    }

    #[test]
    fn a_seed_from_a_side_copies_its_build_and_dates_back_only_what_it_saw() {
        let dir = tempfile::tempdir().unwrap();
        let (root, from, to) = (
            dir.path().join("src"),
            dir.path().join("head-target"),
            dir.path().join("base-target"),
        );
        std::fs::create_dir_all(&root).unwrap();
        for name in ["same.rs", "changed.rs", "new.rs"] {
            std::fs::write(root.join(name), name).unwrap();
        }
        let built = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        fake_build(&from, built);
        Sources::parse_ls_files("100644 aaa 0\tsame.rs\x00100644 bbb 0\tchanged.rs\0")
            .record(&from)
            .unwrap();
        let sources = Sources::parse_ls_files(
            "100644 aaa 0\tsame.rs\x00100644 ccc 0\tchanged.rs\x00100644 ddd 0\tnew.rs\0",
        );
        // Nothing to seed from: no build there.
        let nothing = to.join("x");
        assert_eq!(
            sources.seed(&root, Seed::Side(&nothing), &to).unwrap(),
            None
        );
        assert_eq!(
            sources.seed(&root, Seed::Side(&from), &to).unwrap(),
            Some(8)
        );
        let copied = to.join("release/deps/libdep-123.rlib");
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "rlib");
        assert_eq!(mtime(&copied), built);
        assert!(to.join("release/.fingerprint/dep-123/lib-dep").is_file());
        assert!(
            !to.join("release/examples").exists(),
            "only what a build reuses"
        );
        assert!(!to.join("release.seeding").exists());
        // The file the head's build saw is older than its outputs; the others newer.
        assert_eq!(
            mtime(&root.join("same.rs")),
            SystemTime::UNIX_EPOCH + UNCHANGED_MTIME
        );
        assert!(mtime(&root.join("changed.rs")) > built);
        assert!(mtime(&root.join("new.rs")) > built);
        // A target that already holds a build is never overwritten.
        std::fs::write(to.join("release/deps/libdep-123.rlib"), "own").unwrap();
        assert_eq!(sources.seed(&root, Seed::Side(&from), &to).unwrap(), None);
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "own");
    }

    #[test]
    fn a_seed_from_the_project_gives_unmodified_files_the_working_tree_s_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, root, target) = (
            dir.path().join("tree"),
            dir.path().join("checkout"),
            dir.path().join("side"),
        );
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .current_dir(&tree)
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        std::fs::create_dir_all(&tree).unwrap();
        git(&["init", "--quiet"]);
        for name in ["same.rs", "edited.rs", "other.rs"] {
            std::fs::write(tree.join(name), name).unwrap();
        }
        // The working tree's file as it was when the project's build saw it.
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        File::options()
            .write(true)
            .open(tree.join("same.rs"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        git(&["add", "."]);
        git(&["commit", "--quiet", "-m", "c"]);
        std::fs::write(tree.join("edited.rs"), "an edit after the build").unwrap();
        // The checkout: the same commit, but other.rs as another revision holds it.
        std::fs::create_dir_all(&root).unwrap();
        for name in ["same.rs", "edited.rs"] {
            std::fs::write(root.join(name), name).unwrap();
        }
        std::fs::write(root.join("other.rs"), "another revision").unwrap();
        let built = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        fake_build(&tree.join("target"), built);
        let blobs = Sources::of(&tree).unwrap().blobs;
        let mut sources = Sources::default();
        for name in ["same.rs", "edited.rs"] {
            sources.blobs.insert(name.into(), blobs[name].clone());
        }
        sources.blobs.insert("other.rs".into(), "0123".into());
        let from = Seed::WorkingTree {
            target: &tree.join("target"),
            root: &tree,
        };
        assert_eq!(sources.seed(&root, from, &target).unwrap(), Some(8));
        assert_eq!(mtime(&root.join("same.rs")), old);
        assert!(
            mtime(&root.join("edited.rs")) > built,
            "modified in the tree"
        );
        assert!(mtime(&root.join("other.rs")) > built, "another blob");
    }

    #[test]
    fn a_second_run_of_one_project_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let err = lock(dir.path()).unwrap_err().to_string();
        assert!(err.contains("another bench-gate ab is running"), "{err}");
        drop(held);
        lock(dir.path()).unwrap();
    }
}
