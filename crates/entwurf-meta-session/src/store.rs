//! The record store on disk: paths, existence, read by gid, atomic write, listing, upsert.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::fsutil::{self, EnsureDirError};
use crate::record::{
    iso_millis, parse_stored_record, record_file_name, validate_parent, Got, MetaRecord,
    RecordParseError, RECORD_SCHEMA_VERSION,
};
use crate::state::{migrate_v1_receipts, ReceiptStateError};
use crate::{Backend, GardenId};

const RECORD_SUFFIX: &str = ".meta.json";

/// A store operation failed. Every variant names the file, directory or id it is about.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No record file for the gid (reference text).
    #[error("no meta-record for garden id \"{gid}\" under {} — not a garden citizen, cannot deliver.", dir.display())]
    NotFound {
        /// The gid asked for.
        gid: GardenId,
        /// The sessions dir searched.
        dir: PathBuf,
    },
    /// The record file exists but its body breaks the schema.
    #[error("corrupt meta-record {}: {source} (fix or remove the file)", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (the reference's text).
        source: RecordParseError,
    },
    /// The body names another gid than its file name (reference text).
    #[error("meta-record body/filename drift: {gid}.meta.json contains gardenId \"{body_gid}\". The body is the authority; this file is corrupt. Remove or fix it.")]
    Drift {
        /// The file.
        path: PathBuf,
        /// The gid from the file name.
        gid: GardenId,
        /// The gid in the body.
        body_gid: GardenId,
    },
    /// Two or more records claim the upsert's native session id (reference text).
    #[error("ambiguous meta-record authority: nativeSessionId \"{native_session_id}\" matched {} records ({}). The native→garden mapping must be unique — fail-fast rather than silently picking one. Remove the duplicate(s).", files.len(), files.join(", "))]
    Ambiguous {
        /// The native id.
        native_session_id: String,
        /// The matching file names.
        files: Vec<String>,
    },
    /// The upsert would move a native session to another backend (reference text).
    #[error("meta-record identity drift: nativeSessionId \"{native_session_id}\" is bound to backend \"{existing}\" but upsert input says \"{input}\". A native session cannot change backend.")]
    BackendChange {
        /// The native id.
        native_session_id: String,
        /// The stored backend.
        existing: Backend,
        /// The requested backend.
        input: Backend,
        /// The record file.
        path: PathBuf,
    },
    /// An upsert input field breaks the schema (reference text).
    #[error("{0}")]
    InvalidInput(RecordParseError),
    /// A store path exists but is not a directory.
    #[error("store path {} is not a directory; move that file away or point the store somewhere else", path.display())]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },
    /// The v1 receipt migration into `state.json` failed; the record was not rewritten.
    #[error("v1 receipt migration for {gid} failed (the record was left untouched): {source}")]
    ReceiptMigration {
        /// The citizen.
        gid: GardenId,
        /// Why.
        source: ReceiptStateError,
    },
    /// The listing found unreadable records and strict mode was asked for (reference text).
    #[error("listAllMetaIdentities(strict): {} unreadable meta-record(s): {}", errors.len(), errors.iter().map(|e| format!("{} ({})", e.filename, e.message)).collect::<Vec<_>>().join("; "))]
    ListingStrict {
        /// The errors.
        errors: Vec<ListingError>,
    },
    /// Any other IO failure.
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RecordError + 'a {
    move |source| RecordError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn ensure_store(dir: &Path) -> Result<(), RecordError> {
    fsutil::ensure_dir(dir).map_err(|e| match e {
        EnsureDirError::NotADirectory(path) => RecordError::NotADirectory { path },
        EnsureDirError::Io(source) => RecordError::Io {
            op: "create directory",
            path: dir.to_path_buf(),
            source,
        },
    })
}

/// `<sessions_dir>/<gid>.meta.json`.
pub fn record_path(sessions_dir: &Path, gid: &GardenId) -> PathBuf {
    sessions_dir.join(record_file_name(gid))
}

/// Whether `<gid>.meta.json` exists (a plain existence check: a corrupt file exists too).
/// A sessions path that is a file, or an unreadable directory, is an error, not `false`.
pub fn record_exists(sessions_dir: &Path, gid: &GardenId) -> Result<bool, RecordError> {
    let path = record_path(sessions_dir, gid);
    match fs::metadata(&path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(RecordError::NotADirectory {
            path: sessions_dir.to_path_buf(),
        }),
        Err(source) => Err(RecordError::Io {
            op: "stat",
            path,
            source,
        }),
    }
}

