//! `entwurf id`, `entwurf record` end to end: a real child process in a temp world. The child's
//! environment is cleared and HOME points into the temp dir, so nothing touches the real home.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use assert_fs::prelude::*;
use assert_fs::TempDir;
use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::{entwurf_in, stdout_json};

/// How many entries `dir` holds besides the upsert lock dir (a record, a leftover temp, a
/// cache all count).
fn record_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != entwurf_meta_session::UPSERT_LOCK_DIR)
        .count()
}

/// `record upsert --backend <backend> --native-id <native> --cwd /x`.
fn upsert_x<'a>(backend: &'a str, native: &'a str) -> [&'a str; 8] {
    [
        "record",
        "upsert",
        "--backend",
        backend,
        "--native-id",
        native,
        "--cwd",
        "/x",
    ]
}

/// `entwurf` with an empty environment (but PATH) and HOME = `<tmp>/home`.
fn entwurf(t: &TempDir) -> Command {
    common::entwurf(t.path().join("home"))
}

fn create(t: &TempDir, native: &str, extra: &[&str]) -> Value {
    let out = entwurf_in(t)
        .args(["--json", "record", "upsert", "--backend", "claude-code"])
        .args(["--native-id", native, "--cwd", "/p1"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)
}

#[test]
fn id_new_prints_a_fresh_garden_id() {
    let t = TempDir::new().unwrap();
    let out = entwurf(&t).args(["id", "new"]).output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        entwurf_meta_session::is_valid_garden_id(line.trim_end()),
        "{line:?}"
    );
    let j = entwurf(&t).args(["--json", "id", "new"]).output().unwrap();
    assert!(entwurf_meta_session::is_valid_garden_id(
        stdout_json(&j)["gardenId"].as_str().unwrap()
    ));
    assert!(!t.path().join("home").exists(), "id new writes nothing");
}

#[test]
fn id_check_rejects_bad_ids_with_exit_2() {
    let t = TempDir::new().unwrap();
    for bad in [
        "",
        "../x",
        "20260612T100000-AAAAAA",
        "20260612T100000-aaaaaa\n",
    ] {
        entwurf(&t)
            .args(["id", "check", bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid garden id"));
    }
    entwurf(&t)
        .args(["id", "check", "20260612T100000-aaaaaa"])
        .assert()
        .success()
        .stdout("20260612T100000-aaaaaa\n");
}

#[test]
fn upsert_creates_then_attaches_with_the_merge_rules() {
    let t = TempDir::new().unwrap();
    let created = create(&t, "n-1", &["--model", "m1", "--transcript-path", "/t1"]);
    assert_eq!(created["action"], "create");
    let gid = created["record"]["gardenId"].as_str().unwrap().to_owned();
    let path = t.path().join("s").join(format!("{gid}.meta.json"));
    assert_eq!(created["path"], path.display().to_string());
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // human output: action, gid, path
    entwurf_in(&t)
        .args(["record", "upsert", "--backend", "claude-code"])
        .args(["--native-id", "n-1", "--cwd", "/p2"])
        .assert()
        .success()
        .stdout(format!("attach {gid} {}\n", path.display()));
    let rec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(rec["model"], "m1", "absent keeps");
    assert_eq!(rec["cwd"], "/p2", "cwd replaced");

    let cleared = create(&t, "n-1", &["--clear-model", "--entwurf"]);
    assert_eq!(cleared["action"], "attach");
    assert_eq!(
        cleared["record"]["model"],
        Value::Null,
        "--clear-model clears"
    );
    assert_eq!(cleared["record"]["transcriptPath"], "/t1");
    assert_eq!(cleared["record"]["isEntwurf"], true);
    assert_eq!(record_files(&t.path().join("s")), 1);
}

#[test]
fn upsert_refusals_exit_non_zero_and_change_nothing() {
    let t = TempDir::new().unwrap();
    let created = create(&t, "n-1", &[]);
    let gid = created["record"]["gardenId"].as_str().unwrap();
    let path = t.path().join("s").join(format!("{gid}.meta.json"));
    let before = fs::read(&path).unwrap();

    entwurf_in(&t)
        .args(upsert_x("codex", "n-1"))
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains(
            "A native session cannot change backend.",
        ));
    entwurf_in(&t)
        .args(upsert_x("pi", ""))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "\"nativeSessionId\" must be a non-empty string",
        ));
    entwurf_in(&t)
        .args(upsert_x("pi", "p"))
        .args(["--parent", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "\"parentGardenId\" must be null or match",
        ));
    entwurf_in(&t)
        .args(upsert_x("gemini", "p"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown backend"));
    entwurf_in(&t)
        .args(upsert_x("pi", "p"))
        .args(["--model", "m", "--clear-model"])
        .assert()
        .code(2);

    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(record_files(&t.path().join("s")), 1);
}

#[test]
fn show_prints_the_record_and_fails_clearly() {
    let t = TempDir::new().unwrap();
    let created = create(&t, "n-1", &["--model", "m1"]);
    let gid = created["record"]["gardenId"].as_str().unwrap().to_owned();
    let path = t.path().join("s").join(format!("{gid}.meta.json"));
    entwurf_in(&t)
        .args(["record", "show", &gid])
        .assert()
        .success()
        .stdout(String::from_utf8(fs::read(&path).unwrap()).unwrap());
    let j = entwurf_in(&t)
        .args(["--json", "record", "show", &gid])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&j)["record"], created["record"]);

    entwurf_in(&t)
        .args(["record", "show", "20260101T000000-000000"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no meta-record for garden id \"20260101T000000-000000\"",
        ));
    entwurf_in(&t)
        .args(["record", "show", "../../etc/passwd"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid garden id"));

    // corrupt and drifted files are errors naming the file
    fs::write(&path, "{ broken").unwrap();
    entwurf_in(&t)
        .args(["record", "show", &gid])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(path.display().to_string()))
        .stderr(predicate::str::contains("meta-record is not valid JSON"));
}

