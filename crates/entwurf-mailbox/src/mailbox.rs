//! The mailbox directory `<mailboxDir>/<gid>/`: enqueue, drain, list, and the guarded send.
//!
//! # Enqueue order and the no-orphan policy
//!
//! 1. read the identity (the record must exist and parse; it is never modified);
//! 2. the body must be non-empty;
//! 3. open `<mailbox>/<gid>` once (created with `mkdir -p` only when missing); every file
//!    below is then named relative to that handle;
//! 4. write the body to `.<name>.tmp` (0600) — a dot name the doorbell glob `*.msg` and the
//!    drain never match;
//! 5. stamp `state.json` `lastEnqueuedAt` (tmp + atomic replace: the names are exchanged and
//!    the old file unlinked, or a plain rename where exchange is unavailable). **If this
//!    fails, the tmp file is removed and the error returned: no message was ever visible**, so
//!    there is no orphan `.msg` that no doorbell will announce (the reference leaves the `.msg`
//!    behind);
//! 6. publish: rename the tmp file to `<stamp>.msg` without replacing anything (a name collision
//!    picks a fresh tag);
//! 7. poke `inbox.signal` with `<ISO now>\n`, written in place from offset 0 (0600 on create,
//!    mode and inode kept on rewrite; shrunk only if the old content was longer, so the file
//!    is never seen empty). New content and a new mtime fire the watch, as with the
//!    reference's truncating overwrite, without the truncation that makes ext4 start
//!    writeback. **If the poke fails, the message is withdrawn** (renamed back to its hidden
//!    tmp name and removed) and [`MailboxError::SignalFailed`] returned; if a doorbell or drain
//!    already took it, the message is in the receiver's hands and the enqueue reports success.
//!
//! The state stamp therefore happens before the message becomes visible instead of after (a
//! drain racing between steps 5 and 6 sees the stamp one message early, which is harmless).
//! A failed publish or poke may leave `lastEnqueuedAt` stamped for a message that was not kept:
//! the field means "last enqueue attempt that reached the publish step".
//!
//! # Durability
//!
//! As in the reference, nothing is fsynced: a dispatch sits on every message between agents and
//! two `fdatasync`s cost about 2 ms on a disk filesystem (10× the rest of the enqueue). A process
//! crash at any step still leaves no partial and no orphan message (a `.msg` only ever appears
//! whole, by rename); a power loss may lose the newest messages, exactly as with the reference.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use entwurf_meta_session::{iso_millis, Dirs, GardenId, MetaRecord, ReceiptState};
use serde::Serialize;

use crate::body::message_file_name;
use crate::deliverability::Deliverability;
use crate::error::{io_err, mkdir_err, MailboxError};
use crate::fsio::{MailboxDir, Replace};
use crate::identity::read_identity;
use crate::state::{read_state, stamp_in, stamp_state_reporting, ReceiptField};

/// The doorbell edge file inside a mailbox.
pub const SIGNAL_FILE: &str = "inbox.signal";

/// How many tags are tried before giving up on a free message name.
const NAME_ATTEMPTS: usize = 16;

/// Supplies the 3-byte tag of each message name (random in production, fixed in tests).
pub trait TagSource {
    /// The next tag.
    fn next_tag(&mut self) -> [u8; 3];
}

/// Random tags from the thread RNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomTags;

impl TagSource for RandomTags {
    fn next_tag(&mut self) -> [u8; 3] {
        rand::random()
    }
}

impl<F: FnMut() -> [u8; 3]> TagSource for F {
    fn next_tag(&mut self) -> [u8; 3] {
        self()
    }
}

/// The explicit directories the mailbox works with (borrowed from a [`Dirs`] or given one by one).
#[derive(Debug, Clone, Copy)]
pub struct MailboxDirs<'a> {
    /// Meta records (`<gid>.meta.json`).
    pub sessions: &'a Path,
    /// Mailbox root (`<gid>/` below it).
    pub mailbox: &'a Path,
    /// Receiver markers (`<gid>.json`).
    pub receivers: &'a Path,
}

impl<'a> From<&'a Dirs> for MailboxDirs<'a> {
    fn from(d: &'a Dirs) -> Self {
        Self {
            sessions: &d.sessions,
            mailbox: &d.mailbox,
            receivers: &d.receivers,
        }
    }
}

