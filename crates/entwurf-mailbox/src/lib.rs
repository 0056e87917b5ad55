//! The meta mailbox: `<mailboxDir>/<gid>/` with `<stamp>.msg` bodies, `state.json` receipts and
//! the `inbox.signal` doorbell edge; the drain; the deliverability predicate; the guarded send.
//!
//! This crate owns the mailbox body format ([`format_body`]), message names
//! ([`message_file_name`]), the receipt state ([`ReceiptState`], [`read_state`],
//! [`stamp_state`]), [`enqueue`], [`drain`], [`list`], the pure deliverability predicates and
//! their production wiring ([`mailbox_deliverability_for`]), the refusing [`send_guarded`], and a
//! Rust port of the Claude-side doorbell ([`ring_doorbell`]) for interop tests.
//!
//! **Architecture Invariant:** the mailbox path takes no lock, and a refused send leaves the
//! mailbox directory byte-identical: the record, its drift and the receiver marker are checked
//! before any mailbox IO, and an accepted send writes exactly the message, `state.json` and the
//! doorbell. Proved by
//! `crates/entwurf-mailbox/tests/guarded.rs::accepted_send_with_a_live_matching_marker_writes_exactly_msg_signal_state`,
//! `::a_corrupt_or_drifted_record_refuses_before_any_mailbox_io`,
//! `crates/entwurf-mailbox/tests/flow.rs::state_drift_refuses_the_enqueue_and_leaves_no_message`
//! and `crates/entwurf-cli/tests/cli_mailbox.rs::send_is_refused_with_mailbox_undeliverable_and_touches_nothing_when_nobody_listens`.
//!
//! **Architecture Invariant:** a `.msg` is never visible half-written, and the doorbell is
//! poked only after the body and the receipt stamp are complete. The message is written under a
//! dot name and renamed into place only after `state.json` is stamped; a failed stamp or poke
//! withdraws it, so no orphan message is left. Proved by
//! `crates/entwurf-mailbox/tests/guarded.rs::a_failed_doorbell_poke_withdraws_the_message` and
//! `crates/entwurf-mailbox/tests/multiprocess.rs::eight_processes_enqueue_800_messages_none_lost_none_partial_one_drain_returns_all_in_order`.
//!
//! **Architecture Invariant:** a reader never sees `state.json` or the doorbell empty.
//! `state.json` is only ever replaced whole (`RENAME_EXCHANGE`, plain rename as fallback, both
//! writing the same mailbox) and the doorbell is written in place without truncating (ext4
//! then does not flush on the spot, as it does for a truncate or a rename over a file).
//! Durability is the reference's (no fsync): a process crash loses nothing half-done. Proved by
//! `crates/entwurf-mailbox/src/mailbox.rs::both_state_replace_strategies_write_the_same_mailbox`,
//! `crates/entwurf-mailbox/src/fsio.rs::replace_creates_then_replaces_whole_and_leaves_no_tmp`
//! and `::overwrite_in_place_keeps_inode_and_mode_and_shrinks_only_a_longer_file`.
//!
//! **Architecture Invariant:** mail keeps flowing. A `state.json` that does not parse is copied
//! to `state.json.unparseable-<hash>` and rebuilt by the next stamp (named in the send's result
//! and the drain's report); one that parses but names another gid is still refused (the
//! reference's drift case, `fixtures/golden/mailbox/state-drift.json`). Proved by
//! `crates/entwurf-mailbox/tests/state_io.rs::an_unparseable_state_is_an_error_to_read_but_a_stamp_sets_it_aside_and_rebuilds`,
//! `::a_drifted_state_is_still_refused_by_a_stamp_and_kept` and
//! `crates/entwurf-cli/tests/cli_mailbox.rs::a_send_over_an_unparseable_state_sets_it_aside_names_it_and_delivers`.
//!
//! **Architecture Invariant:** receipt timestamps only move forward: a stamp never writes an
//! older value, and a writer whose `RENAME_EXCHANGE` displaced a newer state writes the
//! field-wise newest again. Proved by
//! `crates/entwurf-mailbox/tests/state_io.rs::an_older_stamp_never_moves_a_receipt_back`,
//! `crates/entwurf-mailbox/src/state.rs::a_stale_writer_carries_the_newer_stamp_it_displaced`,
//! `::parallel_stamps_leave_the_newest_stamp` and
//! `crates/entwurf-cli/tests/races.rs::sixteen_senders_and_two_drainers_deliver_800_messages_exactly_once_and_state_always_parses`
//! (16 senders x 50 with 2 drainers: all 800 delivered once, whole, `state.json` always
//! parses, `lastEnqueuedAt` is the newest message).
//!
//! **Architecture Invariant:** a drain reads only regular files: no symlink followed, no FIFO
//! waited on; directories, symlinks, FIFOs and unreadable files with message names are reported
//! as bad entries and do not fail it, and IO hints follow the errno. Proved by
//! `crates/entwurf-mailbox/tests/guarded.rs::a_drain_delivers_every_good_message_and_reports_directories_symlinks_and_fifos`,
//! `::io_error_hints_match_the_errno` and
//! `crates/entwurf-mailbox/tests/hostile.rs::drain_never_returns_a_symlinked_message_body`.
//!
//! **Architecture Invariant:** bodies, message names, `state.json` and the deliverability rows
//! are the reference's, byte for byte (`fixtures/golden/mailbox/`,
//! `fixtures/golden/markers/deliverability.json`). Proved by
//! `crates/entwurf-mailbox/tests/golden.rs::every_golden_body_is_reproduced_byte_for_byte`,
//! `::state_files_serialize_byte_for_byte_and_parse_back`,
//! `::deliverability_predicates_match_every_reference_row` and
//! `crates/entwurf-mailbox/tests/flow.rs::the_reference_flow_is_reproduced`.
//!
//! **Architecture Invariant:** a [`repair()`] never deletes. The oldest twin (`createdAt`, then
//! file name) stays; the others move to `<sessions>/.entwurf-repaired/` (a directory no
//! listing reads, ours or the reference's), their unread mail moves to the kept mailbox
//! without clobbering (stamped forward, doorbell rung), their markers are removed, and the
//! record moves last, so an interrupted repair is finished by running it again. A dry run
//! changes nothing. Proved by
//! `crates/entwurf-cli/tests/cli_repair.rs::repair_carries_out_the_dry_run_plan_and_the_native_id_upserts_again`,
//! `::repair_keeps_the_oldest_record_by_created_at_then_by_name` and
//! `::the_ambiguous_upsert_names_the_repair_and_a_dry_run_changes_nothing`.
//!
//! Every function takes its directories explicitly; nothing here reads the environment.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use entwurf_mailbox::{format_body, message_file_name, SenderEnvelope};
//!
//! let sender: SenderEnvelope = serde_json::from_str(r#"{"sessionId":"20260612T095959-abcdef",
//!   "agentId":"anthropic/claude-sonnet-4","cwd":"/home/u/repos/garden",
//!   "timestamp":"2026-06-12T10:04:59.500Z","origin":"pi-session","replyable":true}"#).unwrap();
//! let body = format_body(&sender, "hello", true, Some("/home/u"));
//! assert!(body.contains("  at:          2026-06-12 19:04:59 KST\n"));
//! assert!(body.ends_with("────\nhello\n"));
//!
//! let now = Utc.with_ymd_and_hms(2026, 6, 12, 10, 5, 0).unwrap();
//! assert_eq!(message_file_name(now, [0x02, 0x17, 0xf1]), "2026-06-12T10-05-00-000Z-0217f1.msg");
//! ```

