//! The request/reply engine under every client call: a nonblocking connect that never waits,
//! the request written at once, and the reply awaited with `poll(2)` for a short window before
//! the wait is handed to the tokio reactor.
//!
//! A reply from a local listener usually arrives within a fraction of a millisecond. Waiting for
//! it on the calling thread costs at most one sleep and one wake-up (none when it lands within
//! the short [`SPIN_WAIT`] that is polled awake); registering the socket with the runtime's
//! epoll costs several more syscalls and, on a busy runtime, a hop between threads. So the first
//! [`FAST_WAIT`] of any wait blocks the calling task; only a slower peer is waited for
//! asynchronously (the runtime is never blocked for longer).

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::net::{
    connect, recv, send, socket_with, AddressFamily, RecvFlags, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{errno_name, is_dead_connect_error, RpcError, SocketLiveness};
use crate::wire::{drain_lines, Request, Response, SendRequest};

/// How long a wait blocks the calling task in `poll(2)` before it yields to the runtime.
pub const FAST_WAIT: Duration = Duration::from_millis(2);

/// How much room a receive asks the kernel to fill at a time.
const READ_CHUNK: usize = 8192;

/// How long a wait first checks for readiness without sleeping (a zero-timeout `poll`, then
/// `sched_yield` so a peer on the same CPU runs), before it sleeps in `poll`. A reply from a
/// local listener usually lands within this window; catching it awake spares the wake-up of an
/// idle CPU, which on a virtual machine costs more than the whole exchange. A slower peer
/// (a real pi answers in about a millisecond) costs at most this much extra CPU per wait.
pub const SPIN_WAIT: Duration = Duration::from_micros(100);

/// The part of a `send` response the dispatcher reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAck {
    /// `true`: queued by the receiver. `false`: refused in-band (final, no fallback).
    pub success: bool,
    /// The receiver's error text on refusal.
    pub error: Option<String>,
}

impl From<Response> for SendAck {
    fn from(response: Response) -> Self {
        SendAck {
            success: response.success,
            error: response.error,
        }
    }
}

/// A connection the liveness probe opened, kept so the request can go over it instead of a
/// second connect. Dropping it closes the connection without writing anything (the listener
/// sees exactly what a bare probe shows it: a connect and a close).
#[derive(Debug)]
pub struct ProbeConnection {
    stream: UnixStream,
    path: PathBuf,
}

/// What a connect probe found; an alive probe keeps its connection.
#[derive(Debug)]
pub enum Probed {
    /// A listener accepted the connection (it may never answer).
    Alive(ProbeConnection),
    /// `ECONNREFUSED` or `ENOENT`: nobody listens.
    Dead,
    /// Any other connect error (`EAGAIN` for a full backlog, `EACCES`, …).
    Indeterminate,
}

impl Probed {
    /// The liveness this probe reports.
    pub fn liveness(&self) -> SocketLiveness {
        match self {
            Probed::Alive(_) => SocketLiveness::Alive,
            Probed::Dead => SocketLiveness::Dead,
            Probed::Indeterminate => SocketLiveness::Indeterminate,
        }
    }
}

/// Connects to `path` (following symlinks, like the reference's probe) without waiting: a
/// Unix-socket connect either completes at once or fails at once (`EAGAIN` when the listener's
/// backlog is full), so this never blocks and needs no timeout. Nothing is written.
pub fn probe_connect(path: &Path) -> Probed {
    match connect_now(path) {
        Ok(stream) => Probed::Alive(ProbeConnection {
            stream,
            path: path.to_path_buf(),
        }),
        Err(err) if is_dead_connect_error(&err) => Probed::Dead,
        Err(_) => Probed::Indeterminate,
    }
}

