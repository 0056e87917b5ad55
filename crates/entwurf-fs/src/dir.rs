//! [`StoreDir`]: an open handle on one store directory, and every file operation in it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use rustix::fs::{FileType, Mode, OFlags, RenameFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use crate::fault::point;
use crate::temp::{parse_temp_name, temp_name, writer_is_dead};
use crate::{FsError, Kind};

/// How [`StoreDir::write_atomic`] puts a complete temp file in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// `rename` over whatever is at the name.
    Replace,
    /// `renameat2(RENAME_EXCHANGE)` then unlink the old file (a reader never sees the name
    /// missing, and ext4 does not start writeback as it does for a rename over a file); a
    /// plain rename when the target does not exist yet or the filesystem cannot exchange.
    Exchange,
    /// Never replace: `AlreadyExists` when the name is taken.
    NoReplace,
}

/// Refuses a name that is not exactly one path component.
pub fn check_name(dir: &Path, name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(FsError::BadName {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
        }
        .into());
    }
    Ok(())
}

/// What is at a path, for error messages.
fn type_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "special file",
    }
}

/// 0 = not probed, 1 = openat2 works, 2 = not available (ENOSYS, or refused by a sandbox).
static OPENAT2: AtomicU8 = AtomicU8::new(0);

/// `openat` of one name below `dir` that never follows a symlink and never blocks.
fn open_beneath(
    dir: BorrowedFd<'_>,
    name: &str,
    flags: OFlags,
    mode: Mode,
) -> rustix::io::Result<OwnedFd> {
    let flags = flags | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if OPENAT2.load(Ordering::Relaxed) != 2 {
        match rustix::fs::openat2(
            dir,
            name,
            flags,
            mode,
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        ) {
            Err(Errno::NOSYS | Errno::PERM | Errno::ACCESS)
                if OPENAT2.load(Ordering::Relaxed) == 0 =>
            {
                OPENAT2.store(2, Ordering::Relaxed);
            }
            other => {
                OPENAT2.store(1, Ordering::Relaxed);
                return other;
            }
        }
    }
    rustix::fs::openat(dir, name, flags, mode)
}

/// An open, `fstat`ed regular file in a store directory.
#[derive(Debug)]
pub struct RegularFile {
    file: File,
    stat: Stat,
    path: PathBuf,
}

impl RegularFile {
    /// What `fstat` said when it was opened.
    pub fn stat(&self) -> &Stat {
        &self.stat
    }

    /// Reads the whole file into `buf` (cleared first), at most `kind.cap()` bytes: a file
    /// past the cap is refused with [`FsError::TooLarge`] after reading cap + 1 bytes.
    pub fn read_capped(self, kind: Kind, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        let cap = kind.cap();
        let size = u64::try_from(self.stat.st_size).unwrap_or(0);
        let hint = size.min(cap) as usize;
        buf.reserve(hint.saturating_add(1).max(512));
        let mut file = self.file;
        // One read usually says it all: `fstat` gave the size, so a read of up to size + 1
        // bytes that returns exactly `size` bytes hit the end (the + 1 would have shown a
        // file that grew since). Only then is the end-of-file read skipped; a short or long
        // read, an interrupted one, or a size past the cap goes on with the loop below.
        if size > 0 && size <= cap {
            if let Ok(n) = rustix::io::read(&file, rustix::buffer::spare_capacity(buf)) {
                if n as u64 == size {
                    return Ok(());
                }
            }
        }
        // Through `Take`: no size-hint `fstat` again, and never more than cap + 1 bytes in all.
        let left = (cap + 1).saturating_sub(buf.len() as u64);
        (&mut file).take(left).read_to_end(buf)?;
        if buf.len() as u64 > cap {
            buf.clear();
            buf.shrink_to(4096);
            return Err(FsError::TooLarge {
                path: self.path,
                kind,
                cap,
            }
            .into());
        }
        Ok(())
    }
}

/// Reads the file at `path` within the cap of `kind`, `None` when it does not exist: one
/// open of the path with `O_NOFOLLOW | O_NONBLOCK` (its last component is never followed, it
/// never blocks), then `fstat` (a regular file or a refusal naming the path).
///
/// For a file directly below a store root (`<root>/<one name>`) this gives the same guarantee
/// as [`StoreDir::read`] without opening the directory first: the root may be a link, the
/// name may not. Deeper paths must go through [`StoreDir::open_child`] / [`StoreDir::subdir`].
pub fn read_path(path: &Path, kind: Kind, buf: &mut Vec<u8>) -> io::Result<Option<Stat>> {
    let fd = match rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => {
            return Err(FsError::NotRegular {
                path: path.to_path_buf(),
                found: "symbolic link",
                wanted: "regular file",
            }
            .into())
        }
        Err(e) => return Err(e.into()),
    };
    let f = regular_of(path, fd)?;
    let stat = f.stat;
    f.read_capped(kind, buf)?;
    Ok(Some(stat))
}

