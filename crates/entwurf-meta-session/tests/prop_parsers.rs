//! Property tests for meta-session's parsers: records (v1 and v2), `state.json`, receiver and
//! sender markers. Arbitrary bytes never panic a parser; what our writers produce parses back
//! equal. Case counts are fixed so `cargo test` stays fast (see each `ProptestConfig`).

use std::path::Path;

use chrono::{TimeZone, Utc};
use entwurf_meta_session::{
    parse_record_bytes, parse_stored_record, read_receiver_marker_at, read_sender_marker_at,
    write_receiver_marker, write_sender_marker, ArmProvenance, Backend, GardenId, MetaRecord,
    ReceiptState, ReceiverMarkerInput, SenderMarkerInput, ALL_BACKENDS, MARKER_BACKENDS,
    RECORD_V2_KEYS,
};
use entwurf_testkit::prop::{chars, json_scalar, json_value_over, keyed_object};
use proptest::prelude::*;
use serde_json::{json, Value};

fn gid() -> impl Strategy<Value = GardenId> {
    (0u64..100_000_000, 0u32..1_000_000, 0u32..0x100_0000)
        .prop_map(|(d, t, x)| GardenId::parse(&format!("{d:08}T{t:06}-{x:06x}")).expect("grammar"))
}

fn backend() -> impl Strategy<Value = Backend> {
    prop::sample::select(ALL_BACKENDS.to_vec())
}

fn marker_backend() -> impl Strategy<Value = Backend> {
    prop::sample::select(MARKER_BACKENDS.to_vec())
}

/// Any non-empty string.
fn text() -> impl Strategy<Value = String> {
    chars(1..24)
}

fn record() -> impl Strategy<Value = MetaRecord> {
    (
        gid(),
        backend(),
        text(),
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(gid()),
        any::<bool>(),
        text(),
        text(),
    )
        .prop_map(
            |(garden_id, backend, native, cwd, model, transcript, parent, is_entwurf, c, u)| {
                MetaRecord {
                    schema_version: 2,
                    garden_id,
                    backend,
                    native_session_id: native,
                    cwd,
                    model,
                    transcript_path: transcript,
                    parent_garden_id: parent,
                    is_entwurf,
                    created_at: c,
                    record_updated_at: u,
                }
            },
        )
}

/// Any JSON value, a few levels deep.
/// Any JSON value whose leaves are sometimes a valid garden id (so gid fields parse further).
fn json_value() -> impl Strategy<Value = Value> {
    json_value_over(
        prop_oneof![
            json_scalar(),
            gid().prop_map(|g| Value::String(g.to_string())),
        ]
        .boxed(),
    )
}

/// An object over the record/state keys (plus a stray one now and then) with arbitrary values:
/// it reaches every field check, not only the JSON parser.
fn near_object(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        keyed_object(keys, json_value(), 0..14),
        proptest::option::of(json_value()),
    )
        .prop_map(|(mut map, stray)| {
            if let Some(v) = stray {
                map.insert("stray".into(), v);
            }
            Value::Object(map).to_string()
        })
}

const V1_KEYS: &[&str] = &[
    "schemaVersion",
    "gardenId",
    "backend",
    "nativeSessionId",
    "transcriptPath",
    "cwd",
    "createdAt",
    "lastSeen",
    "delivery",
];

