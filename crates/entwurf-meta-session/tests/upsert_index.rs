//! The upsert scan cache of large stores: it speeds up the scan but never overrides the
//! directory (external writers, replaced files, a corrupt or lying cache file).

mod common;

use std::fs;
use std::path::Path;

use chrono::Utc;
use entwurf_meta_session::{
    iso_millis, list_records, read_record, upsert, upsert_with_mint, Backend, Dirs, GardenId,
    MetaRecord, RecordError, RecordStore, UpsertAction, UpsertInput, INDEX_FILE_NAME,
    INDEX_MIN_RECORDS,
};
use serde_json::Value;

fn world() -> (tempfile::TempDir, Dirs) {
    let t = tempfile::tempdir().unwrap();
    let d = Dirs::under(t.path());
    fs::create_dir_all(&d.sessions).unwrap();
    (t, d)
}

fn gid_n(n: usize) -> GardenId {
    GardenId::parse(&format!("20260612T100000-{n:06x}")).unwrap()
}

fn record(gid: &GardenId, native: &str) -> MetaRecord {
    MetaRecord::new(
        gid.clone(),
        Backend::Codex,
        native,
        "/w",
        iso_millis(Utc::now()),
    )
}

/// An outside writer (another process, the reference): tmp + rename, so a new inode.
fn external_write(dir: &Path, rec: &MetaRecord) {
    let path = dir.join(format!("{}.meta.json", rec.garden_id));
    let tmp = dir.join(format!("{}.meta.json.tmp-ext", rec.garden_id));
    fs::write(&tmp, rec.to_file_bytes()).unwrap();
    fs::rename(&tmp, &path).unwrap();
}

/// A store just big enough to get a cache file, with `native-<i>` in `<gid_n(i)>`.
fn big_store(dirs: &Dirs) -> usize {
    let n = INDEX_MIN_RECORDS + 2;
    for i in 0..n {
        external_write(&dirs.sessions, &record(&gid_n(i), &format!("native-{i}")));
    }
    // One upsert through the public path writes the cache file.
    let r = upsert(
        &dirs.sessions,
        &dirs.mailbox,
        &UpsertInput::new(Backend::Codex, "native-0", "/w"),
        Utc::now(),
    )
    .unwrap();
    assert_eq!(r.action, UpsertAction::Attach);
    assert!(dirs.sessions.join(INDEX_FILE_NAME).is_file());
    n
}

fn up(dirs: &Dirs, native: &str) -> Result<entwurf_meta_session::UpsertResult, RecordError> {
    upsert(
        &dirs.sessions,
        &dirs.mailbox,
        &UpsertInput::new(Backend::Codex, native, "/w2"),
        Utc::now(),
    )
}

#[test]
fn a_large_store_gets_a_cache_file_that_listings_ignore() {
    let (_t, dirs) = world();
    let n = big_store(&dirs);
    let r = up(&dirs, "native-7").unwrap();
    assert_eq!(r.action, UpsertAction::Attach);
    assert_eq!(r.record.garden_id, gid_n(7));
    assert_eq!(read_record(&dirs.sessions, &gid_n(7)).unwrap().cwd, "/w2");
    let listing = list_records(&dirs.sessions).unwrap();
    assert_eq!(listing.records.len(), n);
    assert!(listing.errors.is_empty());
}

#[test]
fn a_small_store_writes_no_cache_file() {
    let (_t, dirs) = world();
    up(&dirs, "a").unwrap();
    up(&dirs, "a").unwrap();
    assert_eq!(common::entries(&dirs.sessions).len(), 1);
}

#[test]
fn a_record_added_by_an_external_writer_is_attached_to_not_duplicated() {
    let (_t, dirs) = world();
    big_store(&dirs);
    let ext = gid_n(0xeeeee);
    external_write(&dirs.sessions, &record(&ext, "from-outside"));
    let r = up(&dirs, "from-outside").unwrap();
    assert_eq!(r.action, UpsertAction::Attach);
    assert_eq!(r.record.garden_id, ext);
}

#[test]
fn an_external_twin_makes_the_upsert_ambiguous() {
    let (_t, dirs) = world();
    big_store(&dirs);
    external_write(&dirs.sessions, &record(&gid_n(0xeeeee), "native-3"));
    match up(&dirs, "native-3") {
        Err(RecordError::Ambiguous { files, .. }) => assert_eq!(
            files,
            vec![
                format!("{}.meta.json", gid_n(3)),
                format!("{}.meta.json", gid_n(0xeeeee))
            ]
        ),
        other => panic!("expected ambiguity, got {other:?}"),
    }
}

#[test]
fn a_record_replaced_with_a_new_inode_is_reparsed() {
    let (_t, dirs) = world();
    big_store(&dirs);
    // native-4's record now says native-renamed (tmp + rename: a new inode).
    external_write(&dirs.sessions, &record(&gid_n(4), "native-renamed"));
    let old = up(&dirs, "native-4").unwrap();
    assert_eq!(
        old.action,
        UpsertAction::Create,
        "the stale native id is gone"
    );
    let new = up(&dirs, "native-renamed").unwrap();
    assert_eq!(new.action, UpsertAction::Attach);
    assert_eq!(new.record.garden_id, gid_n(4));
}

