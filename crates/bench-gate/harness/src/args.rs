//! The command line of a bench binary, as Criterion reads it: the flags `cargo bench`
//! and users pass (`--bench`, `--test`, `--list`, `--exact`, a filter, the timing
//! flags) take effect; the report and baseline flags are accepted and ignored, since
//! this harness writes no reports; `--help` says what this binary is.

use std::time::Duration;

use crate::{Filter, Mode, HARNESS_MARK};

/// What the command line asks for.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) filter: Filter,
    pub(crate) mode: Mode,
    pub(crate) sample_size: Option<usize>,
    pub(crate) warm_up_time: Option<Duration>,
    pub(crate) measurement_time: Option<Duration>,
}

/// Flags that take a value and have no effect here.
const IGNORED_WITH_VALUE: [&str; 16] = [
    "--format",
    "--save-baseline",
    "-s",
    "--baseline",
    "-b",
    "--baseline-lenient",
    "--load-baseline",
    "--color",
    "--colour",
    "-c",
    "--output-format",
    "--plotting-backend",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
];

/// Flags without a value that have no effect here.
const IGNORED: [&str; 10] = [
    "--noplot",
    "-n",
    "--verbose",
    "-v",
    "--quiet",
    "--discard-baseline",
    "--quick",
    "--nocapture",
    "--show-output",
    "--include-ignored",
];

fn seconds(flag: &str, value: Option<String>) -> Duration {
    let text = value.unwrap_or_else(|| fail(&format!("{flag} needs a value")));
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s),
        _ => fail(&format!(
            "{flag}: {text:?} is not a positive number of seconds"
        )),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}

/// Parses `args` (without the program name).
pub(crate) fn parse(args: impl Iterator<Item = String>) -> Parsed {
    let mut args = args.flat_map(|a| match a.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => {
            vec![flag.to_owned(), value.to_owned()]
        }
        _ => vec![a],
    });
    let (mut bench, mut test, mut list, mut exact, mut ignored) =
        (false, false, false, false, false);
    let mut profile = None;
    let mut filter = None;
    let mut parsed = Parsed {
        filter: Filter::All,
        mode: Mode::Measure,
        sample_size: None,
        warm_up_time: None,
        measurement_time: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => bench = true,
            "--test" => test = true,
            "--list" => list = true,
            "--exact" => exact = true,
            "--ignored" => ignored = true,
            "-h" | "--help" => {
                println!("{}", help());
                std::process::exit(0);
            }
            "-V" | "--version" => {
                println!("{HARNESS_MARK} {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "--sample-size" => {
                let text = args.next().unwrap_or_default();
                match text.parse::<usize>() {
                    Ok(n) if n >= 10 => parsed.sample_size = Some(n),
                    _ => fail(&format!(
                        "--sample-size: {text:?} is not a count of at least 10"
                    )),
                }
            }
            "--warm-up-time" => parsed.warm_up_time = Some(seconds(&arg, args.next())),
            "--measurement-time" => parsed.measurement_time = Some(seconds(&arg, args.next())),
            "--profile-time" => profile = Some(seconds(&arg, args.next())),
            flag if IGNORED_WITH_VALUE.contains(&flag) => {
                args.next();
            }
            flag if IGNORED.contains(&flag) => {}
            flag if flag.starts_with('-') => {
                eprintln!("warning: {flag} is not an option of {HARNESS_MARK}; ignored");
            }
            _ => filter = Some(arg),
        }
    }
    parsed.filter = match (ignored, filter, exact) {
        (true, _, _) => Filter::None,
        (false, Some(f), true) => Filter::Exact(f),
        (false, Some(f), false) => Filter::Contains(f),
        (false, None, _) => Filter::All,
    };
    // As Criterion: without --bench (`cargo test --benches`) every benchmark runs once.
    parsed.mode = if list {
        Mode::List
    } else if test || !bench {
        Mode::Test
    } else if let Some(time) = profile {
        Mode::Profile(time)
    } else {
        Mode::Measure
    };
    parsed
}

fn help() -> String {
    format!(
        "Usage: BENCH [FILTER] [--bench] [--list] [--test] [--exact] [--profile-time S]\n\
         \x20            [--sample-size N] [--warm-up-time S] [--measurement-time S]\n\n\
         This executable is a Criterion.rs-compatible benchmark built with the\n\
         {HARNESS_MARK} (protocol {}): `bench-gate ab` measures its benchmarks\n\
         against another build's, sample by sample. Run alone, it lists (--list), tests\n\
         (--test) or measures each benchmark briefly; FILTER matches ids that contain it.\n\
         Criterion's report and baseline flags are accepted and ignored.",
        crate::lockstep::PROTOCOL
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Parsed {
        parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn cargo_bench_measures_and_cargo_test_tests() {
        assert!(matches!(parse_str("--bench").mode, Mode::Measure));
        assert!(matches!(parse_str("").mode, Mode::Test));
        assert!(matches!(parse_str("--bench --test").mode, Mode::Test));
        assert!(matches!(parse_str("--bench --list").mode, Mode::List));
        assert!(matches!(
            parse_str("--bench --profile-time 2").mode,
            Mode::Profile(t) if t == Duration::from_secs(2)
        ));
    }

    #[test]
    fn filters_timing_flags_and_ignored_flags() {
        let p = parse_str("--bench plan/1000 --exact --sample-size 10 --warm-up-time=0.5 --noplot --save-baseline x --measurement-time 2");
        assert!(matches!(p.filter, Filter::Exact(ref f) if f == "plan/1000"));
        assert_eq!(p.sample_size, Some(10));
        assert_eq!(p.warm_up_time, Some(Duration::from_millis(500)));
        assert_eq!(p.measurement_time, Some(Duration::from_secs(2)));
        let p = parse_str("--bench plan --format terse");
        assert!(matches!(p.filter, Filter::Contains(ref f) if f == "plan"));
        assert!(matches!(
            parse_str("--bench x --ignored").filter,
            Filter::None
        ));
        assert!(matches!(parse_str("--bench").filter, Filter::All));
    }
}
