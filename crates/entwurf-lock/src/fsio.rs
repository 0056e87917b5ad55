//! The lock's file access, on `entwurf-fs` (the one filesystem layer): a lock file is read
//! with [`entwurf_fs::read_path`] (never following a final symlink, never blocking, `fstat`ed,
//! read up to the lock cap); every mutating call passes the layer's crash seam
//! ([`entwurf_fs::fault::point`]) first, so a fault build can kill the lock at each step. The
//! lock dir itself may be a symlink (it is a store root); entries inside it may not.
//!
//! Publishing is the lock's own (whole, no-clobber, nothing left by a crash): an anonymous
//! `O_TMPFILE` file linked into place, which no crash can leave behind; where the filesystem
//! has none, the layer's writer-named temp + no-replace rename. The reclaim marker is opened
//! here (not through the layer) because its descriptor carries the `flock` that says a
//! reclaimer is alive.
//!
//! Creates never follow a symlink: `linkat`, `renameat2(RENAME_NOREPLACE)` and `O_CREAT|O_EXCL`
//! all fail with `EEXIST` on any existing entry, a dangling symlink included.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use entwurf_fs::fault::point;
use entwurf_fs::{fs_error_of, FsError, Kind, StoreDir};
use rustix::io::Errno;
use serde::Serialize;

/// The most a lock file may hold (`entwurf-fs`'s cap for a lock file): a longer file is never
/// read whole and is a corrupt lock; a claim longer than this is refused at acquire.
pub const MAX_LOCK_FILE_BYTES: u64 = entwurf_fs::LOCK_MAX;

/// The most a reclaim marker may hold (the same cap). A longer one makes a reclaim fail closed.
pub const MAX_MARKER_BYTES: u64 = entwurf_fs::LOCK_MAX;

/// What sits at a path where a lock file (or reclaim marker) should be, when it is not a regular
/// file. No entwurf writer ever creates one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A symbolic link (dangling or not): never followed.
    Symlink,
    /// A named pipe: never read (it would block).
    Fifo,
    /// A directory.
    Directory,
    /// A unix socket.
    Socket,
    /// A character or block device.
    Device,
}

impl EntryKind {
    fn of(ft: fs::FileType) -> Option<Self> {
        if ft.is_file() {
            None
        } else if ft.is_symlink() {
            Some(Self::Symlink)
        } else if ft.is_fifo() {
            Some(Self::Fifo)
        } else if ft.is_dir() {
            Some(Self::Directory)
        } else if ft.is_socket() {
            Some(Self::Socket)
        } else {
            Some(Self::Device)
        }
    }

    /// What `entwurf-fs` reported as `found` in a [`FsError::NotRegular`].
    fn of_found(found: &str) -> Self {
        match found {
            "symbolic link" => Self::Symlink,
            "FIFO" => Self::Fifo,
            "directory" => Self::Directory,
            "socket" => Self::Socket,
            _ => Self::Device,
        }
    }

    /// How to get rid of it by hand.
    pub fn removal_hint(self) -> &'static str {
        match self {
            Self::Directory => {
                "move the directory away (it is not removed by `entwurf lock clear --force`)"
            }
            _ => "remove it with `entwurf lock clear --force <gid>` (or `rm` it)",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Symlink => "symbolic link",
            Self::Fifo => "FIFO (named pipe)",
            Self::Directory => "directory",
            Self::Socket => "socket",
            Self::Device => "device node",
        })
    }
}

/// What reading a lock file or marker found.
#[derive(Debug)]
pub(crate) enum Entry {
    /// A regular file's text (invalid UTF-8 replaced), read whole.
    Text(String),
    /// A regular file longer than the cap: not read further.
    TooLarge,
    /// Something that is not a regular file: not followed, not read.
    NotAFile(EntryKind),
}

/// Opens `path` for reading (or reading and writing) without following a final symlink and
/// without blocking, and checks with `fstat` that it is a regular file.
pub(crate) fn open_regular(path: &Path, write: bool) -> io::Result<Result<File, EntryKind>> {
    let opened = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc_flags())
        .open(path);
    let file = match opened {
        Ok(f) => f,
        // ELOOP: the last component is a symlink (O_NOFOLLOW). ENXIO: a socket. Confirm by lstat.
        Err(e) if matches!(raw(&e), Some(x) if x == Errno::LOOP || x == Errno::NXIO) => {
            return match fs::symlink_metadata(path) {
                Ok(m) => match EntryKind::of(m.file_type()) {
                    Some(kind) => Ok(Err(kind)),
                    None => Err(e),
                },
                Err(_) => Err(e),
            };
        }
        // EISDIR when opened for writing.
        Err(e) if raw(&e) == Some(Errno::ISDIR) => return Ok(Err(EntryKind::Directory)),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    Ok(match EntryKind::of(meta.file_type()) {
        Some(kind) => Err(kind),
        None => Ok(file),
    })
}

