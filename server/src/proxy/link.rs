//! One proxy's listener and connections, on tokio: no thread per connection. Each
//! connection is one task relaying both ways through the proxy's current toxics, which it
//! re-reads whenever they change, so a toxic added or removed acts on open connections
//! too (a held chunk is let go at once when its toxic goes). A kill resets every open
//! connection (`SO_LINGER` 0: the peers see a reset, not an orderly close).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::Policy;
use super::toxic::{Kind, Stream, Toxic};

/// Bytes read at once from either side.
const READ_BUFFER: usize = 16 * 1024;

/// Chunks in flight each way on one connection (bounded: a held stream pushes back on
/// its sender through TCP).
const CHUNKS: usize = 8;

/// How long reaching an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest HTTP request head the `http_error` framing holds before it gives up on a
/// connection and lets it pass unframed.
const MAX_HEAD: usize = 64 * 1024;

/// What one proxy's connections share.
pub struct Shared {
    pub name: String,
    /// `host:port` addresses, used in turn by new connections.
    pub upstreams: Vec<String>,
    pub cursor: AtomicUsize,
    pub toxics: watch::Receiver<Arc<[Toxic]>>,
    /// Bumped to reset every open connection (a kill, a delete, a new upstream).
    pub kill: watch::Receiver<u64>,
    pub policy: Arc<Policy>,
    /// Connections open through every proxy, against the policy's cap.
    pub open: Arc<AtomicUsize>,
    /// Connections this proxy has accepted.
    pub accepted: AtomicU64,
}

