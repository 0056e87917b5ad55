//! `cargo xtask live-gate`: the release gate against a real pi.
//!
//! Provisions the pinned pi lines (the same code as `cargo xtask pi`; default both, 0.80 and
//! 1.x, `--pi-line` picks one), builds the live test binaries, runs every ignored live cell on
//! every line as its own process — both lines' cells in one pool, a few at a time — prints one
//! line per cell and line, a summary per line, writes `target/live-gate/junit.xml` (the line is
//! in every test name), and exits non-zero when any cell fails or none is found.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use crate::pi::{self, PiLine};

/// A test binary and the package / target it came from.
struct Suite {
    /// `<package>::<target>`, used as the JUnit suite name and the cell prefix.
    name: String,
    exe: PathBuf,
}

/// One ignored live test on one pi line, run as its own process.
struct Cell {
    line: PiLine,
    suite: String,
    exe: PathBuf,
    test: String,
}

struct Outcome {
    cell: Cell,
    passed: bool,
    seconds: f64,
    /// When the cell started and ended, in seconds since the cells began.
    span: (f64, f64),
    log: PathBuf,
    failure: String,
}

/// Which live suites the gate runs: `(package, cargo test selector args)`.
const SUITES: &[(&str, &[&str])] = &[
    ("entwurf-harness", &["--test", "matrix_live"]),
    // The control-rpc crate's live tests, if it has any (found by listing `--ignored`).
    ("entwurf-control-rpc", &["--tests"]),
    // `entwurf send` end to end against a real pi, through the binary.
    ("entwurf-cli", &["--test", "cli_send"]),
    // `entwurf mcp` driven by the MCP TypeScript SDK on the pinned Node.
    ("entwurf-cli", &["--test", "cli_mcp"]),
];

/// The gate's options.
#[derive(Debug, PartialEq, Eq)]
struct Opts {
    /// Cells run at once.
    jobs: usize,
    /// Run only cells whose `suite::test` name contains one of these (empty: every cell).
    cells: Vec<String>,
    /// The pi lines to run every cell on.
    lines: Vec<PiLine>,
}

/// The four cells the reference's own live gate has (C1, C1b, C2, C3): `--cells reference`.
pub const REFERENCE_CELLS: &[&str] = &[
    "matrix_live::c1_control_socket",
    "matrix_live::c1b_socket_only",
    "matrix_live::c2_meta_mailbox_deliverable",
    "matrix_live::c3_meta_mailbox_guard",
];

/// `cargo xtask live-gate [--jobs N] [--cells NAME[,NAME…]|reference]`. `N` cells run at once
/// (default: twice the CPU count, at least 2); a pi boot is CPU-bound, so more only slows every
/// boot down. `--cells` keeps the cells whose name contains one of the given parts;
/// `--cells reference` keeps the four cells of the reference's own live gate.
pub fn run(root: &Path, args: &[String]) -> ExitCode {
    let opts = match parse_opts(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("xtask live-gate: {e}");
            return ExitCode::from(2);
        }
    };
    match gate(root, &opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask live-gate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut opts = Opts {
        jobs: std::thread::available_parallelism()
            .map(|n| n.get() * 2)
            .unwrap_or(2)
            .max(2),
        cells: Vec::new(),
        lines: PiLine::ALL.to_vec(),
    };
    let usage = "usage: cargo xtask live-gate [--jobs N] [--cells NAME[,NAME…]|reference] [--pi-line 0.80|1.x|all]";
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next();
        match (flag.as_str(), value) {
            ("--jobs", Some(n)) => {
                opts.jobs = n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--jobs wants a positive number, got {n:?}"))?;
            }
            ("--pi-line", Some(value)) => {
                opts.lines = pi::parse_lines(value).map_err(|e| format!("{e}; {usage}"))?;
            }
            ("--cells", Some(list)) if list == "reference" => {
                opts.cells = REFERENCE_CELLS.iter().map(|c| (*c).to_owned()).collect();
            }
            ("--cells", Some(list)) => {
                opts.cells = list
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect();
                if opts.cells.is_empty() {
                    return Err(format!("--cells wants cell names; {usage}"));
                }
            }
            _ => return Err(format!("unexpected arguments {args:?}; {usage}")),
        }
    }
    Ok(opts)
}

/// Does the `--cells` selection keep this cell?
fn selected(cells: &[String], suite: &str, test: &str) -> bool {
    let name = format!("{suite}::{test}");
    cells.is_empty() || cells.iter().any(|c| name.contains(c.as_str()))
}

