//! The Redis Streams backend: events cross processes and machines through one Redis
//! stream, consumed by consumer groups with at-least-once delivery.
//!
//! - Publishing is `XADD` (optionally `MAXLEN ~ N`), pipelined: a batch of events is
//!   `batch`-sized pipelines, one round trip each, on the bus's own RESP connection
//!   (`resp.rs`: encoded into one buffer, replies counted without `redis::Value`s). A
//!   batch that finds it busy, and concurrent single publishes, share the redis crate's
//!   multiplexed connection, which pipelines them too.
//! - A subscription is one consumer of one group, on connections of its own (its
//!   blocking `XREADGROUP` must not stall the publisher's). New entries are read on a
//!   RESP connection and decoded in place; each read carries the previous batch's
//!   `XACK` in the same round trip, and after a full batch `recv_batch` sends the next
//!   read before decoding this one. On its first read it re-delivers its own pending
//!   entries (a restarted consumer of the same name finishes what it took); every
//!   `claim_interval_ms` it takes over entries idle longer than `claim_idle_ms` from
//!   dead consumers (`XAUTOCLAIM`), so every event is processed at least once.
//! - An entry that does not decode goes to the dead-letter stream (`<stream>:dead`,
//!   with the original id, fields and the reason) and is acknowledged, so it never
//!   blocks the consumer.
//! - The redis crate's connections are `redis::aio::ConnectionManager`s: after a server
//!   restart the next command reconnects; the RESP connections are dropped on any
//!   failure and opened again by the next call. A command that fails meanwhile is an
//!   error, never a hang (every call is bounded by `timeout_ms`). If the restart lost
//!   the group, the subscription recreates it and reads the new stream from its start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, Value};

use super::event::{F_AT, F_KIND, F_PAYLOAD, F_TASK, F_WORKFLOW, decode};
use super::resp::{
    RespConn, RespError, error_reply, int_reply, stream_reply_entries, stream_reply_len,
};
use super::{BusError, Event, EventBus, Subscription, parse_opt, split_query};

/// How the stream is kept from growing without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Never trimmed by the bus (trim with [`RedisStreamsBus::trim_acked`] or XTRIM).
    None,
    /// `XADD ... MAXLEN ~ N`: keep about the last N entries. Entries trimmed before a
    /// group read them are lost to it; size N for the longest lag you accept.
    MaxLen(u64),
}

/// Settings of a [`RedisStreamsBus`], each settable as a URL option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// The server URL without the bus's options: `redis://host:port[/db]`.
    pub server: String,
    /// The stream key (URL option `stream`), default `orchbench:events`.
    pub stream: String,
    /// Events per pipelined round trip when publishing (URL option `batch`), default 1000.
    pub batch: usize,
    /// Trimming (URL option `maxlen`), default none.
    pub trim: Trim,
    /// How long one `XREADGROUP` blocks waiting for entries (URL option `block_ms`), default 1000.
    pub block_ms: u64,
    /// An entry pending this long is presumed orphaned and reclaimed (URL option `claim_idle_ms`),
    /// default 30 000.
    pub claim_idle_ms: u64,
    /// How often a subscription looks for orphaned entries (URL option `claim_interval_ms`),
    /// default 1000.
    pub claim_interval_ms: u64,
    /// Bound on connecting and on every command (URL option `timeout_ms`), default 5000.
    pub timeout_ms: u64,
}

const URL_OPTIONS: &[&str] = &[
    "stream",
    "batch",
    "maxlen",
    "block_ms",
    "claim_idle_ms",
    "claim_interval_ms",
    "timeout_ms",
];

impl RedisConfig {
    /// Defaults for the server at `server` (`redis://host:port[/db]`).
    pub fn new(server: impl Into<String>) -> RedisConfig {
        RedisConfig {
            server: server.into(),
            stream: "orchbench:events".into(),
            batch: 1000,
            trim: Trim::None,
            block_ms: 1000,
            claim_idle_ms: 30_000,
            claim_interval_ms: 1000,
            timeout_ms: 5000,
        }
    }

