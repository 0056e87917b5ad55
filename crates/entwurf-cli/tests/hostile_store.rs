//! The `entwurf` binary against hostile stores (issue 13, rows 1–4): symlinks out of the store,
//! FIFOs where files should be, huge files named like records. Every run has a timeout, so a
//! blocking open fails the test instead of hanging it; every assertion is structural (what was
//! refused, which path the error names, what is on disk outside the store afterwards).

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use entwurf_meta_session::Backend;
use entwurf_testkit::mkfifo;
use serde_json::Value;

mod common;

const GID: &str = "20260612T100000-aaaaaa";
const OTHER: &str = "20260612T100000-bbbbbb";
/// Far above any run here; a blocking open would hit it.
const TIMEOUT: Duration = Duration::from_secs(30);

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let tmp = common::temp_root(&["ctl", "outside"]);
        Self { tmp }
    }
    fn p(&self, leaf: &str) -> PathBuf {
        self.tmp.path().join(leaf)
    }
    fn mbox(&self) -> PathBuf {
        self.p("mailbox").join(GID)
    }
    fn entwurf(&self, args: &[&str]) -> Command {
        let mut cmd = common::entwurf(self.p("home"));
        cmd.args(common::store_args(self.tmp.path()));
        cmd.args(args).timeout(TIMEOUT);
        cmd
    }
    /// A claude-code citizen `GID` whose receiver is armed by this (live) test process.
    fn armed_citizen(&self) {
        let r = common::put_record(
            &self.p("sessions"),
            GID,
            Backend::ClaudeCode,
            "native-a",
            "/home/u/proj",
        );
        common::arm_receiver(&self.p("receivers"), &r);
    }
    fn msgs(&self) -> Vec<String> {
        common::names(&self.mbox())
            .into_iter()
            .filter(|n| n.contains(".msg"))
            .collect()
    }
}

/// Runs `cmd` (bounded by its timeout) and returns (exit code, stdout + stderr).
fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A timeout kills the child: no exit code.
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("killed (a hang?): {text}"));
    (code, text)
}

// ---- row 1: the doorbell is a symlink ------------------------------------------------------

#[test]
fn doorbell_symlink_to_outside_file_is_refused_and_outside_file_untouched() {
    let env = Env::new();
    env.armed_citizen();
    fs::create_dir_all(env.mbox()).unwrap();
    let outside = env.p("outside/precious.txt");
    fs::write(&outside, "precious bytes\n").unwrap();
    std::os::unix::fs::symlink(&outside, env.mbox().join("inbox.signal")).unwrap();

    let (code, text) = run(&mut env.entwurf(&["--json", "send", GID, "hello"]));
    assert_ne!(code, 0, "{text}");
    let signal = env.mbox().join("inbox.signal");
    assert!(
        text.contains(&signal.display().to_string()),
        "names the path: {text}"
    );
    assert!(text.contains("symbolic link"), "{text}");
    assert_eq!(fs::read_to_string(&outside).unwrap(), "precious bytes\n");
    assert!(
        env.msgs().is_empty(),
        "the message was withdrawn: {:?}",
        env.msgs()
    );
    assert!(fs::symlink_metadata(&signal).unwrap().is_symlink());
}

#[test]
fn dangling_doorbell_symlink_creates_nothing_outside_the_store() {
    let env = Env::new();
    env.armed_citizen();
    fs::create_dir_all(env.mbox()).unwrap();
    let target = env.p("outside/created-by-send");
    std::os::unix::fs::symlink(&target, env.mbox().join("inbox.signal")).unwrap();

    let (code, text) = run(&mut env.entwurf(&["send", GID, "hello"]));
    assert_ne!(code, 0, "{text}");
    assert!(!target.exists(), "nothing created outside the store");
    assert!(common::names(&env.p("outside")).is_empty());
    assert!(env.msgs().is_empty(), "{:?}", env.msgs());
}

// ---- row 2: the mailbox dir or a message is a symlink --------------------------------------

#[test]
fn mailbox_dir_symlinked_elsewhere_is_refused_and_nothing_is_written_there() {
    let env = Env::new();
    env.armed_citizen();
    fs::create_dir_all(env.p("mailbox")).unwrap();
    std::os::unix::fs::symlink(env.p("outside"), env.mbox()).unwrap();

    for args in [
        vec!["send", GID, "hello"],
        vec!["mailbox", "send", GID, "hello"],
        vec!["mailbox", "read", GID],
        vec!["mailbox", "list", GID],
    ] {
        let (code, text) = run(&mut env.entwurf(&args));
        assert_ne!(code, 0, "{args:?}: {text}");
        assert!(
            text.contains(&env.mbox().display().to_string()) && text.contains("symbolic link"),
            "{args:?}: {text}"
        );
    }
    assert!(
        common::names(&env.p("outside")).is_empty(),
        "no message, state or doorbell outside"
    );
}

