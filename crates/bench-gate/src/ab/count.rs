//! Instruction counts of `bench-gate ab`: every lockstep benchmark of both sides run
//! under Callgrind, counting only its routine's measured part, per iteration.
//!
//! Each benchmark's base and head processes start at once under `valgrind
//! --tool=callgrind` with nothing instrumented or counted; the driver's `count ITERS
//! WARM` (the harness's `count.rs`) has each turn instrumentation on, run WARM
//! iterations uncounted, then ITERS with collection on only between the bencher's
//! start and end of measurement, and exit, when Callgrind writes its totals. Both
//! sides run the same ITERS, about a millisecond's worth of the routine.
//!
//! Each round runs one fresh process per side at once. Sides that agree within
//! [`REPEATABLE`] in the first round are done (two processes agreeing that closely:
//! deterministic, unchanged work); sides that differ are counted again, and a third
//! time when they still differ, so that a change is confirmed by three runs of each
//! build. When one build serves both sides (an A/A run, `bench-gate count`), one
//! round's two processes are its two runs. Where the counts of one binary differ by
//! more than [`REPEATABLE`], the work is not deterministic (a server's replies,
//! timers, other threads' hand-offs) and the benchmark is `not countable`, with its
//! lowest and highest count in the reason:
//! found by measuring, not from a list. The others' counts are judged by the policy's
//! instruction levels, like gungraun's, both sides being counted here with one
//! valgrind and one rustc; system calls in the counted part are flagged (the kernel's
//! work is not counted).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::lockstep::{self, Order, Pair, Settings};
use super::schedule::Bench;
use super::{AbEvent, Progress};
use crate::GateError;
use crate::counts::{PREFIX, figures};
use crate::decide::decide;
use crate::model::{Entry, Results};
use crate::thresholds::Policy;
use crate::verdict::{Comparison, Decision, Verdict};

/// The most two counts of one binary and benchmark may differ by, relative, for its
/// counts to be judged: a hundredth of the default warning level.
pub const REPEATABLE: f64 = 5e-5;

/// The wall time of the counted iterations, natively: Callgrind runs them 50-100
/// times slower.
const COUNTED: Duration = Duration::from_millis(1);

/// The least iterations counted: work that takes one of two paths per iteration (a
/// thread hand-off that does or does not wait) then differs between two runs, where
/// one iteration each could take the same path in both by chance (measured: a
/// 100 000-event channel read 2 348 or 2 454 instructions per event, either in both
/// runs of a side now and then).
const LEAST_COUNTED: u64 = 5;

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
    fn entry(&self, id: &str) -> Entry {
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

/// What counting found.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Counted {
    /// Per side (base, head), the counts of every countable benchmark.
    pub sides: [Results; 2],
    /// The benchmarks that are not countable, and why.
    pub not_countable: Vec<(String, String)>,
    /// The counted benchmarks whose routine makes system calls, and how many per
    /// iteration (their counts leave the kernel's work out).
    pub syscalls: Vec<(String, f64)>,
    /// How long each benchmark's counting took, seconds, in the order counted.
    pub cost: Vec<(String, f64)>,
}

impl Counted {
    /// How long counting took, seconds.
    pub fn seconds(&self) -> f64 {
        self.cost.iter().map(|(_, secs)| secs).sum()
    }

    /// Every benchmark's counts per iteration on both sides, and those not countable
    /// with the reason, for the `--json` report.
    pub fn to_json(&self) -> serde_json::Value {
        let counted: serde_json::Map<String, serde_json::Value> = self.sides[0]
            .iter()
            .filter_map(|(key, base)| {
                let head = self.sides[1].get(key)?;
                let id = key.strip_prefix(PREFIX).unwrap_or(key);
                Some((
                    id.to_owned(),
                    serde_json::json!({"base": figures(base), "head": figures(head)}),
                ))
            })
            .collect();
        let not: serde_json::Map<String, serde_json::Value> = self
            .not_countable
            .iter()
            .map(|(id, why)| (id.clone(), why.clone().into()))
            .collect();
        let cost: serde_json::Map<String, serde_json::Value> = self
            .cost
            .iter()
            .map(|(id, secs)| (id.clone(), (*secs).into()))
            .collect();
        serde_json::json!({"per_iteration": counted, "not_countable": not,
            "seconds": self.seconds(), "seconds_per_benchmark": cost})
    }
}

