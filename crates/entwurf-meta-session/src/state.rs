//! The receipt state file `<mailbox>/<gid>/state.json`: the one type, serialiser and strict
//! parser (with the reference's error texts) for that format, the reader (absent → all-null),
//! and the v1 receipt migration an upsert attach runs. The mailbox crate builds its stamping
//! (enqueue / drain receipts) on top of these. Bytes: key order `schemaVersion, gardenId,
//! lastEnqueuedAt, lastDeliveredAt, lastReadAt`, pretty JSON + `"\n"`, 0600, tmp + rename.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::record::{require_garden_id_value, require_nullable, Got, RecordParseError};
use crate::{GardenId, V1Receipts};
use entwurf_fs::{Kind, Publish, StoreDir};

const STATE_KEYS: [&str; 5] = ReceiptState::KEYS;

/// A citizen's mailbox receipt state. Field order is the file's key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptState {
    /// Always 1.
    pub schema_version: u32,
    /// The mailbox owner; must equal the directory name.
    pub garden_id: GardenId,
    /// Last successful enqueue (ISO UTC), stamped by the sender.
    pub last_enqueued_at: Option<String>,
    /// Schema slot only: nothing in the live path stamps it (the `.msg.delivered` rename is the
    /// delivery evidence).
    pub last_delivered_at: Option<String>,
    /// Last drain that returned at least one message: the read receipt.
    pub last_read_at: Option<String>,
}

impl ReceiptState {
    /// The only schema version of `state.json`.
    pub const SCHEMA_VERSION: u32 = 1;

    /// The file name of the receipt state inside a citizen's mailbox.
    pub const FILE_NAME: &'static str = "state.json";

    /// The exact key set, in serialization order.
    pub const KEYS: [&'static str; 5] = [
        "schemaVersion",
        "gardenId",
        "lastEnqueuedAt",
        "lastDeliveredAt",
        "lastReadAt",
    ];

    /// The never-stamped state (all timestamps null): what an absent file reads as.
    pub fn empty(gid: &GardenId) -> Self {
        Self {
            schema_version: Self::SCHEMA_VERSION,
            garden_id: gid.clone(),
            last_enqueued_at: None,
            last_delivered_at: None,
            last_read_at: None,
        }
    }

