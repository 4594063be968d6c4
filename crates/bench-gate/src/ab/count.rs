//! Instruction counts of `bench-gate ab`: every lockstep benchmark of both sides run
//! under Callgrind, counting only its routine's measured part, per iteration.
//!
//! Each side's process of a benchmark starts under `valgrind
//! --tool=callgrind` with nothing instrumented or counted; the driver's `count ITERS
//! WARM` (the harness's `count.rs`) has each turn instrumentation on, run WARM
//! iterations uncounted, then ITERS with collection on only between the bencher's
//! start and end of measurement, and exit, when Callgrind writes its totals. Both
//! sides run the same ITERS, about a millisecond's worth of the routine.
//!
//! Each counted run is one fresh process, and two run at once (one per CPU), from a
//! queue where a benchmark's follow-up runs go first. With two builds, a benchmark's
//! first runs count instructions alone (`--cache-sim=no`: about half the time). Sides
//! that agree within [`REPEATABLE`] are deterministic, unchanged work. Sides that
//! differ get a second run of the base first: where it differs from the first, the
//! work is not deterministic (a server's replies, timers, other threads' hand-offs)
//! and the benchmark is `not countable`, with its lowest and highest count in the
//! reason, after three quick processes. Else the head runs again (not countable where
//! its runs differ), and a third run of each confirms a change. A benchmark found
//! deterministic then runs once per side with the cache simulated: those runs'
//! figures are its counts, and their instructions must agree with the quick runs'
//! too. When one build serves both sides (an A/A run, `bench-gate count`), its first
//! two processes, cache simulated, are its two runs. Found by measuring, not from a
//! list. The others' counts are judged by the policy's
//! instruction levels, like gungraun's, both sides being counted here with one
//! valgrind and one rustc; system calls in the counted part are flagged (the kernel's
//! work is not counted).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use super::callgrind::{Counts, valgrind};
use super::callgrind::{Next, REPEATABLE, SWITCHES, callgrind, next, one_build, parse};
use super::kind::Order;
use super::lockstep::{self, Pair, Settings};
use super::schedule::Bench;
use super::{AbEvent, Progress};
use crate::GateError;
use crate::counts::{PREFIX, figures};
use crate::decide::decide;
use crate::model::{Entry, Results};
use crate::thresholds::Policy;
use crate::verdict::{Comparison, Decision, Verdict};

/// The wall time of the counted iterations, natively: Callgrind runs them 50-100
/// times slower.
const COUNTED: Duration = Duration::from_millis(1);

/// The least iterations counted: work that takes one of two paths per iteration (a
/// thread hand-off that does or does not wait) then differs between two runs, where
/// one iteration each could take the same path in both by chance (measured: a
/// 100 000-event channel read 2 348 or 2 454 instructions per event, either in both
/// runs of a side now and then).
const LEAST_COUNTED: u64 = 5;

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
    /// Each benchmark's processes' seconds together, in the suite's order (two
    /// processes run at once, so these add up to about twice [`Counted::seconds`]).
    pub cost: Vec<(String, f64)>,
    /// How long counting took, seconds.
    #[serde(default)]
    pub seconds: f64,
}

impl Counted {
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
            "seconds": self.seconds, "process_seconds_per_benchmark": cost})
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
    let start = Instant::now();
    let iters: Vec<u64> = benches
        .iter()
        .map(|b| iters.get(&b.id).copied().unwrap_or(0).max(LEAST_COUNTED))
        .collect();
    let mut queue = Queue {
        benches,
        iters: &iters,
        tallies: benches.iter().map(|_| Tally::default()).collect(),
        follow_ups: VecDeque::new(),
        started: 0,
        finished: 0,
    };
    std::thread::scope(|scope| {
        let (done, results) = mpsc::channel();
        let slots: Vec<mpsc::Sender<Job>> = (0..SLOTS)
            .map(|w| {
                let (send, jobs) = mpsc::channel::<Job>();
                let done = done.clone();
                let (dir, iters) = (dir.join(format!("slot{w}")), &iters);
                scope.spawn(move || {
                    for job in jobs {
                        let began = Instant::now();
                        let b = job.bench;
                        let counts = count_run(&benches[b], b, job, iters[b], settings, &dir);
                        let secs = began.elapsed().as_secs_f64();
                        if done.send((w, job, counts, secs)).is_err() {
                            return;
                        }
                    }
                });
                send
            })
            .collect();
        drop(done);
        queue.run(&slots, &results, events)
    })?;
    let mut counted = queue.into_counted();
    counted.seconds = start.elapsed().as_secs_f64();
    Ok(counted)
}

