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
//!
//! Layers, bottom up (each module imports only those below it): `error` (failure classes,
//! liveness, errno helpers) and `wire` at the bottom, `lines` on `wire`, `conn` (the
//! request/reply engine and the connect probe) on `error` and `wire`, then `client` and `socket`
//! on `conn`, and `server` on `socket`, `lines` and `wire`.
//!
//! **Architecture Invariant:** the modules layer one way, as listed above; `error` imports no
//! other module. Proved by
//! `crates/entwurf-control-rpc/tests/layers.rs::modules_import_only_lower_layers` and
//! `::error_is_a_leaf`.
//!
//! **Architecture Invariant:** the wire is the reference's, byte for byte: the request lines
//! the client writes, the responses it reads and every exchange a server answers
//! (`fixtures/golden/rpc/`). Proved by
//! `crates/entwurf-control-rpc/tests/golden.rs::client_writes_req_send_full`,
//! `::client_reads_golden_send_responses`, `::server_answers_every_golden_exchange` and
//! `::sender_info_content_matches_the_golden_transcript`.
//!
//! **Architecture Invariant:** only a connect that fails with `ECONNREFUSED` or `ENOENT` is
//! *dead* (nobody can have received anything, so a dispatcher may retry); every other failure,
//! and an RPC cut off after its request was written, is *indeterminate*. Proved by
//! `crates/entwurf-control-rpc/tests/client_table.rs::nobody_listening_is_dead`,
//! `::permission_denied_is_indeterminate`, `::incomplete_rpc_is_indeterminate` and
//! `crates/entwurf-control-rpc/tests/probe_connection.rs::a_listener_gone_before_the_request_is_a_dead_connect`.
//!
//! **Architecture Invariant:** inspecting never connects or follows: [`inspect`] is an `lstat`,
//! so a symlink at the socket path is an address conflict even when it points at a live
//! socket; a probe writes nothing, and a probe connection dropped unused writes nothing either.
//! Proved by
//! `crates/entwurf-control-rpc/tests/client_table.rs::symlink_to_a_live_socket_is_an_address_conflict_but_probes_alive`,
//! `::the_probe_writes_nothing_and_the_listener_keeps_serving` and
//! `crates/entwurf-control-rpc/tests/probe_connection.rs::a_dropped_probe_connection_writes_nothing`.
//!
//! **Architecture Invariant:** the server never buffers more than [`MAX_REQUEST_LINE`] (1 MiB)
//! of one request line (over it: a `parse` error naming the limit, then close); every read
//! spends tokio's coop budget, so no connection's input can starve another; a failed `accept`
//! (`EMFILE`, …) pauses the accept loop until a connection ends or a back-off passes, never a
//! busy loop. Proved by
//! `crates/entwurf-control-rpc/tests/server_limits.rs::a_request_line_over_the_limit_gets_an_error_naming_the_limit_then_the_connection_closes`,
//! `::a_client_flooding_input_cannot_starve_another_clients_get_info`,
//! `::accept_backs_off_when_descriptors_run_out_and_resumes_when_they_free_up` and
//! `crates/entwurf-control-rpc/src/lines.rs::an_unterminated_line_is_refused_while_it_streams_never_buffering_past_the_limit`.
//!
//! **Architecture Invariant:** the server refuses to take over a live listener's path, refuses
//! a symlink or non-socket there (and keeps it), replaces only a stale socket file, and on
//! shutdown removes only its own socket (dev/ino check). Proved by
//! `crates/entwurf-control-rpc/tests/server.rs::a_second_server_on_a_live_path_is_refused`,
//! `::a_symlink_or_non_socket_is_refused_and_kept`, `::a_stale_socket_file_is_replaced` and
//! `::shutdown_leaves_a_socket_that_replaced_ours`.

#![deny(missing_docs)]

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
