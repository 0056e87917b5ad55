//! The crash suite (issue 13, row 6 and item 4): each store operation of the `entwurf` binary
//! is run under N = 1, 2, … with the entwurf-fs seam armed (`ENTWURF_FAULT_ABORT_AT=N`: the
//! process aborts just before its Nth mutating call — a real crash, no cleanup), until a run
//! completes. After every kill the store is checked:
//!
//! * nothing partial is visible: every record, `state.json`, marker and message under its
//!   real name parses / holds a complete body;
//! * no message is lost or duplicated on disk: each earlier message is in the mailbox exactly
//!   once (unread or archived), the killed one at most once;
//! * the next operation succeeds (without any `--force`), and
//! * no temp survives the next operation that lists that directory (drain or list for a
//!   mailbox — the send path never lists —, the next upsert for the sessions dir, the next arm
//!   for the receivers dir).
//!
//! Test builds of the binary carry the seam (entwurf-cli's dev-dependency enables the
//! `fault-injection` feature; release builds never do). `cargo test` runs every kill point of
//! the basic scenarios; `cargo xtask faults` runs this file in its own fault build with
//! `ENTWURF_FAULTS_FULL=1` (more scenarios: empty stores, large stores with index caches) and
//! prints the per-operation table.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use entwurf_meta_session::{parse_stored_record, Backend, MetaRecord, ReceiptState};
use serde_json::Value;

mod common;

const GID: &str = "20260612T100000-aaaaaa";
/// No operation here has anywhere near this many mutating calls; reaching it is a violation.
const MAX_N: u64 = 200;

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            tmp: common::temp_root(&[]),
        }
    }
    fn p(&self, leaf: &str) -> PathBuf {
        self.tmp.path().join(leaf)
    }
    fn mbox(&self) -> PathBuf {
        self.p("mailbox").join(GID)
    }
    fn cmd(&self, args: &[&str], abort_at: Option<u64>) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("entwurf"));
        cmd.env_clear()
            .env("HOME", self.p("home"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd.args(common::store_args(self.tmp.path()));
        cmd.args(args);
        if let Some(n) = abort_at {
            cmd.env("ENTWURF_FAULT_ABORT_AT", n.to_string())
                .env("ENTWURF_FAULT_TRACE", "1");
        }
        cmd
    }
    /// Runs unarmed and returns (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(args, None).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    fn record(&self, gid: &str, native: &str) -> MetaRecord {
        common::put_record(
            &self.p("sessions"),
            gid,
            Backend::ClaudeCode,
            native,
            "/home/u/proj",
        )
    }
    fn armed_citizen(&self) {
        let r = self.record(GID, "native-a");
        common::arm_receiver(&self.p("receivers"), &r);
    }
}

use common::names;

fn temps(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| entwurf_fs::parse_temp_name(n).is_some())
        .collect()
}

/// What is visible in a mailbox: `(name, body)` of every message under a real name.
fn visible_messages(env: &Env, v: &mut Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in names(&env.mbox()) {
        if n.starts_with('.') || !n.contains(".msg") {
            continue;
        }
        match fs::read(env.mbox().join(&n)) {
            Ok(b) => out.push((n, String::from_utf8_lossy(&b).into_owned())),
            Err(e) => v.push(format!("message {n} unreadable: {e}")),
        }
    }
    out
}

/// Every real-named store file parses whole.
fn check_nothing_partial(env: &Env, v: &mut Vec<String>) {
    for n in names(&env.p("sessions")) {
        if n.ends_with(".meta.json") {
            let b = fs::read(env.p("sessions").join(&n)).unwrap_or_default();
            if let Err(e) = parse_stored_record(&b) {
                v.push(format!("partial record {n}: {e}"));
            }
        }
    }
    let state = env.mbox().join("state.json");
    if let Ok(b) = fs::read(&state) {
        if let Err(e) = ReceiptState::parse(&String::from_utf8_lossy(&b)) {
            v.push(format!("partial state.json: {e}"));
        }
    }
    for n in names(&env.p("receivers")) {
        if n.ends_with(".json") && !n.starts_with('.') {
            let b = fs::read(env.p("receivers").join(&n)).unwrap_or_default();
            if serde_json::from_slice::<Value>(&b).is_err() {
                v.push(format!("partial receiver marker {n}"));
            }
        }
    }
}

