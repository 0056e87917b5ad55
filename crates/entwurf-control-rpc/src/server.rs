//! An embeddable control-socket server: any Rust program can be a socket citizen.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use entwurf_meta_session::GardenId;
use serde_json::{json, Value};
use std::os::unix::net::{UnixListener, UnixStream};

use rustix::buffer::spare_capacity;
use rustix::net::{accept_with, recv, send, RecvFlags, SendFlags, SocketFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::SocketLiveness;
use crate::lines::{LineAssembler, MAX_REQUEST_LINE};
use crate::socket::{inspect, probe, socket_path, ConflictReason, SocketInspection};
use crate::wire::{
    is_truthy, parse_line, validate_send, AssistantMessage, ClearData, InfoData, Response,
    SendData, SendRequest, PARSE_COMMAND,
};

/// What a socket citizen does with each command. Every method has a default, so a handler
/// implements only what it supports. Methods may be async or effectively sync.
///
/// An `Err(text)` becomes `{"success":false,"error":text}` (with the request's string `id`).
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// A validated `send` (message non-blank, sender checked). Use [`SendRequest::content`] for
    /// the text to inject and [`crate::DeliveredAs::choose`] for the reference's queueing rule.
    async fn on_send(&self, request: SendRequest) -> Result<SendData, String> {
        let _ = request;
        Err("send is not supported by this citizen".to_owned())
    }

    /// Runtime facts. The default reports the bound garden id, an empty cwd, no model, idle.
    async fn on_get_info(&self, gid: &GardenId) -> Result<InfoData, String> {
        Ok(InfoData {
            session_id: gid.as_str().to_owned(),
            cwd: String::new(),
            model: None,
            idle: true,
        })
    }

    /// The last assistant message, if any (default: none).
    async fn on_get_message(&self) -> Result<Option<AssistantMessage>, String> {
        Ok(None)
    }

    /// Abort the current turn (default: nothing to abort, success).
    async fn on_abort(&self) -> Result<(), String> {
        Ok(())
    }

    /// Rewind to the root (`summarize` is the request's truthiness of `summarize`).
    async fn on_clear(&self, summarize: bool) -> Result<ClearData, String> {
        let _ = summarize;
        Err("clear is not supported by this citizen".to_owned())
    }
}