proptest! {
    // 256 cases each: the whole file runs in a few seconds in a debug build.
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_never_panic_the_record_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_stored_record(&bytes);
        let _ = parse_record_bytes(&bytes);
    }

    #[test]
    fn any_record_shaped_object_never_panics_and_a_parse_writes_back_equal(
        v2 in near_object(&RECORD_V2_KEYS),
        v1 in near_object(V1_KEYS),
        version in prop_oneof![Just(1), Just(2)],
    ) {
        for text in [v2, v1] {
            let mut v: Value = serde_json::from_str(&text).unwrap();
            v["schemaVersion"] = json!(version);
            if let Ok(stored) = parse_stored_record(v.to_string().as_bytes()) {
                let back = parse_record_bytes(&stored.record.to_file_bytes()).unwrap();
                prop_assert_eq!(back, stored.record);
            }
        }
    }

    #[test]
    fn a_v2_record_we_write_parses_back_equal(r in record()) {
        let bytes = r.to_file_bytes();
        let stored = parse_stored_record(&bytes).unwrap();
        prop_assert_eq!(&stored.record, &r);
        prop_assert!(stored.v1_receipts.is_none());
        // Other bytes for the same object (compact, reordered by a hand edit) parse the same.
        let compact = serde_json::to_string(&r).unwrap();
        prop_assert_eq!(parse_record_bytes(compact.as_bytes()).unwrap(), r);
    }

    #[test]
    fn a_v1_record_parses_to_its_v2_view_which_writes_back_equal(
        g in gid(),
        backend in marker_backend(),
        native in text(),
        transcript in text(),
        cwd in text(),
        created in text(),
        seen in text(),
        receipts in (proptest::option::of(text()), proptest::option::of(text()), proptest::option::of(text())),
    ) {
        let v1 = json!({
            "schemaVersion": 1, "gardenId": g.as_str(), "backend": backend.as_str(),
            "nativeSessionId": native, "transcriptPath": transcript, "cwd": cwd,
            "createdAt": created, "lastSeen": seen,
            "delivery": {
                "wakeMode": backend.capability().wake_mode.as_str(), "deliveryLevel": "D6",
                "lastEnqueuedAt": receipts.0, "lastDeliveredAt": receipts.1, "lastReadAt": receipts.2,
            }
        });
        let stored = parse_stored_record(serde_json::to_string_pretty(&v1).unwrap().as_bytes()).unwrap();
        let r = &stored.record;
        prop_assert_eq!((&r.garden_id, r.backend, &r.cwd), (&g, backend, &cwd));
        prop_assert_eq!(r.transcript_path.as_deref(), Some(transcript.as_str()));
        prop_assert_eq!(&r.record_updated_at, &seen);
        let v1r = stored.v1_receipts.clone().unwrap();
        prop_assert_eq!((v1r.last_enqueued_at, v1r.last_delivered_at, v1r.last_read_at), receipts);
        prop_assert_eq!(parse_record_bytes(&r.to_file_bytes()).unwrap(), r.clone());
    }

    #[test]
    fn any_text_never_panics_the_state_parser(text in chars(0..200)) {
        let _ = ReceiptState::parse(&text);
    }

    #[test]
    fn any_state_shaped_object_never_panics_and_a_parse_writes_back_equal(
        text in near_object(&ReceiptState::KEYS)
    ) {
        if let Ok(state) = ReceiptState::parse(&text) {
            prop_assert_eq!(ReceiptState::parse(&state.to_file_string()).unwrap(), state);
        }
    }

    #[test]
    fn a_state_we_write_parses_back_equal(
        g in gid(),
        e in proptest::option::of(text()),
        d in proptest::option::of(text()),
        r in proptest::option::of(text()),
    ) {
        let state = ReceiptState {
            schema_version: 1, garden_id: g.clone(), last_enqueued_at: e, last_delivered_at: d, last_read_at: r,
        };
        let back = ReceiptState::parse(&state.to_file_string()).unwrap();
        prop_assert!(back.check_drift(&g).is_ok());
        prop_assert_eq!(back, state);
    }
}

/// Writes `bytes` as a marker file and reads it with both readers (never verifying the owner).
fn read_both(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    let _ = read_receiver_marker_at(path, false);
    let _ = read_sender_marker_at(path, false);
}

const MARKER_KEYS: &[&str] = &[
    "gardenId",
    "backend",
    "nativeSessionId",
    "ownerPid",
    "ownerStartKey",
    "ownerKind",
    "armProvenance",
    "updatedAt",
    "cwd",
];

proptest! {
    // Markers are read by path: every case writes and reads files.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_bytes_or_marker_shaped_object_never_panic_the_marker_readers(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        obj in near_object(MARKER_KEYS),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("m.json");
        read_both(&path, &bytes);
        read_both(&path, obj.as_bytes());
    }

    #[test]
    fn markers_we_write_read_back_equal(
        g in gid(),
        backend in marker_backend(),
        native in text(),
        cwd in text(),
        kind in proptest::option::of(text()),
        arm in prop::sample::select(vec![ArmProvenance::SessionStart, ArmProvenance::CwdChanged, ArmProvenance::FileChanged]),
        secs in 0i64..4_102_444_800,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let now = Utc.timestamp_opt(secs, 0).unwrap();
        // A live owner (this test process), so the start key is real and the owner verifies.
        let me = i64::from(std::process::id());
        let input = ReceiverMarkerInput {
            garden_id: g.clone(), backend, native_session_id: native.clone(), owner_pid: me,
            owner_kind: kind.clone(), arm_provenance: arm,
        };
        let path = write_receiver_marker(tmp.path(), &input, now).unwrap();
        let m = read_receiver_marker_at(&path, true).unwrap();
        prop_assert_eq!((&m.garden_id, m.backend, &m.native_session_id), (&g, backend, &native));
        prop_assert_eq!(m.owner_pid, Some(me as f64));
        prop_assert_eq!(m.owner_kind, kind.unwrap_or_else(|| "claude-code-cli".into()));
        prop_assert_eq!(m.arm_provenance, arm);
        prop_assert_eq!(m.updated_at, entwurf_meta_session::iso_millis(now));

        let input = SenderMarkerInput {
            backend, garden_id: g.clone(), native_session_id: native.clone(), cwd: cwd.clone(), owner_pid: me,
        };
        let path = write_sender_marker(tmp.path(), &input, now).unwrap();
        let s = read_sender_marker_at(&path, true).unwrap();
        prop_assert_eq!((&s.garden_id, s.backend, &s.native_session_id, &s.cwd), (&g, backend, &native, &cwd));
        prop_assert_eq!(s.owner_pid, Some(me as f64));
    }
}
