//! The meta record (`<sessionsDir>/<gid>.meta.json`): the v2 model, the dual-read (v1/v2)
//! parser with the reference's exact error texts, and the canonical serialisation.
//!
//! Pure: no IO here. The store functions live in `store.rs`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{is_valid_garden_id, Backend, GardenId, WakeMode};

/// A v2 meta record. Field order is the serialisation order and must not change: the file is
/// byte-compatible with the reference (`serde_json::to_string_pretty` + `"\n"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetaRecord {
    /// Always 2 when written.
    pub schema_version: u32,
    /// The citizen's garden id; equals the file stem.
    pub garden_id: GardenId,
    /// The citizen's backend.
    pub backend: Backend,
    /// The backend's own session id (the upsert key).
    pub native_session_id: String,
    /// Working directory, non-empty.
    pub cwd: String,
    /// Model, `null` or non-empty.
    pub model: Option<String>,
    /// Transcript path, `null` or non-empty.
    pub transcript_path: Option<String>,
    /// Parent garden id, `null` or a valid gid.
    pub parent_garden_id: Option<GardenId>,
    /// Whether the citizen was spawned by entwurf.
    pub is_entwurf: bool,
    /// ISO-8601 UTC creation time.
    pub created_at: String,
    /// ISO-8601 UTC time of the last write (not a liveness signal).
    pub record_updated_at: String,
}

/// The schema version every written record carries.
pub const RECORD_SCHEMA_VERSION: u32 = 2;

/// The exact v2 key set, in wire order.
pub const RECORD_V2_KEYS: [&str; 11] = [
    "schemaVersion",
    "gardenId",
    "backend",
    "nativeSessionId",
    "cwd",
    "model",
    "transcriptPath",
    "parentGardenId",
    "isEntwurf",
    "createdAt",
    "recordUpdatedAt",
];

impl MetaRecord {
    /// A citizen's record as its first upsert writes it: schema v2, no model, transcript or
    /// parent, not spawned by entwurf, created and last written `at` (an ISO-8601 UTC stamp,
    /// see [`iso_millis`]).
    pub fn new(
        garden_id: GardenId,
        backend: Backend,
        native_session_id: impl Into<String>,
        cwd: impl Into<String>,
        at: impl Into<String>,
    ) -> Self {
        let at = at.into();
        MetaRecord {
            schema_version: RECORD_SCHEMA_VERSION,
            garden_id,
            backend,
            native_session_id: native_session_id.into(),
            cwd: cwd.into(),
            model: None,
            transcript_path: None,
            parent_garden_id: None,
            is_entwurf: false,
            created_at: at.clone(),
            record_updated_at: at,
        }
    }

    /// The canonical file bytes: 2-space pretty JSON in field order plus one `"\n"`.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        // Serialising a plain struct of strings/bools/options cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s.into_bytes()
    }

    /// The file name, `<gid>.meta.json`.
    pub fn file_name(&self) -> String {
        record_file_name(&self.garden_id)
    }
}

/// `<gid>.meta.json`.
pub fn record_file_name(gid: &GardenId) -> String {
    format!("{gid}.meta.json")
}

/// Formats an instant the way the reference's `Date.toISOString()` does:
/// `2026-06-12T10:00:00.000Z` (UTC, milliseconds, `Z`). Every JSON timestamp uses this.
pub fn iso_millis(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
        // Signed, wider years and chrono's leap-second representation (never produced from a
        // system clock): chrono's own rendering.
        return t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    }
    // Digit by digit into a fixed buffer: every stamp on the dispatch path goes through here,
    // and a strftime pattern is re-parsed on every call.
    let millis = t.nanosecond() / 1_000_000;
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 3, millis);
    out.iter().map(|&b| char::from(b)).collect()
}

/// How a rejected JSON value is described in error texts (the reference's `describe`):
/// `undefined`, `null`, `string "<json>"`, or the bare JavaScript type name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    /// The key is absent.
    Undefined,
    /// `null`.
    Null,
    /// A string (shown JSON-quoted).
    String(String),
    /// Any number (the value is not shown).
    Number,
    /// `true`/`false` (the value is not shown).
    Boolean,
    /// An object or an array (JavaScript calls both `object`).
    Object,
}

