//! `entwurf mailbox send|read|list` against temp stores (explicit `--sessions-dir`,
//! `--mailbox-dir`, `--receivers-dir`) and a temp HOME.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use chrono::Utc;
use entwurf_meta_session::{
    upsert, write_receiver_marker, ArmProvenance, Backend, GardenId, ReceiverMarkerInput,
    UpsertInput,
};
use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::success_json;

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            tmp: common::temp_root(&[]),
        }
    }
    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }
    fn sessions(&self) -> PathBuf {
        self.tmp.path().join("sessions")
    }
    fn mailbox(&self) -> PathBuf {
        self.tmp.path().join("mailbox")
    }
    fn receivers(&self) -> PathBuf {
        self.tmp.path().join("receivers")
    }
    /// `entwurf <dir flags> mailbox …` with a clean environment and HOME in the temp dir.
    fn entwurf(&self, args: &[&str]) -> Command {
        let mut cmd = common::entwurf(self.home());
        self.mailbox_args(&mut cmd, args);
        cmd
    }
    /// Appends `<dir flags> mailbox <args>`.
    fn mailbox_args(&self, cmd: &mut Command, args: &[&str]) {
        common::store_flags(cmd, &self.sessions(), &self.mailbox(), &self.receivers());
        cmd.arg("mailbox").args(args);
    }
    /// A record for a fresh citizen.
    fn citizen(&self, backend: Backend, native: &str) -> GardenId {
        let input = UpsertInput::new(backend, native, "/home/u/proj");
        upsert(&self.sessions(), &self.mailbox(), &input, Utc::now())
            .unwrap()
            .record
            .garden_id
    }
    /// A receiver marker owned by this (live) test process.
    fn arm(&self, gid: &GardenId, backend: Backend, native: &str) {
        let input = ReceiverMarkerInput {
            garden_id: gid.clone(),
            backend,
            native_session_id: native.to_owned(),
            owner_pid: std::process::id().into(),
            owner_kind: None,
            arm_provenance: ArmProvenance::SessionStart,
        };
        write_receiver_marker(&self.receivers(), &input, Utc::now()).unwrap();
    }
    fn box_dir(&self, gid: &GardenId) -> PathBuf {
        self.mailbox().join(gid.as_str())
    }
}

fn snapshot(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        out.insert("<absent>".into(), (0, vec![]));
        return out;
    }
    for e in walk(root) {
        let meta = fs::symlink_metadata(&e).unwrap();
        let bytes = if meta.is_file() {
            fs::read(&e).unwrap()
        } else {
            vec![]
        };
        out.insert(
            e.strip_prefix(root).unwrap().display().to_string(),
            (meta.permissions().mode(), bytes),
        );
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        }
        v.push(p);
    }
    v
}

fn msg_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".msg"))
        .collect();
    v.sort();
    v
}

#[test]
fn send_is_refused_with_mailbox_undeliverable_and_touches_nothing_when_nobody_listens() {
    let env = Env::new();
    let gid = env.citizen(Backend::ClaudeCode, "native-1");
    let codex = env.citizen(Backend::Codex, "thread-1");
    env.arm(&codex, Backend::Codex, "thread-1"); // live, matching, but codex never drains
    let before = snapshot(&env.mailbox());
    for target in [&gid, &codex] {
        env.entwurf(&["send", target.as_str(), "hello"])
            .assert()
            .code(3)
            .stdout("")
            .stderr(predicate::str::contains("mailbox-undeliverable"))
            .stderr(predicate::str::contains(target.as_str()));
    }
    assert_eq!(snapshot(&env.mailbox()), before);
}

