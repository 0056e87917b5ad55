//! `state.json` on disk: absent → all-null, stamp creates 0600 via tmp + rename and keeps the
//! other fields and only moves forward; an unparseable file is a typed error to read and is set
//! aside and rebuilt by a stamp; a drifted one is refused.

mod common;

use std::os::unix::fs::PermissionsExt;

use chrono::{DateTime, Utc};
use common::{Store, GID};
use entwurf_mailbox::{
    read_state, stamp_state, stamp_state_reporting, state_path, MailboxError, ReceiptField,
    ReceiptState, ReceiptStateError,
};
use entwurf_meta_session::GardenId;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn stamps_one_field_at_a_time_with_mode_0600_and_no_tmp_left() {
    let store = Store::new();
    let gid = GardenId::parse(GID).unwrap();
    assert_eq!(
        read_state(&store.mailbox, &gid).unwrap(),
        ReceiptState::empty(&gid)
    );
    assert!(!store.mailbox.exists(), "reading creates nothing");

    let s1 = stamp_state(
        &store.mailbox,
        &gid,
        ReceiptField::LastEnqueuedAt,
        at("2026-06-12T10:05:00.123Z"),
    )
    .unwrap();
    let s2 = stamp_state(
        &store.mailbox,
        &gid,
        ReceiptField::LastDeliveredAt,
        at("2026-06-12T10:06:00Z"),
    )
    .unwrap();
    assert_eq!(
        s1.last_enqueued_at.as_deref(),
        Some("2026-06-12T10:05:00.123Z")
    );
    assert_eq!(
        s2.last_enqueued_at, s1.last_enqueued_at,
        "other fields kept"
    );
    assert_eq!(
        s2.last_delivered_at.as_deref(),
        Some("2026-06-12T10:06:00.000Z")
    );
    assert_eq!(read_state(&store.mailbox, &gid).unwrap(), s2);

    let path = state_path(&store.mailbox, &gid);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let names = common::listing(&store.mailbox_of(GID));
    assert_eq!(names, [("state.json".to_owned(), 0o600)]);
}

/// Row 2: an unparseable `state.json` stopped every send. Reading it is still a typed error
/// (the reference's texts), but a stamp sets the bytes aside and rebuilds the state.
#[test]
fn an_unparseable_state_is_an_error_to_read_but_a_stamp_sets_it_aside_and_rebuilds() {
    let store = Store::new();
    let gid = GardenId::parse(GID).unwrap();
    let path = state_path(&store.mailbox, &gid);
    let dir = path.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    for (content, want) in [
        ("", "mailbox receipt state is not valid JSON: "),
        ("{\"schemaV", "mailbox receipt state is not valid JSON: "),
        ("[]", "mailbox receipt state must be a JSON object (got object)."),
        ("{\"schemaVersion\":\"1\"}", "mailbox receipt state \"schemaVersion\" must be 1 (got string \"1\")."),
        ("{\"schemaVersion\":1,\"gardenId\":\"../x\",\"lastEnqueuedAt\":null,\"lastDeliveredAt\":null,\"lastReadAt\":null}",
         "meta-record \"gardenId\" must match YYYYMMDDTHHMMSS-[0-9a-f]{6} (got \"../x\")."),
        ("{\"schemaVersion\":1,\"lastEnqueuedAt\":null,\"lastDeliveredAt\":null,\"lastReadAt\":null}",
         "meta-record field \"gardenId\" must be a non-empty string (got undefined)."),
    ] {
        for e in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        let err = read_state(&store.mailbox, &gid).unwrap_err();
        let MailboxError::State { source, path: p, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(source.to_string().starts_with(want), "{source}");
        assert_eq!(p, &path);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), content, "a read changes nothing");

        let now = at("2026-06-12T10:05:00.123Z");
        let stamped = stamp_state_reporting(&store.mailbox, &gid, ReceiptField::LastReadAt, now)
            .unwrap();
        let aside = stamped.set_aside.expect("the bad file is named");
        assert_eq!(aside.parent(), Some(dir.as_path()));
        assert!(aside
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("state.json.unparseable-"));
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), content, "kept whole");
        let mut want_state = ReceiptState::empty(&gid);
        want_state.last_read_at = Some("2026-06-12T10:05:00.123Z".into());
        assert_eq!(stamped.state, want_state);
        assert_eq!(read_state(&store.mailbox, &gid).unwrap(), want_state);
    }
}

/// A state that parses but names another citizen is a misplaced mailbox: refused, untouched
/// (the reference refuses it too; its golden case is in `flow.rs`).
#[test]
fn a_drifted_state_is_still_refused_by_a_stamp_and_kept() {
    let store = Store::new();
    let gid = GardenId::parse(GID).unwrap();
    let path = state_path(&store.mailbox, &gid);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let other = GardenId::parse("20260612T100500-cccccc").unwrap();
    let body = ReceiptState::empty(&other).to_file_string();
    std::fs::write(&path, &body).unwrap();
    let err = stamp_state(&store.mailbox, &gid, ReceiptField::LastReadAt, Utc::now()).unwrap_err();
    assert!(matches!(err, MailboxError::State { .. }), "{err:?}");
    assert!(err.to_string().contains("fix or remove"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), body);
    assert_eq!(
        common::listing(path.parent().unwrap()).len(),
        1,
        "nothing set aside"
    );
}

/// Forward only: a stamp older than the file's writes nothing.
#[test]
fn an_older_stamp_never_moves_a_receipt_back() {
    let store = Store::new();
    let gid = GardenId::parse(GID).unwrap();
    let new = at("2026-06-12T10:05:00.000Z");
    let old = at("2026-06-12T10:04:59.999Z");
    stamp_state(&store.mailbox, &gid, ReceiptField::LastEnqueuedAt, new).unwrap();
    let s = stamp_state(&store.mailbox, &gid, ReceiptField::LastEnqueuedAt, old).unwrap();
    assert_eq!(
        s.last_enqueued_at.as_deref(),
        Some("2026-06-12T10:05:00.000Z")
    );
    assert_eq!(read_state(&store.mailbox, &gid).unwrap(), s);
}

#[test]
fn the_parse_error_kind_of_garbage_is_invalid_json() {
    assert!(matches!(
        ReceiptState::parse("{"),
        Err(ReceiptStateError::InvalidJson { .. })
    ));
}