/// What an enqueue wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enqueued {
    /// The target (from the record body).
    pub garden_id: GardenId,
    /// The record that proved the target is a citizen.
    pub record_path: PathBuf,
    /// The published `<stamp>.msg`.
    pub message_path: PathBuf,
    /// The poked `inbox.signal`.
    pub signal_path: PathBuf,
    /// An unparseable `state.json` this send set aside (its bytes under this name) before it
    /// rebuilt the receipt state; `None` almost always.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_set_aside: Option<PathBuf>,
}

/// `<mailbox_dir>/<gid>`.
pub fn mailbox_path(mailbox_dir: &Path, gid: &GardenId) -> PathBuf {
    mailbox_dir.join(gid.as_str())
}

/// Enqueues `body` for a citizen (see the module docs for the order and the failure policy).
///
/// Not guarded: it does not look at receiver markers. Use [`send_guarded`] for a send that must
/// refuse when nobody listens.
pub fn enqueue(
    sessions_dir: &Path,
    mailbox_dir: &Path,
    gid: &GardenId,
    body: &str,
    now: DateTime<Utc>,
    tags: &mut dyn TagSource,
) -> Result<Enqueued, MailboxError> {
    let (record, record_path) = read_identity(sessions_dir, gid)?;
    enqueue_for(&record, record_path, mailbox_dir, body, now, tags)
}

/// [`enqueue`] for a record the caller has just read from `sessions_dir` (the v2 decider's own
/// resolve): the same steps without reading the record a second time.
pub fn enqueue_resolved(
    record: &MetaRecord,
    sessions_dir: &Path,
    mailbox_dir: &Path,
    body: &str,
    now: DateTime<Utc>,
    tags: &mut dyn TagSource,
) -> Result<Enqueued, MailboxError> {
    let record_path = entwurf_meta_session::record_path(sessions_dir, &record.garden_id);
    enqueue_for(record, record_path, mailbox_dir, body, now, tags)
}

/// The guarded send: reads the identity, refuses with [`MailboxError::Undeliverable`] unless
/// the backend is self-fetch and a live receiver marker matches the record — **before** any
/// mailbox IO, so a refused send leaves the mailbox directory byte-identical — then enqueues.
pub fn send_guarded(
    dirs: MailboxDirs<'_>,
    gid: &GardenId,
    body: &str,
    now: DateTime<Utc>,
    tags: &mut dyn TagSource,
) -> Result<Enqueued, MailboxError> {
    let (record, record_path) = read_identity(dirs.sessions, gid)?;
    let verdict = crate::mailbox_deliverability_for(dirs.receivers, &record);
    if !verdict.deliverable {
        return Err(MailboxError::Undeliverable {
            gid: gid.clone(),
            reason: verdict.reason,
        });
    }
    enqueue_for(&record, record_path, dirs.mailbox, body, now, tags)
}

/// The deliverability verdict for a garden id, reading its record and receiver marker
/// (read-only; the mailbox is not touched).
pub fn deliverability_of(
    dirs: MailboxDirs<'_>,
    gid: &GardenId,
) -> Result<Deliverability, MailboxError> {
    let (record, _) = read_identity(dirs.sessions, gid)?;
    Ok(crate::mailbox_deliverability_for(dirs.receivers, &record))
}

fn enqueue_for(
    record: &MetaRecord,
    record_path: PathBuf,
    mailbox_dir: &Path,
    body: &str,
    now: DateTime<Utc>,
    tags: &mut dyn TagSource,
) -> Result<Enqueued, MailboxError> {
    enqueue_with(
        record,
        record_path,
        mailbox_dir,
        body,
        now,
        tags,
        Replace::Exchange,
    )
}

