//! The guarded send and bad input: refusals leave the mailbox byte-identical; broken paths give
//! typed errors and lose nothing.

mod common;

use chrono::{DateTime, Utc};
use common::{snapshot, Store, GID, NATIVE};
use entwurf_mailbox::{
    deliverability_of, drain, enqueue, list, send_guarded, BadEntryKind, MailboxError, RandomTags,
};
use entwurf_meta_session::GardenId;
use rstest::rstest;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-12T10:05:00.123Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A pid above any Linux pid_max: never alive.
const DEAD_PID: i64 = 999_999_999;

#[derive(Debug, Clone, Copy)]
enum Setup {
    NoMarker,
    DeadOwner,
    DriftedNative,
    KeyMismatch,
    CodexLiveMarker,
    OtherGidMarker,
}

#[rstest]
#[case::no_marker(Setup::NoMarker, "self-fetch receiver inactive — owner not alive (start-key mismatch — session exited or pid reused)")]
#[case::dead_owner_marker(Setup::DeadOwner, "self-fetch receiver inactive — owner not alive (start-key mismatch — session exited or pid reused)")]
#[case::drifted_native_session_id(Setup::DriftedNative, "self-fetch receiver inactive — owner not alive (start-key mismatch — session exited or pid reused)")]
#[case::live_pid_wrong_start_key(Setup::KeyMismatch, "self-fetch receiver inactive — owner not alive (start-key mismatch — session exited or pid reused)")]
#[case::codex_with_live_marker(
    Setup::CodexLiveMarker,
    "backend wake mode direct-inject is not self-fetch — a mailbox enqueue would never be drained"
)]
#[case::marker_of_another_gid(Setup::OtherGidMarker, "self-fetch receiver inactive — owner not alive (start-key mismatch — session exited or pid reused)")]
fn refused_send_leaves_the_mailbox_byte_identical(
    #[case] setup: Setup,
    #[case] reason: &str,
    #[values(false, true)] mailbox_already_has_traffic: bool,
) {
    let store = Store::new();
    let backend = match setup {
        Setup::CodexLiveMarker => "codex",
        _ => "claude-code",
    };
    let gid = store.record(GID, backend, NATIVE);
    let me = std::process::id();
    match setup {
        Setup::NoMarker => {}
        Setup::DeadOwner => store.marker(GID, backend, NATIVE, DEAD_PID, "linux:1"),
        Setup::DriftedNative => store.marker(
            GID,
            backend,
            "another-native",
            me.into(),
            &common::start_key(me),
        ),
        Setup::KeyMismatch => store.marker(GID, backend, NATIVE, me.into(), "linux:1"),
        Setup::CodexLiveMarker => store.live_marker(GID, backend, NATIVE),
        Setup::OtherGidMarker => {
            store.marker(
                "20260612T100500-cccccc",
                backend,
                NATIVE,
                me.into(),
                &common::start_key(me),
            );
            std::fs::rename(
                store.receivers.join("20260612T100500-cccccc.json"),
                store.receivers.join(format!("{GID}.json")),
            )
            .unwrap();
        }
    }
    if mailbox_already_has_traffic {
        // Earlier traffic (sent while a receiver was armed): the refusal must not touch it.
        enqueue(
            &store.sessions,
            &store.mailbox,
            &gid,
            "old",
            now(),
            &mut RandomTags,
        )
        .unwrap();
    }
    let before = snapshot(&store.mailbox);
    let receivers_before = snapshot(&store.receivers);

    let err = send_guarded(store.dirs(), &gid, "hello", now(), &mut RandomTags).unwrap_err();
    match &err {
        MailboxError::Undeliverable { gid: g, reason: r } => {
            assert_eq!(g, &gid);
            assert_eq!(r, reason);
        }
        other => panic!("expected Undeliverable, got {other:?}"),
    }
    assert!(err.to_string().contains("mailbox-undeliverable"), "{err}");
    assert_eq!(snapshot(&store.mailbox), before, "mailbox changed");
    assert_eq!(
        snapshot(&store.receivers),
        receivers_before,
        "markers changed"
    );
    if !mailbox_already_has_traffic {
        assert!(
            !store.mailbox.exists(),
            "the mailbox root is not even created"
        );
    }
    let verdict = deliverability_of(store.dirs(), &gid).unwrap();
    assert!(!verdict.deliverable);
    assert_eq!(verdict.reason, reason);
}