/// The iterations to count of a benchmark that ran `per_slice` iterations in a sample
/// of `slice`: a millisecond's worth, at least 5 (`LEAST_COUNTED`).
pub fn iterations(per_slice: u64, slice: Duration) -> u64 {
    let share = COUNTED.as_secs_f64() / slice.as_secs_f64().max(1e-9);
    ((per_slice as f64 * share).round() as u64).max(LEAST_COUNTED)
}

/// Counts every benchmark of `benches` under `valgrind` (its version) in `dir`,
/// `iters` naming each one's iterations to count (absent, and never fewer than:
/// `LEAST_COUNTED`), each process given `timeout` to reach its benchmark and to
/// answer, telling `events` how far it got.
pub fn count(
    benches: &[Bench],
    iters: &BTreeMap<String, u64>,
    timeout: Duration,
    (dir, valgrind): (&Path, &str),
    events: &mut dyn FnMut(AbEvent<'_>),
) -> Result<Counted, GateError> {
    // Only the time limit matters to a counted run: no samples, no pinning.
    let settings = &Settings {
        warm_up: Duration::ZERO,
        slice: Duration::ZERO,
        samples: 1,
        order: Order::Alternate,
        cpus: Vec::new(),
        timeout,
    };
    events(AbEvent::Status(&format!(
        "counting the instructions of {} benchmarks under Callgrind ({valgrind}) ...",
        benches.len()
    )));
    std::fs::create_dir_all(dir).map_err(|e| GateError::io(dir, e))?;
    let mut counted = Counted::default();
    for (i, bench) in benches.iter().enumerate() {
        events(AbEvent::Run(&Progress {
            done: i,
            total: benches.len(),
            unit: "counts",
            budget: None,
            current: bench.id.clone(),
        }));
        let n = iters.get(&bench.id).copied().unwrap_or(0);
        let start = Instant::now();
        let result = count_bench(bench, i, n.max(LEAST_COUNTED), settings, dir);
        counted
            .cost
            .push((bench.id.clone(), start.elapsed().as_secs_f64()));
        match result {
            Ok(Ok(c)) => {
                let calls = c[0].syscalls.max(c[1].syscalls);
                if calls > 0.0 {
                    counted.syscalls.push((bench.id.clone(), calls));
                }
                for (s, side) in counted.sides.iter_mut().enumerate() {
                    let entry = c[s].entry(&bench.id);
                    side.insert(entry.id.clone(), entry);
                }
            }
            Ok(Err(why)) => counted.not_countable.push((bench.id.clone(), why)),
            Err(e) if super::process::interrupted() => return Err(e),
            Err(e) => counted
                .not_countable
                .push((bench.id.clone(), first_line(&e))),
        }
    }
    Ok(counted)
}

/// Both sides' counts of `bench` (the `i`th), or why it is not countable. A round runs
/// one process per side at once. When the two agree within [`REPEATABLE`], they are
/// its counts: two fresh processes agreeing that closely is work that is deterministic
/// and unchanged (one build on both sides: its two runs). When they differ, a second
/// round tells a change from work that is not deterministic (a build whose runs
/// differ), and a third confirms a change by three runs of each build.
fn count_bench(
    bench: &Bench,
    i: usize,
    iters: u64,
    settings: &Settings,
    dir: &Path,
) -> Result<Result<[Counts; 2], String>, GateError> {
    let differ = |c: &[Counts; 2]| (c[1].instructions / c[0].instructions - 1.0).abs() > REPEATABLE;
    let first = count_round(bench, i, 0, iters, settings, dir)?;
    if bench.binaries[0].path == bench.binaries[1].path {
        let [a, b] = first;
        return Ok(judge_runs(&[[a, a], [b, b]], ["its", "its"]));
    }
    if !differ(&first) {
        return Ok(Ok(first));
    }
    // One round after the other: two at once (four processes on two CPUs) was
    // measured no faster, 317 s for the quick suite against 309 and 347 s.
    let mut runs = vec![first, count_round(bench, i, 1, iters, settings, dir)?];
    let judged = judge_runs(&runs, SIDES);
    if judged.as_ref().is_ok_and(differ) {
        runs.push(count_round(bench, i, 2, iters, settings, dir)?);
        return Ok(judge_runs(&runs, SIDES));
    }
    Ok(judged)
}

/// The reason a benchmark that failed under Callgrind is not countable: the error's
/// first line and the last line the process wrote.
fn first_line(e: &GateError) -> String {
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    match lines.next_back() {
        Some(last) => format!("not countable: it failed under Callgrind: {first} {last}"),
        None => format!("not countable: it failed under Callgrind: {first}"),
    }
}

/// Counted run `r` of both sides of `bench` (the `i`th) at once.
fn count_round(
    bench: &Bench,
    i: usize,
    r: usize,
    iters: u64,
    settings: &Settings,
    dir: &Path,
) -> Result<[Counts; 2], GateError> {
    // A directory per run, its files named by number: Callgrind reads `%` in a name
    // as a format.
    let dir = &dir.join(format!("run{r}"));
    std::fs::create_dir_all(dir).map_err(|e| GateError::io(dir, e))?;
    let out: [PathBuf; 2] = ["base", "head"].map(|s| dir.join(format!("{i}-{s}.cg")));
    let under = |s: usize| callgrind(&out[s]);
    let pair = Pair {
        id: &bench.id,
        binaries: [Some(&bench.binaries[0]), Some(&bench.binaries[1])],
        dir,
        stem: format!("{}-count{r}", super::rounds::file_stem(&bench.id)),
        first: r % 2,
        kind: None,
    };
    // Uncounted first, a fifth as many: the caches and lazy set-ups warm.
    let command = format!("count {iters} {}", (iters / 5).max(1));
    let answers = lockstep::once_under(&pair, settings, &under, &command, settings.timeout)?;
    let mut counts = [None, None];
    for s in 0..2 {
        let said = answers[s].as_deref().unwrap_or_default();
        if said.first().map(String::as_str) != Some("counted") {
            return Err(pair_error(
                bench,
                s,
                &format!("answered {:?}", said.join(" ")),
            ));
        }
        let text = std::fs::read_to_string(&out[s]).map_err(|e| GateError::io(&out[s], e))?;
        counts[s] = Some(parse(&text, iters).map_err(|e| pair_error(bench, s, &e))?);
        let _ = std::fs::remove_file(&out[s]);
    }
    Ok(counts.map(|c| c.expect("both sides answered")))
}

fn pair_error(bench: &Bench, s: usize, what: &str) -> GateError {
    let side = ["base", "head"][s];
    GateError::Ab(format!(
        "benchmark {}: the {side} side's count: {what}",
        bench.id
    ))
}

/// valgrind's command line for a counted run writing to `out`.
fn callgrind(out: &Path) -> Vec<OsString> {
    let mut file = OsString::from("--callgrind-out-file=");
    file.push(out);
    let options = [
        "--tool=callgrind",
        "--instr-atstart=no",
        "--collect-atstart=no",
        "--cache-sim=yes",
        "--collect-systime=yes",
        "--dump-line=no",
    ];
    [program()]
        .into_iter()
        .chain(options.into_iter().map(OsString::from))
        .chain([file])
        .collect()
}

/// Judges the counts by the policy's instruction levels and adds their verdicts to
/// `decision`, each wall-time verdict of a counted benchmark saying which moved: the
/// work (its instructions) or only the time. A critical slowdown with identical work
/// on both sides ([`identical`]) of a benchmark that computes on one thread (`alone`
/// says which: the others' work is partly on threads Callgrind does not count) is a
/// warning unless the policy says otherwise.
pub fn join(
    decision: &mut Decision,
    counted: &Counted,
    policy: &Policy,
    alone: &dyn Fn(&str) -> bool,
) -> Result<(), GateError> {
    let counts = decide(&counted.sides[1], Some(&counted.sides[0]), policy, &[])?;
    for time in decision.comparisons.iter_mut() {
        let key = format!("{PREFIX}{}", time.id);
        let Some(work) = counts.comparisons.iter().find(|c| c.id == key) else {
            continue;
        };
        let same = match (counted.sides[0].get(&key), counted.sides[1].get(&key)) {
            (Some(base), Some(head)) => identical(base, head),
            _ => false,
        };
        time.work = Some(joint(time.verdict, work, same));
        let excused = same && alone(&time.id) && !policy.paired.identical_work_fails;
        if excused && time.verdict == Verdict::Critical {
            time.verdict = Verdict::Warning;
            time.reason.push_str(
                "; a warning, not a failure: the same instruction stream ran on both sides, \
                 so the time moved with the build's code layout or the machine \
                 (`[paired] identical_work = \"critical\"` fails it)",
            );
        }
    }
    decision.judged += counts.judged;
    decision.comparisons.extend(counts.comparisons);
    decision.sort();
    Ok(())
}

/// Whether two count entries are the same work: instructions and memory accesses (all
/// cache levels' hits together, which do not depend on where the data lies) within
/// [`REPEATABLE`] of each other.
pub fn identical(base: &Entry, head: &Entry) -> bool {
    let accesses = |e: &Entry| {
        ["l1_hits", "ll_hits", "ram_hits"]
            .map(|k| e.extra.get(k).copied().unwrap_or(0.0))
            .iter()
            .sum::<f64>()
    };
    let close = |a: f64, b: f64| (b / a - 1.0).abs() <= REPEATABLE;
    close(base.value, head.value) && close(accesses(base), accesses(head))
}

/// What moved, from the wall-time verdict and the counts' comparison: `more work`
/// (instructions up beyond their warning level), `less work`, or the same work
/// (`identical work` when [`identical`]), with the time's verdict saying whether it
/// went slower or faster; with the instructions' change.
pub fn joint(time: Verdict, work: &Comparison, identical: bool) -> String {
    let change = work
        .change
        .map_or(String::from("?"), |c| format!("{:+.2} %", c * 100.0));
    let same = if identical {
        "identical work"
    } else {
        "same work"
    };
    let what = match (work.verdict, time) {
        (Verdict::Critical | Verdict::Warning, _) => "more work".to_owned(),
        (Verdict::Improved, _) => "less work".to_owned(),
        (_, Verdict::Critical | Verdict::Warning) => format!("{same}, slower"),
        (_, Verdict::Improved) => format!("{same}, faster"),
        _ => same.to_owned(),
    };
    format!("{what} (instructions {change})")
}

/// How often a counted routine makes a system call: `2.2 system calls an iteration`,
/// or for fewer than one in ten iterations `a system call every 250 iterations`.
pub fn syscalls_text(calls: f64) -> String {
    if calls >= 0.1 {
        format!("{calls:.1} system calls an iteration")
    } else {
        format!("a system call every {:.0} iterations", 1.0 / calls)
    }
}

/// `x` with six significant digits, for counts per iteration of any size.
fn significant(x: f64) -> String {
    let digits = 6 - (x.abs().max(1e-9).log10().floor() as i32 + 1);
    format!("{x:.*}", digits.clamp(0, 9) as usize)
}

/// The builds' names in a not-countable reason, when base and head are two builds.
const SIDES: [&str; 2] = ["the base", "the head"];

/// Each side's counts (the mean over `runs`) when its runs agree within
/// [`REPEATABLE`]; else why not, naming the side's build (`builds`) with its lowest and
/// highest count.
fn judge_runs(runs: &[[Counts; 2]], builds: [&str; 2]) -> Result<[Counts; 2], String> {
    let mut out = [None, None];
    for (s, build) in builds.iter().enumerate() {
        let all: Vec<Counts> = runs.iter().map(|r| r[s]).collect();
        let ir = |c: &Counts| c.instructions;
        let low = all.iter().map(ir).fold(f64::INFINITY, f64::min);
        let high = all.iter().map(ir).fold(0.0, f64::max);
        let spread = high / low - 1.0;
        if spread.is_nan() || spread > REPEATABLE {
            return Err(format!(
                "not countable: {} runs of {build} build counted {} to {} instructions \
                 per iteration ({:.3} % apart): its work is not deterministic",
                all.len(),
                significant(low),
                significant(high),
                spread * 100.0
            ));
        }
        let mean = |f: fn(&Counts) -> f64| all.iter().map(f).sum::<f64>() / all.len() as f64;
        out[s] = Some(Counts {
            instructions: mean(|c| c.instructions),
            l1_hits: mean(|c| c.l1_hits),
            ll_hits: mean(|c| c.ll_hits),
            ram_hits: mean(|c| c.ram_hits),
            syscalls: mean(|c| c.syscalls),
        });
    }
    Ok(out.map(|c| c.expect("both sides judged")))
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

    #[test]
    fn runs_that_differ_make_a_benchmark_not_countable_naming_both_ends() {
        let c = |ir: f64| Counts {
            instructions: ir,
            l1_hits: ir,
            ll_hits: 0.0,
            ram_hits: 0.0,
            syscalls: 0.0,
        };
        let same = [[c(1000.0), c(1030.0)], [c(1000.0), c(1030.0)]];
        let judged = judge_runs(&same, SIDES).unwrap();
        assert_eq!(
            (judged[0].instructions, judged[1].instructions),
            (1000.0, 1030.0)
        );
        let apart = [
            [c(1000.0), c(1030.0)],
            [c(1000.0), c(1031.0)],
            [c(1000.0), c(1030.0)],
        ];
        let why = judge_runs(&apart, SIDES).unwrap_err();
        assert!(
            why.contains("3 runs of the head build counted 1030.00 to 1031.00"),
            "{why}"
        );
        assert_eq!(significant(0.21234567), "0.212346");
        assert_eq!(significant(1_310_385.0), "1310385");
    }

    #[test]
    fn a_slowdown_of_identical_work_is_a_warning_unless_the_policy_fails_it() {
        let counts = |ir: f64| Counts {
            instructions: ir,
            l1_hits: 2.0 * ir,
            ll_hits: 3.0,
            ram_hits: 1.0,
            syscalls: 0.0,
        };
        let mut counted = Counted::default();
        // Identical work, on one thread and with threads; 0.04 % more instructions.
        let ids = ["g/same", "g/threads", "g/near"];
        for (id, head) in ids.into_iter().zip([1000.0, 1000.0, 1000.4]) {
            counted.sides[0].insert(format!("{PREFIX}{id}"), counts(1000.0).entry(id));
            counted.sides[1].insert(format!("{PREFIX}{id}"), counts(head).entry(id));
        }
        // Both 10 % slower in wall time.
        let time = |v: f64| -> Results {
            ids.map(|id| {
                let mut e = counts(v).entry(id);
                e.id = id.to_owned();
                (e.id.clone(), e)
            })
            .into()
        };
        let verdicts = |policy: &Policy| {
            let mut d = decide(&time(110.0), Some(&time(100.0)), policy, &[]).unwrap();
            join(&mut d, &counted, policy, &|id| id != "g/threads").unwrap();
            let of = |id: &str| {
                let c = d.comparisons.iter().find(|c| c.id == id).unwrap();
                (c.verdict, c.why())
            };
            (of("g/same"), of("g/near"), of("g/threads").0)
        };
        let ((same, why), (near, near_why), threads) = verdicts(&Policy::builtin());
        assert_eq!(
            threads,
            Verdict::Critical,
            "its other threads' work is not counted"
        );
        assert_eq!(same, Verdict::Warning, "{why}");
        assert!(
            why.contains("identical work, slower") && why.contains("not a failure"),
            "{why}"
        );
        assert_eq!(near, Verdict::Critical, "{near_why}");
        assert!(
            near_why.contains("same work, slower (instructions +0.04 %)"),
            "{near_why}"
        );
        let strict = "[defaults]\nwarning = \"5%\"\ncritical = \"8%\"\n\
                      [paired]\nidentical_work = \"critical\"\n";
        let policy = Policy::parse(strict, Path::new("t.toml")).unwrap();
        assert_eq!(verdicts(&policy).0.0, Verdict::Critical);
        let bad = strict.replace("\"critical\"\n", "\"fail\"\n");
        let e = Policy::parse(&bad, Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("paired.identical_work") && e.contains("fail"),
            "{e}"
        );
    }

    #[test]
    fn rare_system_calls_are_said_per_so_many_iterations() {
        assert_eq!(syscalls_text(2.2), "2.2 system calls an iteration");
        assert_eq!(syscalls_text(0.004), "a system call every 250 iterations");
    }
}
