//! The control socket: wire types, an async client, lstat inspection, the connect probe, and an
//! embeddable server (`<dir>/<gid>.sock`, newline-delimited JSON).

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
    AddressConflict { socket_path: PathBuf, reason: ConflictReason },
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
