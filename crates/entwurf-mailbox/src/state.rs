//! Stamping the receipt state file `<mailboxDir>/<gid>/state.json` (one field,
//! read-modify-write, tmp + atomic replace, mode 0600). The format itself — [`ReceiptState`], its
//! serialiser, strict parser and reader — is owned by `entwurf-meta-session`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use entwurf_meta_session::{iso_millis, GardenId, ReceiptState, ReceiptStateError};

use crate::error::{io_err, MailboxError};
use entwurf_fs::Kind;

use crate::fsio::{MailboxDir, Replace};

pub use entwurf_meta_session::receipt_state_path as state_path;

/// The only schema version of `state.json`.
pub const STATE_SCHEMA_VERSION: u32 = ReceiptState::SCHEMA_VERSION;

/// The file name of the receipt state inside a mailbox.
pub const STATE_FILE: &str = ReceiptState::FILE_NAME;

/// The exact key set, in serialization order.
pub const STATE_KEYS: [&str; 5] = ReceiptState::KEYS;

/// A stampable receipt field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptField {
    /// Stamped by enqueue.
    LastEnqueuedAt,
    /// Never stamped by the live path.
    LastDeliveredAt,
    /// Stamped by a drain that read something.
    LastReadAt,
}

impl ReceiptField {
    /// Returns a copy of `state` with this field set to `value`.
    pub fn stamped(self, state: &ReceiptState, value: String) -> ReceiptState {
        let mut next = state.clone();
        let slot = match self {
            ReceiptField::LastEnqueuedAt => &mut next.last_enqueued_at,
            ReceiptField::LastDeliveredAt => &mut next.last_delivered_at,
            ReceiptField::LastReadAt => &mut next.last_read_at,
        };
        *slot = Some(value);
        next
    }

    /// This field's value in `state`.
    pub fn get(self, state: &ReceiptState) -> Option<&String> {
        match self {
            ReceiptField::LastEnqueuedAt => state.last_enqueued_at.as_ref(),
            ReceiptField::LastDeliveredAt => state.last_delivered_at.as_ref(),
            ReceiptField::LastReadAt => state.last_read_at.as_ref(),
        }
    }

    /// The JSON key.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptField::LastEnqueuedAt => "lastEnqueuedAt",
            ReceiptField::LastDeliveredAt => "lastDeliveredAt",
            ReceiptField::LastReadAt => "lastReadAt",
        }
    }
}

impl fmt::Display for ReceiptField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a stampable receipt field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stampMailboxReceipt \"field\" must be one of lastEnqueuedAt | lastDeliveredAt | lastReadAt (got string {value:?}).")]
pub struct UnknownReceiptField {
    /// The rejected name.
    pub value: String,
}

impl FromStr for ReceiptField {
    type Err = UnknownReceiptField;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lastEnqueuedAt" => Ok(Self::LastEnqueuedAt),
            "lastDeliveredAt" => Ok(Self::LastDeliveredAt),
            "lastReadAt" => Ok(Self::LastReadAt),
            other => Err(UnknownReceiptField {
                value: other.to_owned(),
            }),
        }
    }
}

/// Reads a citizen's receipt state; an absent file is the all-null state.
pub fn read_state(mailbox_dir: &Path, gid: &GardenId) -> Result<ReceiptState, MailboxError> {
    entwurf_meta_session::read_receipt_state(mailbox_dir, gid).map_err(|e| match e {
        ReceiptStateError::Io { path, source, .. } => {
            io_err("read the receipt state", &path, source)
        }
        source => MailboxError::State {
            gid: gid.clone(),
            path: state_path(mailbox_dir, gid),
            source,
        },
    })
}

/// Stamps one field to `now` (read-modify-write; creates the dir and the file on first stamp),
/// writing through a unique tmp file that atomically replaces `state.json`, mode 0600. Returns
/// the new state. See [`stamp_state_reporting`] for the rules.
pub fn stamp_state(
    mailbox_dir: &Path,
    gid: &GardenId,
    field: ReceiptField,
    now: DateTime<Utc>,
) -> Result<ReceiptState, MailboxError> {
    stamp_state_reporting(mailbox_dir, gid, field, now).map(|s| s.state)
}

