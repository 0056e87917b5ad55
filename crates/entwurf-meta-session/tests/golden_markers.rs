//! Golden-file tests for receiver and sender markers (fixtures/golden/markers/): written bytes,
//! reader results for every case, writer refusals, and the dead-owner rule.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use chrono::{DateTime, Utc};
use entwurf_meta_session::{
    armed_receiver, owner_pid_as_int, parse_record_bytes, process_start_key, read_receiver_marker,
    read_sender_marker, read_sender_marker_at, receiver_marker_path, receiver_matches,
    require_garden_id, sender_marker_path, write_receiver_marker, write_sender_marker,
    ArmProvenance, Backend, GardenId, MarkerError, ReceiverMarkerInput, SenderMarkerInput,
};
use serde_json::Value;

mod common;
use common::{entries, mode_of};

const GOLDEN_PID: &str = "19099";
const GOLDEN_KEY: &str = "linux:247488";
const GID: &str = "20260612T100000-aaaaaa";
const NATIVE: &str = "0b6c1f2e-1111-4111-8111-111111111111";

fn golden(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden/markers")
        .join(rel)
}

fn golden_text(rel: &str) -> String {
    fs::read_to_string(golden(rel)).unwrap()
}

fn cases() -> Value {
    serde_json::from_str(&golden_text("cases.json")).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-12T10:00:00.000Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn gid(s: &str) -> GardenId {
    GardenId::parse(s).unwrap()
}

/// This test process: a live owner whose start key we know.
fn me() -> (i64, String) {
    let pid = std::process::id() as i64;
    let key = process_start_key(pid);
    assert!(key.starts_with("linux:"), "{key}");
    (pid, key)
}

/// Rewrites the generator's owner pid and start key to a live owner of ours.
fn rewrite_owner(text: &str, pid: i64, key: &str) -> String {
    text.replace(GOLDEN_PID, &pid.to_string())
        .replace(GOLDEN_KEY, key)
}

/// The record the reader cases are matched against (v2-full: gid …aaaaaa, claude-code).
fn record_aaaaaa() -> entwurf_meta_session::MetaRecord {
    let bytes = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/golden/records/v2-full.meta.json"),
    )
    .unwrap();
    parse_record_bytes(&bytes).unwrap()
}

struct Owner(Child);
impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The golden receiver-marker input (claude-code, session-start) for an owner pid.
fn golden_receiver_input(owner_pid: i64) -> ReceiverMarkerInput {
    ReceiverMarkerInput {
        garden_id: gid(GID),
        backend: Backend::ClaudeCode,
        native_session_id: NATIVE.into(),
        owner_pid,
        owner_kind: None,
        arm_provenance: ArmProvenance::SessionStart,
    }
}

#[test]
fn receiver_marker_writes_golden_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let receivers = tmp.path().join("receivers");
    let (pid, key) = me();
    let path = write_receiver_marker(&receivers, &golden_receiver_input(pid), now()).unwrap();
    assert_eq!(path, receivers.join(format!("{GID}.json")));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        rewrite_owner(&golden_text("receiver.json"), pid, &key)
    );
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(entries(&receivers), [format!("{GID}.json")], "no tmp left");
    let m = read_receiver_marker(&receivers, &gid(GID), true).expect("live owner reads");
    assert_eq!(m.owner_pid, Some(pid as f64));
}

#[test]
fn dead_owner_receiver_marker_writes_empty_key_byte_exact_and_never_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let receivers = tmp.path().join("receivers");
    let path = write_receiver_marker(
        &receivers,
        &ReceiverMarkerInput {
            garden_id: gid("20260612T100500-cccccc"),
            backend: Backend::Codex,
            native_session_id: "codex-thread-0001".into(),
            owner_pid: 999_999_999,
            owner_kind: Some("codex-cli".into()),
            arm_provenance: ArmProvenance::CwdChanged,
        },
        now(),
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        golden_text("receiver-dead-owner.json")
    );
    assert_eq!(mode_of(&path), 0o600);
    for verify in [true, false] {
        assert!(read_receiver_marker(&receivers, &gid("20260612T100500-cccccc"), verify).is_none());
    }
}

