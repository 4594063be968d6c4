//! Test support shared by the workspace's integration tests (never a normal
//! dependency, never published): finding and awaiting processes by a marker in their
//! command line, through `/proc`, so a test can prove that a cancelled pool or a timed-out
//! run left no child process behind, wherever the child was re-parented to.

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
