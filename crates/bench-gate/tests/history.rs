//! `bench-gate history` end to end: the change-point figures on the committed synthetic
//! histories (tests/fixtures/history, scripts/changepoint_fixtures.py), appending real
//! Criterion output, `--since`, `--previous`, and every kind of bad input.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::util::{fixtures_dir, gate};

fn history_fixture(name: &str) -> PathBuf {
    fixtures_dir().join("history").join(name)
}

/// `history check --json` on `file`: the exit code and the report.
fn check_json(file: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("cp.json");
    let out = gate(tmp.path())
        .args(["history", "check", "--file"])
        .arg(file)
        .arg("--json")
        .arg(&report)
        .args(extra)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    (out.status.code().unwrap(), json)
}

#[test]
fn three_percent_steps_are_found_at_their_run_and_noise_gives_next_to_nothing() {
    let _machine = crate::util::exclusive();
    let truth: std::collections::BTreeMap<String, usize> =
        serde_json::from_slice(&std::fs::read(history_fixture("steps-truth.json")).unwrap())
            .unwrap();
    let (code, report) = check_json(&history_fixture("steps.jsonl"), &[]);
    assert_eq!(code, 1, "+3 % steps are regressions");
    let found = report["change_points"].as_array().unwrap();
    let hits = truth
        .iter()
        .filter(|(id, step)| {
            found.iter().any(|c| {
                c["id"] == id.as_str() && c["index"].as_u64().unwrap().abs_diff(**step as u64) <= 1
            })
        })
        .count();
    assert!(hits >= 190, "only {hits} of 200 steps found within ±1 run");
    for c in found {
        assert_eq!(c["machine"], "synthetic");
        let index = c["index"].as_u64().unwrap();
        assert_eq!(
            c["commit"],
            format!("step{index:03}"),
            "commit = the first run after"
        );
    }
    let (code, report) = check_json(&history_fixture("noise.jsonl"), &[]);
    let false_points = report["change_points"].as_array().unwrap().len();
    assert!(
        false_points <= 2,
        "{false_points} change points in pure noise"
    );
    assert_eq!(report["judged"], 200);
    assert!(code == 0 || false_points > 0);
}

#[test]
fn appended_criterion_runs_are_read_back_per_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("history.jsonl");
    let empty = tmp.path().join("none");
    for (i, date) in ["2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"]
        .iter()
        .enumerate()
    {
        gate(tmp.path())
            .args([
                "history",
                "append",
                "--machine",
                "box",
                "--date",
                date,
                "--file",
            ])
            .arg(&file)
            .args(["--commit", &format!("c{i}"), "--criterion-dir"])
            .arg(fixtures_dir().join("criterion"))
            .arg("--perf-dir")
            .arg(&empty)
            .arg("--gungraun-dir")
            .arg(&empty)
            .assert()
            .success()
            .stdout(predicate::str::contains("appended"));
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 2);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["machine"], "box");
    assert!(first["values"].as_object().unwrap().len() >= 2);
    // Two runs are too short to judge: listed, and exit 2.
    let (code, report) = check_json(&file, &[]);
    assert_eq!(code, 2);
    let short = report["too_short"].as_array().unwrap();
    assert!(
        !short.is_empty() && short.iter().all(|s| s["runs"] == 2),
        "{short:?}"
    );
}

/// A history of one benchmark: `values` in run order, commits `c0`, `c1`, ...
fn one_series(dir: &Path, values: &[f64]) -> PathBuf {
    let file = dir.join("one.jsonl");
    let lines: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(r#"{{"commit": "c{i}", "date": "2026-12-02T00:00:00Z", "machine": "m", "values": {{"x": {v}}}}}"#)
        })
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    file
}

