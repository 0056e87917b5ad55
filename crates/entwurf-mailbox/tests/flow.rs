//! The reference flow (`fixtures/golden/mailbox/flow.json`): enqueue → doorbell → doorbell →
//! enqueue → drain → drain → two same-millisecond enqueues → doorbell; names, modes, bytes,
//! results and notices after each step. Plus the reject texts and the empty drain.

mod common;

use chrono::{DateTime, NaiveTime, Utc};
use common::{golden, listing, Store, GID, NATIVE};
use entwurf_mailbox::{drain, enqueue, list, read_state, ring_doorbell, EntryKind, MailboxError};
use serde_json::Value;

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn tags(list: &[[u8; 3]]) -> impl FnMut() -> [u8; 3] {
    let list = list.to_vec();
    let mut i = 0;
    move || {
        let t = list[i];
        i += 1;
        t
    }
}

fn expected_listing(step: &Value) -> Vec<(String, u32)> {
    step["listing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                u32::from_str_radix(e["mode"].as_str().unwrap(), 8).unwrap(),
            )
        })
        .collect()
}

fn sub(s: &str, tmp: &std::path::Path) -> String {
    s.replace("<tmp>", &tmp.display().to_string())
}

#[test]
fn the_reference_flow_is_reproduced() {
    let flow: Value =
        serde_json::from_slice(&std::fs::read(golden("mailbox/flow.json")).unwrap()).unwrap();
    let steps = flow["steps"].as_array().unwrap();
    let store = Store::new();
    let tmp = store.root.path();
    let gid = store.record(GID, "claude-code", NATIVE);
    let dir = store.mailbox_of(GID);
    let at = NaiveTime::from_hms_opt(6, 22, 58).unwrap();
    let body1 = std::fs::read_to_string(golden("mailbox/bodies/rep-pi-yes.msg")).unwrap();

    // Step 0: no mailbox dir yet.
    assert!(steps[0]["listing"].is_null());
    assert!(!dir.exists());

    // Step 1: enqueue #1.
    let r = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        &body1,
        instant("2026-06-12T10:05:00.123Z"),
        &mut tags(&[[0x02, 0x17, 0xf1]]),
    )
    .unwrap();
    let want = &steps[1]["result"];
    assert_eq!(r.garden_id.as_str(), want["gardenId"]);
    assert_eq!(
        r.record_path.display().to_string(),
        sub(want["recordPath"].as_str().unwrap(), tmp)
    );
    assert_eq!(
        r.message_path.display().to_string(),
        sub(want["messagePath"].as_str().unwrap(), tmp)
    );
    assert_eq!(
        r.signal_path.display().to_string(),
        sub(want["signalPath"].as_str().unwrap(), tmp)
    );
    assert_eq!(listing(&dir), expected_listing(&steps[1]));
    assert_eq!(
        std::fs::read(dir.join("state.json")).unwrap(),
        std::fs::read(golden("mailbox/state-enqueued.json")).unwrap()
    );
    assert_eq!(
        std::fs::read(dir.join("inbox.signal")).unwrap(),
        std::fs::read(golden("mailbox/inbox.signal")).unwrap()
    );
    assert_eq!(std::fs::read_to_string(&r.message_path).unwrap(), body1);

    // Step 2: doorbell with a fresh .msg.
    let ring = ring_doorbell(&dir, at).unwrap();
    assert_eq!(
        u64::from(ring.exit_code),
        steps[2]["exitCode"].as_u64().unwrap()
    );
    assert_eq!(ring.notice, sub(steps[2]["stderr"].as_str().unwrap(), tmp));
    assert_eq!(
        std::fs::read_to_string(dir.join("hook.log")).unwrap(),
        sub(steps[2]["hookLog"].as_str().unwrap(), tmp)
    );
    assert_eq!(listing(&dir), expected_listing(&steps[2]));

    // Step 3: a bare poke never re-rings a backlog.
    let ring = ring_doorbell(&dir, at).unwrap();
    assert_eq!(ring.exit_code, 0);
    assert_eq!(ring.notice, "");
    assert_eq!(listing(&dir), expected_listing(&steps[3]));

    // Step 4: enqueue #2.
    let r = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "second message, raw body without trailing newline",
        instant("2026-06-12T10:06:00.000Z"),
        &mut tags(&[[0xc8, 0x98, 0x11]]),
    )
    .unwrap();
    assert_eq!(
        r.message_path.display().to_string(),
        sub(steps[4]["result"]["messagePath"].as_str().unwrap(), tmp)
    );
    assert_eq!(listing(&dir), expected_listing(&steps[4]));

    // Step 5: drain.
    let d = drain(
        &store.sessions,
        &store.mailbox,
        &gid,
        instant("2026-06-12T10:07:00.000Z"),
    )
    .unwrap();
    assert!(d.is_clean());
    let want = &steps[5]["result"];
    let got_messages: Vec<Value> = d
        .messages
        .iter()
        .map(|m| serde_json::json!({"file": m.file, "body": m.body}))
        .collect();
    assert_eq!(Value::Array(got_messages), want["messages"]);
    assert_eq!(d.read_at.as_deref(), want["readAt"].as_str());
    assert_eq!(
        d.record_path.display().to_string(),
        sub(want["recordPath"].as_str().unwrap(), tmp)
    );
    assert_eq!(listing(&dir), expected_listing(&steps[5]));
    assert_eq!(
        std::fs::read(dir.join("state.json")).unwrap(),
        std::fs::read(golden("mailbox/state-read.json")).unwrap()
    );

    // Step 6: drain again: nothing, no mutation.
    let before = common::snapshot(&dir);
    let d = drain(
        &store.sessions,
        &store.mailbox,
        &gid,
        instant("2026-06-12T10:08:00.000Z"),
    )
    .unwrap();
    assert!(d.messages.is_empty());
    assert_eq!(d.read_at, None);
    assert_eq!(common::snapshot(&dir), before);
    assert_eq!(listing(&dir), expected_listing(&steps[6]));

    // Step 7: two enqueues in the same millisecond, then the doorbell (plural notice).
    let now = instant("2026-06-12T10:09:00.000Z");
    for (body, tag) in [("three", [0x11; 3]), ("four!!", [0x22; 3])] {
        enqueue(
            &store.sessions,
            &store.mailbox,
            &gid,
            body,
            now,
            &mut tags(&[tag]),
        )
        .unwrap();
    }
    assert_eq!(
        std::fs::read(dir.join("inbox.signal")).unwrap(),
        std::fs::read(golden("mailbox/inbox.signal-2")).unwrap()
    );
    let ring = ring_doorbell(&dir, at).unwrap();
    assert_eq!(
        u64::from(ring.exit_code),
        steps[7]["exitCode"].as_u64().unwrap()
    );
    assert_eq!(ring.notice, sub(steps[7]["stderr"].as_str().unwrap(), tmp));
    assert_eq!(
        std::fs::read_to_string(dir.join("hook.log")).unwrap(),
        sub(steps[7]["hookLog"].as_str().unwrap(), tmp)
    );
    assert_eq!(listing(&dir), expected_listing(&steps[7]));
    let sizes: Vec<(String, u64)> = list(&store.mailbox, &gid)
        .unwrap()
        .entries
        .iter()
        .map(|e| (e.file.clone(), e.size))
        .collect();
    for e in steps[7]["listing"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        if EntryKind::of(name).is_some() {
            assert!(
                sizes.contains(&(name.to_owned(), e["size"].as_u64().unwrap())),
                "{name} size"
            );
        }
    }
}

