//! The [`RedisStreamsBus`]: connecting, publishing (pipelined on its own RESP
//! connection), trimming, reading the stream back, and handing out subscriptions.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Pipeline, Value};

use super::config::{RedisConfig, Trim};
use super::conn::Inner;
use super::reply::{Entry, as_bytes, decode_entry, map_pairs, parse_id};
use super::resp::RespConn;
use super::subscription::RedisSubscription;
use crate::events::event::{F_AT, F_KIND, F_PAYLOAD, F_TASK, F_WORKFLOW};
use crate::events::{BusError, Event, EventBus};

/// The Redis Streams event bus (see the module header). Cloning gives another handle
/// to the same bus and connection.
#[derive(Clone)]
pub struct RedisStreamsBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisStreamsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamsBus")
            .field("addr", &self.inner.addr)
            .field("stream", &self.inner.config.stream)
            .finish()
    }
}

impl RedisStreamsBus {
    /// Connects to the server `config` names (bounded by `timeout_ms`).
    pub async fn connect(config: RedisConfig) -> Result<RedisStreamsBus, BusError> {
        config.validate()?;
        let client = redis::Client::open(config.server.as_str()).map_err(|e| BusError::BadUrl {
            url: config.server.clone(),
            reason: e.to_string(),
        })?;
        let addr = client.get_connection_info().addr().to_string();
        let timeout = Duration::from_millis(config.timeout_ms);
        let inner = Inner {
            addr: addr.clone(),
            conn: Mutex::new(None),
            publisher: tokio::sync::Mutex::new(None),
            closed: Arc::new(AtomicBool::new(false)),
            published: AtomicU64::new(0),
            consumers: AtomicU64::new(0),
            client,
            config,
        };
        let mut conn = inner.open(timeout, "connect").await?;
        let pong: Value = inner.run(&mut conn, &redis::cmd("PING"), "PING").await?;
        if !matches!(pong, Value::SimpleString(ref s) if s == "PONG") {
            return Err(BusError::Protocol {
                addr,
                what: "PING",
                detail: format!("{pong:?}"),
            });
        }
        *inner.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn);
        Ok(RedisStreamsBus {
            inner: Arc::new(inner),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Events this handle's bus published.
    pub fn published(&self) -> u64 {
        self.inner.published.load(Ordering::Relaxed)
    }

    fn conn(&self) -> Result<ConnectionManager, BusError> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(BusError::Closed)
    }

    /// Joins `group` under an explicit consumer name (a restarted consumer that reuses
    /// its name first finishes the entries it had taken).
    pub async fn subscribe_as(
        &self,
        group: &str,
        consumer: &str,
    ) -> Result<RedisSubscription, BusError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(BusError::Closed);
        }
        let timeout =
            Duration::from_millis(self.inner.config.timeout_ms + self.inner.config.block_ms);
        let mut conn = self.inner.open(timeout, "connect").await?;
        self.inner.create_group(&mut conn, group, "$").await?;
        Ok(RedisSubscription::new(
            self.inner.clone(),
            conn,
            group,
            consumer,
        ))
    }

    /// Trims entries every group has read and acknowledged (`XTRIM MINID`): the safe way
    /// to bound the stream. Returns how many entries were removed.
    pub async fn trim_acked(&self) -> Result<u64, BusError> {
        let inner = &self.inner;
        let mut conn = self.conn()?;
        let stream = inner.config.stream.as_str();
        let groups: Value = inner
            .run(
                &mut conn,
                redis::cmd("XINFO").arg("GROUPS").arg(stream),
                "XINFO GROUPS",
            )
            .await?;
        let Value::Array(groups) = groups else {
            return Ok(0);
        };
        let mut keep_from: Option<(u64, u64)> = None;
        for g in &groups {
            let fields = map_pairs(g);
            let name = fields
                .iter()
                .find(|(k, _)| k == b"name")
                .and_then(|(_, v)| as_bytes(v));
            let last = fields
                .iter()
                .find(|(k, _)| k == b"last-delivered-id")
                .and_then(|(_, v)| as_bytes(v));
            let (Some(name), Some(last)) = (name, last) else {
                return Err(inner.protocol("XINFO GROUPS", g));
            };
            // The oldest entry this group still needs: its oldest pending one, else the
            // first after what it has read.
            let pending: Value = inner
                .run(
                    &mut conn,
                    redis::cmd("XPENDING").arg(stream).arg(name),
                    "XPENDING",
                )
                .await?;
            let oldest = match &pending {
                Value::Array(p) if p.len() >= 2 => as_bytes(&p[1]).and_then(parse_id),
                _ => None,
            };
            let need = match oldest {
                Some(id) => id,
                None => {
                    let (ms, seq) =
                        parse_id(last).ok_or_else(|| inner.protocol("XINFO GROUPS", g))?;
                    (ms, seq + 1)
                }
            };
            keep_from = Some(keep_from.map_or(need, |k: (u64, u64)| k.min(need)));
        }
        let Some((ms, seq)) = keep_from else {
            return Ok(0);
        };
        let removed: Value = inner
            .run(
                &mut conn,
                redis::cmd("XTRIM")
                    .arg(stream)
                    .arg("MINID")
                    .arg(format!("{ms}-{seq}")),
                "XTRIM",
            )
            .await?;
        Ok(match removed {
            Value::Int(n) => n.max(0) as u64,
            other => return Err(inner.protocol("XTRIM", &other)),
        })
    }

    /// The server's `run_id` (`INFO server`): a new value after every restart, so a
    /// client that lost its connection can tell a network blip from a restart that may
    /// have lost data.
    pub async fn server_run_id(&self) -> Result<String, BusError> {
        let mut conn = self.conn()?;
        let info = self
            .inner
            .run(&mut conn, redis::cmd("INFO").arg("server"), "INFO server")
            .await?;
        let text = match &info {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::VerbatimString { text, .. } => text.clone(),
            Value::SimpleString(s) => s.clone(),
            other => return Err(self.inner.protocol("INFO server", other)),
        };
        text.lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .map(|id| id.trim().to_owned())
            .ok_or_else(|| self.inner.protocol("INFO server", &info))
    }

    /// Every entry now in the stream, oldest first, read without a group (`XRANGE`,
    /// `page` entries per round trip): what a restarted server still holds. Entries that
    /// do not decode are left out (a group's reader dead-letters them).
    pub async fn entries(&self, page: usize) -> Result<Vec<Event>, BusError> {
        let inner = &self.inner;
        let mut conn = self.conn()?;
        let mut out = Vec::new();
        let mut start = "-".to_owned();
        loop {
            let mut cmd = redis::cmd("XRANGE");
            cmd.arg(inner.config.stream.as_str())
                .arg(start.as_str())
                .arg("+")
                .arg("COUNT")
                .arg(page.max(1));
            let reply = inner.run(&mut conn, &cmd, "XRANGE").await?;
            let Value::Array(entries) = reply else {
                return Err(inner.protocol("XRANGE", &reply));
            };
            let n = entries.len();
            let mut last = None;
            for entry in &entries {
                let Value::Array(parts) = entry else {
                    return Err(inner.protocol("XRANGE", entry));
                };
                let [Value::BulkString(id), fields] = parts.as_slice() else {
                    return Err(inner.protocol("XRANGE", entry));
                };
                let strings: Option<Vec<&[u8]>> = match fields {
                    Value::Array(f) => f.iter().map(as_bytes).collect(),
                    _ => None,
                };
                if let Some(Entry::Event(event)) = strings.as_deref().map(decode_entry) {
                    out.push(event);
                }
                last = Some(id);
            }
            match last {
                // The next page starts after the last id (exclusive range, Redis ≥ 6.2).
                Some(id) if n >= page.max(1) => {
                    start = format!("({}", String::from_utf8_lossy(id));
                }
                _ => return Ok(out),
            }
        }
    }

    /// Publishes on the bus's own RESP connection (`resp.rs`): each `batch` of events
    /// is one write of pre-encoded `XADD`s whose replies are read as they come.
    async fn publish_resp<I>(&self, slot: &mut Option<RespConn>, events: I) -> Result<(), BusError>
    where
        I: IntoIterator<Item = Event> + Send,
        I::IntoIter: Send,
    {
        let inner = &self.inner;
        let c = &inner.config;
        let limit = Duration::from_millis(c.timeout_ms + 100);
        let mut events = events.into_iter().peekable();
        let mut segment = Vec::with_capacity(c.batch.min(events.size_hint().0.max(1)));
        let result = async {
            while events.peek().is_some() {
                if inner.closed.load(Ordering::Acquire) {
                    return Err(BusError::Closed);
                }
                let conn = match slot {
                    Some(conn) => conn,
                    None => {
                        let info = inner.client.get_connection_info();
                        let opened = tokio::time::timeout(limit, RespConn::connect(info))
                            .await
                            .map_err(|_| inner.timeout("connect", limit))?
                            .map_err(|e| inner.resp_error(e, "connect"))?;
                        slot.insert(opened)
                    }
                };
                segment.clear();
                segment.extend(events.by_ref().take(c.batch));
                let sent = conn.xadd_all(c.stream.as_bytes(), c.trim, &segment);
                let (ok, failed) = match tokio::time::timeout(limit, sent).await {
                    Ok(Ok(replies)) => replies,
                    Ok(Err(e)) => {
                        *slot = None;
                        return Err(inner.resp_error(e, "XADD"));
                    }
                    Err(_) => {
                        *slot = None;
                        return Err(inner.timeout("XADD", limit));
                    }
                };
                inner.published.fetch_add(ok as u64, Ordering::Relaxed);
                if let Some(e) = failed {
                    return Err(inner.resp_error(e, "XADD"));
                }
            }
            Ok(())
        }
        .await;
        if inner.closed.load(Ordering::Acquire) {
            // Shut down meanwhile: nothing more goes out on this connection.
            *slot = None;
        }
        result
    }

    fn xadd(&self, pipe: &mut Pipeline, event: &Event) {
        let c = &self.inner.config;
        let cmd = pipe.cmd("XADD").arg(c.stream.as_str());
        if let Trim::MaxLen(n) = c.trim {
            cmd.arg("MAXLEN").arg("~").arg(n);
        }
        cmd.arg("*")
            .arg(F_KIND)
            .arg(event.kind.name().as_bytes())
            .arg(F_WORKFLOW)
            .arg(event.workflow)
            .arg(F_TASK)
            .arg(event.task)
            .arg(F_AT)
            .arg(event.at_ns);
        if !event.payload.is_empty() {
            cmd.arg(F_PAYLOAD).arg(event.payload.as_bytes());
        }
        pipe.ignore();
    }
}

