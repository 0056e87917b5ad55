//! The production deliverability (`mailbox_deliverability_for`) over every receiver-marker case
//! of the corpus (`fixtures/golden/markers/receiver-cases/`), installed for record
//! 20260612T100000-aaaaaa (claude-code), plus the same marker under a codex record.

mod common;

use common::{golden, Store, GID, NATIVE};
use entwurf_mailbox::{deliverability_of, mailbox_deliverability_for};
use entwurf_meta_session::read_record;
use rstest::rstest;

/// Rewrites `ownerPid`/`ownerStartKey` to this live test process.
fn with_live_owner(bytes: &[u8]) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let pid = std::process::id();
    v["ownerPid"] = pid.into();
    v["ownerStartKey"] = common::start_key(pid).into();
    (serde_json::to_string_pretty(&v).unwrap() + "\n").into_bytes()
}

#[rstest]
#[case::valid("valid.json", true, true)]
#[case::bad_json("bad-json.json", false, false)]
#[case::array("array.json", false, false)]
#[case::null("null.json", false, false)]
#[case::backend_pi("backend-pi.json", false, false)]
#[case::bad_gid("bad-gid.json", false, false)]
#[case::arm_prompt("arm-prompt.json", false, false)]
#[case::arm_file_changed("arm-file-changed.json", true, true)]
#[case::empty_native("empty-native.json", false, false)]
#[case::empty_key("empty-key.json", false, false)]
#[case::empty_kind("empty-kind.json", false, false)]
#[case::no_updated("no-updated.json", false, false)]
#[case::pid_string("pid-string.json", false, false)]
#[case::pid_float("pid-float.json", false, false)]
#[case::pid_missing("pid-missing.json", false, false)]
#[case::dead_owner("dead-owner.json", false, false)]
#[case::key_mismatch("key-mismatch.json", false, false)]
#[case::extra_key("extra-key.json", true, true)]
#[case::other_gid("other-gid.json", true, false)]
#[case::written_dead("written-dead.json", false, false)]
fn receiver_cases_decide_deliverability(
    #[case] file: &str,
    #[case] needs_live_owner: bool,
    #[case] deliverable: bool,
) {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    std::fs::create_dir_all(&store.receivers).unwrap();
    let raw = std::fs::read(golden(&format!("markers/receiver-cases/{file}"))).unwrap();
    let bytes = if needs_live_owner {
        with_live_owner(&raw)
    } else {
        raw
    };
    std::fs::write(store.receivers.join(format!("{GID}.json")), bytes).unwrap();

    let record = read_record(&store.sessions, &gid).unwrap();
    let verdict = mailbox_deliverability_for(&store.receivers, &record);
    assert_eq!(
        verdict.deliverable, deliverable,
        "{file}: {}",
        verdict.reason
    );
    let expected_reason = if deliverable {
        "self-fetch receiver active (record backed, owner alive, watch armed)"
    } else {
        "self-fetch receiver inactive — owner not alive (start-key mismatch — session exited or pid reused)"
    };
    assert_eq!(verdict.reason, expected_reason);
    assert_eq!(deliverability_of(store.dirs(), &gid).unwrap(), verdict);
}

#[test]
fn absent_marker_is_undeliverable() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    let record = read_record(&store.sessions, &gid).unwrap();
    assert!(!mailbox_deliverability_for(&store.receivers, &record).deliverable);
}

#[test]
fn a_codex_record_is_never_deliverable_even_with_a_live_matching_marker() {
    let store = Store::new();
    let gid = store.record(GID, "codex", NATIVE);
    store.live_marker(GID, "codex", NATIVE);
    let record = read_record(&store.sessions, &gid).unwrap();
    let v = mailbox_deliverability_for(&store.receivers, &record);
    assert!(!v.deliverable);
    assert_eq!(
        v.reason,
        "backend wake mode direct-inject is not self-fetch — a mailbox enqueue would never be drained"
    );
}
