//! The meta mailbox: `<mailboxDir>/<gid>/` with `<stamp>.msg` bodies, `state.json` receipts and
//! the `inbox.signal` doorbell edge; the drain; the deliverability predicate; the guarded send.
//!
//! This crate owns the mailbox body format ([`format_body`]), message names
//! ([`message_file_name`]), the receipt state ([`ReceiptState`], [`read_state`],
//! [`stamp_state`]), [`enqueue`], [`drain`], [`list`], the pure deliverability predicates and
//! their production wiring ([`mailbox_deliverability_for`]), the refusing [`send_guarded`], and a
//! Rust port of the Claude-side doorbell ([`ring_doorbell`]) for interop tests.
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

/// The production deliverability of a citizen (§6.1): its backend's wake mode is `self-fetch`
/// **and** its receiver marker `<receivers_dir>/<gid>.json` reads with owner verification (same
/// live process by start key) **and** matches the record's gardenId, backend and
/// nativeSessionId. Read-only; never touches the mailbox.
pub fn mailbox_deliverability_for(receivers_dir: &Path, record: &MetaRecord) -> Deliverability {
    let matched = identity::live_matching_receiver(receivers_dir, record);
    mailbox_deliverability_with(record, matched)
}
