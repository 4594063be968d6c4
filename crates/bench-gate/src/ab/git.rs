//! The git side of `bench-gate ab`: where the repository and the Cargo project are,
//! which commit a revision names, whether the working tree is clean, and worktrees for
//! the revisions that are not the working tree, removed again however the run ends.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::GateError;

/// A git repository and the Cargo project inside it that is being measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Repo {
    /// The repository's top level.
    pub root: PathBuf,
    /// The project's directory relative to the top level (empty: the top level).
    pub project: PathBuf,
}

/// `git ARGS` in `dir`: its trimmed stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    git_raw(dir, args).map(|out| out.trim().to_owned())
}

/// `git ARGS` in `dir`: its stdout as it is (`-z` lists keep every byte of a path), or
/// its stderr as the error.
pub(super) fn git_raw(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn ab_error(detail: String) -> GateError {
    GateError::Ab(detail)
}

impl Repo {
    /// The repository holding `dir`, with `dir` as the project.
    pub fn discover(dir: &Path) -> Result<Repo, GateError> {
        let root = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
            ab_error(format!(
                "{}: not inside a git repository (bench-gate ab measures git revisions): {e}",
                dir.display()
            ))
        })?;
        let root = PathBuf::from(root);
        let canonical = dir.canonicalize().map_err(|e| GateError::io(dir, e))?;
        let project = canonical
            .strip_prefix(root.canonicalize().map_err(|e| GateError::io(&root, e))?)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok(Repo { root, project })
    }

    /// The commit `rev` names (`git rev-parse --verify REV^{commit}`).
    pub fn resolve(&self, rev: &str) -> Result<String, GateError> {
        if rev.starts_with('-') {
            return Err(ab_error(format!("{rev:?} is not a revision")));
        }
        git(
            &self.root,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ],
        )
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ab_error(format!(
                "revision {rev:?} does not exist in {}",
                self.root.display()
            ))
        })
    }

    /// Whether the working tree differs from HEAD (tracked changes or untracked files
    /// that git does not ignore).
    pub fn is_dirty(&self) -> Result<bool, GateError> {
        git(&self.root, &["status", "--porcelain"])
            .map(|s| !s.is_empty())
            .map_err(|e| ab_error(format!("git status failed in {}: {e}", self.root.display())))
    }

    /// Whether the working tree holds exactly `commit`'s content (clean, and HEAD's tree
    /// is `commit`'s).
    pub fn working_tree_is(&self, commit: &str) -> Result<bool, GateError> {
        if self.is_dirty()? {
            return Ok(false);
        }
        let tree = |rev: &str| git(&self.root, &["rev-parse", &format!("{rev}^{{tree}}")]);
        Ok(matches!((tree("HEAD"), tree(commit)), (Ok(a), Ok(b)) if a == b))
    }

    /// `path` (relative to the project) in `commit`, if it exists there.
    pub fn show(&self, commit: &str, path: &Path) -> Option<String> {
        let rel = self.project.join(path);
        git(
            &self.root,
            &["show", &format!("{commit}:{}", rel.display())],
        )
        .ok()
    }

    /// A commit holding the working tree as it is (tracked changes, and untracked files
    /// git does not ignore), with HEAD as its parent, so that it can be checked out in a
    /// worktree. It is made with a copy of the index in `scratch`, so the user's index,
    /// files and branches are untouched; the commit is referenced by nothing and goes
    /// with git's next garbage collection. `exclude` (the target directory, which holds
    /// builds and bench-gate's own checkouts) is left out even where git does not
    /// ignore it.
    pub fn snapshot(&self, scratch: &Path, exclude: &Path) -> Result<String, GateError> {
        let index = scratch.join("snapshot-index");
        let real = git(
            &self.root,
            &["rev-parse", "--path-format=absolute", "--git-path", "index"],
        )
        .map_err(|e| ab_error(format!("cannot find git's index: {e}")))?;
        std::fs::create_dir_all(scratch).map_err(|e| GateError::io(scratch, e))?;
        if Path::new(&real).is_file() {
            std::fs::copy(&real, &index).map_err(|e| GateError::io(&index, e))?;
        }
        let with_index = |args: &[&str]| -> Result<String, GateError> {
            let out = Command::new("git")
                .current_dir(&self.root)
                .env("GIT_INDEX_FILE", &index)
                .env("GIT_AUTHOR_NAME", "bench-gate")
                .env("GIT_AUTHOR_EMAIL", "bench-gate@localhost")
                .env("GIT_COMMITTER_NAME", "bench-gate")
                .env("GIT_COMMITTER_EMAIL", "bench-gate@localhost")
                .args(args)
                .output()
                .map_err(|e| ab_error(format!("cannot run git: {e}")))?;
            if !out.status.success() {
                return Err(ab_error(format!(
                    "cannot snapshot the working tree (git {}): {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let mut add = vec!["add".to_owned(), "-A".into(), "--".into(), ".".into()];
        let root = self
            .root
            .canonicalize()
            .map_err(|e| GateError::io(&self.root, e))?;
        // An ignored target directory is left out anyway (and naming it in a pathspec
        // is an error); one git does not ignore is excluded by name.
        if let Some(rel) = exclude
            .canonicalize()
            .ok()
            .and_then(|e| e.strip_prefix(&root).ok().map(Path::to_path_buf))
            .filter(|rel| !rel.as_os_str().is_empty())
            .filter(|rel| git(&root, &["check-ignore", "-q", &rel.to_string_lossy()]).is_err())
        {
            add.push(format!(":(exclude){}", rel.display()));
        }
        with_index(&add.iter().map(String::as_str).collect::<Vec<_>>())?;
        let tree = with_index(&["write-tree"])?;
        let commit = with_index(&[
            "commit-tree",
            &tree,
            "-p",
            "HEAD",
            "-m",
            "bench-gate ab: the working tree",
        ]);
        let _ = std::fs::remove_file(&index);
        commit
    }

    /// A worktree of `commit` at `path` (detached); removed when the guard drops. A
    /// worktree already at `path` (left by a run that was killed) is removed first.
    pub fn worktree(&self, commit: &str, path: &Path) -> Result<Worktree, GateError> {
        if path.exists() {
            drop(Worktree {
                root: self.root.clone(),
                path: path.to_owned(),
            });
        }
        git(
            &self.root,
            &[
                "worktree",
                "add",
                "--detach",
                "--quiet",
                &path.to_string_lossy(),
                commit,
            ],
        )
        .map_err(|e| {
            ab_error(format!(
                "cannot check out {commit} into {}: {e}",
                path.display()
            ))
        })?;
        Ok(Worktree {
            root: self.root.clone(),
            path: path.to_owned(),
        })
    }
}

/// A checked-out worktree, removed (with `git worktree remove --force`, then prune) when
/// dropped: on success, on an error and after Ctrl-C alike.
#[derive(Debug)]
pub struct Worktree {
    root: PathBuf,
    /// Where it is checked out.
    pub path: PathBuf,
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let _ = git(
            &self.root,
            &[
                "worktree",
                "remove",
                "--force",
                &self.path.to_string_lossy(),
            ],
        );
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = git(&self.root, &["worktree", "prune"]);
    }
}
