//! Issue 14 row 7: under `--json` every failure is also exactly one JSON object on stdout,
//! `{"error":{"kind","message","path"}}`, with the documented exit status and the human text on
//! stderr as before. Argument-parsing errors included.

use std::fs;
use std::path::Path;

use serde_json::Value;

mod common;

const GID: &str = "20260612T100000-aaaaaa";

/// `entwurf` with every store inside `root` (nothing touches the real home).
fn entwurf(root: &Path) -> assert_cmd::Command {
    let mut cmd = common::entwurf_in(root);
    cmd.arg("--lock-dir")
        .arg(root.join("l"))
        .arg("--control-dir")
        .arg(root.join("c"));
    cmd
}

/// Runs `cmd`, asserts the exit status, and returns the one error object from stdout and the
/// stderr text.
fn json_failure(cmd: &mut assert_cmd::Command, code: i32) -> (Value, String) {
    let out = cmd.assert().code(code).get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line on stdout: {stdout:?}");
    assert!(stdout.ends_with('\n'));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let obj = v.as_object().expect("an object");
    assert_eq!(obj.len(), 1, "only the error key: {v}");
    let error = v["error"].as_object().expect("error is an object");
    for key in ["kind", "message", "path"] {
        assert!(error.contains_key(key), "{key} missing: {v}");
    }
    assert!(!error["message"].as_str().unwrap().is_empty());
    (v["error"].clone(), stderr)
}

/// A half-written record file for [`GID`] under `<root>/s`; returns its path.
fn corrupt_record(root: &Path) -> std::path::PathBuf {
    let file = root.join("s").join(format!("{GID}.meta.json"));
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, "{ half").unwrap();
    file
}

/// A command failure: stderr is exactly `entwurf: <message>`.
fn assert_stderr_is_the_message(error: &Value, stderr: &str) {
    assert_eq!(
        stderr,
        format!("entwurf: {}\n", error["message"].as_str().unwrap())
    );
}

#[test]
fn send_to_a_path_shaped_target_is_one_invalid_garden_id_object_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let (error, stderr) = json_failure(entwurf(t.path()).args(["--json", "send", "../x", "hi"]), 2);
    assert_eq!(error["kind"], "invalid-garden-id");
    assert_eq!(error["path"], Value::Null);
    assert!(error["message"].as_str().unwrap().contains("\"../x\""));
    assert_stderr_is_the_message(&error, &stderr);
    // Nothing was created for the bad target.
    assert!(!t.path().join("l").exists());
}

#[test]
fn lock_show_of_an_unknown_id_is_one_invalid_garden_id_object_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let (error, stderr) = json_failure(
        entwurf(t.path()).args(["lock", "show", "unknown", "--json"]),
        2,
    );
    assert_eq!(error["kind"], "invalid-garden-id");
    assert_eq!(error["path"], Value::Null);
    assert_stderr_is_the_message(&error, &stderr);
}

#[test]
fn lock_show_of_a_well_formed_id_without_a_lock_is_a_success_not_an_error() {
    let t = tempfile::tempdir().unwrap();
    let v = common::success_json(entwurf(t.path()).args(["--json", "lock", "show", GID]));
    assert_eq!(v["present"], false);
    assert!(v.get("error").is_none());
}

#[test]
fn lock_show_with_a_file_in_place_of_the_lock_dir_is_one_io_object_naming_the_path() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("l"), "not a dir").unwrap();
    let (error, stderr) = json_failure(entwurf(t.path()).args(["--json", "lock", "show", GID]), 1);
    assert_eq!(error["kind"], "io");
    assert_eq!(
        error["path"],
        t.path()
            .join("l")
            .join(format!("{GID}.lock"))
            .to_str()
            .unwrap()
    );
    assert_stderr_is_the_message(&error, &stderr);
}

#[test]
fn record_show_of_an_unknown_id_is_one_not_found_object_naming_the_record_file() {
    let t = tempfile::tempdir().unwrap();
    let (error, stderr) =
        json_failure(entwurf(t.path()).args(["--json", "record", "show", GID]), 1);
    assert_eq!(error["kind"], "not-found");
    assert_eq!(
        error["path"],
        t.path()
            .join("s")
            .join(format!("{GID}.meta.json"))
            .to_str()
            .unwrap()
    );
    assert_stderr_is_the_message(&error, &stderr);
}

#[test]
fn a_corrupt_record_is_one_corrupt_object_naming_the_file() {
    let t = tempfile::tempdir().unwrap();
    let file = corrupt_record(t.path());
    let (error, _) = json_failure(entwurf(t.path()).args(["--json", "record", "show", GID]), 1);
    assert_eq!(error["kind"], "corrupt");
    assert_eq!(error["path"], file.to_str().unwrap());
}

#[rstest::rstest]
#[case::unknown_flag(&["--json", "--bogus"], "unexpected argument '--bogus'")]
#[case::missing_arguments(&["send", "--json"], "<GID> <MESSAGE>")]
#[case::bad_value(&["--json", "send", GID, "x", "--intent", "maybe"], "invalid value 'maybe'")]
#[case::missing_subcommand(&["record", "--json"], "subcommand")]
#[case::no_subcommand(&["--json"], "subcommand")]
fn a_usage_error_with_json_is_one_usage_object_exit_2(
    #[case] args: &[&str],
    #[case] message_part: &str,
) {
    let t = tempfile::tempdir().unwrap();
    let (error, stderr) = json_failure(common::entwurf(t.path()).args(args), 2);
    assert_eq!(error["kind"], "usage");
    assert_eq!(error["path"], Value::Null);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(message_part), "{message}");
    assert!(!message.starts_with("error:"));
    // clap's own text still goes to stderr.
    assert!(stderr.contains("help"), "{stderr}");
}

