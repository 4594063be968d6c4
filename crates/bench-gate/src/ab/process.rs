//! Child processes of `bench-gate ab` (cargo, the bench binaries), each in its own
//! process group with its output in files, waited for with a time limit and an
//! interruption flag: a hang, or Ctrl-C, kills the whole group (a bench's own children,
//! such as a redis-server, included), so nothing is left running. Several children can
//! run at once pinned to one CPU (`sched_setaffinity`): `ab`'s shared-CPU pairs.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::GateError;

/// How a bounded run ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited (successfully or not).
    Exited(ExitStatus),
    /// It ran past its time limit and was killed.
    TimedOut,
}

/// The interruption flag: set by SIGINT and SIGTERM once [`catch_interrupts`] ran.
fn interrupted_flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Routes SIGINT and SIGTERM to a flag instead of ending the process, so `ab` can stop
/// its children and remove its worktrees before it exits.
pub fn catch_interrupts() -> Result<(), GateError> {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(interrupted_flag()))
            .map_err(|e| GateError::Ab(format!("cannot install the Ctrl-C handler: {e}")))?;
    }
    Ok(())
}

/// Whether Ctrl-C (or SIGTERM) arrived.
pub fn interrupted() -> bool {
    interrupted_flag().load(Ordering::Relaxed)
}

/// The error for an interrupted run.
pub fn interruption() -> GateError {
    GateError::Ab(
        "interrupted (Ctrl-C): nothing was judged; worktrees and temporary files removed".into(),
    )
}

/// One command to run: the command and the files its stdout and stderr go to.
pub struct Job {
    /// The command.
    pub cmd: Command,
    /// Its stdout.
    pub out: PathBuf,
    /// Its stderr.
    pub err: PathBuf,
}

/// The CPUs this process may run on (`sched_getaffinity`), in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bit set the call fills in; nothing else is touched.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Per CPU, the idle and total jiffies so far (`/proc/stat`'s `cpuN` lines).
fn cpu_times() -> std::collections::BTreeMap<usize, (u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let cpu = f.next()?.strip_prefix("cpu")?.parse::<usize>().ok()?;
            let v: Vec<u64> = f.filter_map(|x| x.parse().ok()).collect();
            // idle + iowait, and everything.
            let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
            Some((cpu, (idle, v.iter().sum())))
        })
        .collect()
}

/// `n` of `cpus`, the idlest over the next `window` first (another measurement already
/// pinned to a CPU is left alone; ties keep the given order); `cpus`' first `n` when
/// `/proc/stat` cannot be read.
pub fn idlest_cpus(cpus: &[usize], n: usize, window: std::time::Duration) -> Vec<usize> {
    let before = cpu_times();
    std::thread::sleep(window);
    idlest_between(&before, &cpu_times(), cpus, n)
}

/// Per CPU `(idle, total)` jiffies.
type CpuTimes = std::collections::BTreeMap<usize, (u64, u64)>;

/// `n` of `cpus` ordered by their load between two `/proc/stat` snapshots, the least
/// loaded first; loads within 10 points count as equal (a CPU is passed over for being
/// busy, not for noise), and a CPU missing from either snapshot counts as idle.
fn idlest_between(before: &CpuTimes, after: &CpuTimes, cpus: &[usize], n: usize) -> Vec<usize> {
    let mut busy: Vec<(f64, usize, usize)> = cpus
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let load = match (before.get(&c), after.get(&c)) {
                (Some(b), Some(a)) if a.1 > b.1 => {
                    1.0 - (a.0.saturating_sub(b.0)) as f64 / (a.1 - b.1) as f64
                }
                _ => 0.0,
            };
            ((load * 10.0).round(), i, c)
        })
        .collect();
    busy.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    busy.into_iter().take(n.max(1)).map(|(_, _, c)| c).collect()
}

/// Pins the child `cmd` will start to `cpu` (`sched_setaffinity` between fork and exec).
fn pin(cmd: &mut Command, cpu: usize) {
    pin_to(cmd, &[cpu]);
}

