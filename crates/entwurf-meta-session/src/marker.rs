//! Receiver and sender markers, and the owner-process start-key guard.
//!
//! * receiver marker: `<receivers>/<gid>.json` — "this citizen's idle watch is armed, held by
//!   process `ownerPid`";
//! * sender marker: `<senders>/<backend>/<ownerPid>.json` — a pid → garden hint for the sender
//!   envelope.
//!
//! Both are written atomically (tmp `<file>.<8 hex>.tmp` + rename, 0600). The readers never fail:
//! an absent, corrupt, dead-owner or reused-pid marker reads as `None`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use entwurf_fs::{Kind, Publish};

use crate::fsutil::{self, EnsureDirError};
use crate::record::{
    iso_millis, require_backend, require_garden_id_value, require_non_empty, BackendSet, Got,
    RecordParseError,
};
use crate::{Backend, GardenId, MetaRecord};

/// The default `ownerKind` of a receiver marker.
pub const DEFAULT_OWNER_KIND: &str = "claude-code-cli";

pub use entwurf_fs::{process_start_key, start_key_from_stat};

/// The owner pid as read from a marker: a JSON number, or `None` for anything else (the
/// reference reads a non-number as `NaN`, which serialises as `null`). A fractional number is
/// kept (it reads, but never verifies).
pub type OwnerPid = Option<f64>;

/// Is this owner pid a positive integer a start key can be taken for?
pub fn owner_pid_as_int(pid: OwnerPid) -> Option<i64> {
    let p = pid?;
    if p.is_finite() && p.fract() == 0.0 && p > 0.0 && p <= i64::MAX as f64 {
        Some(p as i64)
    } else {
        None
    }
}

fn serialize_owner_pid<S: Serializer>(pid: &OwnerPid, s: S) -> Result<S::Ok, S::Error> {
    match pid {
        Some(p) if p.is_finite() && p.fract() == 0.0 && p.abs() < 9.007_199_254_740_992e15 => {
            s.serialize_i64(*p as i64)
        }
        Some(p) if p.is_finite() => s.serialize_f64(*p),
        _ => s.serialize_none(),
    }
}

/// Why the receiver marker was (re)armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArmProvenance {
    /// Claude `SessionStart`.
    SessionStart,
    /// Claude `CwdChanged`.
    CwdChanged,
    /// Claude `FileChanged` (wired only to the doorbell in practice).
    FileChanged,
}

impl ArmProvenance {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            ArmProvenance::SessionStart => "session-start",
            ArmProvenance::CwdChanged => "cwd-changed",
            ArmProvenance::FileChanged => "file-changed",
        }
    }
}

impl fmt::Display for ArmProvenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `armProvenance` outside the three allowed values (reference text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid armProvenance: {} (expected one of session-start, cwd-changed, file-changed)", serde_json::to_string(value).unwrap_or_default())]
pub struct InvalidArmProvenance {
    /// The rejected value.
    pub value: String,
}

impl FromStr for ArmProvenance {
    type Err = InvalidArmProvenance;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "session-start" => Ok(ArmProvenance::SessionStart),
            "cwd-changed" => Ok(ArmProvenance::CwdChanged),
            "file-changed" => Ok(ArmProvenance::FileChanged),
            _ => Err(InvalidArmProvenance {
                value: s.to_owned(),
            }),
        }
    }
}

/// A receiver marker, fields in wire order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverMarker {
    /// The armed citizen.
    pub garden_id: GardenId,
    /// Its backend (never `pi`).
    pub backend: Backend,
    /// Its native session id.
    pub native_session_id: String,
    /// The process holding the idle watch (see [`OwnerPid`]).
    #[serde(serialize_with = "serialize_owner_pid")]
    pub owner_pid: OwnerPid,
    /// [`process_start_key`] of the owner at write time.
    pub owner_start_key: String,
    /// What kind of process the owner is (`claude-code-cli` by default).
    pub owner_kind: String,
    /// Why it was armed.
    pub arm_provenance: ArmProvenance,
    /// ISO write time.
    pub updated_at: String,
}

/// A sender marker, fields in wire order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SenderMarker {
    /// The sender's backend (never `pi`).
    pub backend: Backend,
    /// The sender citizen.
    pub garden_id: GardenId,
    /// Its native session id.
    pub native_session_id: String,
    /// Its cwd.
    pub cwd: String,
    /// The owner process (the file is named after it).
    #[serde(serialize_with = "serialize_owner_pid")]
    pub owner_pid: OwnerPid,
    /// [`process_start_key`] of the owner at write time.
    pub owner_start_key: String,
    /// ISO write time.
    pub updated_at: String,
}

