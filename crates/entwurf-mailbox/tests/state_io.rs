//! `state.json` on disk: absent → all-null, stamp creates 0600 via tmp + rename and keeps the
//! other fields, invalid files are typed errors that leave the file as it was.

mod common;

use std::os::unix::fs::PermissionsExt;

use chrono::{DateTime, Utc};
use common::{Store, GID};
use entwurf_mailbox::{
    read_state, stamp_state, state_path, MailboxError, ReceiptField, ReceiptState,
    ReceiptStateError,
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

#[test]
fn invalid_state_files_are_typed_errors_and_stay_untouched() {
    let store = Store::new();
    let gid = GardenId::parse(GID).unwrap();
    let path = state_path(&store.mailbox, &gid);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    for (content, want) in [
        ("", "mailbox receipt state is not valid JSON: "),
        ("[]", "mailbox receipt state must be a JSON object (got object)."),
        ("{\"schemaVersion\":\"1\"}", "mailbox receipt state \"schemaVersion\" must be 1 (got string \"1\")."),
        ("{\"schemaVersion\":1,\"gardenId\":\"../x\",\"lastEnqueuedAt\":null,\"lastDeliveredAt\":null,\"lastReadAt\":null}",
         "meta-record \"gardenId\" must match YYYYMMDDTHHMMSS-[0-9a-f]{6} (got \"../x\")."),
        ("{\"schemaVersion\":1,\"lastEnqueuedAt\":null,\"lastDeliveredAt\":null,\"lastReadAt\":null}",
         "meta-record field \"gardenId\" must be a non-empty string (got undefined)."),
    ] {
        std::fs::write(&path, content).unwrap();
        for err in [
            read_state(&store.mailbox, &gid).unwrap_err(),
            stamp_state(&store.mailbox, &gid, ReceiptField::LastReadAt, Utc::now()).unwrap_err(),
        ] {
            let MailboxError::State { source, path: p, .. } = &err else {
                panic!("{err:?}");
            };
            assert!(source.to_string().starts_with(want), "{source}");
            assert_eq!(p, &path);
            assert!(err.to_string().contains("fix or remove"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), content, "file kept as it was");
    }
    assert!(matches!(
        ReceiptState::parse("{"),
        Err(ReceiptStateError::InvalidJson { .. })
    ));
}
