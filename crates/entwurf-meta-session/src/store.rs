//! The record store on disk: paths, existence, read by gid, atomic write, listing, upsert.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use entwurf_fs::{Kind, Publish, StoreDir};

use crate::fsutil::{self, EnsureDirError};
use crate::index::{ScanCache, INDEX_MIN_RECORDS, INDEX_REWRITE_AFTER};
use crate::record::{
    iso_millis, parse_stored_record, record_file_name, validate_parent, Got, MetaRecord,
    RecordParseError, StoredRecord, RECORD_SCHEMA_VERSION,
};
use crate::state::{migrate_v1_receipts, ReceiptStateError};
use crate::upsert_lock::{lock_native, upsert_lock_path, LockFiles};
use crate::{Backend, GardenId};

const RECORD_SUFFIX: &str = ".meta.json";

/// What the ambiguous-upsert refusal adds to the reference's text: the command that fixes it.
pub const AMBIGUOUS_FIX: &str = " To keep the oldest record and move the others aside (their unread mail goes to the kept one), run `entwurf record repair` (`--dry-run` shows the plan first).";

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
    #[error("corrupt meta-record {} (fix or remove the file)", path.display())]
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
    ///
    /// The text is the reference's, followed by the fix: [`AMBIGUOUS_FIX`].
    #[error("ambiguous meta-record authority: nativeSessionId \"{native_session_id}\" matched {} records ({}). The native→garden mapping must be unique — fail-fast rather than silently picking one. Remove the duplicate(s).{AMBIGUOUS_FIX}", files.len(), files.join(", "))]
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
    /// A create found every garden id its minter gave already taken (it never replaces a file).
    #[error("cannot create a meta-record: the minted garden id is already taken ({}). Retry the upsert (a fresh gid is drawn) or remove the stale file.", path.display())]
    GardenIdTaken {
        /// The taken record file (or the store, when the minter gave no gid at all).
        path: PathBuf,
    },
    /// An upsert input field breaks the schema (reference text).
    #[error("{0}")]
    InvalidInput(RecordParseError),
    /// The per-native-id upsert lock could not be taken (nothing was read or written).
    #[error("could not take the upsert lock {}. The sessions dir must be writable and on a filesystem with flock; move away whatever is in the way of that path", path.display())]
    UpsertLock {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A store path exists but is not a directory.
    #[error("store path {} is not a directory; move that file away or point the store somewhere else", path.display())]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },
    /// The v1 receipt migration into `state.json` failed; the record was not rewritten.
    #[error("v1 receipt migration for {gid} failed (the record was left untouched)")]
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

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RecordError + 'a {
    move |source| RecordError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn ensure_store(dir: &Path) -> Result<StoreDir, RecordError> {
    fsutil::open_or_create_store(dir).map_err(|e| match e {
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
    // lstat: a symlink planted under a record name exists (and is refused when read).
    match fs::symlink_metadata(&path) {
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
    let bytes = match fsutil::read_small(&path, Kind::Record) {
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

/// Writes `record` to `<sessions_dir>/<gid>.meta.json` atomically: `mkdir -p`, a writer-named
/// temp (`entwurf_fs::temp_name`) created 0600, then rename. Returns the path. A record over
/// `entwurf_fs::RECORD_MAX` bytes is refused and nothing is written.
///
/// The bytes are checked with the reader first: a record the reader would reject (empty `cwd`,
/// `Some("")` model, schemaVersion ≠ 2, …) is refused with [`RecordError::InvalidInput`] and
/// nothing is written.
pub fn write_record(sessions_dir: &Path, record: &MetaRecord) -> Result<PathBuf, RecordError> {
    write_record_ino(sessions_dir, record, Publish::Replace, true).map(|(path, _)| path)
}

/// [`write_record`], returning the written file's inode too.
fn write_record_ino(
    sessions_dir: &Path,
    record: &MetaRecord,
    publish: Publish,
    sync: bool,
) -> Result<(PathBuf, u64), RecordError> {
    let bytes = record.to_file_bytes();
    parse_stored_record(&bytes).map_err(RecordError::InvalidInput)?;
    let dir = ensure_store(sessions_dir)?;
    let path = record_path(sessions_dir, &record.garden_id);
    let ino = dir
        .write_atomic_ino(
            &record_file_name(&record.garden_id),
            Kind::Record,
            &bytes,
            publish,
            sync,
        )
        .map_err(io_err("write", &path))?;
    Ok((path, ino))
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
    /// Temp files of dead writers (crashed upserts) this listing removed, sorted.
    #[serde(rename = "removedTemps", skip_serializing_if = "Vec::is_empty")]
    pub removed_temps: Vec<String>,
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

/// Lists every `*.meta.json` in the store (other files are ignored). Corrupt and drifted files
/// become [`ListingError`]s instead of failing the listing. A missing store lists as empty.
/// Large stores are read by up to four threads (the order of the result does not depend on it).
///
/// Records unchanged since an earlier listing are answered from the listing cache
/// `.entwurf-list-cache` after one `statx` each (see the crate's `listcache` module for when an
/// entry is trusted); stores of at least [`crate::INDEX_MIN_RECORDS`] records get that file
/// written or refreshed as a side effect. Failing to write it changes nothing but speed.
pub fn list_records(sessions_dir: &Path) -> Result<Listing, RecordError> {
    // One handle on the store serves the listing and every read (files are opened relative
    // to it, so the kernel walks the store's path once, not once per record).
    let list_err = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotADirectory {
            RecordError::NotADirectory {
                path: sessions_dir.to_path_buf(),
            }
        } else {
            io_err("list", sessions_dir)(e)
        }
    };
    let Some(dir) = crate::index::open_store_dir(sessions_dir).map_err(list_err)? else {
        return Ok(Listing::default());
    };
    let mut names = Vec::new();
    let facts = crate::index::for_each_record_name_in(&dir, |name, _| names.push(name.to_owned()))
        .map_err(list_err)?;
    names.sort_unstable();
    let (files, _) = crate::listcache::read_records(sessions_dir, &dir, names);
    let mut listing = Listing {
        removed_temps: dir.sweep_dead_temps(facts.temps.iter().map(String::as_str)),
        ..Listing::default()
    };
    for (name, parsed) in files {
        match parsed {
            Err(message) => listing.errors.push(ListingError {
                filename: name,
                message,
            }),
            Ok(record) => {
                let stem = &name[..name.len() - RECORD_SUFFIX.len()];
                if record.garden_id.as_str() == stem {
                    listing.records.push(record);
                } else {
                    listing.errors.push(ListingError {
                        filename: name,
                        message: format!(
                            "body/filename drift: body gardenId \"{}\" ≠ filename. The body is the authority; this file is corrupt.",
                            record.garden_id
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
/// time and 3 random bytes on create (a fresh suffix is drawn if that gid is already taken).
/// See [`upsert_with_mint`].
pub fn upsert(
    sessions_dir: &Path,
    mailbox_dir: &Path,
    input: &UpsertInput,
    now: DateTime<Utc>,
) -> Result<UpsertResult, RecordError> {
    let mut attempts = 0;
    upsert_core(
        sessions_dir,
        mailbox_dir,
        input,
        now,
        None,
        None,
        &mut |t| {
            attempts += 1;
            (attempts <= MINT_ATTEMPTS).then(|| random_gid(t))
        },
    )
}

/// How many gids `upsert` draws before giving up on a create whose names are all taken.
const MINT_ATTEMPTS: u32 = 16;

fn random_gid(t: DateTime<Utc>) -> GardenId {
    GardenId::mint_at(
        &t.with_timezone(&chrono::Local).naive_local(),
        rand::random(),
    )
}

/// The upsert with an explicit gid minter (tests and replays pin the gid).
///
/// 1. Validate the input (nothing is touched on a bad input), `mkdir -p` the store, take the
///    native id's upsert lock (`<sessions>/.entwurf-upsert-locks/`, an `flock` held until the
///    record is written, so our concurrent upserts of one native id find or make one record;
///    see [`crate::upsert_lock_path`]). The reference's writers take no such lock.
/// 2. Scan every `*.meta.json` body (v1 or v2) for the native id; unreadable entries are
///    skipped and reported in [`UpsertResult::skipped`]; drift is not checked here.
///    More than one match → [`RecordError::Ambiguous`]. Large stores keep a scan cache (see
///    below); every match is re-read and re-parsed before it is used.
/// 3. No match → create `<mint(now)>.meta.json` (absent optionals → `null`/`false`). The
///    create never replaces an existing file: a minted gid that is already taken is
///    [`RecordError::GardenIdTaken`] (the random minter of [`upsert`] draws again instead).
/// 4. Match → attach to `<body gid>.meta.json`: backend must not change
///    ([`RecordError::BackendChange`]); `cwd` replaced; model/transcriptPath/parentGardenId
///    merged three-valued; `isEntwurf` kept unless given; `createdAt` kept;
///    `recordUpdatedAt` = now. A v1 file first has its receipts merged into
///    `<mailbox_dir>/<gid>/state.json` (existing state wins; no write if nothing changes).
/// 5. Write atomically (tmp + fsync + rename, 0600).
///
/// The scan cache: a store of at least 128 records gets `<sessions>/.entwurf-upsert-index`
/// (file name → inode → native id), validated against one `readdir` on every upsert; a new or
/// re-inoded name is re-parsed, a vanished one dropped; a missing or corrupt cache is rebuilt,
/// and it is rewritten once a scan had to re-read 64 files. It is never trusted over the
/// directory (a match is always re-read; a stale one falls back to a full scan). A record
/// rewritten in place (same inode) by a writer other than tmp + rename keeps its cached native
/// id until its inode changes. For many upserts in one process, [`RecordStore`].
pub fn upsert_with_mint(
    sessions_dir: &Path,
    mailbox_dir: &Path,
    input: &UpsertInput,
    now: DateTime<Utc>,
    mint: impl FnOnce(DateTime<Utc>) -> GardenId,
) -> Result<UpsertResult, RecordError> {
    let mut mint = Some(mint);
    upsert_core(
        sessions_dir,
        mailbox_dir,
        input,
        now,
        None,
        None,
        &mut |t| mint.take().map(|m| m(t)),
    )
}

/// A handle for many upserts into one store from one process (a batch fill, an import).
///
/// * The scan cache stays in memory and follows the directory through an inotify watch: only
///   the names the kernel reports changed are looked at again (also rewrites in place). A lost
///   event queue means one full `readdir`; without a reliable watch (no inotify, or a network /
///   FUSE filesystem whose remote writers raise no events) every upsert does one `readdir`.
/// * Durability is batched: records are written tmp + rename without a per-file fsync, and
///   [`RecordStore::flush`] (also run on drop) does one `syncfs` and writes the cache file.
///   Until `flush` returns, a power loss may lose records written through the handle.
///
/// Answers are exactly those of [`upsert`]; other processes may write the store meanwhile.
#[derive(Debug)]
pub struct RecordStore {
    sessions_dir: PathBuf,
    mailbox_dir: PathBuf,
    cache: ScanCache,
    locks: LockFiles,
    dirty: bool,
    watching: bool,
}

impl RecordStore {
    /// A handle over the two directories (nothing is read until the first upsert).
    pub fn new(sessions_dir: impl Into<PathBuf>, mailbox_dir: impl Into<PathBuf>) -> Self {
        let sessions_dir = sessions_dir.into();
        Self {
            cache: ScanCache::load(&sessions_dir),
            sessions_dir,
            mailbox_dir: mailbox_dir.into(),
            locks: LockFiles::default(),
            dirty: false,
            watching: false,
        }
    }

    /// [`upsert`] through the in-memory scan cache.
    pub fn upsert(
        &mut self,
        input: &UpsertInput,
        now: DateTime<Utc>,
    ) -> Result<UpsertResult, RecordError> {
        if !self.watching {
            // Validate first (a bad input touches nothing), then watch the store.
            check_input(input)?;
            ensure_store(&self.sessions_dir)?;
            self.cache.watch(&self.sessions_dir);
            self.watching = true;
        }
        let mut attempts = 0;
        let result = upsert_core(
            &self.sessions_dir,
            &self.mailbox_dir,
            input,
            now,
            Some(&mut self.cache),
            Some(&mut self.locks),
            &mut |t| {
                attempts += 1;
                (attempts <= MINT_ATTEMPTS).then(|| random_gid(t))
            },
        );
        self.dirty = true;
        result
    }

    /// Makes every record written through the handle durable (one `syncfs`), then writes the
    /// scan cache file when the store is large enough to want one (a failure there is harmless:
    /// the next scan re-parses what it must, so only the sync failure is returned).
    pub fn flush(&mut self) -> Result<(), RecordError> {
        if !self.dirty {
            return Ok(());
        }
        self.dirty = false;
        fsutil::sync_filesystem_of(&self.sessions_dir)
            .map_err(io_err("sync the store", &self.sessions_dir))?;
        if self.cache.len() >= INDEX_MIN_RECORDS {
            let _ = self.cache.save(&self.sessions_dir);
        }
        Ok(())
    }
}

impl Drop for RecordStore {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// The scan for one native id: unreadable files and the verified matches (re-read now).
struct ScanResult {
    skipped: Vec<SkippedRecord>,
    matches: Vec<(String, StoredRecord)>,
}

fn skipped_of(v: Vec<(String, String)>) -> Vec<SkippedRecord> {
    v.into_iter()
        .map(|(file, message)| SkippedRecord { file, message })
        .collect()
}

/// Re-reads every cached match; `None` when any of them no longer says what the cache said.
fn verify(dir: &Path, names: &[String], native: &str) -> Option<Vec<(String, StoredRecord)>> {
    names
        .iter()
        .map(|name| {
            let stored = fsutil::read_small(&dir.join(name), Kind::Record)
                .ok()
                .and_then(|b| parse_stored_record(&b).ok())?;
            (stored.record.native_session_id == native).then(|| (name.clone(), stored))
        })
        .collect()
}

fn listing_err(dir: &Path, e: io::Error) -> RecordError {
    match e.kind() {
        io::ErrorKind::NotADirectory => RecordError::NotADirectory {
            path: dir.to_path_buf(),
        },
        _ => RecordError::Io {
            op: "list",
            path: dir.to_path_buf(),
            source: e,
        },
    }
}

/// The scan (one readdir) and how many files it had to re-read.
fn scan_store(
    dir: &Path,
    native: &str,
    cache: &mut ScanCache,
) -> Result<(ScanResult, usize), RecordError> {
    let (outcome, _) = cache.scan(dir, native).map_err(|e| listing_err(dir, e))?;
    if let Some(matches) = verify(dir, &outcome.matches, native) {
        let scan = ScanResult {
            skipped: skipped_of(outcome.skipped),
            matches,
        };
        return Ok((scan, outcome.reparsed));
    }
    // The cache disagreed with a file: trust nothing, parse every record again. A match that
    // changes again under this second scan is reported as skipped rather than acted on.
    cache.forget();
    let (outcome, _) = cache.scan(dir, native).map_err(|e| listing_err(dir, e))?;
    let mut skipped = outcome.skipped;
    let mut matches = Vec::new();
    for name in outcome.matches {
        match verify(dir, std::slice::from_ref(&name), native) {
            Some(mut m) => matches.append(&mut m),
            None => skipped.push((name, "changed while it was being read".to_owned())),
        }
    }
    skipped.sort();
    let scan = ScanResult {
        skipped: skipped_of(skipped),
        matches,
    };
    Ok((scan, outcome.reparsed))
}

/// Writes a new record without ever replacing a file: a taken gid is drawn again from `mint`
/// (and [`RecordError::GardenIdTaken`] when the minter has no other gid to give).
fn create_record(
    sessions_dir: &Path,
    record: &mut MetaRecord,
    now: DateTime<Utc>,
    mint: &mut dyn FnMut(DateTime<Utc>) -> Option<GardenId>,
    sync: bool,
) -> Result<(PathBuf, u64), RecordError> {
    loop {
        match write_record_ino(sessions_dir, record, Publish::NoReplace, sync) {
            Err(RecordError::Io { source, path, .. })
                if source.kind() == io::ErrorKind::AlreadyExists =>
            {
                record.garden_id = mint(now).ok_or(RecordError::GardenIdTaken { path })?;
            }
            other => return other,
        }
    }
}

fn upsert_core(
    sessions_dir: &Path,
    mailbox_dir: &Path,
    input: &UpsertInput,
    now: DateTime<Utc>,
    held: Option<&mut ScanCache>,
    locks: Option<&mut LockFiles>,
    mint: &mut dyn FnMut(DateTime<Utc>) -> Option<GardenId>,
) -> Result<UpsertResult, RecordError> {
    let checked = check_input(input)?;
    ensure_store(sessions_dir)?;
    // "Look up, else create" as one step among our writers: held until the record is written.
    let _lock = lock_native(sessions_dir, &input.native_session_id, locks).map_err(|source| {
        RecordError::UpsertLock {
            path: upsert_lock_path(sessions_dir, &input.native_session_id),
            source,
        }
    })?;

    let mut loaded;
    let (cache, persist) = match held {
        Some(c) => (c, false),
        None => {
            loaded = ScanCache::default();
            (&mut loaded, true)
        }
    };
    let mut had_index = false;
    if persist {
        let (loaded_cache, present) = ScanCache::load_if_present(sessions_dir);
        *cache = loaded_cache;
        had_index = present;
    }
    let (scan, reparsed) = scan_store(sessions_dir, &input.native_session_id, cache)?;
    let ScanResult {
        skipped,
        mut matches,
    } = scan;
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
                garden_id: mint(now).ok_or_else(|| RecordError::GardenIdTaken {
                    path: sessions_dir.to_path_buf(),
                })?,
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
    let mut record = record;
    let (path, ino) = match action {
        UpsertAction::Attach => write_record_ino(sessions_dir, &record, Publish::Replace, persist)?,
        UpsertAction::Create => create_record(sessions_dir, &mut record, now, mint, persist)?,
    };
    cache.note_written(
        &record_file_name(&record.garden_id),
        ino,
        &record.native_session_id,
    );
    let wanted = if had_index {
        reparsed >= INDEX_REWRITE_AFTER
    } else {
        cache.len() >= INDEX_MIN_RECORDS
    };
    if persist && wanted {
        // A cache; failing to write it costs the next upsert a re-parse, nothing more.
        let _ = cache.save(sessions_dir);
    }
    Ok(UpsertResult {
        action,
        record,
        path,
        skipped,
        receipts_migrated,
    })
}
