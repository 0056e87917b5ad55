//! The IO half: acquire, release, inspect and clear against a real directory.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use entwurf_meta_session::GardenId;
use serde::Serialize;

use crate::claim::{
    claim_line, contended_detail, describe_holder, iso_millis, judge_holder, marker_busy_detail,
    parse_holder, HolderState,
};
use crate::{
    AcquireOutcome, LockClaim, LockConflict, LockError, LockOptions, ReleaseOutcome,
    LOCK_CONFLICT_REASON, LOCK_OWNER,
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
    /// A file, with its parsed holder (`None` when empty, corrupt or another gid's).
    Holder(Option<LockClaim>),
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
    /// hostname and `kill(pid, 0)` says `ESRCH`, under an exclusive `.reclaim` marker, after a
    /// nonce re-check, and never over a fresh acquirer's file. No loops, no sleeps.
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
            Create::Created => return Ok(AcquireOutcome::Acquired(claim)),
            Create::OpenFailed(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Create::OpenFailed(source) => return Err(LockError::Open { path, source }),
        }

        #[cfg(test)]
        if let Some(h) = &self.hooks.before_first_read {
            h();
        }
        let holder = match read_text(&path) {
            Ok(raw) => parse_holder(&raw, &path, gid),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // The holder released between our create and our read: one more try, no loop.
                #[cfg(test)]
                if let Some(h) = &self.hooks.before_retry {
                    h();
                }
                return Ok(match try_create(&path, &line)? {
                    Create::Created => AcquireOutcome::Acquired(claim),
                    Create::OpenFailed(_) => self.lost_race(&path, gid),
                });
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
        let _guard = match MarkerGuard::create(&marker) {
            Ok(g) => g,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let detail = marker_busy_detail(&marker, mtime_iso(&marker).as_deref());
                return Ok(self.conflict(&path, Some(holder), Some(detail)));
            }
            Err(source) => {
                return Err(LockError::ReclaimMarker {
                    path: marker,
                    source,
                })
            }
        };
        #[cfg(test)]
        if let Some(h) = &self.hooks.before_reread {
            h();
        }
        let current = self.look(&path, gid);
        if !matches!(&current, Seen::Holder(Some(c)) if c.nonce == holder.nonce) {
            // Someone else got there first (or the holder released meanwhile): report that.
            return Ok(self.conflict_seen(&path, current));
        }
        remove_if_exists(&path)?;
        #[cfg(test)]
        if let Some(h) = &self.hooks.before_recreate {
            h();
        }
        Ok(match try_create(&path, &line)? {
            Create::Created => AcquireOutcome::Acquired(claim),
            // A fresh acquirer won the gap after our unlink: report it, never overwrite it.
            Create::OpenFailed(_) => self.lost_race(&path, gid),
        })
    }

    /// Releases `claim`: removes the lock file only when it still carries `claim.nonce` for
    /// `claim.garden_id` (§4.4). The path is `claim.lock_path` (or `<dir>/<gid>.lock` when empty).
    pub fn release(&self, claim: &LockClaim) -> Result<ReleaseOutcome, LockError> {
        let gid = parse_garden_id(&claim.garden_id)?;
        let path = if claim.lock_path.as_os_str().is_empty() {
            self.lock_path(&gid)
        } else {
            claim.lock_path.clone()
        };
        let raw = match read_text(&path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ReleaseOutcome::Absent),
            Err(source) => return Err(LockError::Read { path, source }),
        };
        if !is_exactly_our_line(&raw, claim) {
            match parse_holder(&raw, &path, &gid) {
                Some(on_disk) if on_disk.nonce == claim.nonce => {}
                _ => return Ok(ReleaseOutcome::NotOwned),
            }
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(ReleaseOutcome::Released),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(ReleaseOutcome::Absent),
            Err(source) => Err(LockError::Unlink { path, source }),
        }
    }

    /// What is on disk for `gid`: `None` when there is no lock file. Creates nothing.
    pub fn inspect(&self, gid: &GardenId) -> Result<Option<LockStatus>, LockError> {
        let path = self.lock_path(gid);
        let raw = match read_text(&path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockError::Read { path, source }),
        };
        let holder = parse_holder(&raw, &path, gid);
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
        match fs::symlink_metadata(&path) {
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
    /// Without `force`, only a holder that is provably dead on this host (`ESRCH`) is removed,
    /// and only under the `.reclaim` marker with the same nonce re-check as a reclaim; a live
    /// holder, another host's holder, an unprobeable pid, a corrupt file or a present marker is
    /// refused with the detail text. With `force`, the lock file and any marker are removed.
    pub fn clear(&self, gid: &GardenId, force: bool) -> Result<ClearOutcome, LockError> {
        let path = self.lock_path(gid);
        let marker = reclaim_marker_path(&path);
        let status = self.inspect(gid)?;
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
            return Ok(match self.reclaim_marker(gid)? {
                Some(m) => ClearOutcome::Refused {
                    status: None,
                    detail: marker_busy_detail(&m.path, m.mtime.as_deref()),
                },
                None => ClearOutcome::Absent,
            });
        };
        if !status.state.is_reclaimable() {
            let detail = status.detail.clone();
            return Ok(ClearOutcome::Refused {
                status: Some(status),
                detail,
            });
        }
        let _guard = match MarkerGuard::create(&marker) {
            Ok(g) => g,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let detail = marker_busy_detail(&marker, mtime_iso(&marker).as_deref());
                return Ok(ClearOutcome::Refused {
                    status: Some(status),
                    detail,
                });
            }
            Err(source) => {
                return Err(LockError::ReclaimMarker {
                    path: marker,
                    source,
                })
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

    fn judge(&self, holder: Option<&LockClaim>) -> HolderState {
        let probe = &self.opts.probe;
        judge_holder(holder, &self.opts.hostname, &|pid| probe(pid))
    }

    fn ensure_dir(&self) -> Result<(), LockError> {
        let dir = &self.opts.dir;
        match fs::create_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(source) => match fs::metadata(dir) {
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
        read_text(path)
            .ok()
            .and_then(|raw| parse_holder(&raw, path, gid))
    }

    /// What the lock file holds right now.
    fn look(&self, path: &Path, gid: &GardenId) -> Seen {
        match read_text(path) {
            Ok(raw) => Seen::Holder(parse_holder(&raw, path, gid)),
            Err(e) if e.kind() == ErrorKind::NotFound => Seen::Gone,
            Err(_) => Seen::Holder(None),
        }
    }

    /// The conflict after a create lost to someone else: report the current holder; if the file
    /// is already gone again, the target changed hands while we looked (busy, not corrupt).
    fn lost_race(&self, path: &Path, gid: &GardenId) -> AcquireOutcome {
        #[cfg(test)]
        if let Some(h) = &self.hooks.before_lost_race_read {
            h();
        }
        self.conflict_seen(path, self.look(path, gid))
    }

    fn conflict_seen(&self, path: &Path, seen: Seen) -> AcquireOutcome {
        match seen {
            Seen::Gone => self.conflict(path, None, Some(contended_detail(path))),
            Seen::Holder(holder) => self.conflict(path, holder, None),
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

/// Publishes the claim at `path` only if nothing is there, whole: a concurrent acquirer never
/// reads the lock file empty or half-written, so it always gets the holder evidence. The line is
/// written to an anonymous file (`O_TMPFILE`) that is then linked into place (`linkat` fails with
/// `EEXIST` exactly like an exclusive create, and costs no extra directory entry). Where
/// `O_TMPFILE` or `/proc` is missing, a named staging file is moved into place without
/// replacing anything; if even that is impossible, the reference's exclusive create + write.
/// Mode stays `0o666` under the umask, as the reference's.
fn try_create(path: &Path, line: &str) -> Result<Create, LockError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    match publish_anonymous(dir, path, line) {
        Some(Ok(())) => return Ok(Create::Created),
        Some(Err(e)) => return Ok(Create::OpenFailed(e)),
        None => {}
    }
    let staged = tempfile::Builder::new()
        .prefix(".claim-")
        .suffix(".tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .and_then(|mut tmp| tmp.write_all(line.as_bytes()).map(|()| tmp));
    let staged = match staged {
        Ok(tmp) => tmp,
        Err(_) => return try_create_in_place(path, line),
    };
    match staged.persist_noclobber(path) {
        Ok(_) => Ok(Create::Created),
        // The staged file is removed when the error (which owns it) is dropped.
        Err(e) => Ok(Create::OpenFailed(e.error)),
    }
}

/// `O_TMPFILE` + `linkat`: `None` when this filesystem or kernel cannot do it (use a fallback),
/// `Some(Err(EEXIST))` when the lock is taken.
fn publish_anonymous(dir: &Path, path: &Path, line: &str) -> Option<io::Result<()>> {
    use rustix::fs::{linkat, openat, AtFlags, Mode, OFlags, CWD};
    let fd = openat(
        CWD,
        dir,
        OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )
    .ok()?;
    let mut file = fs::File::from(fd);
    file.write_all(line.as_bytes()).ok()?;
    // The descriptor itself (`AT_EMPTY_PATH`, allowed for our own files since Linux 6.10) spares
    // the `/proc/self/fd` lookup; an older kernel refuses it once and `/proc` is used from then on.
    if !EMPTY_PATH_REFUSED.load(Ordering::Relaxed) {
        match linkat(&file, "", CWD, path, AtFlags::EMPTY_PATH) {
            Ok(()) => return Some(Ok(())),
            Err(rustix::io::Errno::EXIST) => {
                return Some(Err(io::Error::from(ErrorKind::AlreadyExists)))
            }
            Err(_) => {}
        }
    }
    let linked = link_via_proc(&file, path);
    if matches!(linked, Some(Ok(()))) {
        // `/proc` linked where the descriptor could not: remember the kernel's answer.
        EMPTY_PATH_REFUSED.store(true, Ordering::Relaxed);
    }
    linked
}

/// Links an `O_TMPFILE` file at `path` through `/proc/self/fd/<n>`.
fn link_via_proc(file: &fs::File, path: &Path) -> Option<io::Result<()>> {
    use rustix::fs::{linkat, AtFlags, CWD};
    use std::os::fd::AsRawFd;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    match linkat(CWD, proc_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW) {
        Ok(()) => Some(Ok(())),
        Err(rustix::io::Errno::EXIST) => Some(Err(io::Error::from(ErrorKind::AlreadyExists))),
        // No /proc, or a filesystem that refuses the link: let a fallback try.
        Err(_) => None,
    }
}

/// Set once `linkat(fd, "", AT_EMPTY_PATH)` was refused where the `/proc/self/fd` link worked
/// (a kernel before 6.10 without `CAP_DAC_READ_SEARCH`): a per-process fact about the kernel.
static EMPTY_PATH_REFUSED: AtomicBool = AtomicBool::new(false);

fn try_create_in_place(path: &Path, line: &str) -> Result<Create, LockError> {
    let mut file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) => return Ok(Create::OpenFailed(e)),
    };
    match file.write_all(line.as_bytes()) {
        Ok(()) => Ok(Create::Created),
        Err(source) => {
            drop(file);
            let _ = fs::remove_file(path);
            Err(LockError::WriteClaim {
                path: path.to_path_buf(),
                source,
            })
        }
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

fn read_text(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let file = fs::File::open(path)?;
    // A claim is one short line: read into a buffer that fits it, without the size-hint `statx`
    // `fs::read` makes (`Take` has no size hint); a longer file still reads whole.
    let mut bytes = Vec::with_capacity(1024);
    file.take(u64::MAX).read_to_end(&mut bytes)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// `Ok(true)` when removed, `Ok(false)` when it was already gone.
fn remove_if_exists(path: &Path) -> Result<bool, LockError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(source) => Err(LockError::Unlink {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The file's mtime as ISO millis; `None` when stat fails.
fn mtime_iso(path: &Path) -> Option<String> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(iso_millis)
}

/// Holds the `.reclaim` marker; removes it when dropped, whatever happened in between.
struct MarkerGuard {
    path: PathBuf,
}

impl MarkerGuard {
    fn create(path: &Path) -> io::Result<Self> {
        OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for MarkerGuard {
    fn drop(&mut self) {
        // Best effort: a marker left behind makes later reclaims fail closed, never open.
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errno;
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
    fn a_directory_in_the_recreate_gap_is_an_honest_conflict_and_the_marker_goes() {
        // Something that is not our claim appears in the unlink→create gap: never overwritten.
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = lock_with(tmp.path(), 5151, "1111111111111111", Err(Errno::SRCH));
        let path = lock.lock_path(&gid());
        fs::write(&path, claim_text(4242, "deadbeefcafef00d")).unwrap();
        let p = path.clone();
        lock.hooks.before_recreate = Some(Box::new(move || fs::create_dir(&p).unwrap()));
        let out = lock.acquire(&gid()).unwrap();
        // create_new on a directory fails with EEXIST → honest conflict, holder unreadable.
        assert!(matches!(out, AcquireOutcome::Conflict(ref c) if c.holder.is_none()));
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
    fn read_text_reads_a_file_longer_than_its_first_buffer_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("long");
        let text = "x".repeat(5000);
        fs::write(&path, &text).unwrap();
        assert_eq!(read_text(&path).unwrap(), text);
    }

    #[test]
    fn the_proc_link_publishes_whole_and_never_replaces() {
        use rustix::fs::{openat, Mode, OFlags, CWD};
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
