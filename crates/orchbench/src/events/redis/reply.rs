//! Reading the shapes of the server's replies: stream entries, field lists, ids, and
//! an entry decoded into an event or the reason it is not one.

use redis::Value;

use crate::events::Event;
use crate::events::event::decode;

/// One entry of a read, decoded.
pub(super) enum Entry {
    /// A pending entry deleted from the stream (trimmed): nothing to deliver.
    Deleted,
    /// An event.
    Event(Event),
    /// Not an event: its fields and why, for the dead-letter stream.
    Bad(Vec<Vec<u8>>, String),
}

/// An entry's flat field/value list as an event, or why it is not one.
pub(super) fn decode_entry(fields: &[&[u8]]) -> Entry {
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
pub(super) fn field_bytes(fields: &Value) -> Vec<Vec<u8>> {
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
pub(super) fn stream_entries(reply: Value) -> Result<Vec<Value>, Value> {
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

pub(super) fn as_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A RESP2 flat key/value array or a RESP3 map as pairs of (key bytes, value).
pub(super) fn map_pairs(v: &Value) -> Vec<(Vec<u8>, &Value)> {
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
pub(super) fn parse_id(id: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(id).ok()?;
    let (ms, seq) = s.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_parse() {
        assert_eq!(parse_id(b"1700000000000-5"), Some((1_700_000_000_000, 5)));
        assert_eq!(parse_id(b"nope"), None);
    }
}
