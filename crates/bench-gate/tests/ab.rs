//! `bench-gate ab` end to end on a project that is not ours: a scratch Criterion crate
//! with its own git history, created in a temporary directory, measured in lockstep
//! through the harness swapped in for its `criterion`. A comment-only change passes, 3 %
//! more work is critical where the run could see 3 %, the project's files and lock file
//! are never changed, and every kind of bad input (a bench the harness cannot build, a
//! sample that panics or hangs, Ctrl-C) is named, leaving no worktree and no temporary
//! file behind. Process rounds, the fallback, are measured too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The scratch project's bench: two benchmarks of a fixed amount of work, and `extra`
/// lines inside `benches` (more benchmarks, or a use of an API).
fn bench_source(work: u64, comment: &str, extra: &str) -> String {
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
    {extra}
}}

criterion_group!(g, benches);
criterion_main!(g);
"#
    )
}

/// A benchmark that panics once its process has run it for 40 ms: after its 20 ms of
/// warm-up, in one of its samples.
const PANICS: &str = r#"
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    c.bench_function("work/boom", |b| {
        if START.get_or_init(std::time::Instant::now).elapsed().as_millis() > 40 {
            panic!("boom in a sample");
        }
        b.iter(|| spin(black_box(1000)))
    });"#;

/// A benchmark that hangs in one of its samples, the same way.
const HANGS: &str = r#"
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    c.bench_function("work/hang", |b| {
        if START.get_or_init(std::time::Instant::now).elapsed().as_millis() > 40 {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
        b.iter(|| spin(black_box(1000)))
    });"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    write_bench(dir, 100_000, "work per iteration", "");
    git(dir, &["init", "-q"]);
    commit_all(dir, "base");
}

/// Builds a scratch project's benches with the real Criterion in the shared scratch
/// target, once per test binary, before the first `ab`. `ab` seeds an empty side target
/// from the project's, so every test's fallback to the real Criterion (in a side target)
/// and its process rounds (in the project's) reuse this one build.
fn build_real_criterion_once() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let dir = tempfile::tempdir().unwrap();
        scratch_project(dir.path());
        let target = crate::util::scratch_target();
        crate::util::cargo(dir.path(), &target, &["bench", "--no-run", "--quiet"]);
    });
}

fn write_bench(dir: &Path, work: u64, comment: &str, extra: &str) {
    std::fs::write(
        dir.join("benches/work.rs"),
        bench_source(work, comment, extra),
    )
    .unwrap();
}

/// `bench-gate ab ARGS` in `dir`, with its temporary files under `tmp`, building in
/// the scratch projects' shared target directory.
fn ab(dir: &Path, tmp: &Path, args: &[&str]) -> Output {
    ab_with(dir, tmp, args, &[])
}

/// [`ab`] with more environment variables.
fn ab_with(dir: &Path, tmp: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    bench_gate(dir, tmp, &[&["ab"], args].concat(), env)
}

