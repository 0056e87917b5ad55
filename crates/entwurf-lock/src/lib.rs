//! The per-target dispatch lock: `<lockDir>/<gid>.lock`, one compact JSON claim line.
//!
//! This crate owns the lock file format, acquire (exclusive create), reclaim of a holder that is
//! provably dead on this host (`kill(pid, 0)` fails with `ESRCH`) under a `.reclaim` marker with a
//! nonce re-check, release by the owner of the nonce only, and the inspection and by-hand clearing
//! the CLI offers. There is no age-based steal and no reclaim across hosts. Everything is
//! synchronous; directories are passed in (see [`default_lock_dir`] for the production default).
//!
//! ```no_run
//! use entwurf_lock::{AcquireOutcome, Lock};
//! use entwurf_meta_session::GardenId;
//!
//! let lock = Lock::new("/tmp/entwurf-v2-locks");
//! let gid = GardenId::parse("20260612T100000-aaaaaa")?;
//! match lock.acquire(&gid)? {
//!     AcquireOutcome::Acquired(claim) => {
//!         // ... dispatch under the lock ...
//!         lock.release(&claim)?;
//!     }
//!     AcquireOutcome::Conflict(c) => eprintln!("target-locked: {}", c.detail),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod claim;
mod error;
mod fsio;
mod lock;
mod options;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use claim::{
    claim_line, classify_kill, contended_detail, corrupt_detail, describe_holder, holder_detail,
    iso_millis, judge_holder, marker_busy_detail, marker_creator_is_dead, marker_line,
    parse_holder, parse_marker, ClaimPid, HolderState, MarkerCreator, ProcessLiveness,
};
pub use error::LockError;
pub use fsio::{EntryKind, MAX_LOCK_FILE_BYTES, MAX_MARKER_BYTES};
pub use lock::{
    lock_path_for, parse_garden_id, reclaim_marker_path, ClearOutcome, Lock, LockStatus,
    ReclaimMarker,
};
pub use options::{
    default_lock_dir, now_iso, os_hostname, own_start_key, random_nonce, real_kill_probe,
    real_start_key, LockOptions, MarkerHook, ProcessProbe, StartKeyProbe, StringSource,
    LOCK_DIR_ENV,
};
pub use rustix::io::Errno;

/// The `reason` of every [`LockConflict`].
pub const LOCK_CONFLICT_REASON: &str = "target-locked";

/// The value of `owner` in every claim this lock writes.
pub const LOCK_OWNER: &str = "entwurf_v2";

/// A claim on a garden id, as written into the lock file (key order is the wire order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockClaim {
    /// The locked garden id.
    pub garden_id: String,
    /// The holder's process id (any JSON number when read from a file; see [`ClaimPid`]).
    pub pid: ClaimPid,
    /// The holder's hostname.
    pub hostname: String,
    /// ISO-8601 UTC with milliseconds, at acquire.
    pub created_at: String,
    /// 16 lowercase hex chars; the proof of ownership on release.
    pub nonce: String,
    /// Always [`LOCK_OWNER`].
    pub owner: String,
    /// Absolute path of the lock file.
    pub lock_path: PathBuf,
    /// The holder's process start key (`linux:<starttime>`, see
    /// [`entwurf_meta_session::process_start_key`]), written into the lock file as one more
    /// field, `startKey`, after `lockPath` (the reference's parser ignores unknown fields). `None`
    /// when unknown, and for a reference-written lock. It is not part of this type's serde form,
    /// so receipts, decisions and `target-locked` diagnostics keep the reference's seven fields.
    #[serde(skip)]
    pub start_key: Option<String>,
}

/// Why an acquire did not get the lock, with the evidence the reference reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockConflict {
    /// Always `"target-locked"`.
    pub reason: String,
    /// The lock file.
    pub lock_path: PathBuf,
    /// The parsed holder, or `None` when the file is empty, corrupt or another gid's.
    pub holder: Option<LockClaim>,
    /// Human text (one of the reference's three templates).
    pub detail: String,
}

/// The result of an acquire that did not fail with an IO error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireOutcome {
    /// We hold the lock.
    Acquired(LockClaim),
    /// Someone else does (or the file is corrupt, or a reclaim is in progress).
    Conflict(LockConflict),
}

/// The result of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseOutcome {
    /// Our claim was removed.
    Released,
    /// The file holds someone else's claim (or is corrupt); it was kept.
    NotOwned,
    /// There was no lock file.
    Absent,
}