/// Lets the child `cmd` will start run on `cpus` (between fork and exec), whatever the
/// parent's own affinity.
pub fn pin_to(cmd: &mut Command, cpus: &[usize]) {
    let set = cpu_set(cpus);
    // SAFETY: the set is built before the fork; the closure only makes one system call,
    // which is async-signal-safe, and touches no memory but its own copy.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// Runs `cmd` in its own process group with stdout and stderr written to `out` and
/// `err`, killing the group after `limit` or on an interruption.
pub fn run_bounded(
    cmd: Command,
    out: &Path,
    err: &Path,
    limit: Option<Duration>,
) -> Result<Ended, GateError> {
    let job = Job {
        cmd,
        out: out.to_owned(),
        err: err.to_owned(),
    };
    Ok(run_together(vec![job], None, limit)?.remove(0))
}

/// Starts every job at once (each in its own process group, all pinned to `cpu` when
/// given, so they share that one CPU) and waits for all of them; a job past `limit` is
/// killed. An interruption kills every group and is an error.
pub fn run_together(
    jobs: Vec<Job>,
    cpu: Option<usize>,
    limit: Option<Duration>,
) -> Result<Vec<Ended>, GateError> {
    let mut running = Vec::with_capacity(jobs.len());
    // Kills the groups of the children that have not ended (an ended child's group id
    // may belong to someone else by now).
    let kill_all = |running: &mut Vec<(std::process::Child, String)>, ended: &[Option<Ended>]| {
        for (i, (child, _)) in running.iter_mut().enumerate() {
            if ended.get(i).is_none_or(Option::is_none) {
                kill_group(child.id());
                let _ = child.wait();
            }
        }
    };
    for mut job in jobs {
        let stdout = File::create(&job.out).map_err(|e| GateError::io(&job.out, e))?;
        let stderr = File::create(&job.err).map_err(|e| GateError::io(&job.err, e))?;
        let program = format!("{:?}", job.cmd.get_program());
        if let Some(cpu) = cpu {
            pin(&mut job.cmd, cpu);
        }
        match job
            .cmd
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
        {
            Ok(child) => running.push((child, program)),
            Err(e) => {
                kill_all(&mut running, &[]);
                return Err(GateError::Ab(format!("cannot start {program}: {e}")));
            }
        }
    }
    let start = Instant::now();
    let mut ended: Vec<Option<Ended>> = running.iter().map(|_| None).collect();
    while ended.iter().any(Option::is_none) {
        let mut failure = None;
        for (i, (child, program)) in running.iter_mut().enumerate() {
            if ended[i].is_some() {
                continue;
            }
            match child.try_wait() {
                Ok(Some(status)) => ended[i] = Some(Ended::Exited(status)),
                Ok(None) if limit.is_some_and(|l| start.elapsed() > l) => {
                    kill_group(child.id());
                    let _ = child.wait();
                    ended[i] = Some(Ended::TimedOut);
                }
                Ok(None) => {}
                Err(e) => failure = Some(GateError::Ab(format!("waiting for {program}: {e}"))),
            }
        }
        if interrupted() {
            failure = Some(interruption());
        }
        if let Some(error) = failure {
            kill_all(&mut running, &ended);
            return Err(error);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(ended.into_iter().flatten().collect())
}

/// Pins every thread of process `pid` to `cpu` (threads it starts later inherit it).
pub fn pin_process(pid: u32, cpu: usize) -> Result<(), GateError> {
    let tasks = Path::new("/proc").join(pid.to_string()).join("task");
    let set = cpu_set(&[cpu]);
    for tid in numbered(&tasks)? {
        // SAFETY: a system call on a thread id with a valid, initialised set; a thread
        // that ended meanwhile makes it fail harmlessly (ESRCH), which is ignored.
        unsafe {
            libc::sched_setaffinity(tid as i32, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    Ok(())
}

/// Pins every process of process group `group` (a benchmark and whatever it started,
/// a server say), every thread of each, to `cpu`.
pub fn pin_group(group: u32, cpu: usize) -> Result<(), GateError> {
    for pid in numbered(Path::new("/proc"))? {
        // A process of the group other than its leader may end meanwhile: harmless.
        match pid == group {
            true => pin_process(pid, cpu)?,
            false if process_group(pid) == Some(group) => {
                let _ = pin_process(pid, cpu);
            }
            false => {}
        }
    }
    Ok(())
}

/// The entries of `dir` named by a number (`/proc`'s processes, a process's threads).
fn numbered(dir: &Path) -> Result<Vec<u32>, GateError> {
    let entries = std::fs::read_dir(dir).map_err(|e| GateError::io(dir, e))?;
    Ok(entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect())
}

/// The process group of process `pid` (`None` when it has ended or cannot be read).
fn process_group(pid: u32) -> Option<u32> {
    group_in_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The process group in a `/proc/PID/stat` line, `pid (comm) state ppid pgrp …`, whose
/// command name may hold spaces and parentheses.
fn group_in_stat(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(2)?.parse().ok()
}

/// Keeps the calling thread off `cpu` (on the other CPUs it may use), so that the
/// driver's own work never lands on the CPU a measurement runs on; a no-op when `cpu`
/// is the only one. Children inherit it unless started with [`pin_to`].
pub fn keep_off(cpu: usize) {
    let others: Vec<usize> = allowed_cpus().into_iter().filter(|&c| c != cpu).collect();
    if !others.is_empty() {
        pin_thread(&others);
    }
}

/// Lets the calling thread run on `cpus` only (threads it starts later inherit it);
/// where the system refuses, it runs as before.
pub fn pin_thread(cpus: &[usize]) {
    let set = cpu_set(cpus);
    // SAFETY: the call only reads the initialised set and touches only the calling
    // thread's affinity.
    unsafe {
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The affinity set holding `cpus` (each below `CPU_SETSIZE`).
fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero `cpu_set_t` is the empty set; `CPU_SET` sets one bit of it
    // through a bounds-checked index (a CPU past `CPU_SETSIZE` panics, never writes).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        set
    }
}

/// Kills process group `group`: the child and whatever it started.
pub fn kill_group(group: u32) {
    // Quietly: the group may be gone already.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last `lines` lines of a log file, for an error message.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_group_is_read_past_a_name_with_spaces_and_parentheses() {
        let me = std::process::id();
        // SAFETY: getpgrp has no preconditions.
        let group = unsafe { libc::getpgrp() } as u32;
        assert_eq!(process_group(me), Some(group));
        assert_eq!(process_group(u32::MAX), None);
        let stat = "4242 (redis-server (x) 1) S 4200 4100 4100 0 -1 4194560";
        assert_eq!(group_in_stat(stat), Some(4100));
        assert_eq!(group_in_stat("4242 (cut short"), None);
    }

    #[test]
    fn the_idlest_cpus_are_picked_and_near_ties_keep_their_order() {
        let snap = |v: &[(usize, u64, u64)]| -> CpuTimes {
            v.iter()
                .map(|&(c, idle, total)| (c, (idle, total)))
                .collect()
        };
        let before = snap(&[(0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 0, 0)]);
        // CPU 0 busy all the time, 1 idle, 2 idle 96 % (a tie with 1), 3 half busy.
        let after = snap(&[(0, 0, 100), (1, 100, 100), (2, 96, 100), (3, 50, 100)]);
        let cpus = [0, 1, 2, 3];
        assert_eq!(idlest_between(&before, &after, &cpus, 1), [1]);
        assert_eq!(idlest_between(&before, &after, &cpus, 3), [1, 2, 3]);
        assert_eq!(idlest_between(&before, &after, &cpus, 9), [1, 2, 3, 0]);
        // All alike, or nothing readable: the given order.
        let same = snap(&[(0, 0, 100), (1, 0, 100), (2, 0, 100), (3, 0, 100)]);
        assert_eq!(idlest_between(&before, &same, &cpus, 2), [0, 1]);
        assert_eq!(
            idlest_between(&CpuTimes::new(), &CpuTimes::new(), &cpus, 2),
            [0, 1]
        );
        // The live reading gives CPUs of the given set.
        let allowed = allowed_cpus();
        let live = idlest_cpus(&allowed, 1, Duration::from_millis(20));
        assert!(live.len() == 1 && allowed.contains(&live[0]), "{live:?}");
    }

    #[test]
    fn a_hang_is_killed_at_its_limit_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        // A duration no other process uses marks both sleeps: the child and its child.
        let marker = format!("sleep 30.{}", std::process::id());
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("{marker} & {marker}")]);
        let started = Instant::now();
        let ended = run_bounded(
            cmd,
            &dir.path().join("out"),
            &dir.path().join("err"),
            Some(Duration::from_millis(300)),
        )
        .unwrap();
        assert!(matches!(ended, Ended::TimedOut), "{ended:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let out = Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .unwrap();
        assert!(out.stdout.is_empty(), "left running: {:?}", out);
    }

    #[test]
    fn output_goes_to_the_files_and_the_status_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (out, err) = (dir.path().join("out"), dir.path().join("err"));
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; exit 3"]);
        let Ended::Exited(status) = run_bounded(cmd, &out, &err, None).unwrap() else {
            panic!("no exit")
        };
        assert_eq!(status.code(), Some(3));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "one\n");
        assert_eq!(tail(&err, 5), "two");
    }
}
