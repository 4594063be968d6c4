//! The event every backend carries: an orchestrator lifecycle record (what happened
//! to which workflow and task, when) with an optional opaque payload, and its
//! encoding as Redis stream fields.

use std::sync::Arc;

use bytes::Bytes;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A workflow was submitted.
    WorkflowSubmitted,
    /// A workflow finished (every task ended).
    WorkflowFinished,
    /// A task entered the queue.
    TaskQueued,
    /// A worker started a task.
    TaskStarted,
    /// A task finished successfully.
    TaskFinished,
    /// A task failed.
    TaskFailed,
    /// A task was cancelled.
    TaskCancelled,
    /// An application-defined kind.
    Custom(u16),
}

impl EventKind {
    /// The wire name: `workflow.submitted`, `task.started`, …, `custom.N`.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            EventKind::WorkflowSubmitted => Borrowed("workflow.submitted"),
            EventKind::WorkflowFinished => Borrowed("workflow.finished"),
            EventKind::TaskQueued => Borrowed("task.queued"),
            EventKind::TaskStarted => Borrowed("task.started"),
            EventKind::TaskFinished => Borrowed("task.finished"),
            EventKind::TaskFailed => Borrowed("task.failed"),
            EventKind::TaskCancelled => Borrowed("task.cancelled"),
            EventKind::Custom(n) => std::borrow::Cow::Owned(format!("custom.{n}")),
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &[u8]) -> Option<EventKind> {
        Some(match name {
            b"workflow.submitted" => EventKind::WorkflowSubmitted,
            b"workflow.finished" => EventKind::WorkflowFinished,
            b"task.queued" => EventKind::TaskQueued,
            b"task.started" => EventKind::TaskStarted,
            b"task.finished" => EventKind::TaskFinished,
            b"task.failed" => EventKind::TaskFailed,
            b"task.cancelled" => EventKind::TaskCancelled,
            other => {
                let n = other.strip_prefix(b"custom.")?;
                EventKind::Custom(std::str::from_utf8(n).ok()?.parse().ok()?)
            }
        })
    }
}

/// One event: what happened to which workflow and task, when, and an opaque payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The workflow it concerns.
    pub workflow: u64,
    /// The task it concerns (within the workflow).
    pub task: u64,
    /// When it happened, nanoseconds since the Unix epoch (as the producer saw it).
    pub at_ns: u64,
    /// Application data (empty for plain lifecycle events).
    pub payload: Payload,
}

/// Opaque application data attached to an [`Event`]: one pointer in the event (so an
/// event is 40 bytes and the memory bus moves less than a cache line per event), the
/// bytes on the heap, shared by every copy — cloning is a reference-count increment, or
/// nothing at all when empty.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Payload(Option<Arc<Bytes>>);

impl Payload {
    /// An empty payload (no allocation).
    pub const EMPTY: Payload = Payload(None);

    /// A payload holding `bytes` (empty input gives the empty payload).
    pub fn new(bytes: impl Into<Bytes>) -> Payload {
        let bytes = bytes.into();
        Payload(if bytes.is_empty() {
            None
        } else {
            Some(Arc::new(bytes))
        })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], |b| b.as_ref())
    }

    /// The bytes as a `Bytes` handle (shared, not copied).
    pub fn to_bytes(&self) -> Bytes {
        self.0.as_deref().cloned().unwrap_or_default()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }
}

impl std::ops::Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl<T: Into<Bytes>> From<T> for Payload {
    fn from(bytes: T) -> Payload {
        Payload::new(bytes)
    }
}

impl Event {
    /// A lifecycle event without payload.
    pub fn new(kind: EventKind, workflow: u64, task: u64, at_ns: u64) -> Event {
        Event {
            kind,
            workflow,
            task,
            at_ns,
            payload: Payload::EMPTY,
        }
    }

    /// The same event with `payload` attached.
    pub fn with_payload(mut self, payload: impl Into<Payload>) -> Event {
        self.payload = payload.into();
        self
    }
}

/// Why a stream entry could not be decoded into an [`Event`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A required field is absent.
    #[error("field {0:?} is missing")]
    Missing(&'static str),
    /// A field's value is not what it should be.
    #[error("field {field:?} has a bad value {value:?}")]
    BadValue {
        /// The field.
        field: &'static str,
        /// Its value, lossily shown.
        value: String,
    },
    /// The entry is not a list of field/value pairs.
    #[error("the entry is not a list of field/value pairs: {0}")]
    Shape(String),
}