#[test]
fn accepted_send_with_a_live_matching_marker_writes_exactly_msg_signal_state() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    store.live_marker(GID, "claude-code", NATIVE);
    let verdict = deliverability_of(store.dirs(), &gid).unwrap();
    assert!(verdict.deliverable);
    assert_eq!(
        verdict.reason,
        "self-fetch receiver active (record backed, owner alive, watch armed)"
    );
    let r = send_guarded(store.dirs(), &gid, "hello", now(), &mut || {
        [0x02, 0x17, 0xf1]
    })
    .unwrap();
    let names: Vec<String> = common::listing(&store.mailbox_of(GID))
        .into_iter()
        .map(|(n, mode)| {
            assert_eq!(mode, 0o600, "{n}");
            n
        })
        .collect();
    assert_eq!(
        names,
        [
            "2026-06-12T10-05-00-123Z-0217f1.msg",
            "inbox.signal",
            "state.json"
        ]
    );
    assert_eq!(std::fs::read_to_string(r.message_path).unwrap(), "hello");
}

#[test]
fn a_send_that_collides_with_an_existing_name_takes_a_fresh_tag_and_loses_nothing() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    let mut seq = vec![[1, 1, 1], [1, 1, 1], [1, 1, 1], [2, 2, 2]].into_iter();
    let mut tags = move || seq.next().unwrap();
    let a = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "first",
        now(),
        &mut tags,
    )
    .unwrap();
    let b = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "second",
        now(),
        &mut tags,
    )
    .unwrap();
    assert_ne!(a.message_path, b.message_path);
    assert_eq!(std::fs::read_to_string(&a.message_path).unwrap(), "first");
    assert_eq!(std::fs::read_to_string(&b.message_path).unwrap(), "second");
}

#[test]
fn a_failed_doorbell_poke_withdraws_the_message() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    let dir = store.mailbox_of(GID);
    std::fs::create_dir_all(dir.join("inbox.signal")).unwrap(); // not a writable file
    let err = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "x",
        now(),
        &mut RandomTags,
    )
    .unwrap_err();
    assert!(matches!(err, MailboxError::SignalFailed { .. }), "{err:?}");
    let listing = list(&store.mailbox, &gid).unwrap();
    assert!(listing.entries.is_empty(), "{:?}", listing.entries);
    let hidden: Vec<_> = common::listing(&dir)
        .into_iter()
        .filter(|(n, _)| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "tmp files left: {hidden:?}");
}

#[test]
fn invalid_garden_ids_never_reach_the_filesystem() {
    for bad in [
        "../x",
        "",
        "20260612T100000-AAAAAA",
        "20260612T100000-aaaaaa\n",
    ] {
        let err = MailboxError::from(GardenId::parse(bad).unwrap_err());
        assert!(err.to_string().contains("invalid garden id"), "{err}");
    }
}

#[test]
fn a_mailbox_root_that_is_a_file_is_a_typed_error_and_the_file_survives() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    std::fs::write(&store.mailbox, "precious").unwrap();
    let err = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "x",
        now(),
        &mut RandomTags,
    )
    .unwrap_err();
    match &err {
        MailboxError::NotADirectory { path } => assert_eq!(path, &store.mailbox),
        other => panic!("{other:?}"),
    }
    let err = drain(&store.sessions, &store.mailbox, &gid, now()).unwrap_err();
    assert!(matches!(err, MailboxError::NotADirectory { .. }), "{err:?}");
    let err = list(&store.mailbox, &gid).unwrap_err();
    assert!(matches!(err, MailboxError::NotADirectory { .. }), "{err:?}");
    assert_eq!(std::fs::read_to_string(&store.mailbox).unwrap(), "precious");
}

