//! The `perf-test` binary end to end: the published queueing study's model table exactly, JSON
//! and SVG files written, and bad arguments rejected with exit code 2 and a message naming
//! the flag.

use assert_cmd::Command;
use predicates::prelude::*;

/// The binary, run in `dir` (a test's own temporary directory): the reports it writes
/// by default (`target/perf/*.json`) land there, never in the source tree.
fn perf_test(dir: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("perf-test").expect("the perf-test binary is built");
    cmd.current_dir(dir);
    cmd
}

#[test]
fn model_prints_the_research_orchestrators_table() {
    let dir = tempfile::tempdir().unwrap();
    perf_test(dir.path())
        .args([
            "model",
            "--max-workers",
            "4",
            "--arrival-rate",
            "100",
            "--service-rate",
            "120",
            "--network-delay",
            "0.005",
        ])
        .assert()
        .success()
        .stdout(
            "| workers | throughput (tasks/s) | latency (ms) | avg queue length |\n\
             | ------- | ------------------- | ------------ | ---------------- |\n\
             | 1 | 100.00 | 55.000 | 4.17 |\n\
             | 2 | 100.00 | 15.084 | 0.18 |\n\
             | 3 | 100.00 | 13.555 | 0.02 |\n\
             | 4 | 100.00 | 13.362 | 0.00 |\n",
        );
}

#[test]
fn model_writes_json_and_both_charts() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("model.json");
    let charts = dir.path().join("charts");
    perf_test(dir.path())
        .args(["model", "--json"])
        .arg(&json)
        .arg("--svg")
        .arg(&charts)
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["rows"].as_array().unwrap().len(), 4);
    assert_eq!(
        report["rows"][0]["queue_length"]
            .as_f64()
            .map(|v| (v * 100.0).round()),
        Some(417.0)
    );
    for name in ["latency_vs_workers.svg", "throughput_vs_workers.svg"] {
        let svg = std::fs::read_to_string(charts.join(name)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{name}"
        );
    }
}

#[test]
fn unstable_rows_are_reported_not_computed() {
    let dir = tempfile::tempdir().unwrap();
    perf_test(dir.path())
        .args([
            "model",
            "--max-workers",
            "2",
            "--arrival-rate",
            "200",
            "--service-rate",
            "120",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "| 1 | unstable (ρ = 1.67 ≥ 1) | — | — |",
        ));
}

#[test]
fn bad_arguments_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["model", "--arrival-rate=-1"],
            "--arrival-rate must be a finite number > 0, got -1",
        ),
        (
            &["model", "--service-rate=nan"],
            "--service-rate must be a finite number > 0",
        ),
        (
            &["model", "--max-workers", "0"],
            "--max-workers must be at least 1",
        ),
        (
            &["tools", "--parallel", "0"],
            "--parallel counts must be between 1 and 100000",
        ),
        (
            &["tools", "--tool-time-ms", "0"],
            "--tool-time-ms must be at least 1",
        ),
    ];
    for (args, message) in cases {
        perf_test(dir.path())
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    perf_test(dir.path())
        .args(["model", "--no-such-flag"])
        .assert()
        .code(2);
    perf_test(dir.path()).assert().code(2);
}

#[test]
fn unwritable_output_is_a_failure_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    perf_test(dir.path())
        .args(["model", "--svg"])
        .arg(blocker.join("charts"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("charts"));
}

#[test]
fn tools_reports_efficiency_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tools.json");
    perf_test(dir.path())
        .args([
            "tools",
            "--parallel",
            "1,10",
            "--tool-time-ms",
            "10",
            "--probe",
            "0",
            "--json",
        ])
        .arg(&json)
        .assert()
        .success()
        .stdout(predicate::str::contains("| parallel tools |"));
    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let row = &rows[1];
    assert_eq!(row["parallel"], 10);
    // Ten 10 ms calls at once take about 10 ms, not 100: a loose bound, timing is
    // measured by the benches, not asserted here.
    assert!(row["parallel_s"].as_f64().unwrap() < 0.05, "{row}");
    assert!(row["sequential_s"].as_f64().unwrap() >= 0.1, "{row}");
}

