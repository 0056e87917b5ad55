//! The one filesystem layer for entwurf store files.
//!
//! Every store file (records, receiver and sender markers, locks, mailbox messages,
//! `state.json`, the doorbell, caches) is opened, read, written, renamed and removed through a
//! [`StoreDir`]: an open handle on one store directory. What holds for every call:
//!
//! **Architecture Invariant:** no symlink below a store root. A store root (the sessions,
//! mailbox, receivers, senders and lock dirs as configured) may itself be a symlink and is
//! opened following it; a directory inside a root (`<mailbox>/<gid>`, `<senders>/<backend>`)
//! and every file are opened relative to a handle without following a symlink in their own
//! (single) name component: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel
//! has it, else `O_NOFOLLOW`. Proved by
//! `crates/entwurf-fs/tests/refusals.rs::a_symlink_to_an_outside_file_is_refused_for_read_and_write_and_the_file_is_untouched`,
//! `::a_dangling_symlink_is_refused_and_nothing_is_created_at_its_target` and
//! `::a_child_directory_that_is_a_symlink_is_refused_but_a_symlinked_root_is_followed`.
//!
//! **Architecture Invariant:** names are single components: `/`, `.`, `..`, NUL and the empty
//! name are refused ([`FsError::BadName`]) before any syscall. Proved by
//! `crates/entwurf-fs/tests/refusals.rs::names_that_are_not_one_component_are_refused_before_any_syscall`.
//!
//! **Architecture Invariant:** no open blocks. Every open carries `O_NONBLOCK | O_CLOEXEC` and
//! is followed by an `fstat`; anything but a regular file (FIFO, directory, device, socket) is
//! refused with [`FsError::NotRegular`] naming the path and what was found there. Proved by
//! `crates/entwurf-fs/tests/refusals.rs::a_fifo_is_refused_for_read_and_write_without_hanging`,
//! `::a_fifo_with_a_reader_is_still_refused_for_write_and_gets_no_bytes` and
//! `::a_directory_or_a_device_is_refused`.
//!
//! **Architecture Invariant:** reads are capped. Each file kind ([`Kind`]) has a documented size
//! cap; a read takes at most cap + 1 bytes (never trusting `st_size`) and refuses a file past
//! the cap with [`FsError::TooLarge`]. Writers enforce the same caps, so what we write we can
//! read. Proved by
//! `crates/entwurf-fs/tests/refusals.rs::an_oversize_file_is_refused_after_reading_at_most_cap_plus_one_bytes`
//! and `::read_path_refuses_a_final_symlink_a_fifo_and_oversize`.
//!
//! **Architecture Invariant:** writes are whole. Create-exclusive, atomic replace through a
//! writer-named temp ([`temp_name`]), no-clobber publish (`renameat2(RENAME_NOREPLACE)`, else
//! `linkat` + unlink: never a check-then-rename), `RENAME_EXCHANGE`, and an in-place overwrite
//! that refuses anything but a regular file. Proved by
//! `crates/entwurf-fs/tests/refusals.rs::no_replace_publish_never_overwrites_and_leaves_no_temp`.
//!
//! **Architecture Invariant:** crash temps are reclaimable, and only those of dead writers. A
//! temp name carries its writer's pid and start key ([`process_start_key`]);
//! [`StoreDir::sweep_dead_temps`] removes those of dead writers from names a caller has already
//! listed (it never lists a directory itself, so the send path, which lists nothing, never
//! sweeps). Proved by `crates/entwurf-fs/tests/refusals.rs::the_sweep_removes_dead_writers_temps_only`,
//! `::the_sweep_removes_earlier_versions_temps_of_gone_pids_and_old_unowned_ones` and
//! `crates/entwurf-fs/src/temp.rs::a_reused_pid_or_a_gone_pid_is_a_dead_writer`.
//!
//! **Architecture Invariant:** a crash before any mutating call leaves nothing partial. Behind
//! the `fault-injection` feature ([`fault`]; release builds never carry it) every mutating call
//! can abort the process just before its Nth occurrence, so crash tests kill at every step:
//! `crates/entwurf-cli/tests/faults.rs::every_kill_point_of_send_drain_upsert_and_arm_leaves_a_consistent_store`
//! (a slice; `cargo xtask faults` runs them all).
//!
//! **Architecture Invariant:** every store file of every crate (records, markers, locks,
//! mailbox files, caches) is opened through this layer, so the refusals above hold for the CLI
//! as a whole. Proved end to end by
//! `crates/entwurf-cli/tests/hostile_store.rs::fifo_as_the_lock_file_does_not_hang_lock_show_or_send`,
//! `::fifo_as_a_record_does_not_hang_upsert_list_or_peers_for_any_native_id` and
//! `::mailbox_dir_symlinked_elsewhere_is_refused_and_nothing_is_written_there`.
//!
//! **Architecture Invariant:** no error message in the workspace repeats the cause it exposes
//! as its `source()` (the lock's texts that the reference fixes with their cause inside are the
//! allow-listed exceptions), and whoever shows an error to a person (the CLI, MCP tool results,
//! receipts, the hook log, the doctor) prints the chain with [`Chain`] or [`chain::causes`], so
//! the cause is shown once and never lost. Proved by
//! `tests/tidy_error_sources.rs::no_error_message_repeats_its_source`,
//! `crates/entwurf-fs/src/chain.rs::every_cause_is_shown_once_outermost_first` and
//! `crates/entwurf-cli/tests/cli_json_errors.rs::a_corrupt_record_prints_its_parse_error_as_the_cause`.
//!
//! Errors are `io::Error`s (so callers keep their own typed errors with the path they name);
//! a refusal by this layer carries an [`FsError`] inside (`io::Error::get_ref` +
//! `downcast_ref`), whose message names the path and says what to do.

#![deny(missing_docs)]

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
