//! Golden-file tests for meta records: the Rust writer produces the reference's bytes, and the
//! reader gives the reference's values and error texts (fixtures/golden/records/).

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use entwurf_meta_session::{
    is_valid_garden_id, list_records, migrate_v1_receipts, parse_record_bytes, read_record,
    record_exists, record_path, require_garden_id, upsert_with_mint, Backend, Dirs, GardenId,
    Patch, RecordError, UpsertAction, UpsertInput, V1Receipts,
};
use serde_json::Value;

mod common;
use common::{entries, mode_of};

fn golden(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden/records")
        .join(rel)
}

fn golden_bytes(rel: &str) -> Vec<u8> {
    fs::read(golden(rel)).unwrap()
}

fn golden_json(rel: &str) -> Value {
    serde_json::from_slice(&golden_bytes(rel)).unwrap()
}

fn at(iso: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .with_timezone(&Utc)
}

fn hex3(s: &str) -> [u8; 3] {
    let b = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).unwrap();
    [b(0), b(2), b(4)]
}

/// The generator ran under TZ=UTC: the gid stamp is the UTC wall clock.
fn utc_mint(suffix: &str) -> impl FnOnce(DateTime<Utc>) -> GardenId {
    let s = hex3(suffix);
    move |t| GardenId::mint_at(&t.naive_utc(), s)
}

fn no_mint(_: DateTime<Utc>) -> GardenId {
    panic!("an attach must not mint a garden id")
}

/// Builds an [`UpsertInput`] from a case's JSON `input` (absent / null / value kept apart).
fn input_of(v: &Value) -> UpsertInput {
    let patch = |k: &str| match v.get(k) {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(Value::String(s)) => Patch::Value(s.clone()),
        Some(other) => panic!("unexpected {k}: {other}"),
    };
    UpsertInput {
        backend: v["backend"].as_str().unwrap().parse().unwrap(),
        native_session_id: v["nativeSessionId"].as_str().unwrap().to_owned(),
        cwd: v["cwd"].as_str().unwrap().to_owned(),
        model: patch("model"),
        transcript_path: patch("transcriptPath"),
        parent_garden_id: patch("parentGardenId"),
        is_entwurf: v.get("isEntwurf").and_then(Value::as_bool),
    }
}

fn case(file: &str) -> Value {
    let cases = golden_json("cases.json");
    cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.get("file").and_then(Value::as_str) == Some(file))
        .unwrap()
        .clone()
}

fn world() -> (tempfile::TempDir, Dirs) {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = Dirs::under(tmp.path());
    (tmp, dirs)
}

fn install(dirs: &Dirs, golden_rel: &str, as_name: &str) {
    fs::create_dir_all(&dirs.sessions).unwrap();
    fs::write(dirs.sessions.join(as_name), golden_bytes(golden_rel)).unwrap();
}

#[test]
fn create_full_and_nulls_write_golden_bytes() {
    let (_t, dirs) = world();
    for (file, suffix) in [
        ("v2-full.meta.json", "aaaaaa"),
        ("v2-nulls.meta.json", "cccccc"),
    ] {
        let c = case(file);
        let res = upsert_with_mint(
            &dirs.sessions,
            &dirs.mailbox,
            &input_of(&c["input"]),
            at(c["now"].as_str().unwrap()),
            utc_mint(suffix),
        )
        .unwrap();
        assert_eq!(res.action, UpsertAction::Create);
        let want_path = dirs.sessions.join(c["installAs"].as_str().unwrap());
        assert_eq!(res.path, want_path);
        assert_eq!(fs::read(&want_path).unwrap(), golden_bytes(file), "{file}");
        assert_eq!(mode_of(&want_path), 0o600);
        assert!(res.skipped.is_empty());
    }
    // no tmp file left behind, nothing but the two records
    assert_eq!(
        entries(&dirs.sessions),
        [
            "20260612T100000-aaaaaa.meta.json",
            "20260612T100500-cccccc.meta.json"
        ]
    );
    assert!(!dirs.mailbox.exists(), "a create never touches the mailbox");
}