#[test]
fn since_counts_only_regressions_after_it_and_improvements_never_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let steps: Vec<f64> = (0..30)
        .map(|i| if i < 12 { 100.0 } else { 110.0 })
        .collect();
    let file = one_series(tmp.path(), &steps);
    let (code, report) = check_json(&file, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["change_points"][0]["commit"], "c12");
    assert_eq!(report["change_points"][0]["direction"], "regression");
    let (code, after) = check_json(&file, &["--since", "c12"]);
    assert_eq!(code, 0);
    assert_eq!(after["since_change_points"].as_array().unwrap().len(), 0);
    assert_eq!(
        after["change_points"].as_array().unwrap().len(),
        1,
        "all are still listed"
    );
    let (code, after) = check_json(&file, &["--since", "c11"]);
    assert_eq!(code, 1);
    assert_eq!(after["since"], "c11");
    assert_eq!(after["since_change_points"][0]["commit"], "c12");
    // The markdown report lists what came after --since, and counts the rest.
    let md = tmp.path().join("since.md");
    gate(tmp.path())
        .args(["history", "check", "--since", "c12", "--file"])
        .arg(&file)
        .arg("--markdown")
        .arg(&md)
        .assert()
        .code(0);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("0 change points since `c12`")
            && text.contains("1 change point before `c12` is not listed"),
        "{text}"
    );
    let faster: Vec<f64> = steps.iter().map(|v| 1e4 / v).collect();
    let file = one_series(tmp.path(), &faster);
    let (code, report) = check_json(&file, &[]);
    assert_eq!(
        (code, &report["change_points"][0]["direction"]),
        (0, &"improvement".into())
    );
}

#[test]
fn previous_reports_make_a_regression_count_once() {
    let tmp = tempfile::tempdir().unwrap();
    let one_step: Vec<f64> = (0..30)
        .map(|i| if i < 12 { 100.0 } else { 110.0 })
        .collect();
    let file = one_series(tmp.path(), &one_step);
    let first = tmp.path().join("first.json");
    std::fs::write(
        &first,
        serde_json::to_vec(&check_json(&file, &[]).1).unwrap(),
    )
    .unwrap();
    let (code, again) = check_json(&file, &["--previous", first.to_str().unwrap()]);
    assert_eq!(code, 0, "the same regression a second time is not new");
    assert_eq!(again["new_regressions"], serde_json::json!([]));

    // A second step of the same series is new; the markdown lists it first.
    let two_steps: Vec<f64> = (0..30)
        .map(|i| match i {
            0..12 => 100.0,
            12..24 => 110.0,
            _ => 121.0,
        })
        .collect();
    let file = one_series(tmp.path(), &two_steps);
    let md = tmp.path().join("new.md");
    gate(tmp.path())
        .args(["history", "check", "--file"])
        .arg(&file)
        .arg("--previous")
        .arg(&first)
        .arg("--markdown")
        .arg(&md)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("1 regression counted"));
    let text = std::fs::read_to_string(&md).unwrap();
    let (new, every) = text
        .split_once("### Every change point")
        .expect("two sections");
    assert!(
        new.contains("1 new regression not in the previous check"),
        "{text}"
    );
    assert!(new.contains("`c24`") && !new.contains("`c12`"), "{text}");
    assert!(every.contains("`c12`") && every.contains("`c24`"), "{text}");

    // A previous report that is missing or not one is exit 2, naming the file.
    let broken = tmp.path().join("broken.json");
    std::fs::write(&broken, r#"{"change_points": ["#).unwrap();
    for previous in [broken, tmp.path().join("missing.json")] {
        gate(tmp.path())
            .args(["history", "check", "--file"])
            .arg(&file)
            .arg("--previous")
            .arg(&previous)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                previous.file_name().unwrap().to_str().unwrap(),
            ));
    }
}