/// The `tools` figures reach the gate under the names thresholds.toml's parallel-tool rules
/// match, and those rules judge them.
#[test]
fn tools_writes_the_gate_report_the_tool_rules_apply_to() {
    let dir = tempfile::tempdir().unwrap();
    perf_test(dir.path())
        .args([
            "tools",
            "--parallel",
            "1,5,50",
            "--tool-time-ms",
            "10",
            "--probe",
            "0",
        ])
        .arg("--gate-json")
        .arg(dir.path().join("tools.json"))
        .assert()
        .success();
    let m = gate_metrics(dir.path());
    let single = m["perf/tools/single_tool_time"].value;
    assert!(
        (0.01e9..0.5e9).contains(&single),
        "one 10 ms call: {single} ns"
    );
    for key in [
        "parallel_efficiency_5",
        "parallel_efficiency_50",
        "speedup_50",
        "memory_50_tools",
        "memory_per_tool_5",
    ] {
        assert!(
            m.contains_key(&format!("perf/tools/{key}")),
            "{key} missing"
        );
    }
    assert!(
        m["perf/tools/memory_50_tools"].value > 1e6,
        "an RSS, in bytes"
    );
    // The shipped thresholds' parallel-tool rules match these ids.
    let policy = bench_gate::thresholds::Policy::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../thresholds.toml"
    )))
    .unwrap();
    for (id, rule) in [
        ("perf/tools/single_tool_time", "perf/*/single_tool_time"),
        (
            "perf/tools/parallel_efficiency_50",
            "perf/*/parallel_efficiency*",
        ),
        ("perf/tools/memory_50_tools", "perf/*/memory_50_tools"),
        (
            "perf/ratelimit/rate_limit_accuracy_token_bucket",
            "perf/*/rate_limit_accuracy*",
        ),
    ] {
        let (_, matched) = policy.levels_for(id, bench_gate::Source::Perf);
        assert_eq!(matched, Some(rule), "{id}");
    }
}

/// `perf-test ratelimit` runs the published tool-execution benchmarks' scenarios (here on the exact
/// virtual clock) and reports each limiter's accuracy for the gate; bad arguments are exit
/// 2.
#[test]
fn ratelimit_reports_accuracy_per_scenario_for_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    perf_test(dir.path())
        .args(["ratelimit", "--virtual", "--seconds", "3", "--gate-json"])
        .arg(dir.path().join("ratelimit.json"))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("token-bucket")
                .and(predicate::str::contains("sliding-window"))
                .and(predicate::str::contains("sliding-counter")),
        );
    let m = gate_metrics(dir.path());
    for s in ["token_bucket", "sliding_window", "sliding_counter"] {
        let accuracy = m[&format!("perf/ratelimit/rate_limit_accuracy_{s}")].value;
        // On the virtual clock a saturated limiter grants exactly its rate.
        assert!((0.999..=1.0).contains(&accuracy), "{s}: {accuracy}");
        assert!(m.contains_key(&format!("perf/ratelimit/wait_p95_{s}")));
    }
    perf_test(dir.path())
        .args(["ratelimit", "--seconds", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--seconds must be between 1 and 86400, got 0",
        ));
    perf_test(dir.path())
        .args(["ratelimit", "--scenario", "leaky"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("leaky"));
}