#[test]
fn explicit_null_and_false_equal_omitted_fields() {
    let (_t, dirs) = world();
    let c = case("v2-nulls.meta.json");
    let mut input = input_of(&c["input"]);
    input.model = Patch::Null;
    input.transcript_path = Patch::Null;
    input.parent_garden_id = Patch::Null;
    input.is_entwurf = Some(false);
    let res = upsert_with_mint(
        &dirs.sessions,
        &dirs.mailbox,
        &input,
        at(c["now"].as_str().unwrap()),
        utc_mint("cccccc"),
    )
    .unwrap();
    assert_eq!(
        fs::read(res.path).unwrap(),
        golden_bytes("v2-nulls.meta.json")
    );
}

#[test]
fn attach_chain_writes_golden_bytes() {
    let (_t, dirs) = world();
    install(
        &dirs,
        "v2-full.meta.json",
        "20260612T100000-aaaaaa.meta.json",
    );
    for file in ["v2-attach.meta.json", "v2-attach2.meta.json"] {
        let c = case(file);
        let res = upsert_with_mint(
            &dirs.sessions,
            &dirs.mailbox,
            &input_of(&c["input"]),
            at(c["now"].as_str().unwrap()),
            no_mint,
        )
        .unwrap();
        assert_eq!(res.action, UpsertAction::Attach);
        assert_eq!(
            res.path,
            dirs.sessions.join(c["installAs"].as_str().unwrap())
        );
        assert_eq!(fs::read(&res.path).unwrap(), golden_bytes(file), "{file}");
        assert_eq!(mode_of(&res.path), 0o600);
    }
    assert_eq!(
        entries(&dirs.sessions),
        ["20260612T100000-aaaaaa.meta.json"]
    );
}

#[test]
fn v1_legacy_reads_as_the_golden_identity() {
    let (_t, dirs) = world();
    install(
        &dirs,
        "v1-legacy.meta.json",
        "20260610T080000-dddddd.meta.json",
    );
    let gid = GardenId::parse("20260610T080000-dddddd").unwrap();
    let rec = read_record(&dirs.sessions, &gid).unwrap();
    assert_eq!(rec.to_file_bytes(), golden_bytes("v1-legacy.identity.json"));
    // reading never rewrites the v1 file
    assert_eq!(
        fs::read(record_path(&dirs.sessions, &gid)).unwrap(),
        golden_bytes("v1-legacy.meta.json")
    );
}

#[test]
fn v1_attach_rewrites_as_v2_and_migrates_receipts_once() {
    let (_t, dirs) = world();
    install(
        &dirs,
        "v1-legacy.meta.json",
        "20260610T080000-dddddd.meta.json",
    );
    let c = case("v1-attached.meta.json");
    let res = upsert_with_mint(
        &dirs.sessions,
        &dirs.mailbox,
        &input_of(&c["input"]),
        at(c["now"].as_str().unwrap()),
        no_mint,
    )
    .unwrap();
    assert_eq!(res.action, UpsertAction::Attach);
    assert!(res.receipts_migrated);
    assert_eq!(
        fs::read(&res.path).unwrap(),
        golden_bytes("v1-attached.meta.json")
    );
    let state = dirs.mailbox.join("20260610T080000-dddddd/state.json");
    assert_eq!(
        fs::read(&state).unwrap(),
        golden_bytes("v1-attached.state.json")
    );
    assert_eq!(mode_of(&state), 0o600);
    assert_eq!(
        entries(&dirs.mailbox.join("20260610T080000-dddddd")),
        ["state.json"]
    );

    // migrating the same receipts again changes nothing and writes nothing
    let gid = GardenId::parse("20260610T080000-dddddd").unwrap();
    let v1 = V1Receipts {
        last_enqueued_at: Some("2026-06-10T08:30:00.000Z".into()),
        last_delivered_at: Some("2026-06-10T08:31:00.000Z".into()),
        last_read_at: None,
    };
    let before = fs::metadata(&state).unwrap().modified().unwrap();
    assert_eq!(migrate_v1_receipts(&dirs.mailbox, &gid, &v1).unwrap(), None);
    assert_eq!(fs::metadata(&state).unwrap().modified().unwrap(), before);

    // a second attach of the (now v2) record does not migrate again
    let res2 = upsert_with_mint(
        &dirs.sessions,
        &dirs.mailbox,
        &input_of(&c["input"]),
        at("2026-06-12T12:30:00.000Z"),
        no_mint,
    )
    .unwrap();
    assert!(!res2.receipts_migrated);
}

