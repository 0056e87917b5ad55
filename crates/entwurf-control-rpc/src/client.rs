//! The async client: one request per connection, newline-delimited JSON.

use std::path::Path;
use std::time::Duration;

use crate::conn::{send_fresh, SendAck};
use crate::error::RpcError;
use crate::wire::{Request, Response, RuntimeInfo, SendRequest};

/// Default budget for connect plus reply (`sendRpcCommand`). The v2 `send` uses it.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_millis(5000);
/// Budget for `get_info` (peer listings).
pub const GET_INFO_TIMEOUT: Duration = Duration::from_millis(1500);

/// Sends one command on a fresh connection and waits for its response.
///
/// Writes `request.to_line()`, then reads lines, ignoring any that are not
/// `{"type":"response","command":<request's type>,…}`; the first match wins, after which the
/// connection is closed (the listener reads EOF). The client sends no `id` and does not check
/// one. The first 2 ms of the wait for the reply block the calling task in `poll(2)` (the first
/// 100 µs of them polled awake; a local listener answers well within that); a slower reply is
/// awaited on the tokio reactor.
///
/// * On timeout (one budget for connect plus reply) → [`RpcError::Timeout`] (indeterminate).
/// * When the peer vanishes before a match (EOF, `EPIPE`, `ECONNRESET`) →
///   [`RpcError::ClosedBeforeResponse`] (indeterminate).
/// * Connect errors → [`RpcError::Connect`] (dead for `ECONNREFUSED`/`ENOENT`).
pub async fn send_command(
    path: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, RpcError> {
    send_fresh(path, request, timeout).await
}

/// Sends a `send` with the default 5000 ms budget. See [`send_message_within`].
pub async fn send_message(path: &Path, request: SendRequest) -> Result<SendAck, RpcError> {
    send_message_within(path, request, DEFAULT_RPC_TIMEOUT).await
}

/// Sends a `send` and reports the receiver's `success` / `error`.
///
/// A `success:false` reply is a completed RPC (`Ok` with `success:false`). Timeout, early close
/// and connect failures are errors as in [`send_command`].
pub async fn send_message_within(
    path: &Path,
    request: SendRequest,
    timeout: Duration,
) -> Result<SendAck, RpcError> {
    let response = send_command(path, &Request::Send(request), timeout).await?;
    Ok(SendAck::from(response))
}

/// `get_info` with the 1500 ms budget. See [`get_info_within`].
pub async fn get_info(path: &Path) -> Result<RuntimeInfo, RpcError> {
    get_info_within(path, GET_INFO_TIMEOUT).await
}

/// Asks a citizen for its runtime facts.
///
/// `success:false` → [`RpcError::Refused`] with the peer's text (or `get_info failed`).
/// Fields of the wrong type come back as `None`. Timeout and a vanished peer as in
/// [`send_command`].
pub async fn get_info_within(path: &Path, timeout: Duration) -> Result<RuntimeInfo, RpcError> {
    let response = send_command(path, &Request::GetInfo, timeout).await?;
    if !response.success {
        return Err(RpcError::Refused {
            path: path.to_path_buf(),
            error: response
                .error
                .unwrap_or_else(|| "get_info failed".to_owned()),
        });
    }
    Ok(RuntimeInfo::from_data(response.data.as_ref()))
}
