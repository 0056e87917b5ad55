//! `cargo xtask faults`: the crash suite in its own fault build.
//!
//! Builds the `entwurf` binary and the crash suite (`crates/entwurf-cli/tests/faults.rs`) with
//! `--features fault-injection` into `target/faults` (so the seam never reaches the normal or
//! release builds), then runs every scenario (`ENTWURF_FAULTS_FULL=1`: the basic ones that
//! `cargo test` runs too, plus empty stores and stores large enough to keep index caches)
//! under every kill point. Prints the kill points per operation and the violations; exits
//! non-zero on any violation or build failure.
//!
//! Then the dispatch lock's own suite (`crates/entwurf-lock/tests/faults.rs`: acquire, reclaim,
//! reclaim under an abandoned marker, release and clear, each killed at every point) in the same
//! fault build.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

pub fn run(root: &Path, args: &[String]) -> ExitCode {
    if let Some(a) = args.first() {
        eprintln!("cargo xtask faults: unknown argument {a:?} (it takes none)");
        return ExitCode::from(2);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = match Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "-p",
            "entwurf-cli",
            "--features",
            "fault-injection",
            "--target-dir",
            "target/faults",
            "--test",
            "faults",
            "--",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ENTWURF_FAULTS_FULL", "1")
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cargo xtask faults: cannot run cargo: {e}");
            return ExitCode::from(1);
        }
    };
    let mut summary = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // With --nocapture the first line shares its line with the harness's `test … `.
            if let Some(rest) = line.find("faults: ").map(|i| &line[i + "faults: ".len()..]) {
                println!("{rest}");
                if rest.starts_with("total kill points") {
                    summary = Some(rest.to_owned());
                }
            } else if line.starts_with("test result") || line.contains("panicked") {
                println!("{line}");
            }
        }
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    let lock_ok = run_lock_suite(root);
    match (ok && lock_ok, summary) {
        (true, Some(s)) => {
            println!("cargo xtask faults: PASS ({s})");
            ExitCode::SUCCESS
        }
        (_, s) => {
            println!(
                "cargo xtask faults: FAIL ({})",
                s.unwrap_or_else(|| "the suite did not finish".into())
            );
            ExitCode::from(1)
        }
    }
}

/// The lock's crash suite (`entwurf-lock`'s `tests/faults.rs`) in the fault build: prints its
/// kill points per scenario; `false` on any violation or failure.
fn run_lock_suite(root: &Path) -> bool {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "-p",
            "entwurf-lock",
            "--target-dir",
            "target/faults",
            "--test",
            "faults",
            "--",
            "--nocapture",
        ])
        .output();
    let Ok(out) = out else {
        println!("lock: cannot run cargo");
        return false;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(rest) = line.strip_prefix("lock faults: ") {
            println!("lock {rest}");
        } else if line.starts_with("test result") || line.contains("panicked") {
            println!("lock: {line}");
        }
    }
    out.status.success()
}