/// Each body in `once` is on disk exactly once, each in `at_most_once` at most once, and
/// nothing else is there.
fn check_messages(env: &Env, once: &[&str], at_most_once: &[&str], v: &mut Vec<String>) {
    let msgs = visible_messages(env, v);
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, body) in &msgs {
        match once.iter().chain(at_most_once).find(|b| **b == body) {
            Some(b) => *count.entry(b).or_default() += 1,
            None => v.push(format!("partial or foreign message {name}: {body:?}")),
        }
    }
    for b in once {
        if count.get(b).copied().unwrap_or(0) != 1 {
            v.push(format!(
                "message {b:?} on disk {} times (want 1)",
                count.get(b).copied().unwrap_or(0)
            ));
        }
    }
    for b in at_most_once {
        if count.get(b).copied().unwrap_or(0) > 1 {
            v.push(format!("message {b:?} duplicated"));
        }
    }
}

/// One operation under test: how to set the store up, what to run, how to check after a kill
/// (and after completion), and the follow-up that must succeed.
struct Op {
    name: &'static str,
    setup: fn(&Env),
    args: fn(&Env) -> Vec<String>,
    /// Checks after the armed run (killed or completed); `killed` says which.
    check: fn(&Env, bool, &mut Vec<String>),
}

fn send_args(_: &Env) -> Vec<String> {
    ["send", GID, "m1"].map(String::from).to_vec()
}
fn mailbox_send_args(_: &Env) -> Vec<String> {
    ["mailbox", "send", GID, "m1"].map(String::from).to_vec()
}

