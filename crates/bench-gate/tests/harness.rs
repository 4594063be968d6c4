//! The lockstep harness as a crate of its own: written out as `bench-gate ab` writes it,
//! it passes its unit tests, clippy with warnings denied and rustfmt, with the async
//! executors it offers compiled in (tokio's and futures'). The harness is not a member of
//! this workspace (it is named `criterion`), so this is where it is linted.

use std::process::Command;

#[test]
fn the_written_harness_passes_its_tests_clippy_and_rustfmt() {
    let _machine = crate::util::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let root = bench_gate::ab::harness::write(dir.path(), "0.8.2").unwrap();
    let target = crate::util::scratch_target();
    let features = "async_tokio,async_futures";
    crate::util::cargo(&root, &target, &["fmt", "--check"]);
    crate::util::cargo(&root, &target, &["test", "--quiet", "--features", features]);
    crate::util::cargo(
        &root,
        &target,
        &[
            "clippy",
            "--quiet",
            "--all-targets",
            "--features",
            features,
            "--",
            "-D",
            "warnings",
        ],
    );
}

/// A bench file that calls every part of Criterion's API the harness stands in for.
const EVERY_API: &str = r#"
use std::time::Duration;
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion,
    SamplingMode, Throughput,
};

fn work(n: u64) -> u64 {
    (0..n).fold(1u64, |x, i| x.wrapping_mul(31).wrapping_add(i))
}

fn group(c: &mut Criterion) {
    let mut g = c.benchmark_group("api");
    g.throughput(Throughput::Elements(10))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(10))
        .measurement_time(Duration::from_millis(50));
    g.bench_function("iter", |b| b.iter(|| work(black_box(1000))));
    g.bench_with_input(BenchmarkId::new("input", 500), &500u64, |b, &n| b.iter(|| work(n)));
    g.bench_function(BenchmarkId::from_parameter(7), |b| b.iter(|| work(7)));
    g.bench_function("batched", |b| {
        b.iter_batched(|| vec![1u64; 64], |v| v.iter().sum::<u64>(), BatchSize::SmallInput)
    });
    g.bench_function("batched_ref", |b| {
        b.iter_batched_ref(|| vec![1u64; 64], |v| v.push(1), BatchSize::PerIteration)
    });
    g.bench_function("custom", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                black_box(work(200));
            }
            start.elapsed()
        })
    });
    g.bench_function("with_setup", |b| b.iter_with_setup(|| 300u64, work));
    g.bench_function("large_drop", |b| b.iter_with_large_drop(|| vec![0u8; 4096]));
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    g.bench_function("async", |b| b.to_async(&rt).iter(|| async { work(400) }));
    g.finish();
}

fn alone(c: &mut Criterion) {
    c.bench_function("alone", |b| b.iter(|| work(100)));
    c.bench_with_input(BenchmarkId::new("top", 3), &3u64, |b, &n| b.iter(|| work(n)));
}

criterion_group! {
    name = configured;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(10));
    targets = group
}
criterion_group!(plain, alone);
criterion_main!(configured, plain);
"#;

#[test]
fn every_part_of_the_api_a_bench_calls_is_measured_in_lockstep() {
    let _machine = crate::util::exclusive();
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    std::fs::create_dir_all(repo.join("benches")).unwrap();
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(
        repo.join("Cargo.toml"),
        r#"[package]
name = "every-api"
version = "0.1.0"
edition = "2021"

[dev-dependencies]
criterion = { version = "0.8", default-features = false, features = ["cargo_bench_support", "async_tokio"] }
tokio = { version = "1", features = ["rt"] }

[[bench]]
name = "api"
harness = false
"#,
    )
    .unwrap();
    std::fs::write(repo.join("src/lib.rs"), "//! Nothing to see.\n").unwrap();
    std::fs::write(repo.join(".gitignore"), "/target\n").unwrap();
    std::fs::write(repo.join("benches/api.rs"), EVERY_API).unwrap();
    crate::util::cargo(
        &repo,
        &crate::util::scratch_target(),
        &["generate-lockfile", "--quiet"],
    );
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .current_dir(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "every API"]);
    let lock = std::fs::read(repo.join("Cargo.lock")).unwrap();
    let json = root.path().join("ab.json");
    let tmp = root.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bench-gate"))
        .current_dir(&repo)
        .env("CARGO_TARGET_DIR", crate::util::scratch_target())
        .env("TMPDIR", &tmp)
        .args(["ab", "--base", "HEAD", "--rounds", "3", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Judged, whatever the verdicts: what this test checks is that every part of the
    // API is measured; three pairs of an A/A run, with other tests beside it, can read
    // a routine of tens of nanoseconds 1 % apart (seen: `api/async` +1.27 %, critical).
    assert!(matches!(out.status.code(), Some(0 | 1)), "{all}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let mut ids: Vec<&str> = report["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["source"] == "wall_time")
        .map(|c| {
            assert_eq!(c["paired"]["rounds"], 3, "{c}");
            let measured = c["paired"]["measured"].as_str().unwrap();
            assert!(measured.starts_with("lockstep"), "{c}");
            c["id"].as_str().unwrap()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "alone",
            "api/7",
            "api/async",
            "api/batched",
            "api/batched_ref",
            "api/custom",
            "api/input/500",
            "api/iter",
            "api/large_drop",
            "api/with_setup",
            "top/3"
        ],
        "{all}"
    );
    // Every benchmark was counted under Callgrind too, whichever part of the API it
    // uses: counted on both sides, or named not countable with the reason.
    let counts = &report["counts"];
    for id in &ids {
        let counted = counts["per_iteration"][id]["head"]["instructions"].as_f64();
        let why = counts["not_countable"][id].as_str();
        assert!(
            counted.is_some_and(|n| n > 0.0) || why.is_some(),
            "{id}: {counts}"
        );
    }
    // The committed lock file is what it was: the harness went in through worktrees.
    assert_eq!(std::fs::read(repo.join("Cargo.lock")).unwrap(), lock);
}
