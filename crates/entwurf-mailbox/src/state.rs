//! Stamping the receipt state file `<mailboxDir>/<gid>/state.json` (one field,
//! read-modify-write, tmp + atomic replace, mode 0600). The format itself — [`ReceiptState`], its
//! serialiser, strict parser and reader — is owned by `entwurf-meta-session`.

use std::fmt;
use std::path::Path;
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
/// the new state.
///
/// There is no lock: concurrent stamps race and the last writer wins (as in the reference);
/// readers never see a half-written file.
pub fn stamp_state(
    mailbox_dir: &Path,
    gid: &GardenId,
    field: ReceiptField,
    now: DateTime<Utc>,
) -> Result<ReceiptState, MailboxError> {
    let dir = mailbox_dir.join(gid.as_str());
    let d = MailboxDir::open_or_create(mailbox_dir, gid)
        .map_err(|e| crate::error::mkdir_err(&dir, e))?;
    stamp_in(&d, gid, field, now, Replace::Exchange)
}

/// [`stamp_state`] inside an already open mailbox directory.
pub(crate) fn stamp_in(
    d: &MailboxDir,
    gid: &GardenId,
    field: ReceiptField,
    now: DateTime<Utc>,
    how: Replace,
) -> Result<ReceiptState, MailboxError> {
    let current = read_in(d, gid)?;
    let updated = field.stamped(&current, iso_millis(now));
    write_atomic_0600(d, STATE_FILE, updated.to_file_string().as_bytes(), how)?;
    Ok(updated)
}

/// Reads `state.json` inside an open mailbox directory (absent → all-null), with the same
/// checks and errors as [`read_state`].
fn read_in(d: &MailboxDir, gid: &GardenId) -> Result<ReceiptState, MailboxError> {
    let path = d.join(STATE_FILE);
    let bytes = match d.read(STATE_FILE, Kind::State) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(ReceiptState::empty(gid)),
        Err(e) => return Err(io_err("read the receipt state", &path, e)),
    };
    ReceiptState::parse(&String::from_utf8_lossy(&bytes))
        .and_then(|s| s.check_drift(gid).map(|()| s))
        .map_err(|source| MailboxError::State {
            gid: gid.clone(),
            path,
            source,
        })
}

/// Writes `bytes` as `<dir>/<name>` via a writer-named temp (`entwurf_fs::temp_name`) and an
/// atomic replace (see [`MailboxDir::write_atomic`]), mode 0600. No fsync (as the reference):
/// a receipt stamp is a hint, and the atomic replace keeps the old state.json whole if we crash.
pub(crate) fn write_atomic_0600(
    d: &MailboxDir,
    name: &str,
    bytes: &[u8],
    how: Replace,
) -> Result<(), MailboxError> {
    d.write_atomic(name, Kind::State, bytes, how)
        .map_err(|e| io_err("write the receipt state", &d.join(name), e))
}

#[cfg(test)]
mod tests {
    use super::*;

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
