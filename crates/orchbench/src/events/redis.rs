//! The Redis Streams backend: events cross processes and machines through one Redis
//! stream, consumed by consumer groups with at-least-once delivery.
//!
//! - Publishing is `XADD` (optionally `MAXLEN ~ N`), pipelined: a batch of events is
//!   `batch`-sized pipelines, one round trip each; concurrent single publishes share
//!   the multiplexed connection, which pipelines them too.
//! - A subscription is one consumer of one group, on its own connection (its blocking
//!   `XREADGROUP` must not stall the publisher's). Each read carries the previous
//!   batch's `XACK` in the same round trip. On its first read it re-delivers its own
//!   pending entries (a restarted consumer of the same name finishes what it took);
//!   every `claim_interval_ms` it takes over entries idle longer than `claim_idle_ms`
//!   from dead consumers (`XAUTOCLAIM`), so every event is processed at least once.
//! - An entry that does not decode goes to the dead-letter stream (`<stream>:dead`,
//!   with the original id, fields and the reason) and is acknowledged, so it never
//!   blocks the consumer.
//! - Connections are `redis::aio::ConnectionManager`s: after a server restart the next
//!   command reconnects; a command that fails meanwhile is an error, never a hang
//!   (every call is bounded by `timeout_ms`). If the restart lost the group, the
//!   subscription recreates it and reads the new stream from its start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, Value};