#[test]
fn empty_drain_creates_nothing() {
    let store = Store::new();
    let gid = store.record("20260612T100500-cccccc", "claude-code", "n");
    let d = drain(
        &store.sessions,
        &store.mailbox,
        &gid,
        instant("2026-06-12T10:07:00.000Z"),
    )
    .unwrap();
    assert!(d.messages.is_empty());
    assert_eq!(d.read_at, None);
    assert!(!store.mailbox.exists(), "no mailbox root is created");
    assert_eq!(
        read_state(&store.mailbox, &gid).unwrap(),
        entwurf_mailbox::ReceiptState::empty(&gid)
    );
}

#[test]
fn state_drift_refuses_the_enqueue_and_leaves_no_message() {
    let store = Store::new();
    let gid = store.record("20260612T100500-cccccc", "claude-code", "n");
    let dir = store.mailbox_of(gid.as_str());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(golden("mailbox/state-drift.json"), dir.join("state.json")).unwrap();
    let before = common::snapshot(&store.mailbox);
    let err = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "x",
        instant("2026-06-12T10:11:00.000Z"),
        &mut tags(&[[0x33; 3]]),
    )
    .unwrap_err();
    let MailboxError::State { source, path, .. } = &err else {
        panic!("expected a state error, got {err:?}");
    };
    assert_eq!(
        source.to_string(),
        "mailbox receipt state body/path gardenId drift — body gardenId=20260612T100000-aaaaaa, read from <mailbox>/20260612T100500-cccccc/state.json."
    );
    assert_eq!(path, &dir.join("state.json"));
    // Better than the reference: no orphan .msg, no signal, nothing changed at all.
    assert_eq!(common::snapshot(&store.mailbox), before);
}