#[test]
fn message_symlink_to_an_outside_file_is_never_returned_as_a_body() {
    let env = Env::new();
    env.armed_citizen();
    fs::create_dir_all(env.mbox()).unwrap();
    let secret = env.p("outside/hostname");
    fs::write(&secret, "SECRET-HOST\n").unwrap();
    let planted = "2026-06-12T10-00-00-000Z-000001.msg";
    std::os::unix::fs::symlink(&secret, env.mbox().join(planted)).unwrap();
    env.entwurf(&["send", GID, "real message"])
        .assert()
        .success();

    let (code, text) = run(&mut env.entwurf(&["--json", "mailbox", "read", GID]));
    // Issue 14 row 4: a bad entry is reported, not fatal; every good message is delivered.
    assert_eq!(code, 0, "clean: the symlink is no message: {text}");
    let v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let bodies: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["real message"]);
    assert!(!text.contains("SECRET-HOST"), "{text}");
    assert!(v["leftUnread"].as_array().unwrap().is_empty(), "{text}");
    let bad = &v["badEntries"][0];
    assert_eq!(bad["file"], planted);
    assert_eq!(bad["kind"], "symlink");
    let err = bad["error"].as_str().unwrap();
    assert!(
        err.contains(planted) && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&secret).unwrap(), "SECRET-HOST\n");
    assert!(fs::symlink_metadata(env.mbox().join(planted))
        .unwrap()
        .is_symlink());
}

// ---- row 3: FIFOs where files should be ----------------------------------------------------

#[test]
fn fifo_as_state_json_is_moved_aside_by_a_send_without_hanging_and_the_mail_flows() {
    let env = Env::new();
    env.armed_citizen();
    fs::create_dir_all(env.mbox()).unwrap();
    mkfifo(env.mbox().join("state.json"));
    // The read-only listing refuses it, without hanging.
    let (code, text) = run(&mut env.entwurf(&["mailbox", "list", GID]));
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("FIFO"), "{text}");
    // Issue 14 row 2: a send moves it aside (never opened), names it, and delivers.
    let (code, text) = run(&mut env.entwurf(&["send", GID, "hello"]));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("set aside as"), "{text}");
    assert_eq!(env.msgs().len(), 1, "{:?}", env.msgs());
    let aside: Vec<String> = common::names(&env.mbox())
        .into_iter()
        .filter(|n| n.starts_with("state.json.unparseable-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", common::names(&env.mbox()));
    assert!(fs::symlink_metadata(env.mbox().join(&aside[0]))
        .unwrap()
        .file_type()
        .is_fifo());
    let (code, text) = run(&mut env.entwurf(&["mailbox", "list", GID]));
    assert_eq!(code, 0, "{text}");
}

#[test]
fn fifo_as_doorbell_fails_the_send_without_hanging_and_withdraws_the_message() {
    let env = Env::new();
    env.armed_citizen();
    fs::create_dir_all(env.mbox()).unwrap();
    mkfifo(env.mbox().join("inbox.signal"));
    let (code, text) = run(&mut env.entwurf(&["send", GID, "hello"]));
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("inbox.signal") && text.contains("FIFO"),
        "{text}"
    );
    assert!(env.msgs().is_empty(), "withdrawn: {:?}", env.msgs());
}

#[test]
fn fifo_as_message_is_reported_without_hanging_the_drain_or_the_listing() {
    let env = Env::new();
    env.armed_citizen();
    env.entwurf(&["send", GID, "real"]).assert().success();
    let fifo = "2026-06-12T10-00-00-000Z-000001.msg";
    mkfifo(env.mbox().join(fifo));
    let (code, text) = run(&mut env.entwurf(&["--json", "mailbox", "read", GID]));
    assert_eq!(
        code, 0,
        "a FIFO is a bad entry, reported, not fatal: {text}"
    );
    assert!(text.contains(fifo) && text.contains("FIFO"), "{text}");
    assert!(text.contains("\"kind\":\"fifo\""), "{text}");
    assert!(text.contains("\"real\""), "{text}");
    let (code, text) = run(&mut env.entwurf(&["mailbox", "list", GID]));
    assert_eq!(code, 0, "{text}");
}

