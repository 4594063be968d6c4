//! One lockstep pair: the base's and the head's process of one benchmark, both built
//! with the lockstep harness, measured sample by sample under one barrier.
//!
//! Both processes start at once, each with the driver's socket, the benchmark's id and
//! its side in the environment, and connect when they reach the benchmark (the
//! harness's `lockstep.rs` has the protocol). Then:
//! 1. **Warm-up**: each side warms up for `warm_up`, and says how long an iteration
//!    took and how many cores it kept busy meanwhile: one side at a time in a
//!    benchmark's first pair, both at once in its later ones.
//! 2. **One iteration count** for both sides, from the two warm-ups, for samples of
//!    about `slice`.
//! 3. **Its kind** ([`Kind`]), from the cores the first pair's warm-up kept busy, says
//!    how the samples are taken. A benchmark that kept one core busy has both
//!    processes, with whatever they started, pinned to one CPU, so both see that core's
//!    state, and samples in the settings' order. One that mostly waited (on a server, a
//!    timer) is pinned alike and samples both sides at once, sharing the CPU; one that
//!    kept several cores busy runs both sides at once on every CPU. Those two take
//!    samples for [`LONG`] per side: a few short samples of them tell little.
//! 4. **Samples** under the barrier: neither side starts sample N+1 before both have
//!    finished sample N. `Alternate` runs one side at a time (the order AB, BA, AB, …),
//!    `Together` both at once on one CPU, `Duet` both at once on two CPUs.
//!
//! Both processes are in process groups of their own and are killed, with whatever they
//! started, on every way out (an error, a hang past its limit, Ctrl-C).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::build::BenchBinary;
use super::harness::PROTOCOL;
use super::kind::{Kind, LONG, LONG_LEAST, Order, blocked, samples_for, warm_placement};
use super::process::{
    allowed_cpus, interrupted, interruption, kill_group, pin_group, pin_to, tail,
};
use crate::GateError;

/// How one pair is measured.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Warm-up per side.
    pub warm_up: Duration,
    /// The wall time one sample should take.
    pub slice: Duration,
    /// Samples per side.
    pub samples: usize,
    /// How the samples meet.
    pub order: Order,
    /// The CPUs to pin to: the first for `Alternate` and `Together`, both for `Duet`.
    pub cpus: Vec<usize>,
    /// The longest a process may take to reach its benchmark, or to answer a command.
    pub timeout: Duration,
}

/// One sample of one side.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Sample {
    /// The measurement's total for the sample (ns for wall time).
    pub value: f64,
    /// The sample's wall time, setup included, ns.
    pub wall_ns: u64,
    /// The process's CPU time meanwhile, ns.
    pub cpu_ns: u64,
}

/// What one pair measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PairRun {
    /// Iterations per sample, the same on both sides.
    pub iters: u64,
    /// The measurement's unit (`ns` for wall time).
    pub unit: String,
    /// Per side (base, head), the samples in order.
    pub samples: [Vec<Sample>; 2],
    /// The side that ran first in sample 0 (the order alternates from there).
    pub first: usize,
    /// Per side, the cores the benchmark kept busy while warming up.
    pub cores: [f64; 2],
    /// The benchmark's kind, from its first pair's warm-up.
    pub kind: Kind,
    /// How the samples met.
    pub order: Order,
    /// The CPUs the samples were pinned to (empty: every CPU).
    pub pinned: Vec<usize>,
    /// How long the pair took, processes included, seconds.
    pub seconds: f64,
    /// The pair's estimate of ln(head / base) ([`PairRun::estimate_of`]; `None` for a
    /// benchmark measured on one side only).
    pub estimate: Option<f64>,
}

impl PairRun {
    /// A pair's estimate of ln(head / base) from its samples: the Hodges–Lehmann
    /// estimate over the samples' log-ratios, the median of all pairwise means (`None`
    /// without a sample of positive values on both sides). One sample hit by an
    /// interrupt moves it little, where it would move the mean by its whole excess over
    /// the sample count.
    pub fn estimate_of(samples: &[Vec<Sample>; 2]) -> Option<f64> {
        let d: Vec<f64> = samples[0]
            .iter()
            .zip(&samples[1])
            .filter(|(b, h)| b.value > 0.0 && h.value > 0.0)
            .map(|(b, h)| (h.value / b.value).ln())
            .collect();
        hodges_lehmann(&d)
    }

