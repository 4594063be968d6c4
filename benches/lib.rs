//! What every bench file of the suite shares: the bench profile (full or quick, chosen
//! by `ORCHBENCH_QUICK`) and the Criterion configuration built from it, so all benches
//! honour quick mode the same way; the helper that runs pool-submitting work on the
//! runtime's own threads; and the translation of Criterion's command line into
//! gungraun's, so that one `cargo bench -- ARGS` drives both harnesses. Inputs and
//! generators live in the engine's `orchbench::workload`; nothing here is measured.

use std::time::Duration;

use criterion::Criterion;

/// How long a bench measures: the full profile, or the quick one for CI smoke runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchProfile {
    /// Warm-up time per benchmark.
    pub warm_up: Duration,
    /// Measurement time per benchmark.
    pub measurement: Duration,
    /// Samples per benchmark (Criterion needs at least 10).
    pub sample_size: usize,
}

impl BenchProfile {
    /// The environment variable that selects the quick profile when set to `1` or `true`.
    pub const QUICK_ENV: &'static str = "ORCHBENCH_QUICK";

    /// The full profile: 1 s warm-up, 3 s measurement, 100 samples.
    pub const FULL: BenchProfile = BenchProfile {
        warm_up: Duration::from_secs(1),
        measurement: Duration::from_secs(3),
        sample_size: 100,
    };

    /// The quick profile: 0.2 s warm-up, 0.5 s measurement, 20 samples.
    pub const QUICK: BenchProfile = BenchProfile {
        warm_up: Duration::from_millis(200),
        measurement: Duration::from_millis(500),
        sample_size: 20,
    };

    /// [`BenchProfile::QUICK`] when `ORCHBENCH_QUICK` is `1` or `true`, else
    /// [`BenchProfile::FULL`].
    pub fn from_env() -> BenchProfile {
        Self::from_value(std::env::var(Self::QUICK_ENV).ok().as_deref())
    }

    /// The profile a value of `ORCHBENCH_QUICK` selects (`None`: unset).
    pub fn from_value(value: Option<&str>) -> BenchProfile {
        match value {
            Some("1") | Some("true") => Self::QUICK,
            _ => Self::FULL,
        }
    }
}

/// Criterion configured from the environment's bench profile; command-line flags
/// (`--quick`, `--test`, `--warm-up-time`, …) still apply on top.
pub fn config() -> Criterion {
    let profile = BenchProfile::from_env();
    Criterion::default()
        .warm_up_time(profile.warm_up)
        .measurement_time(profile.measurement)
        .sample_size(profile.sample_size)
}

/// Runs `future` as a task on one of `runtime`'s worker threads and waits for it.
///
/// Benches that submit work to a pool do it from inside the runtime, as an
/// orchestrator's own tasks would: with `block_on` alone the submitting loop runs on
/// the bench's thread, a third busy thread on two cores that the kernel time-slices
/// against the workers.
pub fn on_runtime<F>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime
        .block_on(runtime.spawn(future))
        .expect("the benchmark task panicked")
}

/// Criterion's options that take a value and that gungraun does not know: dropped with
/// their value, so `cargo bench -- --warm-up-time 0.3` reaches the Criterion benches
/// without failing the instruction-count bench.
const CRITERION_ONLY_WITH_VALUE: &[&str] = &[
    "--warm-up-time",
    "--measurement-time",
    "--sample-size",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--profile-time",
    "--plotting-backend",
    "--color",
    "-c",
];

/// Criterion's (and libtest's) flags without a value that gungraun does not know.
const CRITERION_ONLY_FLAGS: &[&str] = &[
    "--noplot",
    "--quick",
    "--discard-baseline",
    "--verbose",
    "-v",
    "--quiet",
    "--exact",
    "--show-output",
];

/// The baseline options both harnesses have. Criterion writes their value after a
/// space (`--save-baseline NAME`); gungraun reads it only after `=` and would take a
/// separate `NAME` as its benchmark filter.
const BASELINE_OPTIONS: &[(&str, &str)] = &[
    ("--save-baseline", "--save-baseline"),
    ("--baseline", "--baseline"),
    // gungraun's `--baseline` already creates a missing baseline instead of failing.
    ("--baseline-lenient", "--baseline"),
    ("--load-baseline", "--load-baseline"),
];