#[test]
fn sender_marker_writes_golden_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let senders = tmp.path().join("senders");
    let (pid, key) = me();
    let path = write_sender_marker(
        &senders,
        &SenderMarkerInput {
            backend: Backend::ClaudeCode,
            garden_id: gid(GID),
            native_session_id: NATIVE.into(),
            cwd: "/home/u/proj".into(),
            owner_pid: pid,
        },
        now(),
    )
    .unwrap();
    assert_eq!(
        path,
        senders.join("claude-code").join(format!("{pid}.json"))
    );
    assert_eq!(path, sender_marker_path(&senders, Backend::ClaudeCode, pid));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        rewrite_owner(&golden_text("sender.json"), pid, &key)
    );
    assert_eq!(mode_of(&path), 0o600);
    assert!(read_sender_marker(&senders, Backend::ClaudeCode, pid, true).is_some());
}

#[test]
fn every_receiver_case_reads_as_the_manifest_says() {
    let (pid, key) = me();
    let record = record_aaaaaa();
    let c = cases();
    for case in c["receiverReader"]["cases"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        let live = case["needsLiveOwner"].as_bool().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let receivers = tmp.path().join("receivers");
        fs::create_dir_all(&receivers).unwrap();
        if let Some(file) = case["file"].as_str() {
            let mut text = golden_text(file);
            if live {
                text = rewrite_owner(&text, pid, &key);
            }
            fs::write(receivers.join(case["installAs"].as_str().unwrap()), text).unwrap();
        }
        let expect = |v: &Value| -> Option<Value> {
            match v {
                Value::Null => None,
                Value::String(s) if s == "marker" => {
                    // "marker" = the same value the unverified read returns
                    let mut w = case["verifyOwnerFalse"].clone();
                    if live {
                        w = serde_json::from_str(&rewrite_owner(&w.to_string(), pid, &key))
                            .unwrap();
                    }
                    Some(w)
                }
                other => {
                    let mut w = other.clone();
                    if live {
                        w = serde_json::from_str(&rewrite_owner(&w.to_string(), pid, &key))
                            .unwrap();
                    }
                    Some(w)
                }
            }
        };
        for (verify, key_name) in [(true, "verifyOwnerTrue"), (false, "verifyOwnerFalse")] {
            let got = read_receiver_marker(&receivers, &gid(GID), verify)
                .map(|m| serde_json::to_value(&m).unwrap());
            assert_eq!(got, expect(&case[key_name]), "{name} verify={verify}");
        }
        let matches = read_receiver_marker(&receivers, &gid(GID), true)
            .is_some_and(|m| receiver_matches(&m, &record));
        assert_eq!(
            matches,
            case["matchesRecord20260612T100000aaaaaa"]
                .as_bool()
                .unwrap(),
            "{name}"
        );
        assert_eq!(
            armed_receiver(&receivers, &record).is_some(),
            matches,
            "{name}"
        );
    }
}

#[test]
fn every_sender_case_reads_as_the_manifest_says() {
    let (pid, key) = me();
    let c = cases();
    for case in c["senderReader"]["cases"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let senders = tmp.path().join("senders");
        // every sender case is the generator's marker; give it our live pid (the dead-owner case
        // keeps its impossible pid 999999999)
        let text = rewrite_owner(&golden_text(case["file"].as_str().unwrap()), pid, &key);
        let body: Value = serde_json::from_str(&text).unwrap();
        let owner = body["ownerPid"].as_i64().unwrap();
        let path = senders.join("claude-code").join(format!("{owner}.json"));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &text).unwrap();
        let expect = |v: &Value| -> Option<Value> {
            match v {
                Value::Null => None,
                Value::String(s) if s == "marker" => Some(
                    serde_json::from_str(&rewrite_owner(
                        &case["verifyOwnerFalse"].to_string(),
                        pid,
                        &key,
                    ))
                    .unwrap(),
                ),
                other => Some(
                    serde_json::from_str(&rewrite_owner(&other.to_string(), pid, &key)).unwrap(),
                ),
            }
        };
        for (verify, key_name) in [(true, "verifyOwnerTrue"), (false, "verifyOwnerFalse")] {
            let got = read_sender_marker(&senders, Backend::ClaudeCode, owner, verify)
                .map(|m| serde_json::to_value(&m).unwrap());
            assert_eq!(got, expect(&case[key_name]), "{name} verify={verify}");
            assert_eq!(
                read_sender_marker_at(&path, verify).is_some(),
                got.is_some(),
                "{name}"
            );
        }
    }
}