fn gate(root: &Path, opts: &Opts) -> Result<bool, String> {
    let jobs = opts.jobs;
    let wall = Instant::now();
    let installs = pi::provision(root, &opts.lines)?;
    for install in &installs {
        println!(
            "live-gate: pi {} (line {}) at {} (extension {})",
            install.version,
            install.line,
            install.pi_bin.display(),
            install.extension.display()
        );
    }

    // The MCP TypeScript SDK runs on the first line's pinned Node.
    let node_dir = installs
        .first()
        .map(|i| i.node_bin_dir.clone())
        .ok_or("no pi line was provisioned")?;
    let mcp_sdk = crate::mcp_sdk::provision(root, &node_dir)?;
    println!("live-gate: MCP TypeScript SDK at {}", mcp_sdk.display());

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The contention cell drives real `entwurf send --json` processes.
    run_cargo(
        &cargo,
        root,
        &["build", "--quiet", "-p", "entwurf-cli", "--bin", "entwurf"],
    )?;
    let target_dir = target_dir(root);
    let entwurf_bin = target_dir.join("debug/entwurf");

    let mut tests = Vec::new();
    for (package, selector) in SUITES {
        for suite in build_suites(&cargo, root, package, selector)? {
            for test in list_ignored(&suite.exe)? {
                if selected(&opts.cells, &suite.name, &test) {
                    tests.push((suite.name.clone(), suite.exe.clone(), test));
                }
            }
        }
    }
    // Line by line, oldest first: 0.80's slower boots start first, 1.x's fill in behind them.
    let mut cells = Vec::new();
    for install in &installs {
        for (suite, exe, test) in &tests {
            cells.push(Cell {
                line: install.line,
                suite: suite.clone(),
                exe: exe.clone(),
                test: test.clone(),
            });
        }
    }
    if cells.is_empty() {
        return Err(if opts.cells.is_empty() {
            "no live cells found (no ignored tests in the live suites)".into()
        } else {
            format!("no live cell matches --cells {}", opts.cells.join(","))
        });
    }

    let out_dir = target_dir.join("live-gate");
    let log_dir = out_dir.join(format!("logs-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    let total_cells = cells.len();
    println!(
        "live-gate: running {} cells on {} pi line(s) ({total_cells} runs), {} at a time",
        tests.len(),
        installs.len(),
        jobs.min(total_cells)
    );

    let envs: Vec<(PiLine, Vec<(&str, std::ffi::OsString)>)> = installs
        .iter()
        .map(|install| {
            let env = vec![
                ("PI_BIN", install.pi_bin.clone().into_os_string()),
                ("ENTWURF_PI_LINE", install.line.name().into()),
                (
                    "ENTWURF_PI_EXTENSION",
                    install.extension.clone().into_os_string(),
                ),
                ("ENTWURF_BIN", entwurf_bin.clone().into_os_string()),
                ("ENTWURF_MCP_SDK_DIR", mcp_sdk.clone().into_os_string()),
                (
                    "ENTWURF_NODE",
                    install.node_bin_dir.join("node").into_os_string(),
                ),
                ("RUST_BACKTRACE", "0".into()),
            ];
            (install.line, env)
        })
        .collect();
    let env_of = |line: PiLine| {
        envs.iter()
            .find(|(l, _)| *l == line)
            .map(|(_, env)| env.as_slice())
            .unwrap_or_default()
    };
    let cells_wall = Instant::now();
    let queue = std::sync::Mutex::new(cells.into_iter().enumerate().collect::<Vec<_>>());
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(total_cells) {
            scope.spawn(|| loop {
                // Take from the front so cells start in listing order.
                let next = {
                    let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
                    (!q.is_empty()).then(|| q.remove(0))
                };
                let Some((i, cell)) = next else { break };
                let log = log_dir.join(format!(
                    "pi-{}__{}__{}.log",
                    sanitize(cell.line.name()),
                    sanitize(&cell.suite),
                    sanitize(&cell.test)
                ));
                let env = env_of(cell.line);
                let outcome = run_cell(cell, log, env, cells_wall);
                done.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((i, outcome));
            });
        }
    });
    let mut outcomes = done.into_inner().unwrap_or_else(|p| p.into_inner());
    outcomes.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    let cells_seconds = cells_wall.elapsed().as_secs_f64();

    let width = outcomes
        .iter()
        .map(|o| o.cell.suite.len() + o.cell.test.len() + 2)
        .max()
        .unwrap_or(0);
    for o in &outcomes {
        let name = format!("{}::{}", o.cell.suite, o.cell.test);
        println!(
            "{}  pi {:<4}  {name:<width$}  {:>6.2}s",
            if o.passed { "PASS" } else { "FAIL" },
            o.cell.line.name(),
            o.seconds
        );
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed).collect();
    for o in &failed {
        println!(
            "\n--- pi {}: {}::{} failed (log {}):\n{}",
            o.cell.line,
            o.cell.suite,
            o.cell.test,
            o.log.display(),
            o.failure
        );
    }

    let junit = out_dir.join("junit.xml");
    write_junit(&junit, &outcomes, cells_seconds)?;
    let total = wall.elapsed().as_secs_f64();
    println!();
    for install in &installs {
        let mine: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.cell.line == install.line)
            .collect();
        let (first, last) = mine.iter().fold((f64::MAX, 0.0_f64), |(a, b), o| {
            (a.min(o.span.0), b.max(o.span.1))
        });
        let failures = mine.iter().filter(|o| !o.passed).count();
        println!(
            "live-gate: pi {} ({}): {} passed, {failures} failed of {} cells; wall {:.2}s (its first cell's start to its last cell's end)",
            install.line,
            install.version,
            mine.len() - failures,
            mine.len(),
            (last - first).max(0.0),
        );
    }
    println!(
        "live-gate: {} passed, {} failed of {} cells; cells wall {:.2}s (every line, the JUnit total); total wall {:.2}s (with provisioning and build); JUnit {}",
        outcomes.len() - failed.len(),
        failed.len(),
        outcomes.len(),
        cells_seconds,
        total,
        junit.display()
    );
    if failed.is_empty() {
        let _ = std::fs::remove_dir_all(&log_dir);
    }
    Ok(failed.is_empty())
}

