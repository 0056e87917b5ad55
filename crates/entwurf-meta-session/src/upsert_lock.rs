//! The per-native-id upsert lock: "look up, else create" runs under an exclusive `flock`, so
//! concurrent upserts of one native id, in any number of our processes, find or make exactly
//! one record.
//!
//! * **Where.** `<sessions>/.entwurf-upsert-locks/<nn>.lock`, one of [`LOCK_STRIPES`] files
//!   picked by a stable hash (FNV-1a) of the native id. The key is the native id alone, not
//!   backend + native id: the upsert's lookup matches on the native id whatever the backend
//!   (a second backend is refused as a backend change), so two backends racing on one id must
//!   serialise too. Striping bounds the number of lock files (never one per session ever
//!   seen); two native ids that share a stripe only wait for each other for one upsert.
//! * **Why `flock` and not the dispatch lock's claim files.** The kernel drops an `flock` when
//!   its holder's last descriptor closes, including when the process dies, so there is no stale
//!   lock to detect and reclaim (the claim files need the pid/ESRCH reclaim dance because they
//!   outlive their writer); the lock files are never removed by us, and their content is
//!   empty. Should someone remove or replace one anyway, a locker notices (the file it locked
//!   is no longer the one at the path) and locks the new one, so two holders never lock two
//!   different inodes of one name.
//! * **What it does not cover.** The reference's writers take no lock (its upsert scans and
//!   creates unguarded), so a reference process racing ours can still fork an identity; that
//!   store is recovered with `entwurf record repair`. A directory named like the lock dir, or a
//!   filesystem without `flock`, makes the upsert fail with a typed error instead of racing.
//!
//! The listings ignore the lock dir (it does not end in `.meta.json`), ours and the reference's.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, openat, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// The lock directory inside the sessions dir.
pub const UPSERT_LOCK_DIR: &str = ".entwurf-upsert-locks";

/// How many lock files native ids are spread over.
pub const LOCK_STRIPES: u64 = 64;

/// FNV-1a, 64 bit: stable across processes, builds and Rust versions (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The stripe (lock file number) of a native id.
pub(crate) fn stripe_of(native_session_id: &str) -> usize {
    (fnv1a(native_session_id.as_bytes()) % LOCK_STRIPES) as usize
}

/// `<sessions>/.entwurf-upsert-locks/<nn>.lock` for a native id.
pub fn upsert_lock_path(sessions_dir: &Path, native_session_id: &str) -> PathBuf {
    sessions_dir
        .join(UPSERT_LOCK_DIR)
        .join(format!("{:02}.lock", stripe_of(native_session_id)))
}

/// Open lock files, kept across upserts by a long-lived [`crate::RecordStore`] (opening costs
/// a path walk; locking an open file is one syscall). Locks are never held between upserts.
#[derive(Debug, Default)]
pub(crate) struct LockFiles {
    open: Vec<Option<OwnedFd>>,
}

/// A held lock: released when dropped (or when the process dies).
#[derive(Debug)]
pub(crate) enum NativeLock<'a> {
    /// A lock file opened for this upsert alone; closing it releases the lock.
    Owned(#[allow(dead_code)] OwnedFd),
    /// A lock file kept open by [`LockFiles`]; dropping unlocks it explicitly.
    Kept(&'a OwnedFd),
}

impl Drop for NativeLock<'_> {
    fn drop(&mut self) {
        if let NativeLock::Kept(fd) = self {
            let _ = flock(*fd, FlockOperation::Unlock);
        }
    }
}

/// Opens (creating the dir and the file, 0600) one lock file through the store layer: the
/// lock dir and the file are never followed when they are symlinks, the open never blocks, and
/// anything but a regular file is refused.
fn open_lock_file(sessions_dir: &Path, stripe: usize) -> io::Result<OwnedFd> {
    let dir = entwurf_fs::StoreDir::open_or_create_child(sessions_dir, UPSERT_LOCK_DIR)?;
    let name = format!("{stripe:02}.lock");
    let fd = openat(
        &dir,
        name.as_str(),
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::from_raw_mode(0o600),
    )
    .map_err(io::Error::from)?;
    let kind = rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
    if kind != rustix::fs::FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", dir.join(&name).display()),
        ));
    }
    Ok(fd)
}

