//! One benchmark's counted runs under Callgrind: the command line, the totals per
//! iteration it writes, and which run comes next until the counts are settled or the
//! benchmark is found not countable ([`next`]). The queue that runs them is
//! [`super::count`]'s.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use super::schedule::Bench;
use crate::counts::PREFIX;
use crate::model::Entry;

/// The most two counts of one binary and benchmark may differ by, relative, for its
/// counts to be judged: a hundredth of the default warning level.
pub const REPEATABLE: f64 = 5e-5;

/// The instructions a run without the cache simulation counts beyond one with it, at
/// most: the switches' own (measured: 8, in every benchmark and at any iteration
/// count, valgrind 3.19), with room.
pub(super) const SWITCHES: f64 = 16.0;

/// Callgrind's totals of one counted run, per iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counts {
    /// Instructions executed (`Ir`).
    pub instructions: f64,
    /// Accesses (instruction fetches, data reads and writes) that hit the L1 caches.
    pub l1_hits: f64,
    /// Accesses that missed L1 and hit the last-level cache.
    pub ll_hits: f64,
    /// Accesses that missed every cache.
    pub ram_hits: f64,
    /// System calls made (the kernel's work is not counted).
    pub syscalls: f64,
}

impl Counts {
    /// gungraun's estimate of the cycles: L1 hits + 5 × LL hits + 35 × RAM hits.
    pub fn estimated_cycles(&self) -> f64 {
        self.l1_hits + 5.0 * self.ll_hits + 35.0 * self.ram_hits
    }

    /// These counts as a report entry of benchmark `id` (its id: [`PREFIX`] and `id`,
    /// so that rules written for its wall time do not apply to its counts).
    pub(super) fn entry(&self, id: &str) -> Entry {
        let extra = BTreeMap::from([
            ("l1_hits".to_owned(), self.l1_hits),
            ("ll_hits".to_owned(), self.ll_hits),
            ("ram_hits".to_owned(), self.ram_hits),
            ("estimated_cycles".to_owned(), self.estimated_cycles()),
            ("syscalls".to_owned(), self.syscalls),
        ]);
        Entry::count(format!("{PREFIX}{id}"), self.instructions, extra)
    }
}

/// Parses a Callgrind output file's `events:` and `totals:` (or `summary:`) lines into
/// counts per iteration of `iters`.
pub fn parse(text: &str, iters: u64) -> Result<Counts, String> {
    let line = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
    };
    let events = line("events:").ok_or("no `events:` line")?;
    let totals = line("totals:")
        .or_else(|| line("summary:"))
        .ok_or("no `totals:` line")?;
    let get = |name: &str| -> Result<f64, String> {
        let Some(i) = events.iter().position(|e| *e == name) else {
            return Ok(0.0);
        };
        match totals.get(i) {
            None => Ok(0.0),
            Some(v) => v
                .parse::<f64>()
                .map_err(|_| format!("{name} total {v:?} is not a number")),
        }
    };
    let ir = get("Ir")?;
    if ir <= 0.0 {
        return Err("no instruction was counted".into());
    }
    let accesses = ir + get("Dr")? + get("Dw")?;
    let l1_misses = get("I1mr")? + get("D1mr")? + get("D1mw")?;
    let ram = get("ILmr")? + get("DLmr")? + get("DLmw")?;
    let n = iters.max(1) as f64;
    Ok(Counts {
        instructions: ir / n,
        l1_hits: (accesses - l1_misses) / n,
        ll_hits: (l1_misses - ram) / n,
        ram_hits: ram / n,
        syscalls: get("sysCount")? / n,
    })
}

/// The valgrind to run: `BENCH_GATE_VALGRIND`, else `valgrind` from the `PATH`.
fn program() -> OsString {
    std::env::var_os("BENCH_GATE_VALGRIND").unwrap_or_else(|| "valgrind".into())
}

/// Valgrind's version (`valgrind-3.19.0`), or `None` when it cannot be run.
pub fn valgrind() -> Option<String> {
    let out = Command::new(program()).arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !version.is_empty()).then_some(version)
}