#[test]
fn a_citizen_mailbox_that_is_a_file_is_a_typed_error_and_the_file_survives() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    std::fs::create_dir_all(&store.mailbox).unwrap();
    std::fs::write(store.mailbox_of(GID), "precious").unwrap();
    let err = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "x",
        now(),
        &mut RandomTags,
    )
    .unwrap_err();
    match &err {
        MailboxError::NotADirectory { path } => assert_eq!(path, &store.mailbox_of(GID)),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("not a directory"));
    let err = drain(&store.sessions, &store.mailbox, &gid, now()).unwrap_err();
    assert!(matches!(err, MailboxError::NotADirectory { .. }), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(store.mailbox_of(GID)).unwrap(),
        "precious"
    );
}

#[test]
fn a_corrupt_or_drifted_record_refuses_before_any_mailbox_io() {
    let store = Store::new();
    let gid = GardenId::parse(GID).unwrap();
    std::fs::write(
        store.sessions.join(format!("{GID}.meta.json")),
        "{ broken\n",
    )
    .unwrap();
    let err = send_guarded(store.dirs(), &gid, "x", now(), &mut RandomTags).unwrap_err();
    assert!(matches!(err, MailboxError::Record { .. }), "{err:?}");
    // The cause is in the chain, not repeated in the error's own text.
    assert!(
        !err.to_string().contains("meta-record is not valid JSON"),
        "{err}"
    );
    assert!(
        entwurf_fs::Chain(&err)
            .to_string()
            .contains("meta-record is not valid JSON"),
        "{err}"
    );
    // Drift: a valid record for another gid installed under this name.
    store.record("20260612T100500-cccccc", "claude-code", NATIVE);
    std::fs::rename(
        store.sessions.join("20260612T100500-cccccc.meta.json"),
        store.sessions.join(format!("{GID}.meta.json")),
    )
    .unwrap();
    let err = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "x",
        now(),
        &mut RandomTags,
    )
    .unwrap_err();
    assert!(
        entwurf_fs::Chain(&err)
            .to_string()
            .contains("body/filename drift"),
        "{err}"
    );
    assert!(!store.mailbox.exists());
}

// An unreadable mailbox *directory* is covered by `crates/entwurf-cli/tests/cli_mailbox.rs`,
// which drops privileges with setpriv when run as root so the permission bits bind.

/// Row 4: a directory named `….msg` made every later drain fail. Every entry with a message
/// name that is not a readable regular file is reported as a bad entry and left in place; every
/// good message is delivered; the drain is clean. A symlink is never followed, a FIFO never
/// blocks the drain. (Unreadable files as an unprivileged user: `cli_mailbox.rs`.)
#[test]
fn a_drain_delivers_every_good_message_and_reports_directories_symlinks_and_fifos() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    for (body, tag) in [("first", [1, 1, 1]), ("second", [2, 2, 2])] {
        enqueue(
            &store.sessions,
            &store.mailbox,
            &gid,
            body,
            now(),
            &mut move || tag,
        )
        .unwrap();
    }
    let dir = store.mailbox_of(GID);
    let secret = store.root.path().join("secret");
    std::fs::write(&secret, "not for the drain").unwrap();
    let names = [
        "2026-06-12T10-05-00-123Z-0a0a0a.msg",
        "2026-06-12T10-05-00-123Z-0b0b0b.msg",
        "2026-06-12T10-05-00-123Z-0c0c0c.msg.delivered",
    ];
    std::fs::create_dir(dir.join(names[0])).unwrap();
    std::os::unix::fs::symlink(&secret, dir.join(names[1])).unwrap();
    entwurf_testkit::mkfifo(dir.join(names[2]));

    let d = drain(&store.sessions, &store.mailbox, &gid, now()).unwrap();
    let bodies: Vec<&str> = d.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["first", "second"]);
    let bad: Vec<(&str, BadEntryKind)> = d
        .bad_entries
        .iter()
        .map(|b| (b.file.as_str(), b.kind))
        .collect();
    assert_eq!(
        bad,
        [
            (names[0], BadEntryKind::Directory),
            (names[1], BadEntryKind::Symlink),
            (names[2], BadEntryKind::Fifo),
        ]
    );
    assert!(d.left_unread.is_empty(), "{:?}", d.left_unread);
    assert!(d.is_clean(), "bad entries are reported, not fatal");
    assert!(d.read_at.is_some());
    // Left where they were, the symlink's target untouched.
    assert!(dir.join(names[0]).is_dir());
    assert!(dir
        .join(names[1])
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "not for the drain"
    );
    // A second drain: nothing to deliver, the same three reported, still clean.
    let again = drain(&store.sessions, &store.mailbox, &gid, now()).unwrap();
    assert!(again.messages.is_empty());
    assert_eq!(again.bad_entries.len(), 3);
    assert!(again.is_clean());
}