/// What a stamp did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    /// The state on disk after the stamp (as this writer last wrote or found it).
    pub state: ReceiptState,
    /// An unparseable `state.json` that was set aside (its bytes, under this name in the
    /// mailbox dir) before the state was rebuilt from the all-null one.
    pub set_aside: Option<PathBuf>,
}

/// [`stamp_state`], also telling whether an unparseable `state.json` was set aside.
///
/// * **Only forward.** Every timestamp field moves forward only: a stamp older than (or equal
///   to) the one on disk writes nothing, and with the exchange scheme the writer reads the file
///   its exchange displaced; when that file carries a newer value for any field (a concurrent
///   writer got in between the read and the swap), it writes the field-wise newest of both
///   again. Every displaced value is so carried forward by the writer that displaced it, so
///   after concurrent stamps the file holds the newest value each field was ever stamped with.
///   (Without exchange, on a filesystem that cannot swap names, the last writer wins, as in the
///   reference.)
/// * **Receipts are hints; mail keeps flowing.** A `state.json` that cannot be used (not JSON,
///   not an object, a wrong version, stray keys, a bad field) is copied whole to
///   `state.json.unparseable-<16 hex of its content hash>` (0600, never replacing a file; the
///   same bytes always get the same name, so racing writers save it once) and the state is
///   rebuilt from the all-null one.
/// * **Drift is refused** ([`MailboxError::State`]): a body naming another garden id means the
///   mailbox is in the wrong place (the reference refuses it too); nothing is written.
pub fn stamp_state_reporting(
    mailbox_dir: &Path,
    gid: &GardenId,
    field: ReceiptField,
    now: DateTime<Utc>,
) -> Result<Stamped, MailboxError> {
    let dir = mailbox_dir.join(gid.as_str());
    let d = MailboxDir::open_or_create(mailbox_dir, gid)
        .map_err(|e| crate::error::mkdir_err(&dir, e))?;
    stamp_in(&d, gid, field, now, Replace::Exchange)
}

/// How many times one stamp re-writes after losing a race. Each lost round joins the displaced
/// state into ours (every field only moves forward), so the loop ends as soon as no newer state
/// was published between two of our exchanges; the bound only stops a storm of writers. It must
/// stay far above what contention can reach: a writer that gives up while holding a newer
/// state it displaced drops that state (16 was reached by 16 threads on 2 loaded cores). A
/// writer that does give up still leaves a state that is whole and at least as new as what it
/// read.
const STAMP_ROUNDS: usize = 4096;

/// [`stamp_state_reporting`] inside an already open mailbox directory.
pub(crate) fn stamp_in(
    d: &MailboxDir,
    gid: &GardenId,
    field: ReceiptField,
    now: DateTime<Utc>,
    how: Replace,
) -> Result<Stamped, MailboxError> {
    let (current, set_aside) = read_or_set_aside(d, gid)?;
    let state = stamp_over(d, gid, current, field, now, how)?;
    Ok(Stamped { state, set_aside })
}

/// Writes `field = now` over `current` (what this writer read a moment ago, perhaps stale by
/// now), only forward, carrying forward whatever newer state its exchange displaces.
fn stamp_over(
    d: &MailboxDir,
    gid: &GardenId,
    current: ReceiptState,
    field: ReceiptField,
    now: DateTime<Utc>,
    how: Replace,
) -> Result<ReceiptState, MailboxError> {
    let stamp = iso_millis(now);
    if !is_later(Some(&stamp), field.get(&current)) {
        // The file already says as much or more: forward only, nothing to write.
        return Ok(current);
    }
    let mut next = field.stamped(&current, stamp);
    for _ in 0..STAMP_ROUNDS {
        let displaced = write_state(d, &next, how)?;
        match displaced.filter(|old| old.garden_id == *gid) {
            Some(old) if !dominates(&next, &old) => next = newest_of(&next, &old),
            _ => break,
        }
    }
    Ok(next)
}

