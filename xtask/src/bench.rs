//! `cargo xtask bench`: how fast the substrate is, on this machine.
//!
//! Builds the measuring binary `entwurf-bench` (this package, `src/bin/entwurf-bench/`) and the
//! `entwurf` CLI in release, provisions the pinned pi (as `cargo xtask pi` does) for the real-pi
//! row, runs the measurements, and prints a table (or, with `--json`, one JSON object on stdout:
//! an [`xtask::report::Report`]). Nothing here asserts a figure: the targets column only says what
//! the numbers should show, against [`xtask::reference::REFERENCE`].
//!
//! ```text
//! cargo xtask bench [--json] [--control-socket PATH] [--with-live-gate] [--no-real-pi] [--quick]
//!                   [--only control_socket,breakdown,real_pi,mailbox,mcp,hook,lock,scaling] [--tmp DIR]
//!                   [--also-tmpfs DIR]
//! ```
//!
//! * `--control-socket PATH`: dispatch to an existing listener (garden id = the file stem; the
//!   bench writes the pi record for it in its own temp store) instead of its embedded one.
//! * `--with-live-gate`: also run `cargo xtask live-gate` and report its wall time per cell.
//!   Without it, the last run's `target/live-gate/junit.xml` is reported when present (marked
//!   as such).
//! * `--quick`: fewer samples (a smoke run; the figures are noisier).
//! * `--from-json FILE`: print the table of a report saved with `--json` (no measuring).
//!
//! One report type for both binaries: `entwurf-bench` writes an [`xtask::report::Measured`] and
//! this reads it back into an [`xtask::report::Report`] (the xtask crate's library; the JSON keys,
//! such as `control_socket_dispatch.p50_ms`, are its contract). The reference's figures and the
//! targets are one data table, [`xtask::reference`]; the table renders per section
//! (`bench/table.rs`, tested over `xtask/fixtures/bench/`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use xtask::reference::REFERENCE;
use xtask::report::{Cell, LiveGate, Machine, Measured, ReferenceCells, Report, Section};

use crate::pi;

mod table;

pub use table::render_table;

struct Flags {
    json: bool,
    /// Render a report saved with `--json` instead of measuring.
    from_json: Option<PathBuf>,
    with_live_gate: bool,
    real_pi: bool,
    passthrough: Vec<String>,
}

fn parse(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags {
        json: false,
        from_json: None,
        with_live_gate: false,
        real_pi: true,
        passthrough: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => f.json = true,
            "--with-live-gate" => f.with_live_gate = true,
            "--from-json" => {
                let v = it.next().ok_or("--from-json needs a file")?;
                f.from_json = Some(PathBuf::from(v));
            }
            "--no-real-pi" => f.real_pi = false,
            "--quick" => f.passthrough.extend(
                [
                    "--dispatches",
                    "500",
                    "--warmup",
                    "50",
                    "--lock-secs",
                    "1",
                    "--upserts-per-level",
                    "20",
                    "--peers-runs",
                    "5",
                ]
                .map(str::to_owned),
            ),
            "--control-socket"
            | "--only"
            | "--dispatches"
            | "--warmup"
            | "--lock-secs"
            | "--fill-budget-s"
            | "--upserts-per-level"
            | "--peers-runs"
            | "--tmp"
            | "--also-tmpfs"
            | "--hook-runs"
            | "--ref-checkout"
            | "--ref-node" => {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                f.passthrough.push(a.clone());
                f.passthrough.push(v.clone());
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown flag {other}\n{}", usage())),
        }
    }
    Ok(f)
}

fn usage() -> String {
    "usage: cargo xtask bench [--json] [--control-socket PATH] [--with-live-gate] [--no-real-pi] [--quick] [--only SECTIONS] [--tmp DIR] [--also-tmpfs DIR] [--hook-runs N] [--ref-checkout DIR --ref-node NODE]".to_owned()
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => root.join("target"),
    }
}