/// Reads the record for `gid`: missing → [`RecordError::NotFound`], corrupt →
/// [`RecordError::Corrupt`], body gid ≠ file name → [`RecordError::Drift`]. v1 files are
/// normalised to v2 (they are not rewritten).
pub fn read_record(sessions_dir: &Path, gid: &GardenId) -> Result<MetaRecord, RecordError> {
    let path = record_path(sessions_dir, gid);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(RecordError::NotFound {
                gid: gid.clone(),
                dir: sessions_dir.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(RecordError::NotADirectory {
                path: sessions_dir.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(RecordError::Io {
                op: "read",
                path,
                source,
            })
        }
    };
    let record = parse_stored_record(&bytes)
        .map_err(|source| RecordError::Corrupt {
            path: path.clone(),
            source,
        })?
        .record;
    if &record.garden_id != gid {
        return Err(RecordError::Drift {
            path,
            gid: gid.clone(),
            body_gid: record.garden_id,
        });
    }
    Ok(record)
}

/// Writes `record` to `<sessions_dir>/<gid>.meta.json` atomically: `mkdir -p`, tmp file
/// `<file>.tmp-<pid>-<epochMillis>` created 0600, then rename. Returns the path.
///
/// The bytes are checked with the reader first: a record the reader would reject (empty `cwd`,
/// `Some("")` model, schemaVersion ≠ 2, …) is refused with [`RecordError::InvalidInput`] and
/// nothing is written.
pub fn write_record(sessions_dir: &Path, record: &MetaRecord) -> Result<PathBuf, RecordError> {
    let bytes = record.to_file_bytes();
    parse_stored_record(&bytes).map_err(RecordError::InvalidInput)?;
    ensure_store(sessions_dir)?;
    let path = record_path(sessions_dir, &record.garden_id);
    let tmp = fsutil::with_suffix(
        &path,
        &format!(".tmp-{}-{}", std::process::id(), fsutil::epoch_millis()),
    );
    fsutil::write_atomic(&tmp, &path, &bytes).map_err(io_err("write", &path))?;
    Ok(path)
}

/// One unreadable entry in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListingError {
    /// The file name (not the path).
    pub filename: String,
    /// The reference's message for it.
    pub message: String,
}

/// Every record in a store, and every `*.meta.json` that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Listing {
    /// Readable records, sorted by gid.
    pub records: Vec<MetaRecord>,
    /// Unreadable files (corrupt, drifted, IO failure), sorted by file name.
    pub errors: Vec<ListingError>,
}

impl Listing {
    /// The records, or [`RecordError::ListingStrict`] if any file was unreadable.
    pub fn strict(self) -> Result<Vec<MetaRecord>, RecordError> {
        if self.errors.is_empty() {
            Ok(self.records)
        } else {
            Err(RecordError::ListingStrict {
                errors: self.errors,
            })
        }
    }
}

