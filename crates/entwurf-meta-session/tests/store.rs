//! Store behaviour in temp worlds: merge rules, refusals, drift, bad store paths.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_fs::prelude::*;
use assert_fs::TempDir;
use chrono::{DateTime, Utc};
use entwurf_meta_session::{
    list_records, read_record, record_exists, record_path, upsert, upsert_with_mint,
    write_receiver_marker, write_record, ArmProvenance, Backend, Dirs, GardenId, MarkerError,
    Patch, ReceiverMarkerInput, RecordError, UpsertAction, UpsertInput,
};
use rstest::rstest;

fn at(iso: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .with_timezone(&Utc)
}

fn gid(s: &str) -> GardenId {
    GardenId::parse(s).unwrap()
}

fn minted(s: &'static str) -> impl FnOnce(DateTime<Utc>) -> GardenId {
    move |_| gid(s)
}

fn world() -> (TempDir, Dirs) {
    let t = TempDir::new().unwrap();
    let d = Dirs::under(t.path());
    (t, d)
}

fn seed(dirs: &Dirs) -> GardenId {
    let mut input = UpsertInput::new(Backend::ClaudeCode, "native-1", "/p1");
    input.model = Patch::Value("m1".into());
    input.transcript_path = Patch::Value("/t1".into());
    input.parent_garden_id = Patch::Value("20260611T090000-bbbbbb".into());
    input.is_entwurf = Some(true);
    upsert_with_mint(
        &dirs.sessions,
        &dirs.mailbox,
        &input,
        at("2026-06-12T10:00:00Z"),
        minted("20260612T100000-aaaaaa"),
    )
    .unwrap()
    .record
    .garden_id
}

#[rstest]
#[case::absent_keeps(Patch::Absent, Some("m1"))]
#[case::null_clears(Patch::Null, None)]
#[case::value_sets(Patch::Value("m2".to_string()), Some("m2"))]
fn model_three_valued_merge(#[case] patch: Patch<String>, #[case] want: Option<&str>) {
    let (_t, dirs) = world();
    let g = seed(&dirs);
    let mut input = UpsertInput::new(Backend::ClaudeCode, "native-1", "/p2");
    input.model = patch;
    let res = upsert(
        &dirs.sessions,
        &dirs.mailbox,
        &input,
        at("2026-06-12T11:00:00Z"),
    )
    .unwrap();
    assert_eq!(res.action, UpsertAction::Attach);
    assert_eq!(res.record.garden_id, g);
    let rec = read_record(&dirs.sessions, &g).unwrap();
    assert_eq!(rec.model.as_deref(), want);
    // untouched fields keep, cwd is replaced, timestamps follow the rules
    assert_eq!(rec.transcript_path.as_deref(), Some("/t1"));
    assert_eq!(
        rec.parent_garden_id.as_ref().map(GardenId::as_str),
        Some("20260611T090000-bbbbbb")
    );
    assert!(rec.is_entwurf);
    assert_eq!(rec.cwd, "/p2");
    assert_eq!(rec.created_at, "2026-06-12T10:00:00.000Z");
    assert_eq!(rec.record_updated_at, "2026-06-12T11:00:00.000Z");
}

#[rstest]
#[case::transcript_clear(|i: &mut UpsertInput| i.transcript_path = Patch::Null)]
#[case::parent_clear(|i: &mut UpsertInput| i.parent_garden_id = Patch::Null)]
#[case::entwurf_set_false(|i: &mut UpsertInput| i.is_entwurf = Some(false))]
fn other_fields_clear_or_set(#[case] tweak: fn(&mut UpsertInput)) {
    let (_t, dirs) = world();
    let g = seed(&dirs);
    let mut input = UpsertInput::new(Backend::ClaudeCode, "native-1", "/p1");
    tweak(&mut input);
    upsert(
        &dirs.sessions,
        &dirs.mailbox,
        &input,
        at("2026-06-12T11:00:00Z"),
    )
    .unwrap();
    let rec = read_record(&dirs.sessions, &g).unwrap();
    let changed = [
        rec.transcript_path.is_none(),
        rec.parent_garden_id.is_none(),
        !rec.is_entwurf,
    ];
    assert_eq!(changed.iter().filter(|c| **c).count(), 1, "{rec:?}");
}

#[test]
fn upsert_is_idempotent_one_file_per_native_id() {
    let (_t, dirs) = world();
    let input = UpsertInput::new(Backend::Codex, "thread-9", "/w");
    let a = upsert(&dirs.sessions, &dirs.mailbox, &input, Utc::now()).unwrap();
    let b = upsert(&dirs.sessions, &dirs.mailbox, &input, Utc::now()).unwrap();
    assert_eq!(a.action, UpsertAction::Create);
    assert_eq!(b.action, UpsertAction::Attach);
    assert_eq!(a.record.garden_id, b.record.garden_id);
    assert_eq!(common::entries(&dirs.sessions).len(), 1);
}

