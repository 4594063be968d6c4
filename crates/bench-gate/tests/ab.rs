//! `bench-gate ab` end to end on a project that is not ours: a scratch Criterion crate
//! with its own git history, created in a temporary directory. A comment-only change
//! passes, 3 % more work is critical, and every kind of bad input is exit 2 with a
//! message saying what and where, leaving no worktree and no temporary file behind
//! (Ctrl-C included).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The scratch project's bench: two benchmarks of a fixed amount of work.
fn bench_source(work: u64, comment: &str) -> String {
    format!(
        r#"use criterion::{{criterion_group, criterion_main, Criterion}};
use std::hint::black_box;

// {comment}
const WORK: u64 = {work};

fn spin(n: u64) -> u64 {{
    let mut x = 1u64;
    for i in 0..n {{
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
    }}
    x
}}

fn benches(c: &mut Criterion) {{
    c.bench_function("work/spin", |b| b.iter(|| spin(black_box(WORK))));
    c.bench_function("work/spin_half", |b| b.iter(|| spin(black_box(WORK / 2))));
}}

criterion_group!(g, benches);
criterion_main!(g);
"#
    )
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// `git add -A && git commit -m MESSAGE` in `dir`.
fn commit_all(dir: &Path, message: &str) {
    let who = ["-c", "user.name=t", "-c", "user.email=t@t"];
    git(dir, &[&who[..], &["add", "-A"]].concat());
    git(dir, &[&who[..], &["commit", "-qm", message]].concat());
}

/// A git repository at `dir` holding a Criterion project (committed once).
fn scratch_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("benches")).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        r#"[package]
name = "scratch-bench"
version = "0.1.0"
edition = "2021"

[dev-dependencies]
criterion = { version = "0.8", default-features = false, features = ["cargo_bench_support"] }

[[bench]]
name = "work"
harness = false
"#,
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "//! Nothing to see.\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "/target\n").unwrap();
    std::fs::write(
        dir.join("benches/work.rs"),
        bench_source(100_000, "work per iteration"),
    )
    .unwrap();
    git(dir, &["init", "-q"]);
    commit_all(dir, "base");
}