    /// Parses `redis://host:port[/db][?stream=S&batch=N&maxlen=N&block_ms=N&...]`.
    pub fn from_url(url: &str) -> Result<RedisConfig, BusError> {
        let (base, pairs) = split_query(url, URL_OPTIONS)?;
        let mut c = RedisConfig::new(base);
        for (k, v) in pairs {
            match k {
                "stream" if v.is_empty() => {
                    return Err(BusError::BadUrl {
                        url: url.into(),
                        reason: "stream= is empty".into(),
                    });
                }
                "stream" => c.stream = v.to_owned(),
                "batch" => c.batch = parse_opt(url, k, v)?,
                "maxlen" => c.trim = Trim::MaxLen(parse_opt(url, k, v)?),
                "block_ms" => c.block_ms = parse_opt(url, k, v)?,
                "claim_idle_ms" => c.claim_idle_ms = parse_opt(url, k, v)?,
                "claim_interval_ms" => c.claim_interval_ms = parse_opt(url, k, v)?,
                _ => c.timeout_ms = parse_opt(url, k, v)?,
            }
        }
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), BusError> {
        let bad = |field, value: u64, reason| {
            Err(BusError::BadConfig {
                field,
                value: value.to_string(),
                reason,
            })
        };
        if self.batch == 0 || self.batch > 100_000 {
            return bad("batch", self.batch as u64, "must be between 1 and 100000");
        }
        if let Trim::MaxLen(0) = self.trim {
            return bad("maxlen", 0, "must be at least 1");
        }
        if self.timeout_ms == 0 {
            return bad("timeout_ms", 0, "must be at least 1");
        }
        if self.claim_idle_ms == 0 {
            return bad(
                "claim_idle_ms",
                0,
                "must be at least 1 (0 would steal live consumers' work)",
            );
        }
        Ok(())
    }

    /// The dead-letter stream's key: `<stream>:dead`.
    pub fn dead_letter_stream(&self) -> String {
        format!("{}:dead", self.stream)
    }
}

struct Inner {
    config: RedisConfig,
    addr: String,
    client: redis::Client,
    /// The publisher's connection; taken by `shutdown`.
    conn: Mutex<Option<ConnectionManager>>,
    /// The batch publisher's own RESP connection (`resp.rs`), opened on first use and
    /// dropped after any failure; a batch that finds it busy takes `conn` instead.
    publisher: tokio::sync::Mutex<Option<RespConn>>,
    closed: Arc<AtomicBool>,
    published: AtomicU64,
    consumers: AtomicU64,
}

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

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(200))
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
        Ok(RedisSubscription {
            inner: self.inner.clone(),
            conn,
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            hot: None,
            to_ack: Vec::new(),
            last_read_ids: 0,
            own_pending_done: false,
            claim_cursor: "0-0".into(),
            last_claim: Instant::now(),
            stats: RedisStats::default(),
        })
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