#[test]
fn migration_with_nothing_to_carry_creates_no_state_file() {
    let (_t, dirs) = world();
    let gid = GardenId::parse("20260610T080000-dddddd").unwrap();
    assert_eq!(
        migrate_v1_receipts(&dirs.mailbox, &gid, &V1Receipts::default()).unwrap(),
        None
    );
    assert!(!dirs.mailbox.exists());
}

#[test]
fn existing_state_wins_over_v1_receipts() {
    let (_t, dirs) = world();
    let gid = GardenId::parse("20260610T080000-dddddd").unwrap();
    let dir = dirs.mailbox.join(gid.as_str());
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("state.json"),
        "{\n  \"schemaVersion\": 1,\n  \"gardenId\": \"20260610T080000-dddddd\",\n  \"lastEnqueuedAt\": \"2026-06-11T00:00:00.000Z\",\n  \"lastDeliveredAt\": null,\n  \"lastReadAt\": null\n}\n",
    )
    .unwrap();
    let v1 = V1Receipts {
        last_enqueued_at: Some("2026-06-10T08:30:00.000Z".into()),
        last_delivered_at: Some("2026-06-10T08:31:00.000Z".into()),
        last_read_at: None,
    };
    let s = migrate_v1_receipts(&dirs.mailbox, &gid, &v1)
        .unwrap()
        .unwrap();
    assert_eq!(
        s.last_enqueued_at.as_deref(),
        Some("2026-06-11T00:00:00.000Z")
    );
    assert_eq!(
        s.last_delivered_at.as_deref(),
        Some("2026-06-10T08:31:00.000Z")
    );
}

#[test]
fn corrupt_twin_is_skipped_and_a_new_gid_minted() {
    let (_t, dirs) = world();
    install(
        &dirs,
        "corrupt/missing-model.meta.json",
        "20260612T100000-aaaaaa.meta.json",
    );
    let cases = golden_json("cases.json");
    let c = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.get("case").and_then(Value::as_str) == Some("corrupt-twin"))
        .unwrap()
        .clone();
    let input = UpsertInput::new(
        Backend::ClaudeCode,
        "0b6c1f2e-1111-4111-8111-111111111111",
        "/home/u/proj",
    );
    let res = upsert_with_mint(
        &dirs.sessions,
        &dirs.mailbox,
        &input,
        at("2026-06-12T12:00:00.000Z"),
        utc_mint("eeeeee"),
    )
    .unwrap();
    assert_eq!(res.action, UpsertAction::Create);
    assert_eq!(
        res.record.garden_id.as_str(),
        c["newGardenId"].as_str().unwrap()
    );
    assert_eq!(res.skipped.len(), 1);
    assert_eq!(
        res.skipped[0].file,
        c["onSkip"][0]["filename"].as_str().unwrap()
    );
    assert_eq!(
        res.skipped[0].message,
        c["onSkip"][0]["message"].as_str().unwrap()
    );
    // the corrupt file is left exactly as it was
    assert_eq!(
        fs::read(dirs.sessions.join("20260612T100000-aaaaaa.meta.json")).unwrap(),
        golden_bytes("corrupt/missing-model.meta.json")
    );
}

