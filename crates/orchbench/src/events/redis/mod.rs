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

mod bus;
mod config;
mod conn;
mod reply;
mod resp;
mod subscription;

pub use bus::RedisStreamsBus;
pub use config::{RedisConfig, Trim};
pub use subscription::{EntryId, RedisStats, RedisSubscription};