/// Accepts connections until the task is aborted (which closes the listener: new
/// connections are refused).
pub async fn accept_loop_shared(listener: Arc<TcpListener>, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                let open = shared.open.fetch_add(1, Ordering::Relaxed);
                if open >= shared.policy.max_connections {
                    shared.open.fetch_sub(1, Ordering::Relaxed);
                    tracing::warn!(proxy = %shared.name, open, "too many proxied connections: refused one");
                    reset(&client);
                    continue;
                }
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                tokio::spawn(async move {
                    connection(client, &shared).await;
                    shared.open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(err) => {
                // Out of file descriptors, most likely: let some close.
                tracing::warn!(proxy = %shared.name, %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Closes `stream` with a reset rather than an orderly close.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum End {
    /// Both ways finished (or are finishing) on their own.
    Flowing = 0,
    /// A toxic closed it: an orderly close of both sides.
    Close = 1,
    /// A toxic or a peer reset it: both sides reset.
    Reset = 2,
}

/// One connection's state shared by its four halves.
struct Conn {
    end: AtomicU8,
    ended: Notify,
    /// When the last request went upstream with no answer yet (for `slow`), as
    /// nanoseconds since `opened`, 0 when none.
    request_sent: AtomicU64,
    opened: Instant,
    toxics: watch::Receiver<Arc<[Toxic]>>,
    seed: u64,
}

impl Conn {
    fn end(&self, how: End) {
        self.end.fetch_max(how as u8, Ordering::Relaxed);
        self.ended.notify_one();
    }

    fn how(&self) -> End {
        match self.end.load(Ordering::Relaxed) {
            0 => End::Flowing,
            1 => End::Close,
            _ => End::Reset,
        }
    }

    fn mark_request_sent(&self) {
        let now = (Instant::now() - self.opened).as_nanos().max(1) as u64;
        let _ = self
            .request_sent
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// How long the upstream has taken to answer the request that went last, if any.
    fn take_wait(&self) -> Option<Duration> {
        let sent = self.request_sent.swap(0, Ordering::Relaxed);
        (sent > 0).then(|| {
            let now = (Instant::now() - self.opened).as_nanos() as u64;
            Duration::from_nanos(now.saturating_sub(sent))
        })
    }
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

async fn connection(mut client: TcpStream, shared: &Shared) {
    let mut kill = shared.kill.clone();
    kill.borrow_and_update();
    let upstream = tokio::select! {
        upstream = connect_upstream(shared) => upstream,
        _ = kill.changed() => Err(io::Error::other("the proxy was stopped")),
    };
    let mut upstream = match upstream {
        Ok(upstream) => upstream,
        Err(err) => {
            tracing::debug!(proxy = %shared.name, %err, "upstream unreachable: client reset");
            reset(&client);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let number = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let conn = Conn {
        end: AtomicU8::new(End::Flowing as u8),
        ended: Notify::new(),
        request_sent: AtomicU64::new(0),
        opened: Instant::now(),
        toxics: shared.toxics.clone(),
        seed: number ^ (std::process::id() as u64).rotate_left(32),
    };
    let ended = {
        let (client_in, client_out) = client.split();
        let (upstream_in, upstream_out) = upstream.split();
        let (to_upstream, from_client) = mpsc::channel(CHUNKS);
        let (to_client, from_upstream) = mpsc::channel(CHUNKS);
        let answers = to_client.clone();
        let flow = async {
            tokio::join!(
                read_chunks(client_in, to_upstream, &conn),
                read_chunks(upstream_in, to_client, &conn),
                write_chunks(
                    Stream::Upstream,
                    from_client,
                    upstream_out,
                    &conn,
                    Some(answers)
                ),
                write_chunks(Stream::Downstream, from_upstream, client_out, &conn, None),
            )
        };
        tokio::select! {
            _ = flow => conn.how(),
            _ = kill.changed() => End::Reset,
            _ = conn.ended.notified() => conn.how(),
        }
    };
    if ended == End::Reset {
        reset(&client);
        reset(&upstream);
    }
    // Dropping both streams closes them (a reset if so set).
}

/// The next upstream in turn, resolved now and checked against the policy (a name could
/// resolve elsewhere since the proxy was made).
async fn connect_upstream(shared: &Shared) -> io::Result<TcpStream> {
    let target =
        &shared.upstreams[shared.cursor.fetch_add(1, Ordering::Relaxed) % shared.upstreams.len()];
    let mut last = io::Error::other(format!("{target} resolves to no address"));
    for address in tokio::net::lookup_host(target.as_str()).await? {
        if !shared.policy.upstream_allowed(address.ip()) {
            last = io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{address} is not an allowed upstream"),
            );
            continue;
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(err)) => last = err,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        }
    }
    Err(last)
}

/// Bytes read from one side, with when they were read.
struct Chunk {
    data: Vec<u8>,
    read_at: Instant,
    /// Written, then the connection closes (an `http_error` answer).
    close_after: bool,
}

async fn read_chunks(mut from: ReadHalf<'_>, to: mpsc::Sender<Chunk>, conn: &Conn) {
    let mut buffer = vec![0u8; READ_BUFFER];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) => return,
            Ok(n) => {
                let chunk = Chunk {
                    data: buffer[..n].to_vec(),
                    read_at: Instant::now(),
                    close_after: false,
                };
                if to.send(chunk).await.is_err() {
                    return;
                }
            }
            Err(_) => {
                conn.end(End::Reset);
                return;
            }
        }
    }
}

/// Whether each toxic acts on this connection (drawn once per toxic, by its toxicity),
/// and since when it has been seen.
#[derive(Default)]
struct Draws {
    seen: Vec<(u64, bool, Instant)>,
}

impl Draws {
    /// The toxics of `stream` that act on this connection, in the chain's order.
    fn active<'a>(
        &mut self,
        chain: &'a [Toxic],
        stream: Stream,
        rng: &mut Pcg64Mcg,
    ) -> Vec<(&'a Toxic, Instant)> {
        self.seen
            .retain(|(uid, _, _)| chain.iter().any(|t| t.uid == *uid));
        let mut active = Vec::new();
        for toxic in chain.iter().filter(|t| t.stream == stream) {
            let (acts, since) = match self.seen.iter().find(|(uid, _, _)| *uid == toxic.uid) {
                Some(&(_, acts, since)) => (acts, since),
                None => {
                    let acts = toxic.toxicity >= 1.0 || rng.random::<f64>() < toxic.toxicity;
                    let now = Instant::now();
                    self.seen.push((toxic.uid, acts, now));
                    (acts, now)
                }
            };
            if acts {
                active.push((toxic, since));
            }
        }
        active
    }
}

/// Waits until `until`, or until toxic `uid` is gone (its hold ends with it).
async fn hold(until: Instant, uid: u64, toxics: &mut watch::Receiver<Arc<[Toxic]>>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return,
            changed = toxics.changed() => {
                if changed.is_err() || !toxics.borrow().iter().any(|t| t.uid == uid) {
                    return;
                }
            }
        }
    }
}

/// Sends what `input` brings to `dest`, through the toxics of `stream`. The upstream way
/// frames HTTP requests, for `http_error`, whose answers go back through `answers`.
async fn write_chunks(
    stream: Stream,
    mut input: mpsc::Receiver<Chunk>,
    mut dest: WriteHalf<'_>,
    conn: &Conn,
    answers: Option<mpsc::Sender<Chunk>>,
) {
    let mut toxics = conn.toxics.clone();
    let mut rng = Pcg64Mcg::seed_from_u64(conn.seed ^ stream as u64);
    let mut draws = Draws::default();
    let mut framing = Framing::Start;
    let mut sent: u64 = 0;
    loop {
        let chain = toxics.borrow_and_update().clone();
        let active = draws.active(&chain, stream, &mut rng);
        // A timeout toxic lets nothing through, and closes the connection when it is due.
        if let Some(&(toxic, since)) = active
            .iter()
            .find(|(t, _)| matches!(t.kind, Kind::Timeout { .. }))
        {
            let Kind::Timeout { timeout } = toxic.kind else {
                unreachable!("found as a timeout");
            };
            let due = since + Duration::from_millis(timeout);
            tokio::select! {
                chunk = input.recv() => if chunk.is_none() {
                    let _ = dest.shutdown().await;
                    return;
                },
                _ = toxics.changed() => {}
                _ = tokio::time::sleep_until(due), if timeout > 0 => {
                    conn.end(End::Close);
                    return;
                }
            }
            continue;
        }
        let chunk = tokio::select! {
            chunk = input.recv() => chunk,
            _ = toxics.changed() => continue,
        };
        let Some(mut chunk) = chunk else {
            if let Some(&(toxic, _)) = active
                .iter()
                .find(|(t, _)| matches!(t.kind, Kind::SlowClose { .. }))
                && let Kind::SlowClose { delay } = toxic.kind
            {
                hold(
                    Instant::now() + Duration::from_millis(delay),
                    toxic.uid,
                    &mut toxics,
                )
                .await;
            }
            let _ = dest.shutdown().await;
            return;
        };
        if chunk.close_after {
            let _ = dest.write_all(&chunk.data).await;
            conn.end(End::Close);
            return;
        }
        let mut close_after = false;
        let mut slices: Option<(u64, u64, u64)> = None;
        for &(toxic, _) in &active {
            match toxic.kind {
                Kind::ResetPeer { timeout } => {
                    tokio::time::sleep(Duration::from_millis(timeout)).await;
                    conn.end(End::Reset);
                    return;
                }
                Kind::Latency { latency, jitter } => {
                    let mut delay = latency as i64;
                    if jitter > 0 {
                        delay += rng.random_range(-(jitter as i64)..jitter as i64);
                    }
                    let until = chunk.read_at + Duration::from_millis(delay.max(0) as u64);
                    hold(until, toxic.uid, &mut toxics).await;
                }
                Kind::Slow { factor } if stream == Stream::Downstream => {
                    if let Some(waited) = conn.take_wait() {
                        let more = waited.mul_f64(factor - 1.0);
                        hold(Instant::now() + more, toxic.uid, &mut toxics).await;
                    }
                }
                Kind::Bandwidth { rate } if rate > 0 => {
                    let wait = Duration::from_micros(chunk.data.len() as u64 * 1000 / rate);
                    hold(Instant::now() + wait, toxic.uid, &mut toxics).await;
                }
                Kind::LimitData { bytes } => {
                    let left = bytes.saturating_sub(sent) as usize;
                    if chunk.data.len() >= left {
                        chunk.data.truncate(left);
                        close_after = true;
                    }
                }
                Kind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => slices = Some((average_size, size_variation, delay)),
                _ => {}
            }
        }
        // Requests answered with an error are not forwarded; the answer closes the
        // connection, as a server that sends `Connection: close` does.
        if stream == Stream::Upstream {
            let errors = active.iter().find_map(|(t, _)| match t.kind {
                Kind::HttpError { status, rate } => Some((status, rate)),
                _ => None,
            });
            let pass = framing.feed(std::mem::take(&mut chunk.data));
            let mut forward = Vec::with_capacity(pass.iter().map(|p| p.bytes.len()).sum());
            for piece in pass {
                if let (true, Some((status, rate))) = (piece.starts_request, errors)
                    && rng.random::<f64>() < rate
                {
                    if !piece.http {
                        conn.end(End::Reset);
                        return;
                    }
                    if !forward.is_empty() && write_out(&mut dest, &forward, None).await.is_err() {
                        conn.end(End::Close);
                        return;
                    }
                    if let Some(answers) = &answers {
                        let _ = answers
                            .send(Chunk {
                                data: error_answer(status),
                                read_at: Instant::now(),
                                close_after: true,
                            })
                            .await;
                    }
                    return;
                }
                forward.extend_from_slice(&piece.bytes);
            }
            chunk.data = forward;
            if chunk.data.is_empty() {
                continue;
            }
        }
        if write_out(&mut dest, &chunk.data, slices).await.is_err() {
            conn.end(End::Close);
            return;
        }
        sent += chunk.data.len() as u64;
        if stream == Stream::Upstream {
            conn.mark_request_sent();
        }
        if close_after {
            conn.end(End::Close);
            return;
        }
    }
}

/// Writes `data`, in slices `delay` µs apart if a slicer says so.
async fn write_out(
    dest: &mut WriteHalf<'_>,
    data: &[u8],
    slices: Option<(u64, u64, u64)>,
) -> io::Result<()> {
    let Some((average, variation, delay)) = slices.filter(|(average, _, _)| *average > 0) else {
        return dest.write_all(data).await;
    };
    let mut rest = data;
    let mut turn = 0u64;
    while !rest.is_empty() {
        // Sizes vary evenly around the average, deterministic per chunk.
        let offset = if variation > 0 {
            (turn * 7919 % (2 * variation + 1)) as i64 - variation as i64
        } else {
            0
        };
        let size = ((average as i64 + offset).max(1) as usize).min(rest.len());
        dest.write_all(&rest[..size]).await?;
        rest = &rest[size..];
        turn += 1;
        if !rest.is_empty() && delay > 0 {
            tokio::time::sleep(Duration::from_micros(delay)).await;
        }
    }
    Ok(())
}

/// An HTTP/1.1 answer with `status` that closes the connection.
fn error_answer(status: u16) -> Vec<u8> {
    let body = format!("blastradius fault proxy: injected HTTP {status}\n");
    format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        429 => "Too Many Requests",
        _ => "Error",
    }
}

