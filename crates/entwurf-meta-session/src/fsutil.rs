//! Small filesystem helpers shared by the record, state and marker writers.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use entwurf_fs::{Kind, Publish, StoreDir};

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

/// Opens a store directory, creating it (`mkdir -p`) only when it is missing; "a file is in
/// the way" is told apart from other failures (naming the offending path).
pub(crate) fn open_or_create_store(dir: &Path) -> Result<StoreDir, EnsureDirError> {
    match StoreDir::open(dir) {
        Ok(Some(d)) => return Ok(d),
        Ok(None) => {}
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            // Which path is the file in the way: the dir itself or an ancestor.
            ensure_dir(dir)?;
            return Err(EnsureDirError::NotADirectory(dir.to_path_buf()));
        }
        Err(e) => return Err(EnsureDirError::Io(e)),
    }
    ensure_dir(dir)?;
    StoreDir::open(dir)
        .map_err(EnsureDirError::Io)?
        .ok_or_else(|| EnsureDirError::Io(io::ErrorKind::NotFound.into()))
}

/// `syncfs` on the filesystem holding `dir`: everything written there so far reaches the disk.
pub(crate) fn sync_filesystem_of(dir: &Path) -> io::Result<()> {
    let d = fs::File::open(dir)?;
    rustix::fs::syncfs(&d).map_err(io::Error::from)
}

/// Reads a store file directly below a store root within the cap of its kind (one open with
/// `O_NOFOLLOW | O_NONBLOCK`, `fstat`, capped read: see [`entwurf_fs::read_path`]).
pub(crate) fn read_small(path: &Path, kind: Kind) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match entwurf_fs::read_path(path, kind, &mut bytes)? {
        Some(_) => Ok(bytes),
        None => Err(io::ErrorKind::NotFound.into()),
    }
}

/// Replaces the cache file `<dir>/<name>` atomically (writer-named temp + rename, mode 0600,
/// no fsync: losing the newest cache write is harmless).
pub(crate) fn write_cache_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let d = StoreDir::open(dir)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    d.write_atomic(name, Kind::Cache, bytes, Publish::Replace, false)
}