#[rstest]
#[case::empty_native(
    UpsertInput::new(Backend::Pi, "", "/x"),
    "meta-record field \"nativeSessionId\" must be a non-empty string (got string \"\")."
)]
#[case::empty_cwd(
    UpsertInput::new(Backend::Pi, "n", ""),
    "meta-record field \"cwd\" must be a non-empty string (got string \"\")."
)]
#[case::empty_model(UpsertInput { model: Patch::Value(String::new()), ..UpsertInput::new(Backend::Pi, "n", "/x") }, "meta-record field \"model\" must be a non-empty string or null (got string \"\").")]
#[case::bad_parent(UpsertInput { parent_garden_id: Patch::Value("../x".into()), ..UpsertInput::new(Backend::Pi, "n", "/x") }, "meta-record \"parentGardenId\" must be null or match YYYYMMDDTHHMMSS-[0-9a-f]{6} (got \"../x\").")]
fn bad_input_is_refused_before_any_io(#[case] input: UpsertInput, #[case] want: &str) {
    let (_t, dirs) = world();
    let err = upsert(&dirs.sessions, &dirs.mailbox, &input, Utc::now()).unwrap_err();
    assert!(matches!(err, RecordError::InvalidInput(_)));
    assert_eq!(err.to_string(), want);
    assert!(!dirs.sessions.exists(), "nothing created on bad input");
}

#[test]
fn backend_change_is_refused_and_the_record_kept() {
    let (_t, dirs) = world();
    let g = seed(&dirs);
    let before = fs::read(record_path(&dirs.sessions, &g)).unwrap();
    let err = upsert(
        &dirs.sessions,
        &dirs.mailbox,
        &UpsertInput::new(Backend::Antigravity, "native-1", "/x"),
        Utc::now(),
    )
    .unwrap_err();
    assert!(matches!(err, RecordError::BackendChange { .. }));
    assert_eq!(fs::read(record_path(&dirs.sessions, &g)).unwrap(), before);
}

