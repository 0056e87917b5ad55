//! Issue 13 rows 7 and 8 against real processes: a reclaimer SIGKILLed while it holds the
//! `.reclaim` marker, a reused holder pid, and many processes taking over one abandoned marker
//! at once. Every lock here uses the real `kill(pid, 0)` and `/proc/<pid>/stat`.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use entwurf_lock::{
    claim_line, marker_line, os_hostname, real_start_key, reclaim_marker_path, AcquireOutcome,
    Lock, LockClaim, MarkerCreator, ReleaseOutcome,
};
use entwurf_meta_session::GardenId;
use entwurf_testkit::dead_pid;

const WORKER: &str = env!("CARGO_BIN_EXE_entwurf-lock-worker");

/// A child that is SIGKILLed and reaped when dropped (also on a failed assertion).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(args: &[&str]) -> Command {
    let mut cmd = Command::new(WORKER);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn claim_of(dir: &Path, gid: &GardenId, pid: u32, start_key: Option<&str>) -> String {
    claim_line(&LockClaim {
        garden_id: gid.to_string(),
        pid: pid.into(),
        hostname: os_hostname(),
        created_at: "2026-06-12T10:00:00.000Z".into(),
        nonce: "deadbeefcafef00d".into(),
        owner: "entwurf_v2".into(),
        lock_path: dir.join(format!("{gid}.lock")),
        start_key: start_key.map(str::to_owned),
    })
    .unwrap()
}

/// Starts a `hold` worker (it holds `gid` until killed) and waits for its claim line.
fn holder(dir: &Path, gid: &GardenId) -> Reaped {
    let mut child = Reaped(
        worker(&[
            "hold",
            "--dir",
            dir.to_str().unwrap(),
            "--gid",
            gid.as_str(),
        ])
        .spawn()
        .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("\"startKey\":\"linux:"), "{line}");
    child
}

#[test]
fn a_sender_killed_right_after_creating_the_reclaim_marker_does_not_lock_the_target_for_good() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("locks");
    let gid = GardenId::mint();
    let lock_path = dir.join(format!("{gid}.lock"));
    let marker = reclaim_marker_path(&lock_path);

    // 1. A holder is SIGKILLed: its lock stays behind.
    drop(holder(&dir, &gid));
    let dead_claim = fs::read_to_string(&lock_path).unwrap();

    // 2. A reclaimer judges it dead, creates the marker, and is SIGKILLed right there.
    let mut reclaimer = Reaped(
        worker(&[
            "try",
            "--dir",
            dir.to_str().unwrap(),
            "--gid",
            gid.as_str(),
            "--stall-after-marker",
        ])
        .spawn()
        .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(reclaimer.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "marker-held\n");
    let reclaimer_pid = reclaimer.0.id();
    let marker_text = fs::read_to_string(&marker).unwrap();
    let creator = entwurf_lock::parse_marker(&marker_text).expect("our marker names its creator");
    assert_eq!(creator.pid, reclaimer_pid);
    assert_eq!(creator.start_key, real_start_key(reclaimer_pid as i32));
    assert_eq!(creator.hostname, os_hostname());
    // While it lives (holding the marker's flock), nobody else gets in.
    let lock = Lock::new(&dir);
    let AcquireOutcome::Conflict(c) = lock.acquire(&gid).unwrap() else {
        panic!("a live reclaimer's marker must be respected");
    };
    assert!(
        c.detail.starts_with("reclaim already in progress"),
        "{}",
        c.detail
    );
    drop(reclaimer); // SIGKILL + reap
    assert_eq!(fs::read_to_string(&lock_path).unwrap(), dead_claim);
    assert!(
        marker.exists(),
        "the dead reclaimer's marker is left behind"
    );

    // 3. The next acquire takes over the marker and the lock, without --force.
    let AcquireOutcome::Acquired(ours) = lock.acquire(&gid).unwrap() else {
        panic!("the target must not stay locked after a killed reclaimer");
    };
    assert_eq!(names(&dir), vec![format!("{gid}.lock")], "marker removed");
    assert_eq!(lock.release(&ours).unwrap(), ReleaseOutcome::Released);
    assert_eq!(names(&dir), Vec::<String>::new());
}

#[test]
fn a_killed_holder_is_reclaimed_by_the_next_acquire_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("locks");
    let gid = GardenId::mint();
    let child = holder(&dir, &gid);
    let lock = Lock::new(&dir);
    assert!(matches!(
        lock.acquire(&gid).unwrap(),
        AcquireOutcome::Conflict(_)
    ));
    drop(child);
    let AcquireOutcome::Acquired(ours) = lock.acquire(&gid).unwrap() else {
        panic!("a SIGKILLed holder is reclaimed");
    };
    assert_eq!(lock.release(&ours).unwrap(), ReleaseOutcome::Released);
    assert_eq!(names(&dir), Vec::<String>::new());
}