/// What `write_receiver_marker` needs (`ownerStartKey` and `updatedAt` are computed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverMarkerInput {
    /// The citizen.
    pub garden_id: GardenId,
    /// Must be a marker backend (not `pi`).
    pub backend: Backend,
    /// Non-empty.
    pub native_session_id: String,
    /// The owner process (not validated, as in the reference: a dead pid writes an empty key).
    pub owner_pid: i64,
    /// `None` → [`DEFAULT_OWNER_KIND`]; `Some("")` is refused.
    pub owner_kind: Option<String>,
    /// Why.
    pub arm_provenance: ArmProvenance,
}

/// What `write_sender_marker` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderMarkerInput {
    /// Must be a marker backend (not `pi`).
    pub backend: Backend,
    /// The citizen.
    pub garden_id: GardenId,
    /// Non-empty.
    pub native_session_id: String,
    /// Non-empty.
    pub cwd: String,
    /// The owner process (names the file).
    pub owner_pid: i64,
}

/// A marker could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    /// A field breaks the marker schema (reference text).
    #[error("{0}")]
    Invalid(RecordParseError),
    /// The markers path (or an ancestor) is a file.
    #[error("store path {} is not a directory; move that file away or point the store somewhere else", path.display())]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },
    /// Any other IO failure.
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

fn check_marker_backend(b: Backend) -> Result<(), MarkerError> {
    if b.is_marker_backend() {
        Ok(())
    } else {
        Err(MarkerError::Invalid(RecordParseError::Backend {
            allowed: BackendSet::MarkerV1,
            got: Got::String(b.as_str().to_owned()),
        }))
    }
}

fn check_non_empty(v: &str, field: &'static str) -> Result<(), MarkerError> {
    if v.is_empty() {
        Err(MarkerError::Invalid(RecordParseError::NotNonEmptyString {
            field,
            got: Got::String(String::new()),
        }))
    } else {
        Ok(())
    }
}

/// Writes a marker at `<root>/<name>` or `<root>/<sub>/<name>` atomically (writer-named temp
/// + rename, 0600): the root may be a link, `sub` and `name` may not.
fn write_marker_file<T: Serialize>(
    root: &Path,
    sub: Option<&str>,
    name: &str,
    marker: &T,
) -> Result<PathBuf, MarkerError> {
    let mut dir = fsutil::open_or_create_store(root).map_err(|e| match e {
        EnsureDirError::NotADirectory(path) => MarkerError::NotADirectory { path },
        EnsureDirError::Io(source) => MarkerError::Io {
            op: "create directory",
            path: root.to_path_buf(),
            source,
        },
    })?;
    if let Some(sub) = sub {
        dir = dir.subdir_or_create(sub).map_err(|source| {
            if source.kind() == io::ErrorKind::NotADirectory {
                MarkerError::NotADirectory {
                    path: root.join(sub),
                }
            } else {
                MarkerError::Io {
                    op: "create directory",
                    path: root.join(sub),
                    source,
                }
            }
        })?;
    }
    let file = dir.join(name);
    let mut text = serde_json::to_string_pretty(marker).map_err(|e| MarkerError::Io {
        op: "serialise",
        path: file.clone(),
        source: io::Error::other(e),
    })?;
    text.push('\n');
    // No fsync: a marker vouches for a live owner process, and after a power loss every owner
    // is dead, so a marker that did not reach the disk is never missed (the rename still
    // publishes it whole). This keeps the Claude Code hook, which writes two per event, cheap.
    dir.write_atomic(name, Kind::Marker, text.as_bytes(), Publish::Replace, false)
        .map_err(|source| MarkerError::Io {
            op: "write",
            path: file.clone(),
            source,
        })?;
    // Arming is rare (a session start) and off the send path: one readdir here removes the
    // temps of writers that died mid-write (best effort; a failure changes nothing).
    if let Ok(names) = dir.names() {
        dir.sweep_dead_temps(names.iter().map(String::as_str));
    }
    Ok(file)
}

/// `<receivers_dir>/<gid>.json`.
pub fn receiver_marker_path(receivers_dir: &Path, gid: &GardenId) -> PathBuf {
    receivers_dir.join(format!("{gid}.json"))
}

/// `<senders_dir>/<backend>/<owner_pid>.json`.
pub fn sender_marker_path(senders_dir: &Path, backend: Backend, owner_pid: i64) -> PathBuf {
    senders_dir
        .join(backend.as_str())
        .join(format!("{owner_pid}.json"))
}