/// How many counted processes run at once: one per CPU of these machines.
const SLOTS: usize = 2;

/// A counted run: benchmark `bench` (its index), side `side`, that side's `run`th,
/// with the cache simulated (`cache`) or not.
#[derive(Clone, Copy, Debug)]
struct Job {
    bench: usize,
    side: usize,
    run: usize,
    cache: bool,
}

/// One benchmark's counting so far.
#[derive(Default)]
struct Tally {
    /// Each side's counts, run by run.
    runs: [Vec<Counts>; 2],
    /// Each side's run with the cache simulated, with two builds.
    cached: [Option<Counts>; 2],
    /// Runs started and not yet back.
    pending: usize,
    /// Its processes' seconds together.
    seconds: f64,
    /// Its counts, or why it is not countable, once known.
    outcome: Option<Result<[Counts; 2], String>>,
}

/// The benchmarks' runs still to make, and what came back.
struct Queue<'a> {
    benches: &'a [Bench],
    /// Each benchmark's iterations counted per run.
    iters: &'a [u64],
    tallies: Vec<Tally>,
    /// Runs a started benchmark needs next: these go before any new benchmark.
    follow_ups: VecDeque<Job>,
    /// Benchmarks started, in the suite's order.
    started: usize,
    /// Benchmarks whose outcome is known.
    finished: usize,
}

