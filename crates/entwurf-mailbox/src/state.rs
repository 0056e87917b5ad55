//! The receipt state file `<mailboxDir>/<gid>/state.json`: parse (strict, with the reference's
//! error texts), serialize (byte-compatible), read (absent → all-null) and stamp (one field,
//! read-modify-write, tmp + rename, mode 0600).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use entwurf_meta_session::{is_valid_garden_id, GardenId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{io_err, MailboxError};
use entwurf_meta_session::iso_millis;

/// The only schema version of `state.json`.
pub const STATE_SCHEMA_VERSION: u32 = 1;

/// The file name of the receipt state inside a mailbox.
pub const STATE_FILE: &str = "state.json";

/// The exact key set, in serialization order.
pub const STATE_KEYS: [&str; 5] = [
    "schemaVersion",
    "gardenId",
    "lastEnqueuedAt",
    "lastDeliveredAt",
    "lastReadAt",
];

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
    /// The never-stamped state (all timestamps null).
    pub fn empty(gid: &GardenId) -> Self {
        Self {
            schema_version: STATE_SCHEMA_VERSION,
            garden_id: gid.clone(),
            last_enqueued_at: None,
            last_delivered_at: None,
            last_read_at: None,
        }
    }

    /// The file bytes: pretty JSON (2-space indent) plus a trailing `\n`.
    pub fn to_file_string(&self) -> String {
        // Serializing plain strings and options cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Returns a copy with `field` set to `value`.
    pub fn with(&self, field: ReceiptField, value: String) -> Self {
        let mut next = self.clone();
        match field {
            ReceiptField::LastEnqueuedAt => next.last_enqueued_at = Some(value),
            ReceiptField::LastDeliveredAt => next.last_delivered_at = Some(value),
            ReceiptField::LastReadAt => next.last_read_at = Some(value),
        }
        next
    }
}

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

/// Why a `state.json` body is rejected. Display texts are the reference's, verbatim (the drift
/// text really contains the characters `<mailbox>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not JSON at all.
    #[error("mailbox receipt state is not valid JSON: {detail}")]
    NotJson {
        /// The parser's message.
        detail: String,
    },
    /// JSON, but not an object.
    #[error("mailbox receipt state must be a JSON object (got {got}).")]
    NotObject {
        /// JS-style description of what was found.
        got: String,
    },
    /// `schemaVersion` is not the number 1.
    #[error("mailbox receipt state \"schemaVersion\" must be 1 (got {got}).")]
    BadVersion {
        /// JS-style description of what was found.
        got: String,
    },
    /// Keys outside the exact key set.
    #[error("mailbox receipt state carries unexpected key(s) {} (allowed: {}).", quoted(.keys), STATE_KEYS.join(", "))]
    UnexpectedKeys {
        /// The stray keys, in file order.
        keys: Vec<String>,
    },
    /// `gardenId` is not a non-empty string.
    #[error("meta-record field \"gardenId\" must be a non-empty string (got {got}).")]
    GardenIdNotString {
        /// JS-style description of what was found.
        got: String,
    },
    /// `gardenId` does not match the grammar.
    #[error(
        "meta-record \"gardenId\" must match YYYYMMDDTHHMMSS-[0-9a-f]{{6}} (got \"{value}\")."
    )]
    GardenIdGrammar {
        /// The rejected value.
        value: String,
    },
    /// A timestamp is neither null nor a non-empty string.
    #[error("meta-record field \"{field}\" must be a non-empty string or null (got {got}).")]
    BadTimestamp {
        /// The field.
        field: &'static str,
        /// JS-style description of what was found.
        got: String,
    },
    /// The body names another garden id than the directory it was read from.
    #[error("mailbox receipt state body/path gardenId drift — body gardenId={body}, read from <mailbox>/{dir}/state.json.")]
    Drift {
        /// The gid inside the file.
        body: String,
        /// The mailbox directory's gid.
        dir: String,
    },
}

