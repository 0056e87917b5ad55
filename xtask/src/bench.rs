//! `cargo xtask bench`: how fast the substrate is, on this machine.
//!
//! Builds the measuring binary `entwurf-bench` (this package, `src/bin/entwurf-bench/`) and the
//! `entwurf` CLI in release, provisions the pinned pi (as `cargo xtask pi` does) for the real-pi
//! row, runs the measurements, and prints a table (or, with `--json`, one JSON object on stdout).
//! Nothing here asserts a figure: the targets column only says what the numbers should show.
//!
//! ```text
//! cargo xtask bench [--json] [--control-socket PATH] [--with-live-gate] [--no-real-pi] [--quick]
//!                   [--only control_socket,breakdown,real_pi,mailbox,mcp,lock,scaling] [--tmp DIR]
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

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::pi;

/// The reference (TypeScript on Node 22) figures the issue gives for these machines.
fn reference_figures() -> Value {
    json!({
        "source": "issue 8 (reference measured on these 2-core machines)",
        "control_socket_dispatch_p50_ms": 0.45,
        "mailbox_dispatch_p50_ms": 0.6,
        "real_pi_extra_per_send_ms": 1.0,
        "real_pi_boot_s": "0.8-1.2",
        "upsert_at_1000_records_ms": 13.0,
        "fill_10000_records_s": "> 300",
    })
}

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
            | "--also-tmpfs" => {
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
    "usage: cargo xtask bench [--json] [--control-socket PATH] [--with-live-gate] [--no-real-pi] [--quick] [--only SECTIONS] [--tmp DIR] [--also-tmpfs DIR]".to_owned()
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
                serde_json::from_slice::<Value>(&b)
                    .map_err(|e| format!("{} is not a bench report: {e}", file.display()))
            }),
        None => bench(root, &flags),
    };
    match report {
        Ok(report) => {
            if flags.json {
                println!("{report}");
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

fn bench(root: &Path, flags: &Flags) -> Result<Value, String> {
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
    let measured: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{} printed no JSON object ({e}); stdout was: {}",
            bench_bin.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })?;

    let mut report = Map::new();
    report.insert("machine".into(), machine());
    report.insert("build".into(), json!("release"));
    report.insert("reference".into(), reference_figures());
    if let Value::Object(m) = measured {
        report.extend(m);
    }
    report.insert("live_gate".into(), live_gate(root, flags.with_live_gate));
    Ok(Value::Object(report))
}

/// Cores and CPU model (`/proc/cpuinfo`), kernel release.
fn machine() -> Value {
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
    json!({
        "cores": cores,
        "cpu_model": field("model name").unwrap_or_else(|| "unknown".into()),
        "cpu_mhz": field("cpu MHz"),
        "kernel": kernel,
    })
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
fn reference_cells(root: &Path, junit: &Path) -> Value {
    // On the 0.80 line, the pi the reference was built against.
    match run_live_gate(root, &["--cells", "reference", "--pi-line", "0.80"]) {
        Err(reason) => json!({"status": "failed", "reason": reason}),
        Ok((wall, passed)) => match std::fs::read_to_string(junit) {
            Err(e) => json!({"status": "failed", "reason": format!("{}: {e}", junit.display())}),
            Ok(xml) => json!({
                "status": "ok",
                "passed": passed,
                "command_wall_s": (wall * 1000.0).round() / 1000.0,
                "cells_wall_s": junit_attr(&xml, "testsuites", "time"),
                "cells": junit_cells(&xml).iter().map(|(n, t, ok)| json!({"cell": n, "wall_s": t, "passed": ok})).collect::<Vec<_>>(),
            }),
        },
    }
}

/// Runs the live gate (when asked) and reads its JUnit for per-cell wall times.
fn live_gate(root: &Path, run_it: bool) -> Value {
    let junit = target_dir(root).join("live-gate").join("junit.xml");
    let mut wall = None;
    let mut exit = None;
    let mut four = Value::Null;
    if run_it {
        // The four-cell run first, so junit.xml is the full gate's when the bench ends.
        four = reference_cells(root, &junit);
        match run_live_gate(root, &[]) {
            Ok((w, ok)) => {
                wall = Some(w);
                exit = Some(ok);
            }
            Err(reason) => return json!({"status": "failed", "reason": reason}),
        }
    }
    let Ok(xml) = std::fs::read_to_string(&junit) else {
        let reason = if run_it {
            format!("the live gate wrote no {}", junit.display())
        } else {
            "not run (pass --with-live-gate; it boots real pi residents)".to_owned()
        };
        return json!({"status": "skipped", "reason": reason, "command_wall_s": wall});
    };
    let cells = junit_cells(&xml);
    let sum: f64 = cells.iter().map(|c| c.1).sum();
    let total = junit_attr(&xml, "testsuites", "time");
    json!({
        "status": "ok",
        "source": if run_it { "this run".to_owned() } else { format!("previous run ({}); pass --with-live-gate to re-run", junit.display()) },
        "passed": exit,
        "command_wall_s": wall.map(|w| (w * 1000.0).round() / 1000.0),
        "cells_wall_s": total,
        "cells_sequential_sum_s": (sum * 1000.0).round() / 1000.0,
        "cells": cells.iter().map(|(n, t, ok)| json!({"cell": n, "wall_s": t, "passed": ok})).collect::<Vec<_>>(),
        "reference_cells": four,
    })
}

/// `(name, seconds, passed)` of every `<testcase …>` in a JUnit file (ours, one line each).
fn junit_cells(xml: &str) -> Vec<(String, f64, bool)> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<testcase ") {
        let tail = &rest[i..];
        let end = tail.find('>').unwrap_or(tail.len());
        let tag = &tail[..end];
        let name = attr(tag, "name").unwrap_or_default();
        let class = attr(tag, "classname").unwrap_or_default();
        let time = attr(tag, "time")
            .and_then(|t| t.parse().ok())
            .unwrap_or(f64::NAN);
        let passed = tag.ends_with('/');
        let full = if class.is_empty() {
            name
        } else {
            format!("{class}::{name}")
        };
        out.push((full, time, passed));
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

// ---------------------------------------------------------------------------------------------
// The table.

struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn section(&mut self, title: &str) {
        self.rows.push([
            format!("== {title}"),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    fn row(&mut self, what: impl Into<String>, value: String, unit: &str, target: &str) {
        self.rows.push([
            format!("  {}", what.into()),
            value,
            unit.to_owned(),
            target.to_owned(),
        ]);
    }
    fn render(&self) -> String {
        let mut w = [0usize; 4];
        for r in &self.rows {
            if r[0].starts_with("==") {
                continue;
            }
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let mut s = String::new();
        for r in &self.rows {
            if r[0].starts_with("==") {
                s.push_str(&r[0]);
                s.push('\n');
                continue;
            }
            let pad = |c: &str, n: usize| {
                format!("{c}{}", " ".repeat(n.saturating_sub(c.chars().count())))
            };
            let line = format!(
                "{}  {:>vw$}  {}  {}",
                pad(&r[0], w[0]),
                r[1],
                pad(&r[2], w[2]),
                r[3],
                vw = w[1]
            );
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    }
}

fn num(v: &Value) -> String {
    if let Some(i) = v.as_i64() {
        return i.to_string();
    }
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) if x.abs() >= 1000.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.4}"),
        None => match v {
            Value::Null => "-".to_owned(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    }
}

/// The `entwurf mcp` rows: ready (start → tools/list answered) and an `entwurf_v2` call, ours
/// and the reference bridge's when it was measured, with the ratio the targets are set on.
fn mcp_rows(t: &mut Table, v: &Value) {
    let ours = &v["ours"];
    let refv = &v["reference"];
    let ratio = |key: &str| -> String {
        match (ours[key]["p50_ms"].as_f64(), refv[key]["p50_ms"].as_f64()) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.3} x ref (ref p50 {b} ms)", a / b),
            _ => "ref not measured".to_owned(),
        }
    };
    t.section("3c. entwurf mcp: process start to tools/list answered");
    if status_row(t, ours) {
        let r = &ours["ready_to_tools_list"];
        t.row(
            "p50",
            num(&r["p50_ms"]),
            "ms",
            &format!("<= 0.05 x ref; {}", ratio("ready_to_tools_list")),
        );
        t.row("p90", num(&r["p90_ms"]), "ms", "");
        t.row("samples", num(&r["n"]), "starts", "");
    }
    t.section("3d. entwurf mcp: entwurf_v2 call round trip to an armed mailbox citizen");
    if status_row(t, ours) {
        let r = &ours["v2_call_mailbox"];
        t.row(
            "p50",
            num(&r["p50_ms"]),
            "ms/call",
            &format!("<= 0.2 x ref; {}", ratio("v2_call_mailbox")),
        );
        t.row("p99", num(&r["p99_ms"]), "ms/call", "");
        t.row(
            "samples (after warm-up)",
            format!("{} (+{})", num(&r["n"]), num(&ours["warmup"])),
            "calls",
            "",
        );
    }
    if refv.get("status").and_then(Value::as_str) == Some("ok") {
        t.section("3e. the reference's MCP bridge, same driver");
        t.row(
            "ready p50",
            num(&refv["ready_to_tools_list"]["p50_ms"]),
            "ms",
            "",
        );
        t.row(
            "entwurf_v2 call p50",
            num(&refv["v2_call_mailbox"]["p50_ms"]),
            "ms/call",
            "",
        );
    }
}

/// `false` (and a skipped/failed row) when the section did not run.
fn status_row(t: &mut Table, v: &Value) -> bool {
    match v.get("status").and_then(Value::as_str) {
        Some("ok") => true,
        Some(status) => {
            let reason = v.get("reason").and_then(Value::as_str).unwrap_or("");
            t.row(status.to_uppercase(), String::new(), "", reason);
            false
        }
        None => {
            t.row("NOT RUN", String::new(), "", "");
            false
        }
    }
}

fn latency_rows(t: &mut Table, v: &Value, p50_target: &str, p99_target: &str) {
    if !status_row(t, v) {
        return;
    }
    t.row("p50", num(&v["p50_ms"]), "ms/dispatch", p50_target);
    t.row("p90", num(&v["p90_ms"]), "ms/dispatch", "");
    t.row("p99", num(&v["p99_ms"]), "ms/dispatch", p99_target);
    t.row("mean", num(&v["mean_ms"]), "ms/dispatch", "");
    t.row("max", num(&v["max_ms"]), "ms/dispatch", "");
    t.row(
        "samples (after warm-up)",
        format!("{} (+{})", num(&v["n"]), num(&v["warmup"])),
        "dispatches",
        "",
    );
}

/// The bare-client floor measured against the same listener, and the dispatch's own cost over it.
fn floor_rows(t: &mut Table, v: &Value, overhead_target: &str) {
    let (Some(p50), Some(floor)) = (v["p50_ms"].as_f64(), v["floor"]["p50_ms"].as_f64()) else {
        return;
    };
    t.row(
        "floor p50: bare client, same listener",
        num(&json!(floor)),
        "ms/round trip",
        "connect, request line, reply line, close",
    );
    t.row(
        "overhead p50: p50 - floor p50",
        num(&json!(stats_round(p50 - floor))),
        "ms/dispatch",
        overhead_target,
    );
}

fn stats_round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn render_table(r: &Value) -> String {
    let mut t = Table { rows: Vec::new() };
    let m = &r["machine"];
    let mut s = format!(
        "entwurf-rs bench (release) on {} core(s), {} ({} MHz), kernel {}\n",
        num(&m["cores"]),
        m["cpu_model"].as_str().unwrap_or("?"),
        num(&m["cpu_mhz"]),
        m["kernel"].as_str().unwrap_or("?")
    );
    s.push_str("\"ref here\": medians of the reference measured side by side on this machine kind\n(bench/reference, Node 22, 4 interleaved rounds on 2026-11-25); re-measure for another machine\n\n");

    if let Some(v) = r.get("control_socket_dispatch") {
        t.section("1. control-socket dispatch (production path) vs instant-reply listener");
        latency_rows(&mut t, v, "<= 0.2 x ref (ref here 0.72)", "< 1");
        floor_rows(&mut t, v, "");
        if let Some(l) = v.get("listener").and_then(Value::as_str) {
            t.row("listener", String::new(), "", l);
        }
    }
    if let Some(v) = r.get("control_socket_dispatch_cross_process") {
        t.section("1c. the same, the listener in a separate process (as pi is)");
        latency_rows(&mut t, v, "<= 0.2 x ref (ref here 1.03)", "< 1");
        floor_rows(
            &mut t,
            v,
            "<= 0.2 x ref's (ref here 1.03 - 0.32 node floor = 0.71)",
        );
    }
    if let Some(v) = r.get("dispatch_breakdown") {
        t.section("   where the time goes (each step alone, p50)");
        if status_row(&mut t, v) {
            for (path, title) in [("control_socket", "control"), ("meta_mailbox", "mailbox")] {
                if let Some(o) = v[path].as_object() {
                    for (k, x) in o {
                        t.row(format!("{title}: {k}"), num(x), "ms", "");
                    }
                }
            }
        }
    }
    if let Some(v) = r.get("control_socket_dispatch_tmpfs") {
        t.section("1b. the same, every store on tmpfs (/dev/shm): no disk-filesystem costs");
        latency_rows(&mut t, v, "<= 0.2 x ref (ref here 0.71)", "< 1");
        floor_rows(&mut t, v, "");
    }
    if let Some(v) = r.get("control_socket_dispatch_cross_process_tmpfs") {
        t.section("1d. tmpfs, the listener in a separate process");
        latency_rows(&mut t, v, "<= 0.2 x ref (ref here 0.84)", "< 1");
        floor_rows(
            &mut t,
            v,
            "<= 0.2 x ref's (ref here 0.84 - 0.27 node floor = 0.57)",
        );
    }
    if let Some(v) = r.get("real_pi_dispatch") {
        t.section("2. control-socket dispatch vs a real pi resident");
        latency_rows(&mut t, v, "ref: ~1 ms of pi's own per send", "");
        if v.get("status").and_then(Value::as_str) == Some("ok") {
            t.row(
                "pi boot to connectable socket",
                num(&v["boot_to_socket_ms"]),
                "ms",
                "ref: 800-1200",
            );
        }
    }
    if let Some(v) = r.get("mailbox_dispatch") {
        t.section("3. meta-mailbox dispatch to an armed claude-code citizen");
        latency_rows(&mut t, v, "<= 0.2 x ref (ref here 2.25)", "");
    }
    if let Some(v) = r.get("mailbox_dispatch_tmpfs") {
        t.section("3b. the same, every store on tmpfs (/dev/shm)");
        latency_rows(&mut t, v, "<= 0.2 x ref (ref here 0.56)", "");
    }
    if let Some(v) = r.get("mcp") {
        mcp_rows(&mut t, v);
    }
    if let Some(v) = r.get("lock") {
        t.section("4. lock acquire + release");
        if status_row(&mut t, v) {
            t.row(
                "1 process",
                num(&v["single_process_pairs_per_s"]),
                "pairs/s",
                "",
            );
            t.row(
                format!("{} processes, one gid", num(&v["processes"])),
                num(&v["multi_process_pairs_per_s"]),
                "pairs/s",
                "",
            );
            t.row(
                format!(
                    "{} processes: target-locked conflicts",
                    num(&v["processes"])
                ),
                num(&v["multi_process_conflicts_per_s"]),
                "conflicts/s",
                "",
            );
        }
    }
    if let Some(v) = r.get("scaling") {
        t.section("5. store scaling (upsert in-process; `entwurf peers` = CLI process wall time)");
        if status_row(&mut t, v) {
            for lvl in v["levels"].as_array().into_iter().flatten() {
                let n = num(&lvl["records"]);
                t.row(
                    format!("upsert create @ {n} records, p50"),
                    num(&lvl["upsert_create"]["p50_ms"]),
                    "ms",
                    "< 50, linear",
                );
                t.row(
                    format!("upsert create @ {n} records, p99"),
                    num(&lvl["upsert_create"]["p99_ms"]),
                    "ms",
                    "",
                );
                t.row(
                    format!("upsert attach @ {n} records, p50"),
                    num(&lvl["upsert_attach"]["p50_ms"]),
                    "ms",
                    "< 50, linear",
                );
                t.row(
                    format!("upsert attach @ {n} records, p99"),
                    num(&lvl["upsert_attach"]["p99_ms"]),
                    "ms",
                    "",
                );
                let p = &lvl["peers"];
                if p["status"] == "ok" {
                    t.row(
                        format!("entwurf peers @ {n} records (settled store), p50"),
                        num(&p["wall"]["p50_ms"]),
                        "ms (process)",
                        "< 50, linear",
                    );
                    t.row(
                        format!("entwurf peers @ {n} records (settled store), p99"),
                        num(&p["wall"]["p99_ms"]),
                        "ms (process)",
                        "",
                    );
                    let pf = &lvl["peers_cold"];
                    if pf["status"] == "ok" {
                        t.row(
                            format!("entwurf peers @ {n} records, no listing cache, p50"),
                            num(&pf["wall"]["p50_ms"]),
                            "ms (process)",
                            "",
                        );
                    }
                    t.row(
                        "  (process exec floor: entwurf --version)",
                        num(&p["process_floor_p50_ms"]),
                        "ms",
                        "",
                    );
                } else {
                    t.row(
                        format!("entwurf peers @ {n} records"),
                        "skipped".into(),
                        "",
                        p["reason"].as_str().unwrap_or(""),
                    );
                }
                t.row(
                    format!("  of which list_records (in-process) @ {n}, p50"),
                    num(&lvl["list_records"]["p50_ms"]),
                    "ms",
                    "",
                );
                t.row(
                    format!("  list_records @ {n}, no listing cache, p50"),
                    num(&lvl["list_records_cold"]["p50_ms"]),
                    "ms",
                    "",
                );
                let ps = &lvl["peers_with_sockets"];
                if ps["status"] == "ok" {
                    t.row(
                        format!(
                            "entwurf peers @ {n} records + {} socket files, p50",
                            num(&ps["socket_files"])
                        ),
                        num(&ps["wall"]["p50_ms"]),
                        "ms (process)",
                        "",
                    );
                }
            }
            let h = &v["fill_record_store"];
            if h["status"] == "ok" {
                t.row(
                    format!(
                        "fill a store to {} records via one RecordStore handle",
                        num(&h["records"])
                    ),
                    num(&h["seconds"]),
                    "s",
                    "seconds (ref > 300)",
                );
                t.row(
                    "  mean per upsert (incl. the final syncfs)",
                    num(&h["per_upsert_mean_ms"]),
                    "ms",
                    "",
                );
            }
            let f = &v["fill"];
            t.row(
                format!(
                    "fill a store to {} records by one-shot upserts",
                    num(&f["records"])
                ),
                num(&f["upserts_s"]),
                "s",
                "ref > 300",
            );
            t.row(
                "  mean per upsert during the fill",
                num(&f["per_upsert_mean_ms"]),
                "ms",
                "",
            );
            if let Some(note) = f["note"].as_str() {
                t.row("  note", String::new(), "", note);
            }
        }
    }
    if let Some(v) = r.get("live_gate") {
        t.section("6. live gate wall time");
        if status_row(&mut t, v) {
            if let Some(src) = v["source"].as_str() {
                t.row("source", String::new(), "", src);
            }
            if !v["command_wall_s"].is_null() {
                t.row(
                    "cargo xtask live-gate (command)",
                    num(&v["command_wall_s"]),
                    "s",
                    "< 0.5 x ref sequential",
                );
            }
            t.row(
                "cells, concurrent (JUnit total)",
                num(&v["cells_wall_s"]),
                "s",
                "floor: one pi boot",
            );
            t.row(
                "cells, sum if run one after another",
                num(&v["cells_sequential_sum_s"]),
                "s",
                "",
            );
            for c in v["cells"].as_array().into_iter().flatten() {
                let ok = if c["passed"] == true { "" } else { "FAILED" };
                let name = c["cell"].as_str().unwrap_or("?");
                let short = name.rsplit("::").next().unwrap_or(name);
                t.row(format!("cell {short}"), num(&c["wall_s"]), "s", ok);
            }
            let four = &v["reference_cells"];
            if four["status"] == "ok" {
                let ok = if four["passed"] == true { "" } else { "FAILED" };
                t.row(
                    "the reference's four cells (C1 C1b C2 C3) alone, concurrent",
                    num(&four["cells_wall_s"]),
                    "s",
                    &format!("< 0.5 x ref sequential {ok}"),
                );
                t.row(
                    "  same, whole command (provisioning check, build, cells)",
                    num(&four["command_wall_s"]),
                    "s",
                    "",
                );
            }
        }
    }
    s.push_str(&t.render());
    s
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
                ("s::a & b".to_owned(), 1.25, true),
                ("s::c".to_owned(), 3.5, false)
            ]
        );
        assert_eq!(junit_attr(xml, "testsuites", "time"), Some(3.5));
    }

    #[test]
    fn table_marks_skipped_sections_with_their_reason() {
        let report = json!({
            "machine": {"cores": 2, "cpu_model": "X", "cpu_mhz": "1", "kernel": "k"},
            "real_pi_dispatch": {"status": "skipped", "reason": "no pi"},
        });
        let text = render_table(&report);
        assert!(text.contains("SKIPPED"));
        assert!(text.contains("no pi"));
    }
}