#[test]
fn a_lock_naming_a_reused_pid_is_taken_without_force() {
    // `sleep` stands for an unrelated process that now has the holder's pid.
    let sleeper = Reaped(Command::new("sleep").arg("600").spawn().unwrap());
    let pid = sleeper.0.id();
    let real_key = real_start_key(pid as i32);
    assert!(real_key.starts_with("linux:"), "{real_key}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("locks");
    fs::create_dir_all(&dir).unwrap();
    let gid = GardenId::mint();
    let path = dir.join(format!("{gid}.lock"));
    let lock = Lock::new(&dir);

    // The pid's own start key, or none (a reference lock): the live pid holds it.
    for key in [Some(real_key.as_str()), None] {
        fs::write(&path, claim_of(&dir, &gid, pid, key)).unwrap();
        let AcquireOutcome::Conflict(c) = lock.acquire(&gid).unwrap() else {
            panic!("a live holder ({key:?}) must keep the lock");
        };
        assert_eq!(c.holder.unwrap().pid, pid);
    }
    // Another start key: the holder is gone and the pid reused.
    fs::write(&path, claim_of(&dir, &gid, pid, Some("linux:1"))).unwrap();
    let AcquireOutcome::Acquired(ours) = lock.acquire(&gid).unwrap() else {
        panic!("a reused pid must not keep the lock");
    };
    assert_eq!(ours.pid, std::process::id());
    assert_eq!(lock.release(&ours).unwrap(), ReleaseOutcome::Released);
    assert!(
        sleeper.0.id() == pid,
        "the unrelated process was left alone"
    );
}

/// Writes a dead holder's lock and an abandoned marker (a dead creator's) for `gid`.
fn abandoned(dir: &Path, gid: &GardenId) {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{gid}.lock"));
    fs::write(&path, claim_of(dir, gid, dead_pid(), None)).unwrap();
    let marker = marker_line(&MarkerCreator {
        pid: dead_pid(),
        hostname: os_hostname(),
        start_key: "linux:1".into(),
        created_at: "2026-06-12T10:05:00.000Z".into(),
    })
    .unwrap();
    fs::write(reclaim_marker_path(&path), marker).unwrap();
}

#[test]
fn parallel_reclaimers_never_both_hold_a_taken_over_marker() {
    const PROCS: usize = 6;
    const ROUNDS: usize = 12;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("locks");
    let inside = tmp.path().join("inside-marker");
    let mut takeovers = 0;
    for round in 0..ROUNDS {
        let gid = GardenId::mint();
        abandoned(&dir, &gid);
        // One-shot workers: each exits by itself once it has tried.
        let mut children: Vec<Child> = (0..PROCS)
            .map(|_| {
                worker(&[
                    "try",
                    "--dir",
                    dir.to_str().unwrap(),
                    "--gid",
                    gid.as_str(),
                    "--wait-go",
                    "--inside-marker",
                    inside.to_str().unwrap(),
                ])
                .spawn()
                .unwrap()
            })
            .collect();
        for c in &mut children {
            c.stdin.take().unwrap().write_all(b"go\n").unwrap();
        }
        let mut acquired = 0;
        let mut held = 0;
        for c in children {
            let out = c.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_ne!(
                out.status.code(),
                Some(3),
                "round {round}: two reclaimers held the marker at once: {stderr}"
            );
            assert!(
                matches!(out.status.code(), Some(0) | Some(5)),
                "round {round}: {stdout}{stderr}"
            );
            acquired += usize::from(out.status.success());
            held += stdout
                .lines()
                .find_map(|l| l.strip_prefix("marker-held="))
                .unwrap()
                .parse::<usize>()
                .unwrap();
        }
        assert!(acquired >= 1, "round {round}: the abandoned lock was taken");
        assert!(
            held >= 1,
            "round {round}: the abandoned marker was taken over"
        );
        takeovers += held;
        assert!(!inside.exists());
        let left: Vec<_> = names(&dir)
            .into_iter()
            .filter(|n| n.starts_with(gid.as_str()))
            .collect();
        assert_eq!(left, Vec::<String>::new(), "round {round}: nothing left");
    }
    assert!(takeovers >= ROUNDS);
}

#[test]
fn the_killed_reclaimers_marker_carries_pid_and_start_key_on_disk() {
    // Same as above, byte level: what a killed reclaimer leaves is our marker line.
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("locks");
    let gid = GardenId::mint();
    abandoned(&dir, &gid);
    let marker = reclaim_marker_path(&dir.join(format!("{gid}.lock")));
    fs::remove_file(&marker).unwrap();
    let mut r = Reaped(
        worker(&[
            "try",
            "--dir",
            dir.to_str().unwrap(),
            "--gid",
            gid.as_str(),
            "--stall-after-marker",
        ])
        .spawn()
        .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(r.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = r.0.id();
    let text = fs::read_to_string(&marker).unwrap();
    let key = real_start_key(pid as i32);
    assert!(
        text.starts_with(&format!(
            "{{\"pid\":{pid},\"hostname\":{},\"startKey\":\"{key}\",\"createdAt\":\"",
            serde_json::to_string(&os_hostname()).unwrap()
        )),
        "{text}"
    );
    assert!(text.ends_with("\"}\n"), "{text}");
    drop(r);
}