/// Share one handler (and its state) between the server and the rest of the program.
#[async_trait::async_trait]
impl<H: Handler> Handler for Arc<H> {
    async fn on_send(&self, request: SendRequest) -> Result<SendData, String> {
        (**self).on_send(request).await
    }
    async fn on_get_info(&self, gid: &GardenId) -> Result<InfoData, String> {
        (**self).on_get_info(gid).await
    }
    async fn on_get_message(&self) -> Result<Option<AssistantMessage>, String> {
        (**self).on_get_message().await
    }
    async fn on_abort(&self) -> Result<(), String> {
        (**self).on_abort().await
    }
    async fn on_clear(&self, summarize: bool) -> Result<ClearData, String> {
        (**self).on_clear(summarize).await
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Creating the socket directory failed.
    #[error("cannot create control socket directory {}; check the permissions of its parent", dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another process is accepting connections on the path; it is left alone.
    #[error("a live listener already serves {}; refusing to take it over (stop that citizen first)", path.display())]
    AlreadyServed { path: PathBuf },
    /// A symlink or non-socket sits at the path; it is not removed.
    #[error("{} is a {} and not a socket; remove it by hand if it is yours", path.display(), match reason { ConflictReason::Symlink => "symlink", ConflictReason::NotSocket => "non-socket file" })]
    AddressConflict {
        path: PathBuf,
        reason: ConflictReason,
    },
    /// The path could not be classified (lstat error or an indeterminate probe).
    #[error("cannot tell whether {} is in use ({detail}); refusing to replace it", path.display())]
    Indeterminate { path: PathBuf, detail: String },
    /// Removing a stale socket or binding failed.
    #[error("cannot bind control socket {}; check that its directory is writable", path.display())]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Entry point for [`Server::bind`].
pub struct Server;

/// A running server. [`ServerHandle::shutdown`] (or drop) stops it and removes its socket file
/// if that file is still the one it bound.
pub struct ServerHandle {
    path: PathBuf,
    identity: Option<(u64, u64)>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `<dir>/<gid>.sock` (creating `dir`) and serves the protocol through `handler`.
    ///
    /// A stale socket file (probe dead) is replaced. A live listener, a symlink, a non-socket, or
    /// anything indeterminate at the path is refused. Must be called inside a tokio runtime.
    ///
    /// Nothing waits before serving: the connect probe of an existing socket file completes or
    /// fails at once (an indeterminate probe refuses with [`ServeError::Indeterminate`]). Once serving, a client that vanishes mid-reply
    /// (`EPIPE`, `ECONNRESET`) ends only its own connection; a request line without `\n` is never
    /// answered; there is no idle timeout (like the reference).
    ///
    /// Bounds the reference lacks: a request line longer than [`MAX_REQUEST_LINE`] is refused
    /// while it arrives (a `parse` error naming the limit, then the connection is closed), and
    /// one connection's input never holds up another's reply. When `accept` fails for lack of
    /// resources (`EMFILE`, `ENFILE`, …) the server keeps serving its open connections and tries
    /// again when one of them ends or after a back-off (5 ms doubling to 250 ms), never in a
    /// busy loop. The runtime needs its time driver (`enable_all`/`enable_time`).
    pub async fn bind(
        dir: &Path,
        gid: &GardenId,
        handler: impl Handler,
    ) -> Result<ServerHandle, ServeError> {
        std::fs::create_dir_all(dir).map_err(|source| ServeError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let path = socket_path(dir, gid);
        match inspect(&path) {
            SocketInspection::Absent { .. } => {}
            SocketInspection::AddressConflict { reason, .. } => {
                return Err(ServeError::AddressConflict { path, reason })
            }
            SocketInspection::Indeterminate { error, .. } => {
                return Err(ServeError::Indeterminate {
                    path,
                    detail: format!("lstat: {error}"),
                })
            }
            SocketInspection::SocketFile { .. } => match probe(&path).await {
                SocketLiveness::Alive => return Err(ServeError::AlreadyServed { path }),
                SocketLiveness::Indeterminate => {
                    return Err(ServeError::Indeterminate {
                        path,
                        detail: "connect probe indeterminate".to_owned(),
                    })
                }
                SocketLiveness::Dead => match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => return Err(ServeError::Bind { path, source }),
                },
            },
        }
        let bind_err = |source| ServeError::Bind {
            path: path.clone(),
            source,
        };
        let listener = UnixListener::bind(&path).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        // SAFETY: the listener owns its descriptor; nothing replaces or closes it while the
        // `AsyncFd` holds it (it is only accepted on and finally dropped).
        let listener = unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) }
            .map_err(|e| bind_err(io::Error::from(e)))?;
        let identity = std::fs::symlink_metadata(&path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        let (stop, stop_rx) = watch::channel(false);
        let ctx = Arc::new(ConnCtx {
            gid: gid.clone(),
            handler: Box::new(handler),
        });
        let task = tokio::spawn(accept_loop(listener, ctx, stop_rx));
        Ok(ServerHandle {
            path,
            identity,
            stop,
            task: Some(task),
        })
    }
}

impl ServerHandle {
    /// The socket path being served.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, closes every open connection, waits for the serving task, and removes
    /// the socket file if it is still the one this server bound (same device and inode).
    ///
    /// It does not wait for clients: open connections are closed at once, whatever they are
    /// doing, and a client mid-request sees EOF (its RPC fails as "closed before response").
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            // A panicking handler only ends its own task; nothing to report here.
            let _ = task.await;
        }
        self.remove_own_socket();
    }

    fn remove_own_socket(&mut self) {
        let Some(identity) = self.identity.take() else {
            return;
        };
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == identity {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.remove_own_socket();
    }
}

struct ConnCtx {
    gid: GardenId,
    handler: Box<dyn Handler>,
}

