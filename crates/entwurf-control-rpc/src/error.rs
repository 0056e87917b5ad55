//! The bottom layer of the crate: how a control-socket exchange fails and what each failure says
//! about delivery. [`RpcError`] and its [`FailureClass`], the [`SocketLiveness`] a probe reports,
//! and the errno helpers that sort a connect error into dead or indeterminate. Nothing here
//! imports another module of the crate; `conn`, `client`, `socket` and `server` build on it.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Result of a connect probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SocketLiveness {
    /// A listener accepted the connection.
    Alive,
    /// `ECONNREFUSED` or `ENOENT`: nobody listens.
    Dead,
    /// Any other connect error (`EACCES`, `EAGAIN`, …): we cannot tell.
    Indeterminate,
}

/// Whether a failed RPC could have been delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// Nobody listened (`ECONNREFUSED` / `ENOENT` on connect): nothing was delivered, a
    /// re-resolve and retry is safe.
    Dead,
    /// Anything else: the peer may have received the request, so a retry could double-deliver.
    Indeterminate,
}

/// A control-socket RPC that did not complete.
///
/// The `Display` text never repeats the underlying IO error: it is the [`std::error::Error::source`]
/// (print the chain to show it).
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// `connect` failed. `code` is the errno name (`ECONNREFUSED`, `ENOENT`, `EACCES`, `EAGAIN`, …).
    #[error("connect {code} {}: the control socket is not accepting connections (a dead socket means the citizen is not running)", path.display())]
    Connect {
        path: PathBuf,
        code: String,
        #[source]
        source: io::Error,
    },
    /// No matching response within the budget (covers connect plus reply).
    #[error("timeout: no response from {} within {} ms; the peer may still act on the request, do not retry blindly", path.display(), timeout.as_millis())]
    Timeout { path: PathBuf, timeout: Duration },
    /// The peer closed (or reset) the connection before a matching response arrived.
    #[error("connection closed before response from {}; the peer may have received the request, do not retry blindly", path.display())]
    ClosedBeforeResponse { path: PathBuf },
    /// Writing the request or reading the reply failed after connect.
    #[error("control socket IO on {} failed; the peer may have received the request, do not retry blindly", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A completed RPC answered `success:false` where the convenience call needs success
    /// (`get_info`). `error` is the peer's text, or `get_info failed` when it sent none.
    #[error("{error}")]
    Refused { path: PathBuf, error: String },
}

impl RpcError {
    /// `Dead` only for a connect that failed with `ECONNREFUSED` or `ENOENT`.
    pub fn class(&self) -> FailureClass {
        match self {
            RpcError::Connect { source, .. } if is_dead_connect_error(source) => FailureClass::Dead,
            _ => FailureClass::Indeterminate,
        }
    }

    /// The socket path the call was aimed at.
    pub fn path(&self) -> &Path {
        match self {
            RpcError::Connect { path, .. }
            | RpcError::Timeout { path, .. }
            | RpcError::ClosedBeforeResponse { path }
            | RpcError::Io { path, .. }
            | RpcError::Refused { path, .. } => path,
        }
    }
}

/// The errno name of an IO error (`ECONNREFUSED`, …), or `None` when it carries no OS code.
pub fn errno_name(err: &io::Error) -> Option<String> {
    let raw = err.raw_os_error()?;
    let e = rustix::io::Errno::from_raw_os_error(raw);
    use rustix::io::Errno as E;
    let name = match e {
        E::CONNREFUSED => "ECONNREFUSED",
        E::NOENT => "ENOENT",
        E::ACCESS => "EACCES",
        E::AGAIN => "EAGAIN",
        E::TIMEDOUT => "ETIMEDOUT",
        E::PIPE => "EPIPE",
        E::CONNRESET => "ECONNRESET",
        E::NOTDIR => "ENOTDIR",
        E::LOOP => "ELOOP",
        E::NAMETOOLONG => "ENAMETOOLONG",
        E::PERM => "EPERM",
        E::NOTSOCK => "ENOTSOCK",
        E::INVAL => "EINVAL",
        E::ADDRINUSE => "EADDRINUSE",
        E::IO => "EIO",
        _ => return Some(format!("errno {raw}")),
    };
    Some(name.to_owned())
}

/// True for the two connect codes that mean "nobody listens": `ECONNREFUSED` and `ENOENT`.
pub fn is_dead_connect_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error().map(rustix::io::Errno::from_raw_os_error),
        Some(rustix::io::Errno::CONNREFUSED) | Some(rustix::io::Errno::NOENT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IO error is the source, shown by the chain; the error's own text says what failed and
    /// what it means for a retry, without repeating it.
    #[test]
    fn an_io_failure_keeps_its_os_error_out_of_its_own_text() {
        let source = io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error());
        let os_text = source.to_string();
        let err = RpcError::Io {
            path: PathBuf::from("/c/x.sock"),
            source,
        };
        assert!(!err.to_string().contains(&os_text), "{err}");
        let chain = entwurf_fs::Chain(&err).to_string();
        assert!(chain.contains(&os_text), "{chain}");
        assert!(chain.starts_with(&err.to_string()), "{chain}");
    }
}
