//! Small filesystem primitives with the modes and atomicity the mailbox needs.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Creates `path` exclusively with mode 0600 (fails with `AlreadyExists` if present).
pub(crate) fn create_new_0600(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Opens `path` for a truncating overwrite; mode 0600 applies only when the file is created, a
/// rewrite keeps the existing mode and inode (what a path watcher expects).
pub(crate) fn overwrite_keep_mode(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Renames `from` to `to` without ever replacing an existing `to` (`AlreadyExists` then).
///
/// Linux: `renameat2(RENAME_NOREPLACE)`; where the filesystem does not support it, and on other
/// systems, a hard link plus unlink of `from`, which also refuses to replace.
pub(crate) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}