/// [`enqueue_for`] with the `state.json` replace strategy chosen (tests force the fallback).
fn enqueue_with(
    record: &MetaRecord,
    record_path: PathBuf,
    mailbox_dir: &Path,
    body: &str,
    now: DateTime<Utc>,
    tags: &mut dyn TagSource,
    how: Replace,
) -> Result<Enqueued, MailboxError> {
    let gid = &record.garden_id;
    if body.is_empty() {
        return Err(MailboxError::EmptyBody { gid: gid.clone() });
    }
    if body.len() as u64 > entwurf_fs::MESSAGE_MAX {
        return Err(MailboxError::TooLarge {
            gid: gid.clone(),
            size: body.len(),
            cap: entwurf_fs::MESSAGE_MAX,
        });
    }
    // 3. One handle on the mailbox dir (`<gid>` never through a symlink); `mkdir -p` only when
    //    it is missing.
    let dir = mailbox_path(mailbox_dir, gid);
    let d = MailboxDir::open_or_create(mailbox_dir, gid).map_err(|e| mkdir_err(&dir, e))?;

    // 4. Body under a hidden name nobody globs.
    let tmp = write_hidden(&d, body.as_bytes(), now, tags)?;

    // 5. Stamp before the message is visible; on failure nothing is left behind.
    let state_set_aside = match stamp_in(&d, gid, ReceiptField::LastEnqueuedAt, now, how) {
        Ok(stamped) => stamped.set_aside,
        Err(e) => {
            let _ = d.remove(&tmp);
            return Err(e);
        }
    };

    // 6. Publish without replacing a same-named message.
    let message = match publish(&d, &tmp, now, tags) {
        Ok(name) => name,
        Err(e) => {
            let _ = d.remove(&tmp);
            return Err(e);
        }
    };
    let message_path = d.join(&message);

    // 7. Poke last.
    let signal_path = d.join(SIGNAL_FILE);
    if let Err(source) = poke(&d, now) {
        return match d.rename(&message, &tmp) {
            Ok(()) => {
                let _ = d.remove(&tmp);
                Err(MailboxError::SignalFailed {
                    gid: gid.clone(),
                    signal_path,
                    source,
                })
            }
            // A doorbell (→ .msg.delivered) or a drain (→ .msg.read) already took it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Enqueued {
                garden_id: gid.clone(),
                record_path,
                message_path,
                signal_path,
                state_set_aside,
            }),
            Err(_) => Err(MailboxError::SignalFailed {
                gid: gid.clone(),
                signal_path,
                source,
            }),
        };
    }
    Ok(Enqueued {
        garden_id: gid.clone(),
        record_path,
        message_path,
        signal_path,
        state_set_aside,
    })
}

/// Writes the body to a writer-named temp `.<name>.tmp.<pid>.<start key>.<hex>` (a dot name the
/// doorbell glob and the drain never match, removable once its writer is dead) and returns it.
fn write_hidden(
    d: &MailboxDir,
    bytes: &[u8],
    now: DateTime<Utc>,
    tags: &mut dyn TagSource,
) -> Result<String, MailboxError> {
    let mut last = None;
    for _ in 0..NAME_ATTEMPTS {
        let tmp = entwurf_fs::temp_name(&message_file_name(now, tags.next_tag()));
        match d.write_new_0600(&tmp, bytes) {
            Ok(()) => return Ok(tmp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_err("write the message body", &d.join(&tmp), e)),
        }
    }
    Err(io_err(
        "find a free message name in",
        d.path(),
        last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
    ))
}

/// Renames the hidden tmp file to its `.msg` name (a fresh tag on a collision) and returns
/// the published name.
fn publish(
    d: &MailboxDir,
    tmp: &str,
    now: DateTime<Utc>,
    tags: &mut dyn TagSource,
) -> Result<String, MailboxError> {
    // The first attempt reuses the tmp file's own name.
    let first = entwurf_fs::parse_temp_name(tmp).map(|w| w.target);
    let mut candidate = first.unwrap_or_else(|| message_file_name(now, tags.next_tag()));
    let mut last = None;
    for _ in 0..NAME_ATTEMPTS {
        match d.rename_no_replace(tmp, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(e);
                candidate = message_file_name(now, tags.next_tag());
            }
            Err(e) => return Err(io_err("publish the message", &d.join(&candidate), e)),
        }
    }
    Err(io_err(
        "find a free message name in",
        d.path(),
        last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
    ))
}

/// Writes `<ISO now>\n` into `inbox.signal` in place (see [`MailboxDir::overwrite_in_place`]):
/// the new content and mtime fire the watch, as the reference's truncating overwrite does,
/// without the truncation that makes ext4 flush.
pub(crate) fn poke(d: &MailboxDir, now: DateTime<Utc>) -> io::Result<()> {
    d.overwrite_in_place(SIGNAL_FILE, format!("{}\n", iso_millis(now)).as_bytes())
}