/// The hint of an IO error follows its errno: EISDIR is not "check permissions and free space".
#[test]
fn io_error_hints_match_the_errno() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    let dir = store.mailbox_of(GID);
    std::fs::create_dir_all(dir.join("inbox.signal")).unwrap();
    let err = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "x",
        now(),
        &mut RandomTags,
    )
    .unwrap_err();
    // The store layer's refusal ("it is a directory") is the cause, shown by the chain, not by
    // the error itself.
    assert!(!err.to_string().contains("directory"), "{err}");
    let text = entwurf_fs::Chain(&err).to_string();
    assert!(text.contains("it is a directory"), "{text}");
    assert!(!text.contains("permissions"), "{text}");
    assert!(!text.contains("free space"), "{text}");
    let io = std::io::Error::from_raw_os_error(21); // EISDIR, as a drain or a stamp would see it
    let e = MailboxError::Io {
        op: "read the message",
        path: dir.join("x.msg"),
        source: io,
    };
    assert!(
        e.to_string().ends_with(
            "a directory is in the way where a file belongs; move it out of the mailbox"
        ),
        "{e}"
    );
    let e = MailboxError::Io {
        op: "write the receipt state",
        path: dir.join("state.json"),
        source: std::io::Error::from_raw_os_error(28), // ENOSPC
    };
    assert!(e.to_string().contains("free some space"), "{e}");
    let e = MailboxError::Io {
        op: "read the message",
        path: dir.join("x.msg"),
        source: std::io::Error::from_raw_os_error(13), // EACCES
    };
    assert!(e.to_string().contains("permissions"), "{e}");
}

#[test]
fn a_drain_follows_a_message_the_doorbell_renamed_and_list_mutates_nothing() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "one",
        now(),
        &mut || [1, 1, 1],
    )
    .unwrap();
    enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "two",
        now(),
        &mut || [2, 2, 2],
    )
    .unwrap();
    let dir = store.mailbox_of(GID);
    entwurf_mailbox::ring_doorbell(&dir, chrono::NaiveTime::MIN).unwrap();
    enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "three",
        now(),
        &mut || [3, 3, 3],
    )
    .unwrap();

    let before = snapshot(&store.mailbox);
    let l = list(&store.mailbox, &gid).unwrap();
    assert_eq!(snapshot(&store.mailbox), before, "list is read-only");
    let kinds: Vec<_> = l
        .entries
        .iter()
        .map(|e| (e.file.as_str(), e.kind))
        .collect();
    use entwurf_mailbox::EntryKind::*;
    assert_eq!(
        kinds,
        [
            ("2026-06-12T10-05-00-123Z-010101.msg.delivered", Delivered),
            ("2026-06-12T10-05-00-123Z-020202.msg.delivered", Delivered),
            ("2026-06-12T10-05-00-123Z-030303.msg", Fresh),
        ]
    );
    assert_eq!(l.unread().count(), 3);
    assert_eq!(
        l.state.last_enqueued_at.as_deref(),
        Some("2026-06-12T10:05:00.123Z")
    );

    let d = drain(&store.sessions, &store.mailbox, &gid, now()).unwrap();
    let bodies: Vec<_> = d.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["one", "two", "three"]);
    let l = list(&store.mailbox, &gid).unwrap();
    assert!(l.entries.iter().all(|e| e.kind == Read));
    assert_eq!(l.unread().count(), 0);
}