impl Queue<'_> {
    /// Hands runs to idle `slots` and takes their results until every benchmark is
    /// counted or found not countable; an interruption stops handing out runs, waits
    /// for those running, and is the error.
    fn run(
        &mut self,
        slots: &[mpsc::Sender<Job>],
        results: &mpsc::Receiver<(usize, Job, Result<Counts, GateError>, f64)>,
        events: &mut dyn FnMut(AbEvent<'_>),
    ) -> Result<(), GateError> {
        let mut idle: Vec<usize> = (0..slots.len()).rev().collect();
        let mut fatal = None;
        loop {
            while fatal.is_none() {
                let Some(&w) = idle.last() else { break };
                let Some(job) = self.next_job(events) else {
                    break;
                };
                if slots[w].send(job).is_err() {
                    break;
                }
                idle.pop();
            }
            if idle.len() == slots.len() {
                return fatal.map_or(Ok(()), Err);
            }
            let Ok((w, job, counts, secs)) = results.recv() else {
                return fatal.map_or(Ok(()), Err);
            };
            idle.push(w);
            match counts {
                Err(e) if super::process::interrupted() => fatal = Some(e),
                counts => self.take(job, counts, secs),
            }
        }
    }

    /// The next run to make: a started benchmark's follow-up, else the next
    /// benchmark's first runs (telling `events`), else none.
    fn next_job(&mut self, events: &mut dyn FnMut(AbEvent<'_>)) -> Option<Job> {
        if self.follow_ups.is_empty() && self.started < self.benches.len() {
            let b = self.started;
            self.started += 1;
            events(AbEvent::Run(&Progress {
                done: self.finished,
                total: self.benches.len(),
                unit: "counts",
                budget: None,
                current: self.benches[b].id.clone(),
            }));
            self.plan(b);
        }
        self.follow_ups.pop_front()
    }

    /// Queues the runs benchmark `b` needs next, or records its outcome.
    fn plan(&mut self, b: usize) {
        let one_build = one_build(&self.benches[b]);
        let slack = SWITCHES / self.iters[b] as f64;
        let tally = &mut self.tallies[b];
        match next(&tally.runs, &tally.cached, one_build, slack) {
            Next::Run(sides, cache) => {
                for side in sides.into_iter().rev() {
                    let run = tally.runs[side].len();
                    let job = Job {
                        bench: b,
                        side,
                        run,
                        cache,
                    };
                    self.follow_ups.push_front(job);
                    tally.pending += 1;
                }
            }
            Next::Done(outcome) => {
                tally.outcome = Some(outcome);
                self.finished += 1;
            }
        }
    }

    /// Takes a run's result: its counts join its benchmark's, and once none of that
    /// benchmark's runs is out, the next step is planned. A run that failed makes its
    /// benchmark not countable, naming the failure.
    fn take(&mut self, job: Job, counts: Result<Counts, GateError>, secs: f64) {
        let tally = &mut self.tallies[job.bench];
        tally.seconds += secs;
        tally.pending -= 1;
        if tally.outcome.is_some() {
            return;
        }
        match counts {
            Ok(c) if job.cache && !one_build(&self.benches[job.bench]) => {
                tally.cached[job.side] = Some(c)
            }
            Ok(c) => tally.runs[job.side].push(c),
            Err(e) => {
                tally.outcome = Some(Err(first_line(&e)));
                self.finished += 1;
                return;
            }
        }
        if tally.pending == 0 {
            self.plan(job.bench);
        }
    }

    /// What counting found, in the suite's order.
    fn into_counted(self) -> Counted {
        let mut counted = Counted::default();
        for (bench, tally) in self.benches.iter().zip(self.tallies) {
            counted.cost.push((bench.id.clone(), tally.seconds));
            match tally.outcome {
                Some(Ok(c)) => {
                    let calls = c[0].syscalls.max(c[1].syscalls);
                    if calls > 0.0 {
                        counted.syscalls.push((bench.id.clone(), calls));
                    }
                    for (s, side) in counted.sides.iter_mut().enumerate() {
                        let entry = c[s].entry(&bench.id);
                        side.insert(entry.id.clone(), entry);
                    }
                }
                Some(Err(why)) => counted.not_countable.push((bench.id.clone(), why)),
                // Only a worker that stopped early leaves a benchmark unjudged; it is
                // named, never dropped from the report.
                None => counted.not_countable.push((
                    bench.id.clone(),
                    "not countable: its counting stopped before its runs came back".into(),
                )),
            }
        }
        counted
    }
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

/// Counted run `job` of benchmark `bench` (the `i`th): one process, in `dir`.
fn count_run(
    bench: &Bench,
    i: usize,
    job: Job,
    iters: u64,
    settings: &Settings,
    dir: &Path,
) -> Result<Counts, GateError> {
    std::fs::create_dir_all(dir).map_err(|e| GateError::io(dir, e))?;
    let s = job.side;
    // Files named by number: Callgrind reads `%` in a name as a format.
    let run = match job.cache {
        true => format!("{}c", job.run),
        false => job.run.to_string(),
    };
    let out = dir.join(format!("{i}-{}-{run}.cg", ["base", "head"][s]));
    let under = |_: usize| callgrind(&out, job.cache);
    let mut binaries = [None, None];
    binaries[s] = Some(&bench.binaries[s]);
    let pair = Pair {
        id: &bench.id,
        binaries,
        dir,
        stem: format!(
            "{}-count{run}-{}",
            super::rounds::file_stem(&bench.id),
            ["base", "head"][s]
        ),
        first: s,
        kind: None,
    };
    // Uncounted first, a fifth as many: the caches and lazy set-ups warm.
    let command = format!("count {iters} {}", (iters / 5).max(1));
    let answers = lockstep::once_under(&pair, settings, &under, &command, settings.timeout)?;
    let said = answers[s].as_deref().unwrap_or_default();
    if said.first().map(String::as_str) != Some("counted") {
        return Err(pair_error(
            bench,
            s,
            &format!("answered {:?}", said.join(" ")),
        ));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| GateError::io(&out, e))?;
    let counts = parse(&text, iters).map_err(|e| pair_error(bench, s, &e))?;
    let _ = std::fs::remove_file(&out);
    Ok(counts)
}

fn pair_error(bench: &Bench, s: usize, what: &str) -> GateError {
    let side = ["base", "head"][s];
    GateError::Ab(format!(
        "benchmark {}: the {side} side's count: {what}",
        bench.id
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ab::build::BenchBinary;

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
    fn a_benchmark_whose_counting_never_finished_is_named_not_dropped() {
        let bin = BenchBinary {
            name: "b".into(),
            path: "/nonexistent".into(),
            dir: "/".into(),
        };
        let benches = ["g/done", "g/cut_short"].map(|id| Bench {
            id: id.into(),
            binaries: [bin.clone(), bin.clone()],
        });
        let mut tallies: Vec<Tally> = benches.iter().map(|_| Tally::default()).collect();
        tallies[0].outcome = Some(Err("not countable: its runs differ".into()));
        let queue = Queue {
            benches: &benches,
            iters: &[1, 1],
            tallies,
            follow_ups: VecDeque::new(),
            started: 2,
            finished: 1,
        };
        let counted = queue.into_counted();
        let ids: Vec<&str> = counted
            .not_countable
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(ids, ["g/done", "g/cut_short"]);
        assert!(
            counted.not_countable[1]
                .1
                .contains("stopped before its runs came back"),
            "{:?}",
            counted.not_countable
        );
    }

    #[test]
    fn rare_system_calls_are_said_per_so_many_iterations() {
        assert_eq!(syscalls_text(2.2), "2.2 system calls an iteration");
        assert_eq!(syscalls_text(0.004), "a system call every 250 iterations");
    }
}