impl Got {
    /// Describes an optional JSON value (`None` = absent key).
    pub fn of(v: Option<&Value>) -> Got {
        match v {
            None => Got::Undefined,
            Some(Value::Null) => Got::Null,
            Some(Value::String(s)) => Got::String(s.clone()),
            Some(Value::Number(_)) => Got::Number,
            Some(Value::Bool(_)) => Got::Boolean,
            Some(Value::Array(_)) | Some(Value::Object(_)) => Got::Object,
        }
    }
}

impl fmt::Display for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Got::Undefined => f.write_str("undefined"),
            Got::Null => f.write_str("null"),
            Got::String(s) => write!(f, "string {}", json_quote(s)),
            Got::Number => f.write_str("number"),
            Got::Boolean => f.write_str("boolean"),
            Got::Object => f.write_str("object"),
        }
    }
}

fn json_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn quoted_list(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The backend list a value was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendSet {
    /// v2 records: `claude-code | antigravity | codex | pi`.
    V2,
    /// v1 records and markers: `claude-code | antigravity | codex`.
    MarkerV1,
}

impl fmt::Display for BackendSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendSet::V2 => "claude-code | antigravity | codex | pi",
            BackendSet::MarkerV1 => "claude-code | antigravity | codex",
        })
    }
}

/// A record body (or an upsert/marker input) breaks the schema. The `Display` text is the
/// reference's message, word for word (the golden corpus pins it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordParseError {
    /// Not JSON at all. `detail` is the parser's own text (it differs from V8's).
    #[error("meta-record is not valid JSON: {detail}")]
    InvalidJson {
        /// The JSON parser's message.
        detail: String,
    },
    /// Valid JSON but not an object (arrays and `null` included).
    #[error("meta-record must be a JSON object (got {got}).")]
    NotAnObject {
        /// What it was.
        got: Got,
    },
    /// `schemaVersion` is neither 1 nor 2.
    #[error("meta-record \"schemaVersion\" must be 1 or 2 (got {got}).")]
    SchemaVersion {
        /// What it was.
        got: Got,
    },
    /// A v2 body carries keys outside the exact v2 key set.
    #[error(
        "v2 meta-record carries unexpected key(s) {} (allowed: {}). Stale v1 fields (delivery/lastSeen) or unknown keys are rejected.",
        quoted_list(keys),
        RECORD_V2_KEYS.join(", ")
    )]
    UnexpectedKeys {
        /// The stray keys, in body order.
        keys: Vec<String>,
    },
    /// A required string is missing, not a string, or empty.
    #[error("meta-record field \"{field}\" must be a non-empty string (got {got}).")]
    NotNonEmptyString {
        /// The JSON key.
        field: &'static str,
        /// What it was.
        got: Got,
    },
    /// A nullable string is neither `null` nor a non-empty string.
    #[error("meta-record field \"{field}\" must be a non-empty string or null (got {got}).")]
    NotNullableString {
        /// The JSON key.
        field: &'static str,
        /// What it was.
        got: Got,
    },
    /// A boolean field is not a boolean.
    #[error("meta-record field \"{field}\" must be a boolean (got {got}).")]
    NotBoolean {
        /// The JSON key.
        field: &'static str,
        /// What it was.
        got: Got,
    },
    /// `backend` is not in the allowed set.
    #[error("meta-record \"backend\" must be one of {allowed} (got {got}).")]
    Backend {
        /// The set it was checked against.
        allowed: BackendSet,
        /// What it was.
        got: Got,
    },
    /// `gardenId` is a non-empty string that breaks the grammar.
    #[error(
        "meta-record \"gardenId\" must match YYYYMMDDTHHMMSS-[0-9a-f]{{6}} (got \"{value}\")."
    )]
    GardenId {
        /// The rejected value.
        value: String,
    },
    /// `parentGardenId` is a non-empty string that breaks the grammar.
    #[error(
        "meta-record \"parentGardenId\" must be null or match YYYYMMDDTHHMMSS-[0-9a-f]{{6}} (got \"{value}\")."
    )]
    ParentGardenId {
        /// The rejected value.
        value: String,
    },
    /// v1: `delivery` is not an object.
    #[error("meta-record \"delivery\" must be an object (got {got}).")]
    DeliveryNotObject {
        /// What it was.
        got: Got,
    },
    /// v1: `delivery.wakeMode` is not one of the two wake modes.
    #[error(
        "meta-record \"delivery.wakeMode\" must be self-fetch | direct-inject (got \"{value}\")."
    )]
    WakeModeUnknown {
        /// The rejected value.
        value: String,
    },
    /// v1: `delivery.wakeMode` contradicts the registry's wake mode for the backend.
    #[error(
        "meta-record \"delivery.wakeMode\" ({stored}) contradicts backend \"{backend}\" (canonical {canonical}). Delivery mode is backend-determined; this record is corrupt."
    )]
    WakeModeContradicts {
        /// The stored wake mode.
        stored: &'static str,
        /// The record's backend.
        backend: Backend,
        /// The registry's wake mode for that backend.
        canonical: &'static str,
    },
}

