//! The one filesystem layer for entwurf store files.
//!
//! Every store file (records, receiver and sender markers, locks, mailbox messages,
//! `state.json`, the doorbell, caches) is opened, read, written, renamed and removed through a
//! [`StoreDir`]: an open handle on one store directory. What holds for every call:
//!
//! * **no symlink below a store root**: a store root (the sessions, mailbox, receivers,
//!   senders and lock dirs as configured) may itself be a symlink and is opened following it;
//!   a directory inside a root (`<mailbox>/<gid>`, `<senders>/<backend>`) and every file are
//!   opened relative to a handle without following a symlink in their own (single) name
//!   component: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it, else
//!   `O_NOFOLLOW`. Names are single components: `/`, `.`, `..`, NUL and the empty name are
//!   refused ([`FsError::BadName`]).
//! * **no blocking open**: every open carries `O_NONBLOCK | O_CLOEXEC` and is followed by an
//!   `fstat`; anything but a regular file (FIFO, directory, device, socket) is refused with
//!   [`FsError::NotRegular`] naming the path and what was found there.
//! * **capped reads**: each file kind ([`Kind`]) has a documented size cap; a read takes at
//!   most cap + 1 bytes (never trusting `st_size`) and refuses a file past the cap with
//!   [`FsError::TooLarge`]. Writers enforce the same caps, so what we write we can read.
//! * **whole writes**: create-exclusive, atomic replace through a writer-named temp
//!   ([`temp_name`]), no-clobber publish (`renameat2(RENAME_NOREPLACE)`, else `linkat` +
//!   unlink: never a check-then-rename), `RENAME_EXCHANGE`, and an in-place overwrite that
//!   refuses anything but a regular file.
//! * **crash temps are reclaimable**: a temp name carries its writer's pid and start key
//!   ([`process_start_key`]); [`StoreDir::sweep_dead_temps`] removes those of dead writers from
//!   names a caller has already listed (it never lists a directory itself).
//! * **a fault seam** ([`fault`]): behind the `fault-injection` feature, every mutating call
//!   can abort the process just before its Nth occurrence, so crash tests kill at every step.
//!
//! Errors are `io::Error`s (so callers keep their own typed errors with the path they name);
//! a refusal by this layer carries an [`FsError`] inside (`io::Error::get_ref` +
//! `downcast_ref`), whose message names the path and says what to do.

pub mod chain;
mod dir;
mod error;
pub mod fault;
mod temp;

pub use chain::Chain;
pub use dir::{check_name, read_path, Publish, RegularFile, StoreDir};
pub use error::{fs_error_of, FsError};
pub use temp::{
    is_temp_name, own_start_key, parse_legacy_temp_name, parse_temp_name, process_start_key,
    start_key_from_stat, temp_name, writer_is_dead, LegacyTemp, TempWriter, TEMP_MARK,
    UNOWNED_TEMP_AGE_SECS,
};

/// What kind of store file is read or written, with its size cap.
///
/// | kind | cap | why |
/// |---|---|---|
/// | [`Kind::Record`] | 64 KiB | a record is a few hundred bytes; its free-text fields are paths and ids |
/// | [`Kind::Marker`] | 16 KiB | a receiver or sender marker is under 1 KiB |
/// | [`Kind::Lock`] | 4 KiB | a lock claim is a few short fields |
/// | [`Kind::State`] | 4 KiB | `state.json` is five keys with three timestamps |
/// | [`Kind::Signal`] | 4 KiB | the doorbell holds one timestamp line |
/// | [`Kind::Message`] | 4 MiB | a mailbox message body; `send` refuses a longer one |
/// | [`Kind::Cache`] | 64 MiB | our own listing/upsert caches (ignored and rebuilt when over) |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<sessions>/<gid>.meta.json`.
    Record,
    /// `<receivers>/<gid>.json`, `<senders>/<backend>/<pid>.json`.
    Marker,
    /// `<locks>/<gid>.lock` and its reclaim marker.
    Lock,
    /// `<mailbox>/<gid>/state.json`.
    State,
    /// `<mailbox>/<gid>/inbox.signal`.
    Signal,
    /// `<mailbox>/<gid>/*.msg*`.
    Message,
    /// `.entwurf-upsert-index`, `.entwurf-list-cache`.
    Cache,
}

/// Cap of a record file in bytes.
pub const RECORD_MAX: u64 = 64 * 1024;
/// Cap of a marker file in bytes.
pub const MARKER_MAX: u64 = 16 * 1024;
/// Cap of a lock file (and its reclaim marker) in bytes.
pub const LOCK_MAX: u64 = 4 * 1024;
/// Cap of `state.json` in bytes.
pub const STATE_MAX: u64 = 4 * 1024;
/// Cap of `inbox.signal` in bytes.
pub const SIGNAL_MAX: u64 = 4 * 1024;
/// Cap of a mailbox message body in bytes (enforced at send and at drain).
pub const MESSAGE_MAX: u64 = 4 * 1024 * 1024;
/// Cap of a cache file in bytes.
pub const CACHE_MAX: u64 = 64 * 1024 * 1024;

impl Kind {
    /// The size cap in bytes.
    pub const fn cap(self) -> u64 {
        match self {
            Kind::Record => RECORD_MAX,
            Kind::Marker => MARKER_MAX,
            Kind::Lock => LOCK_MAX,
            Kind::State => STATE_MAX,
            Kind::Signal => SIGNAL_MAX,
            Kind::Message => MESSAGE_MAX,
            Kind::Cache => CACHE_MAX,
        }
    }

    /// A short name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Record => "meta record",
            Kind::Marker => "marker",
            Kind::Lock => "lock file",
            Kind::State => "receipt state",
            Kind::Signal => "doorbell",
            Kind::Message => "mailbox message",
            Kind::Cache => "cache file",
        }
    }
}