/// Arms (or refreshes) the receiver marker for `input.garden_id`. Validates everything before
/// touching the disk (unlike the reference, which creates the directory first), computes the
/// owner's start key now, writes atomically at 0600, and returns the marker path.
pub fn write_receiver_marker(
    receivers_dir: &Path,
    input: &ReceiverMarkerInput,
    now: DateTime<Utc>,
) -> Result<PathBuf, MarkerError> {
    check_marker_backend(input.backend)?;
    check_non_empty(&input.native_session_id, "nativeSessionId")?;
    let owner_kind = input
        .owner_kind
        .clone()
        .unwrap_or_else(|| DEFAULT_OWNER_KIND.to_owned());
    check_non_empty(&owner_kind, "ownerKind")?;
    let marker = ReceiverMarker {
        garden_id: input.garden_id.clone(),
        backend: input.backend,
        native_session_id: input.native_session_id.clone(),
        owner_pid: Some(input.owner_pid as f64),
        owner_start_key: process_start_key(input.owner_pid),
        owner_kind,
        arm_provenance: input.arm_provenance,
        updated_at: iso_millis(now),
    };
    write_marker_file(
        receivers_dir,
        None,
        &format!("{}.json", input.garden_id),
        &marker,
    )
}

/// Writes the sender marker `<senders>/<backend>/<ownerPid>.json` (validated first, atomic, 0600).
pub fn write_sender_marker(
    senders_dir: &Path,
    input: &SenderMarkerInput,
    now: DateTime<Utc>,
) -> Result<PathBuf, MarkerError> {
    check_marker_backend(input.backend)?;
    check_non_empty(&input.native_session_id, "nativeSessionId")?;
    check_non_empty(&input.cwd, "cwd")?;
    let marker = SenderMarker {
        backend: input.backend,
        garden_id: input.garden_id.clone(),
        native_session_id: input.native_session_id.clone(),
        cwd: input.cwd.clone(),
        owner_pid: Some(input.owner_pid as f64),
        owner_start_key: process_start_key(input.owner_pid),
        updated_at: iso_millis(now),
    };
    write_marker_file(
        senders_dir,
        Some(input.backend.as_str()),
        &format!("{}.json", input.owner_pid),
        &marker,
    )
}

fn read_object(path: &Path) -> Option<Map<String, Value>> {
    object_of(&crate::fsutil::read_small(path, Kind::Marker).ok()?)
}

