//! The `perf-test` binary end to end: seed 000's model table exactly, JSON and SVG files
//! written, and bad arguments rejected with exit code 2 and a message naming the flag.

use assert_cmd::Command;
use predicates::prelude::*;

fn perf_test() -> Command {
    Command::cargo_bin("perf-test").expect("the perf-test binary is built")
}

#[test]
fn model_prints_seed_000s_table() {
    perf_test()
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
    perf_test()
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
    perf_test()
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
        perf_test()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    perf_test()
        .args(["model", "--no-such-flag"])
        .assert()
        .code(2);
    perf_test().assert().code(2);
}

#[test]
fn unwritable_output_is_a_failure_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    perf_test()
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
    perf_test()
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