#[test]
fn upsert_errors_have_reference_texts_and_write_nothing() {
    let cases = golden_json("cases.json");
    for c in cases["upsertErrors"].as_array().unwrap() {
        let name = c["case"].as_str().unwrap();
        let (_t, dirs) = world();
        match name {
            "attach-backend-change" => install(
                &dirs,
                "v2-attach2.meta.json",
                "20260612T100000-aaaaaa.meta.json",
            ),
            "ambiguous-twins" => {
                install(
                    &dirs,
                    "v2-full.meta.json",
                    "20260612T100000-aaaaaa.meta.json",
                );
                let twin = String::from_utf8(golden_bytes("v2-full.meta.json"))
                    .unwrap()
                    .replace("20260612T100000-aaaaaa", "20260612T120000-eeeeee");
                fs::write(dirs.sessions.join("20260612T120000-eeeeee.meta.json"), twin).unwrap();
            }
            _ => {}
        }
        let before = dirs.sessions.exists().then(|| snapshot(&dirs.sessions));
        let err = upsert_with_mint(
            &dirs.sessions,
            &dirs.mailbox,
            &input_of(&c["input"]),
            at("2026-06-12T13:00:00.000Z"),
            utc_mint("ffffff"),
        )
        .unwrap_err();
        // The reference's text, word for word; the ambiguity refusal then names the fix.
        let want = c["error"]["message"].as_str().unwrap();
        let fix = if name == "ambiguous-twins" {
            entwurf_meta_session::AMBIGUOUS_FIX
        } else {
            ""
        };
        assert_eq!(err.to_string(), format!("{want}{fix}"), "{name}");
        if name == "ambiguous-twins" {
            assert!(err.to_string().contains("`entwurf record repair`"));
        }
        let after = dirs.sessions.exists().then(|| snapshot(&dirs.sessions));
        assert_eq!(before, after, "{name}: the store must not change");
        assert!(!dirs.mailbox.exists(), "{name}");
    }
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    entries(dir)
        .into_iter()
        .map(|n| {
            let b = fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

#[test]
fn corrupt_files_are_rejected_with_reference_texts() {
    let expected = golden_json("corrupt/expected.json");
    for c in expected["cases"].as_array().unwrap() {
        let (_t, dirs) = world();
        let read_gid = c["readGid"].as_str().unwrap();
        let Some(file) = c["file"].as_str() else {
            continue; // the no-file cases are covered below
        };
        install(
            &dirs,
            &format!("corrupt/{file}"),
            c["installAs"].as_str().unwrap(),
        );
        let gid = GardenId::parse(read_gid).unwrap();
        assert!(record_exists(&dirs.sessions, &gid).unwrap(), "{file}");
        let got = read_record(&dirs.sessions, &gid);
        if c["ok"].as_bool().unwrap() {
            let rec = got.unwrap();
            assert_eq!(serde_json::to_value(&rec).unwrap(), c["identity"], "{file}");
            continue;
        }
        let err = got.unwrap_err();
        let want = c["error"]["message"].as_str().unwrap();
        let message = match &err {
            RecordError::Corrupt { path, source } => {
                assert_eq!(path, &record_path(&dirs.sessions, &gid));
                assert!(err.to_string().contains(&path.display().to_string()));
                // the same text comes straight from the pure parser
                let direct = parse_record_bytes(&golden_bytes(&format!("corrupt/{file}")))
                    .unwrap_err()
                    .to_string();
                assert_eq!(direct, source.to_string());
                source.to_string()
            }
            RecordError::Drift { .. } => err.to_string(),
            other => panic!("{file}: unexpected error {other:?}"),
        };
        match c["match"].as_str().unwrap() {
            "exact" => assert_eq!(message, want, "{file}"),
            "prefix" => assert!(
                message.starts_with(c["prefix"].as_str().unwrap()),
                "{file}: {message}"
            ),
            m => panic!("unknown match {m}"),
        }
    }
}

#[test]
fn missing_record_and_bad_gids_have_reference_texts() {
    let expected = golden_json("corrupt/expected.json");
    let (_t, dirs) = world();
    let tmp_sessions = dirs.sessions.display().to_string();
    for c in expected["cases"].as_array().unwrap() {
        if !c["file"].is_null() {
            continue;
        }
        let read_gid = c["readGid"].as_str().unwrap();
        let want = c["error"]["message"]
            .as_str()
            .unwrap()
            .replace("<tmp>/sessions", &tmp_sessions);
        match c["case"].as_str().unwrap() {
            "missing-record" => {
                let gid = GardenId::parse(read_gid).unwrap();
                assert!(!record_exists(&dirs.sessions, &gid).unwrap());
                let err = read_record(&dirs.sessions, &gid).unwrap_err();
                assert!(matches!(err, RecordError::NotFound { .. }));
                assert_eq!(err.to_string(), want);
            }
            _ => {
                // an invalid gid never reaches a path: it fails at parse time
                assert!(GardenId::parse(read_gid).is_err());
                assert_eq!(require_garden_id(read_gid).unwrap_err().to_string(), want);
            }
        }
    }
    assert!(!dirs.sessions.exists(), "reads never create the store");
}

#[test]
fn listing_survives_corrupt_files_and_matches_golden() {
    let (_t, dirs) = world();
    fs::create_dir_all(&dirs.sessions).unwrap();
    let s = &dirs.sessions;
    fs::write(s.join("20260601T000000-000000.meta.json"), "{ broken\n").unwrap();
    fs::write(
        s.join("20260610T080000-dddddd.meta.json"),
        golden_bytes("v1-legacy.meta.json"),
    )
    .unwrap();
    fs::write(
        s.join("20260612T100000-aaaaaa.meta.json"),
        golden_bytes("v2-attach2.meta.json"),
    )
    .unwrap();
    fs::write(
        s.join("20260612T100000-eeeeee.meta.json"),
        golden_bytes("v2-nulls.meta.json"),
    )
    .unwrap();
    fs::write(
        s.join("20260612T100500-cccccc.meta.json"),
        golden_bytes("v2-nulls.meta.json"),
    )
    .unwrap();
    fs::write(s.join("notes.txt"), "text, ignored").unwrap();

    let want = golden_json("listing.json");
    let listing = list_records(s).unwrap();
    assert_eq!(
        serde_json::to_value(&listing.records).unwrap(),
        want["collect"]["identities"]
    );
    let want_errors = want["collect"]["errors"].as_array().unwrap();
    assert_eq!(listing.errors.len(), want_errors.len());
    for (got, w) in listing.errors.iter().zip(want_errors) {
        assert_eq!(got.filename, w["filename"].as_str().unwrap());
        let wm = w["message"].as_str().unwrap();
        if wm.starts_with("meta-record is not valid JSON: ") {
            assert!(got.message.starts_with("meta-record is not valid JSON: "));
        } else {
            assert_eq!(got.message, wm);
        }
    }
    let strict = listing.strict().unwrap_err().to_string();
    assert!(strict.starts_with(
        "listAllMetaIdentities(strict): 2 unreadable meta-record(s): 20260601T000000-000000.meta.json (meta-record is not valid JSON: "
    ));
    assert!(strict.ends_with(
        "; 20260612T100000-eeeeee.meta.json (body/filename drift: body gardenId \"20260612T100500-cccccc\" ≠ filename. The body is the authority; this file is corrupt.)"
    ));
    assert_eq!(
        strict,
        want["strict"]["error"]["message"]
            .as_str()
            .unwrap()
            .replace(
                "Expected property name or '}' in JSON at position 2 (line 1 column 3)",
                listing_json_detail(s).as_str()
            )
    );
}

fn listing_json_detail(s: &Path) -> String {
    let l = list_records(s).unwrap();
    l.errors[0]
        .message
        .trim_start_matches("meta-record is not valid JSON: ")
        .to_owned()
}

#[test]
fn gid_golden_mint_and_validity() {
    let g = golden_json("gid.json");
    for m in g["mint"].as_array().unwrap() {
        let now = at(m["now"].as_str().unwrap());
        // Fixed offsets of the three zones at these instants (no tz database needed):
        // UTC +0; Asia/Seoul +9 (no DST); America/New_York EDT -4 in June, EST -5 in December.
        let offset_h = match (
            m["TZ"].as_str().unwrap(),
            now.format("%m").to_string().as_str(),
        ) {
            ("UTC", _) => 0,
            ("Asia/Seoul", _) => 9,
            ("America/New_York", "06") => -4,
            ("America/New_York", _) => -5,
            (tz, _) => panic!("unknown TZ {tz}"),
        };
        let local = FixedOffset::east_opt(offset_h * 3600)
            .unwrap()
            .from_utc_datetime(&now.naive_utc())
            .naive_local();
        let gid = GardenId::mint_at(&local, hex3(m["randomBytes"].as_str().unwrap()));
        assert_eq!(gid.as_str(), m["gid"].as_str().unwrap());
    }
    for v in g["valid"].as_array().unwrap() {
        let s = v["value"].as_str().unwrap();
        assert_eq!(
            is_valid_garden_id(s),
            v["isValidSessionId"].as_bool().unwrap(),
            "{s:?}"
        );
        assert_eq!(GardenId::parse(s).is_ok(), is_valid_garden_id(s));
    }
}
