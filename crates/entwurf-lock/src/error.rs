//! The typed failures of the lock. A conflict is not an error: it is an [`crate::AcquireOutcome`].

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while taking, releasing, inspecting or clearing a lock.
///
/// Every variant names the path (or the rejected id) it is about.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The garden id does not match the grammar; no path was built and no dir was created.
    #[error(
        "entwurf-v2-lock: refusing to build a lock path from an invalid garden id ({}).",
        json_quote(.value)
    )]
    InvalidGardenId {
        /// The rejected value, verbatim.
        value: String,
    },
    /// Something that is not a directory sits where the lock dir should be.
    #[error(
        "entwurf-v2-lock: the lock dir {} exists but is not a directory; move it away or point --lock-dir / ENTWURF_V2_LOCK_DIR at a directory",
        dir.display()
    )]
    DirNotADirectory {
        /// The configured lock dir.
        dir: PathBuf,
    },
    /// `mkdir -p` of the lock dir failed.
    #[error(
        "entwurf-v2-lock: cannot create the lock dir {}: {source}; check the permissions of its parent or choose another lock dir",
        dir.display()
    )]
    DirCreate {
        /// The configured lock dir.
        dir: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The exclusive create of the lock file failed for a reason other than "it exists".
    #[error(
        "entwurf-v2-lock: failed to acquire {}: {source}; check that the lock dir is writable",
        path.display()
    )]
    Open {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Writing the claim line failed; our own half-written file was removed again.
    #[error(
        "entwurf-v2-lock: failed to write claim to {}: {source}; the partial lock file was removed, retry once the disk accepts writes",
        path.display()
    )]
    WriteClaim {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Our claim (or reclaim marker) would be longer than a lock file may be: the lock path is
    /// too long. Nothing was written.
    #[error(
        "entwurf-v2-lock: the claim for {} would be longer than the {cap}-byte cap of a lock file; nothing was written: use a lock dir with a shorter path",
        path.display()
    )]
    ClaimTooLarge {
        /// The lock file (or marker).
        path: PathBuf,
        /// The cap in bytes.
        cap: u64,
    },
    /// The claim could not be encoded (the lock path is not valid UTF-8).
    #[error(
        "entwurf-v2-lock: cannot encode a claim for {}: {source}; use a lock dir whose path is valid UTF-8",
        path.display()
    )]
    EncodeClaim {
        /// The lock file.
        path: PathBuf,
        /// The encoder's complaint.
        source: serde_json::Error,
    },
    /// An existing lock file could not be read (for example a directory sits at `<gid>.lock`).
    #[error(
        "entwurf-v2-lock: cannot read the lock file {}: {source}; if it is not a lock file (a directory, say), move it away by hand",
        path.display()
    )]
    Read {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Something that is not a regular file sits at the lock path: no dispatcher ever writes one,
    /// so it is neither followed, read, waited on nor taken as a holder.
    #[error(
        "entwurf-v2-lock: cannot read the lock file {}: it is a {kind}, not a lock file (no dispatcher writes one; it was not followed or read); {}, then retry",
        path.display(),
        kind.removal_hint()
    )]
    NotALockFile {
        /// The lock file path.
        path: PathBuf,
        /// What is there instead.
        kind: crate::EntryKind,
    },
    /// Metadata of the lock or marker could not be read for a reason other than "absent".
    #[error(
        "entwurf-v2-lock: cannot stat {}: {source}; check the lock dir permissions",
        path.display()
    )]
    Stat {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The `.reclaim` marker could not be created for a reason other than "it exists".
    #[error(
        "entwurf-v2-lock: cannot create the reclaim marker {}: {source}; check that the lock dir is writable",
        path.display()
    )]
    ReclaimMarker {
        /// The marker file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Removing a lock file or marker failed.
    #[error(
        "entwurf-v2-lock: cannot remove {}: {source}; check the lock dir permissions and remove it by hand",
        path.display()
    )]
    Unlink {
        /// The file we tried to remove.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// `JSON.stringify` of a string: the quoted, escaped form the reference puts into its messages.
pub(crate) fn json_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}
