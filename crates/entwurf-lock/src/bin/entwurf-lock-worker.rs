//! `entwurf-lock-worker`: a small second process for the lock's multi-process tests (and for
//! poking at a lock dir by hand: `cargo run -p entwurf-lock --features test-support --bin
//! entwurf-lock-worker -- …`). Not part of the `entwurf` CLI; release builds never make it.
//!
//! ```text
//! entwurf-lock-worker race --dir D --gid G --iterations N --inside PATH
//!     waits for one line on stdin (the start signal), then tries N times to acquire G; while it
//!     holds the lock it creates PATH exclusively (an existing PATH = two holders at once = exit
//!     3) and removes it again before releasing. Prints `acquired=<a> released=<r>`.
//!     Exit 4 when a release of our own claim is not `released`.
//! entwurf-lock-worker hold --dir D --gid G [--hostname H]
//!     acquires G once (exit 5 on conflict, printing the detail), prints the claim line (what
//!     the lock file holds), holds it until stdin closes, releases it and prints the release outcome.
//! entwurf-lock-worker try --dir D --gid G [--wait-go] [--inside-marker PATH] [--stall-after-marker]
//!     acquires once: prints `acquired <nonce>` and releases it (exit 0), or prints the conflict
//!     (exit 5); then `marker-held=<n>`, how often this process held the `.reclaim` marker.
//!     `--wait-go` waits for one stdin line first. `--inside-marker`: while holding the marker,
//!     create PATH exclusively (an existing PATH = two reclaimers at once = exit 3) and remove it
//!     again. `--stall-after-marker`: once the marker is held, print `marker-held` and block on
//!     stdin (the test kills us there).
//! entwurf-lock-worker clear --dir D --gid G
//!     `lock clear` without force: prints the outcome (exit 0), or the refusal (exit 5).
//! ```
//!
//! In a test build the crash seam of entwurf-fs is compiled in: `ENTWURF_FAULT_ABORT_AT=N`
//! aborts the worker just before its Nth mutating call (see `tests/faults.rs`).

use std::fs::OpenOptions;
use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use entwurf_lock::{contended_detail, AcquireOutcome, Lock, LockOptions, ReleaseOutcome};
use entwurf_meta_session::GardenId;

struct Args {
    cmd: String,
    dir: PathBuf,
    gid: GardenId,
    iterations: u32,
    inside: Option<PathBuf>,
    hostname: Option<String>,
    inside_marker: Option<PathBuf>,
    stall_after_marker: bool,
    wait_go: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().ok_or("missing subcommand (race | hold | try)")?;
    let (mut dir, mut gid, mut iterations, mut inside, mut hostname) = (None, None, 1, None, None);
    let (mut inside_marker, mut stall_after_marker, mut wait_go) = (None, false, false);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--stall-after-marker" => {
                stall_after_marker = true;
                continue;
            }
            "--wait-go" => {
                wait_go = true;
                continue;
            }
            _ => {}
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--inside-marker" => inside_marker = Some(PathBuf::from(value)),
            "--dir" => dir = Some(PathBuf::from(value)),
            "--gid" => gid = Some(GardenId::parse(&value).map_err(|e| e.to_string())?),
            "--iterations" => iterations = value.parse().map_err(|_| "bad --iterations")?,
            "--inside" => inside = Some(PathBuf::from(value)),
            "--hostname" => hostname = Some(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        cmd,
        dir: dir.ok_or("--dir is required")?,
        gid: gid.ok_or("--gid is required")?,
        iterations,
        inside,
        hostname,
        inside_marker,
        stall_after_marker,
        wait_go,
    })
}

/// While this process holds the `.reclaim` marker: prove no other process holds it too.
fn inside_marker_check(inside: &Path) {
    match OpenOptions::new().write(true).create_new(true).open(inside) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            eprintln!(
                "entwurf-lock-worker: two reclaimers at once: {} existed",
                inside.display()
            );
            std::process::exit(3);
        }
        Err(e) => {
            eprintln!("entwurf-lock-worker: {}: {e}", inside.display());
            std::process::exit(1);
        }
    }
    // Give a competing reclaimer every chance to overlap.
    for _ in 0..200 {
        std::thread::yield_now();
    }
    if let Err(e) = std::fs::remove_file(inside) {
        eprintln!("entwurf-lock-worker: {}: {e}", inside.display());
        std::process::exit(1);
    }
}