async fn accept_loop(
    listener: AsyncFd<UnixListener>,
    ctx: Arc<ConnCtx>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = accept(&listener) => match accepted.and_then(Conn::new) {
                Ok(conn) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    connections.spawn(serve_connection(conn, ctx.clone()));
                }
                Err(e) if accept_retry_now(&e) => {}
                // EMFILE, ENFILE, ENOBUFS, ENOMEM, …: the pending connection stays in the
                // backlog. Keep serving the connections we have and try again once one of them
                // ends (its descriptor is free) or the back-off passes, never in a tight loop.
                Err(_) => {
                    let pause = tokio::time::sleep(backoff);
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    tokio::select! {
                        _ = stop.changed() => break,
                        () = pause => {}
                        Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// First pause after a failed accept; it doubles on each failure in a row up to
/// [`ACCEPT_BACKOFF_MAX`], and resets once a connection is accepted.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause between accept attempts while descriptors stay exhausted.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(250);

/// Accept failures worth retrying at once: the one pending connection went away, or a signal.
fn accept_retry_now(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted
    )
}

/// The next connection, nonblocking. Cancel-safe: nothing is accepted across an `.await`.
async fn accept(listener: &AsyncFd<UnixListener>) -> io::Result<UnixStream> {
    loop {
        let mut ready = listener.readable().await?;
        let accepted = ready.try_io(|l| {
            accept_with(l.get_ref(), SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)
                .map_err(io::Error::from)
        });
        match accepted {
            Ok(result) => return result.map(UnixStream::from),
            // Not ready after all: the readiness is cleared, wait for the next one.
            Err(_would_block) => continue,
        }
    }
}

/// One accepted connection. It is registered for reading only: replies are written straight
/// into the socket buffer, so a client reading its reply does not wake this server for write
/// space. Only a reply larger than the buffer registers for writability (once, then keeps it).
struct Conn {
    io: Option<AsyncFd<UnixStream>>,
    writable: bool,
}

impl Conn {
    fn new(stream: UnixStream) -> io::Result<Self> {
        Ok(Self {
            io: Some(register(stream, Interest::READABLE)?),
            writable: false,
        })
    }

    fn afd(&self) -> io::Result<&AsyncFd<UnixStream>> {
        self.io
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// Reads what is there into `chunk`'s spare capacity (appended, never zeroed first),
    /// waiting for more only when nothing is. `Ok(0)` at EOF.
    async fn read(&mut self, chunk: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            let afd = self.afd()?;
            match recv(afd.get_ref(), spare_capacity(chunk), RecvFlags::empty()) {
                Ok((n, _)) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => afd.readable().await?.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn write_all(&mut self, mut out: &[u8]) -> io::Result<()> {
        while !out.is_empty() {
            match send(self.afd()?.get_ref(), out, SendFlags::NOSIGNAL) {
                Ok(n) => out = &out[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => self.wait_writable().await?,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn wait_writable(&mut self) -> io::Result<()> {
        if !self.writable {
            let Some(afd) = self.io.take() else {
                return Err(io::ErrorKind::NotConnected.into());
            };
            self.io = Some(register(
                afd.into_inner(),
                Interest::READABLE | Interest::WRITABLE,
            )?);
            self.writable = true;
        }
        self.afd()?.writable().await?.clear_ready();
        Ok(())
    }
}

fn register(stream: UnixStream, interest: Interest) -> io::Result<AsyncFd<UnixStream>> {
    // SAFETY: the stream owns its descriptor; nothing replaces or closes it while the
    // `AsyncFd` holds it (it is only read, written, and dropped or taken back whole).
    unsafe { AsyncFd::register_with_interest(stream, interest) }.map_err(io::Error::from)
}

/// Serves one connection until EOF, a read/write error, or a request line over
/// [`MAX_REQUEST_LINE`] (refused with a `parse` response, then closed). Errors (EPIPE,
/// ECONNRESET, …) end only this connection.
///
/// Each chunk read spends tokio's cooperative budget, so a client that always has input ready
/// (a flood of requests, a long line) yields to the other connections on the same worker.
async fn serve_connection(mut conn: Conn, ctx: Arc<ConnCtx>) {
    let mut assembler = LineAssembler::new(MAX_REQUEST_LINE);
    let mut lines = Vec::new();
    // On the heap and never zeroed (`Conn::read` fills spare capacity): an 8 KiB array here
    // would be copied with the future into every spawned connection task.
    let mut chunk = Vec::with_capacity(8192);
    loop {
        chunk.clear();
        let n = match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let pushed = assembler.push(&chunk[..n], &mut lines);
        for line in lines.drain(..) {
            let response = respond(&line, &ctx).await;
            if conn.write_all(response.to_line().as_bytes()).await.is_err() {
                return;
            }
        }
        if let Err(too_long) = pushed {
            let refusal = Response::fail(PARSE_COMMAND, too_long.message(), None);
            // Best effort: the connection is closed either way, and nothing more is read.
            let _ = conn.write_all(refusal.to_line().as_bytes()).await;
            return;
        }
        tokio::task::coop::consume_budget().await;
    }
}

/// The full server-side answer to one trimmed, non-empty line.
async fn respond(line: &str, ctx: &ConnCtx) -> Response {
    let incoming = match parse_line(line) {
        Ok(incoming) => incoming,
        Err(err) => return err.to_response(),
    };
    let command = incoming.command.as_str();
    let id = incoming.id.clone();
    let handler = &ctx.handler;
    let result: Result<Option<Value>, String> = match command {
        "send" => match validate_send(&incoming.body) {
            Err(e) => Err(e),
            Ok(request) => handler.on_send(request).await.map(|d| Some(to_value(&d))),
        },
        "get_info" => handler
            .on_get_info(&ctx.gid)
            .await
            .map(|d| Some(to_value(&d))),
        "get_message" => handler
            .on_get_message()
            .await
            .map(|m| Some(json!({ "message": m }))),
        "abort" => handler.on_abort().await.map(|()| None),
        "clear" => {
            let summarize = incoming.body.get("summarize").is_some_and(is_truthy);
            handler
                .on_clear(summarize)
                .await
                .map(|d| Some(to_value(&d)))
        }
        other => Err(format!("Unsupported command: {other}")),
    };
    match result {
        Ok(data) => Response::ok(command, data, id),
        Err(error) => Response::fail(command, error, id),
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Answers one request line with `handler`, exactly as a connection would (for tests and
/// tools that want the bytes without a socket). `None` for a blank line. No IO, so no timeout
/// and no peer: it returns when the handler does.
pub async fn respond_to_line(line: &str, gid: &GardenId, handler: impl Handler) -> Option<String> {
    let trimmed = crate::wire::js_trim(line);
    if trimmed.is_empty() {
        return None;
    }
    let ctx = ConnCtx {
        gid: gid.clone(),
        handler: Box::new(handler),
    };
    Some(respond(trimmed, &ctx).await.to_line())
}