    /// Side `s`'s per-iteration value over the pair (the geometric mean of its
    /// samples; `None` when that side did not run), for the report.
    pub fn value(&self, s: usize) -> Option<f64> {
        let n = self.iters as f64;
        let logs: Vec<f64> = self.samples[s]
            .iter()
            .filter(|x| x.value > 0.0)
            .map(|x| (x.value / n).ln())
            .collect();
        (!logs.is_empty()).then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp())
    }

    /// Per sample, the per-iteration values of both sides.
    pub fn per_iteration(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        let n = self.iters as f64;
        self.samples[0]
            .iter()
            .zip(&self.samples[1])
            .map(move |(b, h)| (b.value / n, h.value / n))
    }
}

/// The median of the pairwise means (Walsh averages) of `d`, each value with itself
/// included (`None` for no values).
pub fn hodges_lehmann(d: &[f64]) -> Option<f64> {
    let mut walsh = Vec::with_capacity(d.len() * (d.len() + 1) / 2);
    for (i, a) in d.iter().enumerate() {
        walsh.extend(d[i..].iter().map(|b| (a + b) / 2.0));
    }
    (!walsh.is_empty()).then(|| crate::model::median(&walsh))
}

/// A benchmark process of one side, killed with its process group when dropped.
struct Process {
    child: Child,
    side: &'static str,
    err: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            kill_group(self.child.id());
        }
        let _ = self.child.wait();
    }
}

impl Process {
    /// What the process left in its stderr, and how it ended if it did.
    fn last_words(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!(" ({s})"),
            _ => String::new(),
        };
        format!("{}{status}:\n{}", self.side, tail(&self.err, 15))
    }
}

/// A connected side and the unit it measures in.
struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    unit: String,
}

impl Conn {
    fn send(&mut self, line: &str) -> std::io::Result<()> {
        self.writer.write_all(format!("{line}\n").as_bytes())
    }

    fn read(&mut self) -> std::io::Result<Vec<String>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the process closed the connection",
            ));
        }
        Ok(line.split_whitespace().map(str::to_owned).collect())
    }
}

/// Everything one pair needs to know about where it runs.
pub struct Pair<'a> {
    /// The benchmark.
    pub id: &'a str,
    /// Its binary on each side (base, head); a benchmark on one side only runs alone.
    pub binaries: [Option<&'a BenchBinary>; 2],
    /// A directory for the socket and the processes' logs.
    pub dir: &'a Path,
    /// A name for this pair's files.
    pub stem: String,
    /// The side that runs first.
    pub first: usize,
    /// The benchmark's kind, when an earlier pair found it (`None`: from this pair's
    /// warm-up), so that every pair of a benchmark is measured alike.
    pub kind: Option<Kind>,
}

const SIDES: [&str; 2] = ["base", "head"];

/// A side's running process and its connection.
struct Live {
    conn: Conn,
    process: Process,
}

impl Live {
    fn send(&mut self, line: &str) -> Result<(), String> {
        let sent = self.conn.send(line);
        sent.map_err(|e| {
            format!(
                "{line:?} could not be sent ({e}) to the {}",
                self.process.last_words()
            )
        })
    }

    fn read(&mut self, line: &str) -> Result<Vec<String>, String> {
        let got = self.conn.read();
        got.map_err(|e| {
            format!(
                "{line:?} got no answer ({e}) from the {}",
                self.process.last_words()
            )
        })
    }

    fn ask(&mut self, line: &str) -> Result<Vec<String>, String> {
        self.send(line)?;
        self.read(line)
    }
}

/// Both sides of a pair while it runs: the processes that reached the benchmark.
struct Running<'a> {
    pair: &'a Pair<'a>,
    live: [Option<Live>; 2],
    /// The sides that run (both, or the one that has the benchmark).
    present: Vec<usize>,
}

