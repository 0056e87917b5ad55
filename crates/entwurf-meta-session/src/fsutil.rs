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
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(tmp, file)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
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