fn run_cell(
    cell: Cell,
    log: PathBuf,
    env: &[(&str, std::ffi::OsString)],
    epoch: Instant,
) -> Outcome {
    let start = Instant::now();
    let result = (|| -> Result<bool, String> {
        let file =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&cell.exe);
        cmd.args([
            cell.test.as_str(),
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run {}: {e}", cell.exe.display()))?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // `--exact` with a name that matched nothing also exits 0: demand exactly one pass.
        Ok(status.success() && text.contains("test result: ok. 1 passed"))
    })();
    let seconds = start.elapsed().as_secs_f64();
    let begun = start.duration_since(epoch).as_secs_f64();
    let (passed, failure) = match result {
        Ok(true) => (true, String::new()),
        Ok(false) => (false, failure_excerpt(&log)),
        Err(e) => (false, e),
    };
    Outcome {
        cell,
        passed,
        seconds,
        span: (begun, begun + seconds),
        log,
        failure,
    }
}

/// The interesting part of a failed cell's log: from the first invariant / panic line on,
/// bounded to the last 60 lines.
fn failure_excerpt(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| {
            l.contains("invariant broken")
                || l.contains("live setup failed")
                || l.starts_with("Error:")
                || l.contains("panicked at")
                || l.contains("FAILED: world kept")
        })
        .unwrap_or(0);
    let tail = &lines[start..];
    let tail = &tail[tail.len().saturating_sub(60)..];
    tail.join("\n")
}

fn run_cargo(cargo: &std::ffi::OsStr, root: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

/// Builds a package's test targets and returns their executables.
fn build_suites(
    cargo: &std::ffi::OsStr,
    root: &Path,
    package: &str,
    selector: &[&str],
) -> Result<Vec<Suite>, String> {
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "-p", package])
        .args(selector)
        .args(["--no-run", "--message-format=json-render-diagnostics"])
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run cargo test --no-run: {e}"))?;
    let mut suites = Vec::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            // Only test harnesses: a package's binaries are built alongside its tests.
            if v["reason"] != "compiler-artifact" || v["profile"]["test"] != true {
                continue;
            }
            let Some(exe) = v["executable"].as_str() else {
                continue;
            };
            let target = v["target"]["name"].as_str().unwrap_or("?");
            suites.push(Suite {
                name: format!("{package}::{target}"),
                exe: PathBuf::from(exe),
            });
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!(
            "building the live tests of {package} failed ({status})"
        ));
    }
    Ok(suites)
}

