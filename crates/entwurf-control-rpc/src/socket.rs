//! Where sockets live, what an `lstat` finds there, and the connect-only liveness probe.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use entwurf_meta_session::GardenId;

use crate::conn::probe_connect;
use crate::{ConflictReason, SocketInspection, SocketLiveness};

/// Connect probe budget (`DEFAULT_PROBE_TIMEOUT_MS`).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// `<home>/.pi/entwurf-control`: the only socket directory the reference server and the v2
/// dispatch client use. Pure: the caller reads the home directory at its edge.
pub fn default_control_dir(home: &Path) -> PathBuf {
    home.join(".pi").join("entwurf-control")
}

/// `<control_dir>/<gid>.sock`.
pub fn socket_path(control_dir: &Path, gid: &GardenId) -> PathBuf {
    control_dir.join(format!("{}.sock", gid.as_str()))
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

/// Connect-only liveness probe with the default 300 ms budget: on timeout `Indeterminate`; a
/// peer that vanishes after accepting is still `Alive`. See [`probe_within`].
pub async fn probe(path: &Path) -> SocketLiveness {
    probe_within(path, PROBE_TIMEOUT).await
}

/// Connects to `path` (following symlinks, like the reference's bare probe), writes nothing and
/// closes at once.
///
/// Accepted → `Alive` (even a listener that never answers); `ECONNREFUSED`/`ENOENT` → `Dead`;
/// any other error → `Indeterminate` (`EAGAIN` for a full backlog). A Unix-socket connect never
/// waits (it completes or fails at once, see [`crate::probe_connect`]), so `timeout` is an upper
/// bound that is never reached; it is kept for callers that budget probes.
pub async fn probe_within(path: &Path, timeout: Duration) -> SocketLiveness {
    let _ = timeout;
    probe_connect(path).liveness()
}

/// `lstat` first, then probe only a socket file: absent → dead, socket-file → the probe's answer,
/// indeterminate → indeterminate, address-conflict → `Err(reason)` (never connected to).
/// Timeout and vanishing peers behave as in [`probe_within`] (300 ms budget).
pub async fn inspect_and_probe(path: &Path) -> Result<SocketLiveness, ConflictReason> {
    match inspect(path) {
        SocketInspection::Absent { .. } => Ok(SocketLiveness::Dead),
        SocketInspection::SocketFile { .. } => Ok(probe(path).await),
        SocketInspection::Indeterminate { .. } => Ok(SocketLiveness::Indeterminate),
        SocketInspection::AddressConflict { reason, .. } => Err(reason),
    }
}