/// `bench-gate ab ARGS` in `dir`, with its temporary files under `tmp` and its target
/// directory its own (a `CARGO_TARGET_DIR` the tests inherit would be shared by the
/// scratch projects, and so would `ab`'s lock in it).
fn ab(dir: &Path, tmp: &Path, args: &[&str]) -> Output {
    std::fs::create_dir_all(tmp).unwrap();
    Command::new(env!("CARGO_BIN_EXE_bench-gate"))
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .arg("ab")
        .args(args)
        .output()
        .expect("bench-gate runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Nothing left: no temporary directory, one worktree (the main one).
fn assert_clean(repo: &Path, tmp: &Path) {
    let left: Vec<PathBuf> = std::fs::read_dir(tmp)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    let out = Command::new("git")
        .current_dir(repo)
        .args(["worktree", "list", "--porcelain"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
}

fn verdicts(json: &Path) -> Vec<(String, String, f64)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    v["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
                c["mde"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_project_that_is_not_ours_passes_a_comment_and_fails_three_percent_more_work() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let (repo, tmp) = (root.path().join("repo"), root.path().join("tmp"));
    scratch_project(&repo);
    let bench = repo.join("benches/work.rs");
    let json = root.path().join("ab.json");
    let json_arg = json.to_str().unwrap();
    let args = ["--base", "HEAD", "--rounds", "8", "--json", json_arg];

    // 3 % more work: exit 1, both benchmarks critical. This first run finds the base's
    // target empty and seeds it from the head's build: the base must still be built
    // from its own sources (cargo's unit hash ignores the checkout's path).
    std::fs::write(&bench, bench_source(103_000, "work per iteration")).unwrap();
    let out = ab(&repo, &tmp, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v = verdicts(&json);
    assert!(
        v.iter().all(|(_, verdict, _)| verdict == "critical"),
        "{v:?}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("work/spin"));
    assert!(
        text(&out).contains("the base's first build reused the head's dependencies"),
        "{}",
        text(&out)
    );
    assert_clean(&repo, &tmp);

    // A comment-only change: exit 0, every benchmark judged, none critical.
    std::fs::write(
        &bench,
        bench_source(100_000, "the work per iteration, reworded"),
    )
    .unwrap();
    let out = ab(&repo, &tmp, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = verdicts(&json);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v.iter()
            .all(|(_, verdict, mde)| verdict != "critical" && *mde > 0.0),
        "{v:?}"
    );
    assert_clean(&repo, &tmp);

    // Early stop and kept runs: with a target every benchmark reaches at once, both stop
    // after --min-rounds; the kept runs hold exactly those rounds and a manifest that
    // names the binary measuring each benchmark. A --keep-runs that exists is exit 2.
    let keep = root.path().join("runs");
    let keep_arg = keep.to_str().unwrap();
    let early = [
        "--base",
        "HEAD",
        "--rounds",
        "6",
        "--min-rounds",
        "3",
        "--stop-at-mde",
        "100",
        "--keep-runs",
        keep_arg,
        "--json",
        json_arg,
    ];
    let out = ab(&repo, &tmp, &early);
    // Three rounds are too few to call 3 % critical after the multiplicity: a verdict,
    // either way, but not exit 2.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    assert!(
        text(&out).contains("2 benchmark(s) stopped early")
            && text(&out).contains("2 after 3 rounds"),
        "{}",
        text(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for c in report["comparisons"].as_array().unwrap() {
        assert_eq!(c["paired"]["rounds"], 3, "{c}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(keep.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["benchmarks"]["work/spin"], "work", "{manifest}");
    assert!(
        manifest["head"]["work"]["path"].as_str().is_some(),
        "{manifest}"
    );
    for side in ["base", "head"] {
        let rounds: Vec<String> = std::fs::read_dir(keep.join(side))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(rounds.len(), 3, "{side}: {rounds:?}");
        assert!(keep.join(side).join("round-3/work%2Fspin").is_dir());
    }
    assert_clean(&repo, &tmp);
    let out = ab(&repo, &tmp, &early);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("already exists"), "{}", text(&out));

    // A head whose benches do not build: exit 2 naming the side, with the compiler's error.
    std::fs::write(&bench, "fn main() { let x: u32 = \"not a number\"; }\n").unwrap();
    let out = ab(&repo, &tmp, &args);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("the head side's benches do not build") && all.contains("mismatched types"),
        "{all}"
    );
    assert_clean(&repo, &tmp);

    // --head naming the checked-out commit while the tree is dirty: ambiguous, exit 2.
    let out = ab(&repo, &tmp, &["--base", "HEAD", "--head", "HEAD"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("uncommitted changes"), "{}", text(&out));

    // Ctrl-C while measuring: exit 2 at once, nothing left behind.
    std::fs::write(&bench, bench_source(100_000, "work per iteration")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench-gate"))
        .current_dir(&repo)
        .env("CARGO_TARGET_DIR", repo.join("target"))
        .env("TMPDIR", &tmp)
        .args(["ab", "--base", "HEAD", "--rounds", "50", "--time", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 {
        if line.contains("round 1/50") {
            break;
        }
        line.clear();
    }
    assert!(
        line.contains("round 1/50"),
        "the measurement never started: {line}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "{:?}",
        sent.elapsed()
    );
    assert_clean(&repo, &tmp);
}

#[test]
fn bad_input_is_exit_2_naming_what_is_wrong() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let tmp = root.path().join("tmp");
    // Not a git repository.
    let plain = root.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let out = ab(&plain, &tmp, &["--base", "HEAD"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not inside a git repository"),
        "{}",
        text(&out)
    );

    // A repository with a Cargo project that has no benches; then a revision that
    // does not exist; then too few rounds.
    let repo = root.path().join("nobench");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(
        repo.join("Cargo.toml"),
        "[package]\nname = \"nobench\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(repo.join("src/lib.rs"), "//! No benches.\n").unwrap();
    std::fs::write(repo.join(".gitignore"), "/target\n").unwrap();
    git(&repo, &["init", "-q"]);
    commit_all(&repo, "one");
    let out = ab(&repo, &tmp, &["--base", "HEAD"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no Criterion benchmarks"),
        "{}",
        text(&out)
    );
    assert_clean(&repo, &tmp);

    let out = ab(&repo, &tmp, &["--base", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("revision \"no-such-branch\" does not exist"),
        "{}",
        text(&out)
    );

    let out = ab(&repo, &tmp, &["--base", "HEAD", "--rounds", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--rounds: 2"), "{}", text(&out));

    // A subdirectory without its own Cargo.toml.
    std::fs::create_dir_all(repo.join("docs")).unwrap();
    let out = ab(&repo.join("docs"), &tmp, &["--base", "HEAD"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no Cargo.toml here"), "{}", text(&out));
    assert_clean(&repo, &tmp);
}