fn libc_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY)
        .bits() as i32
}

fn raw(e: &io::Error) -> Option<Errno> {
    e.raw_os_error().map(Errno::from_raw_os_error)
}

/// Reads at most `cap` bytes of an open regular file (the reclaim marker, whose descriptor we
/// keep for its `flock`).
pub(crate) fn read_capped(file: &File, cap: u64) -> io::Result<Entry> {
    // A claim is one short line: a buffer that fits it, no size-hint `statx` (`Take` has none).
    let mut bytes = Vec::with_capacity(1024);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Ok(Entry::TooLarge);
    }
    Ok(Entry::Text(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }))
}

/// Reads the lock file at `path` through the layer ([`entwurf_fs::read_path`], cap
/// [`MAX_LOCK_FILE_BYTES`]): `NotFound` when absent.
pub(crate) fn read_lock_file(path: &Path) -> io::Result<Entry> {
    let mut buf = Vec::with_capacity(512);
    match entwurf_fs::read_path(path, Kind::Lock, &mut buf) {
        Ok(Some(_)) => Ok(Entry::Text(match String::from_utf8(buf) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })),
        Ok(None) => Err(ErrorKind::NotFound.into()),
        Err(e) => match fs_error_of(&e) {
            Some(FsError::NotRegular { found, .. }) => {
                Ok(Entry::NotAFile(EntryKind::of_found(found)))
            }
            Some(FsError::TooLarge { .. }) => Ok(Entry::TooLarge),
            // A socket refuses the open itself (ENXIO): say what it is.
            _ if raw(&e) == Some(Errno::NXIO) => match fs::symlink_metadata(path) {
                Ok(m) => match EntryKind::of(m.file_type()) {
                    Some(kind) => Ok(Entry::NotAFile(kind)),
                    None => Err(e),
                },
                Err(_) => Err(e),
            },
            _ => Err(e),
        },
    }
}

/// The file name of `path` (lock files and markers are always `<dir>/<name>`).
fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `(dev, ino)` of what `path` names now, without following a final symlink.
pub(crate) fn identity_at(path: &Path) -> io::Result<(u64, u64)> {
    let m = fs::symlink_metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// `(dev, ino)` of an open file.
pub(crate) fn identity_of(file: &File) -> io::Result<(u64, u64)> {
    let m = file.metadata()?;
    Ok((m.dev(), m.ino()))
}

/// The outcome of a no-clobber publish.
pub(crate) enum Publish {
    /// The file is at `path`, whole; the descriptor is ours (locked when asked).
    Created(File),
    /// The create failed (`AlreadyExists` when something is at `path`).
    Failed(io::Error),
}

/// An error writing our own staged content (the in-place fallback removed its file again).
pub(crate) struct WriteFailed(pub io::Error);

/// Publishes `bytes` at `path` only if nothing is there, whole: a reader never sees the file
/// empty or half-written. With `lock`, the file carries an exclusive `flock` from before it is
/// visible until the returned descriptor is closed. `bytes` over [`MAX_LOCK_FILE_BYTES`] is
/// refused (`FileTooLarge`) before anything is written.
///
/// The bytes go to an anonymous file (`O_TMPFILE`) that is linked into place (`linkat` fails
/// with `EEXIST` exactly like an exclusive create, and a crash leaves nothing at all). Where
/// `O_TMPFILE` or `/proc` is missing, the layer's writer-named temp (mode `0o666` under the
/// umask, as the reference's lock) is moved into place with a no-replace rename.
pub(crate) fn publish_new(path: &Path, bytes: &[u8], lock: bool) -> Result<Publish, WriteFailed> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = name_of(path);
    if bytes.len() as u64 > MAX_LOCK_FILE_BYTES {
        return Err(WriteFailed(
            FsError::TooLarge {
                path: path.to_path_buf(),
                kind: Kind::Lock,
                cap: MAX_LOCK_FILE_BYTES,
            }
            .into(),
        ));
    }
    if let Some(done) = publish_anonymous(dir, path, &name, bytes, lock) {
        return Ok(done);
    }
    publish_staged(dir, &name, bytes, lock)
}