/// `perf-test speculate` measures both modes in one run and its counts agree with the
/// pool's; the shipped rules match its ids; a predictor that is always (never) right
/// hits always (never); bad flags are exit 2 naming the flag.
#[test]
fn speculate_reports_hits_waste_and_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let gate = dir.path().join("gate");
    let run = |accuracy: &str, name: &str| {
        perf_test(dir.path())
            .args([
                "speculate",
                "--agents",
                "4",
                "--steps",
                "15",
                "--decision-ms",
                "10",
                "--tool-ms",
                "10",
                "--tool-memory-kib",
                "64",
                "--accuracy",
                accuracy,
            ])
            .arg("--json")
            .arg(&json)
            .arg("--gate-json")
            .arg(gate.join(name))
            .assert()
            .success()
            .stdout(predicate::str::contains("| with speculation, hits |"));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        summary
    };
    let s = run("0.73", "speculate.json");
    let pool = &s["pool"];
    let n = |v: &serde_json::Value| v.as_u64().unwrap();
    assert_eq!(n(&pool["started"]), 60, "{s}");
    assert_eq!(
        n(&pool["started"]),
        n(&pool["confirmed"]) + n(&pool["abandoned"])
    );
    assert_eq!(n(&pool["confirmed"]), n(&s["hits"]["steps"]));
    assert_eq!(
        (n(&s["with"]["steps"]), n(&s["without"]["steps"])),
        (60, 60)
    );
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    // A hit overlaps the call with the decision: 10 ms instead of 20.
    assert!(f(&s["hits"]["mean_s"]) < f(&s["without"]["mean_s"]), "{s}");
    let m = gate_metrics(&gate);
    let policy = bench_gate::thresholds::Policy::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../thresholds.toml"
    )))
    .unwrap();
    for id in ["overhead_per_speculation", "gain_vs_ideal", "hit_excess"] {
        let id = format!("perf/speculate/{id}");
        assert!(m.contains_key(&id), "{id} missing");
        let (_, matched) = policy.levels_for(&id, bench_gate::Source::Perf);
        assert_eq!(matched, Some(id.as_str()));
    }
    let always = run("1", "more/always.json");
    assert_eq!(
        (f(&always["hit_rate"]), f(&always["false_positive_rate"])),
        (1.0, 0.0)
    );
    let never = run("0", "more/never.json");
    assert_eq!(
        (f(&never["hit_rate"]), f(&never["false_positive_rate"])),
        (0.0, 1.0)
    );
    for (args, message) in [
        (
            &["speculate", "--speculate", "5"][..],
            "--speculate must be at most --candidates (4), got 5",
        ),
        (
            &["speculate", "--accuracy", "2"][..],
            "--accuracy must be in 0..=1, got 2",
        ),
        (
            &["speculate", "--agents", "0"][..],
            "--agents must be a positive count, got 0",
        ),
    ] {
        perf_test(dir.path())
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
}

/// `perf-test coordinate` times round trips over the memory bus and a real Redis (a
/// throwaway server); the gate's rules match its ids; a dead Redis is exit 4 and a bad
/// bus name exit 2.
#[test]
fn coordinate_reports_round_trips_over_both_buses() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    perf_test(dir.path())
        .args(["coordinate", "--round-trips", "300", "--gate-json"])
        .arg(gate.join("coordination.json"))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("| memory | 300 |")
                .and(predicate::str::contains("| redis | 300 |")),
        );
    let m = gate_metrics(&gate);
    let policy = bench_gate::thresholds::Policy::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../thresholds.toml"
    )))
    .unwrap();
    for bus in ["memory", "redis"] {
        let id = format!("perf/coordination/{bus}_p99");
        let p99 = m[&id].value;
        assert!(p99 > 0.0 && p99 >= m[&format!("perf/coordination/{bus}_p50")].value);
        let (_, matched) = policy.levels_for(&id, bench_gate::Source::Perf);
        assert_eq!(matched, Some(id.as_str()));
    }
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    perf_test(dir.path())
        .args([
            "coordinate",
            "--bus",
            "redis",
            "--round-trips",
            "10",
            "--redis-url",
        ])
        .arg(format!("redis://127.0.0.1:{port}?timeout_ms=500"))
        .assert()
        .code(4)
        .stderr(predicate::str::contains("coordinate over redis"));
    perf_test(dir.path())
        .args(["coordinate", "--bus", "kafka"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--bus must list memory and/or redis, got \"kafka\"",
        ));
}

/// The gate's perf loader must read what perf-test writes.
fn gate_metrics(dir: &std::path::Path) -> bench_gate::Results {
    bench_gate::perf::load(dir).expect("bench-gate reads perf-test's report")
}

#[test]
fn a_load_test_reports_every_figure_and_a_gate_readable_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("quick.json");
    perf_test(dir.path())
        .args(["--config", "quick", "--json"])
        .arg(&json)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Config: quick")
                .and(predicate::str::contains("Total tasks: 50"))
                .and(predicate::str::contains(
                    "Tasks: 50 completed, 0 failed, 0 not run",
                ))
                .and(predicate::str::contains("p50 / p95 / p99 / p99.9"))
                .and(predicate::str::contains("Run submission:"))
                .and(predicate::str::contains("Task completion:"))
                .and(predicate::str::contains("RSS initial / final / peak"))
                .and(predicate::str::contains("Peak worker count: 20")),
        )
        // Not a terminal: plain progress lines.
        .stderr(predicate::str::contains("Progress: 50/50 tasks"));
    let m = gate_metrics(dir.path());
    // 50 tasks of 0.1 s on 20 workers: 3 waves, so at least 0.3 s, and each latency at
    // least the task's duration.
    assert!(
        m["perf/quick/duration"].value >= 0.3e9,
        "{:?}",
        m["perf/quick/duration"]
    );
    assert!(m["perf/quick/latency_p50"].value >= 0.1e9);
    assert!(m["perf/quick/completion_rate"].value > 0.0);
    assert_eq!(m["perf/quick/failed"].value, 0.0);
    for key in [
        "latency_p999",
        "overhead_p99",
        "submission_rate",
        "rss_peak",
        "cpu_avg",
        "efficiency",
    ] {
        assert!(
            m.contains_key(&format!("perf/quick/{key}")),
            "{key} missing"
        );
    }
}

