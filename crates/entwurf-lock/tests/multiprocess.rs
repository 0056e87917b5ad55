//! The lock under real concurrency: separate OS processes (the `entwurf-lock-worker` binary of
//! this crate), not threads.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use entwurf_lock::{
    os_hostname, parse_holder, real_start_key, AcquireOutcome, Lock, LockClaim, ReleaseOutcome,
};
use entwurf_meta_session::GardenId;

const WORKER: &str = env!("CARGO_BIN_EXE_entwurf-lock-worker");

fn unique_gid() -> GardenId {
    GardenId::mint()
}

fn worker(args: &[&str]) -> Command {
    let mut cmd = Command::new(WORKER);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts a `hold` worker and returns it with the claim it printed (it holds the lock until its
/// stdin closes).
fn spawn_holder(dir: &Path, gid: &GardenId, hostname: Option<&str>) -> (Child, LockClaim) {
    let mut args = vec![
        "hold",
        "--dir",
        dir.to_str().unwrap(),
        "--gid",
        gid.as_str(),
    ];
    if let Some(h) = hostname {
        args.extend(["--hostname", h]);
    }
    let mut child = worker(&args).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let path = dir.join(format!("{gid}.lock"));
    let claim = parse_holder(&line, &path, gid)
        .unwrap_or_else(|| panic!("holder printed {line:?}, not a claim line"));
    assert_eq!(
        claim.start_key.as_deref(),
        Some(real_start_key(child.id() as i32).as_str())
    );
    (child, claim)
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn eight_processes_racing_never_hold_at_once_and_leave_nothing_behind() {
    const PROCS: usize = 8;
    const ITERATIONS: &str = "200";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("locks");
    let inside = tmp.path().join("inside");
    let gid = unique_gid();

    let mut children: Vec<Child> = (0..PROCS)
        .map(|_| {
            worker(&[
                "race",
                "--dir",
                dir.to_str().unwrap(),
                "--gid",
                gid.as_str(),
                "--iterations",
                ITERATIONS,
                "--inside",
                inside.to_str().unwrap(),
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    // Start signal: every worker is spawned before any of them begins.
    for c in &mut children {
        c.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }

    let mut total_acquired = 0u32;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "worker failed ({:?}): {}{}",
            out.status.code(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let (a, r) = stdout
            .trim()
            .strip_prefix("acquired=")
            .and_then(|s| s.split_once(" released="))
            .unwrap_or_else(|| panic!("unexpected worker output {stdout:?}"));
        assert_eq!(a, r, "every acquire ends in a release");
        total_acquired += a.parse::<u32>().unwrap();
    }
    assert!(total_acquired > 0, "the lock was taken at least once");
    assert!(!inside.exists());
    assert_eq!(
        dir_names(&dir),
        Vec::<String>::new(),
        "no lock or reclaim file left"
    );
}

#[test]
fn a_holder_killed_with_sigkill_is_reclaimed_by_the_next_acquirer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("locks");
    let gid = unique_gid();
    let (mut child, old) = spawn_holder(&dir, &gid, None);
    assert_eq!(old.hostname, os_hostname());

    let lock = Lock::new(&dir);
    // While it lives, it is held.
    assert!(matches!(
        lock.acquire(&gid).unwrap(),
        AcquireOutcome::Conflict(_)
    ));

    child.kill().unwrap(); // SIGKILL: no release runs
    child.wait().unwrap();
    assert!(
        dir.join(format!("{gid}.lock")).exists(),
        "the dead holder's file is still there"
    );

    let AcquireOutcome::Acquired(ours) = lock.acquire(&gid).unwrap() else {
        panic!("a SIGKILLed holder on this host must be reclaimed");
    };
    assert_ne!(ours.nonce, old.nonce);
    assert_eq!(
        dir_names(&dir),
        vec![format!("{gid}.lock")],
        "reclaim marker removed"
    );
    assert_eq!(lock.release(&old).unwrap(), ReleaseOutcome::NotOwned);
    assert_eq!(lock.release(&ours).unwrap(), ReleaseOutcome::Released);
    assert_eq!(dir_names(&dir), Vec::<String>::new());
}

#[test]
fn a_lock_held_by_a_live_process_on_another_hostname_is_never_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("locks");
    let gid = unique_gid();
    let other = format!("{}-elsewhere", os_hostname());
    let (mut child, held) = spawn_holder(&dir, &gid, Some(&other));
    assert_eq!(held.hostname, other);
    let lock_file = dir.join(format!("{gid}.lock"));
    let before = fs::read(&lock_file).unwrap();

    // This process (real hostname) cannot take it.
    match Lock::new(&dir).acquire(&gid).unwrap() {
        AcquireOutcome::Conflict(c) => {
            assert_eq!(c.holder.as_ref(), Some(&held));
            assert!(
                c.detail.contains(&format!("on host {other} since")),
                "{}",
                c.detail
            );
        }
        AcquireOutcome::Acquired(_) => panic!("another host's lock must never be taken"),
    }
    // Nor can another real process.
    let out = worker(&["try", "--dir", dir.to_str().unwrap(), "--gid", gid.as_str()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(&lock_file).unwrap(),
        before,
        "holder's file untouched"
    );

    // The holder releases it itself when told to.
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Released");
    assert_eq!(dir_names(&dir), Vec::<String>::new());
}