impl ProbeConnection {
    /// The socket path this connection was made to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one command over this connection and waits for its response, exactly as
    /// [`crate::send_command`] does over a fresh one (same bytes, same matching, same errors).
    ///
    /// * On timeout → [`RpcError::Timeout`] (indeterminate).
    /// * When the peer vanishes after the request went out (EOF, `ECONNRESET`) →
    ///   [`RpcError::ClosedBeforeResponse`] (indeterminate).
    /// * When the peer closed this connection before a single byte of the request was written
    ///   (`EPIPE` on the first write), nothing was delivered and the listener saw only what a
    ///   probe shows it; the call then does what a client without the probe connection would
    ///   have done: it connects afresh and sends there (a refused connect is then
    ///   [`RpcError::Connect`], dead).
    pub async fn send_command(
        self,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, RpcError> {
        let deadline = Instant::now() + timeout;
        let line = request.to_line();
        match exchange(self.stream, &line, request.command(), deadline).await {
            Err(Exchange::NothingWritten) => {
                let stream = connect_for_rpc(&self.path)?;
                finish(
                    exchange(stream, &line, request.command(), deadline).await,
                    &self.path,
                    timeout,
                )
            }
            other => finish(other, &self.path, timeout),
        }
    }

    /// A `send` over this connection; see [`ProbeConnection::send_command`]. A `success:false`
    /// reply is `Ok` with `success:false`.
    pub async fn send_message(
        self,
        request: SendRequest,
        timeout: Duration,
    ) -> Result<SendAck, RpcError> {
        let response = self.send_command(&Request::Send(request), timeout).await?;
        Ok(SendAck::from(response))
    }
}

/// One command on a fresh connection (the engine of [`crate::send_command`]).
pub(crate) async fn send_fresh(
    path: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, RpcError> {
    let deadline = Instant::now() + timeout;
    let stream = connect_for_rpc(path)?;
    let line = request.to_line();
    finish(
        exchange(stream, &line, request.command(), deadline).await,
        path,
        timeout,
    )
}

fn connect_now(path: &Path) -> io::Result<UnixStream> {
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    let addr = SocketAddrUnix::new(path)?;
    connect(&fd, &addr)?;
    Ok(UnixStream::from(fd))
}

fn connect_for_rpc(path: &Path) -> Result<UnixStream, RpcError> {
    connect_now(path).map_err(|source| RpcError::Connect {
        path: path.to_path_buf(),
        code: errno_name(&source).unwrap_or_else(|| "unknown".to_owned()),
        source,
    })
}

/// How an exchange ended without a response.
enum Exchange {
    /// The peer had closed the connection before any request byte was written.
    NothingWritten,
    /// The deadline passed.
    Timeout,
    /// EOF, `EPIPE` or `ECONNRESET` after (part of) the request went out.
    Closed,
    /// Any other IO error.
    Io(io::Error),
}

fn finish(
    result: Result<Response, Exchange>,
    path: &Path,
    timeout: Duration,
) -> Result<Response, RpcError> {
    result.map_err(|e| match e {
        Exchange::Timeout => RpcError::Timeout {
            path: path.to_path_buf(),
            timeout,
        },
        // On a fresh connection "nothing written" is the spec's "closed before response".
        Exchange::NothingWritten | Exchange::Closed => RpcError::ClosedBeforeResponse {
            path: path.to_path_buf(),
        },
        Exchange::Io(source) => RpcError::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

fn is_peer_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

/// The socket, waited on by `poll` first and by the reactor once a wait outlasts [`FAST_WAIT`].
enum Waiter {
    Poll(UnixStream),
    Reactor(AsyncFd<UnixStream>),
}

impl Waiter {
    fn stream(&self) -> &UnixStream {
        match self {
            Waiter::Poll(s) => s,
            Waiter::Reactor(a) => a.get_ref(),
        }
    }

    /// Waits until the socket is ready for `interest` or the deadline passes.
    async fn ready(
        self,
        interest: Interest,
        fast_end: Instant,
        deadline: Instant,
    ) -> Result<Self, Exchange> {
        let stream = match self {
            Waiter::Poll(stream) => {
                let spin_end = (Instant::now() + SPIN_WAIT).min(fast_end).min(deadline);
                if spin_ready(&stream, interest, spin_end).map_err(Exchange::Io)? {
                    return Ok(Waiter::Poll(stream));
                }
                let window = fast_end
                    .min(deadline)
                    .saturating_duration_since(Instant::now());
                if poll_ready(&stream, interest, window).map_err(Exchange::Io)? {
                    return Ok(Waiter::Poll(stream));
                }
                if Instant::now() >= deadline {
                    return Err(Exchange::Timeout);
                }
                // SAFETY: the `UnixStream` owns its descriptor, and nothing replaces or closes it
                // while the `AsyncFd` holds it (it is only read, written and finally dropped).
                unsafe { AsyncFd::register(stream) }
                    .map_err(|e| Exchange::Io(io::Error::from(e)))?
            }
            Waiter::Reactor(afd) => afd,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, afd_ready(&stream, interest)).await {
            Ok(Ok(())) => Ok(Waiter::Reactor(stream)),
            Ok(Err(e)) => Err(Exchange::Io(e)),
            Err(_) => Err(Exchange::Timeout),
        }
    }
}

async fn afd_ready(afd: &AsyncFd<UnixStream>, interest: Interest) -> io::Result<()> {
    // The readiness is cleared at once: the caller's next read or write finds out for itself,
    // and a `WouldBlock` sends it back here to wait for the next edge.
    let mut guard = afd.ready(interest).await?;
    guard.clear_ready();
    Ok(())
}

/// Zero-timeout polls until `end`, yielding the CPU between them; `Ok(true)` once ready.
fn spin_ready(stream: &UnixStream, interest: Interest, end: Instant) -> io::Result<bool> {
    while Instant::now() < end {
        if poll_ready(stream, interest, Duration::ZERO)? {
            return Ok(true);
        }
        std::thread::yield_now();
    }
    Ok(false)
}

/// `poll(2)` for `window`; `Ok(true)` when ready (an error or hang-up counts as ready: the next
/// read or write reports it).
fn poll_ready(stream: &UnixStream, interest: Interest, window: Duration) -> io::Result<bool> {
    let flags = if interest.is_writable() {
        PollFlags::OUT
    } else {
        PollFlags::IN
    };
    let timeout = rustix::time::Timespec {
        tv_sec: window.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: window.subsec_nanos().into(),
    };
    let mut fds = [PollFd::new(stream, flags)];
    loop {
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) => return Ok(n > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes `line`, then reads until a line answers `expected`. Never blocks the task for longer
/// than [`FAST_WAIT`] per wait.
async fn exchange(
    stream: UnixStream,
    line: &str,
    expected: &str,
    deadline: Instant,
) -> Result<Response, Exchange> {
    let fast_end = Instant::now() + FAST_WAIT;
    let mut waiter = Waiter::Poll(stream);
    let mut out = line.as_bytes();
    let mut written = 0usize;
    while !out.is_empty() {
        // MSG_NOSIGNAL: a vanished peer is an EPIPE error, never a SIGPIPE.
        match send(waiter.stream(), out, SendFlags::NOSIGNAL) {
            Ok(n) => {
                written += n;
                out = &out[n..];
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                waiter = waiter.ready(Interest::WRITABLE, fast_end, deadline).await?;
            }
            Err(e) => {
                let e = io::Error::from(e);
                return Err(match (is_peer_gone(&e), written) {
                    (true, 0) => Exchange::NothingWritten,
                    (true, _) => Exchange::Closed,
                    (false, _) => Exchange::Io(e),
                });
            }
        }
    }
    // Received straight into the heap buffer's spare capacity: no zeroed chunk, and no 8 KiB
    // array living in this future (which the caller's boxed future would copy).
    let mut buf = Vec::with_capacity(READ_CHUNK);
    loop {
        waiter = waiter.ready(Interest::READABLE, fast_end, deadline).await?;
        loop {
            if buf.capacity() - buf.len() < READ_CHUNK / 2 {
                buf.reserve(READ_CHUNK);
            }
            let start = buf.len();
            match recv(
                waiter.stream(),
                spare_capacity(&mut buf),
                RecvFlags::empty(),
            ) {
                Ok((0, _)) => return Err(Exchange::Closed),
                Ok((n, _)) => {
                    if !buf[start..start + n].contains(&b'\n') {
                        // No line ended in this chunk: no need to rescan a long partial line.
                        continue;
                    }
                    for l in drain_lines(&mut buf) {
                        if let Some(response) = Response::match_line(&l, expected) {
                            // The answer is in hand; dropping the stream closes it (FIN).
                            return Ok(response);
                        }
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => {
                    let e = io::Error::from(e);
                    return Err(if is_peer_gone(&e) {
                        Exchange::Closed
                    } else {
                        Exchange::Io(e)
                    });
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(Exchange::Timeout);
        }
    }
}