/// After a killed or completed enqueue of "m1" (with "m0" sent before): nothing partial, m0
/// once, m1 at most once (exactly once when completed); the next send succeeds; the next
/// drain returns everything that is on disk, and leaves no temp.
fn check_enqueue(env: &Env, killed: bool, v: &mut Vec<String>) {
    check_nothing_partial(env, v);
    if killed {
        check_messages(env, &["m0"], &["m1"], v);
    } else {
        check_messages(env, &["m0", "m1"], &[], v);
    }
    if env.p("locks").join(format!("{GID}.lock")).exists() {
        v.push("a mailbox send left a dispatch lock behind".to_owned());
    }
    let m1_on_disk = visible_messages(env, &mut Vec::new())
        .iter()
        .any(|(_, b)| b == "m1");
    let (ok, _, err) = env.run(&["send", GID, "m2"]);
    if !ok {
        v.push(format!("next send failed: {err}"));
    }
    let (ok, out, err) = env.run(&["--json", "mailbox", "read", GID]);
    if !ok {
        v.push(format!("next drain failed: {err}"));
        return;
    }
    let got: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    let mut bodies: Vec<String> = got["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["body"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    bodies.sort();
    let mut want = vec!["m2".to_owned()];
    if m1_on_disk {
        want.push("m1".to_owned());
    }
    // m0 is still unread, so the drain returns it too.
    want.push("m0".to_owned());
    want.sort();
    if bodies != want {
        v.push(format!(
            "drain after the crash returned {bodies:?}, want {want:?}"
        ));
    }
    let left = temps(&env.mbox());
    if !left.is_empty() {
        v.push(format!("temps survived the drain: {left:?}"));
    }
}

fn setup_citizen_with_m0(env: &Env) {
    env.armed_citizen();
    let (ok, _, err) = env.run(&["mailbox", "send", GID, "m0"]);
    assert!(ok, "{err}");
}

fn setup_citizen_empty(env: &Env) {
    env.armed_citizen();
}

fn check_enqueue_from_empty(env: &Env, killed: bool, v: &mut Vec<String>) {
    // Same checks with no m0: send one so the shared checker's expectations hold.
    check_nothing_partial(env, v);
    if killed {
        check_messages(env, &[], &["m1"], v);
    } else {
        check_messages(env, &["m1"], &[], v);
    }
    let (ok, _, err) = env.run(&["send", GID, "m2"]);
    if !ok {
        v.push(format!("next send failed: {err}"));
    }
    let (ok, _, err) = env.run(&["mailbox", "list", GID]);
    if !ok {
        v.push(format!("list after the crash failed: {err}"));
    }
    let left = temps(&env.mbox());
    if !left.is_empty() {
        v.push(format!("temps survived the listing: {left:?}"));
    }
}

fn setup_two_unread(env: &Env) {
    env.armed_citizen();
    for m in ["m0", "m1"] {
        let (ok, _, err) = env.run(&["mailbox", "send", GID, m]);
        assert!(ok, "{err}");
    }
}

fn drain_args(_: &Env) -> Vec<String> {
    ["mailbox", "read", GID].map(String::from).to_vec()
}

/// After a killed drain: nothing partial; m0 and m1 each on disk exactly once (unread or
/// archived, never both, never gone); the next drain succeeds, returns exactly the ones still
/// unread, and leaves no temp.
fn check_drain(env: &Env, killed: bool, v: &mut Vec<String>) {
    check_nothing_partial(env, v);
    check_messages(env, &["m0", "m1"], &[], v);
    let unread: Vec<String> = {
        let mut u: Vec<String> = visible_messages(env, &mut Vec::new())
            .into_iter()
            .filter(|(n, _)| n.ends_with(".msg") || n.ends_with(".msg.delivered"))
            .map(|(_, b)| b)
            .collect();
        u.sort();
        u
    };
    if !killed && !unread.is_empty() {
        v.push(format!("a completed drain left {unread:?} unread"));
    }
    let (ok, out, err) = env.run(&["--json", "mailbox", "read", GID]);
    if !ok {
        v.push(format!("next drain failed: {err}"));
        return;
    }
    let got: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    let mut bodies: Vec<String> = got["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["body"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    bodies.sort();
    if bodies != unread {
        v.push(format!(
            "next drain returned {bodies:?}, unread on disk were {unread:?}"
        ));
    }
    let left = temps(&env.mbox());
    if !left.is_empty() {
        v.push(format!("temps survived the drain: {left:?}"));
    }
}

fn upsert_args(_: &Env) -> Vec<String> {
    [
        "--json",
        "record",
        "upsert",
        "--backend",
        "codex",
        "--native-id",
        "native-new",
        "--cwd",
        "/w",
    ]
    .map(String::from)
    .to_vec()
}

fn attach_args(_: &Env) -> Vec<String> {
    [
        "--json",
        "record",
        "upsert",
        "--backend",
        "claude-code",
        "--native-id",
        "native-a",
        "--cwd",
        "/new-cwd",
    ]
    .map(String::from)
    .to_vec()
}

fn setup_records(env: &Env) {
    env.record(GID, "native-a");
    env.record("20260612T100000-bbbbbb", "native-b");
}

fn setup_large_store(env: &Env) {
    setup_records(env);
    for i in 0..130 {
        env.record(&format!("20260612T100001-{i:06x}"), &format!("native-{i}"));
    }
    // One upsert writes the index cache, so the crash runs hit a store that has one.
    let (ok, _, err) = env.run(&[
        "record",
        "upsert",
        "--backend",
        "codex",
        "--native-id",
        "seed",
        "--cwd",
        "/w",
    ]);
    assert!(ok, "{err}");
}

fn record_names(env: &Env) -> Vec<String> {
    names(&env.p("sessions"))
        .into_iter()
        .filter(|n| n.ends_with(".meta.json"))
        .collect()
}

/// After a killed or completed upsert: every record whole, at most one record per native id,
/// the earlier records intact; the same upsert again succeeds and leaves exactly one record
/// for the native id and no temp in the sessions dir.
fn check_upsert(env: &Env, _killed: bool, v: &mut Vec<String>) {
    check_nothing_partial(env, v);
    let mut natives: BTreeMap<String, usize> = BTreeMap::new();
    for n in record_names(env) {
        if let Ok(s) =
            parse_stored_record(&fs::read(env.p("sessions").join(&n)).unwrap_or_default())
        {
            *natives.entry(s.record.native_session_id).or_default() += 1;
        }
    }
    for (native, c) in &natives {
        if *c > 1 {
            v.push(format!("native id {native} has {c} records"));
        }
    }
    for must in ["native-a", "native-b"] {
        if natives.get(must).copied().unwrap_or(0) != 1 {
            v.push(format!("earlier record {must} lost"));
        }
    }
    for args in [upsert_args(env), attach_args(env)] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, _, err) = env.run(&a);
        if !ok {
            v.push(format!("next upsert failed: {err}"));
        }
    }
    let left = temps(&env.p("sessions"));
    if !left.is_empty() {
        v.push(format!("temps survived the next upsert: {left:?}"));
    }
    let (ok, out, err) = env.run(&["--json", "record", "list"]);
    let got: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    if !ok || got["errors"].as_array().is_some_and(|e| !e.is_empty()) {
        v.push(format!("record list after the crash: {out}{err}"));
    }
}

fn arm_args(_: &Env) -> Vec<String> {
    vec![
        "receiver".into(),
        "arm".into(),
        GID.into(),
        "--owner-pid".into(),
        std::process::id().to_string(),
    ]
}

