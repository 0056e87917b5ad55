//! `entwurf record repair [--dry-run]` on a store forked the way the reference's writers fork
//! it: the golden twin records (one native id, two records), each with its own mailbox and
//! markers. A dry run prints the plan and changes nothing (byte for byte); the real run carries
//! out exactly that plan, after which the native id upserts again.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use assert_fs::TempDir;
use serde_json::Value;

mod common;
use common::{entwurf_in, stdout_json};

const KEEP: &str = "20260612T100000-aaaaaa";
const TWIN: &str = "20260612T120000-eeeeee";
const NATIVE: &str = "0b6c1f2e-1111-4111-8111-111111111111";

fn golden(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden")
        .join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The forked store under `root` (sessions `s`, mailbox `m`, receivers `r`, senders `senders`):
/// the golden ambiguous-twins case, plus mail and markers for the twin.
fn forked_store(root: &Path) {
    let (s, m, r) = (root.join("s"), root.join("m"), root.join("r"));
    fs::create_dir_all(&s).unwrap();
    let full = golden("records/v2-full.meta.json");
    fs::write(s.join(format!("{KEEP}.meta.json")), &full).unwrap();
    fs::write(
        s.join(format!("{TWIN}.meta.json")),
        full.replace(KEEP, TWIN),
    )
    .unwrap();
    // The twin's mailbox: one fresh, one announced, one read message, its receipts, a doorbell.
    let twin_box = m.join(TWIN);
    fs::create_dir_all(&twin_box).unwrap();
    let body = golden("mailbox/v2-send-raw.msg");
    fs::write(twin_box.join("2026-06-12T12-01-00-000Z-111111.msg"), &body).unwrap();
    fs::write(
        twin_box.join("2026-06-12T12-02-00-000Z-222222.msg.delivered"),
        "announced\n",
    )
    .unwrap();
    fs::write(
        twin_box.join("2026-06-12T11-00-00-000Z-000000.msg.read"),
        "old\n",
    )
    .unwrap();
    fs::write(
        twin_box.join("state.json"),
        golden("mailbox/state-enqueued.json").replace(KEEP, TWIN),
    )
    .unwrap();
    fs::write(twin_box.join("inbox.signal"), "2026-06-12T12:02:00.000Z\n").unwrap();
    // The kept citizen already holds a message with the same name as the twin's first.
    let keep_box = m.join(KEEP);
    fs::create_dir_all(&keep_box).unwrap();
    fs::write(
        keep_box.join("2026-06-12T12-01-00-000Z-111111.msg"),
        "mine\n",
    )
    .unwrap();
    // Markers: the twin's receiver marker and a sender marker naming it; the kept one's stay.
    fs::create_dir_all(&r).unwrap();
    let receiver = golden("markers/receiver.json");
    fs::write(r.join(format!("{KEEP}.json")), &receiver).unwrap();
    fs::write(r.join(format!("{TWIN}.json")), receiver.replace(KEEP, TWIN)).unwrap();
    let senders = root.join("senders/claude-code");
    fs::create_dir_all(&senders).unwrap();
    let sender = golden("markers/sender.json");
    fs::write(senders.join("19099.json"), sender.replace(KEEP, TWIN)).unwrap();
    fs::write(senders.join("4242.json"), &sender).unwrap();
}

/// Every file under `root` with its bytes (directories as `None`), symlinks not followed.
fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let meta = p.symlink_metadata().unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if meta.is_dir() {
                stack.push(p);
                out.insert(rel, None);
            } else {
                out.insert(rel, Some(fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn repair(root: &Path, dry_run: bool, json: bool) -> std::process::Output {
    let mut cmd = entwurf_in(root);
    cmd.arg("--senders-dir").arg(root.join("senders"));
    if json {
        cmd.arg("--json");
    }
    cmd.args(["record", "repair"]);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "repair failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The steps of the (single) group, with `<root>` for the temp dir.
fn steps(report: &Value, root: &Path) -> Vec<(String, String, String)> {
    let root = root.to_str().unwrap();
    report["groups"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or("").replace(root, "<root>");
            (f("kind"), f("path"), f("to"))
        })
        .collect()
}

#[test]
fn the_ambiguous_upsert_names_the_repair_and_a_dry_run_changes_nothing() {
    let t = TempDir::new().unwrap();
    let root = t.path();
    forked_store(root);
    // Still refused, as the reference and its golden case do, with the fix named.
    let out = entwurf_in(root)
        .args(["record", "upsert", "--backend", "claude-code"])
        .args(["--native-id", NATIVE, "--cwd", "/home/u/proj"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ambiguous meta-record authority"), "{err}");
    assert!(err.contains("`entwurf record repair`"), "{err}");

    let before = tree(root);
    let text = repair(root, true, false);
    let json = repair(root, true, true);
    assert_eq!(tree(root), before, "a dry run changes nothing");

    let text = String::from_utf8(text.stdout).unwrap();
    let root_s = root.to_str().unwrap();
    let lines: Vec<String> = text.lines().map(|l| l.replace(root_s, "<root>")).collect();
    assert_eq!(
        lines,
        [
            "dry run: the plan below was not carried out (nothing changed)".to_owned(),
            format!("native id {NATIVE}: keep {KEEP} (createdAt 2026-06-12T10:00:00.000Z), 1 twin(s) moved aside"),
            format!("  move mail <root>/m/{TWIN}/2026-06-12T12-01-00-000Z-111111.msg -> <root>/m/{KEEP}/2026-06-12T12-01-00-000Z-111112.msg"),
            format!("  move mail <root>/m/{TWIN}/2026-06-12T12-02-00-000Z-222222.msg.delivered -> <root>/m/{KEEP}/2026-06-12T12-02-00-000Z-222222.msg"),
            format!("  drop receiver marker <root>/r/{TWIN}.json"),
            "  drop sender marker <root>/senders/claude-code/19099.json".to_owned(),
            format!("  move record <root>/s/{TWIN}.meta.json -> <root>/s/.entwurf-repaired/{TWIN}.meta.json"),
            format!("  stamp lastEnqueuedAt <root>/m/{KEEP}/state.json"),
            format!("  ring doorbell <root>/m/{KEEP}/inbox.signal"),
        ]
    );
    let v = stdout_json(&json);
    assert_eq!(v["dryRun"], true);
    assert_eq!(v["groups"][0]["keep"]["gardenId"], KEEP);
    assert_eq!(v["groups"][0]["movedAside"][0]["gardenId"], TWIN);
    assert_eq!(steps(&v, root).len(), 7);
}

#[test]
fn repair_carries_out_the_dry_run_plan_and_the_native_id_upserts_again() {
    let t = TempDir::new().unwrap();
    let root = t.path();
    forked_store(root);
    let plan = stdout_json(&repair(root, true, true));
    let done = stdout_json(&repair(root, false, true));
    assert_eq!(done["dryRun"], false);
    assert_eq!(
        steps(&done, root),
        steps(&plan, root),
        "the real run is the plan"
    );
    assert!(done["warnings"].as_array().unwrap().is_empty(), "{done}");

    let (s, m) = (root.join("s"), root.join("m"));
    // The twin's record is aside, whole, not deleted; only the kept one is a citizen.
    let full = golden("records/v2-full.meta.json");
    assert_eq!(
        fs::read_to_string(
            s.join(".entwurf-repaired")
                .join(format!("{TWIN}.meta.json"))
        )
        .unwrap(),
        full.replace(KEEP, TWIN)
    );
    assert_eq!(
        fs::read_to_string(s.join(format!("{KEEP}.meta.json"))).unwrap(),
        full
    );
    let list = stdout_json(
        &entwurf_in(root)
            .args(["--json", "record", "list"])
            .output()
            .unwrap(),
    );
    assert_eq!(list["records"].as_array().unwrap().len(), 1);
    assert!(list["errors"].as_array().unwrap().is_empty());
    // Mail: moved as fresh messages, nothing clobbered; the twin keeps only its archive.
    let keep_box = m.join(KEEP);
    assert_eq!(
        fs::read_to_string(keep_box.join("2026-06-12T12-01-00-000Z-111111.msg")).unwrap(),
        "mine\n"
    );
    assert_eq!(
        fs::read_to_string(keep_box.join("2026-06-12T12-01-00-000Z-111112.msg")).unwrap(),
        golden("mailbox/v2-send-raw.msg")
    );
    assert_eq!(
        fs::read_to_string(keep_box.join("2026-06-12T12-02-00-000Z-222222.msg")).unwrap(),
        "announced\n"
    );
    let state: Value =
        serde_json::from_str(&fs::read_to_string(keep_box.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["gardenId"], KEEP);
    assert!(state["lastEnqueuedAt"].is_string());
    assert!(keep_box.join("inbox.signal").is_file());
    let mut twin_left: Vec<String> = fs::read_dir(m.join(TWIN))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    twin_left.sort();
    assert_eq!(
        twin_left,
        [
            "2026-06-12T11-00-00-000Z-000000.msg.read",
            "inbox.signal",
            "state.json"
        ]
    );
    // Markers: the twin's are gone, the kept citizen's and other senders' stay.
    assert!(!root.join("r").join(format!("{TWIN}.json")).exists());
    assert!(root.join("r").join(format!("{KEEP}.json")).exists());
    assert!(!root.join("senders/claude-code/19099.json").exists());
    assert!(root.join("senders/claude-code/4242.json").exists());

    // The native id upserts again, to the kept gid; a second repair has nothing to do.
    let up = stdout_json(
        &entwurf_in(root)
            .args(["--json", "record", "upsert", "--backend", "claude-code"])
            .args(["--native-id", NATIVE, "--cwd", "/home/u/proj"])
            .output()
            .unwrap(),
    );
    assert_eq!(up["action"], "attach");
    assert_eq!(up["record"]["gardenId"], KEEP);
    let again = repair(root, false, false);
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("no twin records"));
    // Every message reaches the kept citizen's drain.
    let drained = stdout_json(
        &entwurf_in(root)
            .args(["--json", "mailbox", "read", KEEP])
            .output()
            .unwrap(),
    );
    assert_eq!(drained["messages"].as_array().unwrap().len(), 3);
}

/// The oldest `createdAt` wins, whatever the file names say.
#[test]
fn repair_keeps_the_oldest_record_by_created_at_then_by_name() {
    let t = TempDir::new().unwrap();
    let root = t.path();
    let s = root.join("s");
    fs::create_dir_all(&s).unwrap();
    let full = golden("records/v2-full.meta.json");
    let older = "20260612T130000-bbbbbb";
    fs::write(s.join(format!("{KEEP}.meta.json")), &full).unwrap();
    fs::write(
        s.join(format!("{older}.meta.json")),
        full.replace(KEEP, older).replace(
            "\"createdAt\": \"2026-06-12T10:00:00.000Z\"",
            "\"createdAt\": \"2026-06-12T09:59:59.999Z\"",
        ),
    )
    .unwrap();
    fs::write(
        s.join(format!("{TWIN}.meta.json")),
        full.replace(KEEP, TWIN),
    )
    .unwrap();
    let v = stdout_json(&repair(root, false, true));
    assert_eq!(v["groups"][0]["keep"]["gardenId"], older);
    let aside: Vec<&str> = v["groups"][0]["movedAside"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["gardenId"].as_str().unwrap())
        .collect();
    assert_eq!(
        aside,
        [KEEP, TWIN],
        "the tie between the two is broken by name"
    );
    let mut left: Vec<String> = fs::read_dir(&s)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".meta.json"))
        .collect();
    left.sort();
    assert_eq!(left, [format!("{older}.meta.json")]);
}

/// A repair that cannot read the store fails with a typed error; under `--json` it is one
/// error object on stdout naming the path.
#[test]
fn a_repair_over_an_unusable_store_is_a_typed_json_error() {
    let t = TempDir::new().unwrap();
    let root = t.path();
    fs::write(root.join("s"), "a file where the store should be").unwrap();
    let out = entwurf_in(root)
        .args(["--json", "record", "repair"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    // The record store's refusal is the cause: in `causes`, not repeated in `message`.
    assert!(
        v["error"]["causes"][0]
            .as_str()
            .unwrap()
            .contains("not a directory"),
        "{v}"
    );
    assert!(
        !v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a directory"),
        "{v}"
    );
    assert_eq!(v["error"]["path"], root.join("s").to_str().unwrap());
}