/// `bench-gate ARGS` in `dir`, as [`ab`] runs it (`env` last: it may name another
/// `CARGO_TARGET_DIR`).
fn bench_gate(dir: &Path, tmp: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    std::fs::create_dir_all(tmp).unwrap();
    build_real_criterion_once();
    Command::new(env!("CARGO_BIN_EXE_bench-gate"))
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", crate::util::scratch_target())
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
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
    let list = git(repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
}

/// Each benchmark's id, verdict, minimum detectable effect and change interval.
type Verdicts = Vec<(String, String, f64, [f64; 2])>;

/// The [`Verdicts`] of a `--json` report.
fn verdicts(json: &Path) -> Verdicts {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    v["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ci = &c["paired"]["change_ci"];
            (
                c["id"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
                c["mde"].as_f64().unwrap_or(f64::NAN),
                [ci[0].as_f64().unwrap_or(0.0), ci[1].as_f64().unwrap_or(0.0)],
            )
        })
        .collect()
}

/// Each count comparison's id, verdict and change.
type Counts = Vec<(String, String, f64)>;

/// The [`Verdicts`] of the wall-time comparisons of a `--json` report, and its counts.
fn verdicts_and_counts(json: &Path) -> (Verdicts, Counts) {
    let (counted, timed): (Vec<_>, Vec<_>) = verdicts(json)
        .into_iter()
        .partition(|(id, ..)| id.starts_with("instructions/"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let change = |id: &str| {
        let all = v["comparisons"].as_array().unwrap();
        let c = all.iter().find(|c| c["id"] == id).unwrap();
        c["change"].as_f64().unwrap()
    };
    let counts = counted
        .into_iter()
        .map(|(id, verdict, ..)| {
            let ch = change(&id);
            (id, verdict, ch)
        })
        .collect();
    (timed, counts)
}

#[test]
fn a_project_that_is_not_ours_passes_a_comment_and_fails_three_percent_more_work() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let (repo, tmp) = (root.path().join("repo"), root.path().join("tmp"));
    scratch_project(&repo);
    // The base's side starts empty, so its first build is seeded: part of the test.
    let target = crate::util::scratch_target();
    let base_side = target.join("bench-gate-ab/base");
    if base_side.exists() {
        std::fs::remove_dir_all(&base_side).unwrap();
    }
    let json = root.path().join("ab.json");
    let json_arg = json.to_str().unwrap();
    let args = ["--base", "HEAD", "--json", json_arg];

    // 3 % more work: every benchmark that could see 3 % (its minimum detectable effect
    // at most half of it) is critical, and the run says so with exit 1. This first run finds
    // the base's target empty and seeds it from the head's build: the base must still be
    // built from its own sources (cargo's unit hash ignores the checkout's path).
    write_bench(&repo, 103_000, "work per iteration", "");
    let out = ab(&repo, &tmp, &args);
    let (v, counts) = verdicts_and_counts(&json);
    assert!(
        v.iter().any(|(_, _, mde, _)| *mde < 0.024),
        "the run could not see 3 % on any benchmark: {}",
        text(&out)
    );
    // The counts see the 3 % whatever the machine does: every benchmark's count is up
    // by nearly that (the loop around the routine is the same), above the warning level.
    assert_eq!(counts.len(), 2, "{}", text(&out));
    for (id, verdict, change) in &counts {
        assert!((0.025..0.035).contains(change), "{id}: {change}");
        assert!(
            verdict == "warning" || verdict == "critical",
            "{id}: {verdict}"
        );
    }
    // Each wall-time verdict says which moved: here the work.
    let report = std::fs::read_to_string(&json).unwrap();
    assert_eq!(
        report
            .matches("\"work\": \"more work (instructions +")
            .count(),
        2,
        "{report}"
    );
    // The terminal table says it under each judged one (below, one is critical).
    assert!(
        text(&out).contains("└ more work (instructions +"),
        "{}",
        text(&out)
    );
    // The report has Callgrind's totals per iteration for both sides.
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let spin = &report["counts"]["per_iteration"]["work/spin"];
    for side in ["base", "head"] {
        for metric in ["instructions", "l1_hits", "estimated_cycles"] {
            assert!(
                spin[side][metric].as_f64().unwrap() > 0.0,
                "{side} {metric}: {spin}"
            );
        }
    }
    // The margin the run itself reports: 3 % is critical wherever it is at least twice
    // the benchmark's minimum detectable effect (power then above 99.9 %). Nearer the
    // MDE a run may read it as a warning: at an MDE of 1.95 % one run on a noisy VM read
    // `work/spin` +1.12 % [+0.10 %, +2.15 %]. It is never `unchanged` or `improved`.
    for (id, verdict, mde, ci) in &v {
        if *mde <= 0.015 {
            assert_eq!(verdict, "critical", "{id}: {}", text(&out));
        }
        assert!(
            !["unchanged", "improved"].contains(&verdict.as_str()),
            "{id}: {}",
            text(&out)
        );
        assert!(ci[0] < 0.045 && ci[1] > 0.015, "{id}: {ci:?}");
    }
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("lockstep pairs")
            && text(&out).contains("the base's first build started from the head's"),
        "{}",
        text(&out)
    );
    // The harness was built in worktrees: the project has no lock file of cargo's
    // making, and nothing but the edit changed.
    assert!(!repo.join("Cargo.lock").exists());
    assert_eq!(
        git(&repo, &["status", "--porcelain"]),
        " M benches/work.rs\n"
    );
    assert_clean(&repo, &tmp);

    // A comment-only change: exit 0, every benchmark judged, none critical.
    write_bench(&repo, 100_000, "the work per iteration, reworded", "");
    let out = ab(&repo, &tmp, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (v, counts) = verdicts_and_counts(&json);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v.iter()
            .all(|(_, verdict, mde, _)| verdict != "critical" && *mde > 0.0),
        "{v:?}"
    );
    // A comment changes no instruction.
    assert_eq!(
        counts,
        [
            (
                "instructions/work/spin".to_owned(),
                "unchanged".to_owned(),
                0.0
            ),
            (
                "instructions/work/spin_half".to_owned(),
                "unchanged".to_owned(),
                0.0
            )
        ],
        "{}",
        text(&out)
    );
    assert_clean(&repo, &tmp);

    // Kept runs: every pair with its samples; a --keep-runs that exists is exit 2.
    let keep = root.path().join("runs");
    let keep_arg = keep.to_str().unwrap();
    // Without valgrind, the counts are skipped with a note, and wall time is judged.
    let kept = ["--base", "HEAD", "--rounds", "4", "--keep-runs", keep_arg];
    let no_valgrind = [("BENCH_GATE_VALGRIND", "/nonexistent/valgrind")];
    let out = ab_with(&repo, &tmp, &kept, &no_valgrind);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    assert!(
        text(&out).contains("instruction counts skipped: valgrind was not found"),
        "{}",
        text(&out)
    );
    let pairs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(keep.join("pairs.json")).unwrap()).unwrap();
    for id in ["work/spin", "work/spin_half"] {
        let runs = pairs[id].as_array().unwrap();
        assert_eq!(runs.len(), 4, "{id}: {pairs}");
        for run in runs {
            let samples = run["samples"].as_array().unwrap();
            assert_eq!(samples[0].as_array().unwrap().len(), 3, "{run}");
            assert_eq!(samples[1].as_array().unwrap().len(), 3, "{run}");
            assert!(run["iters"].as_u64().unwrap() > 0, "{run}");
        }
    }
    assert_clean(&repo, &tmp);
    let out = ab(&repo, &tmp, &kept);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("already exists"), "{}", text(&out));

    // A head whose benches do not build: exit 2 naming the side, with the compiler's error.
    std::fs::write(
        repo.join("benches/work.rs"),
        "fn main() { let x: u32 = \"not a number\"; }\n",
    )
    .unwrap();
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
    write_bench(&repo, 100_000, "work per iteration", "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench-gate"))
        .current_dir(&repo)
        .env("CARGO_TARGET_DIR", &target)
        .env("TMPDIR", &tmp)
        .args([
            "ab",
            "--base",
            "HEAD",
            "--rounds",
            "200",
            "--target-mde",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 {
        if line.contains("pair 3:") {
            break;
        }
        line.clear();
    }
    assert!(
        line.contains("pair 3:"),
        "the measurement never started: {line}"
    );
    std::thread::sleep(Duration::from_millis(300));
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
    let processes = Command::new("pgrep")
        .args(["-f", "work-"])
        .output()
        .unwrap();
    assert!(processes.stdout.is_empty(), "left running: {processes:?}");
}

#[test]
fn a_sample_that_panics_or_hangs_is_named_with_its_side() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let (repo, tmp) = (root.path().join("repo"), root.path().join("tmp"));
    scratch_project(&repo);
    for (extra, id, what) in [
        (PANICS, "work/boom", "boom in a sample"),
        (HANGS, "work/hang", "no answer"),
    ] {
        write_bench(&repo, 100_000, "work per iteration", extra);
        commit_all(&repo, id);
        let filter = format!("^{id}$");
        let args = ["--base", "HEAD", "--run-timeout", "3", "--", &filter];
        let out = ab(&repo, &tmp, &args);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(
            all.contains(&format!("benchmark {id}"))
                && all.contains("a pair failed twice")
                && all.contains("sample ")
                && (all.contains("from the base") || all.contains("from the head"))
                && all.contains(what),
            "{all}"
        );
        assert_clean(&repo, &tmp);
    }
}

