//! The meta-session store: who the garden citizens are.
//!
//! This crate owns, byte-compatible with the reference implementation:
//!
//! * **garden ids** ([`GardenId`]): validated before any path is built, minted from local time;
//! * **store directories** ([`Dirs`]): one explicit value passed everywhere, built from the
//!   environment once at the edge ([`Dirs::from_env`] takes the lookup as an argument);
//! * **meta records** (`<sessions>/<gid>.meta.json`): v2 written (key order, 2-space pretty
//!   JSON, trailing newline, 0600, tmp + rename), v1 read and normalised; [`read_record`],
//!   [`record_exists`], [`list_records`] (survives corrupt files), [`upsert`] keyed on
//!   `nativeSessionId` with the three-valued merge ([`Patch`]), backend-change and ambiguity
//!   refusals, and the v1 receipt migration into `<mailbox>/<gid>/state.json`; large stores
//!   keep an inode-validated scan cache (`.entwurf-upsert-index`) so an upsert does not parse
//!   every record, and [`RecordStore`] batches many upserts from one process;
//! * **receiver and sender markers** with the owner-process start-key guard
//!   ([`process_start_key`]): atomic 0600 writers, never-failing readers, [`receiver_matches`];
//! * the **backend capability table** ([`Backend::capability`]);
//! * the **sender envelope** ([`SenderEnvelope`]): the one type the control socket's `send`
//!   line and the mailbox body header both carry.
//!
//! No function here reads the environment or defaults to `$HOME`: directories are arguments.
//! Timestamps come in as `now: DateTime<Utc>` and are written with [`iso_millis`].
//!
//! ```
//! use entwurf_meta_session::{read_record, upsert, Backend, Dirs, GardenId, Patch, UpsertAction, UpsertInput};
//! let tmp = tempfile::tempdir().unwrap();
//! let dirs = Dirs::under(tmp.path());
//! let mut input = UpsertInput::new(Backend::ClaudeCode, "native-1", "/home/u/proj");
//! input.model = Patch::Value("claude-opus-4".into());
//! let now = chrono::Utc::now();
//! let created = upsert(&dirs.sessions, &dirs.mailbox, &input, now).unwrap();
//! assert_eq!(created.action, UpsertAction::Create);
//! let again = upsert(&dirs.sessions, &dirs.mailbox, &UpsertInput::new(Backend::ClaudeCode, "native-1", "/p2"), now).unwrap();
//! assert_eq!(again.action, UpsertAction::Attach);
//! let rec = read_record(&dirs.sessions, &created.record.garden_id).unwrap();
//! assert_eq!(rec.model.as_deref(), Some("claude-opus-4")); // absent keeps
//! assert_eq!(rec.cwd, "/p2");
//! assert!(GardenId::parse("../etc/passwd").is_err());
//! ```

mod backend;
mod dirs;
mod fsutil;
mod gid;
mod index;
mod listcache;
mod marker;
mod record;
mod sender;
mod state;
mod store;
mod twins;
mod upsert_lock;

pub use backend::{Backend, Capability, UnknownBackend, WakeMode, ALL_BACKENDS, MARKER_BACKENDS};
pub use dirs::{expand_tilde, Dirs, DirsError, AGENT_DIR_VAR};
pub use gid::{is_valid_garden_id, GardenId, InvalidGardenId, GARDEN_ID_GRAMMAR};
pub use index::{INDEX_FILE_NAME, INDEX_MIN_RECORDS, INDEX_REWRITE_AFTER};
pub use listcache::{LIST_CACHE_FILE_NAME, SETTLE_NANOS};
pub use marker::{
    armed_receiver, owner_is_live, owner_pid_as_int, process_start_key, read_receiver_marker,
    read_receiver_marker_at, read_sender_marker, read_sender_marker_at, receiver_marker_path,
    receiver_matches, sender_marker_path, start_key_from_stat, write_receiver_marker,
    write_sender_marker, ArmProvenance, InvalidArmProvenance, MarkerError, OwnerPid,
    ReceiverMarker, ReceiverMarkerInput, SenderMarker, SenderMarkerInput, DEFAULT_OWNER_KIND,
};
pub use record::{
    iso_millis, parse_record_bytes, parse_stored_record, record_file_name, require_garden_id,
    BackendSet, Got, MetaRecord, RecordParseError, StoredRecord, V1Receipts, RECORD_SCHEMA_VERSION,
    RECORD_V2_KEYS,
};
pub use sender::{SenderEnvelope, ORIGIN_META_SESSION};
pub use state::{
    migrate_v1_receipts, read_receipt_state, receipt_state_path, ReceiptState, ReceiptStateError,
};
pub use store::{
    list_records, read_record, record_exists, record_path, upsert, upsert_with_mint, write_record,
    Listing, ListingError, Patch, RecordError, RecordStore, SkippedRecord, UpsertAction,
    UpsertInput, UpsertResult, AMBIGUOUS_FIX,
};
pub use twins::{aside_path, find_twins, move_record_aside, TwinGroup, REPAIRED_DIR};
pub use upsert_lock::{
    lock_upserts_of, upsert_lock_path, UpsertLockGuard, LOCK_STRIPES, UPSERT_LOCK_DIR,
};