#[test]
fn send_read_list_round_trip() {
    let env = Env::new();
    let gid = env.citizen(Backend::ClaudeCode, "native-1");
    env.arm(&gid, Backend::ClaudeCode, "native-1");

    let v = success_json(&mut env.entwurf(&["--json", "send", gid.as_str(), "first"]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["gardenId"], gid.as_str());
    let msg = PathBuf::from(v["messagePath"].as_str().unwrap());
    assert_eq!(fs::read_to_string(&msg).unwrap(), "first");
    assert_eq!(
        fs::metadata(&msg).unwrap().permissions().mode() & 0o777,
        0o600
    );

    env.entwurf(&["send", gid.as_str(), "second"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "entwurf mailbox → enqueued for",
        ));

    let l = success_json(&mut env.entwurf(&["--json", "list", gid.as_str()]));
    let kinds: Vec<&str> = l["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["fresh", "fresh"]);
    assert!(l["state"]["lastEnqueuedAt"].is_string());
    assert_eq!(l["state"]["lastReadAt"], Value::Null);

    let out = env
        .entwurf(&["read", gid.as_str()])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with(&format!(
        "[entwurf inbox read ⟵]\n  garden:   {gid}\n  messages: 2\n  receipt:  lastReadAt="
    )));
    let first = text
        .find("\nfirst\n")
        .or_else(|| text.find(") ---\nfirst"))
        .unwrap();
    let second = text.find(") ---\nsecond").unwrap();
    assert!(first < second, "time order");

    env.entwurf(&["read", gid.as_str()])
        .assert()
        .success()
        .stdout(format!(
            "[entwurf inbox] garden {gid}: empty (no unread messages, no receipt stamped).\n"
        ));
    env.entwurf(&["list", gid.as_str()])
        .assert()
        .success()
        .stdout(predicate::str::contains("unread: 0"))
        .stdout(predicate::str::contains("archived: 2"));
    let r = success_json(&mut env.entwurf(&["--json", "read", gid.as_str()]));
    assert_eq!(r["messages"], Value::Array(vec![]));
    assert_eq!(r["readAt"], Value::Null);
}

#[test]
fn from_session_renders_the_reference_header_with_home_abbreviation() {
    let env = Env::new();
    let gid = env.citizen(Backend::ClaudeCode, "native-1");
    env.arm(&gid, Backend::ClaudeCode, "native-1");
    let cwd = env.home().join("repos/garden");
    env.entwurf(&[
        "send",
        gid.as_str(),
        "hi there",
        "--from-session",
        "20260612T095959-abcdef",
        "--agent-id",
        "anthropic/claude-sonnet-4",
        "--sender-cwd",
        cwd.to_str().unwrap(),
        "--origin",
        "pi-session",
        "--replyable",
        "--wants-reply",
    ])
    .assert()
    .success();
    let dir = env.box_dir(&gid);
    let name = &msg_files(&dir)[0];
    let body = fs::read_to_string(dir.join(name)).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "[entwurf received ⟵]");
    assert_eq!(
        lines[1],
        "  from:        anthropic/claude-sonnet-4 @ ~/repos/garden"
    );
    assert_eq!(
        lines[2],
        "  session:     20260612T095959-abcdef (replyable — reply via entwurf_v2 to this sessionId, intent=fire-and-forget)"
    );
    assert!(lines[3].starts_with("  at:          ") && lines[3].ends_with(" KST"));
    assert_eq!(lines[4], "  wants reply: yes");
    assert!(body.ends_with("────\nhi there\n"));
}

#[test]
fn message_from_stdin() {
    let env = Env::new();
    let gid = env.citizen(Backend::ClaudeCode, "native-1");
    env.arm(&gid, Backend::ClaudeCode, "native-1");
    env.entwurf(&["send", gid.as_str(), "-"])
        .write_stdin("line one\nline two\n")
        .assert()
        .success();
    let dir = env.box_dir(&gid);
    let name = &msg_files(&dir)[0];
    assert_eq!(
        fs::read_to_string(dir.join(name)).unwrap(),
        "line one\nline two\n"
    );
}