/// The ignored tests in a test binary (`<name>: test` lines of `--list --ignored`).
fn list_ignored(exe: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(exe)
        .args(["--list", "--ignored"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot list {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!("listing {} failed ({})", exe.display(), out.status));
    }
    Ok(parse_list(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn junit_xml(outcomes: &[Outcome], seconds: f64) -> String {
    let failures = outcomes.iter().filter(|o| !o.passed).count();
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="live-gate" tests="{}" failures="{failures}" errors="0" time="{seconds:.3}">"#,
        outcomes.len()
    );
    let mut suites: Vec<String> = outcomes.iter().map(junit_suite).collect();
    suites.sort();
    suites.dedup();
    for suite in &suites {
        let in_suite: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| junit_suite(o) == *suite)
            .collect();
        let f = in_suite.iter().filter(|o| !o.passed).count();
        let t: f64 = in_suite.iter().map(|o| o.seconds).fold(0.0, f64::max);
        let _ = writeln!(
            x,
            r#"  <testsuite name="{}" tests="{}" failures="{f}" errors="0" time="{t:.3}">"#,
            xml_escape(suite),
            in_suite.len()
        );
        for o in in_suite {
            let _ = write!(
                x,
                r#"    <testcase classname="{}" name="{}" time="{:.3}""#,
                xml_escape(suite),
                xml_escape(&junit_test_name(o)),
                o.seconds
            );
            if o.passed {
                let _ = writeln!(x, "/>");
            } else {
                let first = o.failure.lines().next().unwrap_or("failed");
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml_escape(first),
                    xml_escape(&o.failure)
                );
            }
        }
        let _ = writeln!(x, "  </testsuite>");
    }
    let _ = writeln!(x, "</testsuites>");
    x
}

/// The JUnit suite of a cell: `pi-<line>::<package>::<target>`.
fn junit_suite(o: &Outcome) -> String {
    format!("pi-{}::{}", o.cell.line, o.cell.suite)
}

/// The JUnit test name of a cell: `<test> [pi <line>]`.
fn junit_test_name(o: &Outcome) -> String {
    format!("{} [pi {}]", o.cell.test, o.cell.line)
}

fn write_junit(path: &Path, outcomes: &[Outcome], seconds: f64) -> Result<(), String> {
    let tmp = path.with_extension(format!("xml.{}.tmp", std::process::id()));
    std::fs::write(&tmp, junit_xml(outcomes, seconds))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(test: &str, passed: bool, failure: &str) -> Outcome {
        Outcome {
            cell: Cell {
                line: PiLine::V1,
                suite: "entwurf-harness::matrix_live".into(),
                exe: PathBuf::from("/x"),
                test: test.into(),
            },
            passed,
            seconds: 1.5,
            span: (0.0, 1.5),
            log: PathBuf::from("/log"),
            failure: failure.into(),
        }
    }

    #[test]
    fn jobs_default_to_at_least_two_and_reject_zero() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(parse_opts(&[]).unwrap().jobs >= 2);
        assert_eq!(parse_opts(&args(&["--jobs", "3"])).unwrap().jobs, 3);
        assert!(parse_opts(&args(&["--jobs", "0"])).is_err());
        assert!(parse_opts(&args(&["--bogus"])).is_err());
        assert!(parse_opts(&args(&["--cells"])).is_err());
        assert!(parse_opts(&args(&["--cells", ","])).is_err());
        let o = parse_opts(&args(&["--cells", "c2_, c3_", "--jobs", "2"])).unwrap();
        assert_eq!(
            o,
            Opts {
                jobs: 2,
                cells: vec!["c2_".into(), "c3_".into()],
                lines: PiLine::ALL.to_vec(),
            }
        );
        let o = parse_opts(&args(&["--cells", "reference"])).unwrap();
        assert_eq!(o.cells.len(), 4);
        let o = parse_opts(&args(&["--pi-line", "0.80"])).unwrap();
        assert_eq!(o.lines, vec![PiLine::V0_80]);
        assert!(parse_opts(&args(&["--pi-line", "2.x"])).is_err());
    }

    #[test]
    fn the_reference_selection_keeps_exactly_its_four_cells() {
        let cells: Vec<String> = REFERENCE_CELLS.iter().map(|c| (*c).to_owned()).collect();
        let suite = "entwurf-harness::matrix_live";
        for keep in [
            "c1_control_socket",
            "c1b_socket_only",
            "c2_meta_mailbox_deliverable",
            "c3_meta_mailbox_guard",
        ] {
            assert!(selected(&cells, suite, keep), "{keep}");
        }
        for drop in [
            "c4_dormant_pi",
            "c5_contention::case_1_four_senders",
            "c6_owned_outcome_resumes_dormant_pi",
        ] {
            assert!(!selected(&cells, suite, drop), "{drop}");
        }
        assert!(!selected(
            &cells,
            "entwurf-cli::cli_send",
            "send_to_real_pi"
        ));
        assert!(selected(&[], suite, "anything"));
    }

    #[test]
    fn list_output_yields_the_test_names() {
        let text = "c1_control_socket: test\nc2_meta_mailbox: test\n\n2 tests, 0 benchmarks\n";
        assert_eq!(
            parse_list(text),
            vec!["c1_control_socket", "c2_meta_mailbox"]
        );
    }

    #[test]
    fn junit_lists_every_cell_and_escapes_failures() {
        let xml = junit_xml(
            &[
                outcome("c1_control_socket", true, ""),
                outcome(
                    "c3_guard",
                    false,
                    "invariant broken: no-msg: <a.msg> & more",
                ),
            ],
            2.0,
        );
        assert!(xml.contains(r#"tests="2" failures="1""#), "{xml}");
        assert!(xml.contains(r#"<testcase classname="pi-1.x::entwurf-harness::matrix_live" name="c1_control_socket [pi 1.x]" time="1.500"/>"#), "{xml}");
        assert!(
            xml.contains("invariant broken: no-msg: &lt;a.msg&gt; &amp; more"),
            "{xml}"
        );
    }
}