/// `cargo xtask bench …`.
pub fn run(root: &Path, args: &[String]) -> ExitCode {
    let flags = match parse(args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("xtask bench: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match &flags.from_json {
        Some(file) => std::fs::read(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))
            .and_then(|b| {
                serde_json::from_slice::<Report>(&b)
                    .map_err(|e| format!("{} is not a bench report: {e}", file.display()))
            }),
        None => bench(root, &flags),
    };
    match report {
        Ok(report) => {
            if flags.json {
                match serde_json::to_string(&report) {
                    Ok(line) => println!("{line}"),
                    Err(e) => {
                        eprintln!("xtask bench: cannot write the report as JSON: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", render_table(&report));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(root: &Path, flags: &Flags) -> Result<Report, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("xtask bench: building entwurf-bench and entwurf (release) ...");
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "--quiet"])
        .args(["-p", "xtask", "--bin", "entwurf-bench"])
        .args(["-p", "entwurf-cli", "--bin", "entwurf"])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --release failed ({status}); fix the build first"
        ));
    }
    let release = target_dir(root).join("release");
    let bench_bin = release.join("entwurf-bench");
    let entwurf_bin = release.join("entwurf");

    let mut cmd = Command::new(&bench_bin);
    cmd.arg("run").arg("--entwurf-bin").arg(&entwurf_bin);
    if !flags.real_pi {
        cmd.args(["--pi-skip", "--no-real-pi was given"]);
    } else {
        match pi::provision(root, &[pi::PiLine::DEFAULT]).and_then(|installs| {
            installs
                .into_iter()
                .next()
                .ok_or_else(|| "no pi line provisioned".to_owned())
        }) {
            Ok(install) => {
                cmd.arg("--pi-bin")
                    .arg(&install.pi_bin)
                    .arg("--pi-node-dir")
                    .arg(&install.node_bin_dir)
                    .arg("--pi-extension")
                    .arg(&install.extension);
            }
            Err(e) => {
                cmd.arg("--pi-skip")
                    .arg(format!("pi could not be provisioned: {e}"));
            }
        }
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        cmd.arg("--also-tmpfs").arg(shm);
    }
    cmd.args(&flags.passthrough);
    eprintln!("xtask bench: measuring (release) ...");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bench_bin.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", bench_bin.display(), out.status));
    }
    let measured: Measured = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{} printed no JSON object ({e}); stdout was: {}",
            bench_bin.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })?;

    Ok(Report {
        machine: machine(),
        build: "release".to_owned(),
        reference: REFERENCE,
        measured,
        live_gate: live_gate(root, flags.with_live_gate),
    })
}

/// Cores and CPU model (`/proc/cpuinfo`), kernel release.
fn machine() -> Machine {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    Machine {
        cores,
        cpu_model: field("model name").unwrap_or_else(|| "unknown".into()),
        cpu_mhz: field("cpu MHz"),
        kernel,
    }
}

/// Runs `cargo xtask live-gate ARGS…`: its command wall time and whether it passed.
fn run_live_gate(root: &Path, args: &[&str]) -> Result<(f64, bool), String> {
    eprintln!(
        "xtask bench: running cargo xtask live-gate {} ...",
        args.join(" ")
    );
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    let t = Instant::now();
    let status = Command::new(exe)
        .arg("live-gate")
        .args(args)
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run live-gate: {e}"))?;
    Ok((t.elapsed().as_secs_f64(), status.success()))
}

/// The reference's four cells (C1, C1b, C2, C3) alone, run concurrently: the figure that
/// compares with the reference's sequential run of the same four cells.
fn reference_cells(root: &Path, junit: &Path) -> Section<ReferenceCells> {
    // On the 0.80 line, the pi the reference was built against.
    let (wall, passed) = match run_live_gate(root, &["--cells", "reference", "--pi-line", "0.80"]) {
        Ok(run) => run,
        Err(reason) => return Section::failed(reason),
    };
    match std::fs::read_to_string(junit) {
        Err(e) => Section::failed(format!("{}: {e}", junit.display())),
        Ok(xml) => Section::Ok(ReferenceCells {
            passed,
            command_wall_s: round_ms(wall),
            cells_wall_s: junit_attr(&xml, "testsuites", "time"),
            cells: junit_cells(&xml),
        }),
    }
}

