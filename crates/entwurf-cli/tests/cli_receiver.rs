//! `entwurf receiver arm|show` end to end, with real owner processes.

use std::fs;
use std::process::{Child, Command as StdCommand};

use assert_fs::prelude::*;
use assert_fs::TempDir;
use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::entwurf_in;

fn citizen(t: &TempDir, backend: &str, native: &str) -> String {
    let out = entwurf_in(t)
        .args(["--json", "record", "upsert", "--backend", backend])
        .args(["--native-id", native, "--cwd", "/w"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["record"]["gardenId"].as_str().unwrap().to_owned()
}

/// A live owner process of our own, killed and reaped on drop.
struct Owner(Child);
impl Owner {
    fn spawn() -> Self {
        Owner(StdCommand::new("sleep").arg("300").spawn().unwrap())
    }
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}
impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn show_json(t: &TempDir, gid: &str) -> Value {
    let out = entwurf_in(t)
        .args(["--json", "receiver", "show", gid])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn arm_then_show_a_live_matching_receiver() {
    let t = TempDir::new().unwrap();
    let gid = citizen(&t, "claude-code", "sess-1");
    let owner = Owner::spawn();
    entwurf_in(&t)
        .args(["receiver", "arm", &gid, "--owner-pid", &owner.pid()])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!("armed {gid} ")))
        .stderr("");
    let marker_path = t.path().join("r").join(format!("{gid}.json"));
    let marker: Value = serde_json::from_slice(&fs::read(&marker_path).unwrap()).unwrap();
    assert_eq!(marker["backend"], "claude-code");
    assert_eq!(marker["nativeSessionId"], "sess-1");
    assert_eq!(marker["ownerPid"].to_string(), owner.pid());
    assert_eq!(marker["ownerKind"], "claude-code-cli");
    assert_eq!(marker["armProvenance"], "session-start");

    let v = show_json(&t, &gid);
    assert_eq!(v["live"], true);
    assert_eq!(v["matchesRecord"], true);
    assert_eq!(v["armed"], true);
    entwurf_in(&t)
        .args(["receiver", "show", &gid])
        .assert()
        .success()
        .stdout(predicate::str::contains("armed:          yes"));

    // once the owner is gone the marker stays, but no longer reads as armed
    drop(owner);
    let v = show_json(&t, &gid);
    assert_eq!(v["live"], false);
    assert_eq!(v["armed"], false);
}

#[test]
fn arm_options_are_recorded_and_validated() {
    let t = TempDir::new().unwrap();
    let gid = citizen(&t, "codex", "thread-1");
    let owner = Owner::spawn();
    entwurf_in(&t)
        .args([
            "--json",
            "receiver",
            "arm",
            &gid,
            "--owner-pid",
            &owner.pid(),
        ])
        .args(["--provenance", "cwd-changed", "--owner-kind", "codex-cli"])
        .assert()
        .success();
    let v = show_json(&t, &gid);
    assert_eq!(v["marker"]["armProvenance"], "cwd-changed");
    assert_eq!(v["marker"]["ownerKind"], "codex-cli");

    entwurf_in(&t)
        .args(["receiver", "arm", &gid, "--owner-pid", &owner.pid()])
        .args(["--provenance", "user-prompt-submit"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "invalid armProvenance: \"user-prompt-submit\"",
        ));
    entwurf_in(&t)
        .args(["receiver", "arm", &gid, "--owner-pid", &owner.pid()])
        .args(["--owner-kind", ""])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "\"ownerKind\" must be a non-empty string",
        ));
    // the refused arms left the earlier marker as it was
    assert_eq!(
        show_json(&t, &gid)["marker"]["armProvenance"],
        "cwd-changed"
    );
}

#[test]
fn arm_refuses_pi_and_unknown_citizens_writing_nothing() {
    let t = TempDir::new().unwrap();
    let pi = citizen(&t, "pi", "pi-1");
    let me = std::process::id().to_string();
    entwurf_in(&t)
        .args(["receiver", "arm", &pi, "--owner-pid", &me])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("pi citizen"));
    entwurf_in(&t)
        .args([
            "receiver",
            "arm",
            "20260101T000000-000000",
            "--owner-pid",
            &me,
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no meta-record for garden id"));
    entwurf_in(&t)
        .args(["receiver", "arm", "nope", "--owner-pid", &me])
        .assert()
        .code(2);
    t.child("r").assert(predicate::path::missing());
}

#[test]
fn arm_with_a_dead_owner_warns_and_never_reads_armed() {
    let t = TempDir::new().unwrap();
    let gid = citizen(&t, "claude-code", "sess-dead");
    let dead = entwurf_testkit::dead_pid().to_string();
    entwurf_in(&t)
        .args(["receiver", "arm", &gid, "--owner-pid", &dead])
        .assert()
        .success()
        .stderr(predicate::str::contains("is not a running process"));
    // written as the reference does (empty start key) …
    let marker: Value =
        serde_json::from_slice(&fs::read(t.path().join("r").join(format!("{gid}.json"))).unwrap())
            .unwrap();
    assert_eq!(marker["ownerStartKey"], "");
    // … and such a marker never reads, not even for inspection
    entwurf_in(&t)
        .args(["receiver", "show", &gid])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no readable receiver marker"));
}

#[test]
fn show_reports_absent_and_mismatched_markers() {
    let t = TempDir::new().unwrap();
    let gid = citizen(&t, "claude-code", "sess-2");
    entwurf_in(&t)
        .args(["receiver", "show", &gid])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no readable receiver marker"));

    // a live marker for another native session does not match the record
    let owner = Owner::spawn();
    entwurf_in(&t)
        .args(["receiver", "arm", &gid, "--owner-pid", &owner.pid()])
        .assert()
        .success();
    let path = t.path().join("r").join(format!("{gid}.json"));
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("sess-2", "sess-other");
    fs::write(&path, text).unwrap();
    let v = show_json(&t, &gid);
    assert_eq!(v["live"], true);
    assert_eq!(v["matchesRecord"], false);
    assert_eq!(v["armed"], false);
}
