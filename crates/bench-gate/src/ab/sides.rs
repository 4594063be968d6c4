//! Both sides of a comparison, checked out and built.
//!
//! - **Checkouts.** The base is a worktree of its commit. The head is a worktree of
//!   its revision, or, for the working tree, of a snapshot commit of it (made with a
//!   temporary index: tracked changes and untracked files git does not ignore), since
//!   swapping the harness in may rewrite the lock file and the project's own files are
//!   never changed. With process rounds only, the working tree is built where it is,
//!   into the project's usual target directory. When both sides hold the same tree,
//!   one build serves both (an A/A run).
//! - **The harness.** For lockstep pairing, each side's `criterion` is swapped for the
//!   lockstep harness ([`super::harness`]). When either side's version is not covered,
//!   or its benches do not build with the harness, both sides are built without it and
//!   measured in process rounds, with a note saying why (and the compiler's lines).
//! - **Builds** go into a target directory per side, kept between runs and dated so
//!   that only what changed is rebuilt ([`super::reuse`]); an empty one is seeded from
//!   another build of the project.

use std::path::{Path, PathBuf};

use super::build::{self, BenchBinary};
use super::git::{Repo, Worktree};
use super::harness::{self, Swap};
use super::{AbEvent, reuse};
use crate::GateError;

/// What to check out and build.
pub struct Request<'a> {
    /// The repository.
    pub repo: &'a Repo,
    /// The project's directory in the working tree.
    pub dir: &'a Path,
    /// The base's commit.
    pub base: &'a str,
    /// The head's commit (`None`: the working tree).
    pub head: Option<&'a str>,
    /// Whether both sides hold the same tree.
    pub same_tree: bool,
    /// The project's own target directory.
    pub target: &'a Path,
    /// `<target>/bench-gate-ab`: side targets, checkouts, the harness.
    pub ab_dir: &'a Path,
    /// Where cargo's logs go.
    pub logs: &'a Path,
    /// Whether to swap the lockstep harness in.
    pub lockstep: bool,
    /// More arguments for every `cargo bench --no-run` (`--bench NAME`, `--features`).
    pub cargo_args: &'a [String],
}

/// Both sides, built.
pub struct Built {
    /// The base's bench executables.
    pub base: Vec<BenchBinary>,
    /// The head's bench executables.
    pub head: Vec<BenchBinary>,
    /// The harness version both sides were built with (`None`: the real Criterion).
    pub harness: Option<String>,
    /// What a reader of the report should know about the builds.
    pub notes: Vec<String>,
    /// The worktrees, removed when this drops.
    pub worktrees: Vec<Worktree>,
}

/// A worktree side's checkout.
struct Checkout {
    /// The worktree (the repository's root).
    root: PathBuf,
    /// The project's directory inside it.
    project: PathBuf,
    /// Its tracked files' blobs.
    sources: reuse::Sources,
}

/// Checks out and builds both sides as `req` says.
pub fn build(req: &Request<'_>, events: &mut dyn FnMut(AbEvent<'_>)) -> Result<Built, GateError> {
    let mut worktrees = Vec::new();
    let mut notes = Vec::new();
    let head_commit = match (req.head, req.lockstep && !req.same_tree) {
        (Some(h), _) => Some(h.to_owned()),
        (None, true) => Some(req.repo.snapshot(req.ab_dir, req.target)?),
        (None, false) => None,
    };
    let mut checkout = |side: &str, commit: &str, events: &mut dyn FnMut(AbEvent<'_>)| {
        events(AbEvent::Status(&format!(
            "checking out the {side} ({commit:.12}) ..."
        )));
        let wt = req
            .repo
            .worktree(commit, &reuse::checkout_path(req.ab_dir, side))?;
        let sources = reuse::Sources::of(&wt.path)?;
        sources.restore(&wt.path, &side_target(req, side))?;
        // Until this build succeeds, the target holds no build of a known source.
        reuse::Sources::forget(&side_target(req, side));
        let checkout = Checkout {
            root: wt.path.clone(),
            project: wt.path.join(&req.repo.project),
            sources,
        };
        worktrees.push(wt);
        Ok::<_, GateError>(checkout)
    };
    // With the same tree on both sides, the head's checkout serves both.
    let head = match &head_commit {
        Some(c) => Some(checkout("head", c, events)?),
        None if req.lockstep => Some(checkout("head", req.base, events)?),
        None => None,
    };
    let base = match req.same_tree {
        true => None,
        false => Some(checkout("base", req.base, events)?),
    };
    let swapped = match (&head, req.lockstep) {
        (Some(h), true) => swap(req, [Some(h), base.as_ref()], &mut notes)?,
        _ => None,
    };
    let sides = [("head", head.as_ref()), ("base", base.as_ref())];
    let none = [Vec::new(), Vec::new()];
    let patches = swapped.as_ref().map_or(&none, |(_, p)| p);
    let mut built = build_sides(req, &sides, patches, &mut notes, events);
    let mut harness = swapped.map(|(v, _)| v);
    if let (Err(e), Some(_)) = (&built, &harness) {
        notes.push(format!(
            "the benches do not build with the lockstep harness, so both sides were built with \
             their own Criterion and measured in process rounds: {e}"
        ));
        harness = None;
        built = build_sides(req, &sides, &none, &mut notes, events);
    }
    let [head_bins, base_bins] = built?;
    let head_bins = head_bins.unwrap_or_default();
    let base_bins = match base_bins {
        Some(bins) => bins,
        None => {
            notes.push(
                "base and head hold the same tree: one build measured as both sides (an A/A run)"
                    .into(),
            );
            head_bins.clone()
        }
    };
    Ok(Built {
        base: base_bins,
        head: head_bins,
        harness,
        notes,
        worktrees,
    })
}