/// A benchmark that sleeps (it waits) and one that runs two threads at once.
const WAITS_AND_THREADS: &str = r#"
    c.bench_function("work/sleep", |b| {
        b.iter(|| std::thread::sleep(std::time::Duration::from_micros(500)))
    });
    c.bench_function("work/threads", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                let h = s.spawn(|| spin(black_box(5_000_000)));
                spin(black_box(5_000_000)) ^ h.join().unwrap()
            })
        })
    });"#;

#[test]
fn each_benchmark_is_sampled_as_its_kind_says_a_sleep_both_at_once() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let (repo, tmp) = (root.path().join("repo"), root.path().join("tmp"));
    scratch_project(&repo);
    write_bench(&repo, 100_000, "work per iteration", WAITS_AND_THREADS);
    commit_all(&repo, "a benchmark that waits, one with threads");
    let (json, keep) = (root.path().join("ab.json"), root.path().join("runs"));
    let args = [
        "--base",
        "HEAD",
        "--rounds",
        "3",
        "--min-rounds",
        "3",
        "--json",
        json.to_str().unwrap(),
        "--keep-runs",
        keep.to_str().unwrap(),
    ];
    let out = ab(&repo, &tmp, &args);
    // Judged, whatever the verdicts: three pairs of an A/A run are what this test can
    // afford, and what it checks is how each benchmark was sampled.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let pairs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(keep.join("pairs.json")).unwrap()).unwrap();
    // The kind follows the busier side's cores in the first pair's warm-up, and whether
    // its threads blocked. A sleep keeps none busy and blocks whatever else runs; how
    // many cores the spinning and the two-thread benchmarks keep busy depends on what
    // else this machine runs meanwhile (other tests of this binary, a VM's host), so for
    // them the rule is checked against the cores they reported. The spin never blocks:
    // with few cores it is busy still, held up by the machine. The two threads' join
    // blocks now and then, so with few cores either kind is right for them.
    let mut kinds = Vec::new();
    for id in ["work/spin", "work/sleep", "work/threads"] {
        let first = &pairs[id][0];
        let cores = first["cores"].as_array().unwrap();
        let most = cores.iter().filter_map(|c| c.as_f64()).fold(0.0, f64::max);
        let measured_as = first["kind"].as_str();
        let (kind, order, how) = match most {
            m if m >= 1.25 => ("threads", "duet", "both at once on every CPU"),
            m if m < 0.75 && id == "work/threads" && measured_as == Some("busy") => {
                ("busy", "alternate", "lockstep, CPU ")
            }
            m if m < 0.75 && id != "work/spin" => ("waiting", "together", "(waiting: "),
            _ => ("busy", "alternate", "lockstep, CPU "),
        };
        assert_eq!(
            (first["kind"].as_str(), first["order"].as_str()),
            (Some(kind), Some(order)),
            "{id}: {first}"
        );
        let per_side = first["samples"][0].as_array().unwrap().len();
        // 0.3 s of 5 ms samples for the two that are sampled at once; 3 for the busy one.
        let samples_ok = if kind == "busy" {
            per_side == 3
        } else {
            per_side >= 30
        };
        assert!(samples_ok, "{id}: {per_side} samples per side");
        let row = report["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        let measured = row["paired"]["measured"].as_str().unwrap_or_default();
        assert!(measured.contains(how), "{id}: {row}");
        kinds.push(kind);
    }
    assert_eq!(kinds[1], "waiting", "a sleep waits: {kinds:?}");
    assert_clean(&repo, &tmp);
}