#[test]
fn ambiguous_native_id_is_refused() {
    let (_t, dirs) = world();
    let g = seed(&dirs);
    let mut twin = read_record(&dirs.sessions, &g).unwrap();
    twin.garden_id = gid("20260612T120000-eeeeee");
    write_record(&dirs.sessions, &twin).unwrap();
    let err = upsert(
        &dirs.sessions,
        &dirs.mailbox,
        &UpsertInput::new(Backend::ClaudeCode, "native-1", "/x"),
        Utc::now(),
    )
    .unwrap_err();
    match err {
        RecordError::Ambiguous { files, .. } => assert_eq!(
            files,
            [
                "20260612T100000-aaaaaa.meta.json",
                "20260612T120000-eeeeee.meta.json"
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn drift_is_a_typed_error_naming_the_file_on_read_and_a_listing_entry() {
    let (t, dirs) = world();
    let g = seed(&dirs);
    let other = gid("20260612T100000-ffffff");
    fs::copy(
        record_path(&dirs.sessions, &g),
        record_path(&dirs.sessions, &other),
    )
    .unwrap();
    let err = read_record(&dirs.sessions, &other).unwrap_err();
    match &err {
        RecordError::Drift { path, body_gid, .. } => {
            assert_eq!(path, &record_path(&dirs.sessions, &other));
            assert_eq!(body_gid, &g);
        }
        e => panic!("{e:?}"),
    }
    assert!(err.to_string().contains("20260612T100000-ffffff.meta.json"));
    let listing = list_records(&dirs.sessions).unwrap();
    assert_eq!(listing.records.len(), 1);
    assert_eq!(
        listing.errors[0].filename,
        "20260612T100000-ffffff.meta.json"
    );
    t.child("meta-sessions/ignored.txt").write_str("x").unwrap();
    assert_eq!(list_records(&dirs.sessions).unwrap().errors.len(), 1);
}

#[test]
fn corrupt_read_names_the_file() {
    let (t, dirs) = world();
    let g = gid("20260612T100000-aaaaaa");
    t.child("meta-sessions/20260612T100000-aaaaaa.meta.json")
        .write_str("{\"schemaVersion\": 2, \"extra\": 1}")
        .unwrap();
    let err = read_record(&dirs.sessions, &g).unwrap_err();
    assert!(matches!(err, RecordError::Corrupt { .. }));
    assert!(err
        .to_string()
        .contains(&record_path(&dirs.sessions, &g).display().to_string()));
    // What is wrong is the source: in the chain, not repeated in the error's own text.
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(!err.to_string().contains(&cause), "{err}");
    assert_eq!(
        entwurf_fs::Chain(&err).to_string(),
        format!("{err}: {cause}")
    );
}

#[test]
fn missing_store_lists_empty_and_reads_not_found() {
    let (_t, dirs) = world();
    assert!(list_records(&dirs.sessions).unwrap().records.is_empty());
    let g = gid("20260612T100000-aaaaaa");
    assert!(!record_exists(&dirs.sessions, &g).unwrap());
    assert!(matches!(
        read_record(&dirs.sessions, &g),
        Err(RecordError::NotFound { .. })
    ));
}

#[test]
fn a_store_path_that_is_a_file_is_a_typed_error_everywhere() {
    let (t, dirs) = world();
    t.child("meta-sessions").write_str("not a dir").unwrap();
    t.child("meta-receivers").write_str("not a dir").unwrap();
    let g = gid("20260612T100000-aaaaaa");
    let is_not_dir = |e: &RecordError| matches!(e, RecordError::NotADirectory { path } if path == &dirs.sessions);
    let e = upsert(
        &dirs.sessions,
        &dirs.mailbox,
        &UpsertInput::new(Backend::Pi, "n", "/x"),
        Utc::now(),
    )
    .unwrap_err();
    assert!(is_not_dir(&e), "{e:?}");
    assert!(e.to_string().contains("is not a directory"));
    assert!(is_not_dir(&list_records(&dirs.sessions).unwrap_err()));
    assert!(is_not_dir(&record_exists(&dirs.sessions, &g).unwrap_err()));
    assert!(is_not_dir(&read_record(&dirs.sessions, &g).unwrap_err()));
    let m = write_receiver_marker(
        &dirs.receivers,
        &ReceiverMarkerInput {
            garden_id: g,
            backend: Backend::ClaudeCode,
            native_session_id: "n".into(),
            owner_pid: 1,
            owner_kind: None,
            arm_provenance: ArmProvenance::SessionStart,
        },
        Utc::now(),
    )
    .unwrap_err();
    assert!(matches!(m, MarkerError::NotADirectory { .. }), "{m:?}");
    // the blocking files are untouched
    t.child("meta-sessions").assert("not a dir");
}

fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_read_only_store_refuses_writes_and_keeps_the_record() {
    let (_t, dirs) = world();
    let g = seed(&dirs);
    let before = fs::read(record_path(&dirs.sessions, &g)).unwrap();
    set_mode(&dirs.sessions, 0o555);
    let result = upsert(
        &dirs.sessions,
        &dirs.mailbox,
        &UpsertInput::new(Backend::ClaudeCode, "native-1", "/elsewhere"),
        at("2026-06-12T12:00:00Z"),
    );
    let after_listing = common::entries(&dirs.sessions);
    set_mode(&dirs.sessions, 0o755);
    if rustix::process::geteuid().is_root() {
        // root ignores directory modes: the write goes through, atomically, with no tmp left.
        let res = result.unwrap();
        assert_eq!(res.action, UpsertAction::Attach);
        assert_eq!(read_record(&dirs.sessions, &g).unwrap().cwd, "/elsewhere");
    } else {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, RecordError::Io { path, .. } if path == &record_path(&dirs.sessions, &g)),
            "{err:?}"
        );
        assert_eq!(fs::read(record_path(&dirs.sessions, &g)).unwrap(), before);
    }
    assert_eq!(after_listing.len(), 1, "no tmp file left behind");
}

#[rstest]
#[case::empty_cwd(|r: &mut entwurf_meta_session::MetaRecord| r.cwd.clear(), "meta-record field \"cwd\" must be a non-empty string (got string \"\").")]
#[case::empty_model(|r: &mut entwurf_meta_session::MetaRecord| r.model = Some(String::new()), "meta-record field \"model\" must be a non-empty string or null (got string \"\").")]
#[case::wrong_schema_version(|r: &mut entwurf_meta_session::MetaRecord| r.schema_version = 3, "meta-record \"schemaVersion\" must be 1 or 2 (got number).")]
fn write_record_refuses_what_the_reader_would_reject(
    #[case] spoil: fn(&mut entwurf_meta_session::MetaRecord),
    #[case] want: &str,
) {
    let (_t, dirs) = world();
    let g = seed(&dirs);
    let before = fs::read(record_path(&dirs.sessions, &g)).unwrap();
    let mut rec = read_record(&dirs.sessions, &g).unwrap();
    spoil(&mut rec);
    let err = write_record(&dirs.sessions, &rec).unwrap_err();
    assert!(matches!(err, RecordError::InvalidInput(_)));
    assert_eq!(err.to_string(), want);
    assert_eq!(fs::read(record_path(&dirs.sessions, &g)).unwrap(), before);
}