/// Sorted `*.meta.json` names in a directory; a missing directory is empty.
fn record_file_names(dir: &Path) -> Result<Vec<String>, RecordError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(RecordError::NotADirectory {
                path: dir.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(RecordError::Io {
                op: "list",
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        if let Some(name) = entry.file_name().to_str() {
            if name.ends_with(RECORD_SUFFIX) {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Lists every `*.meta.json` in the store (other files are ignored). Corrupt and drifted files
/// become [`ListingError`]s instead of failing the listing. A missing store lists as empty.
pub fn list_records(sessions_dir: &Path) -> Result<Listing, RecordError> {
    let mut listing = Listing::default();
    for name in record_file_names(sessions_dir)? {
        let path = sessions_dir.join(&name);
        let parsed = fs::read(&path)
            .map_err(|e| format!("could not read the file: {e}"))
            .and_then(|b| parse_stored_record(&b).map_err(|e| e.to_string()));
        match parsed {
            Err(message) => listing.errors.push(ListingError {
                filename: name,
                message,
            }),
            Ok(stored) => {
                let stem = &name[..name.len() - RECORD_SUFFIX.len()];
                if stored.record.garden_id.as_str() == stem {
                    listing.records.push(stored.record);
                } else {
                    listing.errors.push(ListingError {
                        filename: name,
                        message: format!(
                            "body/filename drift: body gardenId \"{}\" ≠ filename. The body is the authority; this file is corrupt.",
                            stored.record.garden_id
                        ),
                    });
                }
            }
        }
    }
    listing
        .records
        .sort_by(|a, b| a.garden_id.cmp(&b.garden_id));
    listing.errors.sort_by(|a, b| a.filename.cmp(&b.filename));
    Ok(listing)
}

/// A three-valued field update: keep what is stored, clear it, or set it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// The input leaves the field out: an attach keeps the stored value (a create uses `null`).
    #[default]
    Absent,
    /// The input says `null`: the field is cleared.
    Null,
    /// The input gives a value: the field is set (validated).
    Value(T),
}

impl<T> Patch<T> {
    /// `Some(v)` → `Value(v)`, `None` → `Absent`.
    pub fn from_option(v: Option<T>) -> Self {
        v.map_or(Patch::Absent, Patch::Value)
    }
}

/// What `upsert` receives. Mirrors the reference's input object; strings are validated inside
/// `upsert` with the reference's texts (so `Patch::Value("")` is refused, not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertInput {
    /// The backend (must equal the stored one on attach).
    pub backend: Backend,
    /// The upsert key; non-empty.
    pub native_session_id: String,
    /// Always replaces the stored cwd; non-empty.
    pub cwd: String,
    /// Model.
    pub model: Patch<String>,
    /// Transcript path.
    pub transcript_path: Patch<String>,
    /// Parent garden id (validated against the gid grammar).
    pub parent_garden_id: Patch<String>,
    /// `None` keeps (create: `false`), `Some(b)` sets.
    pub is_entwurf: Option<bool>,
}

impl UpsertInput {
    /// An input with only the three required fields; every optional field absent.
    pub fn new(backend: Backend, native_session_id: &str, cwd: &str) -> Self {
        Self {
            backend,
            native_session_id: native_session_id.to_owned(),
            cwd: cwd.to_owned(),
            model: Patch::Absent,
            transcript_path: Patch::Absent,
            parent_garden_id: Patch::Absent,
            is_entwurf: None,
        }
    }
}

/// Whether an upsert minted a new citizen or refreshed an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertAction {
    /// A new record with a fresh gid.
    Create,
    /// The existing record for the native id, rewritten in place.
    Attach,
}

impl UpsertAction {
    /// `create` / `attach`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpsertAction::Create => "create",
            UpsertAction::Attach => "attach",
        }
    }
}

/// A `*.meta.json` the upsert scan could not read and skipped (the reference's `onSkip`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRecord {
    /// The file name.
    pub file: String,
    /// Why (the reference's text for a parse failure).
    pub message: String,
}

/// The outcome of an upsert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertResult {
    /// Create or attach.
    pub action: UpsertAction,
    /// The record as written.
    pub record: MetaRecord,
    /// The file written.
    pub path: PathBuf,
    /// Corrupt entries the scan skipped (a corrupt twin can lead to a second gid).
    pub skipped: Vec<SkippedRecord>,
    /// `true` when the attached file was v1 and its receipts were written to `state.json`.
    pub receipts_migrated: bool,
}

/// Validated upsert fields.
struct CheckedInput {
    model: Patch<String>,
    transcript_path: Patch<String>,
    parent_garden_id: Patch<GardenId>,
}

fn check_input(input: &UpsertInput) -> Result<CheckedInput, RecordError> {
    let invalid = RecordError::InvalidInput;
    let non_empty = |v: &str, field: &'static str| {
        if v.is_empty() {
            Err(invalid(RecordParseError::NotNonEmptyString {
                field,
                got: Got::String(String::new()),
            }))
        } else {
            Ok(())
        }
    };
    non_empty(&input.native_session_id, "nativeSessionId")?;
    non_empty(&input.cwd, "cwd")?;
    let nullable = |p: &Patch<String>, field: &'static str| match p {
        Patch::Value(v) if v.is_empty() => Err(invalid(RecordParseError::NotNullableString {
            field,
            got: Got::String(String::new()),
        })),
        other => Ok(other.clone()),
    };
    let model = nullable(&input.model, "model")?;
    let transcript_path = nullable(&input.transcript_path, "transcriptPath")?;
    let parent_garden_id = match &input.parent_garden_id {
        Patch::Absent => Patch::Absent,
        Patch::Null => Patch::Null,
        Patch::Value(s) => Patch::Value(validate_parent(s).map_err(invalid)?),
    };
    Ok(CheckedInput {
        model,
        transcript_path,
        parent_garden_id,
    })
}

fn merge<T: Clone>(stored: &Option<T>, patch: &Patch<T>) -> Option<T> {
    match patch {
        Patch::Absent => stored.clone(),
        Patch::Null => None,
        Patch::Value(v) => Some(v.clone()),
    }
}