/// Whether one binary serves both sides of `bench` (an A/A run, `bench-gate count`).
pub(super) fn one_build(bench: &Bench) -> bool {
    bench.binaries[0].path == bench.binaries[1].path
}

/// What a benchmark needs next: runs of the sides named (with the cache simulated or
/// not), or its outcome.
#[derive(Debug, PartialEq)]
pub(super) enum Next {
    /// Runs of these sides, with the cache simulated (`true`) or not.
    Run(Vec<usize>, bool),
    /// The counts of both sides, or why the benchmark is not countable.
    Done(Result<[Counts; 2], String>),
}

/// The next step for a benchmark whose sides have counted `runs` without the cache
/// simulated and `cached` with it (`one_build`: one binary serves both, and its runs
/// are all cache simulated; `slack`: the switches' instructions per iteration). First
/// one quick run per side. Sides that agree within [`REPEATABLE`] are deterministic
/// and unchanged (one build: its two runs, and done). Sides that differ get a second
/// run of the base, which is not countable where it differs from its first; then a
/// second of the head, likewise; then a third of each, so that a change is confirmed
/// by three runs of each build. Work found deterministic runs once per side with the
/// cache simulated: those are its counts, once their instructions agree with the quick
/// runs' ([`with_cache`]).
pub(super) fn next(
    runs: &[Vec<Counts>; 2],
    cached: &[Option<Counts>; 2],
    one_build: bool,
    slack: f64,
) -> Next {
    let differ = |c: &[Counts; 2]| (c[1].instructions / c[0].instructions - 1.0).abs() > REPEATABLE;
    let sides = [runs[0].as_slice(), runs[1].as_slice()];
    let settled = |judged: Result<[Counts; 2], String>| match (judged, cached) {
        (Err(why), _) => Next::Done(Err(why)),
        (Ok(quick), [Some(base), Some(head)]) => {
            Next::Done(with_cache(quick, [*base, *head], slack))
        }
        (Ok(_), _) => Next::Run(vec![0, 1], true),
    };
    match [runs[0].len(), runs[1].len()] {
        [0, 0] => Next::Run(vec![0, 1], one_build),
        [1, 1] if one_build => {
            let both = [runs[0][0], runs[1][0]];
            Next::Done(judge_runs([&both, &both], ["its", "its"]))
        }
        [1, 1] => {
            let first = [runs[0][0], runs[1][0]];
            match differ(&first) {
                true => Next::Run(vec![0], false),
                false => settled(Ok(first)),
            }
        }
        [2, 1] => match judge_side(sides[0], SIDES[0]) {
            Ok(_) => Next::Run(vec![1], false),
            Err(why) => Next::Done(Err(why)),
        },
        [2, 2] => match judge_runs(sides, SIDES) {
            Ok(c) if differ(&c) => Next::Run(vec![0, 1], false),
            judged => settled(judged),
        },
        _ => settled(judge_runs(sides, SIDES)),
    }
}

/// The counts of a benchmark from its runs with the cache simulated (`cached`), once
/// their instructions agree with the quick runs' means (`quick`) within
/// [`REPEATABLE`] and the switches' `slack`; else why not.
fn with_cache(quick: [Counts; 2], cached: [Counts; 2], slack: f64) -> Result<[Counts; 2], String> {
    for s in 0..2 {
        let (q, c) = (quick[s].instructions, cached[s].instructions);
        if (q - c).abs() > REPEATABLE * q.max(c) + slack {
            return Err(format!(
                "not countable: runs of {} build counted {} and {} instructions per \
                 iteration, with and without the cache simulated: its work is not \
                 deterministic",
                SIDES[s],
                significant(c),
                significant(q)
            ));
        }
    }
    Ok(cached)
}