/// Field names on the wire (short: they are repeated in every stream entry).
pub(crate) const F_KIND: &[u8] = b"k";
pub(crate) const F_WORKFLOW: &[u8] = b"w";
pub(crate) const F_TASK: &[u8] = b"t";
pub(crate) const F_AT: &[u8] = b"ts";
pub(crate) const F_PAYLOAD: &[u8] = b"p";

fn parse_u64(field: &'static str, v: &[u8]) -> Result<u64, DecodeError> {
    let bad = || DecodeError::BadValue {
        field,
        value: String::from_utf8_lossy(v).into_owned(),
    };
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)
}

/// Decodes an entry's field/value pairs; unknown fields are ignored (forward
/// compatibility), required ones must be present and well formed.
pub(crate) fn decode<'a>(
    pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Event, DecodeError> {
    let (mut kind, mut workflow, mut task, mut at, mut payload) = (None, None, None, None, None);
    for (name, value) in pairs {
        match name {
            F_KIND => {
                kind = Some(
                    EventKind::parse(value).ok_or_else(|| DecodeError::BadValue {
                        field: "k",
                        value: String::from_utf8_lossy(value).into_owned(),
                    })?,
                )
            }
            F_WORKFLOW => workflow = Some(parse_u64("w", value)?),
            F_TASK => task = Some(parse_u64("t", value)?),
            F_AT => at = Some(parse_u64("ts", value)?),
            F_PAYLOAD => payload = Some(Payload::new(Bytes::copy_from_slice(value))),
            _ => {}
        }
    }
    Ok(Event {
        kind: kind.ok_or(DecodeError::Missing("k"))?,
        workflow: workflow.ok_or(DecodeError::Missing("w"))?,
        task: task.ok_or(DecodeError::Missing("t"))?,
        at_ns: at.ok_or(DecodeError::Missing("ts"))?,
        payload: payload.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_40_bytes() {
        // Ring slots move between cores once per event: keep them under a cache line.
        assert_eq!(std::mem::size_of::<Event>(), 40);
        assert_eq!(std::mem::size_of::<Payload>(), 8);
    }

    #[test]
    fn payloads_share_their_bytes() {
        let p = Payload::new(b"abc".to_vec());
        let q = p.clone();
        assert_eq!((&*q, q.len(), q.is_empty()), (&b"abc"[..], 3, false));
        assert!(Payload::new(Vec::new()).is_empty());
        assert_eq!(Payload::new(Vec::new()), Payload::EMPTY);
        assert_eq!(format!("{p:?}"), "Payload(\"abc\")");
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in [
            EventKind::WorkflowSubmitted,
            EventKind::WorkflowFinished,
            EventKind::TaskQueued,
            EventKind::TaskStarted,
            EventKind::TaskFinished,
            EventKind::TaskFailed,
            EventKind::TaskCancelled,
            EventKind::Custom(0),
            EventKind::Custom(65535),
        ] {
            assert_eq!(EventKind::parse(k.name().as_bytes()), Some(k));
        }
        assert_eq!(EventKind::parse(b"custom.65536"), None);
        assert_eq!(EventKind::parse(b"task.exploded"), None);
    }

    #[test]
    fn decoding_names_the_missing_or_bad_field() {
        let ok = [
            (F_KIND, &b"task.started"[..]),
            (F_WORKFLOW, b"7"),
            (F_TASK, b"9"),
            (F_AT, b"11"),
        ];
        let e = decode(ok.iter().copied()).unwrap();
        assert_eq!(e, Event::new(EventKind::TaskStarted, 7, 9, 11));
        assert_eq!(
            decode(ok[..3].iter().copied()),
            Err(DecodeError::Missing("ts"))
        );
        let bad = [
            (F_KIND, &b"task.started"[..]),
            (F_WORKFLOW, b"-1"),
            (F_TASK, b"9"),
            (F_AT, b"1"),
        ];
        assert_eq!(
            decode(bad.iter().copied()),
            Err(DecodeError::BadValue {
                field: "w",
                value: "-1".into()
            })
        );
        let huge = [
            (F_KIND, &b"task.started"[..]),
            (F_WORKFLOW, b"99999999999999999999"),
            (F_TASK, b"9"),
            (F_AT, b"1"),
        ];
        assert!(matches!(
            decode(huge.iter().copied()),
            Err(DecodeError::BadValue { field: "w", .. })
        ));
    }
}
