//! The per-target dispatch lock: `<lockDir>/<gid>.lock`, one compact JSON claim line.
//!
//! Acquire is an exclusive create; a holder that is provably dead on this host (`kill(pid, 0)`
//! fails with `ESRCH`) is reclaimed under a `.reclaim` marker; release succeeds only for the
//! owner of the nonce. There is no age-based steal and no reclaim across hosts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The value of `owner` in every claim this lock writes.
pub const LOCK_OWNER: &str = "entwurf_v2";

/// A claim on a garden id, as written into the lock file (key order is the wire order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockClaim {
    /// The locked garden id.
    pub garden_id: String,
    /// The holder's process id.
    pub pid: u32,
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
