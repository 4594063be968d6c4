//! perf-test's distributed mode end to end: a real `redis-server` on loopback, two
//! `perf-test worker` processes, and the coordinator (`perf-test --broker`). Every task
//! must run, the per-worker counts must add up, a worker killed mid-run must lose no
//! task (another takes over its pending entries), a worker started before its broker
//! waits for it, an unreachable broker is exit 4, and a broker killed mid-run is
//! survived when it comes back (with and without an append-only file) and, when it
//! does not, is exit 4 with the report naming the tasks that did not complete.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use predicates::prelude::*;

/// `perf-test worker` processes, killed (and reaped) when dropped.
struct Workers(Vec<Child>);

impl Workers {
    fn start(url: &str, names: &[&str], args: &[&str]) -> Workers {
        let children = names
            .iter()
            .map(|name| {
                Command::new(cargo_bin("perf-test"))
                    .args(["worker", "--broker", url, "--name", name])
                    .args(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("perf-test worker starts")
            })
            .collect();
        Workers(children)
    }

    fn kill(&mut self, i: usize) {
        let _ = self.0[i].kill();
        let _ = self.0[i].wait();
    }

    /// Sends SIGTERM to every worker and waits (up to `limit`) for each to exit;
    /// returns their exit codes.
    fn terminate(&mut self, limit: Duration) -> Vec<Option<i32>> {
        for child in &self.0 {
            // SAFETY: kill(2) on a child's pid; no memory is involved.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + limit;
        self.0
            .iter_mut()
            .map(|child| {
                loop {
                    match child.try_wait() {
                        Ok(Some(status)) => break status.code(),
                        _ if Instant::now() >= deadline => break None,
                        _ => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .collect()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `name: N tasks` lines of the summary's distributed section.
fn per_worker(stdout: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(": ")?;
            let n = rest.strip_suffix(" tasks")?.parse().ok()?;
            Some((name.to_owned(), n))
        })
        .collect()
}

/// The coordinator (`perf-test --broker …`), run in `dir`, a test's own temporary
/// directory, so a default report path never lands in the source tree.
fn coordinator(dir: &std::path::Path) -> assert_cmd::Command {
    let mut cmd =
        assert_cmd::Command::cargo_bin("perf-test").expect("the perf-test binary is built");
    cmd.current_dir(dir);
    cmd
}

#[test]
fn two_workers_run_every_task_and_the_figures_add_up() {
    let server = orchbench_redis_server::required("two_workers_run_every_task");
    let url = server.url();
    let mut workers = Workers::start(&url, &["wA", "wB"], &["--workers", "8", "--batch", "256"]);
    let dir = tempfile::tempdir().unwrap();
    // 5 000 no-op tasks, in chains of 5, so results drive further publications.
    let out = coordinator(dir.path())
        .args([
            "--broker",
            &url,
            "--runs",
            "1000",
            "--tasks-per-run",
            "5",
            "--duration",
            "0",
        ])
        .args(["--shape", "chain", "--timeout", "60", "--json"])
        .arg(dir.path().join("d.json"))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Tasks: 5000 completed, 0 failed, 0 not run").and(
                predicate::str::contains("Workers: 2 reporting, 16 slots in all"),
            ),
        )
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8_lossy(&out);
    let counts = per_worker(&stdout);
    assert_eq!(counts.len(), 2, "{stdout}");
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 5000, "{stdout}");
    let m = bench_gate::perf::load(dir.path()).unwrap();
    assert_eq!(m["perf/custom/failed"].value, 0.0);
    assert!(m["perf/custom/completion_rate"].value > 0.0);
    // The run's own results stream is removed at the end; the task stream is trimmed.
    let keys = redis_keys(&url);
    assert!(
        !keys
            .iter()
            .any(|k| k.starts_with("orchbench:perf:results:")),
        "{keys:?}"
    );
    // SIGTERM stops a worker cleanly: within one blocking read (1 s), exit 0, and
    // nothing left taken but unacknowledged in the group.
    assert_eq!(
        workers.terminate(Duration::from_secs(5)),
        vec![Some(0), Some(0)]
    );
    let pending: Vec<redis::Value> = redis_query(
        &url,
        redis::cmd("XPENDING")
            .arg(perf_test::distributed::DEFAULT_TASK_STREAM)
            .arg(perf_test::distributed::WORKER_GROUP),
    );
    assert_eq!(pending.first(), Some(&redis::Value::Int(0)), "{pending:?}");
}

#[test]
fn a_worker_killed_mid_run_loses_no_task() {
    let server = orchbench_redis_server::required("a_worker_killed_mid_run");
    let url = server.url();
    let mut workers = Workers::start(
        &url,
        &["wA", "wB"],
        &["--workers", "4", "--reclaim-after", "1"],
    );
    // 120 tasks of 0.2 s on 2 × 4 slots: about 3 s; wA dies after 1 s with a batch
    // taken and not acknowledged.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("killed.json");
    let started = Instant::now();
    let run = std::thread::spawn({
        let url = url.clone();
        move || {
            coordinator(dir.path())
                .args(["--broker", &url, "--runs", "20", "--tasks-per-run", "6"])
                .args(["--duration", "0.2", "--timeout", "60", "--json"])
                .arg(&json)
                .output()
                .expect("the coordinator runs")
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    workers.kill(0);
    let killed_at = started.elapsed();
    let out = run.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Tasks: 120 completed, 0 failed, 0 not run"),
        "{stdout}"
    );
    // The kill came while the run was going on, not after it.
    assert!(
        started.elapsed() > killed_at + Duration::from_millis(500),
        "{stdout}"
    );
    let counts = per_worker(&stdout);
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 120, "{stdout}");
    let survivor = counts
        .iter()
        .find(|(w, _)| w == "wB")
        .map_or(0, |(_, n)| *n);
    assert!(survivor > 60, "wB took over wA's share: {stdout}");
}

#[test]
fn an_unreachable_broker_is_exit_4_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // The coordinator gives up at once; a worker waits `--broker-timeout` for it.
    for (args, waits) in [
        (
            vec!["--broker", "redis://127.0.0.1:1", "--config", "quick"],
            false,
        ),
        (
            vec![
                "worker",
                "--broker",
                "redis://127.0.0.1:1",
                "--broker-timeout",
                "1.5",
            ],
            true,
        ),
    ] {
        let started = Instant::now();
        coordinator(dir.path())
            .args(&args)
            .timeout(Duration::from_secs(30))
            .assert()
            .code(4)
            .stderr(predicate::str::contains("broker redis://127.0.0.1:1"));
        let took = started.elapsed();
        if waits {
            assert!(took >= Duration::from_millis(1500), "{args:?}: {took:?}");
        }
        assert!(took < Duration::from_secs(15), "{args:?}: {took:?}");
    }
    coordinator(dir.path())
        .args(["--broker", "http://127.0.0.1:6379", "--config", "quick"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected redis://HOST:PORT"));
    coordinator(dir.path())
        .args(["--broker", "redis://127.0.0.1:1", "--config", "quick"])
        .args(["--broker-timeout", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--broker-timeout must be seconds in (0, 86400], got 0",
        ));
}

/// A worker started before its broker waits for it (`--broker-timeout`), then serves:
/// workers and the broker can be started in any order.
#[test]
fn a_worker_started_before_its_broker_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = orchbench_redis_server::required("a_worker_started_before_its_broker");
    let url = server.url();
    server.stop();
    let mut worker = Command::new(cargo_bin("perf-test"))
        .args(["worker", "--broker", &url, "--name", "early"])
        .args(["--workers", "4", "--broker-timeout", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perf-test worker starts");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker gave up on a broker that is not up yet"
    );
    server.restart().expect("redis-server restarts on its port");
    let out = coordinator(dir.path())
        .args(["--broker", &url, "--runs", "20", "--tasks-per-run", "5"])
        .args(["--duration", "0", "--timeout", "60", "--json"])
        .arg(tempfile::tempdir().unwrap().path().join("d.json"))
        .timeout(Duration::from_secs(90))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Tasks: 100 completed, 0 failed, 0 not run",
        ))
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8_lossy(&out);
    assert_eq!(
        per_worker(&stdout),
        vec![("early".to_owned(), 100)],
        "{stdout}"
    );
    // SAFETY: kill(2) on a child's pid; no memory is involved.
    unsafe {
        libc::kill(worker.id() as i32, libc::SIGTERM);
    }
    let status = worker.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(worker.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("waiting up to 30.0 s") && stderr.contains("connected to"),
        "{stderr}"
    );
}

fn redis_query<T: redis::FromRedisValue>(url: &str, cmd: &redis::Cmd) -> T {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    cmd.query(&mut conn).unwrap()
}

fn redis_keys(url: &str) -> Vec<String> {
    redis_query(url, redis::cmd("KEYS").arg("*"))
}

/// The coordinator's output after a run of 2 000 tasks of 20 ms (chains of 5) on two
/// workers of 8 slots, with redis-server killed (SIGKILL) 1 s in and, if `back_after`
/// is given, started again that much later on the same port.
struct Outage {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The exit code of each worker and when it exited, from the kill; None: still up
    /// 10 s after the coordinator ended.
    workers: Vec<Option<(Option<i32>, Duration)>>,
    json: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn run_through_an_outage(
    server: &mut orchbench_redis_server::RedisServer,
    back_after: Option<Duration>,
    broker_timeout: &str,
) -> Outage {
    let url = server.url();
    let mut workers = Workers::start(
        &url,
        &["wA", "wB"],
        &[
            "--workers",
            "8",
            "--reclaim-after",
            "1",
            "--broker-timeout",
            broker_timeout,
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("outage.json");
    let run = std::thread::spawn({
        let (url, json, cwd) = (url.clone(), json.clone(), dir.path().to_owned());
        let timeout = broker_timeout.to_owned();
        move || {
            coordinator(&cwd)
                .args(["--broker", &url, "--runs", "400", "--tasks-per-run", "5"])
                .args(["--shape", "chain", "--duration", "0.02", "--timeout", "120"])
                .args(["--broker-timeout", &timeout, "--json"])
                .arg(&json)
                .timeout(Duration::from_secs(150))
                .output()
                .expect("the coordinator runs")
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    server.stop();
    let killed = Instant::now();
    if let Some(wait) = back_after {
        std::thread::sleep(wait);
        server.restart().expect("redis-server restarts on its port");
    }
    let out = run.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let exits = workers
        .0
        .iter_mut()
        .map(|child| {
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Some((status.code(), killed.elapsed())),
                    _ if back_after.is_some() || Instant::now() >= deadline => break None,
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
        .collect();
    Outage {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        workers: exits,
        json,
        _dir: dir,
    }
}

/// The figure after `label` in the distributed section (`label: N`).
fn figure(stdout: &str, label: &str) -> u64 {
    let at = stdout
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {stdout}"));
    stdout[at + label.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {stdout}"))
}

/// The checks every survived restart must pass: exit 0, every task once in the
/// report, the results per worker adding up, the outage seen and survived.
fn assert_survived(o: &Outage) {
    let all = format!("{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.code, Some(0), "{all}");
    assert!(
        o.stdout
            .contains("Tasks: 2000 completed, 0 failed, 0 not run"),
        "{all}"
    );
    let counts = per_worker(&o.stdout);
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 2000, "{all}");
    assert_eq!(figure(&o.stdout, "server restarts:"), 1, "{all}");
    assert!(
        o.stderr.contains("broker lost") && o.stderr.contains("the server restarted"),
        "{all}"
    );
    assert!(!o.stdout.contains("Not completed"), "{all}");
    let m = bench_gate::perf::load(o.json.parent().unwrap()).unwrap();
    assert_eq!(m["perf/custom/failed"].value, 0.0);
}

/// redis-server killed mid-run and started again empty (no persistence): the stream,
/// the groups and the results are gone; the coordinator publishes again every task it
/// has not seen complete, and the run completes with each task reported once.
#[test]
fn a_run_survives_a_broker_restart_without_persistence() {
    let mut server =
        orchbench_redis_server::required("a_run_survives_a_restart_without_persistence");
    let o = run_through_an_outage(&mut server, Some(Duration::from_secs(2)), "30");
    assert_survived(&o);
    // The kill came mid-run: what had not completed was lost and published again.
    let again = figure(&o.stdout, "tasks published again:");
    assert!(again > 0, "{}", o.stdout);
    eprintln!(
        "without persistence: published again {again}, duplicates {}",
        figure(&o.stdout, "restart):")
    );
}

/// redis-server with an append-only file (`appendfsync everysec`) killed mid-run and
/// started again: it reloads the stream, so at most the last second's tasks are
/// published again, and the run completes with each task reported once.
#[test]
fn a_run_survives_a_broker_restart_with_aof() {
    let mut server = orchbench_redis_server::RedisServer::start_durable()
        .expect("a_run_survives_a_restart_with_aof: a real redis-server is required");
    let o = run_through_an_outage(&mut server, Some(Duration::from_secs(2)), "30");
    assert_survived(&o);
    eprintln!(
        "with AOF: published again {}, duplicates {}",
        figure(&o.stdout, "tasks published again:"),
        figure(&o.stdout, "restart):")
    );
}

/// redis-server killed mid-run and never back: the workers and the coordinator retry
/// for --broker-timeout (not an instant exit), then exit 4; the coordinator still
/// writes its report, which names exactly the tasks that did not complete.
#[test]
fn a_broker_that_stays_dead_is_exit_4_with_the_report() {
    let mut server = orchbench_redis_server::required("a_broker_that_stays_dead");
    let o = run_through_an_outage(&mut server, None, "2");
    let all = format!("{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.code, Some(4), "{all}");
    assert!(o.stderr.contains("unreachable for"), "{all}");
    assert!(o.stdout.contains("Broker lost: broker redis://"), "{all}");
    let completed = figure(&o.stdout, "Tasks:");
    assert!(completed > 0 && completed < 2000, "{all}");
    // The ranges listed cover exactly the tasks that did not complete.
    let line = o
        .stdout
        .lines()
        .find(|l| l.contains("Not completed:"))
        .unwrap_or_else(|| panic!("no list of the unfinished tasks: {all}"));
    let listed = figure(line, "Not completed:");
    let ranges = line.rsplit_once("+ node): ").expect("the ranges").1;
    let mut ids = Vec::new();
    for r in ranges.split(", ") {
        match r.split_once('-') {
            Some((a, b)) => ids.extend(a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap()),
            None => ids.push(r.parse::<u64>().unwrap()),
        }
    }
    assert_eq!(ids.len() as u64, listed, "{line}");
    assert_eq!(completed + listed, 2000, "{all}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[ids.len() - 1] < 2000);
    // The report was written, with the completed tasks' figures.
    let m = bench_gate::perf::load(o.json.parent().unwrap()).unwrap();
    assert_eq!(m["perf/custom/failed"].value, listed as f64);
    // Each worker waited out its --broker-timeout (2 s) before giving up, exit 4.
    for w in &o.workers {
        let (code, at) = w.expect("the worker exited");
        assert_eq!(code, Some(4), "{all}");
        assert!(
            at >= Duration::from_secs(2),
            "a worker gave up after {at:?}"
        );
    }
}
