//! Shared helpers for the integration tests: fixture paths and simple, obviously
//! correct reference implementations (quadratic or exponential) that the fast code is
//! checked against.

use std::path::PathBuf;

/// The directory holding committed test fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `reach[a][b]`: there is a path of one or more edges from `a` to `b`.
pub fn reachability(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<bool>> {
    let mut reach = vec![vec![false; n]; n];
    for &(a, b) in edges {
        reach[a][b] = true;
    }
    // Warshall's algorithm.
    for k in 0..n {
        let through_k = reach[k].clone();
        for row in reach.iter_mut() {
            if row[k] {
                for (cell, &via) in row.iter_mut().zip(&through_k) {
                    *cell |= via;
                }
            }
        }
    }
    reach
}

/// Whether the graph has no cycle (no node reaches itself).
pub fn is_acyclic(n: usize, edges: &[(usize, usize)]) -> bool {
    let reach = reachability(n, edges);
    (0..n).all(|v| !reach[v][v])
}

/// The level of each node: the edge count of the longest path ending at it, by plain
/// memoised recursion over predecessors. The graph must be acyclic.
pub fn reference_levels(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    fn level(v: usize, preds: &[Vec<usize>], memo: &mut [Option<usize>]) -> usize {
        if let Some(l) = memo[v] {
            return l;
        }
        let l = preds[v]
            .iter()
            .map(|&p| level(p, preds, memo) + 1)
            .max()
            .unwrap_or(0);
        memo[v] = Some(l);
        l
    }
    let mut preds = vec![Vec::new(); n];
    for &(a, b) in edges {
        preds[b].push(a);
    }
    let mut memo = vec![None; n];
    (0..n).map(|v| level(v, &preds, &mut memo)).collect()
}

/// The maximum over every path (enumerated one by one) of the sum of its node costs,
/// each sum taken from the path's first node to its last. Exponential: small graphs only.
pub fn brute_force_max_path_cost(costs: &[f64], edges: &[(usize, usize)]) -> f64 {
    fn walk(v: usize, sum: f64, costs: &[f64], succ: &[Vec<usize>], best: &mut f64) {
        let sum = sum + costs[v];
        if sum > *best {
            *best = sum;
        }
        for &s in &succ[v] {
            walk(s, sum, costs, succ, best);
        }
    }
    let mut succ = vec![Vec::new(); costs.len()];
    for &(a, b) in edges {
        if !succ[a].contains(&b) {
            succ[a].push(b);
        }
    }
    let mut best = 0.0;
    for v in 0..costs.len() {
        walk(v, 0.0, costs, &succ, &mut best);
    }
    best
}

/// The process ids of every process on the machine whose command line contains
/// `marker` (read from `/proc/*/cmdline`), wherever they were re-parented to. Zombies
/// have an empty command line and are not counted.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != std::process::id())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(marker)
            })
        })
        .collect()
}

/// Asserts that within 5 s no process carries `marker` any more (blocking).
pub fn assert_none_with(marker: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !processes_with(marker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left running: {:?}",
            processes_with(marker)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits (up to 5 s) until at least `n` processes carry `marker` and returns them all.
pub async fn wait_for_processes(marker: &str, n: usize) -> Vec<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let pids = processes_with(marker);
        if pids.len() >= n {
            return pids;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} processes running `{marker}`, found {}",
            pids.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Asserts that every process in `pids` has ended within 5 s, and that those that are
/// this process's children were reaped (a zombie keeps its /proc entry). A grandchild
/// killed with its group becomes init's child: reaping it is init's job, which this
/// machine's init does only every second or two, so a zombie of init's counts as ended.
pub async fn assert_gone(pids: &[u32]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let me = std::process::id();
    let alive = |pid: &u32| {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false; // gone and reaped
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the ')'.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        !(state == "Z" && ppid != me)
    };
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(alive).collect();
        if left.is_empty() {
            return;
        }
        if std::time::Instant::now() >= deadline {
            let what: Vec<String> = left
                .iter()
                .map(|pid| {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    format!("{pid}: {}", stat.trim())
                })
                .collect();
            panic!("left behind (running or unreaped): {what:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Asserts that `events::connect` rejects each URL with an error containing the text
/// paired with it.
pub async fn assert_bad_bus_urls(cases: &[(&str, &str)]) {
    for &(url, expected) in cases {
        let err = orchbench::events::connect(url)
            .await
            .err()
            .unwrap_or_else(|| panic!("{url} accepted"))
            .to_string();
        assert!(err.contains(expected), "{url}: {err}");
    }
}

/// A two-thread tokio runtime (the machine's cores), timers and I/O on.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh `redis-server` on a free loopback port (persistence off), or `None` with the
/// reason printed when none is installed and this is not CI. Under `CI=true` a missing
/// server fails the test: it never skips silently.
pub fn redis_server(test: &str) -> Option<orchbench::events::RedisServer> {
    use orchbench::events::{RedisServer, ServerError};
    match RedisServer::start() {
        Ok(s) => Some(s),
        Err(e @ ServerError::NotInstalled) if std::env::var_os("CI").is_none() => {
            // Straight to stderr: libtest captures `eprintln!`, and a skip must be seen.
            let line = format!("SKIPPED {test}: {e}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            None
        }
        Err(e) => panic!("{test}: a real redis-server is required (CI=true): {e}"),
    }
}
