//! The mailbox against hostile and crashed stores, at crate level (issue 13 rows 1, 2, 6; the
//! CLI-level twins are in entwurf-cli's `hostile_store.rs` and `faults.rs`).

use chrono::{TimeZone, Utc};
use entwurf_mailbox::{drain, enqueue, list, Enqueued, MailboxError, RandomTags};
use entwurf_meta_session::GardenId;

mod common;
use common::{Store, GID, NATIVE};
use entwurf_testkit::dead_pid;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 12, 10, 5, 0).unwrap()
}

/// Enqueues `body` to `gid` in `store` at [`now`].
fn send(store: &Store, gid: &GardenId, body: &str) -> Result<Enqueued, MailboxError> {
    enqueue(
        &store.sessions,
        &store.mailbox,
        gid,
        body,
        now(),
        &mut RandomTags,
    )
}

#[test]
fn enqueue_over_the_message_cap_is_refused_and_writes_nothing() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    let body = "x".repeat(entwurf_fs::MESSAGE_MAX as usize + 1);
    let e = send(&store, &gid, &body).unwrap_err();
    assert!(
        matches!(e, MailboxError::TooLarge { size, cap, .. } if size == body.len() && cap == entwurf_fs::MESSAGE_MAX),
        "{e}"
    );
    assert!(!store.mailbox.exists(), "nothing written");
}

#[test]
fn doorbell_symlink_is_refused_the_message_withdrawn_and_the_target_untouched() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    let dir = store.mailbox.join(GID);
    std::fs::create_dir_all(&dir).unwrap();
    let outside = store.root.path().join("outside");
    std::fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("inbox.signal")).unwrap();
    let e = send(&store, &gid, "hi").unwrap_err();
    assert!(matches!(e, MailboxError::SignalFailed { .. }), "{e}");
    assert!(
        entwurf_fs::Chain(&e).to_string().contains("symbolic link"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
    let msgs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".msg"))
        .collect();
    assert!(msgs.is_empty(), "{msgs:?}");
}

#[test]
fn drain_never_returns_a_symlinked_message_body() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    send(&store, &gid, "real").unwrap();
    let secret = store.root.path().join("secret");
    std::fs::write(&secret, "SECRET").unwrap();
    let planted = "2026-06-12T10-00-00-000Z-000001.msg";
    std::os::unix::fs::symlink(&secret, store.mailbox.join(GID).join(planted)).unwrap();
    let d = drain(&store.sessions, &store.mailbox, &gid, now()).unwrap();
    assert_eq!(d.messages.len(), 1);
    assert_eq!(d.messages[0].body, "real");
    // Reported as a bad entry (not a message), never followed; the drain stays clean.
    assert!(d.left_unread.is_empty());
    assert_eq!(d.bad_entries.len(), 1);
    assert_eq!(d.bad_entries[0].file, planted);
    assert_eq!(
        d.bad_entries[0].kind,
        entwurf_mailbox::BadEntryKind::Symlink
    );
    assert!(d.bad_entries[0].error.to_string().contains("symbolic link"));
    assert!(d.is_clean());
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "SECRET");
}

#[test]
fn dead_writers_temps_are_removed_by_list_and_drain_and_reported_and_live_ones_kept() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    send(&store, &gid, "m").unwrap();
    let dir = store.mailbox.join(GID);
    let pid = dead_pid();
    let dead_msg = format!(".2026-06-12T10-00-00-000Z-000001.msg.tmp.{pid}.linux:7.0000000a");
    let dead_state = format!(".state.json.tmp.{pid}.linux:7.0000000b");
    let live = entwurf_fs::temp_name("state.json");
    for n in [&dead_msg, &dead_state, &live] {
        std::fs::write(dir.join(n), "half").unwrap();
    }
    let l = list(&store.mailbox, &gid).unwrap();
    let mut want = vec![dead_msg.clone(), dead_state.clone()];
    want.sort();
    assert_eq!(l.removed_temps, want);
    assert!(!dir.join(&dead_msg).exists() && !dir.join(&dead_state).exists());
    assert!(dir.join(&live).exists(), "a live writer's temp is kept");
    let json = serde_json::to_value(&l).unwrap();
    assert_eq!(json["removedTemps"].as_array().unwrap().len(), 2);

    std::fs::write(dir.join(&dead_msg), "half").unwrap();
    let d = drain(&store.sessions, &store.mailbox, &gid, now()).unwrap();
    assert_eq!(d.removed_temps, [dead_msg]);
    assert_eq!(d.messages.len(), 1, "the temp is never a message");
}

#[test]
fn doorbell_never_appends_to_a_hook_log_symlink_and_the_outside_file_is_untouched() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    send(&store, &gid, "m").unwrap();
    let dir = store.mailbox.join(GID);
    let outside = store.root.path().join("outside.log");
    std::fs::write(&outside, "keep\n").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join(entwurf_mailbox::HOOK_LOG_FILE)).unwrap();
    let e = entwurf_mailbox::ring_doorbell(&dir, chrono::NaiveTime::MIN).unwrap_err();
    assert!(
        entwurf_fs::Chain(&e).to_string().contains("symbolic link"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep\n");
    // The message was not marked delivered: it is still fresh for the next ring or drain.
    let fresh = entwurf_testkit::entries_ending(&dir, ".msg").len();
    assert_eq!(fresh, 1);
}