#[test]
fn chains_and_dags_run_in_dependency_order() {
    // A chain of 4 tasks of 50 ms can take no less than 200 ms, even on 8 workers.
    let dir = tempfile::tempdir().unwrap();
    perf_test(dir.path())
        .args([
            "--runs",
            "3",
            "--tasks-per-run",
            "4",
            "--duration",
            "0.05",
            "--workers",
            "8",
        ])
        .args(["--shape", "chain", "--json"])
        .arg(dir.path().join("c.json"))
        .assert()
        .success();
    let m = gate_metrics(dir.path());
    assert!(
        m["perf/custom/duration"].value >= 0.2e9,
        "{:?}",
        m["perf/custom/duration"]
    );
    assert!(
        m["perf/custom/duration"].value < 0.5e9,
        "{:?}",
        m["perf/custom/duration"]
    );
    perf_test(dir.path())
        .args([
            "--runs",
            "2",
            "--tasks-per-run",
            "30",
            "--duration",
            "0",
            "--shape",
            "dag",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("Tasks: 60 completed"));
}

#[test]
fn process_tasks_run_as_shell_commands_and_failures_keep_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("p.json");
    perf_test(dir.path())
        .args(["--runs", "2", "--tasks-per-run", "3", "--duration", "0.01"])
        .args(["--executor", "process", "--compare-xargs", "--json"])
        .arg(&json)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("sh -c 'sleep 0.01'")
                .and(predicate::str::contains("through `xargs -P 20 -n 1 sh -c`")),
        );
    // A failing command: every task fails, the report is still written, exit 1.
    perf_test(dir.path())
        .args(["--runs", "2", "--tasks-per-run", "3", "--duration", "0"])
        .args([
            "--executor",
            "process",
            "--shape",
            "chain",
            "--command",
            "exit 3",
            "--json",
        ])
        .arg(&json)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "Tasks: 0 completed, 2 failed, 4 not run",
        ))
        .stderr(predicate::str::contains(
            "6 of 6 tasks failed or could not run",
        ));
    assert_eq!(gate_metrics(dir.path())["perf/custom/failed"].value, 6.0);
}

/// A run that cannot finish stops at its time limit: exit 3, the report of what ended is
/// written, and the commands still running are killed (shell and what it forked).
#[test]
fn a_run_past_its_time_limit_stops_with_exit_3_and_partial_results() {
    let marker = "sleep 29.25";
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("t.json");
    let started = std::time::Instant::now();
    perf_test(dir.path())
        .args([
            "--runs",
            "3",
            "--tasks-per-run",
            "2",
            "--duration",
            "0",
            "--workers",
            "1",
        ])
        .args([
            "--executor",
            "process",
            "--shape",
            "chain",
            "--timeout",
            "1.5",
        ])
        .args([
            "--command",
            &format!(
                "test -e {0}/done && {marker}; touch {0}/done",
                dir.path().display()
            ),
        ])
        .arg("--json")
        .arg(&json)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("TIMED OUT after 1.5s"))
        .stderr(predicate::str::contains(
            "the run hit its time limit of 1.5s",
        ));
    // Nothing hangs: the limit, plus the shutdown, well under the 29 s sleeps.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // One worker: the first task to run completes (it finds no `done` file); the next
    // one hangs in the sleep and is cancelled, and the other four never start.
    let m = gate_metrics(dir.path());
    assert_eq!(m["perf/custom/failed"].value, 5.0);
    crate::util::assert_none_with(marker);
}