/// Prints `marker-held` and blocks until stdin closes (the test SIGKILLs us first).
fn stall() {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "marker-held");
    let _ = out.flush();
    let mut sink = Vec::new();
    let _ = io::stdin().lock().read_to_end(&mut sink);
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("entwurf-lock-worker: {e}");
            return ExitCode::from(2);
        }
    };
    let mut opts = LockOptions::new(&args.dir);
    if let Some(h) = &args.hostname {
        opts.hostname = h.clone();
    }
    let held = Arc::new(AtomicU32::new(0));
    let (counter, inside, stalls) = (
        held.clone(),
        args.inside_marker.clone(),
        args.stall_after_marker,
    );
    opts.on_marker_held = Some(Arc::new(move |_marker: &Path| {
        counter.fetch_add(1, Ordering::SeqCst);
        if let Some(inside) = &inside {
            inside_marker_check(inside);
        }
        if stalls {
            stall();
        }
    }));
    let lock = Lock::with_options(opts);
    if args.wait_go {
        let mut go = String::new();
        if let Err(e) = io::stdin().lock().read_line(&mut go) {
            eprintln!("entwurf-lock-worker: {e}");
            return ExitCode::from(1);
        }
    }
    let result = match args.cmd.as_str() {
        "race" => race(&lock, &args),
        "hold" => hold(&lock, &args),
        "clear" => match lock.clear(&args.gid, false) {
            Ok(entwurf_lock::ClearOutcome::Refused { detail, .. }) => Err(Failure(5, detail)),
            Ok(outcome) => {
                println!("{outcome:?}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        },
        "try" => {
            let r = try_once(&lock, &args);
            println!("marker-held={}", held.load(Ordering::SeqCst));
            r
        }
        other => Err(Failure(2, format!("unknown subcommand {other}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("entwurf-lock-worker: {msg}");
            ExitCode::from(code)
        }
    }
}

struct Failure(u8, String);

impl From<entwurf_lock::LockError> for Failure {
    fn from(e: entwurf_lock::LockError) -> Self {
        Failure(1, e.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure(1, e.to_string())
    }
}

fn race(lock: &Lock, args: &Args) -> Result<(), Failure> {
    let inside = args
        .inside
        .as_ref()
        .ok_or(Failure(2, "--inside is required".into()))?;
    let mut go = String::new();
    io::stdin().lock().read_line(&mut go)?;
    let (mut acquired, mut released) = (0u32, 0u32);
    for _ in 0..args.iterations {
        let claim = match lock.acquire(&args.gid)? {
            AcquireOutcome::Acquired(claim) => claim,
            // Racers only ever write whole claims, so a conflict must name its holder (or say
            // the lock changed hands twice while we looked): any other `None` means a lock file
            // was visible before its claim was written.
            AcquireOutcome::Conflict(c)
                if c.holder.is_none() && c.detail != contended_detail(&c.lock_path) =>
            {
                return Err(Failure(
                    6,
                    format!("conflict without holder evidence: {}", c.detail),
                ))
            }
            AcquireOutcome::Conflict(_) => continue,
        };
        acquired += 1;
        match OpenOptions::new().write(true).create_new(true).open(inside) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(Failure(
                    3,
                    format!("two holders at once: {} existed", inside.display()),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        std::fs::remove_file(inside)?;
        match lock.release(&claim)? {
            ReleaseOutcome::Released => released += 1,
            other => return Err(Failure(4, format!("own release gave {other:?}"))),
        }
    }
    println!("acquired={acquired} released={released}");
    Ok(())
}

fn hold(lock: &Lock, args: &Args) -> Result<(), Failure> {
    let claim = match lock.acquire(&args.gid)? {
        AcquireOutcome::Acquired(c) => c,
        AcquireOutcome::Conflict(c) => return Err(Failure(5, c.detail)),
    };
    // The lock file's own line (with `startKey`), so the test can parse it as a holder.
    let line = entwurf_lock::claim_line(&claim).map_err(|e| Failure(1, e.to_string()))?;
    let mut out = io::stdout().lock();
    write!(out, "{line}")?;
    out.flush()?;
    let mut sink = Vec::new();
    io::stdin().lock().read_to_end(&mut sink)?;
    let outcome = lock.release(&claim)?;
    writeln!(out, "{outcome:?}")?;
    Ok(())
}

fn try_once(lock: &Lock, args: &Args) -> Result<(), Failure> {
    match lock.acquire(&args.gid)? {
        AcquireOutcome::Acquired(claim) => {
            println!("acquired {}", claim.nonce);
            lock.release(&claim)?;
            Ok(())
        }
        AcquireOutcome::Conflict(c) => Err(Failure(5, c.detail)),
    }
}
