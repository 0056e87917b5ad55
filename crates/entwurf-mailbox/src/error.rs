//! The mailbox's typed errors. Each carries the garden id or path it is about and says what to do.

use std::io;
use std::path::{Path, PathBuf};

use entwurf_meta_session::{GardenId, InvalidGardenId, ReceiptStateError, RecordError};

/// Everything that can go wrong in the mailbox.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The value offered as a garden id does not match the grammar.
    #[error("invalid garden id — nothing was read or written")]
    InvalidGardenId(#[from] InvalidGardenId),

    /// No meta record exists for the target: it is not a garden citizen.
    #[error("no meta-record for garden id \"{gid}\" under {} — not a garden citizen, cannot deliver.", sessions_dir.display())]
    RecordMissing {
        /// The target.
        gid: GardenId,
        /// The sessions dir that was searched.
        sessions_dir: PathBuf,
    },

    /// The meta record exists but cannot be used (unreadable, corrupt, or body/filename drift).
    #[error(
        "the meta record of garden id {gid} cannot be used; nothing was written to the mailbox"
    )]
    Record {
        /// The target.
        gid: GardenId,
        /// What the record store said (it names the file).
        source: RecordError,
    },

    /// An enqueue was asked to write an empty body.
    #[error("enqueueMetaMessage: body must be a non-empty string.")]
    EmptyBody {
        /// The target.
        gid: GardenId,
    },

    /// The guarded send refused: nobody would ever drain the message. Nothing was written.
    #[error("mailbox-undeliverable: garden id {gid} has no live receiver ({reason}); nothing was written. Start or resume the citizen's session so its receiver marker is re-armed, or pick another transport")]
    Undeliverable {
        /// The target.
        gid: GardenId,
        /// The deliverability reason.
        reason: String,
    },

    /// `state.json` exists but is invalid. Nothing of the current operation was left behind.
    #[error("invalid receipt state {}: fix or remove that file; removing it only forgets receipt timestamps", path.display())]
    State {
        /// The mailbox owner.
        gid: GardenId,
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        source: ReceiptStateError,
    },

    /// A path that must be a directory is something else (a file, usually).
    #[error("mailbox path {} is not a directory — move the file away; nothing was written", path.display())]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },

    /// The message was written and published but the doorbell poke failed; the message was
    /// withdrawn again so no unannounced message is left behind.
    #[error("could not ring the doorbell {} — the message was withdrawn, nothing is queued; fix the signal file (it must be a writable regular file) and send again", signal_path.display())]
    SignalFailed {
        /// The target.
        gid: GardenId,
        /// `inbox.signal`.
        signal_path: PathBuf,
        /// The write error.
        source: io::Error,
    },

    /// The message body is over the mailbox cap; nothing was written.
    #[error("message body of {size} bytes is over the {cap}-byte mailbox cap for garden id {gid}; nothing was written. Send a shorter message (or a path to a file holding the text)")]
    TooLarge {
        /// The target.
        gid: GardenId,
        /// The body's size in bytes.
        size: usize,
        /// The cap ([`entwurf_fs::MESSAGE_MAX`]).
        cap: u64,
    },

    /// The store layer refused a file or directory in the mailbox (a symlink, a FIFO, a
    /// device, an oversize file): the error names the path. Nothing was written through it.
    #[error("refused to {op} {} — nothing was written through it", path.display())]
    Refused {
        /// What was being done.
        op: &'static str,
        /// The refused path.
        path: PathBuf,
        /// The refusal (carries an `entwurf_fs::FsError`).
        source: io::Error,
    },

    /// Any other filesystem failure.
    #[error("could not {op} {} — {}", path.display(), io_hint(source))]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl MailboxError {
    /// The garden id this error is about, when it has one.
    pub fn garden_id(&self) -> Option<&GardenId> {
        match self {
            MailboxError::RecordMissing { gid, .. }
            | MailboxError::Record { gid, .. }
            | MailboxError::EmptyBody { gid }
            | MailboxError::Undeliverable { gid, .. }
            | MailboxError::State { gid, .. }
            | MailboxError::SignalFailed { gid, .. }
            | MailboxError::TooLarge { gid, .. } => Some(gid),
            MailboxError::InvalidGardenId(_)
            | MailboxError::Refused { .. }
            | MailboxError::NotADirectory { .. }
            | MailboxError::Io { .. } => None,
        }
    }

    /// True for the guarded-send refusal.
    pub fn is_undeliverable(&self) -> bool {
        matches!(self, MailboxError::Undeliverable { .. })
    }
}

/// A refusal by the store layer, other than "a file is where a directory should be" (which
/// stays [`MailboxError::NotADirectory`]).
fn is_refusal(source: &io::Error) -> bool {
    match entwurf_fs::fs_error_of(source) {
        Some(entwurf_fs::FsError::NotRegular { found, .. }) => *found != "regular file",
        Some(_) => true,
        None => false,
    }
}

pub(crate) fn io_err(op: &'static str, path: &Path, source: io::Error) -> MailboxError {
    if is_refusal(&source) {
        return MailboxError::Refused {
            op,
            path: path.to_path_buf(),
            source,
        };
    }
    if source.kind() == io::ErrorKind::NotADirectory {
        return MailboxError::NotADirectory {
            path: path.to_path_buf(),
        };
    }
    MailboxError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// `create_dir_all` failed: a file in the way is reported as [`MailboxError::NotADirectory`].
pub(crate) fn mkdir_err(dir: &Path, source: io::Error) -> MailboxError {
    if is_refusal(&source) {
        return MailboxError::Refused {
            op: "open the mailbox",
            path: dir.to_path_buf(),
            source,
        };
    }
    let in_the_way = matches!(
        source.kind(),
        io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory
    );
    if in_the_way {
        let mut p = dir;
        // Report the first ancestor that exists but is not a directory.
        while let Some(parent) = p.parent() {
            if p.exists() && !p.is_dir() {
                break;
            }
            p = parent;
        }
        let path = if p.exists() && !p.is_dir() { p } else { dir };
        return MailboxError::NotADirectory {
            path: path.to_path_buf(),
        };
    }
    io_err("create the mailbox directory", dir, source)
}

/// What to do about an IO failure, chosen by its errno (a directory in the way is not a
/// permissions problem).
pub fn io_hint(e: &io::Error) -> &'static str {
    use rustix::io::Errno;
    let Some(raw) = e.raw_os_error() else {
        return "see its cause";
    };
    match Errno::from_raw_os_error(raw) {
        Errno::ACCESS | Errno::PERM => "check the path's owner and permissions",
        Errno::NOSPC | Errno::DQUOT => "the filesystem is full (or over quota); free some space",
        Errno::ROFS => "the filesystem is read-only; point the store at a writable one",
        Errno::ISDIR => {
            "a directory is in the way where a file belongs; move it out of the mailbox"
        }
        Errno::NOTDIR => "a file is in the way where a directory belongs; move it away",
        Errno::LOOP => "a symlink is in the way (symlinks are never followed); move it away",
        Errno::EXIST => "something already has that name; move it away",
        Errno::NAMETOOLONG => "the path is too long; use a shorter store directory",
        Errno::MFILE | Errno::NFILE => "too many open files; raise the limit or close some",
        Errno::XDEV => "the paths are on different filesystems; keep the stores on one",
        Errno::IO => "the disk reported an IO error; check it",
        _ => "see its cause",
    }
}