impl EventBus for RedisStreamsBus {
    type Subscription = RedisSubscription;

    async fn publish_batch<I>(&self, events: I) -> Result<(), BusError>
    where
        I: IntoIterator<Item = Event> + Send,
        I::IntoIter: Send,
    {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(BusError::Closed);
        }
        // The fast path when free; concurrent batches share the multiplexed connection.
        if let Ok(mut slot) = self.inner.publisher.try_lock() {
            return self.publish_resp(&mut slot, events).await;
        }
        let mut conn = self.conn()?;
        let batch = self.inner.config.batch;
        let mut pipe = Pipeline::with_capacity(batch.min(1024));
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            pipe.clear();
            for event in events.by_ref().take(batch) {
                self.xadd(&mut pipe, &event);
            }
            let n = pipe.len() as u64;
            self.inner.run_pipe(&mut conn, &pipe, "XADD").await?;
            self.inner.published.fetch_add(n, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn subscribe(&self, group: &str) -> Result<RedisSubscription, BusError> {
        let n = self.inner.consumers.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{}-{n}", hostname(), std::process::id());
        self.subscribe_as(group, &name).await
    }

    async fn shutdown(&self) -> Result<(), BusError> {
        self.inner.closed.store(true, Ordering::Release);
        self.inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // A batch in flight drops it itself when it ends (`publish_resp`).
        if let Ok(mut publisher) = self.inner.publisher.try_lock() {
            publisher.take();
        }
        Ok(())
    }
}

/// This machine's name (for consumer names unique across machines).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "host".into())
}
