//! `entwurf install` and `entwurf doctor` end to end on temp homes (HOME and every store inside
//! the test's temp dir, nothing touches the real home).

use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

mod common;

struct Home {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Home {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        Self { _tmp: tmp, root }
    }

    fn cmd(&self) -> Command {
        let mut cmd = common::entwurf(self.root.join("home"));
        cmd.env("PI_CODING_AGENT_DIR", self.root.join("agent"));
        cmd
    }

    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(&self.root).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let h = Home::new();
    fs::create_dir_all(h.root.join("home")).unwrap();
    for agent in ["claude-code", "codex"] {
        let out = h
            .cmd()
            .args([
                "install",
                agent,
                "--dry-run",
                "--entwurf-bin",
                "/usr/bin/entwurf",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.starts_with(&format!("entwurf install {agent}: ")),
            "{text}"
        );
        assert!(text.contains("(does not exist)"), "{text}");
        assert!(text.contains("/usr/bin/entwurf"), "{text}");
    }
    assert!(h.files().is_empty(), "{:?}", h.files());
}

#[test]
fn install_doctor_hook_doctor_uninstall() {
    let h = Home::new();
    fs::create_dir_all(h.root.join("home")).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("entwurf");
    h.cmd().args(["install", "claude-code"]).assert().success();
    h.cmd().args(["install", "codex"]).assert().success();
    let settings = fs::read_to_string(h.root.join("home/.claude/settings.json")).unwrap();
    assert!(settings.contains(&format!(
        "{} hook claude-code",
        bin.canonicalize().unwrap().display()
    )));
    // Again: nothing to change.
    let out = h.cmd().args(["install", "claude-code"]).output().unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("nothing to change"));

    // Installed but the hook never ran: doctor says so and exits 1.
    let out = h.cmd().args(["--json", "doctor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["installed"]["claudeHooks"].as_array().unwrap().len(),
        4
    );
    assert_eq!(report["installed"]["claudeMcp"], true);
    assert_eq!(report["installed"]["codexMcp"], true);
    assert!(
        report["problems"][0]
            .as_str()
            .unwrap()
            .contains("never logged a run"),
        "{report}"
    );

    // A hook run: doctor is content.
    h.cmd()
        .args(["hook", "claude-code"])
        .write_stdin(r#"{"session_id":"d1","transcript_path":"/t","cwd":"/w","hook_event_name":"SessionStart"}"#)
        .assert()
        .success();
    let out = h.cmd().arg("doctor").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("records: 1") && text.contains("ok: nothing needs a hand"),
        "{text}"
    );

    h.cmd()
        .args(["install", "claude-code", "--uninstall"])
        .assert()
        .success();
    h.cmd()
        .args(["install", "codex", "--uninstall"])
        .assert()
        .success();
    let left: Vec<String> = h
        .files()
        .into_iter()
        .filter(|f| f.starts_with("home/") && !f.contains(".entwurf-backup-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn doctor_reports_forked_identities_unreadable_records_and_hook_errors() {
    let h = Home::new();
    fs::create_dir_all(h.root.join("home")).unwrap();
    let hook = |stdin: &str| {
        h.cmd()
            .args(["hook", "claude-code"])
            .write_stdin(stdin.to_owned())
            .assert()
            .success();
    };
    hook(
        r#"{"session_id":"twin","transcript_path":"/t","cwd":"/w","hook_event_name":"SessionStart"}"#,
    );
    hook("garbage");
    let sessions = h.root.join("agent/meta-sessions");
    let name = fs::read_dir(&sessions)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".meta.json"))
        .unwrap();
    let gid = name.trim_end_matches(".meta.json");
    let twin_gid = "20200101T000000-abcdef";
    let text = fs::read_to_string(sessions.join(&name)).unwrap();
    fs::write(
        sessions.join(format!("{twin_gid}.meta.json")),
        text.replace(gid, twin_gid),
    )
    .unwrap();
    fs::write(sessions.join("20200101T000000-bad000.meta.json"), "{ torn").unwrap();
    let out = h.cmd().args(["--json", "doctor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let forked = &report["store"]["forked"][0];
    assert_eq!(forked["nativeSessionId"], "twin");
    assert_eq!(forked["gardenIds"].as_array().unwrap().len(), 2);
    assert_eq!(report["store"]["unreadable"].as_array().unwrap().len(), 1);
    assert_eq!(report["hook"]["recentErrors"].as_array().unwrap().len(), 1);
    let problems = report["problems"].to_string();
    assert!(problems.contains("forked identity"), "{problems}");
    assert!(problems.contains("unreadable record"), "{problems}");
    assert!(problems.contains("hook error"), "{problems}");
}

#[test]
fn install_refuses_the_reference_with_exit_3() {
    let h = Home::new();
    fs::create_dir_all(h.root.join("home")).unwrap();
    fs::write(
        h.root.join("home/.claude.json"),
        r#"{"mcpServers":{"entwurf-bridge":{"command":"entwurf-bridge"}}}"#,
    )
    .unwrap();
    let out = h.cmd().args(["install", "claude-code"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--replace-reference"), "{err}");
    h.cmd()
        .args(["install", "claude-code", "--replace-reference"])
        .assert()
        .success();
}