/// `fstat` an opened fd: a regular file, or the refusal naming `path`.
fn regular_of(path: &Path, fd: OwnedFd) -> io::Result<RegularFile> {
    let stat = rustix::fs::fstat(&fd)?;
    let t = FileType::from_raw_mode(stat.st_mode);
    if t != FileType::RegularFile {
        return Err(FsError::NotRegular {
            path: path.to_path_buf(),
            found: type_name(t),
            wanted: "regular file",
        }
        .into());
    }
    Ok(RegularFile {
        file: File::from(fd),
        stat,
        path: path.to_path_buf(),
    })
}

/// An open handle on one store directory, with its path for error messages.
#[derive(Debug)]
pub struct StoreDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl AsFd for StoreDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn dir_open_err(path: &Path, e: Errno) -> io::Error {
    match e {
        // O_DIRECTORY | O_NOFOLLOW on a symlink: ELOOP or ENOTDIR, depending on the kernel;
        // say what is there (an ancestor that is a file keeps the plain error).
        Errno::LOOP | Errno::NOTDIR => match std::fs::symlink_metadata(path) {
            Ok(m) if !m.is_dir() => FsError::NotRegular {
                path: path.to_path_buf(),
                found: type_name(FileType::from_raw_mode(
                    std::os::unix::fs::MetadataExt::mode(&m),
                )),
                wanted: "directory",
            }
            .into(),
            _ => e.into(),
        },
        e => e.into(),
    }
}