#[test]
fn bad_load_test_input_is_exit_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--config".into(), "nightly".into()],
            "no such config; the built-in ones are quick, standard, heavy, latency, memory",
        ),
        (
            vec![
                "--runs".into(),
                "0".into(),
                "--tasks-per-run".into(),
                "5".into(),
                "--duration".into(),
                "0.1".into(),
            ],
            "--runs must be a positive count, got 0",
        ),
        (
            vec![
                "--runs".into(),
                "-3".into(),
                "--tasks-per-run".into(),
                "5".into(),
                "--duration".into(),
                "0.1".into(),
            ],
            "--runs must be a positive count, got -3",
        ),
        (
            vec![
                "--config".into(),
                "quick".into(),
                "--duration".into(),
                "-1".into(),
            ],
            "--duration must be seconds",
        ),
        (
            vec!["--runs".into(), "5".into()],
            "give all three of --runs, --tasks-per-run and --duration",
        ),
        (vec![], "give --config NAME"),
        (
            vec!["--config".into(), "quick".into(), "--compare-xargs".into()],
            "--compare-xargs needs --executor process",
        ),
        (
            vec![
                "--config".into(),
                "quick".into(),
                "--shape".into(),
                "tree".into(),
            ],
            "use fanout, chain or dag",
        ),
        (
            vec![
                "--config".into(),
                "quick".into(),
                "--timeout".into(),
                "0".into(),
            ],
            "--timeout must be seconds in (0, 86400], got 0",
        ),
    ];
    for (args, message) in cases {
        perf_test(dir.path())
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    // A malformed config file: the file, the line and the key.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "runs = 10\ntasks_per_run = 5\nduration = 0.1\nworkerz = 3\n",
    )
    .unwrap();
    perf_test(dir.path())
        .arg("--config")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("bad.toml")
                .and(predicate::str::contains("line 4"))
                .and(predicate::str::contains("workerz")),
        );
    std::fs::write(&bad, "runs = 10\ntasks_per_run = -5\nduration = 0.1\n").unwrap();
    perf_test(dir.path())
        .arg("--config")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "tasks_per_run: must be a positive count, got -5",
        ));
}

#[test]
fn all_runs_every_config_into_timestamped_results() {
    let dir = tempfile::tempdir().unwrap();
    perf_test(dir.path())
        .args(["--all", "--results-dir", "out"])
        .assert()
        .success();
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 10, "{names:?}");
    for config in ["heavy", "latency", "memory", "quick", "standard"] {
        for ext in ["json", "txt"] {
            assert!(
                names
                    .iter()
                    .any(|n| n.ends_with(&format!("Z-{config}.{ext}"))),
                "{config}.{ext} in {names:?}"
            );
        }
    }
    // The JSON files are the gate's format; the reports for target/perf too.
    assert_eq!(gate_metrics(&dir.path().join("target/perf")).len() % 5, 0);
    let m = gate_metrics(&dir.path().join("out"));
    assert!(m.contains_key("perf/memory/rss_growth"));
}

/// `perf-test profile burst`, shortened: the open-loop schedule runs, every figure seed
/// 004 names is printed and reaches the gate, and the shipped thresholds judge it.
#[test]
fn a_burst_profile_reports_recovery_queue_depth_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("profile-burst.json");
    perf_test(dir.path())
        .args([
            "profile",
            "burst",
            "--cycles",
            "2",
            "--seconds",
            "0.5",
            "--rate",
            "400",
            "--json",
        ])
        .arg(&json)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("=== Load profile: burst ===")
                .and(predicate::str::contains("recovery < 2 s"))
                .and(predicate::str::contains("queue depth < 50"))
                .and(predicate::str::contains("errors < 0.1 %")),
        );
    let m = gate_metrics(dir.path());
    for key in [
        "recovery_time_max",
        "queue_depth_peak",
        "error_rate",
        "latency_p95",
        "success_rate",
    ] {
        assert!(
            m.contains_key(&format!("perf/profile_burst/{key}")),
            "{key} missing"
        );
    }
    // 2 bursts of 0.5 s at 400/s: about 400 requests, all within the capacity of
    // 1 000/s, so every latency is at least the 20 ms task.
    assert!(m["perf/profile_burst/latency_p95"].value >= 20e6);
    let policy = bench_gate::thresholds::Policy::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../thresholds.toml"
    )))
    .unwrap();
    let (_, rule) = policy.levels_for(
        "perf/profile_burst/recovery_time_max",
        bench_gate::Source::Perf,
    );
    assert_eq!(rule, Some("perf/profile_burst/recovery_time_max"));
}