/// Each benchmark's instructions per iteration in a counts file.
fn counts_file(path: &Path) -> Vec<(String, f64)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(v["not_countable"], serde_json::json!({}), "{v}");
    let per = v["per_iteration"].as_object().unwrap();
    per.iter()
        .map(|(id, f)| (id.clone(), f["instructions"].as_f64().unwrap()))
        .collect()
}

#[test]
fn count_writes_each_benchmark_s_instructions_for_the_history_and_check() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let (repo, tmp) = (root.path().join("repo"), root.path().join("tmp"));
    scratch_project(&repo);
    let counts = crate::util::scratch_target().join("bench-gate-count");
    let file = counts.join("counts.json");
    let refused = |args: &[&str], env: &[(&str, &str)], why: &str| {
        let out = bench_gate(&repo, &tmp, args, env);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(why), "{}", text(&out));
    };
    refused(&["count", "--iterations", "0"], &[], "--iterations 0");
    let nowhere = [("BENCH_GATE_VALGRIND", "/nonexistent/valgrind")];
    refused(&["count"], &nowhere, "valgrind was not found");
    refused(
        &["count", "--cargo-arg=--bench=nowhere"],
        &[],
        "no bench target named `nowhere`",
    );
    let count = |args: &[&str]| {
        let out = bench_gate(&repo, &tmp, &[&["count"], args].concat(), &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            text(&out).contains("2 benchmarks counted, 0 not countable"),
            "{}",
            text(&out)
        );
        counts_file(&file)
    };
    let first = count(&[]);
    let ids: Vec<&str> = first.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["work/spin", "work/spin_half"]);
    // spin(100 000) against spin(50 000): twice the loop, plus the same call around it.
    let ratio = first[0].1 / first[1].1;
    assert!((1.95..2.05).contains(&ratio), "{first:?}");
    // The same iterations in every run: the same counts, to Callgrind's repeatability
    // (this run builds its one bench target by name).
    for ((_, again), (_, once)) in count(&["--cargo-arg=--bench=work"]).iter().zip(&first) {
        assert!((again / once - 1.0).abs() < 5e-5, "{again} against {once}");
    }

    let history = root.path().join("history.jsonl");
    let h = history.to_str().unwrap();
    let counts_dir = ["--counts-dir", counts.to_str().unwrap()];
    let append = [
        &["history", "append", "--file", h, "--commit", "c1"][..],
        &crate::util::COUNTS_ONLY,
        &counts_dir,
    ]
    .concat();
    let out = bench_gate(&repo, &tmp, &append, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let line: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&history).unwrap()).unwrap();
    let stored = &line["values"]["instructions/work/spin"];
    assert_eq!(stored.as_f64(), Some(counts_file(&file)[0].1), "{line}");

    // 3 % more work, not committed: counted as the working tree.
    write_bench(&repo, 103_000, "work per iteration", "");
    let more = count(&[]);
    let change = more[0].1 / first[0].1 - 1.0;
    assert!((0.025..0.035).contains(&change), "{first:?} {more:?}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(v["uncommitted"], true, "{v}");
    assert_eq!(
        git(&repo, &["status", "--porcelain"]).trim(),
        "M benches/work.rs"
    );
    assert_clean(&repo, &tmp);
}

