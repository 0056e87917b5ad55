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

use std::io;
use std::path::{Path, PathBuf};

use entwurf_fs::{Kind, Publish, StoreDir};
use entwurf_meta_session::GardenId;

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

/// An open handle on a mailbox directory `<mailbox>/<gid>` (through `entwurf-fs`: the mailbox
/// root may be a symlink, `<gid>` and every file in it may not; no open blocks; reads are
/// capped per file kind).
#[derive(Debug)]
pub(crate) struct MailboxDir {
    d: StoreDir,
}

impl MailboxDir {
    /// Opens `<mailbox_dir>/<gid>`, or `None` when it does not exist. A symlink at `<gid>` is
    /// refused; a file there is `NotADirectory`.
    pub(crate) fn open(mailbox_dir: &Path, gid: &GardenId) -> io::Result<Option<Self>> {
        Ok(StoreDir::open_child(mailbox_dir, gid.as_str())?.map(|d| Self { d }))
    }

    /// Opens `<mailbox_dir>/<gid>`, creating it (`mkdir -p` of the root, `mkdir` of `<gid>`,
    /// default mode) only when it is missing.
    pub(crate) fn open_or_create(mailbox_dir: &Path, gid: &GardenId) -> io::Result<Self> {
        Ok(Self {
            d: StoreDir::open_or_create_child(mailbox_dir, gid.as_str())?,
        })
    }

    /// Opens a directory given by its own path as the root (tests).
    #[cfg(test)]
    pub(crate) fn open_root(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            d: StoreDir::open_or_create(dir)?,
        })
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        self.d.path()
    }

    /// `<dir>/<name>`.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.d.join(name)
    }

    /// Creates `name` exclusively with mode 0600 and writes `bytes` (a message: refused over
    /// [`entwurf_fs::MESSAGE_MAX`]); `AlreadyExists` if the name is taken. A failed write
    /// removes the file again.
    pub(crate) fn write_new_0600(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.d.write_new(name, Kind::Message, bytes, 0o600, false)
    }

    /// Reads `name` whole within the cap of `kind`; `None` when it does not exist.
    pub(crate) fn read(&self, name: &str, kind: Kind) -> io::Result<Option<Vec<u8>>> {
        self.d.read(name, kind)
    }

    /// `lstat` of `name`; `None` when it does not exist.
    pub(crate) fn stat(&self, name: &str) -> io::Result<Option<rustix::fs::Stat>> {
        self.d.stat(name)
    }

    /// Every entry name, sorted.
    pub(crate) fn sorted_names(&self) -> io::Result<Vec<String>> {
        let mut names = self.d.names()?;
        names.sort();
        Ok(names)
    }

    /// Removes the temps of dead writers among `names` (already listed); returns them.
    pub(crate) fn sweep_dead_temps(&self, names: &[String]) -> Vec<String> {
        self.d.sweep_dead_temps(names.iter().map(String::as_str))
    }

    /// Writes the doorbell in place (see [`StoreDir::overwrite_in_place`]): never through a
    /// symlink, never into a FIFO, never empty to a reader.
    pub(crate) fn overwrite_in_place(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.d.overwrite_in_place(name, Kind::Signal, bytes)
    }

    /// Renames `from` to `to` without ever replacing an existing `to` (`AlreadyExists` then).
    pub(crate) fn rename_no_replace(&self, from: &str, to: &str) -> io::Result<()> {
        self.d.rename_no_replace(from, to)
    }

    /// Renames `from` to `to`, replacing `to`.
    pub(crate) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.d.rename(from, to)
    }

    /// Removes the file `name`.
    pub(crate) fn remove(&self, name: &str) -> io::Result<()> {
        self.d.unlink(name)
    }

    /// Writes `bytes` as the new `target` through a writer-named temp and an atomic replace
    /// (exchange + unlink, or a plain rename): a reader sees the old file or the new one.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn write_atomic(
        &self,
        target: &str,
        kind: Kind,
        bytes: &[u8],
        how: Replace,
    ) -> io::Result<()> {
        let publish = match how {
            Replace::Exchange => Publish::Exchange,
            Replace::Rename => Publish::Replace,
        };
        self.d.write_atomic(target, kind, bytes, publish, false)
    }

    /// Creates `name` exclusively (mode 0600) with `bytes`, capped by `kind`.
    pub(crate) fn write_new_kind(&self, name: &str, kind: Kind, bytes: &[u8]) -> io::Result<()> {
        self.d
            .write_new(name, kind, bytes, 0o600, false)
            .map(|_| ())
    }

    /// Swaps the names `a` and `b` (`renameat2(RENAME_EXCHANGE)`): `Ok(true)` when swapped,
    /// `Ok(false)` when `b` does not exist or the filesystem cannot exchange (the caller then
    /// renames instead). Nothing is unlinked.
    pub(crate) fn exchange(&self, a: &str, b: &str) -> io::Result<bool> {
        use rustix::io::Errno;
        match self.d.exchange(a, b) {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.raw_os_error().map(Errno::from_raw_os_error),
                    Some(Errno::NOENT | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
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

    fn gid() -> GardenId {
        GardenId::parse("20260612T100000-aaaaaa").unwrap()
    }

    #[test]
    fn open_reports_a_missing_dir_as_none_and_open_or_create_makes_it() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("a/b");
        assert!(MailboxDir::open(&root, &gid()).unwrap().is_none());
        assert!(!root.exists(), "open creates nothing");
        let d = MailboxDir::open_or_create(&root, &gid()).unwrap();
        assert!(root.join(gid().as_str()).is_dir());
        assert_eq!(d.path(), root.join(gid().as_str()));
    }

    #[test]
    fn open_of_a_file_is_not_a_directory_and_the_file_survives() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join(gid().as_str());
        std::fs::write(&file, "precious").unwrap();
        let e = MailboxDir::open_or_create(t.path(), &gid()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory, "{e}");
        let e = MailboxDir::open_or_create(&file, &gid()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory, "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
    }

    #[rstest::rstest]
    #[case::exchange(Replace::Exchange)]
    #[case::plain_rename_fallback(Replace::Rename)]
    fn replace_creates_then_replaces_whole_and_leaves_no_tmp(#[case] how: Replace) {
        let t = tempfile::tempdir().unwrap();
        let d = MailboxDir::open_root(t.path()).unwrap();
        for content in ["first\n", "second, longer\n", "3\n"] {
            d.write_atomic("s", Kind::State, content.as_bytes(), how)
                .unwrap();
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

    #[test]
    fn overwrite_in_place_keeps_inode_and_mode_and_shrinks_only_a_longer_file() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let t = tempfile::tempdir().unwrap();
        let d = MailboxDir::open_root(t.path()).unwrap();
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
        let d = MailboxDir::open_root(t.path()).unwrap();
        assert_eq!(d.read("x", Kind::Message).unwrap(), None);
        let big = "y".repeat(10_000);
        std::fs::write(t.path().join("x"), &big).unwrap();
        assert_eq!(d.read("x", Kind::Message).unwrap(), Some(big.into_bytes()));
    }

    #[test]
    fn rename_no_replace_refuses_to_replace() {
        let t = tempfile::tempdir().unwrap();
        let d = MailboxDir::open_root(t.path()).unwrap();
        std::fs::write(t.path().join("a"), "a").unwrap();
        std::fs::write(t.path().join("b"), "b").unwrap();
        let e = d.rename_no_replace("a", "b").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(t.path().join("b")).unwrap(), "b");
        d.rename_no_replace("a", "c").unwrap();
        assert_eq!(names(t.path()), ["b", "c"]);
    }
}