fn quoted(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Describes a JSON value the way the reference's messages do (`null`, `string "x"`, `number`,
/// `boolean`, `object`; `undefined` for a missing key).
pub(crate) fn describe(v: Option<&Value>) -> String {
    match v {
        None => "undefined".to_owned(),
        Some(Value::Null) => "null".to_owned(),
        Some(Value::String(s)) => format!("string {}", Value::String(s.clone())),
        Some(Value::Number(_)) => "number".to_owned(),
        Some(Value::Bool(_)) => "boolean".to_owned(),
        Some(Value::Array(_) | Value::Object(_)) => "object".to_owned(),
    }
}

/// Parses and validates a `state.json` body (no drift check: see [`check_drift`]).
/// Checks run in the reference's order: JSON, object, version, stray keys, gid, timestamps.
pub fn parse_state(text: &str) -> Result<ReceiptState, StateError> {
    let raw: Value = serde_json::from_str(text).map_err(|e| StateError::NotJson {
        detail: e.to_string(),
    })?;
    let Value::Object(obj) = &raw else {
        return Err(StateError::NotObject {
            got: describe(Some(&raw)),
        });
    };
    let version = obj.get("schemaVersion");
    if version.and_then(Value::as_f64) != Some(f64::from(STATE_SCHEMA_VERSION)) {
        return Err(StateError::BadVersion {
            got: describe(version),
        });
    }
    let stray: Vec<String> = obj
        .keys()
        .filter(|k| !STATE_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    if !stray.is_empty() {
        return Err(StateError::UnexpectedKeys { keys: stray });
    }
    let gid = match obj.get("gardenId") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return Err(StateError::GardenIdNotString {
                got: describe(other),
            })
        }
    };
    let garden_id = if is_valid_garden_id(&gid) {
        GardenId::parse(&gid).map_err(|_| StateError::GardenIdGrammar { value: gid.clone() })?
    } else {
        return Err(StateError::GardenIdGrammar { value: gid });
    };
    let ts = |field: &'static str| -> Result<Option<String>, StateError> {
        match obj.get(field) {
            Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            other => Err(StateError::BadTimestamp {
                field,
                got: describe(other),
            }),
        }
    };
    Ok(ReceiptState {
        schema_version: STATE_SCHEMA_VERSION,
        garden_id,
        last_enqueued_at: ts("lastEnqueuedAt")?,
        last_delivered_at: ts("lastDeliveredAt")?,
        last_read_at: ts("lastReadAt")?,
    })
}

/// Rejects a state whose body names another garden id than `dir_gid`.
pub fn check_drift(state: &ReceiptState, dir_gid: &GardenId) -> Result<(), StateError> {
    if &state.garden_id == dir_gid {
        Ok(())
    } else {
        Err(StateError::Drift {
            body: state.garden_id.to_string(),
            dir: dir_gid.to_string(),
        })
    }
}

/// `<mailbox_dir>/<gid>/state.json`.
pub fn state_path(mailbox_dir: &Path, gid: &GardenId) -> PathBuf {
    mailbox_dir.join(gid.as_str()).join(STATE_FILE)
}

/// Reads a citizen's receipt state; an absent file is the all-null state.
pub fn read_state(mailbox_dir: &Path, gid: &GardenId) -> Result<ReceiptState, MailboxError> {
    let path = state_path(mailbox_dir, gid);
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ReceiptState::empty(gid)),
        Err(e) => return Err(io_err("read the receipt state", &path, e)),
    };
    let state = parse_state(&text)
        .and_then(|s| check_drift(&s, gid).map(|()| s))
        .map_err(|source| MailboxError::State {
            gid: gid.clone(),
            path: path.clone(),
            source,
        })?;
    Ok(state)
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
    let updated = current.with(field, iso_millis(now));
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
        f.write_all(bytes)?;
        f.sync_data()?;
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

    #[test]
    fn describe_matches_js_typeof_wording() {
        assert_eq!(describe(None), "undefined");
        assert_eq!(describe(Some(&Value::Null)), "null");
        assert_eq!(describe(Some(&serde_json::json!("2"))), "string \"2\"");
        assert_eq!(describe(Some(&serde_json::json!(2))), "number");
        assert_eq!(describe(Some(&serde_json::json!([]))), "object");
        assert_eq!(describe(Some(&serde_json::json!(true))), "boolean");
    }
}
