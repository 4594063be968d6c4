//! A [`RedisSubscription`]: one consumer of one group, reading new entries on a RESP
//! connection of its own, acknowledging with the next read, re-reading its own pending
//! entries, claiming orphaned ones, and dead-lettering what does not decode.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::{Cmd, Pipeline, Value};

use super::conn::Inner;
use super::reply::{Entry, as_bytes, decode_entry, field_bytes, stream_entries};
use super::resp::{
    RespConn, RespError, error_reply, int_reply, stream_reply_entries, stream_reply_len,
};
use crate::events::{BusError, Event, Subscription};

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

/// One consumer of one group on a [`RedisStreamsBus`](super::RedisStreamsBus), on connections of its own: a
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

impl RedisSubscription {
    /// A consumer `consumer` of `group` on its own connection `conn`, nothing read yet.
    pub(super) fn new(
        inner: Arc<Inner>,
        conn: ConnectionManager,
        group: &str,
        consumer: &str,
    ) -> RedisSubscription {
        RedisSubscription {
            inner,
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
        }
    }
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