/// Reads `state.json` (absent → all-null). An unusable file is set aside and read as
/// all-null; drift is refused.
fn read_or_set_aside(
    d: &MailboxDir,
    gid: &GardenId,
) -> Result<(ReceiptState, Option<PathBuf>), MailboxError> {
    let path = d.join(STATE_FILE);
    let bytes = match d.read(STATE_FILE, Kind::State) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok((ReceiptState::empty(gid), None)),
        // Too large, a symlink, a FIFO, a directory: not a state file; moved aside whole.
        Err(e) if entwurf_fs::fs_error_of(&e).is_some() => {
            let aside = move_aside(d)?;
            return Ok((ReceiptState::empty(gid), aside));
        }
        Err(e) => return Err(io_err("read the receipt state", &path, e)),
    };
    match ReceiptState::parse(&String::from_utf8_lossy(&bytes)) {
        Ok(state) => match state.check_drift(gid) {
            Ok(()) => Ok((state, None)),
            Err(source) => Err(MailboxError::State {
                gid: gid.clone(),
                path,
                source,
            }),
        },
        Err(_) => {
            let aside = set_aside(d, &bytes)?;
            Ok((ReceiptState::empty(gid), Some(aside)))
        }
    }
}

/// Saves an unusable state file's bytes under `state.json.unparseable-<hash>` (never replacing
/// a file; an existing file of that name already holds the same bytes, as far as the hash
/// tells). Returns its path.
fn set_aside(d: &MailboxDir, bytes: &[u8]) -> Result<PathBuf, MailboxError> {
    let name = format!("{STATE_FILE}.unparseable-{:016x}", fnv1a(bytes));
    match d.write_new_kind(&name, Kind::State, bytes) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io_err(
                "set aside the unparseable receipt state in",
                &d.join(&name),
                e,
            ))
        }
    }
    Ok(d.join(&name))
}

/// Renames whatever is at `state.json` but cannot be read as a file (too large, a symlink, a
/// FIFO, a directory) to `state.json.unparseable-<pid>-<millis>` (never replacing; a rename
/// never follows a link). `None` when it vanished meanwhile.
fn move_aside(d: &MailboxDir) -> Result<Option<PathBuf>, MailboxError> {
    let name = format!(
        "{STATE_FILE}.unparseable-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    );
    match d.rename_no_replace(STATE_FILE, &name) {
        Ok(()) => Ok(Some(d.join(&name))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(
            "move aside the unusable receipt state",
            &d.join(STATE_FILE),
            e,
        )),
    }
}

/// FNV-1a, 64 bit (a stable name for the same bytes; not a security hash).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Whether timestamp `a` is later than `b` (`None` is earliest). Two ISO instants compare as
/// instants; anything else (a foreign format) as strings.
fn is_later(a: Option<&String>, b: Option<&String>) -> bool {
    match (a, b) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(a), Some(b)) => match (
            DateTime::parse_from_rfc3339(a),
            DateTime::parse_from_rfc3339(b),
        ) {
            (Ok(x), Ok(y)) => x > y,
            _ => a > b,
        },
    }
}

const FIELDS: [ReceiptField; 3] = [
    ReceiptField::LastEnqueuedAt,
    ReceiptField::LastDeliveredAt,
    ReceiptField::LastReadAt,
];

/// Whether every field of `a` is at least as new as the same field of `b`.
fn dominates(a: &ReceiptState, b: &ReceiptState) -> bool {
    FIELDS.iter().all(|f| !is_later(f.get(b), f.get(a)))
}

/// The field-wise newest of `a` and `b` (`a`'s garden id).
fn newest_of(a: &ReceiptState, b: &ReceiptState) -> ReceiptState {
    let mut out = a.clone();
    for f in FIELDS {
        if is_later(f.get(b), f.get(a)) {
            if let Some(v) = f.get(b) {
                out = f.stamped(&out, v.clone());
            }
        }
    }
    out
}

