//! The lock under the crash seam: each scenario runs in a worker process that entwurf-fs's seam
//! (`ENTWURF_FAULT_ABORT_AT=N`, compiled into test builds) aborts just before its Nth mutating
//! call (create, write, link, unlink, mkdir), for N = 1, 2, … until the operation completes.
//! After every kill:
//!
//! * nothing partial is visible: the lock file is absent or a whole claim;
//! * the next acquire (a live process, real `kill` and start keys) takes the lock without
//!   `--force`, taking over any marker the killed process left;
//! * once that acquire is released, the lock dir is empty: no marker, no staging file.
//!
//! It prints the kill points per scenario (`lock faults: …`) and fails on any violation.

use std::fs;
use std::path::Path;
use std::process::Command;

use entwurf_lock::{
    claim_line, marker_line, os_hostname, reclaim_marker_path, AcquireOutcome, Lock, LockClaim,
    MarkerCreator, ReleaseOutcome,
};
use entwurf_meta_session::GardenId;
use entwurf_testkit::dead_pid;

const WORKER: &str = env!("CARGO_BIN_EXE_entwurf-lock-worker");

fn dead_holder(dir: &Path, gid: &GardenId) {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{gid}.lock"));
    let line = claim_line(&LockClaim {
        garden_id: gid.to_string(),
        pid: dead_pid().into(),
        hostname: os_hostname(),
        created_at: "2026-06-12T10:00:00.000Z".into(),
        nonce: "deadbeefcafef00d".into(),
        owner: "entwurf_v2".into(),
        lock_path: path.clone(),
        start_key: Some("linux:1".into()),
    })
    .unwrap();
    fs::write(path, line).unwrap();
}

fn abandoned_marker(dir: &Path, gid: &GardenId) {
    let marker = reclaim_marker_path(&dir.join(format!("{gid}.lock")));
    let line = marker_line(&MarkerCreator {
        pid: dead_pid(),
        hostname: os_hostname(),
        start_key: "linux:1".into(),
        created_at: "2026-06-12T10:05:00.000Z".into(),
    })
    .unwrap();
    fs::write(marker, line).unwrap();
}

struct Scenario {
    name: &'static str,
    /// The worker subcommand.
    command: &'static str,
    setup: fn(&Path, &GardenId),
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "acquire + release (fresh lock dir)",
        command: "try",
        setup: |_, _| {},
    },
    Scenario {
        name: "reclaim of a dead holder + release",
        command: "try",
        setup: dead_holder,
    },
    Scenario {
        name: "reclaim under an abandoned marker + release",
        command: "try",
        setup: |d, g| {
            dead_holder(d, g);
            abandoned_marker(d, g);
        },
    },
    Scenario {
        name: "clear of a dead holder",
        command: "clear",
        setup: dead_holder,
    },
];

/// Runs one scenario under kill point `n`: `Some(label)` when the worker was killed there,
/// `None` when it completed. Panics on a worker failure that is not the seam's abort.
fn run_killed_at(dir: &Path, gid: &GardenId, command: &str, n: u64) -> Option<String> {
    let out = Command::new(WORKER)
        .args([
            command,
            "--dir",
            dir.to_str().unwrap(),
            "--gid",
            gid.as_str(),
        ])
        .env("ENTWURF_FAULT_ABORT_AT", n.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return None;
    }
    let label = stderr
        .lines()
        .find_map(|l| l.strip_prefix("entwurf-fault: abort before "))
        .unwrap_or_else(|| {
            panic!(
                "worker failed without the seam ({:?}): {stderr}",
                out.status
            )
        });
    Some(label.to_owned())
}

/// The invariants after a kill; returns the violations found.
fn check(dir: &Path, gid: &GardenId, at: &str) -> Vec<String> {
    let mut violations = Vec::new();
    let lock = Lock::new(dir);
    if dir.exists() {
        match lock.inspect(gid) {
            Ok(Some(st)) if st.holder.is_none() => {
                violations.push(format!("{at}: a partial or corrupt lock is visible"))
            }
            Ok(_) => {}
            Err(e) => violations.push(format!("{at}: inspect failed: {e}")),
        }
    }
    match lock.acquire(gid) {
        Ok(AcquireOutcome::Acquired(claim)) => match lock.release(&claim) {
            Ok(ReleaseOutcome::Released) => {}
            other => violations.push(format!("{at}: release gave {other:?}")),
        },
        Ok(AcquireOutcome::Conflict(c)) => violations.push(format!(
            "{at}: the next acquire needs --force: {}",
            c.detail
        )),
        Err(e) => violations.push(format!("{at}: the next acquire failed: {e}")),
    }
    let left: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if !left.is_empty() {
        violations.push(format!("{at}: left in the lock dir: {left:?}"));
    }
    violations
}

#[test]
fn every_kill_point_of_acquire_reclaim_release_and_clear_leaves_a_lock_the_next_acquire_takes() {
    let mut violations = Vec::new();
    let mut total = 0;
    for s in SCENARIOS {
        let mut points = Vec::new();
        for n in 1.. {
            assert!(n < 100, "{}: the operation never completed", s.name);
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("locks");
            let gid = GardenId::mint();
            (s.setup)(&dir, &gid);
            match run_killed_at(&dir, &gid, s.command, n) {
                Some(label) => {
                    violations.extend(check(&dir, &gid, &format!("{} #{label}", s.name)));
                    points.push(label);
                }
                None => {
                    // Completed: the same invariants hold without a kill.
                    violations.extend(check(&dir, &gid, &format!("{} (completed)", s.name)));
                    break;
                }
            }
        }
        assert!(
            !points.is_empty(),
            "{}: the worker carries no crash seam",
            s.name
        );
        println!(
            "lock faults: {}: {} kill points ({})",
            s.name,
            points.len(),
            points.join(", ")
        );
        total += points.len();
    }
    println!(
        "lock faults: total kill points {total}, violations {}",
        violations.len()
    );
    assert!(
        violations.is_empty(),
        "violations:\n{}",
        violations.join("\n")
    );
}