/// Blocks until the exclusive lock is held (retrying an interrupted wait).
fn lock_exclusive(fd: &OwnedFd) -> io::Result<()> {
    loop {
        match flock(fd, FlockOperation::LockExclusive) {
            Ok(()) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Takes the upsert lock of `native_session_id` in `sessions_dir` (which must exist), through
/// `kept` when the caller keeps lock files open.
pub(crate) fn lock_native<'a>(
    sessions_dir: &Path,
    native_session_id: &str,
    kept: Option<&'a mut LockFiles>,
) -> io::Result<NativeLock<'a>> {
    let stripe = stripe_of(native_session_id);
    let path = upsert_lock_path(sessions_dir, native_session_id);
    match kept {
        None => {
            // A lock file removed or replaced between our open and our lock would leave us
            // holding an orphan inode: re-open until the locked file is the one at the path.
            for _ in 0..16 {
                let fd = open_lock_file(sessions_dir, stripe)?;
                lock_exclusive(&fd)?;
                if still_at(&fd, &path) {
                    return Ok(NativeLock::Owned(fd));
                }
            }
            Err(io::Error::other(
                "the upsert lock file keeps being replaced",
            ))
        }
        Some(files) => {
            if files.open.len() <= stripe {
                files.open.resize_with(LOCK_STRIPES as usize, || None);
            }
            for _ in 0..16 {
                let slot = &mut files.open[stripe];
                if slot.is_none() {
                    *slot = Some(open_lock_file(sessions_dir, stripe)?);
                }
                let Some(fd) = slot.as_ref() else { continue };
                lock_exclusive(fd)?;
                if still_at(fd, &path) {
                    return Ok(NativeLock::Kept(
                        files.open[stripe]
                            .as_ref()
                            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?,
                    ));
                }
                // A kept file that was removed meanwhile: drop it (closing unlocks) and reopen.
                files.open[stripe] = None;
            }
            Err(io::Error::other(
                "the upsert lock file keeps being replaced",
            ))
        }
    }
}

/// Whether the open lock file is still the file at `path` (same device and inode).
fn still_at(fd: &OwnedFd, path: &Path) -> bool {
    match (rustix::fs::fstat(fd), rustix::fs::lstat(path)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

/// The upsert lock of one native id, held by someone other than an upsert (a repair that
/// rewrites that native id's records). Released on drop.
#[derive(Debug)]
pub struct UpsertLockGuard {
    _lock: NativeLock<'static>,
}

/// Takes the upsert lock of `native_session_id` (creating `sessions_dir` if needed): our
/// upserts of that native id wait until the guard is dropped.
pub fn lock_upserts_of(
    sessions_dir: &Path,
    native_session_id: &str,
) -> Result<UpsertLockGuard, crate::RecordError> {
    let map = |source| crate::RecordError::UpsertLock {
        path: upsert_lock_path(sessions_dir, native_session_id),
        source,
    };
    std::fs::create_dir_all(sessions_dir).map_err(map)?;
    let lock = lock_native(sessions_dir, native_session_id, None).map_err(map)?;
    Ok(UpsertLockGuard { _lock: lock })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stripe_is_stable_and_in_range() {
        // Pinned: a change would let an old and a new build lock different files for one id.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        for id in [
            "a",
            "0b6c1f2e-1111-4111-8111-111111111111",
            "x".repeat(300).as_str(),
        ] {
            assert!(stripe_of(id) < LOCK_STRIPES as usize);
            assert_eq!(stripe_of(id), stripe_of(id));
        }
    }

    #[test]
    fn a_held_lock_blocks_a_second_open_until_dropped() {
        let t = tempfile::tempdir().unwrap();
        let held = lock_native(t.path(), "n", None).unwrap();
        let other = open_lock_file(t.path(), stripe_of("n")).unwrap();
        assert_eq!(
            flock(&other, FlockOperation::NonBlockingLockExclusive),
            Err(Errno::WOULDBLOCK)
        );
        drop(held);
        flock(&other, FlockOperation::NonBlockingLockExclusive).unwrap();
        flock(&other, FlockOperation::Unlock).unwrap();
        // A kept file unlocks on drop too.
        let mut kept = LockFiles::default();
        let k = lock_native(t.path(), "n", Some(&mut kept)).unwrap();
        assert_eq!(
            flock(&other, FlockOperation::NonBlockingLockExclusive),
            Err(Errno::WOULDBLOCK)
        );
        drop(k);
        flock(&other, FlockOperation::NonBlockingLockExclusive).unwrap();
    }

    #[test]
    fn a_symlinked_lock_dir_or_a_fifo_lock_file_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let elsewhere = t.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, t.path().join(UPSERT_LOCK_DIR)).unwrap();
        assert!(lock_native(t.path(), "n", None).is_err());
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        let u = tempfile::tempdir().unwrap();
        std::fs::create_dir(u.path().join(UPSERT_LOCK_DIR)).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            upsert_lock_path(u.path(), "n"),
            Mode::from_raw_mode(0o600),
        )
        .unwrap();
        assert!(
            lock_native(u.path(), "n", None).is_err(),
            "refused, never blocked"
        );
    }

    #[test]
    fn a_kept_lock_file_removed_meanwhile_is_reopened_so_both_lock_the_same_file() {
        let t = tempfile::tempdir().unwrap();
        let mut kept = LockFiles::default();
        drop(lock_native(t.path(), "n", Some(&mut kept)).unwrap());
        std::fs::remove_file(upsert_lock_path(t.path(), "n")).unwrap();
        let held = lock_native(t.path(), "n", Some(&mut kept)).unwrap();
        let other = open_lock_file(t.path(), stripe_of("n")).unwrap();
        assert_eq!(
            flock(&other, FlockOperation::NonBlockingLockExclusive),
            Err(Errno::WOULDBLOCK),
            "the kept handle re-opened the file now at the path"
        );
        drop(held);
    }

    #[test]
    fn a_symlink_in_place_of_a_lock_file_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join(UPSERT_LOCK_DIR);
        std::fs::create_dir(&dir).unwrap();
        let target = t.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, upsert_lock_path(t.path(), "n")).unwrap();
        assert!(lock_native(t.path(), "n", None).is_err());
        assert!(!target.exists(), "nothing created through the link");
    }
}