/// After a killed or completed arm: the marker is whole (old or new); the next arm succeeds,
/// a send is delivered, and no temp is left in the receivers dir.
fn check_arm(env: &Env, _killed: bool, v: &mut Vec<String>) {
    check_nothing_partial(env, v);
    let args = arm_args(env);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, _, err) = env.run(&a);
    if !ok {
        v.push(format!("next arm failed: {err}"));
    }
    let left = temps(&env.p("receivers"));
    if !left.is_empty() {
        v.push(format!("temps survived the next arm: {left:?}"));
    }
    let (ok, _, err) = env.run(&["send", GID, "after-arm"]);
    if !ok {
        v.push(format!("send after the arm failed: {err}"));
    }
}

fn basic_ops() -> Vec<Op> {
    vec![
        Op {
            name: "mailbox enqueue (mailbox send)",
            setup: setup_citizen_with_m0,
            args: mailbox_send_args,
            check: check_enqueue,
        },
        Op {
            name: "drain (mailbox read)",
            setup: setup_two_unread,
            args: drain_args,
            check: check_drain,
        },
        Op {
            name: "record upsert (create)",
            setup: setup_records,
            args: upsert_args,
            check: check_upsert,
        },
        Op {
            name: "record upsert (attach)",
            setup: setup_records,
            args: attach_args,
            check: check_upsert,
        },
        Op {
            name: "receiver arm (refresh)",
            setup: setup_citizen_empty,
            args: arm_args,
            check: check_arm,
        },
        Op {
            name: "entwurf send (armed mailbox citizen)",
            setup: setup_citizen_with_m0,
            args: send_args,
            check: check_enqueue,
        },
    ]
}

fn full_ops() -> Vec<Op> {
    vec![
        Op {
            name: "entwurf send (first message: mkdir, new state.json)",
            setup: setup_citizen_empty,
            args: send_args,
            check: check_enqueue_from_empty,
        },
        Op {
            name: "record upsert (create, store with index cache)",
            setup: setup_large_store,
            args: upsert_args,
            check: check_upsert,
        },
        Op {
            name: "record upsert (attach, store with index cache)",
            setup: setup_large_store,
            args: attach_args,
            check: check_upsert,
        },
        Op {
            name: "receiver arm (first marker: mkdir)",
            setup: |e| {
                e.record(GID, "native-a");
            },
            args: arm_args,
            check: check_arm,
        },
    ]
}

/// One operation under every N: (kill points, the mutating calls of the completing run, violations).
fn run_op(op: &Op) -> (u64, Vec<String>, Vec<String>) {
    let mut violations = Vec::new();
    for n in 1..=MAX_N {
        let env = Env::new();
        (op.setup)(&env);
        let args = (op.args)(&env);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.cmd(&a, Some(n)).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let killed = out.status.signal() == Some(libc_sigabrt());
        if !killed && !out.status.success() {
            violations.push(format!("N={n}: failed without a crash: {stderr}"));
        }
        let mut v = Vec::new();
        (op.check)(&env, killed, &mut v);
        violations.extend(v.into_iter().map(|m| format!("N={n}: {m}")));
        if !killed {
            if n == 1 {
                violations.push(
                    "the binary has no fault seam (the test build should enable entwurf-fs/fault-injection)"
                        .to_owned(),
                );
            }
            let points = stderr
                .lines()
                .filter_map(|l| l.strip_prefix("entwurf-fault #"))
                .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_owned())
                .collect();
            return (n - 1, points, violations);
        }
    }
    violations.push(format!("did not complete within {MAX_N} kill points"));
    (MAX_N, Vec::new(), violations)
}

const fn libc_sigabrt() -> i32 {
    6
}

fn suite(ops: Vec<Op>) -> (u64, usize) {
    let mut total_points = 0;
    let mut total_violations = 0;
    for op in &ops {
        let (points, calls, violations) = run_op(op);
        total_points += points;
        total_violations += violations.len();
        println!(
            "faults: {:<55} kill points {points:>3}  violations {}",
            op.name,
            violations.len()
        );
        for c in &calls {
            println!("faults:     {c}");
        }
        for v in &violations {
            println!("faults:   VIOLATION {v}");
        }
    }
    println!("faults: total kill points {total_points}, violations {total_violations}");
    (total_points, total_violations)
}

#[test]
fn every_kill_point_of_send_drain_upsert_and_arm_leaves_a_consistent_store() {
    let mut ops = basic_ops();
    if std::env::var_os("ENTWURF_FAULTS_FULL").is_some() {
        ops.extend(full_ops());
    }
    let (points, violations) = suite(ops);
    assert!(
        points >= 20,
        "the seam should see every mutating call ({points} kill points)"
    );
    assert_eq!(violations, 0, "see the VIOLATION lines above");
}