/// One message returned by a drain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxMessage {
    /// The name it had when it was read (`….msg` or `….msg.delivered`); it is now `<file>.read`.
    pub file: String,
    /// The body, decoded as UTF-8 (invalid bytes become U+FFFD, as in the reference).
    pub body: String,
}

/// A message the drain could not take; it stays unread for the next drain.
#[derive(Debug)]
pub struct LeftUnread {
    /// Its file name.
    pub file: String,
    /// Why.
    pub error: MailboxError,
}

/// What an entry with a message name turned out to be, when it is not a readable message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum BadEntryKind {
    /// A directory.
    Directory,
    /// A symbolic link (never followed).
    Symlink,
    /// A FIFO (never opened for a blocking read).
    Fifo,
    /// A socket, a device or anything else that is not a regular file.
    Special,
    /// A regular file over the message cap ([`entwurf_fs::MESSAGE_MAX`]).
    TooLarge,
    /// A regular file this process may not read.
    Unreadable,
}

impl From<BadEntryKind> for &'static str {
    fn from(kind: BadEntryKind) -> Self {
        kind.name()
    }
}

impl BadEntryKind {
    /// Its name in reports and JSON (`directory`, `symlink`, `fifo`, `special`, `too-large`,
    /// `unreadable`).
    pub fn name(self) -> &'static str {
        match self {
            BadEntryKind::Directory => "directory",
            BadEntryKind::Symlink => "symlink",
            BadEntryKind::Fifo => "fifo",
            BadEntryKind::Special => "special",
            BadEntryKind::TooLarge => "too-large",
            BadEntryKind::Unreadable => "unreadable",
        }
    }

    /// What to do about it, for the report.
    pub fn hint(self) -> &'static str {
        match self {
            BadEntryKind::Unreadable => {
                "a message file this user may not read; fix its owner or mode, the next drain takes it"
            }
            BadEntryKind::TooLarge => {
                "larger than any message entwurf sends; move it out of the mailbox to read it by hand"
            }
            _ => "not a message (only regular files are); move it out of the mailbox",
        }
    }
}

/// An entry with a message name that the drain skipped because it is not a readable message.
#[derive(Debug)]
pub struct BadEntry {
    /// Its file name.
    pub file: String,
    /// What it is.
    pub kind: BadEntryKind,
    /// The OS error or the store layer's refusal.
    pub error: io::Error,
}

impl BadEntry {
    /// Its kind as the reports name it (`fifo`, `too-large`, …), with the OS error for an
    /// unreadable file, where the error is the point.
    pub fn what(&self) -> String {
        let kind = self.kind.name();
        if self.kind == BadEntryKind::Unreadable {
            format!("{kind}: {}", self.error)
        } else {
            kind.to_owned()
        }
    }
}

/// What a drain did.
#[derive(Debug)]
pub struct Drained {
    /// The mailbox owner.
    pub garden_id: GardenId,
    /// Bodies in name (= time) order; each is archived as `<file>.read`.
    pub messages: Vec<InboxMessage>,
    /// `lastReadAt` as stamped, or `None` when nothing was read (then nothing was mutated).
    pub read_at: Option<String>,
    /// The record that proved the owner is a citizen.
    pub record_path: PathBuf,
    /// Unread messages that could not be read or archived (not returned, still unread).
    pub left_unread: Vec<LeftUnread>,
    /// Entries with a message name that are not readable messages (a directory, a symlink, a
    /// FIFO, an oversized or unreadable file): reported, left where they are, never fatal.
    pub bad_entries: Vec<BadEntry>,
    /// An unparseable `state.json` the read receipt set aside (see
    /// [`crate::stamp_state_reporting`]).
    pub state_set_aside: Option<PathBuf>,
    /// Messages were archived but `lastReadAt` could not be stamped. The messages are still
    /// returned (the reference threw here and lost them to the caller).
    pub receipt_error: Option<MailboxError>,
    /// Temp files of dead writers (crashed enqueues or stamps) this drain removed, sorted.
    pub removed_temps: Vec<String>,
}

impl Drained {
    /// True when every unread message was taken and the receipt stamped. Bad entries do not
    /// count: they are not messages.
    pub fn is_clean(&self) -> bool {
        self.left_unread.is_empty() && self.receipt_error.is_none()
    }