#[test]
fn a_vanished_record_is_not_attached_to() {
    let (_t, dirs) = world();
    big_store(&dirs);
    fs::remove_file(dirs.sessions.join(format!("{}.meta.json", gid_n(5)))).unwrap();
    let r = up(&dirs, "native-5").unwrap();
    assert_eq!(r.action, UpsertAction::Create);
    assert_ne!(r.record.garden_id, gid_n(5));
}

#[test]
fn a_corrupt_cache_file_is_rebuilt() {
    let (_t, dirs) = world();
    big_store(&dirs);
    let index = dirs.sessions.join(INDEX_FILE_NAME);
    fs::write(&index, b"{ not json").unwrap();
    let r = up(&dirs, "native-9").unwrap();
    assert_eq!(r.action, UpsertAction::Attach);
    assert_eq!(r.record.garden_id, gid_n(9));
    let rebuilt: Value = serde_json::from_slice(&fs::read(&index).unwrap()).unwrap();
    assert_eq!(rebuilt["entwurfUpsertIndex"], 1);
}

#[test]
fn a_lying_cache_file_is_never_trusted_over_the_directory() {
    let (_t, dirs) = world();
    big_store(&dirs);
    let index = dirs.sessions.join(INDEX_FILE_NAME);
    let mut v: Value = serde_json::from_slice(&fs::read(&index).unwrap()).unwrap();
    // Claim (with the right inode) that gid 6's record carries "a-lie".
    let name = format!("{}.meta.json", gid_n(6));
    v["entries"][&name]["parsed"] = serde_json::json!({"native": "a-lie"});
    fs::write(&index, serde_json::to_vec(&v).unwrap()).unwrap();
    let before = fs::read(dirs.sessions.join(&name)).unwrap();
    let r = up(&dirs, "a-lie").unwrap();
    assert_eq!(
        r.action,
        UpsertAction::Create,
        "no attach to a record that does not match"
    );
    assert_eq!(fs::read(dirs.sessions.join(&name)).unwrap(), before);
    // And the real native id of that record is still found.
    assert_eq!(up(&dirs, "native-6").unwrap().record.garden_id, gid_n(6));
}

#[test]
fn a_corrupt_record_is_reported_as_skipped_on_every_upsert() {
    let (_t, dirs) = world();
    big_store(&dirs);
    let bad = format!("{}.meta.json", gid_n(0xbad));
    fs::write(dirs.sessions.join(&bad), b"{broken").unwrap();
    let a = up(&dirs, "native-1").unwrap();
    let b = up(&dirs, "native-2").unwrap();
    assert_eq!(a.skipped.len(), 1);
    assert_eq!(a.skipped[0].file, bad);
    assert_eq!(
        a.skipped, b.skipped,
        "the cached parse error reads the same"
    );
}