/// The three receipt timestamps a v1 record carried in `delivery` (moved to `state.json` in v2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct V1Receipts {
    /// `delivery.lastEnqueuedAt`.
    pub last_enqueued_at: Option<String>,
    /// `delivery.lastDeliveredAt`.
    pub last_delivered_at: Option<String>,
    /// `delivery.lastReadAt`.
    pub last_read_at: Option<String>,
}

/// A parsed record file: always normalised to v2, plus the v1 receipts when the file was v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The v2 view of the body.
    pub record: MetaRecord,
    /// `Some` when the file on disk is still schema v1 (its receipts must migrate on attach).
    pub v1_receipts: Option<V1Receipts>,
}

/// Dual-read parse of record file bytes, normalised to v2 (`lastSeen` → `recordUpdatedAt`,
/// `delivery` dropped, `model`/`parentGardenId` null, `isEntwurf` false for v1).
///
/// Invalid UTF-8 is replaced (as Node's `readFileSync(…, "utf8")` does) before JSON parsing.
pub fn parse_record_bytes(bytes: &[u8]) -> Result<MetaRecord, RecordParseError> {
    parse_stored_record(bytes).map(|s| s.record)
}

/// Like [`parse_record_bytes`], but also tells whether the file is v1 and carries its receipts.
pub fn parse_stored_record(bytes: &[u8]) -> Result<StoredRecord, RecordParseError> {
    if let Some(record) = parse_exact_v2(bytes) {
        return Ok(StoredRecord {
            record,
            v1_receipts: None,
        });
    }
    parse_checked(bytes)
}

/// A v2 body exactly as writers produce it: all eleven keys, no other key, no key twice, valid
/// UTF-8, `schemaVersion` the integer 2. Decoded straight into owned fields, without building a
/// JSON tree. Serde's implicit `null` default for missing `Option` fields is switched off
/// (`deserialize_with`), so an absent key is a decode failure, as the checked parser demands.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExactV2 {
    schema_version: u32,
    garden_id: String,
    backend: String,
    native_session_id: String,
    cwd: String,
    #[serde(deserialize_with = "present_option")]
    model: Option<String>,
    #[serde(deserialize_with = "present_option")]
    transcript_path: Option<String>,
    #[serde(deserialize_with = "present_option")]
    parent_garden_id: Option<String>,
    is_entwurf: bool,
    created_at: String,
    record_updated_at: String,
}

fn present_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// The fast path of [`parse_stored_record`]: `Some` only for a body the checked parser accepts
/// as v2 with the same result. Everything else (v1, a broken or unusual body) returns `None`
/// and goes through [`parse_checked`], which also words the error.
fn parse_exact_v2(bytes: &[u8]) -> Option<MetaRecord> {
    let raw: ExactV2 = serde_json::from_slice(bytes).ok()?;
    let non_empty = |s: &String| !s.is_empty();
    let nullable = |o: &Option<String>| o.as_ref().is_none_or(non_empty);
    let plain = raw.schema_version == RECORD_SCHEMA_VERSION
        && non_empty(&raw.native_session_id)
        && non_empty(&raw.cwd)
        && non_empty(&raw.created_at)
        && non_empty(&raw.record_updated_at)
        && nullable(&raw.model)
        && nullable(&raw.transcript_path);
    if !plain {
        return None;
    }
    let parent_garden_id = match raw.parent_garden_id {
        None => None,
        Some(p) => Some(validate_parent(&p).ok()?),
    };
    Some(MetaRecord {
        schema_version: RECORD_SCHEMA_VERSION,
        garden_id: GardenId::parse(&raw.garden_id).ok()?,
        backend: raw.backend.parse::<Backend>().ok()?,
        native_session_id: raw.native_session_id,
        cwd: raw.cwd,
        model: raw.model,
        transcript_path: raw.transcript_path,
        parent_garden_id,
        is_entwurf: raw.is_entwurf,
        created_at: raw.created_at,
        record_updated_at: raw.record_updated_at,
    })
}

