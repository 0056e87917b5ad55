//! The control socket (`<home>/.pi/entwurf-control/<gid>.sock`, newline-delimited JSON): wire
//! types, an async client, `lstat` inspection, the connect probe, and an embeddable server.
//!
//! It owns the protocol of the reference's `--entwurf-control` pi extension, byte for byte:
//! request lines the client writes, response lines a server writes, the sender envelope checks,
//! and the dead/indeterminate split a dispatcher needs to know whether a retry is safe.
//!
//! ```no_run
//! use entwurf_control_rpc::{default_control_dir, socket_path, inspect, send_message, SendRequest};
//! use entwurf_meta_session::GardenId;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let gid = GardenId::parse("20260612T100000-aaaaaa")?;
//! let path = socket_path(&default_control_dir(std::path::Path::new("/home/u")), &gid);
//! println!("{:?}", inspect(&path));
//! let ack = send_message(&path, SendRequest::new("hello")).await?;
//! assert!(ack.success);
//! # Ok(()) }
//! ```
//!
//! Dispatching under a lock: [`probe_connect`] is the liveness probe that keeps its connection
//! ([`Probed::Alive`] holds a [`ProbeConnection`]), so the request can follow on the same
//! connection instead of a second connect.
//!
//! Serving: `Server::bind(dir, &gid, handler).await?` gives a [`ServerHandle`]; `shutdown()`
//! removes the socket only if it is still the one bound.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Result of a connect probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SocketLiveness {
    /// A listener accepted the connection.
    Alive,
    /// `ECONNREFUSED` or `ENOENT`: nobody listens.
    Dead,
    /// Anything else (timeout, `EACCES`, `EAGAIN`, …): we cannot tell.
    Indeterminate,
}

/// Why the canonical socket path is not a socket we may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictReason {
    /// A symbolic link (never followed).
    Symlink,
    /// A regular file, directory, fifo, ...
    NotSocket,
}

/// What an `lstat` of the canonical socket path found (no connect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketInspection {
    /// `ENOENT`.
    Absent { socket_path: PathBuf },
    /// A socket file (the only case worth a connect probe).
    SocketFile { socket_path: PathBuf },
    /// A symlink or a non-socket at the path.
    AddressConflict {
        socket_path: PathBuf,
        reason: ConflictReason,
    },
    /// `lstat` failed with something other than `ENOENT`; `error` is the errno name.
    Indeterminate { socket_path: PathBuf, error: String },
}

impl SocketInspection {
    /// The inspected path.
    pub fn socket_path(&self) -> &std::path::Path {
        match self {
            SocketInspection::Absent { socket_path }
            | SocketInspection::SocketFile { socket_path }
            | SocketInspection::AddressConflict { socket_path, .. }
            | SocketInspection::Indeterminate { socket_path, .. } => socket_path,
        }
    }
}

mod client;
mod conn;
mod lines;
mod server;
mod socket;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod wire;

pub use client::{
    get_info, get_info_within, send_command, send_message, send_message_within, FailureClass,
    RpcError, SendAck, DEFAULT_RPC_TIMEOUT, GET_INFO_TIMEOUT,
};
pub use conn::{probe_connect, ProbeConnection, Probed, FAST_WAIT, SPIN_WAIT};
pub use lines::MAX_REQUEST_LINE;
pub use server::{respond_to_line, Handler, ServeError, Server, ServerHandle};
pub use socket::{
    default_control_dir, errno_name, inspect, inspect_and_probe, is_dead_connect_error, probe,
    probe_within, socket_path, PROBE_TIMEOUT,
};
pub use wire::{
    sender_info_block, AssistantMessage, ClearData, DeliveredAs, InfoData, LineParseError,
    ModelRef, Request, Response, RuntimeInfo, SendData, SendMode, SendRequest, SenderEnvelope,
};