/// Overload: a ramp far past the pool's capacity breaks, and the breaking point is
/// reported near that capacity (open loop: the queue grows, latency crosses the SLO).
#[test]
fn a_ramp_past_capacity_breaks_near_the_capacity() {
    let dir = tempfile::tempdir().unwrap();
    // 4 workers × 20 ms: 200/s; the rate climbs from 20 to 600/s in 6 s.
    let out = perf_test(dir.path())
        .args([
            "profile",
            "ramp",
            "--workers",
            "4",
            "--from",
            "20",
            "--rate",
            "600",
        ])
        .args([
            "--seconds",
            "6",
            "--queue",
            "100",
            "--slo-p95-ms",
            "200",
            "--even",
            "--json",
        ])
        .arg(dir.path().join("ramp.json"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8_lossy(&out);
    let m = gate_metrics(dir.path());
    let breaking = m["perf/profile_ramp/breaking_point"].value;
    assert!(
        (150.0..=400.0).contains(&breaking),
        "breaking point {breaking}/s: {stdout}"
    );
    assert!(stdout.contains("Breaking point: "), "{stdout}");
    assert!(
        m.contains_key("perf/profile_ramp/recovery_time"),
        "{stdout}"
    );
}

/// `perf-test profile overload`, shortened (1 s at twice the capacity, then 2 s at a
/// quarter, under each policy): in flight never above the cap, refusals under reject
/// and waits (no refusal) under wait, the adaptive pool growing to its maximum and
/// shrinking after, the chart written, and the shipped thresholds judging it.
#[test]
fn an_overload_profile_shows_backpressure_and_the_adaptive_pool() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("profile-overload.json");
    let svg = dir.path().join("overload.svg");
    let out = perf_test(dir.path())
        .args(["profile", "overload", "--seconds", "1", "--json"])
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("=== Load profile: overload ===")
                .and(predicate::str::contains("Policy reject:"))
                .and(predicate::str::contains("Policy wait:"))
                .and(predicate::str::contains("ABOVE IT").not()),
        )
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8_lossy(&out);
    assert_eq!(stdout.matches("(never above it)").count(), 2, "{stdout}");
    let m = gate_metrics(dir.path());
    let v = |k: &str| {
        m.get(&format!("perf/profile_overload/{k}"))
            .unwrap_or_else(|| panic!("{k} missing: {stdout}"))
            .value
    };
    assert!(v("in_flight_peak_over_cap") <= 1.0, "{stdout}");
    // 2 000 arrivals in the overload, 1 000/s served: about half refused.
    let refused = v("reject_refused_fraction_in_overload");
    assert!((0.3..=0.55).contains(&refused), "{stdout}");
    assert_eq!(v("wait_refused"), 0.0, "{stdout}");
    assert_eq!(v("wait_completed_fraction"), 1.0, "{stdout}");
    assert!(v("wait_wait_max") > 0.0, "{stdout}");
    // The pool shrinks after the overload under both policies. Under wait, what it
    // holds at the end depends on how late the driver's catch-up bursts came (here the
    // suite's other tests share the two cores), so the lowest size is what is checked.
    let lowest: Vec<u32> = stdout
        .split("lowest ")
        .skip(1)
        .filter_map(|t| t.split(',').next()?.trim().parse().ok())
        .collect();
    assert_eq!(lowest.len(), 2, "{stdout}");
    assert!(lowest.iter().all(|&l| l < 20), "{lowest:?}: {stdout}");
    assert!(v("reject_workers_end_fraction") < 1.0, "{stdout}");
    for p in ["reject", "wait"] {
        assert_eq!(v(&format!("{p}_workers_peak_fraction")), 1.0, "{stdout}");
        // Seconds are stored in nanoseconds.
        assert!(v(&format!("{p}_recovery_time")) < 2e9, "{stdout}");
    }
    // Under wait the driver falls behind: latency from the intended arrival grows.
    assert!(v("wait_latency_p99") > v("reject_latency_p99"), "{stdout}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(
        chart.matches("<svg ").count(),
        4,
        "three panels in one document"
    );
    for title in ["Adaptive pool size", "Requests waiting", "p95 latency"] {
        assert!(chart.contains(title), "{title}");
    }
    let policy = bench_gate::thresholds::Policy::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../thresholds.toml"
    )))
    .unwrap();
    for (id, rule) in [
        (
            "perf/profile_overload/in_flight_peak_over_cap",
            "perf/profile_overload/in_flight_peak_over_cap",
        ),
        (
            "perf/profile_overload/wait_workers_end_fraction",
            "perf/profile_overload/*_workers_end_fraction",
        ),
    ] {
        assert_eq!(
            policy.levels_for(id, bench_gate::Source::Perf).1,
            Some(rule)
        );
    }
}

