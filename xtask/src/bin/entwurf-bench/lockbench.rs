//! Lock throughput: acquire + release pairs per second, in one process and in eight processes
//! contending for one garden id.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use entwurf_lock::{AcquireOutcome, Lock};
use entwurf_meta_session::GardenId;
use xtask::report::{LockFigures, Section};

/// Loops acquire/release on `gid` in `dir` until `until`; returns (pairs, conflicts).
pub fn hammer(dir: &Path, gid: &GardenId, until: Instant) -> Result<(u64, u64), String> {
    let lock = Lock::new(dir);
    let (mut pairs, mut conflicts) = (0u64, 0u64);
    while Instant::now() < until {
        match lock.acquire(gid).map_err(|e| e.to_string())? {
            AcquireOutcome::Acquired(claim) => {
                lock.release(&claim).map_err(|e| e.to_string())?;
                pairs += 1;
            }
            AcquireOutcome::Conflict(_) => conflicts += 1,
        }
    }
    Ok((pairs, conflicts))
}

/// The hidden worker: `lock-worker DIR GID START_EPOCH_MS SECS` prints `pairs conflicts`.
pub fn worker(args: &[String]) -> Result<(), String> {
    let [dir, gid, start, secs] = args else {
        return Err("usage: lock-worker DIR GID START_EPOCH_MS SECS".into());
    };
    let gid = GardenId::parse(gid).map_err(|e| e.to_string())?;
    let start: u128 = start.parse().map_err(|_| "bad start")?;
    let secs: f64 = secs.parse().map_err(|_| "bad secs")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis();
    if start > now {
        std::thread::sleep(Duration::from_millis((start - now) as u64));
    }
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let (pairs, conflicts) = hammer(Path::new(dir), &gid, until)?;
    println!("{pairs} {conflicts}");
    Ok(())
}

pub fn run(secs: f64, procs: usize) -> Section<LockFigures> {
    Section::from_result(measure(secs, procs))
}

fn measure(secs: f64, procs: usize) -> Result<LockFigures, String> {
    let tmp = tempfile::Builder::new()
        .prefix("entwurf-bench-lock-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let gid = GardenId::mint();
    // Single process.
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let (single, _) = hammer(tmp.path(), &gid, until)?;
    // N processes, one gid, same start instant.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() + 300)
        .unwrap_or(0);
    let mut children = Vec::new();
    for _ in 0..procs {
        let child = Command::new(&exe)
            .arg("lock-worker")
            .arg(tmp.path())
            .arg(gid.as_str())
            .arg(start.to_string())
            .arg(secs.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn worker: {e}"))?;
        children.push(child);
    }
    let (mut pairs, mut conflicts) = (0u64, 0u64);
    for c in children {
        let out = c.wait_with_output().map_err(|e| format!("worker: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text
            .split_whitespace()
            .map(|x| x.parse::<u64>().unwrap_or(0));
        pairs += it.next().unwrap_or(0);
        conflicts += it.next().unwrap_or(0);
    }
    Ok(LockFigures {
        seconds_per_run: secs,
        single_process_pairs_per_s: (single as f64 / secs).round(),
        processes: procs,
        multi_process_pairs_per_s: (pairs as f64 / secs).round(),
        multi_process_conflicts_per_s: (conflicts as f64 / secs).round(),
    })
}
