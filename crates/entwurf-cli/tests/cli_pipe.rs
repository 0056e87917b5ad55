//! A reader that goes away early (`entwurf record list | head -1`) ends the command quietly,
//! like any Unix filter: no panic about a broken pipe.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use entwurf_meta_session::{write_record, Backend, GardenId, MetaRecord};

#[test]
fn a_closed_stdout_ends_the_command_by_sigpipe_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let sessions = tmp.path().join("sessions");
    // Far more output than a pipe buffer holds, so the command must write after the close.
    for i in 0..1500u32 {
        let gid = GardenId::parse(&format!("20260612T100000-{i:06x}")).unwrap();
        let record = MetaRecord::new(
            gid,
            Backend::Codex,
            format!("native-{i}"),
            "/srv/a/rather/long/working/directory/for/padding",
            "2026-06-12T10:00:00.000Z",
        );
        write_record(&sessions, &record).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_entwurf"))
        .env_clear()
        .env("HOME", tmp.path())
        .arg("--sessions-dir")
        .arg(&sessions)
        .args(["record", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then dropped: closed
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(status.signal(), Some(13), "ended by SIGPIPE: {status:?}");
}