#[test]
fn writer_refusals_have_reference_texts_and_touch_nothing() {
    let c = cases();
    let (pid, _) = me();
    for e in c["writerErrors"].as_array().unwrap() {
        let name = e["case"].as_str().unwrap();
        let want = e["error"]["message"].as_str().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let receivers = tmp.path().join("receivers");
        let senders = tmp.path().join("senders");
        let receiver = |backend, kind: Option<&str>| {
            write_receiver_marker(
                &receivers,
                &ReceiverMarkerInput {
                    garden_id: gid(GID),
                    backend,
                    native_session_id: NATIVE.into(),
                    owner_pid: pid,
                    owner_kind: kind.map(str::to_owned),
                    arm_provenance: ArmProvenance::SessionStart,
                },
                now(),
            )
        };
        let sender = |backend, cwd: &str| {
            write_sender_marker(
                &senders,
                &SenderMarkerInput {
                    backend,
                    garden_id: gid(GID),
                    native_session_id: NATIVE.into(),
                    cwd: cwd.into(),
                    owner_pid: pid,
                },
                now(),
            )
        };
        let got: String = match name {
            "arm-user-prompt-submit" => "user-prompt-submit"
                .parse::<ArmProvenance>()
                .unwrap_err()
                .to_string(),
            "receiver-backend-pi" => receiver(Backend::Pi, None).unwrap_err().to_string(),
            "receiver-bad-gid" => require_garden_id("20260612T100000-AAAAAA")
                .unwrap_err()
                .to_string(),
            "receiver-empty-ownerKind" => receiver(Backend::ClaudeCode, Some(""))
                .unwrap_err()
                .to_string(),
            "sender-backend-pi" => sender(Backend::Pi, "/home/u/proj").unwrap_err().to_string(),
            "sender-empty-cwd" => sender(Backend::ClaudeCode, "").unwrap_err().to_string(),
            other => panic!("unknown writer case {other}"),
        };
        assert_eq!(got, want, "{name}");
        // Deliberate fix: we validate before creating any directory (the reference creates
        // the dir first for some of these cases).
        assert!(!receivers.exists() && !senders.exists(), "{name}");
    }
}

#[test]
fn invalid_marker_input_is_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = write_receiver_marker(
        tmp.path(),
        &ReceiverMarkerInput {
            garden_id: gid(GID),
            backend: Backend::ClaudeCode,
            native_session_id: String::new(),
            owner_pid: 1,
            owner_kind: None,
            arm_provenance: ArmProvenance::SessionStart,
        },
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, MarkerError::Invalid(_)));
    assert_eq!(
        err.to_string(),
        "meta-record field \"nativeSessionId\" must be a non-empty string (got string \"\")."
    );
}

#[test]
fn markers_of_an_exited_owner_read_as_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let receivers = tmp.path().join("receivers");
    let senders = tmp.path().join("senders");
    // A live owner of our own (not a synchronisation sleep: it just has to exist).
    let mut owner = Owner(Command::new("sleep").arg("300").spawn().unwrap());
    let pid = owner.0.id() as i64;
    write_receiver_marker(&receivers, &golden_receiver_input(pid), now()).unwrap();
    write_sender_marker(
        &senders,
        &SenderMarkerInput {
            backend: Backend::ClaudeCode,
            garden_id: gid(GID),
            native_session_id: NATIVE.into(),
            cwd: "/home/u/proj".into(),
            owner_pid: pid,
        },
        now(),
    )
    .unwrap();
    assert!(read_receiver_marker(&receivers, &gid(GID), true).is_some());
    assert!(read_sender_marker(&senders, Backend::ClaudeCode, pid, true).is_some());

    owner.0.kill().unwrap();
    owner.0.wait().unwrap(); // reaped: the pid no longer exists

    let c = cases();
    assert!(c["afterOwnerExit"]["receiver"].is_null());
    assert_eq!(read_receiver_marker(&receivers, &gid(GID), true), None);
    assert_eq!(
        read_sender_marker(&senders, Backend::ClaudeCode, pid, true),
        None
    );
    assert_eq!(
        process_start_key(pid),
        c["afterOwnerExit"]["processStartKeyOfExitedPid"]
            .as_str()
            .unwrap()
    );
    // inspection without verification still shows them
    assert!(read_receiver_marker(&receivers, &gid(GID), false).is_some());
    assert!(receiver_marker_path(&receivers, &gid(GID)).exists());
}

#[test]
fn a_reaped_child_pid_is_a_dead_owner() {
    let pid = entwurf_testkit::dead_pid() as i64;
    assert_eq!(process_start_key(pid), "");
}

#[test]
fn process_start_key_golden_values() {
    let c = cases();
    for (k, v) in c["processStartKey"].as_object().unwrap() {
        let n: f64 = k.parse().unwrap();
        let key = owner_pid_as_int(Some(n)).map_or_else(String::new, process_start_key);
        assert_eq!(key, v.as_str().unwrap(), "pid {k}");
    }
}