/// The checked dual-read parser: every rule, in the reference's order, with its error text.
fn parse_checked(bytes: &[u8]) -> Result<StoredRecord, RecordParseError> {
    let text = String::from_utf8_lossy(bytes);
    let raw: Value = serde_json::from_str(&text).map_err(|e| RecordParseError::InvalidJson {
        detail: e.to_string(),
    })?;
    let obj = match raw {
        Value::Object(map) => map,
        other => {
            return Err(RecordParseError::NotAnObject {
                got: Got::of(Some(&other)),
            })
        }
    };
    match schema_version(obj.get("schemaVersion")) {
        Some(1) => parse_v1(&obj),
        Some(2) => parse_v2(&obj).map(|record| StoredRecord {
            record,
            v1_receipts: None,
        }),
        _ => Err(RecordParseError::SchemaVersion {
            got: Got::of(obj.get("schemaVersion")),
        }),
    }
}

fn schema_version(v: Option<&Value>) -> Option<u8> {
    let n = v?.as_f64()?;
    if n == 1.0 {
        Some(1)
    } else if n == 2.0 {
        Some(2)
    } else {
        None
    }
}

fn parse_v2(obj: &Map<String, Value>) -> Result<MetaRecord, RecordParseError> {
    let stray: Vec<String> = obj
        .keys()
        .filter(|k| !RECORD_V2_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    if !stray.is_empty() {
        return Err(RecordParseError::UnexpectedKeys { keys: stray });
    }
    Ok(MetaRecord {
        schema_version: RECORD_SCHEMA_VERSION,
        garden_id: require_garden_id_value(obj.get("gardenId"))?,
        backend: require_backend(obj.get("backend"), BackendSet::V2)?,
        native_session_id: require_non_empty(obj.get("nativeSessionId"), "nativeSessionId")?,
        cwd: require_non_empty(obj.get("cwd"), "cwd")?,
        model: require_nullable(obj.get("model"), "model")?,
        transcript_path: require_nullable(obj.get("transcriptPath"), "transcriptPath")?,
        parent_garden_id: require_nullable_parent(obj.get("parentGardenId"))?,
        is_entwurf: require_bool(obj.get("isEntwurf"), "isEntwurf")?,
        created_at: require_non_empty(obj.get("createdAt"), "createdAt")?,
        record_updated_at: require_non_empty(obj.get("recordUpdatedAt"), "recordUpdatedAt")?,
    })
}

fn parse_v1(obj: &Map<String, Value>) -> Result<StoredRecord, RecordParseError> {
    // Order of checks follows the reference's v1 parser (the first failure wins).
    let delivery = match obj.get("delivery") {
        Some(Value::Object(d)) => d,
        other => {
            return Err(RecordParseError::DeliveryNotObject {
                got: Got::of(other),
            })
        }
    };
    let backend = require_backend(obj.get("backend"), BackendSet::MarkerV1)?;
    let wake = require_non_empty(delivery.get("wakeMode"), "delivery.wakeMode")?;
    let stored = match wake.as_str() {
        "self-fetch" => WakeMode::SelfFetch,
        "direct-inject" => WakeMode::DirectInject,
        _ => return Err(RecordParseError::WakeModeUnknown { value: wake }),
    };
    let canonical = backend.capability().wake_mode;
    if stored != canonical {
        return Err(RecordParseError::WakeModeContradicts {
            stored: stored.as_str(),
            backend,
            canonical: canonical.as_str(),
        });
    }
    let garden_id = require_garden_id_value(obj.get("gardenId"))?;
    let native_session_id = require_non_empty(obj.get("nativeSessionId"), "nativeSessionId")?;
    let transcript_path = require_non_empty(obj.get("transcriptPath"), "transcriptPath")?;
    let cwd = require_non_empty(obj.get("cwd"), "cwd")?;
    let created_at = require_non_empty(obj.get("createdAt"), "createdAt")?;
    let last_seen = require_non_empty(obj.get("lastSeen"), "lastSeen")?;
    require_non_empty(delivery.get("deliveryLevel"), "delivery.deliveryLevel")?;
    let receipts = V1Receipts {
        last_enqueued_at: require_nullable(
            delivery.get("lastEnqueuedAt"),
            "delivery.lastEnqueuedAt",
        )?,
        last_delivered_at: require_nullable(
            delivery.get("lastDeliveredAt"),
            "delivery.lastDeliveredAt",
        )?,
        last_read_at: require_nullable(delivery.get("lastReadAt"), "delivery.lastReadAt")?,
    };
    Ok(StoredRecord {
        record: MetaRecord {
            schema_version: RECORD_SCHEMA_VERSION,
            garden_id,
            backend,
            native_session_id,
            cwd,
            model: None,
            transcript_path: Some(transcript_path),
            parent_garden_id: None,
            is_entwurf: false,
            created_at,
            record_updated_at: last_seen,
        },
        v1_receipts: Some(receipts),
    })
}

pub(crate) fn require_non_empty(
    v: Option<&Value>,
    field: &'static str,
) -> Result<String, RecordParseError> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        other => Err(RecordParseError::NotNonEmptyString {
            field,
            got: Got::of(other),
        }),
    }
}

