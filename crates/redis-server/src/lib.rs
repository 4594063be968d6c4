//! A throwaway local `redis-server` for tests, benches and `perf-test coordinate`: started on a
//! free loopback port, with persistence off or (for crash tests) an append-only file in
//! a data directory of its own, stopped by PID and its directory removed when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a local server could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No `redis-server` binary on PATH (or at `$ORCHBENCH_REDIS_SERVER`).
    #[error(
        "no redis-server binary found on PATH (install Debian's redis-server package: \
         apt-get install redis-server, or set ORCHBENCH_REDIS_SERVER to its path)"
    )]
    NotInstalled,
    /// The binary could not be run.
    #[error("could not start {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server did not answer PING in time.
    #[error("redis-server on port {port} did not answer PING within {waited_ms} ms{exit}")]
    NotReady {
        /// Its port.
        port: u16,
        /// How long we waited.
        waited_ms: u64,
        /// Its exit status if it died.
        exit: String,
    },
    /// No free port could be reserved.
    #[error("no free loopback port: {0}")]
    Port(#[source] std::io::Error),
    /// The data directory of a durable server could not be created.
    #[error("cannot create the data directory {dir}: {source}")]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A `redis-server` child process on `127.0.0.1:port`, killed and reaped on drop.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    /// With persistence: the server's own data directory (removed on drop).
    data_dir: Option<PathBuf>,
}

/// The `redis-server` binary: `$ORCHBENCH_REDIS_SERVER`, else the first on PATH.
pub fn find_redis_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ORCHBENCH_REDIS_SERVER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

fn free_port() -> Result<u16, ServerError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(ServerError::Port)?;
    Ok(l.local_addr().map_err(ServerError::Port)?.port())
}

fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A fresh server (persistence off) for `test`, or a panic naming what to install: a
/// test that needs a real Redis fails without one, it never passes by skipping.
pub fn required(test: &str) -> RedisServer {
    RedisServer::start().unwrap_or_else(|e| panic!("{test}: a real redis-server is required: {e}"))
}

impl RedisServer {
    /// Starts a server on a free port (persistence off), waiting until it answers.
    pub fn start() -> Result<RedisServer, ServerError> {
        let binary = find_redis_server().ok_or(ServerError::NotInstalled)?;
        let mut server = RedisServer {
            binary,
            port: free_port()?,
            child: None,
            data_dir: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Starts a server that persists every write to an append-only file (`appendonly
    /// yes`, `appendfsync everysec`) in a data directory of its own, so that
    /// [`RedisServer::restart`] after [`RedisServer::stop`] (a crash) reloads what was
    /// written up to about a second before it.
    pub fn start_durable() -> Result<RedisServer, ServerError> {
        let binary = find_redis_server().ok_or(ServerError::NotInstalled)?;
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "orchbench-redis-{port}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).map_err(|source| ServerError::DataDir {
            dir: dir.clone(),
            source,
        })?;
        let mut server = RedisServer {
            binary,
            port,
            child: None,
            data_dir: Some(dir),
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), ServerError> {
        let mut cmd = Command::new(&self.binary);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--daemonize", "no"])
            .args(["--protected-mode", "no", "--loglevel", "warning"]);
        match &self.data_dir {
            Some(dir) => cmd
                .args(["--appendonly", "yes", "--appendfsync", "everysec", "--dir"])
                .arg(dir),
            None => cmd.args(["--appendonly", "no", "--dir", "/tmp"]),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| ServerError::Spawn {
                binary: self.binary.clone(),
                source,
            })?;
        self.child = Some(child);
        let start = Instant::now();
        let limit = Duration::from_secs(10);
        while start.elapsed() < limit {
            if ping(self.port) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(ServerError::NotReady {
                    port: self.port,
                    waited_ms: start.elapsed().as_millis() as u64,
                    exit: format!(" (it exited: {status})"),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
        Err(ServerError::NotReady {
            port: self.port,
            waited_ms: limit.as_millis() as u64,
            exit: String::new(),
        })
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's PID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The binary in use.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL, like a crash) and reaps it; the port stays reserved
    /// for [`RedisServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port: empty, or, for
    /// [`RedisServer::start_durable`], with what its append-only file holds.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.stop();
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.data_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