#[test]
fn bad_profile_arguments_are_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, message) in [
        (
            vec!["profile", "sustained", "--rate", "0"],
            "--rate must be in",
        ),
        (
            vec!["profile", "sustained", "--workers", "0"],
            "--workers must be 1..=100000, got 0",
        ),
        (
            vec!["profile", "burst", "--cycles", "-1"],
            "--cycles must be 1..=10000, got -1",
        ),
        (
            vec!["profile", "ramp", "--error-budget", "2"],
            "--error-budget must be in 0..=1, got 2",
        ),
        (vec!["profile", "spike"], "spike"),
        (
            vec!["profile", "overload", "--min-workers", "30"],
            "--min-workers must be 1..=--workers (20), got 30",
        ),
        (vec!["profile", "overload", "--policy", "drop"], "drop"),
        (
            vec!["profile", "overload", "--after-rate", "-1"],
            "--after-rate must be in",
        ),
    ] {
        perf_test(dir.path())
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
}

/// One HTTP GET on loopback; the whole response, or None if nothing answers.
fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}

/// `--metrics-addr` serves the published tool-execution benchmarks' metric names while the run lasts,
/// with counts that grow as tasks end, and stops serving when the run is over.
#[test]
fn the_metrics_endpoint_serves_live_figures_during_a_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    // 30 runs × 5 tasks of 0.1 s on 10 workers: 1.5 s.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perf-test"))
        .args([
            "--runs",
            "30",
            "--tasks-per-run",
            "5",
            "--duration",
            "0.1",
            "--workers",
            "10",
        ])
        .args(["--metrics-addr", &addr, "--json"])
        .arg(dir.path().join("m.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let value = |text: &str, name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = None;
    while std::time::Instant::now() < deadline {
        if let Some(r) = http_get(&addr, "/metrics")
            && value(&r, "async_orchestrator_tasks_completed_total").is_some_and(|n| n > 0.0)
        {
            seen = Some(r);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let r = seen.expect("the endpoint answered with completed tasks during the run");
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    assert!(r.contains("application/openmetrics-text"), "{r}");
    for name in [
        "async_orchestrator_duration_seconds_count",
        "async_orchestrator_duration_seconds_sum",
        "async_orchestrator_requests_total",
        "async_orchestrator_errors_total",
        "async_orchestrator_queue_depth",
        "process_resident_memory_bytes",
    ] {
        assert!(value(&r, name).is_some(), "{name} missing:\n{r}");
    }
    assert!(
        value(&r, "process_resident_memory_bytes").unwrap() > 1e6,
        "{r}"
    );
    let missing = http_get(&addr, "/other").unwrap_or_default();
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(child.wait().unwrap().success());
    assert!(
        http_get(&addr, "/metrics").is_none(),
        "still serving after the run"
    );
    // A bad address is a usage error naming it.
    perf_test(dir.path())
        .args(["--config", "quick", "--metrics-addr", "nowhere"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--metrics-addr \"nowhere\": expected HOST:PORT",
        ));
}

/// The xargs comparison is bounded like the run: a command that never ends is killed
/// with xargs (its process group) at the time limit, and the error says so.
#[test]
fn the_xargs_comparison_stops_at_the_time_limit() {
    use perf_test::workflow::{RunConfig, xargs_seconds};
    // A short input, and one far larger than a pipe holds (260 KB): xargs stops
    // reading it once its two commands run, and feeding it must not block the limit.
    for (runs, marker) in [(2, "sleep 29.2"), (20_000, "sleep 29.3")] {
        let config = RunConfig::parse(
            "x",
            &format!(
                "runs = {runs}\ntasks_per_run = 1\nduration = 0\nworkers = 2\nexecutor = \"process\"\ncommand = \"{marker}\"\ntimeout = 0.5\n"
            ),
            "the test",
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err = xargs_seconds(&config).unwrap_err();
        assert!(
            err.to_string().contains("xargs did not finish within 0.5s"),
            "{runs} runs: {err}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{runs} runs: {:?}",
            started.elapsed()
        );
        crate::util::assert_none_with(marker);
    }
}