    /// The file text: pretty JSON (2-space indent) plus a trailing `\n`.
    pub fn to_file_string(&self) -> String {
        // Serializing plain strings and options cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The file bytes ([`ReceiptState::to_file_string`] as UTF-8).
    pub fn to_file_bytes(&self) -> Vec<u8> {
        self.to_file_string().into_bytes()
    }

    /// Parses and validates a `state.json` body (no drift check: see
    /// [`ReceiptState::check_drift`]). Checks run in the reference's order: JSON, object,
    /// version, stray keys, gardenId, timestamps.
    pub fn parse(text: &str) -> Result<ReceiptState, ReceiptStateError> {
        let raw: Value =
            serde_json::from_str(text).map_err(|e| ReceiptStateError::InvalidJson {
                detail: e.to_string(),
            })?;
        let obj = match raw {
            Value::Object(m) => m,
            other => {
                return Err(ReceiptStateError::NotAnObject {
                    got: Got::of(Some(&other)),
                })
            }
        };
        if obj.get("schemaVersion").and_then(Value::as_f64) != Some(f64::from(Self::SCHEMA_VERSION))
        {
            return Err(ReceiptStateError::SchemaVersion {
                got: Got::of(obj.get("schemaVersion")),
            });
        }
        let stray: Vec<String> = obj
            .keys()
            .filter(|k| !STATE_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        if !stray.is_empty() {
            return Err(ReceiptStateError::UnexpectedKeys { keys: stray });
        }
        Ok(ReceiptState {
            schema_version: Self::SCHEMA_VERSION,
            garden_id: require_garden_id_value(obj.get("gardenId"))?,
            last_enqueued_at: require_nullable(obj.get("lastEnqueuedAt"), "lastEnqueuedAt")?,
            last_delivered_at: require_nullable(obj.get("lastDeliveredAt"), "lastDeliveredAt")?,
            last_read_at: require_nullable(obj.get("lastReadAt"), "lastReadAt")?,
        })
    }

    /// Rejects a state whose body names another garden id than the directory `dir_gid` it was
    /// read from.
    pub fn check_drift(&self, dir_gid: &GardenId) -> Result<(), ReceiptStateError> {
        if &self.garden_id == dir_gid {
            Ok(())
        } else {
            Err(ReceiptStateError::Drift {
                body: self.garden_id.clone(),
                dir: dir_gid.clone(),
            })
        }
    }
}

/// `state.json` is unreadable or does not match the schema. Texts follow the reference.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptStateError {
    /// Not JSON.
    #[error("mailbox receipt state is not valid JSON: {detail}")]
    InvalidJson {
        /// The parser's message.
        detail: String,
    },
    /// Not an object.
    #[error("mailbox receipt state must be a JSON object (got {got}).")]
    NotAnObject {
        /// What it was.
        got: Got,
    },
    /// `schemaVersion` ≠ 1.
    #[error("mailbox receipt state \"schemaVersion\" must be 1 (got {got}).")]
    SchemaVersion {
        /// What it was.
        got: Got,
    },
    /// Keys outside the exact set.
    #[error(
        "mailbox receipt state carries unexpected key(s) {} (allowed: {}).",
        keys.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", "),
        STATE_KEYS.join(", ")
    )]
    UnexpectedKeys {
        /// The stray keys.
        keys: Vec<String>,
    },
    /// A field breaks its rule (record-layer texts).
    #[error(transparent)]
    Field(#[from] RecordParseError),
    /// The body names another citizen than its directory. (The reference prints the literal
    /// `<mailbox>` instead of the real root.)
    #[error("mailbox receipt state body/path gardenId drift — body gardenId={body}, read from <mailbox>/{dir}/state.json.")]
    Drift {
        /// The body's gardenId.
        body: GardenId,
        /// The directory's gid.
        dir: GardenId,
    },
    /// The file could not be read or written.
    #[error("could not {op} {}", path.display())]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// `<mailbox>/<gid>/state.json`.
pub fn receipt_state_path(mailbox_dir: &Path, gid: &GardenId) -> PathBuf {
    mailbox_dir.join(gid.as_str()).join(ReceiptState::FILE_NAME)
}

/// Reads `<mailbox>/<gid>/state.json`; an absent file is the all-null state.
pub fn read_receipt_state(
    mailbox_dir: &Path,
    gid: &GardenId,
) -> Result<ReceiptState, ReceiptStateError> {
    let path = receipt_state_path(mailbox_dir, gid);
    let io = |source| ReceiptStateError::Io {
        op: "read",
        path: path.clone(),
        source,
    };
    // `<gid>` and `state.json` are opened without following links (the mailbox root may be one).
    let Some(dir) = StoreDir::open_child(mailbox_dir, gid.as_str()).map_err(io)? else {
        return Ok(ReceiptState::empty(gid));
    };
    match dir.read(ReceiptState::FILE_NAME, Kind::State).map_err(io)? {
        Some(bytes) => {
            let state = ReceiptState::parse(&String::from_utf8_lossy(&bytes))?;
            state.check_drift(gid)?;
            Ok(state)
        }
        None => Ok(ReceiptState::empty(gid)),
    }
}

/// Merges a v1 record's receipts into `state.json`: `state[f] = state[f] ?? v1[f]` for the three
/// timestamps (existing state wins). Writes (mkdir -p, tmp + rename, 0600) only when a field
/// changes; returns the new state then, or `None` when nothing changed (no file is created).
pub fn migrate_v1_receipts(
    mailbox_dir: &Path,
    gid: &GardenId,
    v1: &V1Receipts,
) -> Result<Option<ReceiptState>, ReceiptStateError> {
    let current = read_receipt_state(mailbox_dir, gid)?;
    let mut next = current.clone();
    if next.last_enqueued_at.is_none() {
        next.last_enqueued_at = v1.last_enqueued_at.clone();
    }
    if next.last_delivered_at.is_none() {
        next.last_delivered_at = v1.last_delivered_at.clone();
    }
    if next.last_read_at.is_none() {
        next.last_read_at = v1.last_read_at.clone();
    }
    if next == current {
        return Ok(None);
    }
    let path = receipt_state_path(mailbox_dir, gid);
    let dir = StoreDir::open_or_create_child(mailbox_dir, gid.as_str()).map_err(|source| {
        ReceiptStateError::Io {
            op: "create directory",
            path: mailbox_dir.join(gid.as_str()),
            source,
        }
    })?;
    dir.write_atomic(
        ReceiptState::FILE_NAME,
        Kind::State,
        &next.to_file_bytes(),
        Publish::Replace,
        true,
    )
    .map_err(|source| ReceiptStateError::Io {
        op: "write",
        path: path.clone(),
        source,
    })?;
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn got_matches_js_typeof_wording() {
        let got = |v: Option<&Value>| Got::of(v).to_string();
        assert_eq!(got(None), "undefined");
        assert_eq!(got(Some(&Value::Null)), "null");
        assert_eq!(got(Some(&serde_json::json!("2"))), "string \"2\"");
        assert_eq!(got(Some(&serde_json::json!(2))), "number");
        assert_eq!(got(Some(&serde_json::json!([]))), "object");
        assert_eq!(got(Some(&serde_json::json!(true))), "boolean");
    }
}
