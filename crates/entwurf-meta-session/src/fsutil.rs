//! Small filesystem helpers shared by the record, state and marker writers.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why a store directory could not be prepared.
#[derive(Debug)]
pub(crate) enum EnsureDirError {
    /// The path (or one of its ancestors) exists and is not a directory.
    NotADirectory(PathBuf),
    /// Any other IO failure.
    Io(io::Error),
}

/// `mkdir -p` with the default mode, telling "a file is in the way" apart from other failures.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), EnsureDirError> {
    match fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) => {
            // Walk up to the first existing ancestor: if it is not a directory, a file blocks us.
            let mut probe = Some(dir);
            while let Some(p) = probe {
                if let Ok(meta) = fs::metadata(p) {
                    if !meta.is_dir() {
                        return Err(EnsureDirError::NotADirectory(p.to_path_buf()));
                    }
                    break;
                }
                probe = p.parent();
            }
            Err(EnsureDirError::Io(err))
        }
    }
}

/// Writes `bytes` to `tmp` (created with mode 0600), then renames it over `file`.
/// The tmp file is removed if anything fails, so `file` is either the old or the new content.
pub(crate) fn write_atomic(tmp: &Path, file: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_ino(tmp, file, bytes, Publish::Replace, true).map(|_| ())
}

/// How [`write_atomic_ino`] puts the tmp file in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Publish {
    /// `rename`: replaces whatever is at the name.
    Replace,
    /// `renameat2(RENAME_NOREPLACE)`: fails with `AlreadyExists` when the name is taken (on a
    /// filesystem without that flag: an `lstat` check, then `rename`).
    NoReplace,
}

/// Like [`write_atomic`], returning the inode of the written file. `sync` fsyncs the data
/// before the rename (a caller that passes `false` owes a later `syncfs`).
pub(crate) fn write_atomic_ino(
    tmp: &Path,
    file: &Path,
    bytes: &[u8],
    publish: Publish,
    sync: bool,
) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        let ino = f.metadata()?.ino();
        drop(f);
        match publish {
            Publish::Replace => fs::rename(tmp, file)?,
            Publish::NoReplace => rename_noreplace(tmp, file)?,
        }
        Ok(ino)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

fn rename_noreplace(tmp: &Path, file: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, tmp, CWD, file, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            // No RENAME_NOREPLACE here: check, then rename (a narrow race, as in the reference).
            match fs::symlink_metadata(file) {
                Ok(_) => Err(io::Error::from(io::ErrorKind::AlreadyExists)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(tmp, file),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// tmp (0600) + rename without fsync: for caches, where losing the newest write is harmless.
pub(crate) fn write_atomic_nosync(tmp: &Path, file: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_ino(tmp, file, bytes, Publish::Replace, false).map(|_| ())
}

/// Appends a suffix to a path's final component: `a/b.json` + `.tmp` → `a/b.json.tmp`.
pub(crate) fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Milliseconds since the Unix epoch from the wall clock (tmp-name uniqueness only).
pub(crate) fn epoch_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// `syncfs` on the filesystem holding `dir`: everything written there so far reaches the disk.
pub(crate) fn sync_filesystem_of(dir: &Path) -> io::Result<()> {
    let d = fs::File::open(dir)?;
    rustix::fs::syncfs(&d).map_err(io::Error::from)
}

/// Reads a small file whole: into room for 4 KiB first, without the size-hint `statx` that
/// `fs::read` makes (a record or marker is a few hundred bytes; larger files still read whole).
pub(crate) fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(4096);
    std::fs::File::open(path)?
        .take(u64::MAX)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Replaces the cache file `<dir>/<name>` atomically (tmp + rename, mode 0600, no fsync:
/// losing the newest cache write is harmless). The tmp name carries the pid and the time.
pub(crate) fn write_cache_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(
        "{name}.tmp-{}-{}",
        std::process::id(),
        epoch_millis()
    ));
    write_atomic_nosync(&tmp, &dir.join(name), bytes)
}