impl StoreDir {
    /// Opens a store root (following a symlink at the root itself), or `None` when it does
    /// not exist. A path that is not a directory is `NotADirectory`.
    pub fn open(root: &Path) -> io::Result<Option<Self>> {
        match rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(Self {
                fd,
                path: root.to_path_buf(),
            })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a store root, creating it (`mkdir -p`, default mode) only when it is missing.
    pub fn open_or_create(root: &Path) -> io::Result<Self> {
        if let Some(d) = Self::open(root)? {
            return Ok(d);
        }
        point("mkdir", &root.to_string_lossy());
        std::fs::create_dir_all(root)?;
        Self::open(root)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    /// Opens the directory `<root>/<name>` in one call, refusing a symlink at `name` (the
    /// root's own path may contain links), or `None` when it does not exist.
    pub fn open_child(root: &Path, name: &str) -> io::Result<Option<Self>> {
        check_name(root, name)?;
        let path = root.join(name);
        match rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(Self { fd, path })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(dir_open_err(&path, e)),
        }
    }

    /// [`StoreDir::open_child`], creating the root (`mkdir -p`) and the child (`mkdir`) only
    /// when missing.
    pub fn open_or_create_child(root: &Path, name: &str) -> io::Result<Self> {
        if let Some(d) = Self::open_child(root, name)? {
            return Ok(d);
        }
        let parent = Self::open_or_create(root)?;
        parent.subdir_or_create(name)
    }

    /// Opens the directory `name` below this one (never through a symlink), or `None`.
    pub fn subdir(&self, name: &str) -> io::Result<Option<Self>> {
        check_name(&self.path, name)?;
        let path = self.path.join(name);
        match open_beneath(
            self.fd.as_fd(),
            name,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(Self { fd, path })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(dir_open_err(&path, e)),
        }
    }

    /// [`StoreDir::subdir`], creating it (mode 0777 & umask) when missing.
    pub fn subdir_or_create(&self, name: &str) -> io::Result<Self> {
        if let Some(d) = self.subdir(name)? {
            return Ok(d);
        }
        point("mkdir", name);
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        self.subdir(name)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<dir>/<name>`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Maps an open failure on `name` to the layer's refusals (naming the path).
    fn open_err(&self, name: &str, e: Errno) -> io::Error {
        let path = self.join(name);
        match e {
            Errno::LOOP => FsError::NotRegular {
                path,
                found: "symbolic link",
                wanted: "regular file",
            }
            .into(),
            // A directory opened for writing, a FIFO with no reader (O_NONBLOCK|O_WRONLY),
            // a device without its driver: say what is there.
            Errno::ISDIR | Errno::NXIO | Errno::NODEV | Errno::OPNOTSUPP => {
                let found =
                    rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                        .map(|st| type_name(FileType::from_raw_mode(st.st_mode)))
                        .unwrap_or("special file");
                FsError::NotRegular {
                    path,
                    found,
                    wanted: "regular file",
                }
                .into()
            }
            e => e.into(),
        }
    }

    /// `fstat` an opened fd: a regular file, or the refusal naming the path.
    fn regular(&self, name: &str, fd: OwnedFd) -> io::Result<RegularFile> {
        regular_of(&self.join(name), fd)
    }

    /// Opens `name` for reading: the regular file, `None` when it does not exist, or a
    /// refusal (symlink, FIFO, directory, device, bad name).
    pub fn open_regular(&self, name: &str) -> io::Result<Option<RegularFile>> {
        check_name(&self.path, name)?;
        match open_beneath(self.fd.as_fd(), name, OFlags::RDONLY, Mode::empty()) {
            Ok(fd) => self.regular(name, fd).map(Some),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(self.open_err(name, e)),
        }
    }

    /// Reads `name` whole within the cap of `kind`; `None` when it does not exist.
    pub fn read(&self, name: &str, kind: Kind) -> io::Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        Ok(self.read_into(name, kind, &mut buf)?.map(|_| buf))
    }

    /// Reads `name` into `buf` within the cap of `kind`; returns its `fstat`, or `None` when
    /// it does not exist.
    pub fn read_into(&self, name: &str, kind: Kind, buf: &mut Vec<u8>) -> io::Result<Option<Stat>> {
        match self.open_regular(name)? {
            Some(f) => {
                let stat = f.stat;
                f.read_capped(kind, buf)?;
                Ok(Some(stat))
            }
            None => Ok(None),
        }
    }

    /// `lstat` of `name` (never following a symlink); `None` when it does not exist.
    pub fn stat(&self, name: &str) -> io::Result<Option<Stat>> {
        check_name(&self.path, name)?;
        match rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn check_size(&self, name: &str, kind: Kind, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() as u64 > kind.cap() {
            return Err(FsError::TooLarge {
                path: self.join(name),
                kind,
                cap: kind.cap(),
            }
            .into());
        }
        Ok(())
    }

    /// Creates `name` exclusively with `mode` and writes `bytes` into it (refused over the
    /// cap of `kind`, and `AlreadyExists` when the name is taken — by anything, a dangling
    /// symlink included). On a failed write the file is removed again.
    pub fn write_new(
        &self,
        name: &str,
        kind: Kind,
        bytes: &[u8],
        mode: u32,
        sync: bool,
    ) -> io::Result<()> {
        self.create_and_write(name, kind, bytes, mode, sync, false)
            .map(|_| ())
    }

    /// [`StoreDir::write_new`]; with `want_ino` one `fstat` more returns the new inode (else 0).
    fn create_and_write(
        &self,
        name: &str,
        kind: Kind,
        bytes: &[u8],
        mode: u32,
        sync: bool,
        want_ino: bool,
    ) -> io::Result<u64> {
        check_name(&self.path, name)?;
        self.check_size(name, kind, bytes)?;
        point("create", name);
        let fd = open_beneath(
            self.fd.as_fd(),
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| match e {
            Errno::EXIST => io::Error::from(io::ErrorKind::AlreadyExists),
            e => self.open_err(name, e),
        })?;
        let written = (|| {
            let mut f = File::from(fd);
            point("write", name);
            f.write_all(bytes)?;
            if sync {
                f.sync_all()?;
            }
            if want_ino {
                Ok(rustix::fs::fstat(&f)?.st_ino)
            } else {
                Ok(0)
            }
        })();
        if written.is_err() {
            let _ = self.unlink(name);
        }
        written
    }

    /// Writes `bytes` as the new `target` through a writer-named temp ([`crate::temp_name`],
    /// mode 0600): a reader of `target` sees the old file or the new one, never a mix, and a
    /// crash leaves at most a temp that [`StoreDir::sweep_dead_temps`] removes. `sync` fsyncs
    /// the data before it is published.
    pub fn write_atomic(
        &self,
        target: &str,
        kind: Kind,
        bytes: &[u8],
        publish: Publish,
        sync: bool,
    ) -> io::Result<()> {
        self.publish_new(target, kind, bytes, publish, sync, false)
            .map(|_| ())
    }

    /// [`StoreDir::write_atomic`], returning the new file's inode.
    pub fn write_atomic_ino(
        &self,
        target: &str,
        kind: Kind,
        bytes: &[u8],
        publish: Publish,
        sync: bool,
    ) -> io::Result<u64> {
        self.publish_new(target, kind, bytes, publish, sync, true)
    }

    fn publish_new(
        &self,
        target: &str,
        kind: Kind,
        bytes: &[u8],
        publish: Publish,
        sync: bool,
        want_ino: bool,
    ) -> io::Result<u64> {
        check_name(&self.path, target)?;
        self.check_size(target, kind, bytes)?;
        let tmp = temp_name(target);
        let ino = self.create_and_write(&tmp, kind, bytes, 0o600, sync, want_ino)?;
        let published = match publish {
            Publish::Replace => self.rename(&tmp, target),
            Publish::Exchange => self.replace_with(&tmp, target),
            Publish::NoReplace => self.rename_no_replace(&tmp, target),
        };
        if let Err(e) = published {
            let _ = self.unlink(&tmp);
            return Err(e);
        }
        Ok(ino)
    }

    /// Renames `from` to `to`, replacing `to`.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(&self.path, from)?;
        check_name(&self.path, to)?;
        point("rename", to);
        rustix::fs::renameat(&self.fd, from, &self.fd, to).map_err(Into::into)
    }

    /// Renames `from` to `to` without ever replacing an existing `to` (`AlreadyExists`).
    /// `renameat2(RENAME_NOREPLACE)`; where the filesystem lacks it, `linkat` + unlink of
    /// `from`, which refuses to replace too (never a check-then-rename).
    pub fn rename_no_replace(&self, from: &str, to: &str) -> io::Result<()> {
        self.move_no_replace(from, self, to)
    }

    /// [`StoreDir::rename_no_replace`] from this directory into another one (`to_dir`), e.g.
    /// a record moved aside into a subdirectory or a message moved into another mailbox. Both
    /// names are single components relative to their handles; `AlreadyExists` when `to` is
    /// taken. Both directories must be on one filesystem (else `EXDEV`).
    pub fn move_no_replace(&self, from: &str, to_dir: &StoreDir, to: &str) -> io::Result<()> {
        check_name(&self.path, from)?;
        check_name(&to_dir.path, to)?;
        point("rename", to);
        match rustix::fs::renameat_with(&self.fd, from, &to_dir.fd, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(Errno::INVAL | Errno::NOSYS) => {}
            Err(Errno::EXIST) => return Err(io::ErrorKind::AlreadyExists.into()),
            Err(e) => return Err(e.into()),
        }
        point("link", to);
        match rustix::fs::linkat(&self.fd, from, &to_dir.fd, to, rustix::fs::AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Err(io::ErrorKind::AlreadyExists.into()),
            Err(e) => return Err(e.into()),
        }
        self.unlink(from)
    }

    /// Hard-links `from` as `to` (never following a symlink; `AlreadyExists` when taken).
    pub fn link(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(&self.path, from)?;
        check_name(&self.path, to)?;
        point("link", to);
        match rustix::fs::linkat(&self.fd, from, &self.fd, to, rustix::fs::AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Err(io::ErrorKind::AlreadyExists.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Swaps the names `a` and `b` atomically (`renameat2(RENAME_EXCHANGE)`); both must exist.
    pub fn exchange(&self, a: &str, b: &str) -> io::Result<()> {
        check_name(&self.path, a)?;
        check_name(&self.path, b)?;
        point("exchange", b);
        rustix::fs::renameat_with(&self.fd, a, &self.fd, b, RenameFlags::EXCHANGE)
            .map_err(Into::into)
    }

    /// Makes the complete file `tmp` the new `target` ([`Publish::Exchange`]): the names are
    /// swapped and the old file (now under `tmp`) unlinked; a plain rename when `target`
    /// does not exist yet or the filesystem cannot exchange. Should the final unlink fail (or
    /// the process die before it), the old content stays under the temp name, which the
    /// sweep removes.
    pub fn replace_with(&self, tmp: &str, target: &str) -> io::Result<()> {
        match self.exchange(tmp, target) {
            Ok(()) => {
                let _ = self.unlink(tmp);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.raw_os_error().map(Errno::from_raw_os_error),
                    Some(Errno::NOENT | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
                ) =>
            {
                self.rename(tmp, target)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the file `name` (a symlink is removed itself, never its target).
    pub fn unlink(&self, name: &str) -> io::Result<()> {
        check_name(&self.path, name)?;
        point("unlink", name);
        rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::empty()).map_err(Into::into)
    }

    /// Writes `bytes` into `name` in place from offset 0 (mode 0600 when created; the inode
    /// and mode kept otherwise), shrinking the file only when its old content was longer: a
    /// reader never sees it empty. Refuses anything but a regular file (a symlink — dangling
    /// or not —, a FIFO, a directory), so nothing outside the store is ever written.
    pub fn overwrite_in_place(&self, name: &str, kind: Kind, bytes: &[u8]) -> io::Result<()> {
        check_name(&self.path, name)?;
        self.check_size(name, kind, bytes)?;
        point("create", name);
        let fd = open_beneath(
            self.fd.as_fd(),
            name,
            OFlags::WRONLY | OFlags::CREATE,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| self.open_err(name, e))?;
        let f = self.regular(name, fd)?;
        let mut file = f.file;
        point("write", name);
        file.write_all(bytes)?;
        let len = bytes.len() as u64;
        let old = u64::try_from(f.stat.st_size).unwrap_or(0);
        if old > len {
            point("write", name);
            rustix::fs::ftruncate(&file, len)?;
        }
        Ok(())
    }

    /// Appends `bytes` to `name` (created with mode 0666 & umask when missing, as a shell's
    /// `>>` does). Refuses anything but a regular file, so nothing outside the store is ever
    /// appended to through a symlink, and a FIFO never blocks.
    pub fn append(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        check_name(&self.path, name)?;
        point("create", name);
        let fd = open_beneath(
            self.fd.as_fd(),
            name,
            OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE,
            Mode::from_raw_mode(0o666),
        )
        .map_err(|e| self.open_err(name, e))?;
        let mut file = self.regular(name, fd)?.file;
        point("write", name);
        file.write_all(bytes)
    }

    /// Every entry name in the directory (non-UTF-8 names, never ours, are skipped), unsorted.
    pub fn names(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        self.for_each_name(|name, _| out.push(name.to_owned()))?;
        Ok(out)
    }

    /// Calls `each(name, d_ino)` for every entry with one `getdents` pass from the start (no
    /// allocation per entry).
    pub fn for_each_name(&self, mut each: impl FnMut(&str, u64)) -> io::Result<()> {
        use rustix::fs::{seek, RawDir, SeekFrom};
        seek(&self.fd, SeekFrom::Start(0))?;
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 32 * 1024];
        let mut raw = RawDir::new(&self.fd, &mut buf);
        while let Some(entry) = raw.next() {
            let entry = entry?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name != "." && name != ".." {
                each(name, entry.ino());
            }
        }
        Ok(())
    }

    /// Removes, among `names` (a listing the caller already has), the temps whose writer is
    /// dead ([`crate::writer_is_dead`]), and returns the names removed, sorted. Temps of the
    /// forms earlier versions wrote ([`crate::parse_legacy_temp_name`]) go too: with a pid once
    /// no process has it, without one once older than [`crate::UNOWNED_TEMP_AGE_SECS`]. Other
    /// names, and temps of live writers, are left alone; a failed unlink is skipped.
    pub fn sweep_dead_temps<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        use crate::temp::{parse_legacy_temp_name, pid_exists, LegacyTemp};
        let mut removed = Vec::new();
        let mut verdicts: Vec<(u32, Option<String>, bool)> = Vec::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        for name in names {
            if !name.contains(".tmp") {
                continue;
            }
            let dead = if let Some(w) = parse_temp_name(name) {
                match verdicts
                    .iter()
                    .find(|(p, k, _)| *p == w.pid && *k == w.start_key)
                {
                    Some((_, _, d)) => *d,
                    None => {
                        let d = writer_is_dead(&w);
                        verdicts.push((w.pid, w.start_key.clone(), d));
                        d
                    }
                }
            } else {
                match parse_legacy_temp_name(name) {
                    Some(LegacyTemp::Pid(pid)) => pid != std::process::id() && !pid_exists(pid),
                    Some(LegacyTemp::Unowned) => self.stat(name).ok().flatten().is_some_and(|st| {
                        #[allow(clippy::unnecessary_cast)]
                        let mtime = st.st_mtime as i64;
                        now - mtime > crate::UNOWNED_TEMP_AGE_SECS
                    }),
                    None => false,
                }
            };
            if dead && self.unlink(name).is_ok() {
                removed.push(name.to_owned());
            }
        }
        removed.sort();
        removed
    }

    /// `syncfs` on the filesystem holding this directory.
    pub fn sync_filesystem(&self) -> io::Result<()> {
        rustix::fs::syncfs(&self.fd).map_err(Into::into)
    }
}