    /// The drained bodies as both inbox readers show them (`entwurf mailbox read` and the
    /// `entwurf_inbox_read` tool): a header and the numbered bodies, or the one "empty" line.
    /// No trailing newline; each reader adds its own tail.
    pub fn inbox_text(&self) -> String {
        if self.messages.is_empty() {
            return format!(
                "[entwurf inbox] garden {}: empty (no unread messages, no receipt stamped).",
                self.garden_id
            );
        }
        let blocks: Vec<String> = self
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| format!("--- message {} ({}) ---\n{}", i + 1, m.file, m.body))
            .collect();
        format!(
            "[entwurf inbox read ⟵]\n  garden:   {}\n  messages: {}\n  receipt:  lastReadAt={}\n\n{}",
            self.garden_id,
            self.messages.len(),
            self.read_at.as_deref().unwrap_or("(not stamped)"),
            blocks.join("\n\n")
        )
    }
}

/// Kind of a file in a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// `<stamp>.msg`: enqueued, the doorbell has not rung for it yet.
    Fresh,
    /// `<stamp>.msg.delivered`: the doorbell rang (a wake attempt, not a read).
    Delivered,
    /// `*.read`: archived by a drain.
    Read,
}

impl EntryKind {
    /// Classifies a file name; `None` for everything that is not a message.
    pub fn of(name: &str) -> Option<Self> {
        if name.starts_with('.') {
            return None;
        }
        if name.ends_with(".msg") {
            Some(Self::Fresh)
        } else if name.ends_with(".msg.delivered") {
            Some(Self::Delivered)
        } else if name.ends_with(".msg.read") || name.ends_with(".msg.delivered.read") {
            Some(Self::Read)
        } else {
            None
        }
    }

    /// Unread = fresh or delivered.
    pub fn is_unread(self) -> bool {
        !matches!(self, Self::Read)
    }
}

/// One message file in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxEntry {
    /// The file name.
    pub file: String,
    /// What it is.
    pub kind: EntryKind,
    /// Its size in bytes.
    pub size: u64,
}

/// A read-only view of a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MailboxListing {
    /// The mailbox owner.
    pub garden_id: GardenId,
    /// `<mailbox>/<gid>`.
    pub dir: PathBuf,
    /// Whether the directory exists.
    pub exists: bool,
    /// Message files sorted by name (fresh, delivered and read mixed, in time order).
    pub entries: Vec<MailboxEntry>,
    /// The receipt state (all-null when absent).
    pub state: ReceiptState,
    /// Whether `inbox.signal` exists.
    pub signal_present: bool,
    /// Temp files of dead writers (crashed enqueues or stamps) this listing removed, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_temps: Vec<String>,
}

impl MailboxListing {
    /// Unread entries (fresh + delivered), in drain order.
    pub fn unread(&self) -> impl Iterator<Item = &MailboxEntry> {
        self.entries.iter().filter(|e| e.kind.is_unread())
    }
}

/// Opens a mailbox and lists its file names (sorted); a missing dir is `None`.
fn open_and_list(
    mailbox_dir: &Path,
    gid: &GardenId,
) -> Result<Option<(MailboxDir, Vec<String>)>, MailboxError> {
    let dir = mailbox_path(mailbox_dir, gid);
    let Some(d) =
        MailboxDir::open(mailbox_dir, gid).map_err(|e| io_err("list the mailbox", &dir, e))?
    else {
        return Ok(None);
    };
    let names = d
        .sorted_names()
        .map_err(|e| io_err("list the mailbox", &dir, e))?;
    Ok(Some((d, names)))
}

/// Shows what is in a mailbox without touching anything. Needs no record (a mailbox outlives
/// its citizen's record), only a valid garden id.
pub fn list(mailbox_dir: &Path, gid: &GardenId) -> Result<MailboxListing, MailboxError> {
    let dir = mailbox_path(mailbox_dir, gid);
    let opened = open_and_list(mailbox_dir, gid)?;
    let exists = opened.is_some();
    let mut entries = Vec::new();
    let mut removed_temps = Vec::new();
    let mut signal_present = false;
    if let Some((d, names)) = &opened {
        removed_temps = d.sweep_dead_temps(names);
        for name in names {
            if let Some(kind) = EntryKind::of(name) {
                let size = d
                    .stat(name)
                    .ok()
                    .flatten()
                    .map_or(0, |st| u64::try_from(st.st_size).unwrap_or(0));
                entries.push(MailboxEntry {
                    file: name.clone(),
                    kind,
                    size,
                });
            }
        }
        signal_present = d.stat(SIGNAL_FILE).ok().flatten().is_some();
    }
    let state = read_state(mailbox_dir, gid)?;
    Ok(MailboxListing {
        garden_id: gid.clone(),
        signal_present,
        dir,
        exists,
        entries,
        state,
        removed_temps,
    })
}

