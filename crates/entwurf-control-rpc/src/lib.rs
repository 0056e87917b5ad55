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

//! Layers, bottom up (each module imports only those below it): `error` (failure classes,
//! liveness, errno helpers) and `wire` at the bottom, `lines` on `wire`, `conn` (the
//! request/reply engine and the connect probe) on `error` and `wire`, then `client` and `socket`
//! on `conn`, and `server` on `socket`, `lines` and `wire`.

mod client;
mod conn;
mod error;
mod lines;
mod server;
mod socket;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod wire;

pub use client::{
    get_info, get_info_within, send_command, send_message, send_message_within,
    DEFAULT_RPC_TIMEOUT, GET_INFO_TIMEOUT,
};
pub use conn::{probe_connect, ProbeConnection, Probed, SendAck, FAST_WAIT, SPIN_WAIT};
pub use error::{errno_name, is_dead_connect_error, FailureClass, RpcError, SocketLiveness};
pub use lines::MAX_REQUEST_LINE;
pub use server::{respond_to_line, Handler, ServeError, Server, ServerHandle};
pub use socket::{
    default_control_dir, inspect, inspect_and_probe, probe, socket_path, ConflictReason,
    SocketInspection,
};
pub use wire::{
    sender_info_block, AssistantMessage, ClearData, DeliveredAs, InfoData, LineParseError,
    ModelRef, Request, Response, RuntimeInfo, SendData, SendMode, SendRequest, SenderEnvelope,
};
