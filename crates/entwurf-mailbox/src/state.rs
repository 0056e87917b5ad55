//! Stamping the receipt state file `<mailboxDir>/<gid>/state.json` (one field,
//! read-modify-write, tmp + rename, mode 0600). The format itself — [`ReceiptState`], its
//! serialiser, strict parser and reader — is owned by `entwurf-meta-session`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use entwurf_meta_session::{iso_millis, GardenId, ReceiptState, ReceiptStateError};

use crate::error::{io_err, MailboxError};

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
/// writing through a unique tmp file and a rename at mode 0600. Returns the new state.
///
/// There is no lock: concurrent stamps race and the last writer wins (as in the reference);
/// readers never see a half-written file.
pub fn stamp_state(
    mailbox_dir: &Path,
    gid: &GardenId,
    field: ReceiptField,
    now: DateTime<Utc>,
) -> Result<ReceiptState, MailboxError> {
    let current = read_state(mailbox_dir, gid)?;
    let updated = field.stamped(&current, iso_millis(now));
    let path = state_path(mailbox_dir, gid);
    let dir = mailbox_dir.join(gid.as_str());
    std::fs::create_dir_all(&dir).map_err(|e| crate::error::mkdir_err(&dir, e))?;
    write_atomic_0600(&path, updated.to_file_string().as_bytes())?;
    Ok(updated)
}

/// Writes `bytes` to `path` via `<path>.tmp-<pid>-<epochMillis>-<4 hex>` + rename, mode 0600.
pub(crate) fn write_atomic_0600(path: &Path, bytes: &[u8]) -> Result<(), MailboxError> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".tmp-{}-{}-{:04x}",
        std::process::id(),
        Utc::now().timestamp_millis(),
        rand::random::<u16>()
    ));
    let tmp = PathBuf::from(name);
    let result = (|| {
        let mut f = crate::fsio::create_new_0600(&tmp)?;
        // No fsync (as the reference): a receipt stamp is a hint, and the rename keeps the old
        // state.json whole if we crash.
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err("write the receipt state", path, e));
    }
    Ok(())
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