/// valgrind's command line for a counted run writing to `out`, with the cache
/// simulated (`cache`) or not.
pub(super) fn callgrind(out: &Path, cache: bool) -> Vec<OsString> {
    let mut file = OsString::from("--callgrind-out-file=");
    file.push(out);
    let options = [
        "--tool=callgrind",
        "--instr-atstart=no",
        "--collect-atstart=no",
        if cache {
            "--cache-sim=yes"
        } else {
            "--cache-sim=no"
        },
        "--collect-systime=yes",
        "--dump-line=no",
    ];
    [program()]
        .into_iter()
        .chain(options.into_iter().map(OsString::from))
        .chain([file])
        .collect()
}

/// `x` with six significant digits, for counts per iteration of any size.
fn significant(x: f64) -> String {
    let digits = 6 - (x.abs().max(1e-9).log10().floor() as i32 + 1);
    format!("{x:.*}", digits.clamp(0, 9) as usize)
}

/// The builds' names in a not-countable reason, when base and head are two builds.
const SIDES: [&str; 2] = ["the base", "the head"];

/// Each side's counts (the mean over its `runs`) when its runs agree within
/// [`REPEATABLE`]; else why not, naming the side's build (`builds`).
fn judge_runs(runs: [&[Counts]; 2], builds: [&str; 2]) -> Result<[Counts; 2], String> {
    Ok([
        judge_side(runs[0], builds[0])?,
        judge_side(runs[1], builds[1])?,
    ])
}