#![deny(missing_docs)]

mod body;
mod deliverability;
mod doorbell;
mod error;
mod fsio;
mod identity;
mod mailbox;
mod repair;
mod state;

use std::path::Path;

use entwurf_meta_session::MetaRecord;

pub use body::{
    abbreviate_home, format_body, format_kst, message_file_name, parse_js_iso, render_body,
    session_line, SenderEnvelope, SEPARATOR,
};
pub use deliverability::{
    compute_receiver_active, mailbox_conversational_deliverable, mailbox_deliverability_with,
    native_push_deliverable, Deliverability, NativePushFacts, ReceiverActivity, ReceiverFacts,
};
pub use doorbell::{doorbell_notice, ring_doorbell, DoorbellOutcome, HOOK_LOG_FILE};
pub use entwurf_meta_session::{iso_millis, record_path, ReceiptState, ReceiptStateError};
pub use error::MailboxError;
pub use mailbox::{
    deliverability_of, drain, enqueue, enqueue_resolved, list, mailbox_path, send_guarded,
    BadEntry, BadEntryKind, Drained, Enqueued, EntryKind, InboxMessage, LeftUnread, MailboxDirs,
    MailboxEntry, MailboxListing, RandomTags, TagSource, SIGNAL_FILE,
};
pub use repair::{
    repair, GroupRepair, RecordRef, RepairDirs, RepairError, RepairReport, Step, StepKind,
};
pub use state::{
    read_state, stamp_state, stamp_state_reporting, state_path, ReceiptField, Stamped,
    UnknownReceiptField, STATE_FILE, STATE_KEYS, STATE_SCHEMA_VERSION,
};

/// The production deliverability of a citizen (the reference's rows in
/// `fixtures/golden/markers/deliverability.json`): its backend's wake mode is `self-fetch`
/// **and** its receiver marker `<receivers_dir>/<gid>.json` reads with owner verification (same
/// live process by start key) **and** matches the record's gardenId, backend and
/// nativeSessionId. Read-only; never touches the mailbox.
pub fn mailbox_deliverability_for(receivers_dir: &Path, record: &MetaRecord) -> Deliverability {
    let matched = identity::live_matching_receiver(receivers_dir, record);
    mailbox_deliverability_with(record, matched)
}
