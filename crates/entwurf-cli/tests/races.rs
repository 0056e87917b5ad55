//! Concurrency proofs with real processes (the `entwurf` binary, many at once): one identity
//! per native id under parallel upserts, and mail that is delivered exactly once, whole, with a
//! `state.json` that always parses and a `lastEnqueuedAt` that only moves forward.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use assert_fs::TempDir;
use entwurf_meta_session::{GardenId, ReceiptState};
use serde_json::Value;

mod common;
use common::{entwurf_in, stdout_json};

const NATIVE: &str = "0b6c1f2e-1111-4111-8111-111111111111";

fn upsert_gid(root: &Path) -> String {
    let out = entwurf_in(root)
        .args(["--json", "record", "upsert", "--backend", "claude-code"])
        .args(["--native-id", NATIVE, "--cwd", "/w"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "an upsert failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)["record"]["gardenId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Row 1: 8 parallel upserts of one native id made 3–7 garden ids. 16 workers × 50 upserts
/// (800 processes, at most 16 at once) must make exactly one record and agree on its gid.
#[test]
fn parallel_upserts_of_one_native_id_make_exactly_one_record_and_every_caller_gets_its_gid() {
    let t = TempDir::new().unwrap();
    let root = t.path().to_path_buf();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let root = root.clone();
            thread::spawn(move || (0..50).map(|_| upsert_gid(&root)).collect::<Vec<_>>())
        })
        .collect();
    let mut gids = BTreeMap::<String, usize>::new();
    for w in workers {
        for gid in w.join().unwrap() {
            *gids.entry(gid).or_default() += 1;
        }
    }
    assert_eq!(
        gids.len(),
        1,
        "several garden ids for one native id: {gids:?}"
    );
    let (gid, count) = gids.into_iter().next().unwrap();
    assert_eq!(count, 800);
    let records: Vec<String> = std::fs::read_dir(root.join("s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".meta.json"))
        .collect();
    assert_eq!(records, [format!("{gid}.meta.json")]);
    // And the store still answers: no ambiguity afterwards.
    assert_eq!(upsert_gid(&root), gid);
}

/// One message body: long enough that a torn write would show, self-describing.
fn body(sender: usize, seq: usize) -> String {
    let head = format!("sender={sender} seq={seq:02}\n");
    format!("{head}{}\nend\n", format!("{sender}.{seq};").repeat(300))
}

fn parse_body(b: &str) -> (usize, usize) {
    let first = b.lines().next().unwrap();
    let (s, q) = first.split_once(' ').unwrap();
    let sender = s.strip_prefix("sender=").unwrap().parse().unwrap();
    let seq = q.strip_prefix("seq=").unwrap().parse().unwrap();
    assert_eq!(b, body(sender, seq), "a partial or mixed body");
    (sender, seq)
}

/// One drain through the binary: the `(sender, seq)` of every message it returned.
fn drain_once(root: &Path, gid: &str) -> Vec<(usize, usize)> {
    let out = entwurf_in(root)
        .args(["--json", "mailbox", "read", gid])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a drain failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = stdout_json(&out);
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| parse_body(m["body"].as_str().unwrap()))
        .collect()
}

/// A record and a receiver marker owned by this test process (alive for the whole run).
fn citizen(root: &Path) -> String {
    let out = entwurf_in(root)
        .args(["--json", "record", "upsert", "--backend", "claude-code"])
        .args(["--native-id", NATIVE, "--cwd", "/w"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let gid = stdout_json(&out)["record"]["gardenId"]
        .as_str()
        .unwrap()
        .to_owned();
    let pid = std::process::id().to_string();
    entwurf_in(root)
        .args(["receiver", "arm", &gid, "--owner-pid", &pid])
        .assert()
        .success();
    gid
}

/// Rows 2–4 under load: 16 sender processes × 50 messages with 2 drainer processes racing
/// them. All 800 are delivered exactly once and whole; `state.json` parses every time the test
/// looks during the run; at the end `lastEnqueuedAt` is the newest message's stamp.
#[test]
fn sixteen_senders_and_two_drainers_deliver_800_messages_exactly_once_and_state_always_parses() {
    let t = TempDir::new().unwrap();
    let root = t.path().to_path_buf();
    let gid = citizen(&root);
    let (senders, per) = (16, 50);
    let done = Arc::new(AtomicBool::new(false));

    let send_threads: Vec<_> = (0..senders)
        .map(|s| {
            let (root, gid) = (root.clone(), gid.clone());
            thread::spawn(move || {
                for seq in 0..per {
                    let out = entwurf_in(&root)
                        .args(["--json", "mailbox", "send", &gid, &body(s, seq)])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "a send failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    let drain_threads: Vec<_> = (0..2)
        .map(|_| {
            let (root, gid, done) = (root.clone(), gid.clone(), done.clone());
            thread::spawn(move || {
                let mut got = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    got.extend(drain_once(&root, &gid));
                }
                got
            })
        })
        .collect();

    // While they run: state.json, whenever it exists, is a whole valid receipt state.
    let state = root.join("m").join(&gid).join("state.json");
    let owner = GardenId::parse(&gid).unwrap();
    let mut looks = 0usize;
    while send_threads.iter().any(|h| !h.is_finished()) {
        if let Ok(bytes) = std::fs::read(&state) {
            let text = String::from_utf8(bytes).unwrap();
            let parsed = ReceiptState::parse(&text)
                .unwrap_or_else(|e| panic!("state.json did not parse ({e}): {text:?}"));
            parsed.check_drift(&owner).unwrap();
            looks += 1;
        }
        thread::yield_now();
    }
    for h in send_threads {
        h.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let mut got: Vec<(usize, usize)> = Vec::new();
    for h in drain_threads {
        got.extend(h.join().unwrap());
    }
    got.extend(drain_once(&root, &gid));
    assert!(looks > 0, "the test never saw state.json during the run");

    let unique: BTreeSet<_> = got.iter().copied().collect();
    assert_eq!(unique.len(), senders * per, "a message was lost");
    assert_eq!(got.len(), senders * per, "a message was delivered twice");

    // Every message is archived; none is left behind half-written under a hidden name.
    let dir = root.join("m").join(&gid);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "tmp left: {names:?}"
    );
    let archived: Vec<&String> = names.iter().filter(|n| n.ends_with(".read")).collect();
    assert_eq!(archived.len(), senders * per);

    // Row 3: lastEnqueuedAt never went back; it is the newest message's stamp.
    let newest = archived
        .iter()
        .map(|n| stamp_of_message_name(n))
        .max()
        .unwrap();
    let final_state = ReceiptState::parse(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        final_state.last_enqueued_at.as_deref(),
        Some(newest.as_str())
    );
    assert!(final_state.last_read_at.is_some());
}

/// `2026-06-12T10-05-00-123Z-0217f1.msg.read` → `2026-06-12T10:05:00.123Z`.
fn stamp_of_message_name(name: &str) -> String {
    let s = &name[..24];
    format!("{}:{}:{}.{}", &s[..13], &s[14..16], &s[17..19], &s[20..24])
}
