//! Where sockets live, what an `lstat` finds there, and the connect-only liveness probe.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use entwurf_meta_session::GardenId;
use serde::{Deserialize, Serialize};

use crate::conn::probe_connect;
use crate::error::{errno_name, SocketLiveness};

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
    pub fn socket_path(&self) -> &Path {
        match self {
            SocketInspection::Absent { socket_path }
            | SocketInspection::SocketFile { socket_path }
            | SocketInspection::AddressConflict { socket_path, .. }
            | SocketInspection::Indeterminate { socket_path, .. } => socket_path,
        }
    }
}

/// `<home>/.pi/entwurf-control`: the only socket directory the reference server and the v2
/// dispatch client use. Pure: the caller reads the home directory at its edge.
pub fn default_control_dir(home: &Path) -> PathBuf {
    home.join(".pi").join("entwurf-control")
}

/// `<control_dir>/<gid>.sock`.
pub fn socket_path(control_dir: &Path, gid: &GardenId) -> PathBuf {
    control_dir.join(format!("{}.sock", gid.as_str()))
}

/// `lstat` the path (never follows a symlink, never connects).
///
/// Symlink is checked first (→ address-conflict/symlink), then socket (→ socket-file), anything
/// else → address-conflict/not-socket; `ENOENT` → absent; any other error → indeterminate with
/// the errno name (or `unknown lstat error`).
pub fn inspect(path: &Path) -> SocketInspection {
    let socket_path = path.to_path_buf();
    match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            SocketInspection::Absent { socket_path }
        }
        Err(err) => SocketInspection::Indeterminate {
            socket_path,
            error: errno_name(&err).unwrap_or_else(|| "unknown lstat error".to_owned()),
        },
        Ok(meta) => {
            let ft = meta.file_type();
            if ft.is_symlink() {
                SocketInspection::AddressConflict {
                    socket_path,
                    reason: ConflictReason::Symlink,
                }
            } else if ft.is_socket() {
                SocketInspection::SocketFile { socket_path }
            } else {
                SocketInspection::AddressConflict {
                    socket_path,
                    reason: ConflictReason::NotSocket,
                }
            }
        }
    }
}

/// Connects to `path` (following symlinks, like the reference's bare probe), writes nothing and
/// closes at once.
///
/// Accepted → `Alive` (even a listener that never accepts or answers); `ECONNREFUSED`/`ENOENT` →
/// `Dead`; any other error → `Indeterminate` (`EAGAIN` for a full backlog). There is no time
/// budget because there is nothing to wait for: a nonblocking Unix-socket connect completes or
/// fails at once (see [`crate::probe_connect`]). The reference's 300 ms probe timeout guards a
/// wait this client never makes.
pub async fn probe(path: &Path) -> SocketLiveness {
    probe_connect(path).liveness()
}

/// `lstat` first, then probe only a socket file: absent → dead, socket-file → the probe's answer,
/// indeterminate → indeterminate, address-conflict → `Err(reason)` (never connected to).
/// Never waits, like [`probe`].
pub async fn inspect_and_probe(path: &Path) -> Result<SocketLiveness, ConflictReason> {
    match inspect(path) {
        SocketInspection::Absent { .. } => Ok(SocketLiveness::Dead),
        SocketInspection::SocketFile { .. } => Ok(probe(path).await),
        SocketInspection::Indeterminate { .. } => Ok(SocketLiveness::Indeterminate),
        SocketInspection::AddressConflict { reason, .. } => Err(reason),
    }
}