impl Inner {
    async fn open(
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

    fn resp_error(&self, e: RespError, what: &'static str) -> BusError {
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

    fn timeout(&self, what: &'static str, after: Duration) -> BusError {
        BusError::Timeout {
            addr: self.addr.clone(),
            what,
            timeout_ms: after.as_millis() as u64,
        }
    }

    fn protocol(&self, what: &'static str, v: &Value) -> BusError {
        let mut detail = format!("{v:?}");
        detail.truncate(200);
        BusError::Protocol {
            addr: self.addr.clone(),
            what,
            detail,
        }
    }

    /// One command, bounded by the configured timeout (plus the block time for reads).
    async fn run(
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
    async fn run_pipe(
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
    async fn create_group(
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

/// Counters of one [`RedisSubscription`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Events handed to the caller.
    pub delivered: u64,
    /// Of those, events delivered before (own pending entries re-read, or entries
    /// claimed from another consumer): the possible duplicates of at-least-once.
    pub redelivered: u64,
    /// Entries claimed from other consumers.
    pub claimed: u64,
    /// Entries that did not decode and went to the dead-letter stream.
    pub dead_lettered: u64,
    /// Entries acknowledged.
    pub acked: u64,
}

/// A stream entry's id (`<ms>-<seq>`), as handed out by
/// [`RedisSubscription::poll_batch_held`] for a later [`RedisSubscription::ack_later`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntryId(Vec<u8>);

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// One consumer of one group on a [`RedisStreamsBus`], on connections of its own: a
/// RESP connection for reading new entries (`resp.rs`, decoded in place into events)
/// and a redis crate connection for everything else.
pub struct RedisSubscription {
    inner: Arc<Inner>,
    conn: ConnectionManager,
    /// The connection new entries are read on; `None` until the first such read, and
    /// after any failure (the next read opens a new one).
    hot: Option<Box<Hot>>,
    group: String,
    consumer: String,
    /// Ids of the last batch, acknowledged with the next read (or `ack`).
    to_ack: Vec<Vec<u8>>,
    /// How many ids at the end of `to_ack` the latest read added.
    last_read_ids: usize,
    own_pending_done: bool,
    claim_cursor: String,
    last_claim: Instant,
    stats: RedisStats,
}

/// The reading connection and the read on it, if one is under way.
struct Hot {
    conn: RespConn,
    state: HotState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HotState {
    /// No read outstanding.
    Idle,
    /// A read was sent after an `XACK` of the first `acks` ids of `to_ack` (0: none);
    /// no reply read yet.
    Sent { acks: usize },
    /// The read's reply is whole in the buffer, its acks settled.
    Landed,
}

/// Where the entries of one read come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    New,
    OwnPending,
    Claimed,
}

/// One entry of a read, decoded.
enum Entry {
    /// A pending entry deleted from the stream (trimmed): nothing to deliver.
    Deleted,
    /// An event.
    Event(Event),
    /// Not an event: its fields and why, for the dead-letter stream.
    Bad(Vec<Vec<u8>>, String),
}

impl RedisSubscription {
    /// This consumer's name within its group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The group this subscription belongs to.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Counters so far.
    pub fn stats(&self) -> RedisStats {
        self.stats
    }

    /// One read, never longer than `block_ms` (plus a round trip): like
    /// [`Subscription::recv_batch`], acknowledging the previous batch, but returns 0
    /// when nothing arrived instead of waiting on, and never reads ahead.
    ///
    /// For a consumer that must stop cleanly: cancelling `recv_batch` while its blocking
    /// `XREADGROUP` is on the wire leaves that read running on the server, and what it
    /// then takes is delivered to this consumer but never seen (it stays pending until
    /// another consumer reclaims it); so does the read `recv_batch` sends ahead after a
    /// full batch. Polling and checking between polls avoids both.
    pub async fn poll_batch(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
    ) -> Result<usize, BusError> {
        self.read_once(out, max.max(1), false).await
    }

    /// Like [`RedisSubscription::poll_batch`] (one read, at most `block_ms`, sending the
    /// acknowledgements queued so far), but the entries read are *not* acknowledged with
    /// the next read: their ids go to `held`, and they stay pending until they are
    /// handed to [`RedisSubscription::ack_later`]. This lets a consumer read ahead
    /// while it still works on what it read before, acknowledging each entry only when
    /// its work is done. Entries held past the group's `claim_idle_ms` are taken over
    /// by other consumers.
    pub async fn poll_batch_held(
        &mut self,
        out: &mut Vec<Event>,
        held: &mut Vec<EntryId>,
        max: usize,
    ) -> Result<usize, BusError> {
        let n = self.read_once(out, max.max(1), false).await?;
        // The read's own ids are the last ones queued; acks queued before it that it
        // did not carry stay queued.
        let from = self.to_ack.len() - self.last_read_ids;
        held.extend(self.to_ack.drain(from..).map(EntryId));
        self.last_read_ids = 0;
        Ok(n)
    }

    /// Queues `ids` (from [`RedisSubscription::poll_batch_held`]) to be acknowledged with
    /// the next read, or by [`Subscription::ack`].
    pub fn ack_later(&mut self, ids: impl IntoIterator<Item = EntryId>) {
        self.to_ack.extend(ids.into_iter().map(|id| id.0));
    }

    fn push_ack(&self, pipe: &mut Pipeline) {
        if !self.to_ack.is_empty() {
            let cmd = pipe
                .cmd("XACK")
                .arg(self.inner.config.stream.as_str())
                .arg(self.group.as_str());
            for id in &self.to_ack {
                cmd.arg(id.as_slice());
            }
        }
    }

    /// Counts an XACK's reply: acknowledged, or moot because the group is gone.
    fn settle_ack(&mut self, ack: Value) -> Result<(), BusError> {
        match ack {
            Value::Int(n) => {
                self.stats.acked += n.max(0) as u64;
                Ok(())
            }
            Value::ServerError(e) if e.code() == "NOGROUP" => Ok(()),
            other => Err(self.inner.protocol("XACK", &other)),
        }
    }

    /// Sends the pending acks plus `read` in one round trip on the redis crate's
    /// connection; returns `read`'s reply. Never while a read sent on the reading
    /// connection has not been landed: the acks it carries would be sent twice
    /// (harmless) and taken off `to_ack` wrongly when it lands.
    async fn round_trip(
        &mut self,
        read: Option<Cmd>,
        what: &'static str,
    ) -> Result<Value, BusError> {
        debug_assert!(
            self.hot
                .as_ref()
                .is_none_or(|h| !matches!(h.state, HotState::Sent { .. })),
            "a round trip while a read and its acks are outstanding"
        );
        let mut pipe = Pipeline::new();
        // Per-command replies, errors included: a NOGROUP is handled, not fatal.
        pipe.ignore_errors();
        self.push_ack(&mut pipe);
        let acks = !self.to_ack.is_empty();
        if let Some(read) = read {
            pipe.add_command(read);
        }
        if pipe.is_empty() {
            return Ok(Value::Nil);
        }
        let mut replies = self.inner.run_pipe(&mut self.conn, &pipe, what).await?;
        if acks {
            self.settle_ack(replies.remove(0))?;
            self.to_ack.clear();
        }
        Ok(replies.pop().unwrap_or(Value::Nil))
    }

    /// Hands decoded entries to `out`, remembering the ids to ack, and moves bad ones
    /// to the dead-letter stream (acknowledged with it).
    async fn absorb(
        &mut self,
        entries: Vec<(Vec<u8>, Entry)>,
        out: &mut Vec<Event>,
        source: Source,
    ) -> Result<usize, BusError> {
        let mut dead: Vec<(Vec<u8>, Vec<Vec<u8>>, String)> = Vec::new();
        let mut n = 0;
        // If moving bad entries aside fails, the read is an error and its caller drops
        // what it got: nothing of it may then be acknowledged.
        let (out_before, ack_before) = (out.len(), self.to_ack.len());
        out.reserve(entries.len());
        self.to_ack.reserve(entries.len());
        for (id, entry) in entries {
            match entry {
                Entry::Deleted => self.to_ack.push(id),
                Entry::Event(event) => {
                    out.push(event);
                    n += 1;
                    self.to_ack.push(id);
                }
                Entry::Bad(fields, reason) => dead.push((id, fields, reason)),
            }
        }
        self.last_read_ids = self.to_ack.len() - ack_before;
        self.stats.delivered += n as u64;
        if source != Source::New {
            self.stats.redelivered += n as u64;
        }
        if !dead.is_empty() {
            // Move the bad entries aside and acknowledge them, in one round trip.
            let stream = self.inner.config.stream.as_str();
            let dead_stream = self.inner.config.dead_letter_stream();
            let mut pipe = Pipeline::new();
            for (id, fields, reason) in &dead {
                let cmd = pipe.cmd("XADD").arg(dead_stream.as_str()).arg("*");
                cmd.arg("source_id")
                    .arg(id.as_slice())
                    .arg("group")
                    .arg(self.group.as_str());
                cmd.arg("reason").arg(reason.as_str());
                for f in fields {
                    cmd.arg(f.as_slice());
                }
                pipe.ignore();
            }
            let ack = pipe.cmd("XACK").arg(stream).arg(self.group.as_str());
            for (id, _, _) in &dead {
                ack.arg(id.as_slice());
            }
            pipe.ignore();
            if let Err(e) = self
                .inner
                .run_pipe(&mut self.conn, &pipe, "XADD dead-letter")
                .await
            {
                out.truncate(out_before);
                self.to_ack.truncate(ack_before);
                self.last_read_ids = 0;
                self.stats.delivered -= n as u64;
                if source != Source::New {
                    self.stats.redelivered -= n as u64;
                }
                return Err(e);
            }
            self.stats.dead_lettered += dead.len() as u64;
        }
        Ok(n)
    }

    /// The entries of a reply parsed by the redis crate, decoded.
    fn entries_of(&self, entries: Vec<Value>) -> Result<Vec<(Vec<u8>, Entry)>, BusError> {
        entries
            .into_iter()
            .map(|entry| {
                let Value::Array(mut parts) = entry else {
                    return Err(self.inner.protocol("XREADGROUP", &entry));
                };
                let (Some(fields), Some(Value::BulkString(id)), None) =
                    (parts.pop(), parts.pop(), parts.pop())
                else {
                    return Err(self.inner.protocol("XREADGROUP", &Value::Array(parts)));
                };
                let entry = match &fields {
                    Value::Nil => Entry::Deleted,
                    Value::Array(f) => {
                        let f: Option<Vec<&[u8]>> = f.iter().map(as_bytes).collect();
                        match f {
                            Some(f) => decode_entry(&f),
                            None => Entry::Bad(
                                field_bytes(&fields),
                                "a field or value is not a string".into(),
                            ),
                        }
                    }
                    _ => Entry::Bad(
                        field_bytes(&fields),
                        "fields are not a list of pairs".into(),
                    ),
                };
                Ok((id, entry))
            })
            .collect()
    }

    fn read_cmd(&self, max: usize, start: &str, block: bool) -> Cmd {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(self.group.as_str())
            .arg(self.consumer.as_str())
            .arg("COUNT")
            .arg(max);
        if block {
            cmd.arg("BLOCK").arg(self.inner.config.block_ms);
        }
        cmd.arg("STREAMS")
            .arg(self.inner.config.stream.as_str())
            .arg(start);
        cmd
    }

    /// Handles a NOGROUP error (the server restarted without its data): recreate the
    /// group at the stream's start so nothing published since is missed.
    async fn recover_group(&mut self) -> Result<(), BusError> {
        let inner = self.inner.clone();
        inner.create_group(&mut self.conn, &self.group, "0").await?;
        self.claim_cursor = "0-0".into();
        Ok(())
    }

    fn is_nogroup(reply: &Value) -> bool {
        matches!(reply, Value::ServerError(e) if e.code() == "NOGROUP")
    }

    /// Queues, on the reading connection, the acks and a read of new entries.
    fn queue_read(&self, hot: &mut Hot, max: usize, block: bool) {
        let c = &self.inner.config;
        let acks = self.to_ack.len();
        if acks > 0 {
            let mut args: Vec<&[u8]> = Vec::with_capacity(acks + 3);
            args.extend([&b"XACK"[..], c.stream.as_bytes(), self.group.as_bytes()]);
            args.extend(self.to_ack.iter().map(Vec::as_slice));
            hot.conn.queue(&args);
        }
        let (count, block_ms) = (max.to_string(), c.block_ms.to_string());
        let mut args: Vec<&[u8]> = vec![
            b"XREADGROUP",
            b"GROUP",
            self.group.as_bytes(),
            self.consumer.as_bytes(),
            b"COUNT",
            count.as_bytes(),
        ];
        if block {
            args.extend([&b"BLOCK"[..], block_ms.as_bytes()]);
        }
        args.extend([&b"STREAMS"[..], c.stream.as_bytes(), b">"]);
        hot.conn.queue(&args);
        hot.state = HotState::Sent { acks };
    }

    /// Reads the replies of the read outstanding on `hot` until its entries are whole
    /// in the buffer, settling the acks it carried.
    async fn land(&mut self, hot: &mut Hot) -> Result<(), BusError> {
        let HotState::Sent { acks } = hot.state else {
            return Ok(());
        };
        if acks > 0 {
            let reply = hot
                .conn
                .peek_reply()
                .await
                .map_err(|e| self.inner.resp_error(e, "XACK"))?;
            match (int_reply(reply), error_reply(reply)) {
                (Some(n), _) => self.stats.acked += n.max(0) as u64,
                (_, Some(RespError::Server(e))) if e.code() == Some("NOGROUP") => {}
                _ => {
                    let detail = String::from_utf8_lossy(reply).into_owned();
                    return Err(BusError::Protocol {
                        addr: self.inner.addr.clone(),
                        what: "XACK",
                        detail,
                    });
                }
            }
            hot.conn.consume();
            self.to_ack.drain(..acks);
            hot.state = HotState::Sent { acks: 0 };
        }
        hot.conn
            .peek_reply()
            .await
            .map_err(|e| self.inner.resp_error(e, "XREADGROUP"))?;
        hot.state = HotState::Landed;
        Ok(())
    }

    /// A read of new entries on the reading connection: the one outstanding if any
    /// (sent ahead, or landed by `ack`), else a new one (blocking up to `block_ms` when
    /// `block`). With `ahead`, a full batch sends the next read before it is decoded,
    /// so the server takes the next entries while this batch is decoded and worked on.
    async fn read_new(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        block: bool,
        ahead: bool,
    ) -> Result<usize, BusError> {
        let c = &self.inner.config;
        let limit = Duration::from_millis(c.timeout_ms + c.block_ms + 100);
        let mut hot = match self.hot.take() {
            Some(hot) => hot,
            None => {
                let info = self.inner.client.get_connection_info();
                let conn = tokio::time::timeout(limit, RespConn::connect(info))
                    .await
                    .map_err(|_| self.inner.timeout("connect", limit))?
                    .map_err(|e| self.inner.resp_error(e, "connect"))?;
                Box::new(Hot {
                    conn,
                    state: HotState::Idle,
                })
            }
        };
        // Cancelled or failed anywhere below, `hot` is dropped with its connection
        // (the next read opens another): the acks it carried are still queued.
        let io = async {
            if hot.state == HotState::Idle {
                self.queue_read(&mut hot, max, block);
                hot.conn
                    .send()
                    .await
                    .map_err(|e| self.inner.resp_error(e, "XREADGROUP"))?;
            }
            self.land(&mut hot).await
        };
        match tokio::time::timeout(limit, io).await {
            Ok(r) => r?,
            Err(_) => return Err(self.inner.timeout("XREADGROUP", limit)),
        }
        let reply = hot.conn.peeked();
        // Send the next read now when this one was full and nothing else is due.
        let claim_due =
            self.last_claim.elapsed() >= Duration::from_millis(self.inner.config.claim_interval_ms);
        let again = ahead && !claim_due && stream_reply_len(reply) >= max;
        let mut entries = Vec::with_capacity(max.min(4096));
        let parsed = stream_reply_entries(reply, |id, fields| {
            let entry = match fields {
                None => Entry::Deleted,
                Some(f) => decode_entry(f),
            };
            entries.push((id.to_vec(), entry));
        });
        hot.conn.consume();
        hot.state = HotState::Idle;
        match parsed {
            Ok(None) => {}
            Ok(Some(RespError::Server(e))) if e.code() == Some("NOGROUP") => {
                self.hot = Some(hot);
                self.recover_group().await?;
                return Ok(0);
            }
            Ok(Some(e)) | Err(e) => return Err(self.inner.resp_error(e, "XREADGROUP")),
        }
        if again {
            self.queue_read(&mut hot, max, false);
            // If it fails, this batch is still fine; the next read opens a new connection.
            if let Ok(Ok(())) = tokio::time::timeout(limit, hot.conn.send()).await {
                self.hot = Some(hot);
            }
        } else {
            self.hot = Some(hot);
        }
        self.absorb(entries, out, Source::New).await
    }

    /// One read (see `read_new` for `ahead`).
    async fn read_once(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        ahead: bool,
    ) -> Result<usize, BusError> {
        self.last_read_ids = 0;
        // 0. A read outstanding (sent ahead, or landed by `ack`) is delivered first.
        if self.hot.as_ref().is_some_and(|h| h.state != HotState::Idle) {
            let n = self.read_new(out, max, false, ahead).await?;
            if n > 0 || self.hot.as_ref().is_some_and(|h| h.state != HotState::Idle) {
                return Ok(n);
            }
        }
        // 1. Entries this consumer name took before (a restart) come first.
        if !self.own_pending_done {
            let reply = self
                .round_trip(Some(self.read_cmd(max, "0", false)), "XREADGROUP 0")
                .await?;
            if Self::is_nogroup(&reply) {
                self.recover_group().await?;
                return Ok(0);
            }
            let entries =
                stream_entries(reply).map_err(|v| self.inner.protocol("XREADGROUP", &v))?;
            if entries.is_empty() {
                self.own_pending_done = true;
            } else {
                let entries = self.entries_of(entries)?;
                // All dead or deleted gives 0: they are acked with the next round trip.
                return self.absorb(entries, out, Source::OwnPending).await;
            }
        }
        // 2. Orphans of dead consumers, every claim_interval.
        if self.last_claim.elapsed() >= Duration::from_millis(self.inner.config.claim_interval_ms) {
            self.last_claim = Instant::now();
            let mut cmd = redis::cmd("XAUTOCLAIM");
            cmd.arg(self.inner.config.stream.as_str())
                .arg(self.group.as_str())
                .arg(self.consumer.as_str())
                .arg(self.inner.config.claim_idle_ms)
                .arg(self.claim_cursor.as_str())
                .arg("COUNT")
                .arg(max);
            let reply = self.round_trip(Some(cmd), "XAUTOCLAIM").await?;
            if Self::is_nogroup(&reply) {
                self.recover_group().await?;
                return Ok(0);
            }
            let bad = self.inner.protocol("XAUTOCLAIM", &reply);
            let Value::Array(mut parts) = reply else {
                return Err(bad);
            };
            parts.truncate(2);
            let (Some(Value::Array(entries)), Some(Value::BulkString(next))) =
                (parts.pop(), parts.pop())
            else {
                return Err(bad);
            };
            self.claim_cursor = String::from_utf8_lossy(&next).into_owned();
            if self.claim_cursor != "0-0" {
                // More to scan: come back at once rather than after an interval.
                self.last_claim -= Duration::from_millis(self.inner.config.claim_interval_ms);
            }
            if !entries.is_empty() {
                self.stats.claimed += entries.len() as u64;
                let entries = self.entries_of(entries)?;
                let n = self.absorb(entries, out, Source::Claimed).await?;
                if n > 0 {
                    return Ok(n);
                }
            }
        }
        // 3. New entries, blocking up to block_ms, on the reading connection.
        self.read_new(out, max, true, ahead).await
    }
}

impl Subscription for RedisSubscription {
    async fn recv_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<usize, BusError> {
        let max = max.max(1);
        loop {
            let closed = self.inner.closed.load(Ordering::Acquire);
            let n = self.read_once(out, max, true).await?;
            if n > 0 {
                return Ok(n);
            }
            if closed {
                // Drained: what was published before shutdown has been read.
                self.ack().await?;
                return Ok(0);
            }
        }
    }

    async fn ack(&mut self) -> Result<(), BusError> {
        // A read sent ahead carries acks too: land it (keeping what it read for the
        // next call), then acknowledge what is still queued.
        if let Some(mut hot) = self.hot.take() {
            let c = &self.inner.config;
            let limit = Duration::from_millis(c.timeout_ms + c.block_ms + 100);
            match tokio::time::timeout(limit, self.land(&mut hot)).await {
                Ok(r) => r?,
                Err(_) => return Err(self.inner.timeout("XREADGROUP", limit)),
            }
            self.hot = Some(hot);
        }
        self.round_trip(None, "XACK").await.map(drop)
    }
}

/// An entry's flat field/value list as an event, or why it is not one.
fn decode_entry(fields: &[&[u8]]) -> Entry {
    if !fields.len().is_multiple_of(2) {
        return Entry::Bad(
            fields.iter().map(|f| f.to_vec()).collect(),
            "fields are not a list of pairs".into(),
        );
    }
    let pairs = fields.chunks_exact(2).map(|p| (p[0], p[1]));
    match decode(pairs) {
        Ok(event) => Entry::Event(event),
        Err(e) => Entry::Bad(fields.iter().map(|f| f.to_vec()).collect(), e.to_string()),
    }
}

/// A reply's strings as bytes (`?` for what is not one), for the dead-letter stream.
fn field_bytes(fields: &Value) -> Vec<Vec<u8>> {
    match fields {
        Value::Array(f) => f
            .iter()
            .map(|v| as_bytes(v).unwrap_or(b"?").to_vec())
            .collect(),
        _ => Vec::new(),
    }
}

/// The entries of the one stream in an XREADGROUP reply (empty on a block timeout);
/// `Err` carries the reply if it has another shape.
fn stream_entries(reply: Value) -> Result<Vec<Value>, Value> {
    match reply {
        Value::Nil => Ok(Vec::new()),
        Value::Array(mut streams) if streams.len() <= 1 => match streams.pop() {
            None => Ok(Vec::new()),
            Some(Value::Array(mut kv)) if kv.len() == 2 => match kv.pop() {
                Some(Value::Array(entries)) => Ok(entries),
                other => Err(other.unwrap_or_default()),
            },
            Some(other) => Err(other),
        },
        Value::Map(mut streams) if streams.len() <= 1 => match streams.pop() {
            None => Ok(Vec::new()),
            Some((_, Value::Array(entries))) => Ok(entries),
            Some((_, other)) => Err(other),
        },
        other => Err(other),
    }
}

fn as_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A RESP2 flat key/value array or a RESP3 map as pairs of (key bytes, value).
fn map_pairs(v: &Value) -> Vec<(Vec<u8>, &Value)> {
    match v {
        Value::Array(a) => a
            .chunks_exact(2)
            .filter_map(|p| as_bytes(&p[0]).map(|k| (k.to_vec(), &p[1])))
            .collect(),
        Value::Map(m) => m
            .iter()
            .filter_map(|(k, v)| as_bytes(k).map(|k| (k.to_vec(), v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Parses a stream id `MS-SEQ`.
fn parse_id(id: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(id).ok()?;
    let (ms, seq) = s.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// This machine's name (for consumer names unique across machines).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_options_and_reject_unknown_ones() {
        let c = RedisConfig::from_url("redis://127.0.0.1:6400/2?stream=s1&batch=64&maxlen=5000")
            .unwrap();
        assert_eq!(c.server, "redis://127.0.0.1:6400/2");
        assert_eq!(
            (c.stream.as_str(), c.batch, c.trim),
            ("s1", 64, Trim::MaxLen(5000))
        );
        let e = RedisConfig::from_url("redis://h:1?bacth=3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown option \"bacth\""), "{e}");
        let e = RedisConfig::from_url("redis://h:1?batch=0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("batch = 0"), "{e}");
        let e = RedisConfig::from_url("redis://h:1?batch=x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("batch=\"x\""), "{e}");
    }

    #[test]
    fn stream_ids_parse() {
        assert_eq!(parse_id(b"1700000000000-5"), Some((1_700_000_000_000, 5)));
        assert_eq!(parse_id(b"nope"), None);
    }
}
