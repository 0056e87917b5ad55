//! The IO half: acquire, release, inspect and clear against a real directory.
//!
//! Every lock file and marker is opened without following a final symlink and without blocking,
//! checked to be a regular file and read up to a cap (see `fsio`).

use std::fmt;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use entwurf_meta_session::GardenId;
use serde::Serialize;

use crate::claim::{
    claim_line, contended_detail, describe_holder, iso_millis, judge_holder, marker_busy_detail,
    marker_creator_is_dead, marker_line, parse_holder, parse_marker, HolderState, MarkerCreator,
};
use crate::fsio::{self, Entry, EntryKind, Publish, WriteFailed};
use crate::{
    AcquireOutcome, LockClaim, LockConflict, LockError, LockOptions, ReleaseOutcome,
    LOCK_CONFLICT_REASON, LOCK_OWNER, MAX_MARKER_BYTES,
};

/// Validates `value` as a garden id, with the lock's error text on failure.
pub fn parse_garden_id(value: &str) -> Result<GardenId, LockError> {
    GardenId::parse(value).map_err(|_| LockError::InvalidGardenId {
        value: value.to_owned(),
    })
}

/// `<dir>/<gid>.lock`, validating `gid` first (nothing is built from an invalid id).
pub fn lock_path_for(dir: &Path, gid: &str) -> Result<PathBuf, LockError> {
    let gid = parse_garden_id(gid)?;
    Ok(lock_path_in(dir, &gid))
}

fn lock_path_in(dir: &Path, gid: &GardenId) -> PathBuf {
    dir.join(format!("{}.lock", gid.as_str()))
}

/// `<lock path>.reclaim`.
pub fn reclaim_marker_path(lock_path: &Path) -> PathBuf {
    let mut s = lock_path.as_os_str().to_owned();
    s.push(".reclaim");
    PathBuf::from(s)
}

/// A `.reclaim` marker found on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReclaimMarker {
    /// `<gid>.lock.reclaim`.
    pub path: PathBuf,
    /// Its mtime as ISO millis, when stat succeeded.
    pub mtime: Option<String>,
}

/// What is on disk for one garden id's lock, judged from this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockStatus {
    /// `<dir>/<gid>.lock`.
    pub lock_path: PathBuf,
    /// The parsed holder, `None` when the file is empty, corrupt or another gid's.
    pub holder: Option<LockClaim>,
    /// The verdict on the holder (alive / dead / other host / …).
    pub state: HolderState,
    /// The lock file's mtime as ISO millis, when stat succeeded.
    pub file_mtime: Option<String>,
    /// A `.reclaim` marker next to the lock, if any.
    pub reclaim_marker: Option<ReclaimMarker>,
    /// The reference's detail text for this holder.
    pub detail: String,
}

/// The result of [`Lock::clear`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearOutcome {
    /// There was neither a lock file nor a reclaim marker.
    Absent,
    /// The lock file (and, under force, the reclaim marker) was removed.
    Cleared {
        /// The status just before removal (`None` when only a marker was removed).
        was: Option<LockStatus>,
        /// Whether a `.reclaim` marker was removed as well.
        marker_removed: bool,
    },
    /// Not removed without force: the holder is not provably dead on this host, or a reclaim
    /// marker is present. `detail` says who holds it.
    Refused {
        /// The status that made us refuse (`None` when only a marker is present).
        status: Option<LockStatus>,
        /// The reference's detail text (holder, corrupt file, or busy marker).
        detail: String,
    },
}

/// Runs the named `TestHooks` closure when a test set one; expands to nothing outside `cfg(test)`.
macro_rules! hook {
    ($lock:expr, $name:ident) => {
        #[cfg(test)]
        if let Some(h) = &$lock.hooks.$name {
            h();
        }
    };
}

#[cfg(test)]
#[derive(Default)]
pub(crate) struct TestHooks {
    pub before_first_read: Option<Box<dyn Fn() + Send + Sync>>,
    pub before_retry: Option<Box<dyn Fn() + Send + Sync>>,
    pub before_reread: Option<Box<dyn Fn() + Send + Sync>>,
    pub before_recreate: Option<Box<dyn Fn() + Send + Sync>>,
    pub before_lost_race_read: Option<Box<dyn Fn() + Send + Sync>>,
}

/// The per-target dispatch lock over one directory.
pub struct Lock {
    opts: LockOptions,
    #[cfg(test)]
    pub(crate) hooks: TestHooks,
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").field("opts", &self.opts).finish()
    }
}

enum Create {
    Created,
    OpenFailed(io::Error),
}

/// A fresh look at the lock file.
enum Seen {
    /// No file: its holder released.
    Gone,
    /// A file, with its parsed holder (`None` when empty, corrupt, too large or another gid's).
    Holder(Option<LockClaim>),
    /// Not a regular file.
    NotAFile(EntryKind),
}

/// The holder in what a read found (`None`: corrupt, too large, or not a file).
fn holder_in(entry: &Entry, path: &Path, gid: &GardenId) -> Option<LockClaim> {
    match entry {
        Entry::Text(raw) => parse_holder(raw, path, gid),
        Entry::TooLarge | Entry::NotAFile(_) => None,
    }
}

/// Whether we got the `.reclaim` marker.
enum MarkerHold {
    Held(MarkerGuard),
    Busy,
}

/// What an attempt to take over an existing marker found.
enum TakeOver {
    Taken(MarkerGuard),
    Vanished,
    Busy,
}