pub(crate) fn require_nullable(
    v: Option<&Value>,
    field: &'static str,
) -> Result<Option<String>, RecordParseError> {
    match v {
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        other => Err(RecordParseError::NotNullableString {
            field,
            got: Got::of(other),
        }),
    }
}

fn require_bool(v: Option<&Value>, field: &'static str) -> Result<bool, RecordParseError> {
    match v {
        Some(Value::Bool(b)) => Ok(*b),
        other => Err(RecordParseError::NotBoolean {
            field,
            got: Got::of(other),
        }),
    }
}

pub(crate) fn require_backend(
    v: Option<&Value>,
    allowed: BackendSet,
) -> Result<Backend, RecordParseError> {
    let parsed = v
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Backend>().ok())
        .filter(|b| allowed == BackendSet::V2 || b.is_marker_backend());
    parsed.ok_or_else(|| RecordParseError::Backend {
        allowed,
        got: Got::of(v),
    })
}

pub(crate) fn require_garden_id_value(v: Option<&Value>) -> Result<GardenId, RecordParseError> {
    let s = require_non_empty(v, "gardenId")?;
    require_garden_id(&s)
}

/// Validates a garden id string with the reference's record-layer messages:
/// empty → `meta-record field "gardenId" must be a non-empty string (got string "").`,
/// otherwise a grammar failure → `meta-record "gardenId" must match … (got "<value>").`
pub fn require_garden_id(s: &str) -> Result<GardenId, RecordParseError> {
    if s.is_empty() {
        return Err(RecordParseError::NotNonEmptyString {
            field: "gardenId",
            got: Got::String(String::new()),
        });
    }
    GardenId::parse(s).map_err(|_| RecordParseError::GardenId {
        value: s.to_owned(),
    })
}

fn require_nullable_parent(v: Option<&Value>) -> Result<Option<GardenId>, RecordParseError> {
    match v {
        Some(Value::Null) => Ok(None),
        other => {
            let s = require_non_empty(other, "parentGardenId")?;
            validate_parent(&s).map(Some)
        }
    }
}