#[test]
fn a_create_never_replaces_an_existing_record() {
    let (_t, dirs) = world();
    let taken = gid_n(0xabc);
    external_write(&dirs.sessions, &record(&taken, "someone-else"));
    let path = dirs.sessions.join(format!("{taken}.meta.json"));
    let before = fs::read(&path).unwrap();
    let t2 = taken.clone();
    let err = upsert_with_mint(
        &dirs.sessions,
        &dirs.mailbox,
        &UpsertInput::new(Backend::Codex, "new-native", "/w"),
        Utc::now(),
        move |_| t2,
    )
    .unwrap_err();
    assert!(
        matches!(&err, RecordError::GardenIdTaken { path: p } if p == &path),
        "{err:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(common::entries(&dirs.sessions).len(), 1, "no tmp left");
}

#[test]
fn a_record_store_handle_gives_the_same_answers_and_sees_other_writers() {
    let (_t, dirs) = world();
    let mut store = RecordStore::new(&dirs.sessions, &dirs.mailbox);
    let n = INDEX_MIN_RECORDS + 10;
    let mut gids = Vec::new();
    for i in 0..n {
        let r = store
            .upsert(
                &UpsertInput::new(Backend::Codex, &format!("h-{i}"), "/w"),
                Utc::now(),
            )
            .unwrap();
        assert_eq!(r.action, UpsertAction::Create);
        gids.push(r.record.garden_id);
    }
    let again = store
        .upsert(&UpsertInput::new(Backend::Codex, "h-3", "/x"), Utc::now())
        .unwrap();
    assert_eq!(again.action, UpsertAction::Attach);
    assert_eq!(again.record.garden_id, gids[3]);
    // Another writer meanwhile: seen by the next upsert through the handle.
    external_write(&dirs.sessions, &record(&gid_n(0xfff), "outside"));
    let seen = store
        .upsert(
            &UpsertInput::new(Backend::Codex, "outside", "/x"),
            Utc::now(),
        )
        .unwrap();
    assert_eq!(seen.record.garden_id, gid_n(0xfff));
    store.flush().unwrap();
    assert!(dirs.sessions.join(INDEX_FILE_NAME).is_file());
    let listing = list_records(&dirs.sessions).unwrap();
    assert_eq!(listing.records.len(), n + 1);
    // The plain upsert reads the flushed cache and agrees.
    assert_eq!(up(&dirs, "h-7").unwrap().record.garden_id, gids[7]);
}

#[test]
fn a_record_store_handle_sees_in_place_rewrites_deletes_twins_and_corrupt_files() {
    let (_t, dirs) = world();
    let mut store = RecordStore::new(&dirs.sessions, &dirs.mailbox);
    let mut gids = Vec::new();
    for i in 0..INDEX_MIN_RECORDS + 4 {
        let r = store
            .upsert(
                &UpsertInput::new(Backend::Codex, &format!("w-{i}"), "/w"),
                Utc::now(),
            )
            .unwrap();
        gids.push(r.record.garden_id);
    }
    // Rewrite gid 1 in place (same inode) so it now carries "w-moved".
    let p1 = dirs.sessions.join(format!("{}.meta.json", gids[1]));
    fs::write(&p1, record(&gids[1], "w-moved").to_file_bytes()).unwrap();
    let moved = store
        .upsert(
            &UpsertInput::new(Backend::Codex, "w-moved", "/m"),
            Utc::now(),
        )
        .unwrap();
    assert_eq!(moved.action, UpsertAction::Attach);
    assert_eq!(moved.record.garden_id, gids[1]);
    // Delete gid 2: its native id creates anew.
    fs::remove_file(dirs.sessions.join(format!("{}.meta.json", gids[2]))).unwrap();
    let recreated = store
        .upsert(&UpsertInput::new(Backend::Codex, "w-2", "/m"), Utc::now())
        .unwrap();
    assert_eq!(recreated.action, UpsertAction::Create);
    // A twin of w-3 written by someone else: ambiguity.
    external_write(&dirs.sessions, &record(&gid_n(0x333), "w-3"));
    assert!(matches!(
        store.upsert(&UpsertInput::new(Backend::Codex, "w-3", "/m"), Utc::now()),
        Err(RecordError::Ambiguous { .. })
    ));
    // A corrupt file is reported on every upsert through the handle.
    let bad = format!("{}.meta.json", gid_n(0xbad));
    fs::write(dirs.sessions.join(&bad), b"{broken").unwrap();
    for native in ["w-5", "w-6"] {
        let r = store
            .upsert(&UpsertInput::new(Backend::Codex, native, "/m"), Utc::now())
            .unwrap();
        assert_eq!(r.action, UpsertAction::Attach);
        assert_eq!(r.skipped.len(), 1, "{native}");
        assert_eq!(r.skipped[0].file, bad);
    }
}

#[test]
fn a_listing_sees_every_change_whatever_the_cache_file_says() {
    let (_t, dirs) = world();
    big_store(&dirs);
    // Changes the cache has not seen: a new record, a replaced one, a deleted one, a corrupt
    // file and a drifted one.
    external_write(&dirs.sessions, &record(&gid_n(0xaaa), "added"));
    external_write(&dirs.sessions, &record(&gid_n(8), "replaced"));
    fs::remove_file(dirs.sessions.join(format!("{}.meta.json", gid_n(9)))).unwrap();
    fs::write(
        dirs.sessions.join(format!("{}.meta.json", gid_n(0xbad))),
        b"{broken",
    )
    .unwrap();
    let drifted = record(&gid_n(0xd1f), "drift");
    fs::write(
        dirs.sessions.join(format!("{}.meta.json", gid_n(0xd1e))),
        drifted.to_file_bytes(),
    )
    .unwrap();
    let cached = list_records(&dirs.sessions).unwrap();
    fs::remove_file(dirs.sessions.join(INDEX_FILE_NAME)).unwrap();
    let plain = list_records(&dirs.sessions).unwrap();
    assert_eq!(cached, plain);
    assert_eq!(plain.errors.len(), 2);
    assert!(plain
        .records
        .iter()
        .any(|r| r.garden_id == gid_n(8) && r.native_session_id == "replaced"));
}

#[test]
fn a_large_listing_is_complete_and_sorted() {
    let (_t, dirs) = world();
    let n = 300;
    // Written in reverse so directory order and gid order differ.
    for i in (0..n).rev() {
        external_write(&dirs.sessions, &record(&gid_n(i), &format!("l-{i}")));
    }
    for bad in [0xbad1, 0xbad0] {
        fs::write(
            dirs.sessions.join(format!("{}.meta.json", gid_n(bad))),
            b"[]",
        )
        .unwrap();
    }
    let listing = list_records(&dirs.sessions).unwrap();
    let gids: Vec<GardenId> = listing
        .records
        .iter()
        .map(|r| r.garden_id.clone())
        .collect();
    assert_eq!(gids, (0..n).map(gid_n).collect::<Vec<_>>());
    let errs: Vec<&str> = listing.errors.iter().map(|e| e.filename.as_str()).collect();
    assert_eq!(
        errs,
        vec![
            format!("{}.meta.json", gid_n(0xbad0)),
            format!("{}.meta.json", gid_n(0xbad1))
        ]
    );
}