/// Drains a citizen's mailbox (the reference's `readMetaInbox`): every `*.msg` and
/// `*.msg.delivered` in plain byte order is read and renamed to `<name>.read`; `lastReadAt` is
/// stamped only when something was read. An empty or missing mailbox mutates nothing.
///
/// Concurrency: the rename is the claim, so two drains never return the same message; a
/// message the doorbell renames mid-drain is followed to its `.msg.delivered` name.
pub fn drain(
    sessions_dir: &Path,
    mailbox_dir: &Path,
    gid: &GardenId,
    now: DateTime<Utc>,
) -> Result<Drained, MailboxError> {
    let (record, record_path) = read_identity(sessions_dir, gid)?;
    let gid = &record.garden_id;
    let (d, names) = match open_and_list(mailbox_dir, gid)? {
        Some((d, names)) => (Some(d), names),
        None => (None, Vec::new()),
    };
    // The drain lists the directory anyway: dead writers' temps go now.
    let removed_temps = d
        .as_ref()
        .map(|d| d.sweep_dead_temps(&names))
        .unwrap_or_default();
    let mut messages = Vec::new();
    let mut left_unread = Vec::new();
    let mut bad_entries = Vec::new();
    for name in names {
        if !(name.ends_with(".msg") || name.ends_with(".msg.delivered")) || name.starts_with('.') {
            continue;
        }
        let Some(d) = &d else { break };
        match take(d, &name) {
            Ok(Taken::Message(m)) => messages.push(m),
            Ok(Taken::Gone) => {}
            Ok(Taken::Bad(kind, error)) => bad_entries.push(BadEntry {
                file: name,
                kind,
                error,
            }),
            Err(error) => left_unread.push(LeftUnread { file: name, error }),
        }
    }
    if messages.is_empty() {
        return Ok(Drained {
            garden_id: gid.clone(),
            messages,
            read_at: None,
            record_path,
            left_unread,
            bad_entries,
            state_set_aside: None,
            receipt_error: None,
            removed_temps,
        });
    }
    let (read_at, state_set_aside, receipt_error) =
        match stamp_state_reporting(mailbox_dir, gid, ReceiptField::LastReadAt, now) {
            Ok(s) => (s.state.last_read_at, s.set_aside, None),
            Err(e) => (None, None, Some(e)),
        };
    Ok(Drained {
        garden_id: gid.clone(),
        messages,
        read_at,
        record_path,
        left_unread,
        bad_entries,
        state_set_aside,
        receipt_error,
        removed_temps,
    })
}

/// What [`take`] found under one unread name.
enum Taken {
    /// Read and archived.
    Message(InboxMessage),
    /// Someone else took it first.
    Gone,
    /// Not a readable message; left in place.
    Bad(BadEntryKind, io::Error),
}

/// Whether a read error means "this entry is not a readable message" (and which kind), as
/// opposed to a failure worth retrying.
fn bad_kind_of(e: &io::Error) -> Option<BadEntryKind> {
    if let Some(fs) = entwurf_fs::fs_error_of(e) {
        return Some(match fs {
            entwurf_fs::FsError::TooLarge { .. } => BadEntryKind::TooLarge,
            entwurf_fs::FsError::NotRegular { found, .. } => match *found {
                "directory" => BadEntryKind::Directory,
                "symbolic link" => BadEntryKind::Symlink,
                "FIFO" => BadEntryKind::Fifo,
                _ => BadEntryKind::Special,
            },
            _ => BadEntryKind::Special,
        });
    }
    match e.kind() {
        io::ErrorKind::PermissionDenied => Some(BadEntryKind::Unreadable),
        io::ErrorKind::IsADirectory => Some(BadEntryKind::Directory),
        _ => None,
    }
}