impl<'a> Running<'a> {
    /// Starts the pair's processes (the side that runs first, first) and waits until
    /// each has reached the benchmark and said hello.
    fn start(
        pair: &'a Pair<'a>,
        settings: &Settings,
        under: Option<Under<'_>>,
    ) -> Result<Running<'a>, GateError> {
        // One pair runs at a time; a short name keeps the path within a socket's limit.
        let socket = pair.dir.join("pair.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).map_err(|e| GateError::io(&socket, e))?;
        // The side that runs first is also started first: which process starts first,
        // and on which CPU its memory is first touched, is the pair's like the order of
        // its samples. Always starting the base first made one side of identical
        // binaries 1 to 3 % faster in every pair (measured: +2.7 % for a Redis
        // benchmark, −1.3 % for a 10 000-node pass, in an A/A run).
        let mut procs = [None, None];
        for s in [pair.first, 1 - pair.first] {
            if let Some(bin) = pair.binaries[s] {
                procs[s] = Some(spawn(pair, bin, s, &socket, under)?);
            }
        }
        let conns = connect(&listener, &mut procs, settings.timeout);
        let _ = std::fs::remove_file(&socket);
        let mut conns = conns.map_err(|e| pair.fail(e))?;
        let live: [Option<Live>; 2] = [0, 1].map(|s| {
            Some(Live {
                conn: conns[s].take()?,
                process: procs[s].take()?,
            })
        });
        let present = (0..2).filter(|&s| live[s].is_some()).collect();
        Ok(Running {
            pair,
            live,
            present,
        })
    }

    fn side(&mut self, s: usize) -> &mut Live {
        self.live[s].as_mut().expect("a present side")
    }

    /// The sides that run, in the order of sample `n` (AB, BA, AB, …).
    fn order(&self, n: usize) -> Vec<usize> {
        let first = self.pair.first;
        let order = if n.is_multiple_of(2) {
            [first, 1 - first]
        } else {
            [1 - first, first]
        };
        order
            .into_iter()
            .filter(|s| self.present.contains(s))
            .collect()
    }

    /// Warms the sides up: the time one iteration took in the last call (the sides'
    /// geometric mean), the cores each kept busy, and whether either side's threads
    /// blocked at least once an iteration (or could not be read). In a benchmark's
    /// first pair one side at a time, so that the cores say its kind; in its later
    /// pairs both at once, placed as that kind's samples are ([`warm_placement`]),
    /// which made a fast benchmark's pair take 58 ms instead of 88 ms, and a routine
    /// of 0.5 s's 0.5 s less.
    fn warm(&mut self, settings: &Settings) -> Result<(f64, [f64; 2], bool), GateError> {
        let line = format!("warm {} {WARM_LEAST}", settings.warm_up.as_nanos());
        let sides = self.order(0);
        let batches: Vec<Vec<usize>> = match self.pair.kind {
            None => sides.iter().map(|&s| vec![s]).collect(),
            Some(kind) => {
                let cpus = warm_placement(kind, &settings.cpus, sides.len());
                for (&s, cpu) in sides.iter().zip(cpus) {
                    pin_group(self.side(s).process.child.id(), cpu)?;
                }
                vec![sides]
            }
        };
        let (mut logs, mut cores, mut waited) = (Vec::new(), [0.0; 2], false);
        for batch in batches {
            let pids = batch.iter().map(|&s| self.side(s).process.child.id());
            let before: Vec<Option<u64>> = pids.map(blocked).collect();
            for &s in &batch {
                self.side(s).send(&line).map_err(|e| self.pair.fail(e))?;
            }
            for (&s, before) in batch.iter().zip(before) {
                let words = self.side(s).read(&line).map_err(|e| self.pair.fail(e))?;
                let [iters, wall, cpu, spent] = numbers(&words, "warmed")
                    .map_err(|e| self.pair.fail(format!("{} side: {e}", SIDES[s])))?;
                logs.push((wall / iters.max(1.0)).ln());
                cores[s] = if spent > 0.0 { cpu / spent } else { 0.0 };
                // Unreadable counts leave the cores alone to decide.
                waited |= match (before, blocked(self.side(s).process.child.id())) {
                    (Some(b), Some(a)) => a.saturating_sub(b) >= u64::from(WARM_LEAST),
                    _ => true,
                };
            }
        }
        let met = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
        Ok((met, cores, waited))
    }

