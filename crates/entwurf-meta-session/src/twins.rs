//! Twin records (two or more records of one native id, e.g. written by racing reference
//! writers, which take no upsert lock): finding them, choosing the one to keep, and moving the
//! others aside. The mail and marker side of a repair is the mailbox crate's `repair`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use chrono::DateTime;

use crate::{list_records, record_file_name, MetaRecord, RecordError};

/// Where a repair moves the records it does not keep: `<sessions>/.entwurf-repaired/`. A
/// directory whose name does not end in `.meta.json`: every listing (ours, and the
/// reference's, which reads only `*.meta.json` entries of the sessions dir itself) ignores it,
/// so a moved record is no citizen any more, yet nothing is deleted.
pub const REPAIRED_DIR: &str = ".entwurf-repaired";

/// The records of one native id, the one to keep first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinGroup {
    /// The shared native id.
    pub native_session_id: String,
    /// The oldest record (`createdAt`, ties by file name): the identity that stays.
    pub keep: MetaRecord,
    /// The others, oldest first.
    pub others: Vec<MetaRecord>,
}

/// `createdAt` as an instant when it parses (the order key); unparseable stamps sort last.
fn created_key(r: &MetaRecord) -> (bool, i64, String) {
    match DateTime::parse_from_rfc3339(&r.created_at) {
        Ok(t) => (false, t.timestamp_millis(), record_file_name(&r.garden_id)),
        Err(_) => (
            true,
            0,
            format!("{}\0{}", r.created_at, record_file_name(&r.garden_id)),
        ),
    }
}

/// Every native id with more than one readable record, sorted by native id. Unreadable and
/// drifted files are not records and play no part (the listing reports them).
pub fn find_twins(sessions_dir: &Path) -> Result<Vec<TwinGroup>, RecordError> {
    let listing = list_records(sessions_dir)?;
    let mut by_native: BTreeMap<String, Vec<MetaRecord>> = BTreeMap::new();
    for r in listing.records {
        by_native
            .entry(r.native_session_id.clone())
            .or_default()
            .push(r);
    }
    Ok(by_native
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(native_session_id, mut v)| {
            v.sort_by_key(created_key);
            let keep = v.remove(0);
            TwinGroup {
                native_session_id,
                keep,
                others: v,
            }
        })
        .collect())
}

/// Where [`move_record_aside`] would put `file` now: `<sessions>/.entwurf-repaired/<file>`, or
/// `<file>.<n>` for the first free `n` when that name is taken.
pub fn aside_path(sessions_dir: &Path, file: &str) -> PathBuf {
    let dir = sessions_dir.join(REPAIRED_DIR);
    let mut candidate = dir.join(file);
    let mut n = 1;
    while candidate.symlink_metadata().is_ok() {
        candidate = dir.join(format!("{file}.{n}"));
        n += 1;
    }
    candidate
}

/// Moves `<sessions>/<file>` into `<sessions>/.entwurf-repaired/` without replacing anything
/// there (a taken name gets `.1`, `.2`, …). Returns the new path. Never deletes; never follows
/// a symlink at the repaired dir.
pub fn move_record_aside(sessions_dir: &Path, file: &str) -> Result<PathBuf, RecordError> {
    let io = |op: &'static str, path: PathBuf| {
        move |source: io::Error| RecordError::Io { op, path, source }
    };
    let store = entwurf_fs::StoreDir::open(sessions_dir)
        .map_err(io("open", sessions_dir.to_path_buf()))?
        .ok_or_else(|| RecordError::Io {
            op: "open",
            path: sessions_dir.to_path_buf(),
            source: io::ErrorKind::NotFound.into(),
        })?;
    let aside = store
        .subdir_or_create(REPAIRED_DIR)
        .map_err(io("create directory", sessions_dir.join(REPAIRED_DIR)))?;
    let from = sessions_dir.join(file);
    for _ in 0..1024 {
        let to = aside_path(sessions_dir, file);
        let name = to
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(file)
            .to_owned();
        match store.move_no_replace(file, &aside, &name) {
            Ok(()) => return Ok(to),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io("move aside", from)(e)),
        }
    }
    Err(io("move aside", from)(io::ErrorKind::AlreadyExists.into()))
}