use super::event::{F_AT, F_KIND, F_PAYLOAD, F_TASK, F_WORKFLOW, decode};
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
            to_ack: Vec::new(),
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
                if let Ok(event) = decode_fields(fields) {
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

/// One consumer of one group on a [`RedisStreamsBus`], on its own connection.
pub struct RedisSubscription {
    inner: Arc<Inner>,
    conn: ConnectionManager,
    group: String,
    consumer: String,
    /// Ids of the last batch, acknowledged with the next read (or `ack`).
    to_ack: Vec<Vec<u8>>,
    own_pending_done: bool,
    claim_cursor: String,
    last_claim: Instant,
    stats: RedisStats,
}

/// Where the entries of one read come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    New,
    OwnPending,
    Claimed,
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
    /// when nothing arrived instead of waiting on.
    ///
    /// For a consumer that must stop cleanly: cancelling `recv_batch` while its blocking
    /// `XREADGROUP` is on the wire leaves that read running on the server, and what it
    /// then takes is delivered to this consumer but never seen (it stays pending until
    /// another consumer reclaims it). Polling and checking between polls avoids that.
    pub async fn poll_batch(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
    ) -> Result<usize, BusError> {
        self.read_once(out, max.max(1)).await
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
        let n = self.read_once(out, max.max(1)).await?;
        // After a read, the queue holds exactly that read's ids: the acks before it
        // were sent and cleared in its round trip (a failed round trip is an error).
        held.extend(self.to_ack.drain(..).map(EntryId));
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

    /// Sends the pending acks plus `read` in one round trip; returns `read`'s reply.
    async fn round_trip(
        &mut self,
        read: Option<Cmd>,
        what: &'static str,
    ) -> Result<Value, BusError> {
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
            let ack = replies.remove(0);
            match ack {
                Value::Int(n) => {
                    self.stats.acked += n.max(0) as u64;
                    self.to_ack.clear();
                }
                Value::ServerError(e) if e.code() == "NOGROUP" => self.to_ack.clear(),
                other => return Err(self.inner.protocol("XACK", &other)),
            }
        }
        Ok(replies.pop().unwrap_or(Value::Nil))
    }

    /// Decodes `entries` into `out` (dead-lettering garbage), remembering ids to ack.
    async fn absorb(
        &mut self,
        entries: Vec<Value>,
        out: &mut Vec<Event>,
        source: Source,
    ) -> Result<usize, BusError> {
        let mut dead: Vec<(Vec<u8>, Value, String)> = Vec::new();
        let mut n = 0;
        // If moving bad entries aside fails, the read is an error and its caller drops
        // what it got: nothing of it may then be acknowledged.
        let (out_before, ack_before) = (out.len(), self.to_ack.len());
        out.reserve(entries.len());
        self.to_ack.reserve(entries.len());
        for entry in entries {
            let Value::Array(mut parts) = entry else {
                return Err(self.inner.protocol("XREADGROUP", &entry));
            };
            let (Some(fields), Some(Value::BulkString(id)), None) =
                (parts.pop(), parts.pop(), parts.pop())
            else {
                return Err(self.inner.protocol("XREADGROUP", &Value::Array(parts)));
            };
            // A pending entry deleted from the stream (trimmed): nothing to deliver.
            if fields == Value::Nil {
                self.to_ack.push(id);
                continue;
            }
            match decode_fields(&fields) {
                Ok(event) => {
                    out.push(event);
                    n += 1;
                    self.to_ack.push(id);
                }
                Err(reason) => dead.push((id, fields, reason)),
            }
        }
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
                if let Value::Array(f) = fields {
                    for v in f.iter() {
                        cmd.arg(as_bytes(v).unwrap_or(b"?"));
                    }
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
    async fn recover_group(&mut self, reply: &Value) -> Result<bool, BusError> {
        if let Value::ServerError(e) = reply
            && e.code() == "NOGROUP"
        {
            let inner = self.inner.clone();
            inner.create_group(&mut self.conn, &self.group, "0").await?;
            self.claim_cursor = "0-0".into();
            return Ok(true);
        }
        Ok(false)
    }

    async fn read_once(&mut self, out: &mut Vec<Event>, max: usize) -> Result<usize, BusError> {
        // 1. Entries this consumer name took before (a restart) come first.
        if !self.own_pending_done {
            let reply = self
                .round_trip(Some(self.read_cmd(max, "0", false)), "XREADGROUP 0")
                .await?;
            if self.recover_group(&reply).await? {
                return Ok(0);
            }
            let entries =
                stream_entries(reply).map_err(|v| self.inner.protocol("XREADGROUP", &v))?;
            if entries.is_empty() {
                self.own_pending_done = true;
            } else {
                let n = self.absorb(entries, out, Source::OwnPending).await?;
                if n > 0 {
                    return Ok(n);
                }
                // All were dead or deleted: they are acked with the next round trip.
                return Ok(0);
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
            if self.recover_group(&reply).await? {
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
                let n = self.absorb(entries, out, Source::Claimed).await?;
                if n > 0 {
                    return Ok(n);
                }
            }
        }
        // 3. New entries, blocking up to block_ms.
        let reply = self
            .round_trip(Some(self.read_cmd(max, ">", true)), "XREADGROUP")
            .await?;
        if self.recover_group(&reply).await? {
            return Ok(0);
        }
        let entries = stream_entries(reply).map_err(|v| self.inner.protocol("XREADGROUP", &v))?;
        self.absorb(entries, out, Source::New).await
    }
}

impl Subscription for RedisSubscription {
    async fn recv_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<usize, BusError> {
        let max = max.max(1);
        loop {
            let closed = self.inner.closed.load(Ordering::Acquire);
            let n = self.read_once(out, max).await?;
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
        self.round_trip(None, "XACK").await.map(drop)
    }
}

/// An entry's field/value list as an event; `Err` says why it is not one.
fn decode_fields(fields: &Value) -> Result<Event, String> {
    match fields {
        Value::Array(f) if f.len() % 2 == 0 => {
            if f.iter().all(|v| as_bytes(v).is_some()) {
                let pairs = f.chunks_exact(2).map(|p| {
                    (
                        as_bytes(&p[0]).unwrap_or_default(),
                        as_bytes(&p[1]).unwrap_or_default(),
                    )
                });
                decode(pairs).map_err(|e| e.to_string())
            } else {
                Err("a field or value is not a string".into())
            }
        }
        _ => Err("fields are not a list of pairs".into()),
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
