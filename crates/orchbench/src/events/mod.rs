//! The event bus: the [`EventBus`] trait, the [`Event`] every backend carries, and
//! the choice of backend by URL ([`connect`]).
//!
//! Two backends share one contract:
//! - [`MemoryBus`] (`memory://`, the default): an in-process broadcast ring. Lossless:
//!   a slow subscriber makes publishers wait, nothing is ever dropped.
//! - [`RedisStreamsBus`] (`redis://host:port[/db]`): a Redis stream with consumer
//!   groups, for events that cross processes and machines. At least once: an event
//!   a consumer took but never acknowledged is reclaimed by another consumer.
//!
//! The contract, for both: every *group* sees every event published after it was
//! created, in publish order; the subscriptions of one group share its events (each
//! event goes to one of them). A subscription acknowledges a batch by asking for the
//! next one ([`Subscription::recv_batch`]) or explicitly ([`Subscription::ack`]).
//! `shutdown()` stops publishing, lets subscribers drain what was published, and
//! releases every connection and task.

mod event;
mod memory;
mod redis;

use std::future::Future;

pub use event::{DecodeError, Event, EventKind, Payload};
pub use memory::{MemoryBus, MemoryConfig, MemorySubscription};
pub use redis::{EntryId, RedisConfig, RedisStats, RedisStreamsBus, RedisSubscription, Trim};

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The URL could not be parsed or names an unknown scheme or option.
    #[error("bad event-bus URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A configuration value is out of range.
    #[error("bad event-bus setting {field} = {value}: {reason}")]
    BadConfig {
        /// The setting's name.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// The accepted range.
        reason: &'static str,
    },
    /// The bus was shut down; nothing more can be published.
    #[error("the event bus is shut down")]
    Closed,
    /// The Redis server could not be reached or did not answer in time.
    #[error("redis at {addr}: {what}: {source}")]
    Redis {
        /// The server address.
        addr: String,
        /// The operation that failed.
        what: &'static str,
        /// The client's error.
        #[source]
        source: ::redis::RedisError,
    },
    /// The server answered with something this client does not understand.
    #[error("redis at {addr}: unexpected reply to {what}: {detail}")]
    Protocol {
        /// The server address.
        addr: String,
        /// The command whose reply was unexpected.
        what: &'static str,
        /// The reply, abbreviated.
        detail: String,
    },
    /// A Redis operation did not complete within the configured timeout.
    #[error("redis at {addr}: {what} timed out after {timeout_ms} ms")]
    Timeout {
        /// The server address.
        addr: String,
        /// The operation.
        what: &'static str,
        /// The timeout that expired.
        timeout_ms: u64,
    },
}

/// A source of events for one consumer of one group.
pub trait Subscription: Send {
    /// Appends up to `max` events (at least one) to `out`, in order, waiting for them;
    /// returns how many were appended, or 0 once the bus is shut down and drained.
    /// Acknowledges the events the previous call returned.
    fn recv_batch(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
    ) -> impl Future<Output = Result<usize, BusError>> + Send;

    /// Acknowledges the events the last `recv_batch` returned, without asking for more.
    fn ack(&mut self) -> impl Future<Output = Result<(), BusError>> + Send;

    /// The next event, or `None` once the bus is shut down and drained.
    fn recv(&mut self) -> impl Future<Output = Result<Option<Event>, BusError>> + Send {
        async move {
            let mut one = Vec::with_capacity(1);
            Ok(match self.recv_batch(&mut one, 1).await? {
                0 => None,
                _ => one.pop(),
            })
        }
    }
}

/// A publish/subscribe event bus (see the module header for the contract).
pub trait EventBus: Send + Sync {
    /// The subscription type this backend hands out.
    type Subscription: Subscription;

    /// Publishes one event.
    fn publish(&self, event: Event) -> impl Future<Output = Result<(), BusError>> + Send {
        self.publish_batch(std::iter::once(event))
    }

    /// Publishes events in order, in as few round trips or lock acquisitions as the
    /// backend allows. On an error, a prefix of the events may have been published.
    fn publish_batch<I>(&self, events: I) -> impl Future<Output = Result<(), BusError>> + Send
    where
        I: IntoIterator<Item = Event> + Send,
        I::IntoIter: Send;