#[test]
fn list_shows_records_and_corrupt_files() {
    let t = TempDir::new().unwrap();
    let a = create(&t, "n-a", &[]);
    let gid_a = a["record"]["gardenId"].as_str().unwrap().to_owned();
    t.child("s/20260601T000000-000000.meta.json")
        .write_str("[]")
        .unwrap();
    t.child("s/notes.txt").write_str("ignored").unwrap();

    entwurf_in(&t)
        .args(["record", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(gid_a.as_str()))
        .stdout(predicate::str::contains(
            "unreadable  20260601T000000-000000.meta.json  meta-record must be a JSON object (got object).",
        ))
        .stdout(predicate::str::contains("notes.txt").not());
    let j = entwurf_in(&t)
        .args(["--json", "record", "list"])
        .output()
        .unwrap();
    let v = stdout_json(&j);
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["errors"][0]["filename"],
        "20260601T000000-000000.meta.json"
    );
    entwurf_in(&t)
        .args(["record", "list", "--strict"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("1 unreadable meta-record(s)"));
}

#[test]
fn environment_resolution_and_flag_override() {
    let t = TempDir::new().unwrap();
    // no flags, no overrides: the store sits under $HOME/.pi/agent
    entwurf(&t).args(upsert_x("pi", "p")).assert().success();
    t.child("home/.pi/agent/meta-sessions")
        .assert(predicate::path::is_dir());

    // the original-design name is honoured
    entwurf(&t)
        .env("PI_META_SESSIONS_DIR", t.path().join("legacy"))
        .args(upsert_x("pi", "p"))
        .assert()
        .success();
    t.child("legacy").assert(predicate::path::is_dir());

    // PI_CODING_AGENT_DIR with tilde expansion against HOME
    entwurf(&t)
        .env("PI_CODING_AGENT_DIR", "~/agent2")
        .args(["record", "list"])
        .assert()
        .success();

    // both names, different values: refused, naming both
    entwurf(&t)
        .env("ENTWURF_META_SESSIONS_DIR", "/one")
        .env("PI_META_SESSIONS_DIR", "/two")
        .args(["record", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ENTWURF_META_SESSIONS_DIR"))
        .stderr(predicate::str::contains("PI_META_SESSIONS_DIR"));
    // …unless the flag decides
    entwurf(&t)
        .env("ENTWURF_META_SESSIONS_DIR", "/one")
        .env("PI_META_SESSIONS_DIR", "/two")
        .arg("--sessions-dir")
        .arg(t.path().join("flag"))
        .args(["record", "list"])
        .assert()
        .success();
    assert!(!Path::new("/one").exists() && !Path::new("/two").exists());
}

#[test]
fn no_home_and_no_override_is_refused() {
    let t = TempDir::new().unwrap();
    Command::cargo_bin("entwurf")
        .unwrap()
        .env_clear()
        .current_dir(t.path())
        .args(["record", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("HOME is not set"));
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), 0);
}

#[test]
fn a_sessions_path_that_is_a_file_fails_cleanly() {
    let t = TempDir::new().unwrap();
    t.child("s").write_str("a file").unwrap();
    entwurf_in(&t)
        .args(upsert_x("pi", "p"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a directory"));
    t.child("s").assert("a file");
}
