//! `cargo xtask fuzz [--seconds N] [--targets a,b,…]`: runs every cargo-fuzz target of `fuzz/`
//! for N seconds (default 60) each, seeded from `fixtures/golden`, and prints executions and
//! crashes per target. Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) when missing and
//! uses the nightly toolchain (installing a minimal one when none is there). Not part of CI.
//!
//! The corpus grows in `target/fuzz/corpus/<target>` across runs; seeds are copied to
//! `target/fuzz/seeds/<target>`; crashes land in `fuzz/artifacts/<target>/` (libFuzzer's
//! default). Exit status 1 when any target crashed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// Each target and the golden sub-directories its seeds come from (every file under them).
const TARGETS: &[(&str, &[&str])] = &[
    ("lock_file", &["locks"]),
    ("record", &["records"]),
    ("state_json", &["mailbox", "records"]),
    ("markers", &["markers"]),
    ("mailbox_body", &["mailbox/bodies", "mailbox"]),
    ("rpc_line", &["rpc"]),
];

struct Opts {
    seconds: u64,
    targets: Vec<String>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut opts = Opts {
        seconds: 60,
        targets: TARGETS.iter().map(|(t, _)| (*t).to_owned()).collect(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => {
                opts.seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds: not a number: {value}"))?
            }
            "--targets" => {
                opts.targets = value.split(',').map(str::to_owned).collect();
                if let Some(bad) = opts
                    .targets
                    .iter()
                    .find(|t| !TARGETS.iter().any(|(n, _)| n == t))
                {
                    return Err(format!("unknown target {bad}"));
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(opts)
}

pub fn run(root: &Path, args: &[String]) -> ExitCode {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("xtask fuzz: {e}\nusage: cargo xtask fuzz [--seconds N] [--targets a,b]");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = ensure_cargo_fuzz().and_then(|()| ensure_nightly()) {
        eprintln!("xtask fuzz: {e}");
        return ExitCode::FAILURE;
    }
    let work = root.join("target").join("fuzz");
    let mut rows = Vec::new();
    for target in &opts.targets {
        let seeds = match seed(root, &work, target) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("xtask fuzz: seeding {target}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let corpus = work.join("corpus").join(target);
        if let Err(e) = fs::create_dir_all(&corpus) {
            eprintln!("xtask fuzz: {}: {e}", corpus.display());
            return ExitCode::FAILURE;
        }
        eprintln!("xtask fuzz: {target} for {} s …", opts.seconds);
        rows.push(run_target(root, target, &corpus, &seeds, opts.seconds));
    }
    println!(
        "\n{:<14} {:>14} {:>10} {:>8}",
        "target", "executions", "exec/s", "crashes"
    );
    let mut crashed = false;
    for r in &rows {
        println!(
            "{:<14} {:>14} {:>10} {:>8}",
            r.target,
            r.execs.map_or("?".into(), |e| e.to_string()),
            r.rate.map_or("?".into(), |e| e.to_string()),
            r.crashes
        );
        crashed |= r.crashes > 0;
        if let Some(note) = &r.note {
            println!("  {}: {note}", r.target);
        }
    }
    if crashed {
        println!("crashes: see fuzz/artifacts/<target>/ (reproduce: cargo +nightly fuzz run <target> --fuzz-dir fuzz <file>)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

struct Row {
    target: String,
    execs: Option<u64>,
    rate: Option<u64>,
    crashes: u32,
    note: Option<String>,
}

fn run_target(root: &Path, target: &str, corpus: &Path, seeds: &Path, seconds: u64) -> Row {
    let out = Command::new("cargo")
        .current_dir(root)
        .args([
            "+nightly",
            "fuzz",
            "run",
            target,
            "--fuzz-dir",
            "fuzz",
            "-s",
            "none",
        ])
        .arg(corpus)
        .arg(seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(["-print_final_stats=1", "-timeout=10", "-rss_limit_mb=2048"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return Row {
                target: target.to_owned(),
                execs: None,
                rate: None,
                crashes: 1,
                note: Some(format!("cannot run cargo fuzz: {e}")),
            }
        }
    };
    let log = String::from_utf8_lossy(&out.stderr);
    let stat = |name: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let crashed = !out.status.success();
    let note = crashed.then(|| {
        let tail: Vec<&str> = log.lines().rev().take(25).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    });
    Row {
        target: target.to_owned(),
        execs: stat("number_of_executed_units"),
        rate: stat("average_exec_per_sec"),
        crashes: u32::from(crashed),
        note,
    }
}

/// Copies every golden file under the target's sub-directories into `work/seeds/<target>`.
fn seed(root: &Path, work: &Path, target: &str) -> Result<PathBuf, String> {
    let dirs = TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .map(|(_, d)| *d)
        .unwrap_or_default();
    let out = work.join("seeds").join(target);
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let golden = root.join("fixtures").join("golden");
    let mut n = 0usize;
    for d in dirs {
        let mut stack = vec![golden.join(d)];
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for e in entries.flatten() {
                let p = e.path();
                let ft = e.file_type().map_err(|e| format!("{}: {e}", p.display()))?;
                if ft.is_dir() {
                    stack.push(p);
                } else if ft.is_file() {
                    n += 1;
                    let name = format!("{n:04}-{}", e.file_name().to_string_lossy());
                    fs::copy(&p, out.join(name)).map_err(|e| format!("{}: {e}", p.display()))?;
                }
            }
        }
    }
    Ok(out)
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return Ok(());
    }
    eprintln!("xtask fuzz: cargo-fuzz missing: cargo install cargo-fuzz --locked");
    let ok = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(())
        .ok_or_else(|| "cargo install cargo-fuzz failed".to_owned())
}

fn ensure_nightly() -> Result<(), String> {
    let list = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map_err(|e| format!("rustup not found ({e}); cargo-fuzz needs a nightly toolchain"))?;
    if String::from_utf8_lossy(&list.stdout)
        .lines()
        .any(|l| l.starts_with("nightly"))
    {
        return Ok(());
    }
    eprintln!(
        "xtask fuzz: no nightly toolchain: rustup toolchain install nightly --profile minimal"
    );
    let ok = Command::new("rustup")
        .args(["toolchain", "install", "nightly", "--profile", "minimal"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(()).ok_or_else(|| {
        "no nightly toolchain and `rustup toolchain install nightly` failed; fuzzing needs nightly"
            .to_owned()
    })
}