    /// Joins `group` (creating it at the end of the stream if new) as a new consumer.
    fn subscribe(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Self::Subscription, BusError>> + Send;

    /// Stops publishing and releases the backend's resources; subscribers drain what
    /// was already published, then see the end.
    fn shutdown(&self) -> impl Future<Output = Result<(), BusError>> + Send;
}

/// A bus of either backend, chosen at run time by [`connect`].
#[derive(Clone)]
pub enum AnyBus {
    /// The in-process bus.
    Memory(MemoryBus),
    /// The Redis Streams bus.
    Redis(RedisStreamsBus),
}

/// A subscription of an [`AnyBus`].
pub enum AnySubscription {
    /// On the in-process bus.
    Memory(MemorySubscription),
    /// On the Redis Streams bus.
    Redis(RedisSubscription),
}

/// The default bus URL: the in-process bus.
pub const DEFAULT_URL: &str = "memory://";

/// Opens the bus a URL names: `memory://[?capacity=N]` or
/// `redis://host:port[/db][?stream=NAME&batch=N&maxlen=N&...]` (see [`RedisConfig`]).
pub async fn connect(url: &str) -> Result<AnyBus, BusError> {
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s)
        .ok_or_else(|| BusError::BadUrl {
            url: url.to_owned(),
            reason: "expected SCHEME://..., e.g. memory:// or redis://127.0.0.1:6379".into(),
        })?;
    match scheme {
        "memory" => Ok(AnyBus::Memory(MemoryBus::new(MemoryConfig::from_url(
            url,
        )?)?)),
        "redis" => Ok(AnyBus::Redis(
            RedisStreamsBus::connect(RedisConfig::from_url(url)?).await?,
        )),
        other => Err(BusError::BadUrl {
            url: url.to_owned(),
            reason: format!("unknown scheme {other:?}; known: memory, redis"),
        }),
    }
}

impl Subscription for AnySubscription {
    async fn recv_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<usize, BusError> {
        match self {
            AnySubscription::Memory(s) => s.recv_batch(out, max).await,
            AnySubscription::Redis(s) => s.recv_batch(out, max).await,
        }
    }

    async fn ack(&mut self) -> Result<(), BusError> {
        match self {
            AnySubscription::Memory(s) => s.ack().await,
            AnySubscription::Redis(s) => s.ack().await,
        }
    }
}

impl EventBus for AnyBus {
    type Subscription = AnySubscription;

    async fn publish_batch<I>(&self, events: I) -> Result<(), BusError>
    where
        I: IntoIterator<Item = Event> + Send,
        I::IntoIter: Send,
    {
        match self {
            AnyBus::Memory(b) => b.publish_batch(events).await,
            AnyBus::Redis(b) => b.publish_batch(events).await,
        }
    }

    async fn subscribe(&self, group: &str) -> Result<AnySubscription, BusError> {
        Ok(match self {
            AnyBus::Memory(b) => AnySubscription::Memory(b.subscribe(group).await?),
            AnyBus::Redis(b) => AnySubscription::Redis(b.subscribe(group).await?),
        })
    }

    async fn shutdown(&self) -> Result<(), BusError> {
        match self {
            AnyBus::Memory(b) => b.shutdown().await,
            AnyBus::Redis(b) => b.shutdown().await,
        }
    }
}

/// One `key=value` option of a URL's query.
pub(crate) type UrlOption<'a> = (&'a str, &'a str);

/// Splits `scheme://rest?query` into the part before `?` and `(key, value)` pairs;
/// `known` lists the accepted keys (an unknown key is an error naming it).
pub(crate) fn split_query<'a>(
    url: &'a str,
    known: &[&str],
) -> Result<(&'a str, Vec<UrlOption<'a>>), BusError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| BusError::BadUrl {
            url: url.to_owned(),
            reason: format!("query part {part:?} is not KEY=VALUE"),
        })?;
        if !known.contains(&k) {
            return Err(BusError::BadUrl {
                url: url.to_owned(),
                reason: format!("unknown option {k:?}; known: {}", known.join(", ")),
            });
        }
        pairs.push((k, v));
    }
    Ok((base, pairs))
}

/// Parses one numeric URL option, naming it on failure.
pub(crate) fn parse_opt<T: std::str::FromStr>(
    url: &str,
    key: &str,
    value: &str,
) -> Result<T, BusError> {
    value.parse().map_err(|_| BusError::BadUrl {
        url: url.to_owned(),
        reason: format!("option {key}={value:?} is not a valid number"),
    })
}
