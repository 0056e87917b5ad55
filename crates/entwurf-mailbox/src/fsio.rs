//! Small filesystem primitives with the modes and atomicity the mailbox needs.
//!
//! Every mailbox operation works relative to one open handle on `<mailbox>/<gid>`
//! ([`MailboxDir`]): the directory is opened once (created only when the open says it is
//! missing), and each file is then created, renamed or removed by name inside it, so no call
//! walks the full path again and no `mkdir`/`stat` pair runs per file.
//!
//! # What a dispatch costs on a disk filesystem
//!
//! Measured on the bench machines' ext4 (no journal, `discard`), per operation:
//! - truncating a file that has data (`open(O_TRUNC)` of the doorbell) and renaming over an
//!   existing file (`state.json`) both make ext4 start writeback of the new data at once (its
//!   `auto_da_alloc` safeguard): 0.4–3 ms each in a tight loop;
//! - exchanging two names (`renameat2(RENAME_EXCHANGE)`) and unlinking the old file does not
//!   (about 0.2 ms), and a write in place without truncation costs about 0.01 ms;
//! - creating a file costs more the more inodes were deleted in the last minute in its block
//!   group (journal-less ext4 skips recently deleted inodes one by one when allocating), so
//!   every unlink makes the next minute's creates slower, ours and everyone else's.
//!
//! Hence [`MailboxDir::replace_with`] (exchange + unlink, falling back to a plain rename) and
//! [`MailboxDir::overwrite_in_place`] (write from offset 0, shrink only when the old content
//! was longer).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// How a file replaces another inside a [`MailboxDir`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    /// `renameat2(RENAME_EXCHANGE)` then unlink the old file; a plain rename when the target
    /// does not exist yet or the filesystem cannot exchange.
    Exchange,
    /// A plain `renameat` over the target (the fallback, forced in tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Rename,
}

/// What a name that should be a regular file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotAFile {
    Directory,
    Symlink,
    Fifo,
    Socket,
    Device,
}

/// An open handle on a mailbox directory (`O_PATH`), with its path for error messages.
#[derive(Debug)]
pub(crate) struct MailboxDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl MailboxDir {
    /// Opens `dir`, or `None` when it does not exist. Any other failure is returned as is
    /// (`NotADirectory` when `dir` or an ancestor is a file).
    pub(crate) fn open(dir: &Path) -> io::Result<Option<Self>> {
        match rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(Self {
                fd,
                path: dir.to_path_buf(),
            })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens `dir`, creating it (`mkdir -p`, default mode) only when it is missing.
    pub(crate) fn open_or_create(dir: &Path) -> io::Result<Self> {
        if let Some(d) = Self::open(dir)? {
            return Ok(d);
        }
        std::fs::create_dir_all(dir)?;
        Self::open(dir)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `<dir>/<name>`.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates `name` exclusively with mode 0600 (fails with `AlreadyExists` if present).
    pub(crate) fn create_new_0600(&self, name: &str) -> io::Result<File> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        Ok(File::from(fd))
    }

    /// Reads `name` whole; `None` when it does not exist.
    pub(crate) fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::with_capacity(512);
        // Through `Take`: no size-hint `fstat` before the reads (the files here are small).
        File::from(fd).take(u64::MAX).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// Reads `name` whole only if it is a regular file: `Ok(None)` when it does not exist,
    /// `Ok(Some(Err(kind)))` when it is something else (never followed when a symlink, never
    /// blocked on when a FIFO), `Err` when it cannot be opened or read (`EACCES`, …).
    pub(crate) fn read_regular(&self, name: &str) -> io::Result<Option<Result<Vec<u8>, NotAFile>>> {
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Ok(Some(Err(NotAFile::Symlink))),
            Err(e) => return Err(e.into()),
        };
        let kind = rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
        let other = match kind {
            rustix::fs::FileType::RegularFile => None,
            rustix::fs::FileType::Directory => Some(NotAFile::Directory),
            rustix::fs::FileType::Fifo => Some(NotAFile::Fifo),
            rustix::fs::FileType::Socket => Some(NotAFile::Socket),
            rustix::fs::FileType::Symlink => Some(NotAFile::Symlink),
            _ => Some(NotAFile::Device),
        };
        if let Some(other) = other {
            return Ok(Some(Err(other)));
        }
        let mut bytes = Vec::with_capacity(512);
        File::from(fd).take(u64::MAX).read_to_end(&mut bytes)?;
        Ok(Some(Ok(bytes)))
    }

