//! `entwurf hook claude-code` as Claude Code runs it: a child process fed the hook envelope on
//! stdin, its stdout, exit code, log and store files checked. The golden envelopes and outputs
//! are the reference's own (`fixtures/golden/mcp/hooks.json`, `doorbell.json`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use serde_json::Value;

mod common;

fn golden(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden/mcp")
        .join(name);
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// A temp world laid out like the golden one: `<tmp>/sessions`, `<tmp>/mailbox`,
/// `<tmp>/receivers`, `<tmp>/senders`, the agent dir (and the hook log) at `<tmp>/agent`.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("cwd")).unwrap();
        Self { _tmp: tmp, root }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn cmd(&self) -> Command {
        let mut cmd = common::entwurf(self.p("home"));
        self.env(&mut cmd);
        cmd.args(["hook", "claude-code"]);
        cmd
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("PI_CODING_AGENT_DIR", self.p("agent"))
            .env("ENTWURF_META_SESSIONS_DIR", self.p("sessions"))
            .env("ENTWURF_META_MAILBOX_DIR", self.p("mailbox"))
            .env("ENTWURF_META_RECEIVERS_DIR", self.p("receivers"))
            .env("ENTWURF_META_SENDERS_DIR", self.p("senders"));
    }

    /// `<tmp>` in a golden text → this world's root.
    fn sub(&self, text: &str) -> String {
        text.replace("<tmp>", self.root.to_str().unwrap())
    }

    fn run(&self, stdin: &str) -> std::process::Output {
        self.cmd().write_stdin(stdin.to_owned()).output().unwrap()
    }

    fn names(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = match fs::read_dir(self.p(rel)) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| !n.starts_with('.'))
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }

    fn log(&self) -> String {
        fs::read_to_string(self.p("agent/entwurf-hook.log")).unwrap_or_default()
    }

    fn records(&self) -> Vec<Value> {
        self.names("sessions")
            .iter()
            .filter(|n| n.ends_with(".meta.json"))
            .map(|n| {
                serde_json::from_slice(&fs::read(self.p("sessions").join(n)).unwrap()).unwrap()
            })
            .collect()
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The golden stdout with the golden gid replaced by `gid`.
fn golden_stdout(w: &World, hook: &Value, gid: &str) -> String {
    let text = w.sub(hook["stdout"].as_str().unwrap());
    text.replace("20261206T214143-4ddf0d", gid)
}

#[test]
fn golden_envelopes_give_the_reference_answers_and_one_record() {
    let w = World::new();
    let g = golden("hooks.json");
    let hooks = g["hooks"].as_array().unwrap();
    let me = std::process::id() as i64;

    // SessionStart: creates the record, arms both markers, answers watchPaths.
    let out = w.run(&w.sub(&hooks[0]["stdin"].to_string()));
    assert_eq!(out.status.code(), Some(0));
    let records = w.records();
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    let gid = rec["gardenId"].as_str().unwrap().to_owned();
    assert_eq!(stdout(&out), golden_stdout(&w, &hooks[0], &gid));
    assert_eq!(rec["backend"], "claude-code");
    assert_eq!(rec["nativeSessionId"], "cc-hook-1");
    assert_eq!(rec["cwd"], w.sub("<tmp>/cwd"));
    assert_eq!(rec["transcriptPath"], w.sub("<tmp>/cwd/cc-hook-1.jsonl"));
    let signal = w.p("mailbox").join(&gid).join("inbox.signal");
    assert_eq!(fs::read(&signal).unwrap(), b"");
    let receiver: Value =
        serde_json::from_slice(&fs::read(w.p("receivers").join(format!("{gid}.json"))).unwrap())
            .unwrap();
    // The hook's parent is this test process (no shell in between): it owns the markers.
    assert_eq!(receiver["ownerPid"], me);
    assert_eq!(receiver["armProvenance"], "session-start");
    assert_eq!(receiver["ownerKind"], "claude-code-cli");
    let sender: Value = serde_json::from_slice(
        &fs::read(
            w.p("senders")
                .join("claude-code")
                .join(format!("{me}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(sender["gardenId"], gid.as_str());
    assert_eq!(sender["ownerStartKey"], receiver["ownerStartKey"]);

    // CwdChanged: same record, same answer shape, provenance updated.
    let out = w.run(&w.sub(&hooks[1]["stdin"].to_string()));
    assert_eq!(stdout(&out), golden_stdout(&w, &hooks[1], &gid));
    let receiver: Value =
        serde_json::from_slice(&fs::read(w.p("receivers").join(format!("{gid}.json"))).unwrap())
            .unwrap();
    assert_eq!(receiver["armProvenance"], "cwd-changed");

    // UserPromptSubmit: {} and still one record.
    let out = w.run(&w.sub(&hooks[2]["stdin"].to_string()));
    assert_eq!(stdout(&out), hooks[2]["stdout"].as_str().unwrap());
    assert_eq!(out.status.code(), Some(0));

    // An envelope without a session id: {} and nothing written; the log says ERROR.
    let out = w.run(&w.sub(&hooks[3]["stdin"].to_string()));
    assert_eq!(stdout(&out), hooks[3]["stdout"].as_str().unwrap());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(w.records().len(), 1);
    assert_eq!(w.names("receivers"), vec![format!("{gid}.json")]);
    assert_eq!(w.names("senders"), vec!["claude-code".to_owned()]);
    let log = w.log();
    assert!(log.contains(" INFO create "), "{log}");
    assert!(
        log.contains(" ERROR degraded envelope (event=SessionStart, session_id=MISSING"),
        "{log}"
    );
}

#[test]
fn prompt_submit_alone_records_but_never_claims_a_receiver() {
    let w = World::new();
    let out = w.run(r#"{"session_id":"s1","transcript_path":"/t/s1.jsonl","cwd":"/w","hook_event_name":"UserPromptSubmit","prompt":"hi"}"#);
    assert_eq!(stdout(&out), "{}\n");
    assert_eq!(w.records().len(), 1);
    assert!(w.names("receivers").is_empty());
    assert_eq!(w.names("senders"), vec!["claude-code".to_owned()]);
}

#[test]
fn missing_cwd_falls_back_to_the_process_cwd() {
    let w = World::new();
    let out = w
        .cmd()
        .current_dir(w.p("cwd"))
        .write_stdin(r#"{"session_id":"s2","transcript_path":"/t/s2.jsonl","hook_event_name":"SessionStart"}"#)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("\"watchPaths\""), "{}", stdout(&out));
    assert_eq!(w.records()[0]["cwd"], w.p("cwd").to_str().unwrap());
}

#[test]
fn garbage_stdin_answers_empty_and_logs_an_error() {
    let w = World::new();
    for input in ["not json at all", "[1,2]", ""] {
        let out = w.run(input);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(stdout(&out), "{}\n");
        assert!(out.stderr.is_empty());
    }
    assert!(w.records().is_empty());
    assert!(!w.p("sessions").exists());
    let log = w.log();
    assert_eq!(
        log.matches(" ERROR envelope parse failed").count(),
        3,
        "{log}"
    );
}

#[test]
fn an_unwritable_store_answers_empty_and_logs_an_error() {
    let w = World::new();
    // A file where the sessions dir should be: no record can be written (works as root too).
    fs::write(w.p("sessions"), b"in the way").unwrap();
    let out = w.run(
        r#"{"session_id":"s3","transcript_path":"/t","cwd":"/w","hook_event_name":"SessionStart"}"#,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "{}\n");
    assert!(
        w.log()
            .contains(" ERROR upsert failed (event=SessionStart, native=s3)"),
        "{}",
        w.log()
    );
    assert!(!w.p("receivers").exists());
}

#[test]
fn a_read_only_store_answers_empty_and_logs_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    fs::create_dir_all(w.p("sessions")).unwrap();
    fs::set_permissions(w.p("sessions"), fs::Permissions::from_mode(0o555)).unwrap();
    let probe = w.p("sessions/probe");
    let root_bypasses = fs::write(&probe, b"").is_ok();
    let out = w.run(
        r#"{"session_id":"s4","transcript_path":"/t","cwd":"/w","hook_event_name":"CwdChanged"}"#,
    );
    fs::set_permissions(w.p("sessions"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(out.status.code(), Some(0));
    if root_bypasses {
        // Root ignores the mode bits: the hook simply succeeds (the file-in-the-way test above
        // covers the failure path for root).
        assert!(stdout(&out).contains("watchPaths"));
    } else {
        assert_eq!(stdout(&out), "{}\n");
        assert!(w.log().contains(" ERROR upsert failed"), "{}", w.log());
    }
}

#[test]
fn a_read_only_log_never_breaks_the_hook() {
    let w = World::new();
    fs::create_dir_all(w.p("agent/entwurf-hook.log")).unwrap(); // a directory: appends fail
    let out = w.run("garbage");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "{}\n");
}

#[test]
fn a_sh_c_wrapper_is_skipped_and_claude_code_owns_the_markers() {
    let w = World::new();
    let bin = assert_cmd::cargo::cargo_bin("entwurf");
    // `; exit 0` keeps sh alive as the hook's parent, as an older dash or a compound command
    // does; the owner must be sh's parent (this test process, standing in for Claude Code).
    let script = format!("'{}' hook claude-code; exit 0", bin.display());
    let mut cmd = StdCommand::new("/bin/sh");
    cmd.arg("-c")
        .arg(&script)
        .env_clear()
        .env("HOME", w.p("home"));
    for (k, v) in [
        ("PI_CODING_AGENT_DIR", "agent"),
        ("ENTWURF_META_SESSIONS_DIR", "sessions"),
        ("ENTWURF_META_MAILBOX_DIR", "mailbox"),
        ("ENTWURF_META_RECEIVERS_DIR", "receivers"),
        ("ENTWURF_META_SENDERS_DIR", "senders"),
    ] {
        cmd.env(k, w.p(v));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"session_id":"s5","transcript_path":"/t","cwd":"/w","hook_event_name":"SessionStart"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(stdout(&out).contains("watchPaths"), "{}", stdout(&out));
    let gid = w.records()[0]["gardenId"].as_str().unwrap().to_owned();
    let receiver: Value =
        serde_json::from_slice(&fs::read(w.p("receivers").join(format!("{gid}.json"))).unwrap())
            .unwrap();
    assert_eq!(receiver["ownerPid"], std::process::id() as i64);
    assert_eq!(
        w.names("senders/claude-code"),
        vec![format!("{}.json", std::process::id())]
    );
}

#[test]
fn concurrent_hooks_for_one_session_make_one_record() {
    let w = World::new();
    let bin = assert_cmd::cargo::cargo_bin("entwurf");
    let events = [
        "SessionStart",
        "UserPromptSubmit",
        "CwdChanged",
        "UserPromptSubmit",
    ];
    let mut children = Vec::new();
    for i in 0..12 {
        let mut cmd = StdCommand::new(&bin);
        cmd.args(["hook", "claude-code"])
            .env_clear()
            .env("HOME", w.p("home"))
            .env("PI_CODING_AGENT_DIR", w.p("agent"))
            .env("ENTWURF_META_SESSIONS_DIR", w.p("sessions"))
            .env("ENTWURF_META_MAILBOX_DIR", w.p("mailbox"))
            .env("ENTWURF_META_RECEIVERS_DIR", w.p("receivers"))
            .env("ENTWURF_META_SENDERS_DIR", w.p("senders"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let child = cmd.spawn().unwrap();
        children.push((child, events[i % events.len()]));
    }
    // Every child is running before any gets its envelope, so their upserts overlap.
    for (child, event) in &mut children {
        use std::io::Write;
        let env = format!(
            r#"{{"session_id":"same","transcript_path":"/t","cwd":"/w","hook_event_name":"{event}"}}"#
        );
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(env.as_bytes()).unwrap();
    }
    for (child, _) in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
    let records = w.records();
    assert_eq!(records.len(), 1, "{records:?}\n{}", w.log());
    assert!(!w.log().contains(" ERROR "), "{}", w.log());
}

/// The mailbox of the golden doorbell run: two read, one delivered, one fresh message.
fn golden_mailbox(w: &World) -> PathBuf {
    let gid = "20261206T214142-bd9d96";
    let dir = w.p("mailbox").join(gid);
    fs::create_dir_all(&dir).unwrap();
    for name in [
        "2026-12-06T21-41-42-635Z-0366a4.msg.read",
        "2026-12-06T21-41-42-642Z-fabd5e.msg.read",
        "2026-12-06T21-41-43-216Z-12856d.msg.delivered",
        "2026-12-06T21-41-44-441Z-4f93c2.msg",
        "inbox.signal",
        "state.json",
    ] {
        fs::write(dir.join(name), b"body\n").unwrap();
    }
    dir
}

#[test]
fn doorbell_matches_the_golden_runs() {
    let w = World::new();
    let dir = golden_mailbox(&w);
    let g = golden("doorbell.json");
    let runs = g["runs"].as_array().unwrap();
    for run in runs {
        let mut stdin = run["stdin"].clone();
        stdin["hook_event_name"] = "FileChanged".into();
        stdin["session_id"] = "cc-door".into();
        let out = w.run(&w.sub(&stdin.to_string()));
        assert_eq!(
            out.status.code(),
            run["exitCode"].as_i64().map(|c| c as i32),
            "{}",
            run["label"]
        );
        assert_eq!(
            String::from_utf8(out.stderr.clone()).unwrap(),
            w.sub(run["stderr"].as_str().unwrap())
        );
        assert_eq!(stdout(&out), run["stdout"].as_str().unwrap());
        let mut after = w.names(dir.strip_prefix(&w.root).unwrap().to_str().unwrap());
        after.sort();
        let want: Vec<String> = run["mailboxAfter"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(after, want, "{}", run["label"]);
    }
    // The doorbell never records anything.
    assert!(w.records().is_empty());
}

#[test]
fn doorbell_ignores_files_that_are_not_our_signals() {
    let w = World::new();
    let dir = golden_mailbox(&w);
    // A *.msg next to a foreign watched file must not be touched.
    let foreign = w.p("cwd");
    fs::write(foreign.join("x.msg"), b"not mail").unwrap();
    for path in [
        foreign.join(".envrc"),
        foreign.join("inbox.signal"),
        dir.join("state.json"),
        w.p("elsewhere/20261206T214142-bd9d96/inbox.signal"),
        PathBuf::from(""),
    ] {
        let env = serde_json::json!({"hook_event_name": "FileChanged", "file_path": path});
        let out = w.run(&env.to_string());
        assert_eq!(out.status.code(), Some(0), "{}", path.display());
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
    }
    assert!(foreign.join("x.msg").exists());
    assert!(dir.join("2026-12-06T21-41-44-441Z-4f93c2.msg").exists());
}