/// The fallback: a writer-named temp in the lock dir, renamed into place without replacing.
fn publish_staged(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    lock: bool,
) -> Result<Publish, WriteFailed> {
    let store = match StoreDir::open(dir) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(Publish::Failed(ErrorKind::NotFound.into())),
        Err(e) => return Ok(Publish::Failed(e)),
    };
    let tmp = entwurf_fs::temp_name(name);
    if let Err(e) = store.write_new(&tmp, Kind::Lock, bytes, 0o666, false) {
        return Ok(Publish::Failed(e));
    }
    let staged = match open_regular(&store.join(&tmp), false) {
        Ok(Ok(f)) => f,
        Ok(Err(_)) | Err(_) => {
            let _ = store.unlink(&tmp);
            return Ok(Publish::Failed(ErrorKind::NotFound.into()));
        }
    };
    if lock {
        flock_best_effort(&staged);
    }
    match store.rename_no_replace(&tmp, name) {
        Ok(()) => Ok(Publish::Created(staged)),
        Err(e) => {
            let _ = store.unlink(&tmp);
            Ok(Publish::Failed(e))
        }
    }
}

/// `O_TMPFILE` + `linkat`: `None` when this filesystem or kernel cannot do it (use a fallback).
fn publish_anonymous(
    dir: &Path,
    path: &Path,
    name: &str,
    bytes: &[u8],
    lock: bool,
) -> Option<Publish> {
    use rustix::fs::{linkat, openat, AtFlags, Mode, OFlags, CWD};
    point("create", name);
    let fd = openat(
        CWD,
        dir,
        OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )
    .ok()?;
    let mut file = File::from(fd);
    if lock {
        flock_best_effort(&file);
    }
    point("write", name);
    file.write_all(bytes).ok()?;
    point("link", name);
    // The descriptor itself (`AT_EMPTY_PATH`, allowed for our own files since Linux 6.10) spares
    // the `/proc/self/fd` lookup; an older kernel refuses it once and `/proc` is used from then on.
    if !EMPTY_PATH_REFUSED.load(Ordering::Relaxed) {
        match linkat(&file, "", CWD, path, AtFlags::EMPTY_PATH) {
            Ok(()) => return Some(Publish::Created(file)),
            Err(Errno::EXIST) => {
                return Some(Publish::Failed(io::Error::from(ErrorKind::AlreadyExists)))
            }
            Err(_) => {}
        }
    }
    match link_via_proc(&file, path)? {
        Ok(()) => {
            // `/proc` linked where the descriptor could not: remember the kernel's answer.
            EMPTY_PATH_REFUSED.store(true, Ordering::Relaxed);
            Some(Publish::Created(file))
        }
        Err(e) => Some(Publish::Failed(e)),
    }
}

/// Links an `O_TMPFILE` file at `path` through `/proc/self/fd/<n>`.
pub(crate) fn link_via_proc(file: &File, path: &Path) -> Option<io::Result<()>> {
    use rustix::fs::{linkat, AtFlags, CWD};
    use std::os::fd::AsRawFd;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    match linkat(CWD, proc_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW) {
        Ok(()) => Some(Ok(())),
        Err(Errno::EXIST) => Some(Err(io::Error::from(ErrorKind::AlreadyExists))),
        // No /proc, or a filesystem that refuses the link: let a fallback try.
        Err(_) => None,
    }
}

/// Set once `linkat(fd, "", AT_EMPTY_PATH)` was refused where the `/proc/self/fd` link worked
/// (a kernel before 6.10 without `CAP_DAC_READ_SEARCH`): a per-process fact about the kernel.
static EMPTY_PATH_REFUSED: AtomicBool = AtomicBool::new(false);

/// Takes the `flock` of a file nobody else can have opened yet. Best effort: where the
/// filesystem has no `flock`, a taker cannot take it either and fails closed.
fn flock_best_effort(file: &File) {
    let _ = rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive);
}