/// Writes `state` as `state.json` and returns the state the write displaced, when the
/// filesystem could swap the names and the displaced file parsed (`None` otherwise).
fn write_state(
    d: &MailboxDir,
    state: &ReceiptState,
    how: Replace,
) -> Result<Option<ReceiptState>, MailboxError> {
    let tmp = entwurf_fs::temp_name(STATE_FILE);
    let path = d.join(STATE_FILE);
    let result = (|| {
        // No fsync (as the reference): a receipt stamp is a hint, and the atomic replace keeps
        // the old state.json whole if we crash (a dead writer's temp is swept later).
        d.write_new_kind(&tmp, Kind::State, state.to_file_string().as_bytes())?;
        if how == Replace::Exchange && d.exchange(&tmp, STATE_FILE)? {
            // The old file is now under the tmp name: read it, then drop it.
            let old = d.read(&tmp, Kind::State).ok().flatten();
            let _ = d.remove(&tmp);
            return Ok(old.and_then(|b| ReceiptState::parse(&String::from_utf8_lossy(&b)).ok()));
        }
        d.rename(&tmp, STATE_FILE).map(|()| None)
    })();
    result.map_err(|e| {
        let _ = d.remove(&tmp);
        io_err("write the receipt state", &path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Row 3, the interleaving itself: a writer read the state, another wrote a newer stamp,
    /// then the first writes its older one. Its exchange displaces the newer file; it must put
    /// the newer stamp back (and keep its own field).
    #[test]
    fn a_stale_writer_carries_the_newer_stamp_it_displaced() {
        let t = tempfile::tempdir().unwrap();
        let gid = GardenId::parse("20260612T100000-aaaaaa").unwrap();
        let d = MailboxDir::open_root(t.path()).unwrap();
        let stale = ReceiptState::empty(&gid); // what the slow writer read
        let newer = stamp_over(
            &d,
            &gid,
            stale.clone(),
            ReceiptField::LastEnqueuedAt,
            at("2026-06-12T10:00:02.000Z"),
            Replace::Exchange,
        )
        .unwrap();
        assert_eq!(
            newer.last_enqueued_at.as_deref(),
            Some("2026-06-12T10:00:02.000Z")
        );
        // The slow writer: an older enqueue stamp, and a read stamp, both over its stale read.
        for (field, when) in [
            (ReceiptField::LastEnqueuedAt, "2026-06-12T10:00:01.000Z"),
            (ReceiptField::LastReadAt, "2026-06-12T10:00:01.500Z"),
        ] {
            stamp_over(&d, &gid, stale.clone(), field, at(when), Replace::Exchange).unwrap();
            let bytes = d.read(STATE_FILE, Kind::State).unwrap().unwrap();
            let on_disk = ReceiptState::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
            assert_eq!(
                on_disk.last_enqueued_at.as_deref(),
                Some("2026-06-12T10:00:02.000Z"),
                "lastEnqueuedAt went back after a stale {field} stamp"
            );
        }
        let bytes = d.read(STATE_FILE, Kind::State).unwrap().unwrap();
        let on_disk = ReceiptState::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
        assert_eq!(
            on_disk.last_read_at.as_deref(),
            Some("2026-06-12T10:00:01.500Z")
        );
        let names: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no tmp left");
    }

    /// Many threads stamping increasing times at once: the file ends at the newest stamp.
    #[test]
    fn parallel_stamps_leave_the_newest_stamp() {
        let t = tempfile::tempdir().unwrap();
        let gid = GardenId::parse("20260612T100000-aaaaaa").unwrap();
        let base = at("2026-06-12T10:00:00.000Z");
        std::thread::scope(|s| {
            for i in 0..16i64 {
                let (dir, gid) = (t.path(), &gid);
                s.spawn(move || {
                    let d = MailboxDir::open_root(dir).unwrap();
                    for k in 0..100i64 {
                        let now = base + chrono::Duration::milliseconds(k * 16 + i);
                        stamp_in(
                            &d,
                            gid,
                            ReceiptField::LastEnqueuedAt,
                            now,
                            Replace::Exchange,
                        )
                        .unwrap();
                    }
                });
            }
        });
        let d = MailboxDir::open_root(t.path()).unwrap();
        let bytes = d.read(STATE_FILE, Kind::State).unwrap().unwrap();
        let on_disk = ReceiptState::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
        let newest = base + chrono::Duration::milliseconds(99 * 16 + 15);
        assert_eq!(on_disk.last_enqueued_at, Some(iso_millis(newest)));
    }

    #[test]
    fn field_names_round_trip_and_unknown_is_rejected_with_the_reference_text() {
        for f in [
            ReceiptField::LastEnqueuedAt,
            ReceiptField::LastDeliveredAt,
            ReceiptField::LastReadAt,
        ] {
            assert_eq!(f.as_str().parse::<ReceiptField>().unwrap(), f);
        }
        let err = "lastSeenAt".parse::<ReceiptField>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "stampMailboxReceipt \"field\" must be one of lastEnqueuedAt | lastDeliveredAt | lastReadAt (got string \"lastSeenAt\")."
        );
    }
}