#[test]
fn bad_histories_get_a_message_naming_the_file_and_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let check = |file: &Path, extra: &[&str]| {
        let mut cmd = gate(tmp.path());
        cmd.args(["history", "check", "--file"])
            .arg(file)
            .args(extra);
        cmd
    };
    check(&tmp.path().join("missing.jsonl"), &[])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.jsonl").and(predicate::str::contains("no such")));
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    check(&empty, &[])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no run"));

    let good: Vec<f64> = (0..30).map(|i| if i < 15 { 1.0 } else { 1.1 }).collect();
    let file = one_series(tmp.path(), &good);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"commit\": \"torn\n");
    text.push_str(
        r#"{"commit": "c3", "date": "", "machine": "m", "values": {"x": -2}, "extra": 1}"#,
    );
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    check(&file, &[])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("one.jsonl: line 31: not a run"));
    check(&file, &["--skip-bad"]).assert().code(1).stderr(
        predicate::str::contains("line 31")
            .and(predicate::str::contains(
                "line 32: x: value -2 is not a positive number",
            ))
            .and(predicate::str::contains(
                "commit c3 is also on line 4; line 32 wins",
            )),
    );
    check(&file, &["--skip-bad", "--since", "nowhere"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--since nowhere"));
    check(&file, &["--permutations", "10"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("permutations = 10"));
    gate(tmp.path())
        .args([
            "history",
            "append",
            "--commit",
            "x",
            "--date",
            "yesterday",
            "--file",
        ])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--date \"yesterday\""));
}

#[test]
fn the_html_report_has_a_chart_per_series_and_the_latest_verdict() {
    let _machine = crate::util::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("history.jsonl");
    let none = tmp.path().join("none");
    // Twelve runs of real Criterion and gungraun output: every value the same each run
    // (an instruction count does not move), so no change point anywhere.
    for run in 0..12 {
        gate(tmp.path())
            .args(["history", "append", "--machine", "box", "--file"])
            .arg(&file)
            .args(["--commit", &format!("commit{run:02}")])
            .args(["--date", &format!("2026-12-{:02}T00:00:00Z", run + 1)])
            .arg("--criterion-dir")
            .arg(fixtures_dir().join("criterion"))
            .arg("--gungraun-dir")
            .arg(fixtures_dir().join("gungraun"))
            .arg("--perf-dir")
            .arg(&none)
            .assert()
            .success();
    }
    // The latest verdict: `check` of the same Criterion tree against its saved baseline.
    let verdict = tmp.path().join("verdict.json");
    gate(tmp.path())
        .args([
            "check",
            "--no-color",
            "--criterion-baseline",
            "before",
            "--criterion-dir",
        ])
        .arg(fixtures_dir().join("criterion"))
        .arg("--gungraun-dir")
        .arg(&none)
        .arg("--perf-dir")
        .arg(&none)
        .arg("--json")
        .arg(&verdict)
        .assert()
        .success();
    let page = tmp.path().join("report/history.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    let (code, report) = check_json(
        &file,
        &[
            "--html",
            page.to_str().unwrap(),
            "--verdict",
            verdict.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["change_points"].as_array().unwrap().len(),
        0,
        "{report}"
    );
    let series = report["judged"].as_u64().unwrap();
    assert!(series >= 3, "{report}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<figure class=\"chart").count() as u64,
        series,
        "one chart per series"
    );
    assert!(
        html.contains("instructions/model/mmc.solve_c_1_to_64") || html.contains("instructions/")
    );
    assert!(html.contains("<h2>Latest verdict</h2>") && html.contains("graph_planning/plan/100"));
    assert!(
        html.contains("latest verdict: unchanged"),
        "each chart shows its verdict"
    );
    assert!(
        !html.contains("https://") && !html.contains("src=\""),
        "nothing is fetched"
    );

    // A verdict file that is not JSON: exit 2, naming it, and no page is written.
    let bad = tmp.path().join("bad-verdict.json");
    std::fs::write(&bad, "{\"comparisons\": [").unwrap();
    let other = tmp.path().join("other.html");
    gate(tmp.path())
        .args(["history", "check", "--file"])
        .arg(&file)
        .arg("--html")
        .arg(&other)
        .arg("--verdict")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad-verdict.json"));
    assert!(!other.exists());
    // --verdict without --html is a usage error.
    gate(tmp.path())
        .args(["history", "check", "--file"])
        .arg(&file)
        .arg("--verdict")
        .arg(&verdict)
        .assert()
        .code(2);
}