#[test]
fn a_benchmark_on_one_side_only_is_new_with_its_value() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let (repo, tmp) = (root.path().join("repo"), root.path().join("tmp"));
    scratch_project(&repo);
    let extra = r#"c.bench_function("work/extra", |b| b.iter(|| spin(black_box(500))));"#;
    write_bench(&repo, 100_000, "work per iteration", extra);
    let json = root.path().join("ab.json");
    let out = ab(
        &repo,
        &tmp,
        &["--base", "HEAD", "--json", json.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let extra = report["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "work/extra")
        .unwrap();
    assert_eq!(extra["verdict"], "new", "{extra}");
    assert!(extra["current"].as_f64().unwrap() > 0.0, "{extra}");
    assert_clean(&repo, &tmp);
}

#[test]
fn a_bench_the_harness_cannot_build_is_measured_in_process_rounds() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let (repo, tmp) = (root.path().join("repo"), root.path().join("tmp"));
    scratch_project(&repo);
    // The real Criterion has `BenchmarkFilter::Regex`; the harness does not.
    write_bench(
        &repo,
        100_000,
        "work per iteration",
        "let _ = criterion::BenchmarkFilter::Regex;",
    );
    commit_all(&repo, "an API the harness lacks");
    let json = root.path().join("ab.json");
    let out = ab(
        &repo,
        &tmp,
        &[
            "--base",
            "HEAD",
            "--rounds",
            "5",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("do not build with the lockstep harness")
            && all.contains("BenchmarkFilter")
            && all.contains("process rounds, both sides at once on one CPU"),
        "{all}"
    );
    let v = verdicts(&json);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v.iter().all(|(_, verdict, _, _)| verdict != "critical"),
        "{v:?}"
    );
    assert_clean(&repo, &tmp);
}

#[test]
fn process_rounds_stop_early_and_keep_their_runs() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let (repo, tmp) = (root.path().join("repo"), root.path().join("tmp"));
    scratch_project(&repo);
    // A committed lock file stays byte for byte what it was.
    let target = crate::util::scratch_target();
    crate::util::cargo(&repo, &target, &["generate-lockfile", "--quiet"]);
    commit_all(&repo, "lock file");
    let before = std::fs::read(repo.join("Cargo.lock")).unwrap();
    write_bench(&repo, 100_000, "work per iteration, in rounds", "");
    let (json, keep) = (root.path().join("ab.json"), root.path().join("runs"));
    // With a target every benchmark reaches at once, both stop after --min-rounds; the
    // kept runs hold exactly those rounds and a manifest naming each benchmark's binary.
    let args = [
        "--base",
        "HEAD",
        "--pairing",
        "shared-cpu",
        "--rounds",
        "6",
        "--min-rounds",
        "3",
        "--target-mde",
        "100",
        "--keep-runs",
        keep.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    let out = ab(&repo, &tmp, &args);
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
    for side in ["base", "head"] {
        let rounds = std::fs::read_dir(keep.join(side)).unwrap().count();
        assert_eq!(rounds, 3, "{side}");
        assert!(keep.join(side).join("round-3/work%2Fspin").is_dir());
    }
    assert_eq!(std::fs::read(repo.join("Cargo.lock")).unwrap(), before);
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
    // does not exist; then too few rounds, a bad budget and a bad filter.
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
    for (args, says) in [
        (&["--base", "HEAD", "--rounds", "2"][..], "--rounds: 2"),
        (
            &["--base", "HEAD", "--budget", "ten"][..],
            "is not a duration",
        ),
        (
            &[
                "--base",
                "HEAD",
                "--pairing",
                "shared-cpu",
                "--budget",
                "1m",
            ][..],
            "only lockstep pairing measures to a budget",
        ),
        (
            &["--base", "HEAD", "--", "work/("][..],
            "is not a valid regex",
        ),
    ] {
        let out = ab(&repo, &tmp, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }

    // A subdirectory without its own Cargo.toml.
    std::fs::create_dir_all(repo.join("docs")).unwrap();
    let out = ab(&repo.join("docs"), &tmp, &["--base", "HEAD"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no Cargo.toml here"), "{}", text(&out));
    assert_clean(&repo, &tmp);
}
