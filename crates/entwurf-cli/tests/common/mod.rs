//! Shared by the CLI integration tests: the `entwurf` binary as a child process with a cleared
//! environment and `HOME` inside the test's temp dir, so nothing ever touches the real home.
// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// `entwurf` with a cleared environment, `HOME=home` and the test's `PATH`.
pub fn entwurf(home: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::cargo_bin("entwurf").unwrap();
    configure(&mut cmd, home);
    cmd
}

/// Clears `cmd`'s environment, then sets `HOME=home` and passes the test's `PATH` on.
pub fn configure(cmd: &mut Command, home: impl AsRef<OsStr>) {
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
}

/// A fresh temp root holding `home` and each of `dirs` (created).
pub fn temp_root(dirs: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for d in ["home"].iter().chain(dirs) {
        std::fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    tmp
}

/// Every store flag pointing into `root`: `--sessions-dir <root>/sessions`, `--mailbox-dir
/// <root>/mailbox`, `--receivers-dir <root>/receivers`, `--lock-dir <root>/locks` and
/// `--control-dir <root>/ctl` (for `Command::args`, ours or `std`'s).
pub fn store_args(root: &Path) -> Vec<std::ffi::OsString> {
    [
        ("--sessions-dir", "sessions"),
        ("--mailbox-dir", "mailbox"),
        ("--receivers-dir", "receivers"),
        ("--lock-dir", "locks"),
        ("--control-dir", "ctl"),
    ]
    .into_iter()
    .flat_map(|(flag, leaf)| [flag.into(), root.join(leaf).into_os_string()])
    .collect()
}

/// The entry names in `dir`, sorted (empty when `dir` is absent).
pub fn names(dir: &Path) -> Vec<String> {
    entwurf_testkit::entries_ending(dir, "")
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

/// Appends `--sessions-dir <sessions> --mailbox-dir <mailbox> --receivers-dir <receivers>`.
pub fn store_flags(cmd: &mut Command, sessions: &Path, mailbox: &Path, receivers: &Path) {
    cmd.arg("--sessions-dir")
        .arg(sessions)
        .arg("--mailbox-dir")
        .arg(mailbox)
        .arg("--receivers-dir")
        .arg(receivers);
}

/// Runs `cmd`, asserts it succeeded, and parses its stdout as JSON.
pub fn success_json(cmd: &mut Command) -> Value {
    serde_json::from_slice(&cmd.assert().success().get_output().stdout).unwrap()
}

/// A run's stdout, parsed as JSON.
pub fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `entwurf` with `HOME=<root>/home` and the stores at `<root>/s`, `<root>/m` and `<root>/r`.
pub fn entwurf_in(root: impl AsRef<Path>) -> Command {
    let root = root.as_ref();
    let mut cmd = entwurf(root.join("home"));
    store_flags(&mut cmd, &root.join("s"), &root.join("m"), &root.join("r"));
    cmd
}

/// Writes a v2 record for `gid` (no model, transcript or parent; fixed stamps) into
/// `sessions` and returns it.
pub fn put_record(
    sessions: &Path,
    gid: &str,
    backend: entwurf_meta_session::Backend,
    native: &str,
    cwd: &str,
) -> entwurf_meta_session::MetaRecord {
    let r = entwurf_meta_session::MetaRecord::new(
        entwurf_meta_session::GardenId::parse(gid).unwrap(),
        backend,
        native,
        cwd,
        "2026-06-12T01:00:00.000Z",
    );
    entwurf_meta_session::write_record(sessions, &r).unwrap();
    r
}

/// Arms `r`'s receiver in `receivers`, owned by this (live) test process.
pub fn arm_receiver(receivers: &Path, r: &entwurf_meta_session::MetaRecord) {
    entwurf_meta_session::write_receiver_marker(
        receivers,
        &entwurf_meta_session::ReceiverMarkerInput {
            garden_id: r.garden_id.clone(),
            backend: r.backend,
            native_session_id: r.native_session_id.clone(),
            owner_pid: i64::from(std::process::id()),
            owner_kind: None,
            arm_provenance: entwurf_meta_session::ArmProvenance::SessionStart,
        },
        chrono::Utc::now(),
    )
    .unwrap();
}