impl Lock {
    /// A lock over `dir` with production defaults (real pid, hostname, clock, nonce, `kill`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_options(LockOptions::new(dir))
    }

    /// A lock with explicit options. A relative `dir` is made absolute against the current dir,
    /// so every claim carries an absolute `lockPath`.
    pub fn with_options(mut opts: LockOptions) -> Self {
        if let Ok(abs) = std::path::absolute(&opts.dir) {
            opts.dir = abs;
        }
        Self {
            opts,
            #[cfg(test)]
            hooks: TestHooks::default(),
        }
    }

    /// The (absolute) lock dir.
    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }

    /// The options in use.
    pub fn options(&self) -> &LockOptions {
        &self.opts
    }

    /// `<dir>/<gid>.lock`.
    pub fn lock_path(&self, gid: &GardenId) -> PathBuf {
        lock_path_in(&self.opts.dir, gid)
    }

    /// Takes the lock for `gid`, or reports who holds it.
    ///
    /// The reference algorithm (§4.3): the claim is built once; an exclusive create writes it;
    /// on `EEXIST` the holder is read (a vanished file gets exactly one more create); a corrupt
    /// file is a conflict and is never deleted; a holder is reclaimed only when it wrote from our
    /// hostname and `kill(pid, 0)` says `ESRCH` (or its pid now has another start key than the
    /// one it recorded), under an exclusive `.reclaim` marker, after a nonce re-check, and never
    /// over a fresh acquirer's file. No loops, no sleeps.
    ///
    /// Something that is not a regular file at the lock path (a symlink, dangling or not, a
    /// FIFO, a directory, a socket) is [`LockError::NotALockFile`]: never followed, read or
    /// waited on, and never mistaken for a busy lock.
    pub fn acquire(&self, gid: &GardenId) -> Result<AcquireOutcome, LockError> {
        let path = self.lock_path(gid);
        let claim = LockClaim {
            garden_id: gid.as_str().to_owned(),
            pid: self.opts.pid.into(),
            hostname: self.opts.hostname.clone(),
            created_at: (self.opts.clock)(),
            nonce: (self.opts.nonce)(),
            owner: LOCK_OWNER.to_owned(),
            lock_path: path.clone(),
            start_key: Some(self.opts.start_key.clone()).filter(|k| !k.is_empty()),
        };
        let line = claim_line(&claim).map_err(|source| LockError::EncodeClaim {
            path: path.clone(),
            source,
        })?;
        // The dir almost always exists: try first, and only a failed create (other than EEXIST)
        // runs `mkdir -p` and tries once more, so its errors are the ones it always gave.
        let first = match try_create(&path, &line)? {
            Create::OpenFailed(e) if e.kind() != ErrorKind::AlreadyExists => {
                self.ensure_dir()?;
                try_create(&path, &line)?
            }
            created_or_taken => created_or_taken,
        };
        match first {
            Create::Created => {
                self.remove_abandoned_marker(&path);
                return Ok(AcquireOutcome::Acquired(claim));
            }
            Create::OpenFailed(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Create::OpenFailed(source) => return Err(LockError::Open { path, source }),
        }

        hook!(self, before_first_read);
        let holder = match read_lock(&path) {
            Ok(Entry::NotAFile(kind)) => return Err(LockError::NotALockFile { path, kind }),
            Ok(entry) => holder_in(&entry, &path, gid),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // The holder released between our create and our read: one more try, no loop.
                hook!(self, before_retry);
                return match try_create(&path, &line)? {
                    Create::Created => {
                        self.remove_abandoned_marker(&path);
                        Ok(AcquireOutcome::Acquired(claim))
                    }
                    Create::OpenFailed(_) => self.lost_race(&path, gid),
                };
            }
            Err(source) => return Err(LockError::Read { path, source }),
        };
        let Some(holder) = holder else {
            return Ok(self.conflict(&path, None, None));
        };
        if !self.judge(Some(&holder)).is_reclaimable() {
            return Ok(self.conflict(&path, Some(holder), None));
        }

        // Reclaim a provably dead same-host holder under the marker.
        let marker = reclaim_marker_path(&path);
        let _guard = match self.hold_marker(&marker)? {
            MarkerHold::Held(g) => g,
            MarkerHold::Busy => {
                let detail = marker_busy_detail(&marker, mtime_iso(&marker).as_deref());
                return Ok(self.conflict(&path, Some(holder), Some(detail)));
            }
        };
        hook!(self, before_reread);
        let current = self.look(&path, gid)?;
        if !matches!(&current, Seen::Holder(Some(c)) if c.nonce == holder.nonce) {
            // Someone else got there first (or the holder released meanwhile): report that.
            return self.conflict_seen(&path, current);
        }
        remove_if_exists(&path)?;
        hook!(self, before_recreate);
        match try_create(&path, &line)? {
            Create::Created => Ok(AcquireOutcome::Acquired(claim)),
            // A fresh acquirer won the gap after our unlink: report it, never overwrite it.
            Create::OpenFailed(_) => self.lost_race(&path, gid),
        }
    }

    /// Releases `claim`: removes the lock file only when it still carries `claim.nonce` for
    /// `claim.garden_id` (§4.4). The path is `claim.lock_path` (or `<dir>/<gid>.lock` when empty).
    /// Something that is not a regular file there (never followed or read) is
    /// [`LockError::NotALockFile`], as the reference's read error for a directory: the lock is
    /// dirty, never silently "released".
    pub fn release(&self, claim: &LockClaim) -> Result<ReleaseOutcome, LockError> {
        let gid = parse_garden_id(&claim.garden_id)?;
        let path = if claim.lock_path.as_os_str().is_empty() {
            self.lock_path(&gid)
        } else {
            claim.lock_path.clone()
        };
        let raw = match read_lock(&path) {
            Ok(Entry::Text(raw)) => raw,
            Ok(Entry::TooLarge) => return Ok(ReleaseOutcome::NotOwned),
            Ok(Entry::NotAFile(kind)) => return Err(LockError::NotALockFile { path, kind }),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ReleaseOutcome::Absent),
            Err(source) => return Err(LockError::Read { path, source }),
        };
        if !is_exactly_our_line(&raw, claim) {
            match parse_holder(&raw, &path, &gid) {
                Some(on_disk) if on_disk.nonce == claim.nonce => {}
                _ => return Ok(ReleaseOutcome::NotOwned),
            }
        }
        match fsio::unlink(&path) {
            Ok(()) => Ok(ReleaseOutcome::Released),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(ReleaseOutcome::Absent),
            Err(source) => Err(LockError::Unlink { path, source }),
        }
    }

    /// What is on disk for `gid`: `None` when there is no lock file. Creates nothing. A
    /// non-regular entry at the lock path is [`LockError::NotALockFile`].
    pub fn inspect(&self, gid: &GardenId) -> Result<Option<LockStatus>, LockError> {
        let path = self.lock_path(gid);
        let entry = match read_lock(&path) {
            Ok(Entry::NotAFile(kind)) => return Err(LockError::NotALockFile { path, kind }),
            Ok(entry) => entry,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockError::Read { path, source }),
        };
        let holder = holder_in(&entry, &path, gid);
        let state = self.judge(holder.as_ref());
        let file_mtime = mtime_iso(&path);
        let detail = describe_holder(holder.as_ref(), &path, file_mtime.as_deref());
        Ok(Some(LockStatus {
            reclaim_marker: self.reclaim_marker(gid)?,
            lock_path: path,
            holder,
            state,
            file_mtime,
            detail,
        }))
    }

    /// The `.reclaim` marker for `gid`, if one exists.
    pub fn reclaim_marker(&self, gid: &GardenId) -> Result<Option<ReclaimMarker>, LockError> {
        let path = reclaim_marker_path(&self.lock_path(gid));
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => Ok(Some(ReclaimMarker {
                mtime: meta.modified().ok().map(iso_millis),
                path,
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LockError::Stat { path, source }),
        }
    }

    /// Removes a lock by hand.
    ///
    /// Without `force`, only a holder that is provably dead on this host (`ESRCH`, or a reused
    /// pid) is removed, and only under the `.reclaim` marker with the same nonce re-check as a
    /// reclaim; a live holder, another host's holder, an unprobeable pid, a corrupt file or a
    /// marker that is not provably abandoned is refused with the detail text (an abandoned
    /// marker alone, with no lock file, is removed). With `force`, the lock file (a symlink,
    /// FIFO or socket in its place too, never followed) and any marker are removed.
    pub fn clear(&self, gid: &GardenId, force: bool) -> Result<ClearOutcome, LockError> {
        let path = self.lock_path(gid);
        let marker = reclaim_marker_path(&path);
        let status = match self.inspect(gid) {
            Err(LockError::NotALockFile { path, kind }) if force => {
                Some(self.not_a_file_status(gid, path, kind)?)
            }
            other => other?,
        };
        if force {
            let lock_removed = remove_if_exists(&path)?;
            let marker_removed = remove_if_exists(&marker)?;
            return Ok(if lock_removed || marker_removed {
                ClearOutcome::Cleared {
                    was: status.filter(|_| lock_removed),
                    marker_removed,
                }
            } else {
                ClearOutcome::Absent
            });
        }
        let Some(status) = status else {
            let Some(m) = self.reclaim_marker(gid)? else {
                return Ok(ClearOutcome::Absent);
            };
            // Only a marker: removed when its creator is provably gone (we take it over, and
            // dropping the guard removes it), else refused.
            return Ok(match self.take_over_marker(&marker)? {
                TakeOver::Taken(guard) => {
                    drop(guard);
                    ClearOutcome::Cleared {
                        was: None,
                        marker_removed: true,
                    }
                }
                TakeOver::Vanished => ClearOutcome::Absent,
                TakeOver::Busy => ClearOutcome::Refused {
                    status: None,
                    detail: marker_busy_detail(&m.path, m.mtime.as_deref()),
                },
            });
        };
        if !status.state.is_reclaimable() {
            let detail = status.detail.clone();
            return Ok(ClearOutcome::Refused {
                status: Some(status),
                detail,
            });
        }
        let _guard = match self.hold_marker(&marker)? {
            MarkerHold::Held(g) => g,
            MarkerHold::Busy => {
                let detail = marker_busy_detail(&marker, mtime_iso(&marker).as_deref());
                return Ok(ClearOutcome::Refused {
                    status: Some(status),
                    detail,
                });
            }
        };
        let judged_nonce = status.holder.as_ref().map(|h| h.nonce.clone());
        let current = self.reread(&path, gid);
        if current.as_ref().map(|c| c.nonce.clone()) != judged_nonce {
            let detail = describe_holder(current.as_ref(), &path, mtime_iso(&path).as_deref());
            return Ok(ClearOutcome::Refused {
                status: Some(status),
                detail,
            });
        }
        remove_if_exists(&path)?;
        Ok(ClearOutcome::Cleared {
            was: Some(status),
            marker_removed: false,
        })
    }

    /// The status reported for a non-regular entry at the lock path (`clear --force` only).
    fn not_a_file_status(
        &self,
        gid: &GardenId,
        path: PathBuf,
        kind: EntryKind,
    ) -> Result<LockStatus, LockError> {
        let file_mtime = mtime_iso(&path);
        Ok(LockStatus {
            reclaim_marker: self.reclaim_marker(gid)?,
            detail: format!("{} was a {kind}, not a lock file", path.display()),
            lock_path: path,
            holder: None,
            state: HolderState::Corrupt,
            file_mtime,
        })
    }

    fn judge(&self, holder: Option<&LockClaim>) -> HolderState {
        let (probe, start_key_of) = (&self.opts.probe, &self.opts.start_key_of);
        judge_holder(holder, &self.opts.hostname, &|pid| probe(pid), &|pid| {
            start_key_of(pid)
        })
    }

    /// After a plain create won the lock: a `.reclaim` marker next to it can only be left by a
    /// reclaimer that died after removing a dead holder's file (the lock was free, so nobody
    /// reclaims it now). Removed when its creator is provably gone, at the cost of one `lstat`
    /// when there is none; a live reclaimer's marker is left to it.
    fn remove_abandoned_marker(&self, lock_path: &Path) {
        let marker = reclaim_marker_path(lock_path);
        if std::fs::symlink_metadata(&marker).is_ok() {
            if let Ok(TakeOver::Taken(guard)) = self.take_over_marker(&marker) {
                drop(guard);
            }
        }
    }

    /// Takes the `.reclaim` marker: creates it with our pid and start key, locked (`flock`)
    /// from before it is visible; or, when one exists, takes it over if its creator is
    /// provably gone (see [`Self::take_over_marker`]). At most one more create when the
    /// existing marker vanishes while we look. `Busy` otherwise (fail closed).
    fn hold_marker(&self, marker: &Path) -> Result<MarkerHold, LockError> {
        let creator = MarkerCreator {
            pid: self.opts.pid,
            hostname: self.opts.hostname.clone(),
            start_key: self.opts.start_key.clone(),
            created_at: (self.opts.clock)(),
        };
        let line = marker_line(&creator).map_err(|source| LockError::EncodeClaim {
            path: marker.to_path_buf(),
            source,
        })?;
        for attempt in 0..2 {
            let taken = match fsio::publish_new(marker, line.as_bytes(), true) {
                Ok(Publish::Created(file)) => MarkerGuard::new(marker, file),
                Ok(Publish::Failed(e)) if e.kind() == ErrorKind::AlreadyExists => {
                    match self.take_over_marker(marker)? {
                        TakeOver::Taken(guard) => guard,
                        TakeOver::Vanished if attempt == 0 => continue,
                        TakeOver::Vanished | TakeOver::Busy => return Ok(MarkerHold::Busy),
                    }
                }
                Err(WriteFailed(source)) => return Err(write_failed(marker, source)),
                Ok(Publish::Failed(source)) => {
                    return Err(LockError::ReclaimMarker {
                        path: marker.to_path_buf(),
                        source,
                    })
                }
            };
            if let Some(hook) = &self.opts.on_marker_held {
                hook(marker);
            }
            return Ok(MarkerHold::Held(taken));
        }
        Ok(MarkerHold::Busy)
    }

    /// Takes over an existing marker, atomically with respect to every other taker: we take
    /// the marker file's exclusive `flock` without waiting (its creator holds it for as long as
    /// it lives, so a live creator's marker is never ours, and of two takers only one gets it);
    /// then its content must name a creator on our host that is provably gone (`ESRCH`, or its
    /// pid now has another start key); and the path must still name the file we locked. An
    /// empty marker (the reference's), an unreadable one, or anything not a regular file is
    /// never taken over.
    fn take_over_marker(&self, marker: &Path) -> Result<TakeOver, LockError> {
        let file = match fsio::open_regular(marker, false) {
            Ok(Ok(file)) => file,
            Ok(Err(_not_a_file)) => return Ok(TakeOver::Busy),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(TakeOver::Vanished),
            Err(_) => return Ok(TakeOver::Busy),
        };
        if !fsio::try_flock(&file).unwrap_or(false) {
            return Ok(TakeOver::Busy);
        }
        let creator = match fsio::read_capped(&file, MAX_MARKER_BYTES) {
            Ok(Entry::Text(raw)) => parse_marker(&raw),
            _ => None,
        };
        let Some(creator) = creator else {
            return Ok(TakeOver::Busy);
        };
        let (probe, start_key_of) = (&self.opts.probe, &self.opts.start_key_of);
        let gone =
            marker_creator_is_dead(&creator, &self.opts.hostname, &|pid| probe(pid), &|pid| {
                start_key_of(pid)
            });
        if !gone {
            return Ok(TakeOver::Busy);
        }
        // A taker that finished removed this file while holding its lock; if the path now
        // names another file (or none), that is a newer marker's business, not ours.
        match (fsio::identity_at(marker), fsio::identity_of(&file)) {
            (Ok(at), Ok(ours)) if at == ours => Ok(TakeOver::Taken(MarkerGuard::new(marker, file))),
            _ => Ok(TakeOver::Busy),
        }
    }

    fn ensure_dir(&self) -> Result<(), LockError> {
        let dir = &self.opts.dir;
        entwurf_fs::fault::point("mkdir", &dir.to_string_lossy());
        match std::fs::create_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(source) => match std::fs::metadata(dir) {
                Ok(meta) if !meta.is_dir() => Err(LockError::DirNotADirectory { dir: dir.clone() }),
                _ => Err(LockError::DirCreate {
                    dir: dir.clone(),
                    source,
                }),
            },
        }
    }

    /// Reads the holder again; any read failure counts as "no holder" (reference `readHolder`).
    fn reread(&self, path: &Path, gid: &GardenId) -> Option<LockClaim> {
        read_lock(path)
            .ok()
            .and_then(|entry| holder_in(&entry, path, gid))
    }

    /// What the lock file holds right now.
    fn look(&self, path: &Path, gid: &GardenId) -> Result<Seen, LockError> {
        Ok(match read_lock(path) {
            Ok(Entry::NotAFile(kind)) => Seen::NotAFile(kind),
            Ok(entry) => Seen::Holder(holder_in(&entry, path, gid)),
            Err(e) if e.kind() == ErrorKind::NotFound => Seen::Gone,
            Err(_) => Seen::Holder(None),
        })
    }

    /// The conflict after a create lost to someone else: report the current holder; if the file
    /// is already gone again, the target changed hands while we looked (busy, not corrupt).
    fn lost_race(&self, path: &Path, gid: &GardenId) -> Result<AcquireOutcome, LockError> {
        hook!(self, before_lost_race_read);
        let seen = self.look(path, gid)?;
        self.conflict_seen(path, seen)
    }

    fn conflict_seen(&self, path: &Path, seen: Seen) -> Result<AcquireOutcome, LockError> {
        match seen {
            Seen::Gone => Ok(self.conflict(path, None, Some(contended_detail(path)))),
            Seen::Holder(holder) => Ok(self.conflict(path, holder, None)),
            Seen::NotAFile(kind) => Err(LockError::NotALockFile {
                path: path.to_path_buf(),
                kind,
            }),
        }
    }

    fn conflict(
        &self,
        path: &Path,
        holder: Option<LockClaim>,
        detail: Option<String>,
    ) -> AcquireOutcome {
        let detail = detail
            .unwrap_or_else(|| describe_holder(holder.as_ref(), path, mtime_iso(path).as_deref()));
        AcquireOutcome::Conflict(LockConflict {
            reason: LOCK_CONFLICT_REASON.to_owned(),
            lock_path: path.to_path_buf(),
            holder,
            detail,
        })
    }
}