#[test]
fn bad_input_gives_typed_errors_and_exit_codes() {
    let env = Env::new();
    for args in [
        vec!["send", "../x", "m"],
        vec!["read", "20260612T100000-AAAAAA"],
        vec!["list", "nope"],
    ] {
        env.entwurf(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid garden id"));
    }
    for args in [
        vec!["send", "20260612T100000-ffffff", "m"],
        vec!["read", "20260612T100000-ffffff"],
    ] {
        env.entwurf(&args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "no meta-record for garden id \"20260612T100000-ffffff\"",
            ));
    }
    // A mailbox root that is a file: typed error, the file survives.
    let gid = env.citizen(Backend::ClaudeCode, "native-1");
    env.arm(&gid, Backend::ClaudeCode, "native-1");
    fs::write(env.mailbox(), "precious").unwrap();
    env.entwurf(&["send", gid.as_str(), "m"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a directory"));
    env.entwurf(&["read", gid.as_str()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a directory"));
    assert_eq!(fs::read_to_string(env.mailbox()).unwrap(), "precious");
    // Empty body.
    fs::remove_file(env.mailbox()).unwrap();
    env.entwurf(&["send", gid.as_str(), ""])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("body must be a non-empty string"));
    // --wants-reply needs a sender header.
    env.entwurf(&["send", gid.as_str(), "m", "--wants-reply"])
        .assert()
        .code(2);
}

#[test]
fn eight_sender_processes_via_the_binary_lose_nothing() {
    let env = Env::new();
    let gid = env.citizen(Backend::ClaudeCode, "native-1");
    env.arm(&gid, Backend::ClaudeCode, "native-1");
    let (streams, per) = (8, 25);
    std::thread::scope(|s| {
        for t in 0..streams {
            let env = &env;
            let gid = &gid;
            s.spawn(move || {
                for i in 0..per {
                    env.entwurf(&["send", gid.as_str(), &format!("stream {t} message {i}")])
                        .assert()
                        .success();
                }
            });
        }
    });
    let dir = env.box_dir(&gid);
    assert_eq!(msg_files(&dir).len(), streams * per);
    let r = success_json(&mut env.entwurf(&["--json", "read", gid.as_str()]));
    let mut bodies: Vec<String> = r["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    let files: Vec<&str> = r["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file"].as_str().unwrap())
        .collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
    bodies.sort();
    let mut want: Vec<String> = (0..streams)
        .flat_map(|t| (0..per).map(move |i| format!("stream {t} message {i}")))
        .collect();
    want.sort();
    assert_eq!(bodies, want);
    assert!(msg_files(&dir).is_empty());
}

/// Runs `entwurf … mailbox <args>` as an unprivileged user: directly when the tests are not run
/// as root, through `setpriv` (uid/gid 65534) when they are, so permission bits bind.
fn entwurf_unprivileged(env: &Env, args: &[&str]) -> Option<Command> {
    let bin = assert_cmd::cargo::cargo_bin("entwurf");
    let is_root = fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let mut cmd = if is_root {
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let mut c = Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    common::configure(&mut cmd, env.home());
    env.mailbox_args(&mut cmd, args);
    Some(cmd)
}

#[test]
fn an_unreadable_mailbox_is_a_typed_error_and_nothing_is_lost() {
    let env = Env::new();
    let gid = env.citizen(Backend::ClaudeCode, "native-1");
    env.arm(&gid, Backend::ClaudeCode, "native-1");
    env.entwurf(&["send", gid.as_str(), "keep me"])
        .assert()
        .success();
    // Everything readable by anyone except the citizen's mailbox directory itself.
    let open =
        |p: &Path, mode: u32| fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    open(env.tmp.path(), 0o755);
    open(&env.sessions(), 0o755);
    open(&env.sessions().join(format!("{gid}.meta.json")), 0o644);
    open(&env.mailbox(), 0o755);
    let dir = env.box_dir(&gid);
    let before = snapshot(&env.mailbox());
    open(&dir, 0o000);
    let Some(mut cmd) = entwurf_unprivileged(&env, &["read", gid.as_str()]) else {
        open(&dir, 0o755);
        panic!("running as root and no setpriv to drop privileges");
    };
    let assert = cmd.assert();
    let list = entwurf_unprivileged(&env, &["list", gid.as_str()])
        .unwrap()
        .assert();
    open(&dir, 0o755);
    assert
        .code(1)
        .stderr(predicate::str::contains("could not list the mailbox"))
        .stderr(predicate::str::contains(dir.to_str().unwrap()));
    list.code(1)
        .stderr(predicate::str::contains("could not list the mailbox"));
    assert_eq!(snapshot(&env.mailbox()), before, "nothing changed");
    env.entwurf(&["read", gid.as_str()])
        .assert()
        .success()
        .stdout(predicate::str::contains("keep me"));
}

/// Row 2: a `state.json` that is not JSON stopped every send. The send now sets it aside,
/// names it, rebuilds the state and delivers the message.
#[test]
fn a_send_over_an_unparseable_state_sets_it_aside_names_it_and_delivers() {
    let env = Env::new();
    let gid = env.citizen(Backend::ClaudeCode, "native-1");
    env.arm(&gid, Backend::ClaudeCode, "native-1");
    let dir = env.box_dir(&gid);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("state.json"), "{ torn").unwrap();

    let out = env
        .entwurf(&["send", gid.as_str(), "still flows"])
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let aside = PathBuf::from(
        v["stateSetAside"]
            .as_str()
            .expect("the aside file is named"),
    );
    assert_eq!(aside.parent(), Some(dir.as_path()));
    assert_eq!(fs::read_to_string(&aside).unwrap(), "{ torn", "kept whole");
    let state: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    assert!(state["lastEnqueuedAt"].is_string(), "{state}");

    // The plain-text send says so on stderr too.
    fs::write(dir.join("state.json"), "\u{0}\u{0}").unwrap();
    env.entwurf(&["send", gid.as_str(), "again"])
        .assert()
        .success()
        .stderr(predicate::str::contains("set aside as"));
    let drained = success_json(env.entwurf(&["read", gid.as_str()]).arg("--json"));
    let bodies: Vec<&str> = drained["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["still flows", "again"]);
}

/// Row 4: a directory named `….msg` made every later `mailbox read` exit 1 with a hint about
/// permissions and free space. Now every good message is delivered, each bad entry is reported
/// with a hint that fits it, and the drain exits 0. The unreadable file is unreadable for real:
/// as root the drain runs as an unprivileged user.
#[test]
fn mailbox_read_delivers_good_messages_reports_bad_entries_and_exits_0() {
    let env = Env::new();
    let gid = env.citizen(Backend::ClaudeCode, "native-1");
    env.arm(&gid, Backend::ClaudeCode, "native-1");
    for body in ["one", "two"] {
        env.entwurf(&["send", gid.as_str(), body])
            .assert()
            .success();
    }
    let dir = env.box_dir(&gid);
    fs::create_dir(dir.join("2026-01-01T00-00-00-000Z-0a0a0a.msg")).unwrap();
    std::os::unix::fs::symlink(
        "/etc/hostname",
        dir.join("2026-01-01T00-00-00-000Z-0b0b0b.msg"),
    )
    .unwrap();
    let locked = dir.join("2026-01-01T00-00-00-000Z-0c0c0c.msg");
    fs::write(&locked, "for someone else").unwrap();
    // Readable by the drainer: the store, the good messages, the state; not `locked`.
    let set =
        |p: &Path, mode: u32| fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    set(env.tmp.path(), 0o755);
    set(&env.sessions(), 0o755);
    set(&env.sessions().join(format!("{gid}.meta.json")), 0o644);
    set(&env.mailbox(), 0o755);
    set(&dir, 0o777);
    for name in msg_files(&dir) {
        let p = dir.join(&name);
        if p.symlink_metadata().unwrap().is_file() && p != locked {
            set(&p, 0o644);
        }
    }
    set(&dir.join("state.json"), 0o666);
    set(&locked, 0o600);
    let is_root = fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !is_root {
        set(&locked, 0o000);
    }
    let Some(mut cmd) = entwurf_unprivileged(&env, &["read", gid.as_str()]) else {
        panic!("running as root and no setpriv to drop privileges");
    };
    let out = cmd.arg("--json").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bodies: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["one", "two"]);
    let bad: Vec<(&str, &str)> = v["badEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["file"].as_str().unwrap(), b["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        bad,
        [
            ("2026-01-01T00-00-00-000Z-0a0a0a.msg", "directory"),
            ("2026-01-01T00-00-00-000Z-0b0b0b.msg", "symlink"),
            ("2026-01-01T00-00-00-000Z-0c0c0c.msg", "unreadable"),
        ]
    );
    assert!(v["leftUnread"].as_array().unwrap().is_empty());
    assert!(
        stderr.contains("skipped 2026-01-01T00-00-00-000Z-0a0a0a.msg (directory)"),
        "{stderr}"
    );
    assert!(stderr.contains("move it out of the mailbox"), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(!stderr.contains("free space"), "{stderr}");
    assert_eq!(
        fs::read_to_string(&locked).unwrap(),
        "for someone else",
        "left in place"
    );
}