fn object_of(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(&String::from_utf8_lossy(bytes)).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn owner_pid_of(obj: &Map<String, Value>) -> OwnerPid {
    obj.get("ownerPid").and_then(Value::as_f64)
}

/// The liveness guard: the owner pid is a positive integer whose current start key is
/// non-empty and equals the stored one.
pub fn owner_is_live(owner_pid: OwnerPid, stored_start_key: &str) -> bool {
    match owner_pid_as_int(owner_pid) {
        Some(pid) => {
            let live = process_start_key(pid);
            !live.is_empty() && live == stored_start_key
        }
        None => false,
    }
}

fn parse_receiver(obj: &Map<String, Value>) -> Result<ReceiverMarker, RecordParseError> {
    let arm = require_non_empty(obj.get("armProvenance"), "armProvenance")?;
    let arm_provenance =
        arm.parse::<ArmProvenance>()
            .map_err(|_| RecordParseError::NotNonEmptyString {
                field: "armProvenance",
                got: Got::String(arm.clone()),
            })?;
    Ok(ReceiverMarker {
        garden_id: require_garden_id_value(obj.get("gardenId"))?,
        backend: require_backend(obj.get("backend"), BackendSet::MarkerV1)?,
        native_session_id: require_non_empty(obj.get("nativeSessionId"), "nativeSessionId")?,
        owner_pid: owner_pid_of(obj),
        owner_start_key: require_non_empty(obj.get("ownerStartKey"), "ownerStartKey")?,
        owner_kind: require_non_empty(obj.get("ownerKind"), "ownerKind")?,
        arm_provenance,
        updated_at: require_non_empty(obj.get("updatedAt"), "updatedAt")?,
    })
}

fn parse_sender(obj: &Map<String, Value>) -> Result<SenderMarker, RecordParseError> {
    Ok(SenderMarker {
        backend: require_backend(obj.get("backend"), BackendSet::MarkerV1)?,
        garden_id: require_garden_id_value(obj.get("gardenId"))?,
        native_session_id: require_non_empty(obj.get("nativeSessionId"), "nativeSessionId")?,
        cwd: require_non_empty(obj.get("cwd"), "cwd")?,
        owner_pid: owner_pid_of(obj),
        owner_start_key: require_non_empty(obj.get("ownerStartKey"), "ownerStartKey")?,
        updated_at: require_non_empty(obj.get("updatedAt"), "updatedAt")?,
    })
}

/// Reads a receiver marker file by path. Never fails: `None` when the file is absent, not a
/// JSON object, breaks a field rule, or (with `verify_owner`) its owner is dead or the pid was
/// reused. Extra keys are ignored; the body gid is **not** compared with the file name.
pub fn read_receiver_marker_at(path: &Path, verify_owner: bool) -> Option<ReceiverMarker> {
    let marker = parse_receiver(&read_object(path)?).ok()?;
    if verify_owner && !owner_is_live(marker.owner_pid, &marker.owner_start_key) {
        return None;
    }
    Some(marker)
}

/// Reads `<receivers_dir>/<gid>.json` (see [`read_receiver_marker_at`]).
pub fn read_receiver_marker(
    receivers_dir: &Path,
    gid: &GardenId,
    verify_owner: bool,
) -> Option<ReceiverMarker> {
    read_receiver_marker_at(&receiver_marker_path(receivers_dir, gid), verify_owner)
}

/// Reads a sender marker file by path (same never-fail rules as the receiver reader).
pub fn read_sender_marker_at(path: &Path, verify_owner: bool) -> Option<SenderMarker> {
    let marker = parse_sender(&read_object(path)?).ok()?;
    if verify_owner && !owner_is_live(marker.owner_pid, &marker.owner_start_key) {
        return None;
    }
    Some(marker)
}

/// Reads `<senders_dir>/<backend>/<owner_pid>.json` (see [`read_sender_marker_at`]).
pub fn read_sender_marker(
    senders_dir: &Path,
    backend: Backend,
    owner_pid: i64,
    verify_owner: bool,
) -> Option<SenderMarker> {
    // `<backend>` is a directory below the store root: opened without following a link.
    let dir = entwurf_fs::StoreDir::open_child(senders_dir, backend.as_str()).ok()??;
    let bytes = dir
        .read(&format!("{owner_pid}.json"), Kind::Marker)
        .ok()??;
    let marker = parse_sender(&object_of(&bytes)?).ok()?;
    if verify_owner && !owner_is_live(marker.owner_pid, &marker.owner_start_key) {
        return None;
    }
    Some(marker)
}

/// The identity match: marker and record agree on gardenId, backend and nativeSessionId.
pub fn receiver_matches(marker: &ReceiverMarker, record: &MetaRecord) -> bool {
    marker.garden_id == record.garden_id
        && marker.backend == record.backend
        && marker.native_session_id == record.native_session_id
}

/// The production "receiver active" judgement for a record: a receiver marker for its gid
/// reads with a live owner **and** matches the record's identity. Returns that marker.
/// (Deliverability additionally needs the backend's wake mode to be `self-fetch`.)
pub fn armed_receiver(receivers_dir: &Path, record: &MetaRecord) -> Option<ReceiverMarker> {
    read_receiver_marker(receivers_dir, &record.garden_id, true)
        .filter(|m| receiver_matches(m, record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain(
        "1234 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 99 20",
        Some("linux:99")
    )]
    #[case::comm_with_paren_and_space(
        "1 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 x",
        Some("linux:4242")
    )]
    #[case::short(" (x) S 1 2", None)]
    #[case::no_paren("1 x S", None)]
    #[case::non_digit("1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4x 20", None)]
    fn stat_parsing(#[case] stat: &str, #[case] want: Option<&str>) {
        assert_eq!(start_key_from_stat(stat).as_deref(), want);
    }

    #[rstest]
    #[case::zero(0)]
    #[case::negative(-1)]
    #[case::beyond_pid_max(999_999_999)]
    fn start_key_empty_for_impossible_pids(#[case] pid: i64) {
        assert_eq!(process_start_key(pid), "");
    }

    #[test]
    fn own_start_key_is_stable_and_non_empty() {
        let me = std::process::id() as i64;
        let a = process_start_key(me);
        assert!(!a.is_empty());
        assert_eq!(a, process_start_key(me));
    }

    #[rstest]
    #[case::int(Some(12.0), Some(12))]
    #[case::float(Some(12.5), None)]
    #[case::nan(None, None)]
    #[case::zero(Some(0.0), None)]
    #[case::negative(Some(-3.0), None)]
    fn owner_pid_integer_check(#[case] pid: OwnerPid, #[case] want: Option<i64>) {
        assert_eq!(owner_pid_as_int(pid), want);
    }

    #[rstest]
    #[case::session_start("session-start", Some(ArmProvenance::SessionStart))]
    #[case::cwd_changed("cwd-changed", Some(ArmProvenance::CwdChanged))]
    #[case::file_changed("file-changed", Some(ArmProvenance::FileChanged))]
    #[case::prompt("user-prompt-submit", None)]
    #[case::case_matters("Session-Start", None)]
    fn arm_provenance_values(#[case] s: &str, #[case] want: Option<ArmProvenance>) {
        assert_eq!(s.parse::<ArmProvenance>().ok(), want);
    }

    #[test]
    fn arm_provenance_error_text() {
        assert_eq!(
            "user-prompt-submit"
                .parse::<ArmProvenance>()
                .unwrap_err()
                .to_string(),
            "invalid armProvenance: \"user-prompt-submit\" (expected one of session-start, cwd-changed, file-changed)"
        );
    }
}