/// One build's counts (the mean over its `runs`) when they agree within
/// [`REPEATABLE`]; else why not, naming the `build` with its lowest and highest count.
fn judge_side(runs: &[Counts], build: &str) -> Result<Counts, String> {
    let ir = |c: &Counts| c.instructions;
    let low = runs.iter().map(ir).fold(f64::INFINITY, f64::min);
    let high = runs.iter().map(ir).fold(0.0, f64::max);
    let spread = high / low - 1.0;
    if spread.is_nan() || spread > REPEATABLE {
        return Err(format!(
            "not countable: {} runs of {build} build counted {} to {} instructions \
             per iteration ({:.3} % apart): its work is not deterministic",
            runs.len(),
            significant(low),
            significant(high),
            spread * 100.0
        ));
    }
    let mean = |f: fn(&Counts) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
    Ok(Counts {
        instructions: mean(|c| c.instructions),
        l1_hits: mean(|c| c.l1_hits),
        ll_hits: mean(|c| c.ll_hits),
        ram_hits: mean(|c| c.ram_hits),
        syscalls: mean(|c| c.syscalls),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLGRIND: &str = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\n\
        events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nfl=(1) x.rs\nfn=(1) f\n0 5 1 1\n\
        totals: 2000 600 400 20 30 10 4 6 2\n";
    const SYSCALLS: &str = "events: Ir sysCount sysTime\ntotals: 1000 20 123456\n";

    #[test]
    fn callgrind_totals_become_counts_per_iteration() {
        let c = parse(CALLGRIND, 10).unwrap();
        assert_eq!(c.instructions, 200.0);
        // 3000 accesses, 60 L1 misses, 12 of them missed every cache.
        assert_eq!((c.l1_hits, c.ll_hits, c.ram_hits), (294.0, 4.8, 1.2));
        assert_eq!(c.estimated_cycles(), 294.0 + 24.0 + 42.0);
        assert_eq!(c.syscalls, 0.0);
        assert_eq!(parse(SYSCALLS, 10).unwrap().syscalls, 2.0);
        let no_cache = "events: Ir\nsummary: 500\n";
        assert_eq!(parse(no_cache, 5).unwrap().instructions, 100.0);
    }

    #[test]
    fn a_file_without_counts_says_what_is_missing() {
        assert!(parse("version: 1\n", 1).unwrap_err().contains("events:"));
        assert!(parse("events: Ir\n", 1).unwrap_err().contains("totals:"));
        let zero = parse("events: Ir\ntotals: 0\n", 1).unwrap_err();
        assert!(zero.contains("no instruction"), "{zero}");
        let bad = parse("events: Ir Dr\ntotals: 10 x\n", 1).unwrap_err();
        assert!(bad.contains("Dr total \"x\""), "{bad}");
    }

    fn c(ir: f64) -> Counts {
        Counts {
            instructions: ir,
            l1_hits: ir,
            ll_hits: 0.0,
            ram_hits: 0.0,
            syscalls: 0.0,
        }
    }

    #[test]
    fn runs_that_differ_make_a_benchmark_not_countable_naming_both_ends() {
        let judged = judge_runs([&[c(1000.0); 2], &[c(1030.0); 2]], SIDES).unwrap();
        assert_eq!(
            (judged[0].instructions, judged[1].instructions),
            (1000.0, 1030.0)
        );
        let head = [c(1030.0), c(1031.0), c(1030.0)];
        let why = judge_runs([&[c(1000.0); 3], &head], SIDES).unwrap_err();
        assert!(
            why.contains("3 runs of the head build counted 1030.00 to 1031.00"),
            "{why}"
        );
        assert_eq!(significant(0.21234567), "0.212346");
        assert_eq!(significant(1_310_385.0), "1310385");
    }

    #[test]
    fn the_base_runs_again_first_and_a_change_is_confirmed_by_three_runs_each() {
        let runs =
            |base: &[f64], head: &[f64]| [base, head].map(|s| s.iter().map(|&x| c(x)).collect());
        let none = [None, None];
        let quick = |n: Next| match n {
            Next::Run(sides, false) => sides,
            other => panic!("{other:?}, not quick runs"),
        };
        let done = |n: Next| match n {
            Next::Done(outcome) => outcome.map(|c| [c[0].instructions, c[1].instructions]),
            Next::Run(sides, cache) => panic!("runs {sides:?} more (cache {cache})"),
        };
        assert_eq!(quick(next(&runs(&[], &[]), &none, false, 0.0)), [0, 1]);
        // Agreeing sides run once more each with the cache simulated.
        let agree = runs(&[7.0], &[7.0]);
        assert_eq!(next(&agree, &none, false, 0.0), Next::Run(vec![0, 1], true));
        // Differing sides: the base again, then the head, then both a third time.
        assert_eq!(quick(next(&runs(&[7.0], &[8.0]), &none, false, 0.0)), [0]);
        assert_eq!(
            quick(next(&runs(&[7.0, 7.0], &[8.0]), &none, false, 0.0)),
            [1]
        );
        let why = done(next(&runs(&[7.0, 7.5], &[8.0]), &none, false, 0.0)).unwrap_err();
        assert!(why.contains("2 runs of the base build"), "{why}");
        let why = done(next(&runs(&[7.0, 7.0], &[8.0, 8.5]), &none, false, 0.0)).unwrap_err();
        assert!(why.contains("2 runs of the head build"), "{why}");
        let two = runs(&[7.0, 7.0], &[8.0, 8.0]);
        assert_eq!(quick(next(&two, &none, false, 0.0)), [0, 1]);
        let three = runs(&[7.0; 3], &[8.0; 3]);
        assert_eq!(next(&three, &none, false, 0.0), Next::Run(vec![0, 1], true));
        // The cache-simulated runs are the counts, within the switches' slack.
        let cached = [Some(c(6.9)), Some(c(7.9))];
        assert_eq!(done(next(&three, &cached, false, 0.1)), Ok([6.9, 7.9]));
        let why = done(next(&three, &cached, false, 0.05)).unwrap_err();
        assert!(
            why.contains("the base build counted 6.90000 and 7.00000")
                && why.contains("with and without"),
            "{why}"
        );
        // One build: its first two runs, cache simulated, are its two runs.
        assert_eq!(
            next(&runs(&[], &[]), &none, true, 0.0),
            Next::Run(vec![0, 1], true)
        );
        assert_eq!(
            done(next(&runs(&[7.0], &[7.0]), &none, true, 0.0)),
            Ok([7.0, 7.0])
        );
        let why = done(next(&runs(&[7.0], &[8.0]), &none, true, 0.0)).unwrap_err();
        assert!(why.contains("2 runs of its build"), "{why}");
    }
}