#[test]
fn fifo_as_a_record_does_not_hang_upsert_list_or_peers_for_any_native_id() {
    let env = Env::new();
    env.armed_citizen();
    let fifo = format!("{OTHER}.meta.json");
    mkfifo(env.p("sessions").join(&fifo));
    let (code, text) = run(&mut env.entwurf(&[
        "--json",
        "record",
        "upsert",
        "--backend",
        "codex",
        "--native-id",
        "unrelated-native",
        "--cwd",
        "/w",
    ]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&fifo),
        "the FIFO is reported as skipped: {text}"
    );
    let (code, text) = run(&mut env.entwurf(&["record", "list"]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("unreadable") && text.contains(&fifo) && text.contains("FIFO"),
        "{text}"
    );
    let (code, text) = run(&mut env.entwurf(&["peers"]));
    assert_eq!(code, 0, "{text}");
}

#[test]
fn fifo_as_the_receiver_marker_is_not_armed_and_does_not_hang_the_send() {
    let env = Env::new();
    env.armed_citizen();
    let marker = env.p("receivers").join(format!("{GID}.json"));
    fs::remove_file(&marker).unwrap();
    mkfifo(&marker);
    let (code, text) = run(&mut env.entwurf(&["send", GID, "hello"]));
    assert_eq!(code, 3, "refused: nobody listens: {text}");
    assert!(env.msgs().is_empty());
}

#[test]
fn fifo_as_the_lock_file_does_not_hang_lock_show_or_send() {
    let env = Env::new();
    fs::create_dir_all(env.p("locks")).unwrap();
    let lock = env.p("locks").join(format!("{GID}.lock"));
    mkfifo(&lock);
    let (_, text) = run(&mut env.entwurf(&["lock", "show", GID]));
    assert!(
        text.contains("FIFO") || text.contains(&lock.display().to_string()),
        "{text}"
    );
    // A pi citizen: the dispatch takes the lock first, and must not block on the FIFO.
    common::put_record(
        &env.p("sessions"),
        GID,
        Backend::Pi,
        "native-pi",
        "/home/u/proj",
    );
    let (code, text) = run(&mut env.entwurf(&["send", GID, "hello"]));
    assert_ne!(code, 0, "{text}");
    assert!(is_fifo(&lock), "the FIFO is left as it was: {text}");
}

fn is_fifo(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_fifo())
}

// ---- row 4: a huge file named like a record ------------------------------------------------

#[test]
fn a_huge_file_named_like_a_record_is_refused_at_the_cap_by_upsert_list_and_peers() {
    let env = Env::new();
    env.armed_citizen();
    let huge = format!("{OTHER}.meta.json");
    // Sparse: 100 MB apparent size, no disk used; a whole read would still take 100 MB of RAM.
    let f = fs::File::create(env.p("sessions").join(&huge)).unwrap();
    f.set_len(100 * 1024 * 1024).unwrap();
    drop(f);
    let cap = entwurf_fs::RECORD_MAX.to_string();

    let (code, text) = run(&mut env.entwurf(&[
        "--json",
        "record",
        "upsert",
        "--backend",
        "codex",
        "--native-id",
        "n2",
        "--cwd",
        "/w",
    ]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&huge) && text.contains(&cap),
        "skipped at the cap: {text}"
    );

    let (code, text) = run(&mut env.entwurf(&["--json", "record", "list"]));
    assert_eq!(code, 0, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let err = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["filename"] == huge.as_str())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(err["message"].as_str().unwrap().contains(&cap), "{err}");
    assert_eq!(
        v["records"].as_array().unwrap().len(),
        2,
        "the real records still list"
    );

    let (code, text) = run(&mut env.entwurf(&["peers"]));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(GID), "{text}");
}

#[test]
fn a_message_over_the_cap_is_refused_at_send_and_nothing_is_written() {
    let env = Env::new();
    env.armed_citizen();
    let mut body = "x".repeat(entwurf_fs::MESSAGE_MAX as usize + 1);
    let (code, text) = run(env
        .entwurf(&["mailbox", "send", GID, "-"])
        .write_stdin(body.clone()));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(&entwurf_fs::MESSAGE_MAX.to_string()),
        "{text}"
    );
    assert!(!env.mbox().exists(), "nothing written");
    // Exactly at the cap it is delivered whole.
    body.pop();
    env.entwurf(&["mailbox", "send", GID, "-"])
        .write_stdin(body.clone())
        .assert()
        .success();
    let msgs = env.msgs();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        fs::read(env.mbox().join(&msgs[0])).unwrap().len(),
        body.len()
    );
}
