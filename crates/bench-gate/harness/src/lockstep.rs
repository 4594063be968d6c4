//! The benchmark process's side of bench-gate's lockstep protocol.
//!
//! `bench-gate ab` starts the base's and the head's process of one benchmark with
//! `BENCH_GATE_LOCKSTEP` (a Unix socket the driver listens on),
//! `BENCH_GATE_LOCKSTEP_ID` (the benchmark's id) and `BENCH_GATE_LOCKSTEP_SIDE` (a
//! label). When the process reaches that benchmark it connects and says
//! `hello PROTOCOL SIDE UNIT ID`, then does what the driver asks, one line at a time,
//! answering each:
//!
//! | driver | process | |
//! | --- | --- | --- |
//! | `warm NANOS LEAST` | `warmed ITERS WALL_NS CPU_NS SPENT_NS` | doubling iteration counts until NANOS of wall time have passed and LEAST iterations have run (or 0.2 s); ITERS and WALL_NS are the last call's, CPU_NS and SPENT_NS the whole warm-up's |
//! | `sample ITERS WARM` | `sample VALUE WALL_NS CPU_NS` | one sample: the closure called with WARM iterations (untimed, to bring the caches back after the other side ran), then with ITERS |
//! | `count ITERS WARM` | `counted ITERS`, then the process exits | under Callgrind: instrumentation on, WARM iterations uncounted, then ITERS with only their measured part counted ([`crate::count`]); Callgrind writes the counts as the process exits |
//!
//! VALUE is the measurement's total for the sample (nanoseconds for wall time), WALL_NS
//! the call's wall time (setup included), CPU_NS the process's CPU time meanwhile (all
//! its threads: more than WALL_NS means the benchmark uses several cores). The process
//! never decides when to run: the driver sends the next `sample` to each side only when
//! both have answered the last one, which is the barrier. When it has the samples it
//! needs, the driver kills the process (the rest of its `main` would only set up other
//! benchmarks). A process whose binary does not reach the benchmark exits without
//! connecting. A lost connection ends the process (exit 3): its driver is gone.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::bencher::Run;

/// The protocol's version, in `hello` and `--help`; the driver refuses another.
pub(crate) const PROTOCOL: u32 = 2;

/// The benchmark the driver asked this process for.
pub(crate) struct Target {
    pub(crate) id: String,
    socket: PathBuf,
    side: String,
}

/// The driver's request, from the environment (`None`: not run by the driver).
pub(crate) fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let socket = std::env::var_os("BENCH_GATE_LOCKSTEP")?;
            Some(Target {
                id: std::env::var("BENCH_GATE_LOCKSTEP_ID").unwrap_or_default(),
                socket: PathBuf::from(socket),
                side: std::env::var("BENCH_GATE_LOCKSTEP_SIDE").unwrap_or_else(|_| "-".into()),
            })
        })
        .as_ref()
}

fn lost(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{} (lockstep): {what}: {e}", crate::HARNESS_MARK);
    std::process::exit(3);
}

/// Serves the benchmark to the driver until the driver ends the process.
pub(crate) fn serve(target: &Target, unit: &str, routine: &mut dyn FnMut(u64) -> Run) {
    let stream = UnixStream::connect(&target.socket)
        .unwrap_or_else(|e| lost(&format!("cannot connect to {}", target.socket.display()), e));
    let mut reader = BufReader::new(stream.try_clone().unwrap_or_else(|e| lost("socket", e)));
    let mut writer = stream;
    let mut say = |line: String| {
        writer
            .write_all(line.as_bytes())
            .unwrap_or_else(|e| lost("writing to the driver", e));
    };
    say(format!(
        "hello {PROTOCOL} {} {} {}\n",
        target.side,
        unit.replace(char::is_whitespace, "_"),
        target.id
    ));
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => lost("reading from the driver", "the connection was closed"),
            Ok(_) => {}
            Err(e) => lost("reading from the driver", e),
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let number = |i: usize| -> u64 {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| lost("a command without its number", line.trim()))
        };
        match words.first().copied() {
            Some("warm") => {
                let cpu = cpu_ns();
                let how_long = Duration::from_nanos(number(1));
                let (iters, wall, spent) = crate::standalone::warm_up(how_long, number(2), routine);
                say(format!(
                    "warmed {iters} {} {} {}\n",
                    wall.as_nanos(),
                    cpu_ns().saturating_sub(cpu),
                    spent.as_nanos()
                ));
            }
            Some("sample") => {
                let (iters, warm) = (number(1).max(1), number(2));
                if warm > 0 {
                    routine(warm);
                }
                let cpu = cpu_ns();
                let run = routine(iters);
                say(format!(
                    "sample {:?} {} {}\n",
                    run.value,
                    run.wall.as_nanos(),
                    cpu_ns().saturating_sub(cpu)
                ));
            }
            Some("count") => {
                let (iters, warm) = (number(1).max(1), number(2));
                crate::count::start();
                if warm > 0 {
                    routine(warm);
                }
                crate::count::counting(true);
                routine(iters);
                crate::count::counting(false);
                say(format!("counted {iters}\n"));
                std::process::exit(0);
            }
            _ => lost("an unknown command", line.trim()),
        }
    }
}

/// The CPU time of the whole process so far, in nanoseconds (0 where it cannot be read).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn cpu_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec of the C layout (two 64-bit fields on
    // 64-bit Linux); the call writes only into it.
    if unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    (ts.sec as u64) * 1_000_000_000 + ts.nsec as u64
}

/// The CPU time of the whole process so far: not read on this platform.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn cpu_ns() -> u64 {
    0
}