#[test]
fn reject_texts_for_empty_body_and_missing_record() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    let err = enqueue(
        &store.sessions,
        &store.mailbox,
        &gid,
        "",
        Utc::now(),
        &mut tags(&[[1, 2, 3]]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "enqueueMetaMessage: body must be a non-empty string."
    );
    assert!(!store.mailbox.exists());

    let missing = entwurf_meta_session::GardenId::parse("20260612T100000-ffffff").unwrap();
    for err in [
        enqueue(
            &store.sessions,
            &store.mailbox,
            &missing,
            "x",
            Utc::now(),
            &mut tags(&[[1, 2, 3]]),
        )
        .unwrap_err(),
        drain(&store.sessions, &store.mailbox, &missing, Utc::now()).unwrap_err(),
    ] {
        assert_eq!(
            err.to_string(),
            format!(
                "no meta-record for garden id \"20260612T100000-ffffff\" under {} — not a garden citizen, cannot deliver.",
                store.sessions.display()
            )
        );
        assert!(matches!(err, MailboxError::RecordMissing { .. }));
    }
    assert!(!store.mailbox.exists(), "mailbox dir not created");
}

#[test]
fn an_enqueue_for_a_resolved_record_writes_what_a_reading_enqueue_writes() {
    let at = instant("2026-06-12T10:12:00.000Z");
    let mut trees = Vec::new();
    for resolved in [false, true] {
        let store = Store::new();
        let gid = store.record(GID, "claude-code", NATIVE);
        let done = if resolved {
            let record = entwurf_meta_session::read_record(&store.sessions, &gid).unwrap();
            entwurf_mailbox::enqueue_resolved(
                &record,
                &store.sessions,
                &store.mailbox,
                "hello",
                at,
                &mut tags(&[[0x44; 3]]),
            )
        } else {
            enqueue(
                &store.sessions,
                &store.mailbox,
                &gid,
                "hello",
                at,
                &mut tags(&[[0x44; 3]]),
            )
        }
        .unwrap();
        assert_eq!(
            done.record_path,
            store.sessions.join(format!("{GID}.meta.json"))
        );
        assert_eq!(
            done.message_path,
            store
                .mailbox_of(GID)
                .join("2026-06-12T10-12-00-000Z-444444.msg")
        );
        trees.push(common::snapshot(&store.mailbox));
    }
    assert_eq!(trees[0], trees[1]);
}
