//! The Redis bus's publishing connection: a plain RESP2 socket that writes a batch of
//! `XADD`s encoded straight into one buffer and counts their replies without building
//! a `redis::Value` for each. The redis crate spends about 0.4 µs building and packing
//! one `XADD` of an event and as much again parsing its reply into a `Value`; this
//! spends well under a tenth of that, which is what lets one connection publish at
//! close to the server's own rate (docs/results.md).
//!
//! It owns only that hot path. Everything else (subscriptions, control commands,
//! publishes that find this connection busy) stays on the redis crate's connections.
//! A connection that fails (I/O error, timeout, a reply it cannot parse) is dropped by
//! its owner and a new one is opened for the next batch, as the redis crate's
//! `ConnectionManager` does.

use std::io;

use redis::{ConnectionAddr, ConnectionInfo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::config::Trim;
use crate::events::Event;
use crate::events::event::{F_AT, F_KIND, F_PAYLOAD, F_TASK, F_WORKFLOW};

/// `XADD`s per write: small enough that the server starts early, large enough that a
/// write is one system call per about 16 KiB.
const CHUNK: usize = 128;

/// A byte stream to the server (TCP or a Unix socket).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why a command on a [`RespConn`] failed.
#[derive(Debug)]
pub(crate) enum RespError {
    /// The socket failed or closed.
    Io(io::Error),
    /// The server answered with an error reply (`-ERR …`), as the redis crate parses it.
    Server(redis::RedisError),
    /// A reply this parser does not understand (the connection is then unusable).
    Protocol(String),
}

impl From<io::Error> for RespError {
    fn from(e: io::Error) -> RespError {
        RespError::Io(e)
    }
}

/// One reply, as far as the publisher cares.
enum Reply {
    /// Anything but an error.
    Fine,
    /// An error reply: the byte range of its line (`-…\r\n`).
    Error(usize, usize),
}

/// A RESP2 connection that sends pre-encoded pipelines (see the module header).
pub(crate) struct RespConn {
    io: Box<dyn Io>,
    /// Received bytes not parsed yet are `rbuf[rpos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    /// The pipeline being built.
    wbuf: Vec<u8>,
    /// Commands in `wbuf`.
    queued: usize,
    /// The end of the reply [`RespConn::peek_reply`] buffered (`rbuf[rpos..peeked]`).
    peeked: usize,
}

impl RespConn {
    /// Connects to the server `info` names, then authenticates and selects its database
    /// as the URL says (the caller bounds the time).
    pub(crate) async fn connect(info: &ConnectionInfo) -> Result<RespConn, RespError> {
        {
            let io: Box<dyn Io> = match info.addr() {
                ConnectionAddr::Tcp(host, port) => {
                    let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                    s.set_nodelay(true)?;
                    Box::new(s)
                }
                ConnectionAddr::Unix(path) => {
                    Box::new(tokio::net::UnixStream::connect(path).await?)
                }
                other => {
                    return Err(RespError::Io(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!("the publishing connection does not support {other}"),
                    )));
                }
            };
            let mut conn = RespConn {
                io,
                rbuf: Vec::with_capacity(64 * 1024),
                rpos: 0,
                wbuf: Vec::with_capacity(64 * 1024),
                queued: 0,
                peeked: 0,
            };
            let settings = info.redis_settings();
            if let Some(password) = settings.password() {
                match settings.username() {
                    Some(user) => conn.queue(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
                    None => conn.queue(&[b"AUTH", password.as_bytes()]),
                }
            }
            if settings.db() != 0 {
                conn.queue(&[b"SELECT", settings.db().to_string().as_bytes()]);
            }
            conn.flush_expect_fine().await?;
            Ok(conn)
        }
    }

    /// Appends one command of bulk-string arguments to the pipeline.
    pub(crate) fn queue(&mut self, args: &[&[u8]]) {
        array_header(&mut self.wbuf, args.len());
        for a in args {
            bulk(&mut self.wbuf, a);
        }
        self.queued += 1;
    }

    /// Sends an `XADD` of each event (see [`encode_xadd`]) and reads their replies.
    /// The events go out in chunks of [`CHUNK`], each written as soon as it is encoded,
    /// while the replies are read as they come: the server starts on the first chunk
    /// while the rest is being encoded. Returns how many succeeded, and the first error
    /// reply if any failed (a failed `XADD` does not stop the ones after it).
    pub(crate) async fn xadd_all(
        &mut self,
        stream: &[u8],
        trim: Trim,
        events: &[Event],
    ) -> Result<(usize, Option<RespError>), RespError> {
        let (mut reader, mut writer) = tokio::io::split(&mut self.io);
        let wbuf = &mut self.wbuf;
        let write = async {
            for chunk in events.chunks(CHUNK) {
                wbuf.clear();
                for event in chunk {
                    encode_xadd(wbuf, stream, trim, event);
                }
                writer.write_all(wbuf).await?;
            }
            wbuf.clear();
            writer.flush().await
        };
        let read = read_replies(&mut reader, &mut self.rbuf, &mut self.rpos, events.len());
        let (written, replies) = tokio::join!(write, read);
        written?;
        replies
    }

    /// Sends the queued commands without reading their replies (see
    /// [`RespConn::peek_reply`]).
    pub(crate) async fn send(&mut self) -> Result<(), RespError> {
        self.queued = 0;
        let written = self.io.write_all(&self.wbuf).await;
        self.wbuf.clear();
        written?;
        Ok(self.io.flush().await?)
    }

    /// Reads until the next reply is whole in the buffer and returns it, unconsumed
    /// ([`RespConn::consume`] moves past it).
    pub(crate) async fn peek_reply(&mut self) -> Result<&[u8], RespError> {
        loop {
            if let Some((end, _)) = parse_reply(&self.rbuf, self.rpos)? {
                self.peeked = end;
                return Ok(&self.rbuf[self.rpos..end]);
            }
            fill(&mut self.io, &mut self.rbuf, &mut self.rpos).await?;
        }
    }

    /// The reply [`RespConn::peek_reply`] returned last, if not consumed yet.
    pub(crate) fn peeked(&self) -> &[u8] {
        &self.rbuf[self.rpos..self.peeked.max(self.rpos)]
    }

    /// Moves past the reply [`RespConn::peek_reply`] returned.
    pub(crate) fn consume(&mut self) {
        self.rpos = self.peeked.max(self.rpos);
    }

    /// Sends the queued commands and reads all their replies.
    async fn flush(&mut self) -> Result<(usize, Option<RespError>), RespError> {
        let count = std::mem::take(&mut self.queued);
        self.io.write_all(&self.wbuf).await?;
        self.io.flush().await?;
        self.wbuf.clear();
        read_replies(&mut self.io, &mut self.rbuf, &mut self.rpos, count).await
    }

    /// [`RespConn::flush`] for commands that must all succeed (AUTH, SELECT).
    async fn flush_expect_fine(&mut self) -> Result<(), RespError> {
        match self.flush().await? {
            (_, Some(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

/// Reads `count` replies: how many were not errors, and the first error.
async fn read_replies<R: AsyncRead + Unpin>(
    reader: &mut R,
    rbuf: &mut Vec<u8>,
    rpos: &mut usize,
    count: usize,
) -> Result<(usize, Option<RespError>), RespError> {
    let (mut ok, mut first_error) = (0usize, None);
    for _ in 0..count {
        match next_reply(reader, rbuf, rpos).await? {
            Reply::Fine => ok += 1,
            Reply::Error(start, end) => {
                if first_error.is_none() {
                    first_error = Some(server_error(&rbuf[start..end]));
                }
            }
        }
    }
    Ok((ok, first_error))
}

/// Reads until one whole reply is in `rbuf[*rpos..]`, then consumes it.
async fn next_reply<R: AsyncRead + Unpin>(
    reader: &mut R,
    rbuf: &mut Vec<u8>,
    rpos: &mut usize,
) -> Result<Reply, RespError> {
    loop {
        if let Some((end, reply)) = parse_reply(rbuf, *rpos)? {
            *rpos = end;
            // An error's range stays valid until the next read compacts the buffer, and
            // the caller copies it out before asking for the next reply.
            return Ok(reply);
        }
        fill(reader, rbuf, rpos).await?;
    }
}

/// Keeps the unparsed tail of `rbuf` only, then reads more into it.
async fn fill<R: AsyncRead + Unpin>(
    reader: &mut R,
    rbuf: &mut Vec<u8>,
    rpos: &mut usize,
) -> Result<(), RespError> {
    if *rpos > 0 {
        rbuf.drain(..*rpos);
        *rpos = 0;
    }
    if rbuf.capacity() - rbuf.len() < 16 * 1024 {
        rbuf.reserve(64 * 1024);
    }
    if reader.read_buf(rbuf).await? == 0 {
        return Err(RespError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

/// A whole reply, read in place.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The next line's type byte and text (without `\r\n`).
    fn line(&mut self) -> Result<(u8, &'a [u8]), RespError> {
        let eol = line_end(self.buf, self.pos).ok_or_else(truncated)?;
        let tag = self.buf[self.pos];
        let text = &self.buf[self.pos + 1..eol];
        self.pos = eol + 2;
        Ok((tag, text))
    }

    /// An array header: its length, `None` for a nil array.
    fn array(&mut self) -> Result<Option<usize>, RespError> {
        match self.line()? {
            (b'*', n) | (b'$', n) if n == b"-1" => Ok(None),
            (b'*', n) => Ok(Some(signed(n)?.max(0) as usize)),
            (tag, text) => Err(unexpected(tag, text)),
        }
    }

    /// A bulk string (or a simple one), `None` for nil.
    fn bulk(&mut self) -> Result<Option<&'a [u8]>, RespError> {
        match self.line()? {
            (b'$', n) if n == b"-1" => Ok(None),
            (b'$', n) => {
                let len = usize::try_from(signed(n)?).map_err(|_| unexpected(b'$', n))?;
                let data = self
                    .buf
                    .get(self.pos..self.pos.saturating_add(len))
                    .ok_or_else(truncated)?;
                self.pos += len + 2;
                Ok(Some(data))
            }
            (b'+', text) => Ok(Some(text)),
            (tag, text) => Err(unexpected(tag, text)),
        }
    }
}

fn truncated() -> RespError {
    RespError::Protocol("a reply cut short".into())
}

fn unexpected(tag: u8, text: &[u8]) -> RespError {
    let mut t = String::from_utf8_lossy(text).into_owned();
    t.truncate(80);
    RespError::Protocol(format!("unexpected {}{t}", tag as char))
}

/// The entries of an `XREADGROUP` (or `XRANGE`-shaped) reply for one stream, read in
/// place: `each(id, fields)` for every entry in order, `fields` `None` for a pending
/// entry deleted from the stream. An error reply is returned as `Ok(Some(error))`; a
/// reply of another shape is `Err`.
pub(crate) fn stream_reply_entries<'a>(
    reply: &'a [u8],
    mut each: impl FnMut(&'a [u8], Option<&[&'a [u8]]>),
) -> Result<Option<RespError>, RespError> {
    if reply.first() == Some(&b'-') {
        return Ok(Some(server_error(reply)));
    }
    let mut c = Cursor { buf: reply, pos: 0 };
    let Some(streams) = c.array()? else {
        return Ok(None);
    };
    let mut fields: Vec<&'a [u8]> = Vec::with_capacity(16);
    for _ in 0..streams {
        if c.array()? != Some(2) {
            return Err(RespError::Protocol(
                "a stream that is not [name, entries]".into(),
            ));
        }
        c.bulk()?;
        let Some(n) = c.array()? else { continue };
        for _ in 0..n {
            if c.array()? != Some(2) {
                return Err(RespError::Protocol(
                    "an entry that is not [id, fields]".into(),
                ));
            }
            let id = c
                .bulk()?
                .ok_or_else(|| RespError::Protocol("a nil entry id".into()))?;
            match c.array()? {
                None => each(id, None),
                Some(f) => {
                    fields.clear();
                    for _ in 0..f {
                        fields.push(c.bulk()?.unwrap_or_default());
                    }
                    each(id, Some(&fields));
                }
            }
        }
    }
    Ok(None)
}

/// How many entries a [`stream_reply_entries`] reply holds, read from its headers only.
pub(crate) fn stream_reply_len(reply: &[u8]) -> usize {
    let mut c = Cursor { buf: reply, pos: 0 };
    let mut count = || -> Result<usize, RespError> {
        if c.array()?.unwrap_or(0) == 0 || c.array()? != Some(2) {
            return Ok(0);
        }
        c.bulk()?;
        Ok(c.array()?.unwrap_or(0))
    };
    count().unwrap_or(0)
}

/// An integer reply's value.
pub(crate) fn int_reply(reply: &[u8]) -> Option<i64> {
    let body = reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(body).ok()?.parse().ok()
}

/// An error reply as the redis crate's error (`None` if it is not one).
pub(crate) fn error_reply(reply: &[u8]) -> Option<RespError> {
    (reply.first() == Some(&b'-')).then(|| server_error(reply))
}

/// Parses one reply starting at `buf[pos]`: `Some((end, reply))` when it is complete,
/// `None` when more bytes are needed.
fn parse_reply(buf: &[u8], pos: usize) -> Result<Option<(usize, Reply)>, RespError> {
    let Some(eol) = line_end(buf, pos) else {
        return Ok(None);
    };
    let after = eol + 2;
    let Some(&tag) = buf.get(pos) else {
        return Ok(None);
    };
    let line = &buf[pos + 1..eol];
    match tag {
        b'+' | b':' => Ok(Some((after, Reply::Fine))),
        b'-' => Ok(Some((after, Reply::Error(pos, after)))),
        b'$' => {
            let len = signed(line)?;
            if len < 0 {
                return Ok(Some((after, Reply::Fine)));
            }
            let end = after.saturating_add(len as usize).saturating_add(2);
            if buf.len() < end {
                return Ok(None);
            }
            Ok(Some((end, Reply::Fine)))
        }
        b'*' => {
            let n = signed(line)?;
            let mut at = after;
            for _ in 0..n.max(0) {
                match parse_reply(buf, at)? {
                    // An error inside an array (EXEC) counts as the array's answer: fine.
                    Some((end, _)) => at = end,
                    None => return Ok(None),
                }
            }
            Ok(Some((at, Reply::Fine)))
        }
        other => Err(RespError::Protocol(format!(
            "a reply starting with {:?}",
            other as char
        ))),
    }
}

/// Index of the `\r` of the first `\r\n` at or after `from`.
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let i = rest.iter().position(|&b| b == b'\r')?;
    (rest.get(i + 1) == Some(&b'\n')).then_some(from + i)
}

fn signed(line: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            RespError::Protocol(format!("a bad length {:?}", String::from_utf8_lossy(line)))
        })
}

/// An error reply line as the redis crate's error, so it reads as before.
fn server_error(line: &[u8]) -> RespError {
    match redis::parse_redis_value(line) {
        Ok(redis::Value::ServerError(e)) => RespError::Server(e.into()),
        _ => RespError::Protocol(String::from_utf8_lossy(line).trim_end().to_owned()),
    }
}

/// Appends `XADD stream [MAXLEN ~ n] * k KIND w W t T ts NS [p PAYLOAD]` in RESP: the
/// fields the bus writes (docs/events.md).
fn encode_xadd(w: &mut Vec<u8>, stream: &[u8], trim: Trim, event: &Event) {
    let payload = !event.payload.is_empty();
    let maxlen = matches!(trim, Trim::MaxLen(_));
    array_header(
        w,
        11 + if maxlen { 3 } else { 0 } + if payload { 2 } else { 0 },
    );
    bulk(w, b"XADD");
    bulk(w, stream);
    if let Trim::MaxLen(n) = trim {
        bulk(w, b"MAXLEN");
        bulk(w, b"~");
        bulk_u64(w, n);
    }
    bulk(w, b"*");
    bulk(w, F_KIND);
    bulk(w, event.kind.name().as_bytes());
    bulk(w, F_WORKFLOW);
    bulk_u64(w, event.workflow);
    bulk(w, F_TASK);
    bulk_u64(w, event.task);
    bulk(w, F_AT);
    bulk_u64(w, event.at_ns);
    if payload {
        bulk(w, F_PAYLOAD);
        bulk(w, event.payload.as_bytes());
    }
}

fn array_header(w: &mut Vec<u8>, n: usize) {
    w.push(b'*');
    decimal(w, n as u64);
    w.extend_from_slice(b"\r\n");
}

fn bulk(w: &mut Vec<u8>, data: &[u8]) {
    w.push(b'$');
    decimal(w, data.len() as u64);
    w.extend_from_slice(b"\r\n");
    w.extend_from_slice(data);
    w.extend_from_slice(b"\r\n");
}

/// A number as a bulk string, as Redis stores and returns it.
fn bulk_u64(w: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let text = format_u64(n, &mut digits);
    bulk(w, text);
}

fn decimal(w: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    w.extend_from_slice(format_u64(n, &mut digits));
}

/// `n` in decimal, written into the end of `digits`.
fn format_u64(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_encode_as_redis_reads_them() {
        let mut d = [0u8; 20];
        assert_eq!(format_u64(0, &mut d), b"0");
        assert_eq!(
            format_u64(1_700_000_000_000_000_000, &mut d),
            b"1700000000000000000"
        );
        assert_eq!(format_u64(u64::MAX, &mut d), b"18446744073709551615");
    }

    #[test]
    fn replies_parse_whole_or_ask_for_more() {
        let buf = b"$15\r\n1700000000000-0\r\n-ERR no\r\n*2\r\n:1\r\n$-1\r\n+OK\r\n";
        let (a, r) = parse_reply(buf, 0).unwrap().unwrap();
        assert!(matches!(r, Reply::Fine));
        let (b, r) = parse_reply(buf, a).unwrap().unwrap();
        assert!(matches!(r, Reply::Error(s, e) if &buf[s..e] == b"-ERR no\r\n"));
        let (c, r) = parse_reply(buf, b).unwrap().unwrap();
        assert!(matches!(r, Reply::Fine));
        let (d, _) = parse_reply(buf, c).unwrap().unwrap();
        assert_eq!(d, buf.len());
        // Cut anywhere, a reply is incomplete, never misread.
        for cut in 0..a {
            assert!(
                parse_reply(&buf[..cut], 0).unwrap().is_none(),
                "cut at {cut}"
            );
        }
        for cut in c..d {
            assert!(
                parse_reply(&buf[..cut], c).unwrap().is_none(),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            parse_reply(b"?x\r\n", 0),
            Err(RespError::Protocol(_))
        ));
        assert!(matches!(
            parse_reply(b"$x\r\n", 0),
            Err(RespError::Protocol(_))
        ));
    }

    #[test]
    fn stream_replies_decode_in_place() {
        let reply = b"*1\r\n*2\r\n$1\r\ns\r\n*3\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\nk\r\n$12\r\ntask.started\r\n$1\r\nw\r\n$1\r\n7\r\n*2\r\n$3\r\n1-1\r\n*-1\r\n*2\r\n$3\r\n1-2\r\n*0\r\n";
        let mut seen = Vec::new();
        let r = stream_reply_entries(reply, |id, f| {
            seen.push((
                id.to_vec(),
                f.map(|f| f.iter().map(|x| x.to_vec()).collect::<Vec<_>>()),
            ))
        });
        assert!(matches!(r, Ok(None)));
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].0, b"1-0");
        assert_eq!(
            seen[0].1.as_deref(),
            Some(
                &[
                    b"k".to_vec(),
                    b"task.started".to_vec(),
                    b"w".to_vec(),
                    b"7".to_vec()
                ][..]
            )
        );
        assert_eq!(seen[1], (b"1-1".to_vec(), None));
        assert_eq!(seen[2], (b"1-2".to_vec(), Some(Vec::new())));
        assert_eq!(stream_reply_len(reply), 3);
        // A block timeout is a nil array; an error reply is handed back.
        assert!(matches!(
            stream_reply_entries(b"*-1\r\n", |_, _| panic!()),
            Ok(None)
        ));
        assert_eq!(stream_reply_len(b"*-1\r\n"), 0);
        let e = stream_reply_entries(b"-NOGROUP No such key\r\n", |_, _| panic!());
        assert!(matches!(e, Ok(Some(RespError::Server(e))) if e.code() == Some("NOGROUP")));
        // Another shape, or a reply cut short, is a protocol error, never a panic.
        assert!(matches!(
            stream_reply_entries(b":1\r\n", |_, _| ()),
            Err(RespError::Protocol(_))
        ));
        for cut in 1..reply.len() {
            let _ = stream_reply_entries(&reply[..cut], |_, _| ());
            let _ = stream_reply_len(&reply[..cut]);
        }
        assert_eq!(int_reply(b":42\r\n"), Some(42));
        assert_eq!(int_reply(b"+OK\r\n"), None);
    }

    #[test]
    fn an_error_reply_reads_as_the_redis_crates_error() {
        let RespError::Server(e) = server_error(b"-WRONGTYPE Operation against a key\r\n") else {
            panic!("not a server error");
        };
        assert_eq!(e.code(), Some("WRONGTYPE"));
    }

    #[test]
    fn xadd_encodes_as_the_redis_crate_does() {
        use crate::events::{EventKind, Payload};
        let plain = Event::new(EventKind::TaskFinished, 3, 55, 1_700_000_000);
        let mut with_payload = Event::new(EventKind::Custom(7), 0, u64::MAX, 1);
        with_payload.payload = Payload::new(bytes::Bytes::from_static(b"{\"a\":1}"));
        for (event, trim) in [
            (&plain, Trim::MaxLen(10)),
            (&plain, Trim::None),
            (&with_payload, Trim::None),
        ] {
            let mut expected = redis::cmd("XADD");
            expected.arg("s");
            if let Trim::MaxLen(n) = trim {
                expected.arg("MAXLEN").arg("~").arg(n);
            }
            expected
                .arg("*")
                .arg("k")
                .arg(event.kind.name().as_bytes())
                .arg("w")
                .arg(event.workflow)
                .arg("t")
                .arg(event.task)
                .arg("ts")
                .arg(event.at_ns);
            if !event.payload.is_empty() {
                expected.arg("p").arg(event.payload.as_bytes());
            }
            let mut ours = Vec::new();
            encode_xadd(&mut ours, b"s", trim, event);
            assert_eq!(ours, expected.get_packed_command(), "{event:?} {trim:?}");
        }
    }
}