/// Where the client's bytes are in the HTTP/1.1 request they belong to.
#[derive(Debug)]
enum Framing {
    /// Nothing read yet.
    Start,
    /// Reading a request head (held until complete).
    Head(Vec<u8>),
    /// This many body bytes of the current request still to come.
    Body(u64),
    /// Not HTTP/1.1 with framing it can follow (another protocol, a chunked body, an
    /// upgrade): everything passes as is.
    Unframed,
}

/// Bytes to forward; `starts_request` marks a complete request head (or, for `http`
/// false, a connection's first bytes that are not HTTP).
#[derive(Debug)]
struct Piece {
    bytes: Vec<u8>,
    starts_request: bool,
    http: bool,
}

impl Framing {
    /// Stops framing: what a held head had goes on as is, and so does all that follows.
    fn give_up(&mut self) -> Piece {
        let bytes = match std::mem::replace(self, Framing::Unframed) {
            Framing::Head(head) => head,
            _ => Vec::new(),
        };
        Piece {
            bytes,
            starts_request: false,
            http: false,
        }
    }

    fn feed(&mut self, data: Vec<u8>) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut rest = &data[..];
        while !rest.is_empty() {
            match self {
                Framing::Unframed => {
                    pieces.push(Piece {
                        bytes: rest.to_vec(),
                        starts_request: false,
                        http: false,
                    });
                    return pieces;
                }
                Framing::Start => {
                    if looks_like_request(rest) == Some(false) {
                        *self = Framing::Unframed;
                        pieces.push(Piece {
                            bytes: rest.to_vec(),
                            starts_request: true,
                            http: false,
                        });
                        return pieces;
                    }
                    *self = Framing::Head(Vec::new());
                }
                Framing::Body(left) => {
                    let take = (*left).min(rest.len() as u64) as usize;
                    pieces.push(Piece {
                        bytes: rest[..take].to_vec(),
                        starts_request: false,
                        http: true,
                    });
                    rest = &rest[take..];
                    *left -= take as u64;
                    if *left == 0 {
                        *self = Framing::Head(Vec::new());
                    }
                }
                Framing::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(rest);
                    if looks_like_request(head) == Some(false) {
                        pieces.push(self.give_up());
                        return pieces;
                    }
                    let Some(end) = find_head_end(head) else {
                        if head.len() > MAX_HEAD {
                            pieces.push(self.give_up());
                        }
                        return pieces;
                    };
                    let used = end - before;
                    let bytes: Vec<u8> = head.drain(..end).collect();
                    let next = match body_of(&bytes) {
                        Some(0) => Framing::Head(Vec::new()),
                        Some(length) => Framing::Body(length),
                        None => Framing::Unframed,
                    };
                    *self = next;
                    pieces.push(Piece {
                        bytes,
                        starts_request: true,
                        http: true,
                    });
                    rest = &rest[used..];
                }
            }
        }
        pieces
    }
}

