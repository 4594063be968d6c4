//! What a bus and its subscriptions share: the client, the publisher's connections,
//! and the commands run on them, each bounded by the configured timeout and mapped to
//! a [`BusError`] naming the server.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, Value};

use super::config::RedisConfig;
use super::resp::{RespConn, RespError};
use crate::events::BusError;

pub(super) struct Inner {
    pub(super) config: RedisConfig,
    pub(super) addr: String,
    pub(super) client: redis::Client,
    /// The publisher's connection; taken by `shutdown`.
    pub(super) conn: Mutex<Option<ConnectionManager>>,
    /// The batch publisher's own RESP connection (`resp.rs`), opened on first use and
    /// dropped after any failure; a batch that finds it busy takes `conn` instead.
    pub(super) publisher: tokio::sync::Mutex<Option<RespConn>>,
    pub(super) closed: Arc<AtomicBool>,
    pub(super) published: AtomicU64,
    pub(super) consumers: AtomicU64,
}

pub(super) fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(200))
}

impl Inner {
    pub(super) async fn open(
        &self,
        timeout: Duration,
        what: &'static str,
    ) -> Result<ConnectionManager, BusError> {
        let fut = ConnectionManager::new_with_config(self.client.clone(), manager_config(timeout));
        match tokio::time::timeout(timeout + Duration::from_millis(100), fut).await {
            Ok(r) => r.map_err(|source| BusError::Redis {
                addr: self.addr.clone(),
                what,
                source,
            }),
            Err(_) => Err(self.timeout(what, timeout)),
        }
    }

    pub(super) fn resp_error(&self, e: RespError, what: &'static str) -> BusError {
        match e {
            RespError::Io(e) => BusError::Redis {
                addr: self.addr.clone(),
                what,
                source: e.into(),
            },
            RespError::Server(source) => BusError::Redis {
                addr: self.addr.clone(),
                what,
                source,
            },
            RespError::Protocol(detail) => BusError::Protocol {
                addr: self.addr.clone(),
                what,
                detail,
            },
        }
    }

    pub(super) fn timeout(&self, what: &'static str, after: Duration) -> BusError {
        BusError::Timeout {
            addr: self.addr.clone(),
            what,
            timeout_ms: after.as_millis() as u64,
        }
    }

    pub(super) fn protocol(&self, what: &'static str, v: &Value) -> BusError {
        let mut detail = format!("{v:?}");
        detail.truncate(200);
        BusError::Protocol {
            addr: self.addr.clone(),
            what,
            detail,
        }
    }

    /// One command, bounded by the configured timeout (plus the block time for reads).
    pub(super) async fn run(
        &self,
        conn: &mut ConnectionManager,
        cmd: &Cmd,
        what: &'static str,
    ) -> Result<Value, BusError> {
        let limit = Duration::from_millis(self.config.timeout_ms + self.config.block_ms + 100);
        match tokio::time::timeout(limit, cmd.query_async::<Value>(conn)).await {
            Ok(r) => r.map_err(|source| BusError::Redis {
                addr: self.addr.clone(),
                what,
                source,
            }),
            Err(_) => Err(self.timeout(what, limit)),
        }
    }

    /// A pipeline whose replies come back one per command, server errors included.
    pub(super) async fn run_pipe(
        &self,
        conn: &mut ConnectionManager,
        pipe: &Pipeline,
        what: &'static str,
    ) -> Result<Vec<Value>, BusError> {
        let limit = Duration::from_millis(self.config.timeout_ms + self.config.block_ms + 100);
        match tokio::time::timeout(limit, pipe.query_async::<Vec<Value>>(conn)).await {
            Ok(r) => r.map_err(|source| BusError::Redis {
                addr: self.addr.clone(),
                what,
                source,
            }),
            Err(_) => Err(self.timeout(what, limit)),
        }
    }

    /// `XGROUP CREATE stream group START MKSTREAM`; an existing group is fine.
    pub(super) async fn create_group(
        &self,
        conn: &mut ConnectionManager,
        group: &str,
        start: &str,
    ) -> Result<(), BusError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(self.config.stream.as_str())
            .arg(group)
            .arg(start)
            .arg("MKSTREAM");
        match self.run(conn, &cmd, "XGROUP CREATE").await {
            Ok(_) => Ok(()),
            Err(BusError::Redis { source, .. }) if source.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }
}
