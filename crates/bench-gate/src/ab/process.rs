//! Child processes of `bench-gate ab` (cargo, the bench binaries), each in its own
//! process group with its output in files, waited for with a time limit and an
//! interruption flag: a hang, or Ctrl-C, kills the whole group (a bench's own children,
//! such as a redis-server, included), so nothing is left running. Several children can
//! run at once pinned to one CPU (`sched_setaffinity`): `ab`'s shared-CPU pairs.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
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

/// Pins the child `cmd` will start to `cpu` (`sched_setaffinity` between fork and exec).
fn pin(cmd: &mut Command, cpu: usize) {
    // SAFETY: the set is built here, before the fork; the closure only makes one system
    // call, which is async-signal-safe, and touches no memory but its own copy.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
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

/// Kills process group `group`: the child and whatever it started.
fn kill_group(group: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
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
