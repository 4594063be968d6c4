//! The Redis bus's settings: the server, the stream, batching, trimming and timeouts,
//! each settable as an option of the bus URL.

use crate::events::{BusError, parse_opt, split_query};

/// How the stream is kept from growing without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Never trimmed by the bus (trim with [`RedisStreamsBus::trim_acked`](super::RedisStreamsBus::trim_acked) or XTRIM).
    None,
    /// `XADD ... MAXLEN ~ N`: keep about the last N entries. Entries trimmed before a
    /// group read them are lost to it; size N for the longest lag you accept.
    MaxLen(u64),
}

/// Settings of a [`RedisStreamsBus`](super::RedisStreamsBus), each settable as a URL option.
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

    pub(super) fn validate(&self) -> Result<(), BusError> {
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
}
