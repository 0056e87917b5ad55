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
//!
//! **Architecture Invariant:** at most one process holds a target's lock, and a released lock
//! leaves nothing in the lock dir. Proved by
//! `crates/entwurf-lock/tests/multiprocess.rs::eight_processes_racing_never_hold_at_once_and_leave_nothing_behind`.
//!
//! **Architecture Invariant:** a claim is published whole (`O_TMPFILE` + `linkat`, else a
//! no-clobber rename of a writer-named temp): a racing acquirer never reads an empty lock file,
//! so a `target-locked` always carries the holder, or says the lock changed hands while it
//! looked. Proved by `crates/entwurf-lock/src/lock.rs::the_proc_link_publishes_whole_and_never_replaces`,
//! `crates/entwurf-lock/src/fsio.rs::the_staged_fallback_publishes_whole_locked_and_never_replaces`
//! and `crates/entwurf-lock/src/lock.rs::a_lock_that_changes_hands_twice_is_reported_busy_not_corrupt`.
//!
//! **Architecture Invariant:** only a provably dead holder on this host is reclaimed: `kill(pid,
//! 0)` fails with `ESRCH`, or its recorded start key no longer matches its pid (pid reuse); a
//! live holder, a holder on another host or one whose liveness cannot be read is never taken,
//! and there is no age-based steal. Proved by
//! `crates/entwurf-lock/tests/multiprocess.rs::a_holder_killed_with_sigkill_is_reclaimed_by_the_next_acquirer`,
//! `::a_lock_held_by_a_live_process_on_another_hostname_is_never_taken`,
//! `crates/entwurf-lock/tests/hostile.rs::a_live_pid_with_another_start_key_is_a_dead_holder_and_is_reclaimed_without_force`,
//! `::a_live_pid_with_the_same_start_key_is_alive` and
//! `crates/entwurf-lock/tests/kill.rs::a_lock_naming_a_reused_pid_is_taken_without_force`.
//!
//! **Architecture Invariant:** only the owner of the nonce releases: release decides by the
//! parsed nonce of the file at the lock path, so a reclaimed lock is never released by its old
//! holder. Proved by
//! `crates/entwurf-lock/tests/golden.rs::reclaim_ok_replaces_a_dead_holder_and_only_the_new_nonce_releases`
//! and `::release_results_match_the_reference`.
//!
//! **Architecture Invariant:** the lock never follows, blocks on or over-reads what sits at
//! `<gid>.lock`: a symlink (dangling or not), FIFO, socket or directory there is
//! [`LockError::NotALockFile`] naming the path and how to remove it (`lock clear --force`
//! unlinks the entry, never its target); a lock over the 4 KiB cap is a corrupt lock, kept.
//! Proved by
//! `crates/entwurf-lock/tests/hostile.rs::a_dangling_symlink_at_the_lock_path_is_a_typed_error_naming_it_never_busy_for_ever`,
//! `::a_symlink_to_an_outside_claim_is_never_followed_read_or_removed`,
//! `::a_fifo_at_the_lock_path_never_blocks_acquire_inspect_release_or_clear`,
//! `::a_socket_or_directory_at_the_lock_path_is_a_typed_error_and_kept` and
//! `::a_lock_file_over_the_read_cap_is_corrupt_and_kept_and_one_within_it_still_parses`.
//!
//! **Architecture Invariant:** a dead holder is reclaimed by exactly one process. A reclaimer
//! publishes `<gid>.lock.reclaim` whole with `{"pid","hostname","startKey","createdAt"}` and
//! holds its `flock` for as long as it lives; a marker is taken over only with that `flock`
//! free, naming a creator on this host that is provably gone, and still at its path; an empty
//! marker (the reference's) or an unreadable one is never taken over and stays fail-closed.
//! Proved by `crates/entwurf-lock/tests/hostile.rs::a_marker_whose_flock_is_held_is_never_taken_over_whatever_it_says`,
//! `::two_takers_of_one_dead_marker_never_both_hold_it`,
//! `::a_live_creators_marker_or_another_hosts_is_never_taken_over`,
//! `::an_empty_reference_marker_stays_fail_closed`,
//! `::a_symlink_or_fifo_at_the_marker_path_fails_closed_and_is_never_followed`,
//! `crates/entwurf-lock/tests/kill.rs::parallel_reclaimers_never_both_hold_a_taken_over_marker`
//! and `::a_sender_killed_right_after_creating_the_reclaim_marker_does_not_lock_the_target_for_good`.
//!
//! **Architecture Invariant:** killed at any of its mutating calls, acquire, reclaim, release
//! and clear leave a lock the next acquire takes without `--force`, and nothing in the lock dir
//! once that acquire is released. Proved by
//! `crates/entwurf-lock/tests/faults.rs::every_kill_point_of_acquire_reclaim_release_and_clear_leaves_a_lock_the_next_acquire_takes`
//! (also run by `cargo xtask faults`).
//!
//! **Architecture Invariant:** the lock bytes are the reference's plus one field. Our claim line
//! carries `"startKey":"linux:<starttime>"` after `lockPath` (the reference's parser ignores
//! unknown fields, so it reads our locks unchanged; without a key the bytes are the
//! reference's, `fixtures/golden/locks/`); a lock without the key keeps the reference's
//! `kill(pid, 0)` rule; receipts and `target-locked` diagnostics keep the reference's seven
//! holder fields. Proved by
//! `crates/entwurf-lock/tests/golden.rs::without_a_start_key_the_written_claim_is_the_reference_bytes`,
//! `::written_fixed_claim_is_the_reference_bytes_plus_our_start_key_with_mode_and_listing`,
//! `::kill_classification_matches_the_reference_table`,
//! `::detail_templates_match_the_reference`,
//! `crates/entwurf-lock/tests/hostile.rs::a_lock_without_a_start_key_keeps_the_reference_rule_and_reads_no_start_key`
//! and `::receipts_and_diagnostics_keep_the_reference_holder_fields`.

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