/// Idempotent create-or-attach keyed on `nativeSessionId`, minting a gid from `now`'s local
/// time and 3 random bytes on create. See [`upsert_with_mint`].
pub fn upsert(
    sessions_dir: &Path,
    mailbox_dir: &Path,
    input: &UpsertInput,
    now: DateTime<Utc>,
) -> Result<UpsertResult, RecordError> {
    upsert_with_mint(sessions_dir, mailbox_dir, input, now, |t| {
        GardenId::mint_at(
            &t.with_timezone(&chrono::Local).naive_local(),
            rand::random(),
        )
    })
}

/// The upsert with an explicit gid minter (tests and replays pin the gid).
///
/// 1. Validate the input (nothing is touched on a bad input), `mkdir -p` the store.
/// 2. Scan every `*.meta.json` body (v1 or v2) for the native id; unreadable entries are
///    skipped and reported in [`UpsertResult::skipped`]; drift is not checked here.
///    More than one match → [`RecordError::Ambiguous`].
/// 3. No match → create `<mint(now)>.meta.json` (absent optionals → `null`/`false`).
/// 4. Match → attach to `<body gid>.meta.json`: backend must not change
///    ([`RecordError::BackendChange`]); `cwd` replaced; model/transcriptPath/parentGardenId
///    merged three-valued; `isEntwurf` kept unless given; `createdAt` kept;
///    `recordUpdatedAt` = now. A v1 file first has its receipts merged into
///    `<mailbox_dir>/<gid>/state.json` (existing state wins; no write if nothing changes).
/// 5. Write atomically (tmp + rename, 0600).
pub fn upsert_with_mint(
    sessions_dir: &Path,
    mailbox_dir: &Path,
    input: &UpsertInput,
    now: DateTime<Utc>,
    mint: impl FnOnce(DateTime<Utc>) -> GardenId,
) -> Result<UpsertResult, RecordError> {
    let checked = check_input(input)?;
    ensure_store(sessions_dir)?;

    let mut skipped = Vec::new();
    let mut matches = Vec::new();
    for name in record_file_names(sessions_dir)? {
        let path = sessions_dir.join(&name);
        let parsed = fs::read(&path)
            .map_err(|e| format!("could not read the file: {e}"))
            .and_then(|b| parse_stored_record(&b).map_err(|e| e.to_string()));
        match parsed {
            Err(message) => skipped.push(SkippedRecord {
                file: name,
                message,
            }),
            Ok(stored) if stored.record.native_session_id == input.native_session_id => {
                matches.push((name, stored))
            }
            Ok(_) => {}
        }
    }
    if matches.len() > 1 {
        return Err(RecordError::Ambiguous {
            native_session_id: input.native_session_id.clone(),
            files: matches.into_iter().map(|(n, _)| n).collect(),
        });
    }
    let stamp = iso_millis(now);

    let (action, record, receipts_migrated) = match matches.pop() {
        None => {
            let record = MetaRecord {
                schema_version: RECORD_SCHEMA_VERSION,
                garden_id: mint(now),
                backend: input.backend,
                native_session_id: input.native_session_id.clone(),
                cwd: input.cwd.clone(),
                model: merge(&None, &checked.model),
                transcript_path: merge(&None, &checked.transcript_path),
                parent_garden_id: merge(&None, &checked.parent_garden_id),
                is_entwurf: input.is_entwurf.unwrap_or(false),
                created_at: stamp.clone(),
                record_updated_at: stamp,
            };
            (UpsertAction::Create, record, false)
        }
        Some((name, stored)) => {
            let existing = stored.record;
            if existing.backend != input.backend {
                return Err(RecordError::BackendChange {
                    native_session_id: input.native_session_id.clone(),
                    existing: existing.backend,
                    input: input.backend,
                    path: sessions_dir.join(name),
                });
            }
            let migrated = match &stored.v1_receipts {
                Some(receipts) => migrate_v1_receipts(mailbox_dir, &existing.garden_id, receipts)
                    .map_err(|source| RecordError::ReceiptMigration {
                        gid: existing.garden_id.clone(),
                        source,
                    })?
                    .is_some(),
                None => false,
            };
            let record = MetaRecord {
                schema_version: RECORD_SCHEMA_VERSION,
                cwd: input.cwd.clone(),
                model: merge(&existing.model, &checked.model),
                transcript_path: merge(&existing.transcript_path, &checked.transcript_path),
                parent_garden_id: merge(&existing.parent_garden_id, &checked.parent_garden_id),
                is_entwurf: input.is_entwurf.unwrap_or(existing.is_entwurf),
                record_updated_at: stamp,
                ..existing
            };
            (UpsertAction::Attach, record, migrated)
        }
    };
    let path = write_record(sessions_dir, &record)?;
    Ok(UpsertResult {
        action,
        record,
        path,
        skipped,
        receipts_migrated,
    })
}