/// Tries to take the exclusive `flock` of an open file without waiting: `Ok(true)` when taken,
/// `Ok(false)` when another open file description holds it.
pub(crate) fn try_flock(file: &File) -> io::Result<bool> {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes the entry at `path` (a symlink itself, never its target), through the crash seam.
pub(crate) fn unlink(path: &Path) -> io::Result<()> {
    point("unlink", &name_of(path));
    fs::remove_file(path)
}

/// `Ok(true)` when removed, `Ok(false)` when it was already gone. Never follows a symlink.
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match unlink(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The entry's mtime (not following a symlink); `None` when lstat fails.
pub(crate) fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    fs::symlink_metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    use entwurf_testkit::mkfifo;

    #[test]
    fn every_non_regular_entry_is_named_and_never_followed_or_blocked_on() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::write(&outside, "secret").unwrap();
        let cases: Vec<(&str, EntryKind)> = vec![
            ("link", EntryKind::Symlink),
            ("dangling", EntryKind::Symlink),
            ("fifo", EntryKind::Fifo),
            ("dir", EntryKind::Directory),
            ("sock", EntryKind::Socket),
        ];
        symlink(&outside, tmp.path().join("link")).unwrap();
        symlink(tmp.path().join("nowhere"), tmp.path().join("dangling")).unwrap();
        mkfifo(tmp.path().join("fifo"));
        fs::create_dir(tmp.path().join("dir")).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(tmp.path().join("sock")).unwrap();
        for (name, kind) in cases {
            let path = tmp.path().join(name);
            for write in [false, true] {
                let got = open_regular(&path, write).unwrap();
                assert_eq!(got.err(), Some(kind), "{name} write={write}");
            }
            assert!(matches!(
                read_lock_file(&path).unwrap(),
                Entry::NotAFile(k) if k == kind
            ));
        }
        assert_eq!(fs::read_to_string(&outside).unwrap(), "secret");
    }

    #[test]
    fn the_read_cap_is_reached_and_nothing_beyond_it_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("big");
        fs::write(&path, vec![b'x'; 1000]).unwrap();
        let open = || open_regular(&path, false).unwrap().unwrap();
        assert!(matches!(
            read_capped(&open(), 999).unwrap(),
            Entry::TooLarge
        ));
        assert!(matches!(read_capped(&open(), 1000).unwrap(), Entry::Text(t) if t.len() == 1000));
        let lock = tmp.path().join("big.lock");
        fs::write(&lock, vec![b'x'; MAX_LOCK_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(read_lock_file(&lock).unwrap(), Entry::TooLarge));
        fs::write(&lock, vec![b'x'; MAX_LOCK_FILE_BYTES as usize]).unwrap();
        assert!(matches!(read_lock_file(&lock).unwrap(), Entry::Text(_)));
    }

    #[test]
    fn a_published_locked_file_cannot_be_flocked_by_another_open() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("m");
        let Ok(Publish::Created(held)) = publish_new(&path, b"x\n", true) else {
            panic!("fresh path");
        };
        let other = open_regular(&path, false).unwrap().unwrap();
        assert!(!try_flock(&other).unwrap());
        drop(held);
        assert!(try_flock(&other).unwrap());
        assert!(matches!(
            publish_new(&path, b"y\n", true),
            Ok(Publish::Failed(e)) if e.kind() == ErrorKind::AlreadyExists
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), "x\n");
    }

    #[test]
    fn a_publish_over_the_cap_is_refused_before_anything_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("m");
        let big = vec![b'x'; MAX_LOCK_FILE_BYTES as usize + 1];
        let Err(WriteFailed(e)) = publish_new(&path, &big, false) else {
            panic!("over the cap");
        };
        assert!(matches!(fs_error_of(&e), Some(FsError::TooLarge { .. })));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_staged_fallback_publishes_whole_locked_and_never_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.lock");
        let Ok(Publish::Created(held)) = publish_staged(tmp.path(), "s.lock", b"one\n", true)
        else {
            panic!("fresh name");
        };
        let other = open_regular(&path, false).unwrap().unwrap();
        assert!(
            !try_flock(&other).unwrap(),
            "locked from before it was visible"
        );
        drop(held);
        assert!(matches!(
            publish_staged(tmp.path(), "s.lock", b"two\n", false),
            Ok(Publish::Failed(e)) if e.kind() == ErrorKind::AlreadyExists
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), "one\n");
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp left: {names:?}");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask(), "the reference's create mode");
    }

    fn umask() -> u32 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
    }
}