/// Seconds to the millisecond.
fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// Runs the live gate (when asked) and reads its JUnit for per-cell wall times.
fn live_gate(root: &Path, run_it: bool) -> Section<LiveGate> {
    let junit = target_dir(root).join("live-gate").join("junit.xml");
    let mut wall = None;
    let mut exit = None;
    let mut four = None;
    if run_it {
        // The four-cell run first, so junit.xml is the full gate's when the bench ends.
        four = Some(reference_cells(root, &junit));
        match run_live_gate(root, &[]) {
            Ok((w, ok)) => {
                wall = Some(round_ms(w));
                exit = Some(ok);
            }
            Err(reason) => return Section::failed(reason),
        }
    }
    let Ok(xml) = std::fs::read_to_string(&junit) else {
        return match wall {
            Some(wall) => Section::failed(format!(
                "the live gate ran ({wall} s) and wrote no {}",
                junit.display()
            )),
            None => Section::skipped("not run (pass --with-live-gate; it boots real pi residents)"),
        };
    };
    let cells = junit_cells(&xml);
    let sum: f64 = cells.iter().filter_map(|c| c.wall_s).sum();
    Section::Ok(LiveGate {
        source: if run_it {
            "this run".to_owned()
        } else {
            format!(
                "previous run ({}); pass --with-live-gate to re-run",
                junit.display()
            )
        },
        passed: exit,
        command_wall_s: wall,
        cells_wall_s: junit_attr(&xml, "testsuites", "time"),
        cells_sequential_sum_s: round_ms(sum),
        cells,
        reference_cells: four,
    })
}

/// Every `<testcase …>` of a JUnit file (ours, one line each): name, seconds, passed.
fn junit_cells(xml: &str) -> Vec<Cell> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<testcase ") {
        let tail = &rest[i..];
        let end = tail.find('>').unwrap_or(tail.len());
        let tag = &tail[..end];
        let name = attr(tag, "name").unwrap_or_default();
        let class = attr(tag, "classname").unwrap_or_default();
        let cell = if class.is_empty() {
            name
        } else {
            format!("{class}::{name}")
        };
        out.push(Cell {
            cell,
            wall_s: attr(tag, "time").and_then(|t| t.parse().ok()),
            passed: tag.ends_with('/'),
        });
        rest = &tail[end.min(tail.len())..];
    }
    out
}

fn junit_attr(xml: &str, tag: &str, name: &str) -> Option<f64> {
    let i = xml.find(&format!("<{tag} "))?;
    let t = &xml[i..];
    let end = t.find('>')?;
    attr(&t[..end], name)?.parse().ok()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let j = tag[i..].find('"')? + i;
    Some(
        tag[i..j]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_cells_reads_names_times_and_failures() {
        let xml = r#"<testsuites name="live-gate" tests="2" failures="1" errors="0" time="3.500">
  <testsuite name="s" tests="2" failures="1" errors="0" time="3.500">
    <testcase classname="s" name="a &amp; b" time="1.250"/>
    <testcase classname="s" name="c" time="3.500">
      <failure message="x">y</failure>
    </testcase>
  </testsuite>
</testsuites>"#;
        let cells = junit_cells(xml);
        assert_eq!(
            cells,
            vec![
                Cell {
                    cell: "s::a & b".to_owned(),
                    wall_s: Some(1.25),
                    passed: true
                },
                Cell {
                    cell: "s::c".to_owned(),
                    wall_s: Some(3.5),
                    passed: false
                },
            ]
        );
        assert_eq!(junit_attr(xml, "testsuites", "time"), Some(3.5));
    }
}
