//! The refusals of this layer.

use std::io;
use std::path::PathBuf;

use crate::Kind;

/// Why the layer refused a store file. Carried inside an `io::Error` (see [`fs_error_of`]).
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// Something other than a regular file (or, for a directory open, other than a directory)
    /// is at the path: a symlink, a FIFO, a socket, a device.
    #[error("refusing {}: it is a {found}, not a {wanted} (entwurf never follows links or opens special files inside its store; remove it)", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What is there (`symbolic link`, `FIFO`, `directory`, ...).
        found: &'static str,
        /// What was wanted (`regular file` or `directory`).
        wanted: &'static str,
    },
    /// The file is larger than the cap of its kind.
    #[error("refusing {}: larger than the {cap}-byte cap for a {} (remove or shrink it)", path.display(), kind.name())]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// The kind of file.
        kind: Kind,
        /// Its cap.
        cap: u64,
    },
    /// A name that is not one path component.
    #[error("refusing the name {name:?} in {}: a store file name is one path component (no '/', '.', '..', NUL or empty name)", dir.display())]
    BadName {
        /// The directory.
        dir: PathBuf,
        /// The name.
        name: String,
    },
}

impl FsError {
    fn kind(&self) -> io::ErrorKind {
        match self {
            FsError::NotRegular { wanted, .. } if *wanted == "directory" => {
                io::ErrorKind::NotADirectory
            }
            FsError::NotRegular { .. } => io::ErrorKind::InvalidData,
            FsError::TooLarge { .. } => io::ErrorKind::FileTooLarge,
            FsError::BadName { .. } => io::ErrorKind::InvalidInput,
        }
    }
}

impl From<FsError> for io::Error {
    fn from(e: FsError) -> Self {
        io::Error::new(e.kind(), e)
    }
}

/// The layer's refusal inside an `io::Error`, if that is what it is.
pub fn fs_error_of(e: &io::Error) -> Option<&FsError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<FsError>())
}