    /// Sample `n` of every side, under the barrier: one side at a time, or all at once.
    fn sample(
        &mut self,
        n: usize,
        command: &str,
        order: Order,
    ) -> Result<Vec<(usize, Sample)>, GateError> {
        let pair = self.pair;
        let at = |e: String| pair.fail(format!("sample {}: {e}", n + 1));
        let sides = self.order(n);
        let mut answers = Vec::new();
        match order {
            Order::Alternate => {
                for &s in &sides {
                    answers.push(self.side(s).ask(command).map_err(at)?);
                }
            }
            Order::Together | Order::Duet => {
                for &s in &sides {
                    self.side(s).send(command).map_err(at)?;
                }
                for &s in &sides {
                    answers.push(self.side(s).read(command).map_err(at)?);
                }
            }
        }
        let mut out = Vec::new();
        for (s, words) in sides.into_iter().zip(answers) {
            let at = |e: String| at(format!("{} side: {e}", SIDES[s]));
            let [value, wall, cpu] = numbers(&words, "sample").map_err(at)?;
            if !(value.is_finite() && value > 0.0) {
                return Err(at(format!(
                    "a value of {value}: a sample must take some time"
                )));
            }
            let (wall_ns, cpu_ns) = (wall as u64, cpu as u64);
            out.push((
                s,
                Sample {
                    value,
                    wall_ns,
                    cpu_ns,
                },
            ));
        }
        Ok(out)
    }
}

impl Pair<'_> {
    fn fail(&self, what: String) -> GateError {
        GateError::Ab(format!("benchmark {}: {what}", self.id))
    }
}

/// Runs one pair; an error names the benchmark, the side and what happened.
pub fn run(pair: &Pair<'_>, settings: &Settings) -> Result<PairRun, GateError> {
    let began = Instant::now();
    let mut running = Running::start(pair, settings, None)?;
    let (met, cores, waited) = running.warm(settings)?;
    let iters = ((settings.slice.as_nanos() as f64 / met).round() as u64).max(1);
    let kind = pair.kind.unwrap_or_else(|| Kind::of(&cores, waited));
    let order = kind.order(settings.order);
    let pinned = pin(&running.live, kind, order, &settings.cpus)?;
    let samples_per_side = match kind {
        Kind::Busy => settings.samples,
        _ => samples_for(LONG, met * iters as f64, LONG_LEAST),
    };
    let limit = settings.timeout + Duration::from_secs_f64(met * iters as f64 * 1e-9 * 50.0);
    for l in running.live.iter().flatten() {
        let _ = l.conn.reader.get_ref().set_read_timeout(Some(limit));
    }
    // Each sample first runs half a slice's iterations untimed: the other side's sample
    // has just displaced this one's state from the core (measured: a 1000-node plan's
    // first sample after a switch 10 % slower, 7 % after a tenth of a slice untimed,
    // 1-2 % after half a slice). A routine slower than that gets no extra iteration.
    let prewarm = (settings.slice.as_nanos() as f64 / 2.0 / met).round() as u64;
    let command = format!("sample {iters} {prewarm}");
    let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
    for n in 0..samples_per_side {
        if interrupted() {
            return Err(interruption());
        }
        for (s, sample) in running.sample(n, &command, order)? {
            samples[s].push(sample);
        }
    }
    let unit = running.side(running.present[0]).conn.unit.clone();
    // The processes are killed with their process groups (whatever they started
    // included) rather than told to finish: the rest of their `main` would only set up
    // the benchmarks after this one, seconds of work for nothing (a Redis server, say).
    drop(running);
    Ok(PairRun {
        iters,
        unit,
        estimate: PairRun::estimate_of(&samples),
        samples,
        first: pair.first,
        cores,
        kind,
        order,
        pinned,
        seconds: began.elapsed().as_secs_f64(),
    })
}

/// A program the benchmark processes run under (a profiler): per side, the program
/// and its arguments, put before the binary's path.
pub type Under<'a> = &'a dyn Fn(usize) -> Vec<OsString>;