/// Reads and archives one unread message: only a regular file within the message cap is read
/// (a symlink is never followed, a FIFO never blocks the drain); anything else is a bad entry.
fn take(d: &MailboxDir, name: &str) -> Result<Taken, MailboxError> {
    let mut candidates = vec![name.to_owned()];
    if name.ends_with(".msg") {
        candidates.push(format!("{name}.delivered"));
    }
    for cand in candidates {
        let bytes = match d.read(&cand, entwurf_fs::Kind::Message) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => match bad_kind_of(&e) {
                Some(kind) => return Ok(Taken::Bad(kind, e)),
                None => return Err(io_err("read the message", &d.join(&cand), e)),
            },
        };
        match d.rename_no_replace(&cand, &format!("{cand}.read")) {
            Ok(()) => {
                return Ok(Taken::Message(InboxMessage {
                    file: cand,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("archive the message", &d.join(&cand), e)),
        }
    }
    Ok(Taken::Gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use entwurf_meta_session::Backend;

    fn record(gid: &GardenId) -> MetaRecord {
        MetaRecord::new(
            gid.clone(),
            Backend::ClaudeCode,
            "native",
            "/home/u/proj",
            "2026-06-12T10:00:00.000Z",
        )
    }

    use crate::fsio::tests::names;

    /// The same enqueues with the `state.json` exchange and with the forced plain-rename
    /// fallback leave byte-identical mailboxes: messages, receipt state, doorbell.
    #[rstest::rstest]
    #[case::exchange(Replace::Exchange)]
    #[case::plain_rename_fallback(Replace::Rename)]
    fn both_state_replace_strategies_write_the_same_mailbox(#[case] how: Replace) {
        let t = tempfile::tempdir().unwrap();
        let gid = GardenId::parse("20260612T100000-aaaaaa").unwrap();
        let rec = record(&gid);
        let mut n = 0u8;
        let mut tags = move || {
            n += 1;
            [0, 0, n]
        };
        for (i, body) in ["first", "second"].into_iter().enumerate() {
            let now = Utc.with_ymd_and_hms(2026, 6, 12, 10, 5, i as u32).unwrap();
            enqueue_with(
                &rec,
                PathBuf::from("r"),
                t.path(),
                body,
                now,
                &mut tags,
                how,
            )
            .unwrap();
        }
        let dir = t.path().join(gid.as_str());
        assert_eq!(
            names(&dir),
            [
                "2026-06-12T10-05-00-000Z-000001.msg",
                "2026-06-12T10-05-01-000Z-000002.msg",
                "inbox.signal",
                "state.json",
            ],
            "{how:?}: no tmp file left"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("inbox.signal")).unwrap(),
            "2026-06-12T10:05:01.000Z\n"
        );
        let state = read_state(t.path(), &gid).unwrap();
        assert_eq!(
            state.last_enqueued_at.as_deref(),
            Some("2026-06-12T10:05:01.000Z")
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("2026-06-12T10-05-01-000Z-000002.msg")).unwrap(),
            "second"
        );
    }

    #[test]
    fn bad_entry_kinds_serialise_as_their_report_names() {
        for (kind, name) in [
            (BadEntryKind::Directory, "directory"),
            (BadEntryKind::Symlink, "symlink"),
            (BadEntryKind::Fifo, "fifo"),
            (BadEntryKind::Special, "special"),
            (BadEntryKind::TooLarge, "too-large"),
            (BadEntryKind::Unreadable, "unreadable"),
        ] {
            assert_eq!(kind.name(), name);
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
    }
    #[test]
    fn a_longer_doorbell_content_is_shrunk_to_the_stamp() {
        let t = tempfile::tempdir().unwrap();
        let gid = GardenId::parse("20260612T100000-aaaaaa").unwrap();
        let dir = t.path().join(gid.as_str());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(SIGNAL_FILE), "x".repeat(100)).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 6, 12, 10, 5, 0).unwrap();
        enqueue_for(
            &record(&gid),
            PathBuf::from("r"),
            t.path(),
            "b",
            now,
            &mut RandomTags,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join(SIGNAL_FILE)).unwrap(),
            "2026-06-12T10:05:00.000Z\n"
        );
    }
}