/// Whether `bytes` start like an HTTP/1 request line (`GET /a HTTP/1.1`); `None` while
/// too few bytes have come to tell.
fn looks_like_request(bytes: &[u8]) -> Option<bool> {
    let method = bytes.iter().take(17).position(|&b| b == b' ');
    match method {
        Some(0) => return Some(false),
        Some(end) if !bytes[..end].iter().all(u8::is_ascii_uppercase) => return Some(false),
        None if bytes.len() >= 17 || !bytes.iter().all(u8::is_ascii_uppercase) => {
            return Some(false);
        }
        None => return None,
        Some(_) => {}
    }
    // A command such as Redis's inline `SET k v` also starts so: the line must end in
    // the HTTP version.
    let line_end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let line = &bytes[..line_end];
    Some(line.len() > 9 && line[line.len() - 9..].starts_with(b" HTTP/1."))
}

/// The end of a request head (after its blank line), if it has come.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// The body length a request head announces: `Content-Length`, 0 without; `None` when
/// the framing cannot be followed (chunked, an upgrade).
fn body_of(head: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(head).ok()?;
    let mut length = 0;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return None;
        }
    }
    Some(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(framing: &mut Framing, data: &[u8]) -> Vec<(String, bool)> {
        framing
            .feed(data.to_vec())
            .into_iter()
            .map(|p| {
                (
                    String::from_utf8_lossy(&p.bytes).into_owned(),
                    p.starts_request,
                )
            })
            .collect()
    }

    #[test]
    fn requests_are_framed_across_chunks() {
        let mut framing = Framing::Start;
        assert_eq!(
            heads(&mut framing, b"GET / HTTP/1.1\r\nHost: a\r\n"),
            vec![]
        );
        assert_eq!(
            heads(
                &mut framing,
                b"\r\nPOST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel"
            ),
            vec![
                ("GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_string(), true),
                (
                    "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n".to_string(),
                    true
                ),
                ("hel".to_string(), false),
            ]
        );
        assert_eq!(
            heads(&mut framing, b"loGET / HTTP/1.1\r\n\r\n"),
            vec![
                ("lo".to_string(), false),
                ("GET / HTTP/1.1\r\n\r\n".to_string(), true),
            ]
        );
    }

    #[test]
    fn other_protocols_pass_unframed() {
        let mut framing = Framing::Start;
        let pieces = framing.feed(b"*1\r\n$4\r\nPING\r\n".to_vec());
        assert_eq!(pieces.len(), 1);
        assert!(pieces[0].starts_request && !pieces[0].http);
        let pieces = framing.feed(b"more".to_vec());
        assert!(!pieces[0].starts_request);
        let mut chunked = Framing::Start;
        chunked.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec());
        assert!(matches!(chunked, Framing::Unframed));
    }
}