    /// Writes `bytes` into `name` in place from offset 0 (mode 0600 when created, the existing
    /// mode and inode kept otherwise), shrinking the file only when its old content was
    /// longer. A reader sees the old bytes, the new ones, or a mix while the write runs; it
    /// never sees the file empty.
    pub(crate) fn overwrite_in_place(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let mut f = File::from(fd);
        f.write_all(bytes)?;
        let len = bytes.len() as u64;
        if rustix::fs::fstat(f.as_fd())?.st_size as u64 > len {
            rustix::fs::ftruncate(f.as_fd(), len)?;
        }
        Ok(())
    }

    /// Renames `from` to `to` inside this directory without ever replacing an existing `to`
    /// (`AlreadyExists` then).
    ///
    /// Linux: `renameat2(RENAME_NOREPLACE)`; where the filesystem does not support it, a hard
    /// link plus unlink of `from`, which also refuses to replace.
    pub(crate) fn rename_no_replace(&self, from: &str, to: &str) -> io::Result<()> {
        use rustix::fs::RenameFlags;
        match rustix::fs::renameat_with(&self.fd, from, &self.fd, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(Errno::INVAL | Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
        rustix::fs::linkat(&self.fd, from, &self.fd, to, rustix::fs::AtFlags::empty())?;
        self.remove(from)
    }

    /// Renames `from` to `to`, replacing `to`.
    pub(crate) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        rustix::fs::renameat(&self.fd, from, &self.fd, to).map_err(Into::into)
    }

    /// Removes the file `name`.
    pub(crate) fn remove(&self, name: &str) -> io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::empty()).map_err(Into::into)
    }

    /// Atomically makes the complete file `tmp` the new `target`: a reader of `target` sees
    /// the old file or the new one, never a mix. `tmp` is gone afterwards.
    ///
    /// With [`Replace::Exchange`] the two names are swapped and the old file (now under `tmp`)
    /// is unlinked; when `target` does not exist yet, or the filesystem cannot exchange, it
    /// falls back to a plain rename. Should that final unlink fail, the old content stays
    /// behind under the tmp name (a name nobody reads) and the replace still succeeded.
    pub(crate) fn replace_with(&self, tmp: &str, target: &str, how: Replace) -> io::Result<()> {
        if how == Replace::Exchange {
            use rustix::fs::RenameFlags;
            match rustix::fs::renameat_with(&self.fd, tmp, &self.fd, target, RenameFlags::EXCHANGE)
            {
                Ok(()) => {
                    let _ = self.remove(tmp);
                    return Ok(());
                }
                // No target yet, or no exchange on this filesystem: a plain rename.
                Err(Errno::NOENT | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.rename(tmp, target)
    }

    /// Swaps the names `a` and `b` (`renameat2(RENAME_EXCHANGE)`): `Ok(true)` when swapped,
    /// `Ok(false)` when `b` does not exist or the filesystem cannot exchange (the caller then
    /// renames instead). Nothing is unlinked.
    pub(crate) fn exchange(&self, a: &str, b: &str) -> io::Result<bool> {
        use rustix::fs::RenameFlags;
        match rustix::fs::renameat_with(&self.fd, a, &self.fd, b, RenameFlags::EXCHANGE) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The entry names of `dir`, sorted (the mailbox tests use it too).
    pub(crate) fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn open_reports_a_missing_dir_as_none_and_open_or_create_makes_it() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b");
        assert!(MailboxDir::open(&dir).unwrap().is_none());
        assert!(!dir.exists(), "open creates nothing");
        let d = MailboxDir::open_or_create(&dir).unwrap();
        assert!(dir.is_dir());
        assert_eq!(d.path(), dir);
    }

    #[test]
    fn open_of_a_file_is_not_a_directory_and_the_file_survives() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        std::fs::write(&file, "precious").unwrap();
        for p in [file.clone(), file.join("below")] {
            let e = MailboxDir::open_or_create(&p).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotADirectory, "{p:?}: {e}");
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
    }

    #[rstest::rstest]
    #[case::exchange(Replace::Exchange)]
    #[case::plain_rename_fallback(Replace::Rename)]
    fn replace_creates_then_replaces_whole_and_leaves_no_tmp(#[case] how: Replace) {
        let t = tempfile::tempdir().unwrap();
        let d = MailboxDir::open_or_create(t.path()).unwrap();
        for (i, content) in ["first\n", "second, longer\n", "3\n"].iter().enumerate() {
            let tmp = format!("s.tmp-{i}");
            d.create_new_0600(&tmp)
                .unwrap()
                .write_all(content.as_bytes())
                .unwrap();
            d.replace_with(&tmp, "s", how).unwrap();
            assert_eq!(
                std::fs::read_to_string(t.path().join("s")).unwrap(),
                *content
            );
            assert_eq!(names(t.path()), ["s"], "no tmp left after {how:?}");
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(t.path().join("s"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[rstest::rstest]
    #[case::exchange(Replace::Exchange)]
    #[case::plain_rename_fallback(Replace::Rename)]
    fn replace_with_a_missing_tmp_fails_and_keeps_the_target(#[case] how: Replace) {
        let t = tempfile::tempdir().unwrap();
        let d = MailboxDir::open_or_create(t.path()).unwrap();
        std::fs::write(t.path().join("s"), "kept").unwrap();
        let e = d.replace_with("absent.tmp", "s", how).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(std::fs::read_to_string(t.path().join("s")).unwrap(), "kept");
    }

    #[test]
    fn overwrite_in_place_keeps_inode_and_mode_and_shrinks_only_a_longer_file() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let t = tempfile::tempdir().unwrap();
        let d = MailboxDir::open_or_create(t.path()).unwrap();
        let p = t.path().join("sig");
        d.overwrite_in_place("sig", b"2026-06-14T03:05:00.123Z\n")
            .unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "0600 on create");
        let ino = m.ino();

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        d.overwrite_in_place("sig", b"2026-06-14T03:05:01.000Z\n")
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "2026-06-14T03:05:01.000Z\n"
        );
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.ino(), ino, "same inode");
        assert_eq!(
            m.permissions().mode() & 0o777,
            0o640,
            "mode kept on rewrite"
        );

        std::fs::write(&p, "a much longer old content than any stamp\n").unwrap();
        d.overwrite_in_place("sig", b"short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");

        std::fs::write(&p, "").unwrap();
        d.overwrite_in_place("sig", b"grown\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "grown\n");
    }

    #[test]
    fn read_returns_none_for_absent_and_the_bytes_otherwise() {
        let t = tempfile::tempdir().unwrap();
        let d = MailboxDir::open_or_create(t.path()).unwrap();
        assert_eq!(d.read("x").unwrap(), None);
        let big = "y".repeat(10_000);
        std::fs::write(t.path().join("x"), &big).unwrap();
        assert_eq!(d.read("x").unwrap(), Some(big.into_bytes()));
    }

    #[test]
    fn rename_no_replace_refuses_to_replace() {
        let t = tempfile::tempdir().unwrap();
        let d = MailboxDir::open_or_create(t.path()).unwrap();
        std::fs::write(t.path().join("a"), "a").unwrap();
        std::fs::write(t.path().join("b"), "b").unwrap();
        let e = d.rename_no_replace("a", "b").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(t.path().join("b")).unwrap(), "b");
        d.rename_no_replace("a", "c").unwrap();
        assert_eq!(names(t.path()), ["b", "c"]);
    }
}