/// Sends `command` to every side of a pair whose processes run under `under`, and
/// waits for each side's answer and for its process to exit (`limit` for each): the
/// answers, per side. Whatever a process started is killed once it has exited.
pub fn once_under(
    pair: &Pair<'_>,
    settings: &Settings,
    under: Under<'_>,
    command: &str,
    limit: Duration,
) -> Result<[Option<Vec<String>>; 2], GateError> {
    let mut running = Running::start(pair, settings, Some(under))?;
    let present = running.present.clone();
    for &s in &present {
        let l = running.side(s);
        let _ = l.conn.reader.get_ref().set_read_timeout(Some(limit));
        l.send(command).map_err(|e| pair.fail(e))?;
    }
    let mut answers = [None, None];
    for &s in &present {
        answers[s] = Some(running.side(s).read(command).map_err(|e| pair.fail(e))?);
    }
    for &s in &present {
        let process = &mut running.side(s).process;
        let began = Instant::now();
        while matches!(process.child.try_wait(), Ok(None)) {
            if began.elapsed() > limit || interrupted() {
                return Err(pair.fail(format!(
                    "the {} process did not exit within {:.0} s of answering",
                    SIDES[s],
                    limit.as_secs_f64()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        kill_group(process.child.id());
    }
    Ok(answers)
}

/// Starts side `s`'s process of the pair (under `under`, when given).
fn spawn(
    pair: &Pair<'_>,
    bin: &BenchBinary,
    s: usize,
    socket: &Path,
    under: Option<Under<'_>>,
) -> Result<Process, GateError> {
    let out = pair.dir.join(format!("{}-{}.out", pair.stem, SIDES[s]));
    let err = pair.dir.join(format!("{}-{}.err", pair.stem, SIDES[s]));
    let file = |p: &Path| std::fs::File::create(p).map_err(|e| GateError::io(p, e));
    let mut cmd = match under {
        Some(under) => {
            let mut words = under(s).into_iter();
            let mut cmd = Command::new(words.next().unwrap_or_default());
            cmd.args(words).arg(&bin.path);
            cmd
        }
        None => Command::new(&bin.path),
    };
    // Every CPU this driver may use, not the driver's own mask (it keeps off the
    // measuring CPU): a benchmark sizes its thread pools from what it is given.
    pin_to(&mut cmd, &settings_cpus());
    let child = cmd
        .current_dir(&bin.dir)
        .env("BENCH_GATE_LOCKSTEP", socket)
        .env("BENCH_GATE_LOCKSTEP_ID", pair.id)
        .env("BENCH_GATE_LOCKSTEP_SIDE", SIDES[s])
        .arg("--bench")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(file(&out)?)
        .stderr(file(&err)?)
        .spawn()
        .map_err(|e| {
            let program = cmd.get_program().to_string_lossy().into_owned();
            GateError::Ab(format!(
                "cannot start {program} for {}: {e}",
                bin.path.display()
            ))
        })?;
    Ok(Process {
        child,
        side: SIDES[s],
        err,
    })
}

/// The CPUs this process may use, read before the driver keeps itself off the
/// measuring CPU ([`remember_cpus`]).
static ALL_CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

/// Remembers the CPUs this process may use now, for the benchmark processes.
pub fn remember_cpus() {
    ALL_CPUS.get_or_init(allowed_cpus);
}

/// The CPUs a benchmark process starts with: every one the driver was given.
fn settings_cpus() -> Vec<usize> {
    ALL_CPUS.get_or_init(allowed_cpus).clone()
}

/// Accepts both sides' connections and checks their `hello`; a process that ends
/// before it connects, or takes longer than `limit`, is an error naming it.
fn connect(
    listener: &UnixListener,
    procs: &mut [Option<Process>; 2],
    limit: Duration,
) -> Result<[Option<Conn>; 2], String> {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("the socket: {e}"))?;
    let start = Instant::now();
    let mut conns: [Option<Conn>; 2] = [None, None];
    let spawned = [procs[0].is_some(), procs[1].is_some()];
    let awaited = |conns: &[Option<Conn>; 2], s: usize| conns[s].is_none() && spawned[s];
    while (0..2).any(|s| awaited(&conns, s)) {
        if interrupted() {
            return Err(interruption().to_string());
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let conn = hello(stream, limit)?;
                let s = conn.0;
                conns[s] = Some(conn.1);
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("accepting a connection: {e}")),
        }
        for s in 0..2 {
            let waiting = awaited(&conns, s);
            let Some(p) = procs[s].as_mut() else { continue };
            if waiting && !matches!(p.child.try_wait(), Ok(None)) {
                return Err(format!(
                    "the {} process ended before it reached the benchmark: {}",
                    SIDES[s],
                    p.last_words()
                ));
            }
        }
        if start.elapsed() > limit {
            return Err(format!(
                "no process reached the benchmark within {:.0} s",
                limit.as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(conns)
}

/// Reads a new connection's `hello PROTOCOL SIDE UNIT ID`: its side and the connection.
fn hello(stream: UnixStream, limit: Duration) -> Result<(usize, Conn), String> {
    stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(limit)))
        .map_err(|e| format!("the socket: {e}"))?;
    let writer = stream.try_clone().map_err(|e| format!("the socket: {e}"))?;
    let mut conn = Conn {
        reader: BufReader::new(stream),
        writer,
        unit: String::new(),
    };
    let words = conn.read().map_err(|e| format!("no hello: {e}"))?;
    match words.as_slice() {
        [w, protocol, side, unit, ..] if w == "hello" => {
            if protocol != &PROTOCOL.to_string() {
                return Err(format!(
                    "the {side} side's harness speaks lockstep protocol {protocol}, this \
                     bench-gate {PROTOCOL}: rebuild it with this bench-gate"
                ));
            }
            let s = SIDES
                .iter()
                .position(|x| x == side)
                .ok_or_else(|| format!("a hello from an unknown side {side:?}"))?;
            conn.unit = unit.clone();
            Ok((s, conn))
        }
        _ => Err(format!("not a hello: {:?}", words.join(" "))),
    }
}

/// The `N` numbers of an answer `WORD A B …`.
fn numbers<const N: usize>(words: &[String], word: &str) -> Result<[f64; N], String> {
    let wrong = || {
        format!(
            "expected {word:?} and {N} numbers, got {:?}",
            words.join(" ")
        )
    };
    if words.len() != N + 1 || words[0] != *word {
        return Err(wrong());
    }
    let mut out = [0.0; N];
    for (slot, x) in out.iter_mut().zip(&words[1..]) {
        *slot = x.parse().map_err(|_| format!("{x:?} is not a number"))?;
    }
    Ok(out)
}

/// The least iterations a warm-up runs (unless it has taken 0.2 s): a routine of a few
/// milliseconds is slow for its first ones.
const WARM_LEAST: u32 = 4;

/// Pins the processes for the samples as `kind` and `order` say; returns the CPUs used
/// (empty: unpinned). Each process goes with its whole process group (whatever it
/// started, a server say, included) to the first CPU (`Duet`: one each to the first
/// two); a benchmark that runs threads stays on every CPU.
fn pin(
    live: &[Option<Live>; 2],
    kind: Kind,
    order: Order,
    cpus: &[usize],
) -> Result<Vec<usize>, GateError> {
    let used: Vec<usize> = match (kind, order) {
        (Kind::Threads, _) => return Ok(Vec::new()),
        (_, Order::Duet) => cpus.iter().take(2).copied().collect(),
        _ => cpus.iter().take(1).copied().collect(),
    };
    for (s, l) in live.iter().enumerate() {
        if let Some(l) = l {
            pin_group(l.process.child.id(), used[s.min(used.len() - 1)])?;
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hodges_lehmann_is_the_median_of_pairwise_means() {
        assert_eq!(hodges_lehmann(&[]), None);
        assert_eq!(hodges_lehmann(&[2.0]), Some(2.0));
        // Walsh averages of 1, 2, 9: 1, 1.5, 5, 2, 5.5, 9; median 3.5 (the mean is 4).
        assert_eq!(hodges_lehmann(&[1.0, 2.0, 9.0]), Some(3.5));
        // One sample far out moves it little.
        let quiet = [0.010, 0.011, 0.009, 0.010, 0.012, 0.008];
        let mut hit = quiet;
        hit[3] = 0.5;
        let moved = hodges_lehmann(&hit).unwrap() - hodges_lehmann(&quiet).unwrap();
        assert!(moved.abs() < 0.002, "{moved}");
    }

    #[test]
    fn a_hello_in_another_protocol_is_refused_naming_both() {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let other = PROTOCOL + 1;
        ours.write_all(format!("hello {other} head ns work/spin\n").as_bytes())
            .unwrap();
        let why = hello(theirs, Duration::from_secs(5)).err().unwrap();
        assert!(
            why.contains(&format!(
                "the head side's harness speaks lockstep protocol {other}"
            )) && why.contains(&format!("this bench-gate {PROTOCOL}")),
            "{why}"
        );
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        ours.write_all(format!("hello {PROTOCOL} base ns work/spin\n").as_bytes())
            .unwrap();
        let (side, conn) = hello(theirs, Duration::from_secs(5)).unwrap();
        assert_eq!((side, conn.unit.as_str()), (0, "ns"));
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        ours.write_all(b"good morning\n").unwrap();
        assert!(
            hello(theirs, Duration::from_secs(5))
                .err()
                .unwrap()
                .contains("not a hello")
        );
    }
}