/// A Criterion baseline name as gungraun accepts it: gungraun allows only ASCII letters,
/// digits and `_`, Criterion anything, so every other character becomes `_` (`pr-base`
/// is `pr_base` for the instruction counts). The same name always maps the same way, so
/// `--save-baseline NAME` and a later `--baseline NAME` meet.
pub fn gungraun_baseline_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Translates the arguments `cargo bench` passes to every bench binary (Criterion's
/// command line) into what the gungraun harness accepts: baseline names joined with
/// `=` and spelled as gungraun allows ([`gungraun_baseline_name`]), Criterion-only
/// options dropped. Everything else (gungraun's own options, the
/// filter, `--bench`, `--list`, `--test`) passes unchanged, so a gungraun command line
/// is its own translation.
pub fn gungraun_args<I: IntoIterator<Item = String>>(args: I) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        if let Some((_, to)) = BASELINE_OPTIONS.iter().find(|(from, _)| *from == arg) {
            match args.next_if(|next| !next.starts_with('-')) {
                Some(name) => out.push(format!("{to}={}", gungraun_baseline_name(&name))),
                None => out.push((*to).to_owned()),
            }
        } else if let Some((_, to)) = BASELINE_OPTIONS
            .iter()
            .find(|(from, _)| arg.starts_with(&format!("{from}=")))
        {
            let name = &arg[arg.find('=').map_or(0, |i| i + 1)..];
            out.push(format!("{to}={}", gungraun_baseline_name(name)));
        } else if CRITERION_ONLY_WITH_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if CRITERION_ONLY_WITH_VALUE
            .iter()
            .any(|o| arg.starts_with(&format!("{o}=")))
            || CRITERION_ONLY_FLAGS.contains(&arg.as_str())
        {
        } else {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(args: &[&str]) -> Vec<String> {
        gungraun_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn criterion_baseline_flags_become_gungrauns() {
        assert_eq!(
            translate(&[
                "--bench",
                "--save-baseline",
                "before",
                "graph_planning/plan/100$"
            ]),
            [
                "--bench",
                "--save-baseline=before",
                "graph_planning/plan/100$"
            ]
        );
        assert_eq!(
            translate(&["--bench", "--baseline", "main"]),
            ["--bench", "--baseline=main"]
        );
        assert_eq!(
            translate(&["--baseline-lenient", "x", "--load-baseline=y"]),
            ["--baseline=x", "--load-baseline=y"]
        );
        // gungraun's own forms are their own translation.
        assert_eq!(
            translate(&["--save-baseline=pr_base", "--save-summary=json"]),
            ["--save-baseline=pr_base", "--save-summary=json"]
        );
        // Regression: the PR workflow's `pr-base` failed gungraun's name check (exit 2).
        assert_eq!(
            translate(&["--save-baseline", "pr-base", "--baseline=pr-base"]),
            ["--save-baseline=pr_base", "--baseline=pr_base"]
        );
        assert_eq!(gungraun_baseline_name("main_2026.12"), "main_2026_12");
        // A flag where a name would be: the name is left out, as gungraun allows.
        assert_eq!(
            translate(&["--save-baseline", "--list"]),
            ["--save-baseline", "--list"]
        );
    }

    #[test]
    fn criterion_only_options_are_dropped_with_their_values() {
        assert_eq!(
            translate(&[
                "--bench",
                "--warm-up-time",
                "0.3",
                "--measurement-time=1",
                "--noplot",
                "--sample-size",
                "10",
                "instructions::graph::*",
            ]),
            ["--bench", "instructions::graph::*"]
        );
    }

    #[test]
    fn quick_mode_is_chosen_by_the_variable() {
        assert_eq!(BenchProfile::from_value(Some("1")), BenchProfile::QUICK);
        assert_eq!(BenchProfile::from_value(Some("true")), BenchProfile::QUICK);
        assert_eq!(BenchProfile::from_value(Some("0")), BenchProfile::FULL);
        assert_eq!(BenchProfile::from_value(None), BenchProfile::FULL);
        const { assert!(BenchProfile::QUICK.sample_size >= 10) };
    }
}