/// The harness version both sides take and each side's cargo arguments (head, base).
type Swapped = (String, [Vec<String>; 2]);

/// The harness for both sides' checkouts (head, base), written out under `ab_dir`; `None`
/// with a note when either side cannot take it.
fn swap(
    req: &Request<'_>,
    checkouts: [Option<&Checkout>; 2],
    notes: &mut Vec<String>,
) -> Result<Option<Swapped>, GateError> {
    let mut patches = [Vec::new(), Vec::new()];
    let mut version = None;
    for (i, c) in checkouts.iter().enumerate() {
        let Some(c) = c else { continue };
        match harness::swap_for(&c.project)? {
            // Each side is patched with its own locked version; the source is the same.
            Swap::Version(v) => {
                let dir = harness::write(&req.ab_dir.join("harness"), &v)?;
                patches[i] = harness::patch_args(&dir).to_vec();
                version.get_or_insert(v);
            }
            Swap::Unsupported(why) => {
                notes.push(format!(
                    "measured in process rounds, not in lockstep: the {} side: {why}",
                    ["head", "base"][i]
                ));
                return Ok(None);
            }
        }
    }
    Ok(version.map(|v| (v, patches)))
}

/// The side's own target directory under `ab_dir`.
fn side_target(req: &Request<'_>, side: &str) -> PathBuf {
    req.ab_dir.join(side)
}

/// Builds the head and (when it has a checkout of its own) the base, each with its
/// cargo arguments (`patches`: head, base).
fn build_sides(
    req: &Request<'_>,
    sides: &[(&'static str, Option<&Checkout>); 2],
    patches: &[Vec<String>; 2],
    notes: &mut Vec<String>,
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<[Option<Vec<BenchBinary>>; 2], GateError> {
    let mut out = [None, None];
    for (i, (side, checkout)) in sides.iter().enumerate() {
        let Some(c) = checkout else {
            if i == 0 {
                events(AbEvent::Status("building the head's benches ..."));
                out[0] = Some(build::build(req.dir, None, side, req.logs, req.cargo_args)?);
            }
            continue;
        };
        // An empty side target is seeded: the head's from the project's usual target, the
        // base's from the head's.
        let head_target = side_target(req, "head");
        let (from, whose) = match (i, sides[0].1) {
            (1, Some(_)) => (reuse::Seed::Side(&head_target), "head"),
            _ => (
                reuse::Seed::WorkingTree {
                    target: req.target,
                    root: &req.repo.root,
                },
                "project",
            ),
        };
        if let Some(bytes) = c.sources.seed(&c.root, from, &side_target(req, side))? {
            notes.push(format!(
                "the {side}'s first build started from the {whose}'s ({:.1} GB copied); \
                 what its sources change was rebuilt",
                bytes as f64 / 1e9,
            ));
        }
        events(AbEvent::Status(&format!(
            "building the {side}'s benches ..."
        )));
        let target = side_target(req, side);
        let args = [&patches[i][..], req.cargo_args].concat();
        let bins = build::build(&c.project, Some(&target), side, req.logs, &args)?;
        c.sources.record(&target)?;
        out[i] = Some(bins);
    }
    Ok(out)
}
