//! Reading the target's identity (its meta record) and its receiver marker.
//!
//! Temporary local implementation until `entwurf_meta_session::{read_record,
//! read_receiver_marker, receiver_matches}` land; the signatures mirror them.

use std::io;
use std::path::{Path, PathBuf};

use entwurf_meta_session::{GardenId, MetaRecord};

use crate::error::MailboxError;

/// `<sessions_dir>/<gid>.meta.json`.
pub fn record_path(sessions_dir: &Path, gid: &GardenId) -> PathBuf {
    sessions_dir.join(format!("{gid}.meta.json"))
}

/// Reads the record for `gid` (must exist, parse, and name `gid` in its body).
pub(crate) fn read_identity(
    sessions_dir: &Path,
    gid: &GardenId,
) -> Result<(MetaRecord, PathBuf), MailboxError> {
    let path = record_path(sessions_dir, gid);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(MailboxError::RecordMissing {
                gid: gid.clone(),
                sessions_dir: sessions_dir.to_path_buf(),
            })
        }
        Err(e) => {
            return Err(MailboxError::Record {
                gid: gid.clone(),
                path,
                detail: e.to_string(),
            })
        }
    };
    let record: MetaRecord = serde_json::from_slice(&bytes).map_err(|e| MailboxError::Record {
        gid: gid.clone(),
        path: path.clone(),
        detail: format!("meta-record is not valid: {e}"),
    })?;
    if &record.garden_id != gid {
        return Err(MailboxError::Record {
            gid: gid.clone(),
            path,
            detail: format!(
                "meta-record body/filename drift: {gid}.meta.json contains gardenId \"{}\".",
                record.garden_id
            ),
        });
    }
    Ok((record, path))
}

/// True when a receiver marker for the record's gid exists, parses, its owner is the same live
/// process (start-key check) and its gardenId/backend/nativeSessionId equal the record's.
pub(crate) fn live_matching_receiver(receivers_dir: &Path, record: &MetaRecord) -> bool {
    let path = receivers_dir.join(format!("{}.json", record.garden_id));
    let Ok(bytes) = std::fs::read(&path) else {
        return false;
    };
    let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(&bytes)
    else {
        return false;
    };
    let s = |k: &str| m.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    let (Some(gid), Some(backend), Some(native), Some(key)) = (
        s("gardenId"),
        s("backend"),
        s("nativeSessionId"),
        s("ownerStartKey"),
    ) else {
        return false;
    };
    let pid = m.get("ownerPid").and_then(|v| v.as_u64());
    let Some(pid) = pid.filter(|p| *p > 0) else {
        return false;
    };
    let live = start_key(pid).is_some_and(|k| k == key);
    live && gid == record.garden_id.as_str()
        && backend == record.backend.as_str()
        && native == record.native_session_id
}

fn start_key(pid: u64) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let field = after.split_whitespace().nth(19)?;
    Some(format!("linux:{field}"))
}