/// Publishes the claim at `path` only if nothing is there, whole (see `fsio::publish_new`): a
/// concurrent acquirer never reads the lock file empty or half-written, so it always gets the
/// holder evidence.
fn try_create(path: &Path, line: &str) -> Result<Create, LockError> {
    match fsio::publish_new(path, line.as_bytes(), false) {
        Ok(Publish::Created(_)) => Ok(Create::Created),
        Ok(Publish::Failed(e)) => Ok(Create::OpenFailed(e)),
        Err(WriteFailed(source)) => Err(write_failed(path, source)),
    }
}

/// A failed write of our own claim or marker: over the cap, or the disk refused it.
fn write_failed(path: &Path, source: io::Error) -> LockError {
    match entwurf_fs::fs_error_of(&source) {
        Some(entwurf_fs::FsError::TooLarge { cap, .. }) => LockError::ClaimTooLarge {
            path: path.to_path_buf(),
            cap: *cap,
        },
        _ => LockError::WriteClaim {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// The common release: the file still holds, byte for byte, the line this claim wrote. Such a
/// file parses (§4.2) to a holder with this claim's nonce, so the JSON parse can be skipped; any
/// other content goes through [`parse_holder`].
fn is_exactly_our_line(raw: &str, claim: &LockClaim) -> bool {
    claim.owner == LOCK_OWNER
        && !claim.lock_path.as_os_str().is_empty()
        && claim_line(claim).is_ok_and(|line| line == raw)
}

fn read_lock(path: &Path) -> io::Result<Entry> {
    fsio::read_lock_file(path)
}

/// `Ok(true)` when removed, `Ok(false)` when it was already gone.
fn remove_if_exists(path: &Path) -> Result<bool, LockError> {
    fsio::remove_if_exists(path).map_err(|source| LockError::Unlink {
        path: path.to_path_buf(),
        source,
    })
}

/// The entry's mtime as ISO millis (never following a symlink); `None` when lstat fails.
fn mtime_iso(path: &Path) -> Option<String> {
    fsio::mtime(path).map(iso_millis)
}

/// Holds the `.reclaim` marker and its `flock`; when dropped, removes the marker (if the path
/// still names the file we hold) before letting go of the lock, so no other taker can lock a
/// marker file and then see it removed under it.
struct MarkerGuard {
    path: PathBuf,
    file: File,
}

impl MarkerGuard {
    fn new(path: &Path, file: File) -> Self {
        Self {
            path: path.to_path_buf(),
            file,
        }
    }
}

impl Drop for MarkerGuard {
    fn drop(&mut self) {
        // Best effort: a marker left behind is taken over by the next reclaim once we are gone.
        let ours = fsio::identity_of(&self.file).ok();
        if ours.is_some() && fsio::identity_at(&self.path).ok() == ours {
            let _ = fsio::unlink(&self.path);
        }
        // `self.file` closes after this body: the `flock` is released only now.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errno;
    use std::fs;
    use std::sync::Arc;

    const GID: &str = "20260612T100000-aaaaaa";

    fn gid() -> GardenId {
        GardenId::parse(GID).unwrap()
    }

    /// A lock with fixed identity and a probe that answers `kill` with `answer`.
    fn lock_with(dir: &Path, pid: u32, nonce: &str, answer: Result<(), Errno>) -> Lock {
        let nonce = nonce.to_owned();
        Lock::with_options(LockOptions {
            dir: dir.to_path_buf(),
            pid,
            hostname: "test-host".into(),
            clock: Arc::new(|| "2026-06-12T10:10:00.000Z".into()),
            nonce: Arc::new(move || nonce.clone()),
            probe: Arc::new(move |_| answer),
            start_key: String::new(),
            start_key_of: Arc::new(|pid| panic!("start key of {pid} must not be read here")),
            on_marker_held: None,
        })
    }

    fn claim_text(pid: u32, nonce: &str) -> String {
        format!(
            "{{\"gardenId\":\"{GID}\",\"pid\":{pid},\"hostname\":\"test-host\",\"createdAt\":\"2026-06-12T10:00:00.000Z\",\"nonce\":\"{nonce}\",\"owner\":\"entwurf_v2\",\"lockPath\":\"/x\"}}\n"
        )
    }

    fn holder_nonce(o: &AcquireOutcome) -> Option<String> {
        match o {
            AcquireOutcome::Conflict(c) => c.holder.as_ref().map(|h| h.nonce.clone()),
            AcquireOutcome::Acquired(_) => panic!("expected a conflict, got {o:?}"),
        }
    }

    #[test]
    fn reclaim_aborts_when_the_lock_changed_before_the_reread() {
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = lock_with(tmp.path(), 5151, "1111111111111111", Err(Errno::SRCH));
        let path = lock.lock_path(&gid());
        fs::write(&path, claim_text(4242, "deadbeefcafef00d")).unwrap();
        let p = path.clone();
        lock.hooks.before_reread = Some(Box::new(move || {
            fs::write(&p, claim_text(7777, "2222222222222222")).unwrap();
        }));
        let out = lock.acquire(&gid()).unwrap();
        assert_eq!(holder_nonce(&out).as_deref(), Some("2222222222222222"));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            claim_text(7777, "2222222222222222")
        );
        assert!(!reclaim_marker_path(&path).exists(), "marker removed");
    }

    #[test]
    fn reclaim_never_overwrites_a_fresh_acquirer_in_the_unlink_gap() {
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = lock_with(tmp.path(), 5151, "1111111111111111", Err(Errno::SRCH));
        let path = lock.lock_path(&gid());
        fs::write(&path, claim_text(4242, "deadbeefcafef00d")).unwrap();
        let p = path.clone();
        lock.hooks.before_recreate = Some(Box::new(move || {
            assert!(!p.exists(), "the dead holder's file was unlinked");
            fs::write(&p, claim_text(8888, "3333333333333333")).unwrap();
        }));
        let out = lock.acquire(&gid()).unwrap();
        assert_eq!(holder_nonce(&out).as_deref(), Some("3333333333333333"));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            claim_text(8888, "3333333333333333")
        );
        assert!(!reclaim_marker_path(&path).exists(), "marker removed");
    }

    #[test]
    fn a_holder_that_vanishes_before_the_read_gets_one_retry() {
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = lock_with(tmp.path(), 5151, "1111111111111111", Ok(()));
        let path = lock.lock_path(&gid());
        fs::write(&path, claim_text(4242, "deadbeefcafef00d")).unwrap();
        let p = path.clone();
        lock.hooks.before_first_read = Some(Box::new(move || fs::remove_file(&p).unwrap()));
        let AcquireOutcome::Acquired(claim) = lock.acquire(&gid()).unwrap() else {
            panic!("the retry should win");
        };
        assert_eq!(claim.nonce, "1111111111111111");
        assert_eq!(
            parse_holder(&fs::read_to_string(&path).unwrap(), &path, &gid()),
            Some(claim)
        );
    }

    #[test]
    fn a_lost_retry_reports_the_winner() {
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = lock_with(tmp.path(), 5151, "1111111111111111", Ok(()));
        let path = lock.lock_path(&gid());
        fs::write(&path, claim_text(4242, "deadbeefcafef00d")).unwrap();
        let (p1, p2) = (path.clone(), path.clone());
        lock.hooks.before_first_read = Some(Box::new(move || fs::remove_file(&p1).unwrap()));
        lock.hooks.before_retry = Some(Box::new(move || {
            fs::write(&p2, claim_text(9999, "4444444444444444")).unwrap()
        }));
        let out = lock.acquire(&gid()).unwrap();
        assert_eq!(holder_nonce(&out).as_deref(), Some("4444444444444444"));
    }

    #[test]
    fn a_lock_that_changes_hands_twice_is_reported_busy_not_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = lock_with(tmp.path(), 5151, "1111111111111111", Ok(()));
        let path = lock.lock_path(&gid());
        fs::write(&path, claim_text(4242, "deadbeefcafef00d")).unwrap();
        let (p1, p2, p3) = (path.clone(), path.clone(), path.clone());
        lock.hooks.before_first_read = Some(Box::new(move || fs::remove_file(&p1).unwrap()));
        lock.hooks.before_retry = Some(Box::new(move || {
            fs::write(&p2, claim_text(9999, "4444444444444444")).unwrap()
        }));
        lock.hooks.before_lost_race_read = Some(Box::new(move || fs::remove_file(&p3).unwrap()));
        let AcquireOutcome::Conflict(c) = lock.acquire(&gid()).unwrap() else {
            panic!("the retry lost: a conflict, never a loop");
        };
        assert_eq!(c.holder, None);
        assert_eq!(c.detail, contended_detail(&path));
        assert!(!path.exists(), "nothing written by the loser");
    }

    #[test]
    fn a_judged_dead_holder_that_is_gone_at_the_reclaim_reread_is_busy_not_corrupt() {
        // The judged holder exits right after releasing: ESRCH, but its file is gone by the
        // re-read under the marker. Report the contention, never "corrupt".
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = lock_with(tmp.path(), 5151, "1111111111111111", Err(Errno::SRCH));
        let path = lock.lock_path(&gid());
        fs::write(&path, claim_text(4242, "deadbeefcafef00d")).unwrap();
        let p = path.clone();
        lock.hooks.before_reread = Some(Box::new(move || fs::remove_file(&p).unwrap()));
        let AcquireOutcome::Conflict(c) = lock.acquire(&gid()).unwrap() else {
            panic!("no create after a failed nonce re-check");
        };
        assert_eq!((c.holder, c.detail), (None, contended_detail(&path)));
        assert!(!reclaim_marker_path(&path).exists(), "marker removed");
    }

    #[test]
    fn a_directory_in_the_recreate_gap_is_a_typed_error_and_the_marker_goes() {
        // Something that is not our claim appears in the unlink→create gap: never overwritten,
        // never taken as a holder.
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = lock_with(tmp.path(), 5151, "1111111111111111", Err(Errno::SRCH));
        let path = lock.lock_path(&gid());
        fs::write(&path, claim_text(4242, "deadbeefcafef00d")).unwrap();
        let p = path.clone();
        lock.hooks.before_recreate = Some(Box::new(move || fs::create_dir(&p).unwrap()));
        let err = lock.acquire(&gid()).unwrap_err();
        assert!(
            matches!(&err, LockError::NotALockFile { path: p, kind: EntryKind::Directory } if p == &path),
            "{err:?}"
        );
        assert!(path.is_dir(), "kept");
        assert!(!reclaim_marker_path(&path).exists(), "marker removed");
    }

    fn install(lock: &Lock, text: &str) -> PathBuf {
        fs::create_dir_all(lock.dir()).unwrap();
        let path = lock.lock_path(&gid());
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn clear_removes_a_dead_same_host_holder_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = lock_with(tmp.path(), 5151, "1111111111111111", Err(Errno::SRCH));
        let path = install(&lock, &claim_text(4242, "deadbeefcafef00d"));
        let out = lock.clear(&gid(), false).unwrap();
        let ClearOutcome::Cleared {
            was,
            marker_removed,
        } = out
        else {
            panic!("expected cleared, got {out:?}");
        };
        assert_eq!(was.unwrap().state, HolderState::Dead);
        assert!(!marker_removed);
        assert!(!path.exists());
        assert!(!reclaim_marker_path(&path).exists());
        assert_eq!(lock.clear(&gid(), false).unwrap(), ClearOutcome::Absent);
    }

    #[test]
    fn clear_refuses_live_denied_corrupt_and_other_host_without_force() {
        for (answer, text, state) in [
            (
                Ok(()),
                claim_text(4242, "deadbeefcafef00d"),
                HolderState::Alive,
            ),
            (
                Err(Errno::PERM),
                claim_text(4242, "deadbeefcafef00d"),
                HolderState::Denied,
            ),
            (Err(Errno::SRCH), "garbage".to_owned(), HolderState::Corrupt),
            (
                Err(Errno::SRCH),
                claim_text(4242, "deadbeefcafef00d").replace("test-host", "elsewhere"),
                HolderState::OtherHost,
            ),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let lock = lock_with(tmp.path(), 5151, "1111111111111111", answer);
            let path = install(&lock, &text);
            let out = lock.clear(&gid(), false).unwrap();
            let ClearOutcome::Refused { status, detail } = out else {
                panic!("expected refused for {state:?}, got {out:?}");
            };
            assert_eq!(status.unwrap().state, state);
            assert!(detail.contains(&path.display().to_string()), "{detail}");
            assert_eq!(fs::read_to_string(&path).unwrap(), text, "file kept");

            let forced = lock.clear(&gid(), true).unwrap();
            assert!(matches!(forced, ClearOutcome::Cleared { was: Some(_), .. }));
            assert!(!path.exists());
        }
    }

    #[test]
    fn clear_refuses_while_a_reclaim_marker_exists_and_force_removes_it() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = lock_with(tmp.path(), 5151, "1111111111111111", Err(Errno::SRCH));
        let path = install(&lock, &claim_text(4242, "deadbeefcafef00d"));
        let marker = reclaim_marker_path(&path);
        fs::write(&marker, "").unwrap();
        let out = lock.clear(&gid(), false).unwrap();
        assert!(
            matches!(&out, ClearOutcome::Refused { detail, .. } if detail.starts_with("reclaim already in progress")),
            "{out:?}"
        );
        assert!(path.exists() && marker.exists());

        fs::remove_file(&path).unwrap();
        let out = lock.clear(&gid(), false).unwrap();
        assert!(matches!(out, ClearOutcome::Refused { status: None, .. }));
        assert_eq!(
            lock.clear(&gid(), true).unwrap(),
            ClearOutcome::Cleared {
                was: None,
                marker_removed: true
            }
        );
        assert!(!marker.exists());
        assert_eq!(lock.clear(&gid(), true).unwrap(), ClearOutcome::Absent);
    }

    #[test]
    fn inspect_reports_holder_state_mtime_and_marker_and_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("locks");
        let lock = lock_with(&dir, 5151, "1111111111111111", Err(Errno::PERM));
        assert_eq!(lock.inspect(&gid()).unwrap(), None);
        assert!(!dir.exists(), "inspect creates no dir");
        let path = install(&lock, &claim_text(4242, "deadbeefcafef00d"));
        fs::write(reclaim_marker_path(&path), "").unwrap();
        let st = lock.inspect(&gid()).unwrap().unwrap();
        assert_eq!(st.state, HolderState::Denied);
        assert_eq!(st.holder.as_ref().unwrap().pid, 4242);
        assert_eq!(st.holder.as_ref().unwrap().lock_path, path);
        assert!(st.file_mtime.is_some());
        assert!(st
            .detail
            .starts_with("held by pid 4242 on host test-host since "));
        assert_eq!(st.reclaim_marker.unwrap().path, reclaim_marker_path(&path));
    }

    #[test]
    fn release_with_an_invalid_gid_is_refused_before_any_io() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = lock_with(tmp.path(), 5151, "1111111111111111", Ok(()));
        let claim = LockClaim {
            garden_id: "../etc/passwd".into(),
            pid: 1.into(),
            hostname: "h".into(),
            created_at: "c".into(),
            nonce: "n".into(),
            owner: LOCK_OWNER.into(),
            lock_path: PathBuf::new(),
            start_key: None,
        };
        let err = lock.release(&claim).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entwurf-v2-lock: refusing to build a lock path from an invalid garden id (\"../etc/passwd\")."
        );
    }

    #[test]
    fn release_without_a_lock_path_falls_back_to_the_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = lock_with(tmp.path(), 5151, "1111111111111111", Ok(()));
        let AcquireOutcome::Acquired(mut claim) = lock.acquire(&gid()).unwrap() else {
            panic!("fresh dir");
        };
        claim.lock_path = PathBuf::new();
        assert_eq!(lock.release(&claim).unwrap(), ReleaseOutcome::Released);
        assert_eq!(lock.release(&claim).unwrap(), ReleaseOutcome::Absent);
    }

    #[rstest::rstest]
    // Our nonce in other bytes (the reference's writer, a hand edit): the parse decides, ours.
    #[case::same_claim_pretty_printed(true, false, ReleaseOutcome::Released)]
    // Our exact bytes but for one nonce digit: a successor's lock, kept.
    #[case::other_nonce_same_shape(false, true, ReleaseOutcome::NotOwned)]
    fn release_decides_by_the_parsed_nonce_whatever_the_bytes(
        #[case] pretty: bool,
        #[case] flip_nonce: bool,
        #[case] want: ReleaseOutcome,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let lock = lock_with(tmp.path(), 4242, "00112233aabbccdd", Ok(()));
        let AcquireOutcome::Acquired(claim) = lock.acquire(&gid()).unwrap() else {
            panic!("fresh dir");
        };
        let path = lock.lock_path(&gid());
        let mut text = claim_line(&claim).unwrap();
        if pretty {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            text = serde_json::to_string_pretty(&v).unwrap();
        }
        if flip_nonce {
            text = text.replace("00112233aabbccdd", "00112233aabbccde");
        }
        fs::write(&path, &text).unwrap();
        assert_eq!(lock.release(&claim).unwrap(), want);
        assert_eq!(path.exists(), want == ReleaseOutcome::NotOwned);
    }

    #[test]
    fn a_relative_dir_is_made_absolute() {
        let lock = lock_with(Path::new("rel/locks"), 1, "n", Ok(()));
        assert!(lock.dir().is_absolute());
        assert!(lock
            .lock_path(&gid())
            .ends_with("rel/locks/20260612T100000-aaaaaa.lock"));
    }

    #[test]
    fn a_missing_dir_is_created_on_the_first_acquire_and_the_claim_lands_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/locks");
        let lock = lock_with(&dir, 4242, "00112233aabbccdd", Ok(()));
        let AcquireOutcome::Acquired(claim) = lock.acquire(&gid()).unwrap() else {
            panic!("a fresh dir must be acquirable")
        };
        let on_disk = fs::read_to_string(lock.lock_path(&gid())).unwrap();
        assert_eq!(on_disk, claim_line(&claim).unwrap());
        assert_eq!(lock.release(&claim).unwrap(), ReleaseOutcome::Released);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn a_lock_file_that_is_not_utf8_is_corrupt_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = lock_with(tmp.path(), 4242, "00112233aabbccdd", Ok(()));
        let path = lock.lock_path(&gid());
        fs::write(&path, b"\xff\xfe{not json").unwrap();
        let AcquireOutcome::Conflict(conflict) = lock.acquire(&gid()).unwrap() else {
            panic!("a corrupt file is a conflict")
        };
        assert!(conflict.holder.is_none());
        assert_eq!(fs::read(&path).unwrap(), b"\xff\xfe{not json");
    }

    #[test]
    fn read_lock_reads_a_file_longer_than_its_first_buffer_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("long");
        let text = "x".repeat(3000);
        fs::write(&path, &text).unwrap();
        assert!(matches!(read_lock(&path).unwrap(), Entry::Text(t) if t == text));
    }

    #[test]
    fn the_proc_link_publishes_whole_and_never_replaces() {
        use crate::fsio::link_via_proc;
        use rustix::fs::{openat, Mode, OFlags, CWD};
        use std::io::Write;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.lock");
        let staged = |text: &str| {
            let fd = openat(
                CWD,
                tmp.path(),
                OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            )
            .unwrap();
            let mut file = fs::File::from(fd);
            file.write_all(text.as_bytes()).unwrap();
            file
        };
        assert!(matches!(
            link_via_proc(&staged("first\n"), &path),
            Some(Ok(()))
        ));
        let second = link_via_proc(&staged("second\n"), &path);
        assert!(
            matches!(&second, Some(Err(e)) if e.kind() == ErrorKind::AlreadyExists),
            "{second:?}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "first\n");
    }
}