#[test]
fn a_usage_error_without_json_prints_nothing_on_stdout() {
    let t = tempfile::tempdir().unwrap();
    common::entwurf(t.path())
        .args(["send", "--", "--json"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains("<MESSAGE>"));
}

#[test]
fn help_and_version_with_json_are_not_failures() {
    let t = tempfile::tempdir().unwrap();
    for args in [["--json", "--help"], ["--json", "--version"]] {
        let out = common::entwurf(t.path()).args(args).assert().success();
        let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(!stdout.contains("\"error\""), "{stdout}");
    }
}

#[test]
fn record_list_strict_with_json_is_one_corrupt_object_carrying_the_listing() {
    let t = tempfile::tempdir().unwrap();
    let sessions = t.path().join("s");
    fs::create_dir_all(&sessions).unwrap();
    fs::write(sessions.join(format!("{GID}.meta.json")), "nope").unwrap();
    let (error, _) = json_failure(
        entwurf(t.path()).args(["--json", "record", "list", "--strict"]),
        1,
    );
    assert_eq!(error["kind"], "corrupt");
    assert_eq!(error["path"], sessions.to_str().unwrap());
    assert_eq!(error["details"]["errors"].as_array().unwrap().len(), 1);
}

#[test]
fn a_refused_mailbox_send_is_one_refused_object_exit_3() {
    let t = tempfile::tempdir().unwrap();
    common::success_json(entwurf(t.path()).args([
        "--json",
        "record",
        "upsert",
        "--backend",
        "claude-code",
        "--native-id",
        "n1",
        "--cwd",
        "/w",
    ]));
    let listing = common::success_json(entwurf(t.path()).args(["--json", "record", "list"]));
    let gid = listing["records"][0]["gardenId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (error, stderr) = json_failure(
        entwurf(t.path()).args(["--json", "mailbox", "send", &gid, "hello"]),
        3,
    );
    assert_eq!(error["kind"], "refused");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("mailbox-undeliverable"));
    assert_stderr_is_the_message(&error, &stderr);
}

#[test]
fn an_ambiguous_upsert_is_one_refused_object_exit_3() {
    use entwurf_meta_session::Backend;
    let t = tempfile::tempdir().unwrap();
    let sessions = t.path().join("s");
    for gid in ["20260612T100000-aaaaaa", "20260612T100001-bbbbbb"] {
        common::put_record(&sessions, gid, Backend::ClaudeCode, "forked", "/w");
    }
    let (error, stderr) = json_failure(
        entwurf(t.path()).args([
            "--json",
            "record",
            "upsert",
            "--backend",
            "claude-code",
            "--native-id",
            "forked",
            "--cwd",
            "/w",
        ]),
        3,
    );
    assert_eq!(error["kind"], "refused");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("ambiguous meta-record authority"));
    assert_stderr_is_the_message(&error, &stderr);
}

/// The cause of a failure is printed, once: the error's own text does not repeat it, stderr
/// shows it on a `caused by:` line, and `--json` carries it in `causes`.
#[test]
fn a_corrupt_record_prints_its_parse_error_as_the_cause() {
    let t = tempfile::tempdir().unwrap();
    corrupt_record(t.path());
    let (error, stderr) =
        json_failure(entwurf(t.path()).args(["--json", "record", "show", GID]), 1);
    let message = error["message"].as_str().unwrap();
    let causes: Vec<&str> = error["causes"]
        .as_array()
        .expect("a causes array")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(causes.len(), 1, "{error}");
    assert!(causes[0].contains("not valid JSON"), "{error}");
    assert!(
        !message.contains(causes[0]),
        "the message repeats its cause: {error}"
    );
    assert_eq!(
        stderr,
        format!("entwurf: {message}\n  caused by: {}\n", causes[0])
    );
    // The human output (no --json) is the same text.
    let out = entwurf(t.path())
        .args(["record", "show", GID])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(out.stdout.is_empty());
    assert_eq!(String::from_utf8(out.stderr).unwrap(), stderr);
}

/// A FIFO where the record belongs: the store layer's refusal (naming what it found) is the
/// cause of the record error, and the CLI prints it rather than losing it.
#[test]
fn a_fifo_in_place_of_a_record_prints_the_store_refusal_as_the_cause() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("s").join(format!("{GID}.meta.json"));
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (error, stderr) =
        json_failure(entwurf(t.path()).args(["--json", "record", "show", GID]), 1);
    let message = error["message"].as_str().unwrap();
    let causes = error["causes"].as_array().expect("a causes array");
    let cause = causes[0].as_str().unwrap();
    assert!(cause.to_lowercase().contains("fifo"), "{error}");
    assert!(!message.to_lowercase().contains("fifo"), "{error}");
    assert!(
        stderr.starts_with(&format!("entwurf: {message}\n  caused by: ")),
        "{stderr}"
    );
    assert!(stderr.contains(cause), "{stderr}");
}
