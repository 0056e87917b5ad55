//! The record store against hostile and crashed stores, at crate level (issue 13 rows 3, 4, 6;
//! the CLI-level twins are in entwurf-cli's `hostile_store.rs` and `faults.rs`).

use std::sync::mpsc;
use std::time::Duration;

use entwurf_meta_session::{list_records, read_record, upsert, Backend, GardenId, UpsertInput};
use entwurf_testkit::dead_pid;

const OTHER: &str = "20260612T100000-bbbbbb";

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

#[test]
fn a_record_file_over_the_cap_is_listed_unreadable_and_skipped_by_upsert() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let m = t.path().join("m");
    upsert(&s, &m, &UpsertInput::new(Backend::Codex, "n1", "/w"), now()).unwrap();
    let huge = format!("{OTHER}.meta.json");
    std::fs::File::create(s.join(&huge))
        .unwrap()
        .set_len(100 * 1024 * 1024)
        .unwrap();
    let cap = entwurf_fs::RECORD_MAX.to_string();
    let l = list_records(&s).unwrap();
    assert_eq!(l.records.len(), 1);
    assert_eq!(l.errors.len(), 1);
    assert_eq!(l.errors[0].filename, huge);
    assert!(
        l.errors[0].message.contains(&cap),
        "{}",
        l.errors[0].message
    );
    let r = upsert(&s, &m, &UpsertInput::new(Backend::Codex, "n2", "/w"), now()).unwrap();
    assert_eq!(r.skipped.len(), 1);
    assert!(r.skipped[0].message.contains(&cap));
    let e = read_record(&s, &GardenId::parse(OTHER).unwrap()).unwrap_err();
    // The path is the error's own; the cap is its cause's (the store layer's refusal).
    let chain = entwurf_fs::Chain(&e).to_string();
    assert!(
        e.to_string().contains(&huge) && chain.contains(&cap),
        "{chain}"
    );
}

#[test]
fn a_fifo_or_a_symlink_under_a_record_name_never_blocks_and_is_never_followed() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let m = t.path().join("m");
    let first = upsert(&s, &m, &UpsertInput::new(Backend::Codex, "n1", "/w"), now()).unwrap();
    entwurf_testkit::mkfifo(s.join(format!("{OTHER}.meta.json")));
    // A symlink to a valid record elsewhere: refused, never read through.
    let elsewhere = t.path().join("elsewhere.json");
    std::fs::copy(&first.path, &elsewhere).unwrap();
    let linked = "20260612T100000-cccccc.meta.json";
    std::os::unix::fs::symlink(&elsewhere, s.join(linked)).unwrap();

    let (tx, rx) = mpsc::channel();
    let (s2, m2) = (s.clone(), m.clone());
    std::thread::spawn(move || {
        let l = list_records(&s2).unwrap();
        let u = upsert(
            &s2,
            &m2,
            &UpsertInput::new(Backend::Codex, "n3", "/w"),
            now(),
        )
        .unwrap();
        let _ = tx.send((l, u));
    });
    let (l, u) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a FIFO under a record name blocked the listing or the upsert");
    assert_eq!(l.records.len(), 1, "the symlink is not a record");
    let msgs: Vec<String> = l
        .errors
        .iter()
        .map(|e| format!("{} {}", e.filename, e.message))
        .collect();
    assert!(msgs.iter().any(|m| m.contains("FIFO")), "{msgs:?}");
    assert!(
        msgs.iter()
            .any(|m| m.contains(linked) && m.contains("symbolic link")),
        "{msgs:?}"
    );
    assert_eq!(u.skipped.len(), 2, "{:?}", u.skipped);
}

#[test]
fn listing_and_upsert_remove_dead_writers_temps_and_the_listing_reports_them() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let m = t.path().join("m");
    upsert(&s, &m, &UpsertInput::new(Backend::Codex, "n1", "/w"), now()).unwrap();
    let pid = dead_pid();
    let dead = format!(".{OTHER}.meta.json.tmp.{pid}.linux:9.0000000c");
    let live = entwurf_fs::temp_name(&format!("{OTHER}.meta.json"));
    std::fs::write(s.join(&dead), "{ half").unwrap();
    std::fs::write(s.join(&live), "{ half").unwrap();
    let l = list_records(&s).unwrap();
    assert_eq!(l.removed_temps, std::slice::from_ref(&dead));
    assert!(l.errors.is_empty(), "a temp is never listed as a record");
    assert!(!s.join(&dead).exists());
    assert!(s.join(&live).exists(), "a live writer's temp is kept");
    let json = serde_json::to_value(&l).unwrap();
    assert_eq!(json["removedTemps"][0], dead.as_str());

    std::fs::write(s.join(&dead), "{ half").unwrap();
    upsert(
        &s,
        &m,
        &UpsertInput::new(Backend::Codex, "n1", "/w2"),
        now(),
    )
    .unwrap();
    assert!(!s.join(&dead).exists(), "the upsert's scan removed it");
}
