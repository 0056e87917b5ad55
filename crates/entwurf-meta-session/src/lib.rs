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
//! **Architecture Invariant:** no path is built from an unvalidated garden id: a [`GardenId`]
//! can only be built by validation (also when deserialised), so `../etc/passwd` never reaches a
//! path join. Proved by `crates/entwurf-meta-session/src/gid.rs::rejects`,
//! `::serde_round_trip_validates` and
//! `crates/entwurf-meta-session/tests/golden_records.rs::missing_record_and_bad_gids_have_reference_texts`.
//!
//! **Architecture Invariant:** records and markers are byte-compatible with the reference: v2
//! records are written in its key order and layout, v1 records read and normalise, markers
//! read as the reference's golden cases say (files under `fixtures/golden/records/` and
//! `fixtures/golden/markers/`). Proved by
//! `crates/entwurf-meta-session/tests/golden_records.rs::create_full_and_nulls_write_golden_bytes`,
//! `::attach_chain_writes_golden_bytes`, `::v1_legacy_reads_as_the_golden_identity`,
//! `crates/entwurf-meta-session/tests/golden_markers.rs::sender_marker_writes_golden_bytes` and
//! `::every_receiver_case_reads_as_the_manifest_says`.
//!
//! **Architecture Invariant:** one identity per native id among our writers. "Look up, else
//! create" runs under an `flock` on `<sessions>/.entwurf-upsert-locks/<nn>.lock` (64 stripes,
//! FNV-1a of the native id alone, since the lookup ignores the backend); the kernel drops it
//! when the holder dies, so there is no stale lock. Proved by
//! `crates/entwurf-cli/tests/races.rs::parallel_upserts_of_one_native_id_make_exactly_one_record_and_every_caller_gets_its_gid`
//! (16 processes x 50 upserts of one id make one record) and
//! `crates/entwurf-meta-session/src/upsert_lock.rs::a_held_lock_blocks_a_second_open_until_dropped`.
//! The reference's writers take no such lock, so a reference process racing ours can still
//! fork an id: the upsert then refuses with the reference's ambiguity text
//! (`crates/entwurf-meta-session/tests/store.rs::ambiguous_native_id_is_refused`) and
//! `entwurf record repair` (in `entwurf-mailbox`) recovers the store.
//!
//! **Architecture Invariant:** a record create never overwrites: no-clobber rename, a fresh gid
//! on collision. Proved by
//! `crates/entwurf-meta-session/tests/upsert_index.rs::a_create_never_replaces_an_existing_record`.
//!
//! **Architecture Invariant:** the upsert cache (`<sessions>/.entwurf-upsert-index`: file name
//! -> inode -> native id, ignored by the reference since it is not `*.meta.json`) is checked
//! against one directory read on every call and never trusted over the directory. Proved by
//! `crates/entwurf-meta-session/tests/upsert_index.rs::a_lying_cache_file_is_never_trusted_over_the_directory`,
//! `::a_record_added_by_an_external_writer_is_attached_to_not_duplicated` and
//! `::a_corrupt_cache_file_is_rebuilt`.
//!
//! **Architecture Invariant:** the listing cache (`<sessions>/.entwurf-list-cache`: per file
//! name the `statx` identity and the parse result) answers only when a fresh `statx` shows the
//! same identity, and stores only files unchanged for [`SETTLE_NANOS`] before the listing
//! began, so a same-size rewrite within one tick of the coarse file clock is never vouched
//! for; the directory says which files exist, read errors are never cached, and a corrupt or
//! older cache is rebuilt. Proved by
//! `crates/entwurf-meta-session/src/listcache.rs::files_changed_within_the_settle_time_are_never_stored`,
//! `::a_rewrite_in_place_of_the_same_size_is_read_again`,
//! `::corrupt_records_are_cached_with_their_message_and_unreadable_names_are_not` and
//! `::a_corrupt_or_foreign_cache_file_is_ignored_and_rebuilt`.
//!
//! **Architecture Invariant:** a marker speaks only for a live owner: a receiver or sender
//! marker whose recorded pid is gone, or now runs another process (its `/proc/<pid>/stat` start
//! key differs), reads as absent. Proved by
//! `crates/entwurf-meta-session/tests/golden_markers.rs::markers_of_an_exited_owner_read_as_absent`
//! and `::a_reaped_child_pid_is_a_dead_owner`.
//!
//! **Architecture Invariant:** hostile record files never block or mislead a listing or an
//! upsert: a FIFO or symlink under a record name is neither waited on nor followed, a file over
//! the 64 KiB cap is listed unreadable and skipped. Proved by
//! `crates/entwurf-meta-session/tests/hostile.rs::a_fifo_or_a_symlink_under_a_record_name_never_blocks_and_is_never_followed`
//! and `::a_record_file_over_the_cap_is_listed_unreadable_and_skipped_by_upsert`.
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

#![deny(missing_docs)]

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