/// Validates a non-empty parent garden id string (`parentGardenId` message on failure).
pub(crate) fn validate_parent(s: &str) -> Result<GardenId, RecordParseError> {
    if s.is_empty() {
        return Err(RecordParseError::NotNonEmptyString {
            field: "parentGardenId",
            got: Got::String(String::new()),
        });
    }
    if !is_valid_garden_id(s) {
        return Err(RecordParseError::ParentGardenId {
            value: s.to_owned(),
        });
    }
    GardenId::parse(s).map_err(|_| RecordParseError::ParentGardenId {
        value: s.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const V2: &str = r#"{
  "schemaVersion": 2,
  "gardenId": "20260612T100000-aaaaaa",
  "backend": "claude-code",
  "nativeSessionId": "n",
  "cwd": "/c",
  "model": null,
  "transcriptPath": null,
  "parentGardenId": null,
  "isEntwurf": false,
  "createdAt": "t",
  "recordUpdatedAt": "t"
}
"#;

    #[test]
    fn v2_round_trips_byte_for_byte() {
        let r = parse_record_bytes(V2.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(r.to_file_bytes()).unwrap(), V2);
    }

    #[test]
    fn new_is_a_first_upserts_record() {
        let gid = GardenId::parse("20260612T100000-aaaaaa").unwrap();
        let r = MetaRecord::new(gid, Backend::ClaudeCode, "n", "/c", "t");
        assert_eq!(String::from_utf8(r.to_file_bytes()).unwrap(), V2);
    }

    #[rstest]
    #[case::array("[]", "meta-record must be a JSON object (got object).")]
    #[case::string("\"x\"", "meta-record must be a JSON object (got string \"x\").")]
    #[case::number("7", "meta-record must be a JSON object (got number).")]
    #[case::schema_zero(
        r#"{"schemaVersion":0}"#,
        "meta-record \"schemaVersion\" must be 1 or 2 (got number)."
    )]
    #[case::schema_bool(
        r#"{"schemaVersion":true}"#,
        "meta-record \"schemaVersion\" must be 1 or 2 (got boolean)."
    )]
    #[case::schema_null(
        r#"{"schemaVersion":null}"#,
        "meta-record \"schemaVersion\" must be 1 or 2 (got null)."
    )]
    fn rejects_with_reference_text(#[case] body: &str, #[case] want: &str) {
        assert_eq!(
            parse_record_bytes(body.as_bytes()).unwrap_err().to_string(),
            want
        );
    }

    fn golden_record(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/golden/records")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// [`V2`] with a stray 0xFF byte inside `cwd` (the checked parser replaces it, like Node).
    fn invalid_utf8_cwd() -> Vec<u8> {
        let at = V2.find("\"/c\"").unwrap() + 2;
        let mut body = V2.as_bytes().to_vec();
        body.insert(at + 1, 0xff);
        body
    }

    /// The fast path never decides differently from the checked parser: it either declines or
    /// returns exactly the record the checked parser returns.
    #[rstest]
    #[case::canonical(V2.as_bytes().to_vec(), true)]
    #[case::golden_full(golden_record("v2-full.meta.json"), true)]
    #[case::golden_nulls(golden_record("v2-nulls.meta.json"), true)]
    #[case::golden_attach(golden_record("v2-attach2.meta.json"), true)]
    #[case::golden_v1(golden_record("v1-legacy.meta.json"), false)]
    #[case::missing_model(V2.replace("  \"model\": null,\n", "").into_bytes(), false)]
    #[case::schema_float(V2.replace("\"schemaVersion\": 2", "\"schemaVersion\": 2.0").into_bytes(), false)]
    #[case::schema_one(V2.replace("\"schemaVersion\": 2", "\"schemaVersion\": 1").into_bytes(), false)]
    #[case::duplicate_key(V2.replace("\"cwd\": \"/c\",", "\"cwd\": \"/c\", \"cwd\": \"/d\",").into_bytes(), false)]
    #[case::stray_key(V2.replace("\"cwd\": \"/c\",", "\"cwd\": \"/c\", \"lastSeen\": \"t\",").into_bytes(), false)]
    #[case::empty_cwd(V2.replace("\"cwd\": \"/c\"", "\"cwd\": \"\"").into_bytes(), false)]
    #[case::empty_model(V2.replace("\"model\": null", "\"model\": \"\"").into_bytes(), false)]
    #[case::bad_parent(V2.replace("\"parentGardenId\": null", "\"parentGardenId\": \"nope\"").into_bytes(), false)]
    #[case::bad_gid(V2.replace("-aaaaaa", "-AAAAAA").into_bytes(), false)]
    #[case::bad_backend(V2.replace("claude-code", "claude").into_bytes(), false)]
    #[case::string_bool(V2.replace("\"isEntwurf\": false", "\"isEntwurf\": \"no\"").into_bytes(), false)]
    #[case::invalid_utf8(invalid_utf8_cwd(), false)]
    fn fast_path_agrees_with_checked_parser(#[case] body: Vec<u8>, #[case] fast: bool) {
        let quick = parse_exact_v2(&body);
        assert_eq!(quick.is_some(), fast, "fast path taken?");
        let checked = parse_checked(&body);
        match quick {
            Some(record) => assert_eq!(checked.unwrap().record, record),
            None => {
                // Declined bodies get the checked parser's own answer through the public entry.
                assert_eq!(parse_stored_record(&body), checked);
            }
        }
    }

    /// Every golden record, valid or corrupt: the fast path declines or agrees.
    #[test]
    fn fast_path_agrees_on_every_golden_record() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/golden/records");
        let mut seen = 0;
        for dir in [root.clone(), root.join("corrupt")] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if !path.to_string_lossy().ends_with(".meta.json") {
                    continue;
                }
                let body = std::fs::read(&path).unwrap();
                if let Some(record) = parse_exact_v2(&body) {
                    assert_eq!(
                        parse_checked(&body).unwrap().record,
                        record,
                        "{}",
                        path.display()
                    );
                }
                seen += 1;
            }
        }
        assert!(seen > 20, "golden records found: {seen}");
    }

    #[test]
    fn invalid_json_keeps_the_reference_prefix() {
        let err = parse_record_bytes(b"{ broken\n").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("meta-record is not valid JSON: "));
        let err = parse_record_bytes(b"").unwrap_err();
        assert!(matches!(err, RecordParseError::InvalidJson { .. }));
    }

    #[test]
    fn got_quotes_strings_as_json() {
        assert_eq!(
            Got::String("a\"b\n".into()).to_string(),
            r#"string "a\"b\n""#
        );
    }

    #[test]
    fn iso_millis_agrees_with_chrono_formatting() {
        // Every field boundary, leap days, a leap second, and years at both ends of the fast path.
        let cases = [
            "0000-01-01T00:00:00.000Z",
            "0001-02-03T04:05:06.007Z",
            "1970-01-01T00:00:00.000Z",
            "1999-12-31T23:59:59.999Z",
            "2024-02-29T12:34:56.789Z",
            "2026-11-25T19:08:51.100Z",
            "9999-12-31T23:59:59.999Z",
        ];
        for c in cases {
            let t = chrono::DateTime::parse_from_rfc3339(c)
                .unwrap()
                .with_timezone(&chrono::Utc);
            assert_eq!(iso_millis(t), c);
            assert_eq!(
                iso_millis(t),
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            );
        }
        let mut t = chrono::DateTime::parse_from_rfc3339("1969-07-20T20:17:40.000Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        for _ in 0..2_000 {
            t += chrono::Duration::milliseconds(86_399_999_937);
            assert_eq!(
                iso_millis(t),
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            );
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_milli_opt(23, 59, 59, 1_500)
            .unwrap()
            .and_utc();
        assert_eq!(
            iso_millis(leap),
            leap.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        );
        let far = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        assert_eq!(
            iso_millis(far),
            far.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        );
    }

    #[test]
    fn iso_millis_matches_to_iso_string() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-06-12T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(iso_millis(t), "2026-06-12T10:00:00.123Z");
    }

    #[rstest]
    #[case::empty(
        "",
        "meta-record field \"gardenId\" must be a non-empty string (got string \"\")."
    )]
    #[case::upper(
        "20260612T100000-AAAAAA",
        "meta-record \"gardenId\" must match YYYYMMDDTHHMMSS-[0-9a-f]{6} (got \"20260612T100000-AAAAAA\")."
    )]
    #[case::traversal(
        "../x",
        "meta-record \"gardenId\" must match YYYYMMDDTHHMMSS-[0-9a-f]{6} (got \"../x\")."
    )]
    fn require_garden_id_texts(#[case] s: &str, #[case] want: &str) {
        assert_eq!(require_garden_id(s).unwrap_err().to_string(), want);
    }
}
