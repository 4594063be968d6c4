//! `bench-gate` end to end on real Criterion output (`tests/fixtures/criterion`, see its
//! README) and on corrupted copies of it: verdicts, exit codes, reports, baselines and
//! every kind of bad input.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::util::{fixtures_dir, gate};

/// A scratch copy of the fixture tree as `<tmp>/target/criterion`.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let criterion = tmp.path().join("target/criterion");
    copy_tree(&fixtures_dir().join("criterion"), &criterion);
    (tmp, criterion)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Rewrites one sample.json through `edit`.
fn edit_samples(file: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(file, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn scale_new(criterion: &Path, factor: f64) {
    for b in ["plan", "levels"] {
        let dir = criterion.join(format!("graph_planning/{b}/100/new"));
        edit_samples(&dir.join("sample.json"), |v| {
            for t in v["times"].as_array_mut().unwrap() {
                *t = serde_json::json!(t.as_f64().unwrap() * factor);
            }
        });
        edit_samples(&dir.join("estimates.json"), |v| {
            let m = &mut v["median"];
            m["point_estimate"] = serde_json::json!(m["point_estimate"].as_f64().unwrap() * factor);
            for key in ["lower_bound", "upper_bound"] {
                let ci = &mut m["confidence_interval"][key];
                *ci = serde_json::json!(ci.as_f64().unwrap() * factor);
            }
        });
    }
}

#[test]
fn the_same_code_passes_against_its_criterion_baseline() {
    // A stale rerun filter from an earlier failing check is removed.
    let (tmp, _) = workspace();
    std::fs::write(tmp.path().join("rerun.txt"), "^(stale)$").unwrap();
    gate(tmp.path())
        .args([
            "check",
            "--criterion-baseline",
            "before",
            "--rerun-filter",
            "rerun.txt",
        ])
        .assert()
        .success();
    assert!(!tmp.path().join("rerun.txt").exists());
    let (tmp, _) = workspace();
    gate(tmp.path())
        .args(["check", "--criterion-baseline", "before"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("graph_planning/plan/100"))
        .stdout(predicate::str::contains("graph_planning/levels/100"))
        .stdout(
            predicate::str::contains("2 benchmarks:")
                .and(predicate::str::contains("critical").not()),
        );
}

#[test]
fn a_fifteen_percent_slowdown_is_critical_with_every_report() {
    let (tmp, criterion) = workspace();
    scale_new(&criterion, 1.15);
    gate(tmp.path())
        .args([
            "check",
            "--criterion-baseline",
            "before",
            "--markdown",
            "gate.md",
            "--json",
            "gate.json",
        ])
        .args(["--junit", "gate.xml", "--rerun-filter", "rerun.txt"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("critical"));
    // The filter to measure the critical ones again matches exactly them.
    let filter = std::fs::read_to_string(tmp.path().join("rerun.txt")).unwrap();
    assert_eq!(
        filter.trim(),
        "^(graph_planning/levels/100|graph_planning/plan/100)$"
    );
    let md = std::fs::read_to_string(tmp.path().join("gate.md")).unwrap();
    assert!(
        md.contains("❌ critical regressions") && md.contains("`graph_planning/plan/100`"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("gate.json")).unwrap()).unwrap();
    assert_eq!(json["comparisons"][0]["verdict"], "critical");
    assert!(json["comparisons"][0]["p_value"].as_f64().unwrap() < 0.01);
    let xml = std::fs::read_to_string(tmp.path().join("gate.xml")).unwrap();
    assert!(
        xml.contains("tests=\"2\" failures=\"2\"") && xml.contains("<failure"),
        "{xml}"
    );
}

#[test]
fn a_saved_baseline_round_trips_and_judges_the_next_run() {
    let (tmp, criterion) = workspace();
    gate(tmp.path())
        .args(["baseline", "save", "--profile", "ci-2core"])
        .assert()
        .code(0);
    let path = tmp.path().join("baselines/ci-2core.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"fingerprint\"") && text.contains("\"samples\"") && text.ends_with("}\n")
    );
    let plan = text.find("graph_planning/levels/100").unwrap();
    assert!(
        plan < text.find("graph_planning/plan/100").unwrap(),
        "sorted by id"
    );
    gate(tmp.path())
        .args(["check", "--profile", "ci-2core"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("unchanged"));
    scale_new(&criterion, 1.3);
    gate(tmp.path())
        .args(["check", "--baseline", "baselines/ci-2core.json"])
        .assert()
        .code(1);
    // A baseline from another machine: wall time is incomparable, nothing is judged.
    let mut b: serde_json::Value = serde_json::from_str(&text).unwrap();
    b["fingerprint"]["cores"] = serde_json::json!(64);
    std::fs::write(&path, serde_json::to_vec(&b).unwrap()).unwrap();
    gate(tmp.path())
        .args(["check", "--profile", "ci-2core"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("incomparable"))
        .stderr(predicate::str::contains("nothing was compared"));

    // One baseline per machine profile: that file is another machine's (exit 1, both
    // ids named); this machine's own file, NAME-<id>.json, is what --profile NAME takes.
    gate(tmp.path())
        .args(["baseline", "machine", "--of", "baselines/ci-2core.json"])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("another machine profile")
                .and(predicate::str::contains("-64c")),
        );
    let id = String::from_utf8(
        gate(tmp.path())
            .args(["baseline", "machine"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    let id = id.trim();
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "{id:?}"
    );
    let mine = format!("ci-2core-{id}");
    gate(tmp.path())
        .args(["baseline", "save", "--profile", &mine])
        .assert()
        .code(0);
    gate(tmp.path())
        .args([
            "baseline",
            "machine",
            "--of",
            &format!("baselines/{mine}.json"),
        ])
        .assert()
        .code(0);
    gate(tmp.path())
        .args(["check", "--profile", "ci-2core"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!("{mine}.json")));
    gate(tmp.path())
        .args(["baseline", "machine", "--of", "baselines/none.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("none.json"));
}

#[test]
fn absolute_rules_and_perf_reports_are_gated() {
    let (tmp, _) = workspace();
    let perf = tmp.path().join("target/perf");
    std::fs::create_dir_all(&perf).unwrap();
    std::fs::write(
        perf.join("tools.json"),
        r#"{"report": "tools", "metrics": [
            {"name": "parallel_efficiency", "value": 0.65, "unit": "ratio", "direction": "higher_is_better"},
            {"name": "memory_per_tool", "value": 2.1, "unit": "KiB", "direction": "lower_is_better"}]}"#,
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("t.toml"),
        "[defaults]\n[[rule]]\nmatch = \"perf/*/parallel_efficiency\"\nwarning = \"0.80\"\ncritical = \"0.70\"\n\
         [[rule]]\nmatch = \"perf/*/memory_per_tool\"\ncritical = \"16KB\"\n",
    )
    .unwrap();
    gate(tmp.path())
        .args([
            "check",
            "--criterion-baseline",
            "before",
            "--thresholds",
            "t.toml",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("perf/tools/parallel_efficiency"))
        .stdout(predicate::str::contains("critical"));
}

#[test]
fn times_are_judged_less_what_the_machine_added_with_allowance_from() {
    let (tmp, _) = workspace();
    let perf = tmp.path().join("target/perf");
    std::fs::create_dir_all(&perf).unwrap();
    let report = |overhead_ms: f64, wakeup_ms: Option<f64>| {
        let wakeup = wakeup_ms.map_or(String::new(), |w| {
            format!(r#", {{"name": "wakeup_max", "value": {w}, "unit": "ms", "direction": "lower_is_better"}}"#)
        });
        let text = format!(
            r#"{{"report": "standard", "metrics": [
            {{"name": "overhead_p99", "value": {overhead_ms}, "unit": "ms", "direction": "lower_is_better"}},
            {{"name": "efficiency", "value": 0.9, "unit": "ratio", "direction": "higher_is_better"}}{wakeup}]}}"#
        );
        std::fs::write(perf.join("standard.json"), text).unwrap();
    };
    std::fs::write(
        tmp.path().join("t.toml"),
        "[defaults]\n[[rule]]\nmatch = \"perf/*/overhead_p99\"\ncritical = \"1ms\"\n\
         [[rule]]\nmatch = \"perf/*/efficiency\"\ncritical = \"0.95\"\n",
    )
    .unwrap();
    let check = |allowance: bool| {
        let mut cmd = gate(tmp.path());
        cmd.args([
            "check",
            "--criterion-baseline",
            "before",
            "--thresholds",
            "t.toml",
        ]);
        if allowance {
            cmd.args(["--allowance-from", "wakeup_max"]);
        }
        cmd.assert()
    };
    let critical = |id: &str| predicate::str::is_match(format!(r"(?m)^critical\s+{id}\s")).unwrap();
    // A 2.6 ms stall of the machine: the 2.7 ms p99 is its, not the pool's.
    report(2.7, Some(2.6));
    check(false)
        .code(1)
        .stdout(critical("perf/standard/overhead_p99"));
    check(true)
        .stdout(critical("perf/standard/overhead_p99").not())
        .stdout(predicate::str::contains(
            "perf/standard: times judged less wakeup_max = 2.600 ms (--allowance-from)",
        ))
        // Ratios are judged as measured.
        .stdout(critical("perf/standard/efficiency"));
    // The pool's own 1.5 ms on a quiet machine is still over the bound.
    report(1.7, Some(0.2));
    check(true)
        .code(1)
        .stdout(critical("perf/standard/overhead_p99"));
    // A report without the allowance's metric cannot be judged this way.
    report(0.5, None);
    check(true).code(2).stderr(predicate::str::contains(
        "\"standard\" has no time metric perf/standard/wakeup_max",
    ));
}

#[test]
fn bad_input_is_exit_2_naming_the_file_and_field() {
    type Corrupt = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Corrupt, &str)> = vec![
        (
            "truncated sample.json",
            Box::new(|c: &Path| {
                let f = c.join("graph_planning/plan/100/new/sample.json");
                let text = std::fs::read(&f).unwrap();
                std::fs::write(&f, &text[..text.len() / 2]).unwrap();
            }),
            "plan/100/new/sample.json: not valid JSON",
        ),
        (
            "zero iterations",
            Box::new(|c: &Path| {
                edit_samples(&c.join("graph_planning/plan/100/new/sample.json"), |v| {
                    v["iters"][0] = serde_json::json!(0.0)
                })
            }),
            "field \"iters[0]\": 0 is not a count",
        ),
        (
            "negative time",
            Box::new(|c: &Path| {
                edit_samples(&c.join("graph_planning/levels/100/new/sample.json"), |v| {
                    v["times"][3] = serde_json::json!(-5.0)
                })
            }),
            "benchmark \"graph_planning/levels/100\": field \"times[3]\"",
        ),
        (
            "missing field",
            Box::new(|c: &Path| {
                edit_samples(&c.join("graph_planning/plan/100/new/benchmark.json"), |v| {
                    v.as_object_mut().unwrap().remove("full_id");
                })
            }),
            "missing field `full_id`",
        ),
        (
            "an empty results directory",
            Box::new(|c: &Path| {
                std::fs::remove_dir_all(c).unwrap();
                std::fs::create_dir_all(c).unwrap();
            }),
            "no results found",
        ),
    ];
    for (what, corrupt, expected) in cases {
        let (tmp, criterion) = workspace();
        corrupt(&criterion);
        let _ = gate(tmp.path())
            .args(["check", "--criterion-baseline", "before"])
            .assert()
            .append_context("case", what)
            .code(2)
            .stderr(predicate::str::contains(expected))
            .stderr(predicate::str::contains("panicked").not());
    }
}

#[test]
fn bad_thresholds_and_baselines_are_exit_2() {
    let (tmp, _) = workspace();
    let bad_files = [
        (
            "bad.toml",
            "[defaults]\nwarning = \"5%\"\ncritcal = \"10%\"\n",
            "critcal",
        ),
        (
            "bad2.toml",
            "[defaults]\ncritical = \"10 parsecs\"\n",
            "defaults.critical",
        ),
    ];
    for (name, text, expected) in bad_files {
        std::fs::write(tmp.path().join(name), text).unwrap();
        let _ = gate(tmp.path())
            .args([
                "check",
                "--criterion-baseline",
                "before",
                "--thresholds",
                name,
            ])
            .assert()
            .append_context("file", name)
            .code(2)
            .stderr(predicate::str::contains(name).and(predicate::str::contains(expected)));
    }
    std::fs::create_dir_all(tmp.path().join("baselines")).unwrap();
    std::fs::write(
        tmp.path().join("baselines/x.json"),
        "{\"format\": 1, \"profile\"",
    )
    .unwrap();
    gate(tmp.path())
        .args(["check", "--profile", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("baselines/x.json: not valid JSON"));
    gate(tmp.path())
        .args(["check", "--profile", "absent"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("baselines/absent.json"));
    gate(tmp.path())
        .args(["check", "--criterion-baseline", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no Criterion baseline named \"nope\"",
        ));
    gate(tmp.path())
        .args(["check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no baseline given"));
}

#[test]
fn calibration_measures_noise_and_the_baseline_keeps_it() {
    let (tmp, criterion) = workspace();
    // B: the same fixtures with the earlier run ("before") as its "new".
    let b = tmp.path().join("b");
    copy_tree(&criterion, &b);
    for bench in ["plan", "levels"] {
        let d = b.join(format!("graph_planning/{bench}/100"));
        std::fs::remove_dir_all(d.join("new")).unwrap();
        std::fs::rename(d.join("before"), d.join("new")).unwrap();
    }
    gate(tmp.path())
        .args([
            "calibrate",
            "--a",
            "target/criterion",
            "--b",
            "b",
            "--save",
            "noise.json",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("graph_planning/plan/100"))
        .stdout(predicate::str::contains(
            "false alarms of the current thresholds",
        ));
    let noise: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("noise.json")).unwrap()).unwrap();
    let band = noise["noise"]["graph_planning/levels/100"]
        .as_f64()
        .unwrap();
    assert!(band > 0.0 && band < 0.5, "{band}");
    gate(tmp.path())
        .args([
            "baseline",
            "save",
            "--profile",
            "p",
            "--calibration",
            "noise.json",
        ])
        .assert()
        .code(0);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("baselines/p.json")).unwrap())
            .unwrap();
    assert_eq!(
        saved["benchmarks"]["graph_planning/levels/100"]["noise"].as_f64(),
        Some(band)
    );
    gate(tmp.path())
        .args(["calibrate", "--a", "target/criterion", "--b", "nowhere"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nowhere"));
}

mod fuzz {
    //! Property tests as a bounded fuzzer: arbitrary bytes and arbitrary mutations of
    //! real files fed to every loader must give results it can judge (finite values)
    //! or an error naming the file, never a panic.

    use std::path::Path;

    use bench_gate::baseline::Baseline;
    use bench_gate::thresholds::Policy;
    use bench_gate::{GateError, Results, criterion, gungraun, perf};
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    use crate::util::fixtures_dir;

    fn real(name: &str) -> Vec<u8> {
        std::fs::read(
            fixtures_dir()
                .join("criterion/graph_planning/plan/100/new")
                .join(name),
        )
        .unwrap()
    }

    /// A real file with a few bytes overwritten, inserted or cut.
    fn mutated(original: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
        let len = original.len();
        (
            prop::collection::vec((0..len, any::<u8>(), 0u8..3), 1..6),
            0..=len,
        )
            .prop_map(move |(edits, cut)| {
                let mut v = original.clone();
                for (at, byte, kind) in edits {
                    let at = at.min(v.len().saturating_sub(1));
                    match kind {
                        0 if !v.is_empty() => v[at] = byte,
                        1 => v.insert(at, byte),
                        _ if !v.is_empty() => {
                            v.remove(at);
                        }
                        _ => {}
                    }
                }
                if cut < v.len() / 4 {
                    v.truncate(v.len() - cut);
                }
                v
            })
    }

    /// A loader's answer: entries with finite values and samples, or an error that
    /// names `file`.
    fn judgeable_or_named(
        answer: Result<Results, GateError>,
        file: &str,
    ) -> Result<(), TestCaseError> {
        match answer {
            Ok(r) => {
                let good = |x: f64| x.is_finite();
                let bad: Vec<_> = r
                    .values()
                    .filter(|e| !good(e.value) || !e.samples.iter().all(|&x| good(x)))
                    .collect();
                prop_assert!(bad.is_empty(), "loaded unusable entries: {bad:?}");
            }
            Err(e) => prop_assert!(e.to_string().contains(file), "{e}"),
        }
        Ok(())
    }

    /// The committed real gungraun summary (tests/fixtures/gungraun).
    fn real_summary() -> Vec<u8> {
        std::fs::read(fixtures_dir().join(super::GUNGRAUN_SUMMARY)).unwrap()
    }

    fn criterion_dir_with(file: &str, bytes: &[u8]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("g/f/1/new");
        std::fs::create_dir_all(&d).unwrap();
        for name in ["benchmark.json", "sample.json", "estimates.json"] {
            std::fs::write(
                d.join(name),
                if name == file {
                    bytes.to_vec()
                } else {
                    real(name)
                },
            )
            .unwrap();
        }
        tmp
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn criterion_loader_survives_mutated_samples(bytes in mutated(real("sample.json"))) {
            let tmp = criterion_dir_with("sample.json", &bytes);
            judgeable_or_named(criterion::load(tmp.path(), "new"), "sample.json")?;
        }

        #[test]
        fn criterion_loader_survives_mutated_estimates(bytes in mutated(real("estimates.json"))) {
            let tmp = criterion_dir_with("estimates.json", &bytes);
            judgeable_or_named(criterion::load(tmp.path(), "new"), "estimates.json")?;
        }

        #[test]
        fn criterion_loader_survives_mutated_benchmark_files(bytes in mutated(real("benchmark.json"))) {
            let tmp = criterion_dir_with("benchmark.json", &bytes);
            judgeable_or_named(criterion::load(tmp.path(), "new"), "benchmark.json")?;
        }

        #[test]
        fn gungraun_loader_survives_mutated_summaries(bytes in mutated(real_summary())) {
            match gungraun::parse(Path::new("summary.json"), &bytes) {
                Ok(e) => prop_assert!(e.value.is_finite() && e.value > 0.0),
                Err(e) => prop_assert!(e.to_string().contains("summary.json")),
            }
        }

        #[test]
        fn every_loader_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let tmp = criterion_dir_with("sample.json", &bytes);
            judgeable_or_named(criterion::load(tmp.path(), "new"), "sample.json")?;
            let f = tmp.path().join("x.json");
            std::fs::write(&f, &bytes).unwrap();
            judgeable_or_named(Baseline::load(&f).map(|b| b.benchmarks), "x.json")?;
            judgeable_or_named(perf::load(tmp.path()), "x.json")?;
            std::fs::write(tmp.path().join("summary.json"), &bytes).unwrap();
            judgeable_or_named(gungraun::load(tmp.path()), "summary.json")?;
            if let Err(e) = Policy::parse(&String::from_utf8_lossy(&bytes), Path::new("t.toml")) {
                prop_assert!(e.to_string().contains("t.toml"), "{e}");
            }
        }

        #[test]
        fn perf_reports_with_any_numbers_load_or_fail_cleanly(
            value in prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-0.0)],
            unit in prop_oneof![Just("s"), Just("ms"), Just("MiB"), Just("ratio"), Just("parsecs"), Just("")],
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let text = format!(
                r#"{{"report": "r", "metrics": [{{"name": "m", "value": {}, "unit": "{unit}", "direction": "lower_is_better"}}]}}"#,
                if value.is_finite() { value.to_string() } else { "1e999".into() }
            );
            std::fs::write(tmp.path().join("r.json"), text).unwrap();
            match perf::load(tmp.path()) {
                Ok(r) => prop_assert!(r.values().all(|e| e.value.is_finite())),
                Err(e) => prop_assert!(e.to_string().contains("r.json")),
            }
        }
    }
}

#[test]
fn counts_files_are_saved_and_judged_beside_a_gungraun_dir_of_none() {
    let tmp = tempfile::tempdir().unwrap();
    let counts = |dir: &str, value: f64| {
        let d = tmp.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let file = serde_json::json!({"format": "bench-gate-counts", "version": 1,
            "per_iteration": {"g/spin": {"instructions": value, "l1_hits": value}},
            "not_countable": {}});
        std::fs::write(d.join("counts.json"), file.to_string()).unwrap();
    };
    counts("base", 1000.0);
    counts("head", 1100.0);
    let only = |dir: &str| {
        crate::util::COUNTS_ONLY
            .into_iter()
            .chain(["--counts-dir", dir])
            .map(String::from)
            .collect::<Vec<_>>()
    };
    gate(tmp.path())
        .args(["baseline", "save", "--profile", "c", "--out", "."])
        .args(only("base"))
        .assert()
        .success();
    // The instruction source's gungraun directory is `none`, but the counts file has
    // the baseline's entry: it is judged, 10 % more instructions, critical.
    gate(tmp.path())
        .args(["check", "--baseline", "c.json"])
        .args(only("head"))
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("instructions/g/spin")
                .and(predicate::str::contains("critical"))
                .and(predicate::str::contains("not judged").not()),
        );
}

/// A real gungraun summary, relative to tests/fixtures (see its README).
const GUNGRAUN_SUMMARY: &str =
    "gungraun/orchbench/instructions/model/mmc.solve_c_1_to_64/summary.json";

/// Scales the committed summary's callgrind total `Ir` by `factor` into `dir`'s tree.
fn gungraun_copy(dir: &Path, factor: f64) {
    let from = fixtures_dir().join(GUNGRAUN_SUMMARY);
    let to = dir.join(GUNGRAUN_SUMMARY.trim_start_matches("gungraun/"));
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(from).unwrap()).unwrap();
    for p in v["profiles"].as_array_mut().unwrap() {
        if p["tool"] == "Callgrind" {
            let ir = &mut p["data"]["total"]["metrics"]["Ir"]["values"]["new"];
            *ir = serde_json::json!((ir.as_f64().unwrap() * factor).round() as u64);
        }
    }
    std::fs::write(to, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn instruction_counts_are_loaded_from_real_summaries_and_gated_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let none = tmp.path().join("none");
    let base = tmp.path().join("base");
    gungraun_copy(&base, 1.0);
    let id = "instructions/mmc/solve_c_1_to_64";
    let run = |factor: f64, expect: i32, verdict: &str| {
        let head = tmp.path().join(format!("head-{factor}"));
        gungraun_copy(&head, factor);
        gate(tmp.path())
            .args(["check", "--gungraun-base"])
            .arg(&base)
            .arg("--gungraun-dir")
            .arg(&head)
            .arg("--criterion-dir")
            .arg(&none)
            .arg("--perf-dir")
            .arg(&none)
            .assert()
            .code(expect)
            .stdout(predicate::str::is_match(format!(r"(?m)^{verdict}\s+{id}\s")).unwrap());
    };
    // Exact counts: unchanged is unchanged, 1 % is always seen, 3.5 % fails the gate.
    run(1.0, 0, "unchanged");
    run(1.01, 0, "warning");
    run(1.035, 1, "critical");
    run(0.98, 0, "improved");

    // --identical-counts: two runs of one build must agree exactly; any change, even
    // an improvement, is exit 1 naming the benchmark; no count compared is exit 2.
    let identical = |head: &Path, criterion: &Path| {
        let mut cmd = gate(tmp.path());
        cmd.args(["check", "--identical-counts", "--gungraun-base"])
            .arg(&base)
            .arg("--gungraun-dir")
            .arg(head)
            .arg("--criterion-dir")
            .arg(criterion)
            .arg("--perf-dir")
            .arg(&none);
        cmd
    };
    identical(&base, &none)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "instruction counts identical to the base's",
        ));
    identical(&tmp.path().join("head-0.98"), &none)
        .assert()
        .code(1)
        .stdout(
            predicate::str::is_match(format!(
                r"{id}: \d+ instructions, then \d+: two runs of one build differ"
            ))
            .unwrap(),
        );
    let criterion_only = tmp.path().join("criterion");
    copy_tree(&fixtures_dir().join("criterion"), &criterion_only);
    gate(tmp.path())
        .args([
            "check",
            "--identical-counts",
            "--criterion-baseline",
            "before",
        ])
        .arg("--criterion-dir")
        .arg(&criterion_only)
        .args(["--gungraun-dir", "none", "--perf-dir", "none"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--identical-counts: no instruction count was compared",
        ));

    // Saved into a committed baseline, the count keeps its value and extras.
    gate(tmp.path())
        .args(["baseline", "save", "--profile", "p", "--out", "."])
        .arg("--gungraun-dir")
        .arg(&base)
        .arg("--criterion-dir")
        .arg(&none)
        .arg("--perf-dir")
        .arg(&none)
        .assert()
        .success();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("p.json")).unwrap()).unwrap();
    let e = &saved["benchmarks"][id];
    assert_eq!(e["source"], "instructions");
    assert!(e["value"].as_f64().unwrap() > 1000.0, "{e}");
    assert!(e["extra"]["EstimatedCycles"].as_f64().is_some(), "{e}");

    // A baseline of both sources, judged by a run that reads counts only (`none` for
    // the others, as the main command's count step does): its wall-time entries are
    // out of the run's scope, said once, not `missing` one by one.
    copy_tree(
        &fixtures_dir().join("criterion"),
        &tmp.path().join("target/criterion"),
    );
    gate(tmp.path())
        .args([
            "baseline",
            "save",
            "--profile",
            "both",
            "--out",
            ".",
            "--gungraun-dir",
        ])
        .arg(&base)
        .assert()
        .success();
    gate(tmp.path())
        .args([
            "check",
            "--baseline",
            "both.json",
            "--criterion-dir",
            "none",
        ])
        .args(["--perf-dir", "none", "--gungraun-dir"])
        .arg(&base)
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("wall_time baseline results not judged")
                .and(predicate::str::contains("missing").not())
                .and(predicate::str::contains("unchanged")),
        );

    // A corrupt summary is exit 2, naming the file and the field.
    let bad = tmp.path().join("bad");
    gungraun_copy(&bad, 1.0);
    let f = bad.join(GUNGRAUN_SUMMARY.trim_start_matches("gungraun/"));
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replacen("\"Ir\"", "\"Irx\"", usize::MAX);
    std::fs::write(&f, text).unwrap();
    gate(tmp.path())
        .args(["check", "--gungraun-base"])
        .arg(&base)
        .arg("--gungraun-dir")
        .arg(&bad)
        .arg("--criterion-dir")
        .arg(&none)
        .arg("--perf-dir")
        .arg(&none)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("summary.json")
                .and(predicate::str::contains("metrics.Ir"))
                .and(predicate::str::contains("missing")),
        );
}

#[test]
fn merge_refuses_what_is_not_a_set_of_shards_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let corrupt = tmp.path().join("corrupt.json");
    std::fs::write(&corrupt, "{\"recorded\": ").unwrap();
    let check_report = tmp.path().join("check.json");
    std::fs::write(&check_report, "{\"comparisons\": [], \"judged\": 0}").unwrap();
    for (file, says) in [
        (&corrupt, "corrupt.json: not valid JSON"),
        (&check_report, "check.json: no measurements to merge"),
    ] {
        gate(tmp.path())
            .arg("merge")
            .arg(file)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    // A bad shard is refused before anything is built.
    gate(tmp.path())
        .args(["ab", "--base", "HEAD", "--shard", "3/2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("\"3/2\" is not a shard"));
}
