//! Project automation: `cargo xtask <task>`.
//!
//! - `cargo xtask pi [--line 0.80|1.x|all] [--check]`: per pi line, `npm ci` of
//!   `pi/<line>/package-lock.json` (0.80: pi 0.80.10, 1.x: pi 1.6.0; both Node 22.23.3, typescript,
//!   @types/node) into `target/pi/<line>/` (shared npm cache under `target/pi`), the lines side by
//!   side; a launcher `target/pi/<line>/bin/pi` running the entry the installed package's own `bin`
//!   names; one printed line per step, npm / tsc output kept in `target/pi/<line>/*.log` for a
//!   failed step. `--check`: `tsc --noEmit` of the extension against each line's types. Also
//!   provisions the MCP SDK (`target/mcp-sdk`), so `cargo test -- --ignored` runs every live test.
//!   `PI_BIN`, `ENTWURF_PI_EXTENSION` override; `ENTWURF_PI_LINE` picks the tests' line (default 1.x).
//! - What differs between the lines lives in one place, `entwurf-spawn::pi_line` (`PiLine`):
//!   trust inputs (1.x adds `.pi/mcp.json`), trust store reading, `--provider` always with
//!   `--model`. The trust preflight applies the line of the pi that spawn-bg would launch; the
//!   dispatcher reads that pi's version once (its installed `package.json`, else `--version`;
//!   unreadable → the strictest, 1.x).
//! - `cargo xtask live-gate [--cells …|reference] [--pi-line 0.80|1.x|all]`: provisions the lines
//!   (default both), builds the live suites, runs every ignored cell (or the selected ones;
//!   `reference` = the reference's own four, C1 C1b C2 C3) on every line as its own process, both
//!   lines' cells in one pool a few at a time, one line per cell and line, a summary per line,
//!   `target/live-gate/junit.xml` (the line in every suite and test name).
//!   Each cell is a temp world whose pi residents get `HOME` inside it, so their control dir is real
//!   but private; the reaper (SIGTERM, 2 s, SIGKILL) runs on drop and on panic.
//! - `cargo xtask faults`: builds the CLI and its crash suite with `--features fault-injection` into
//!   `target/faults`, kills each store operation before each of its mutating calls, checks the store
//!   after every kill, prints kill points per operation and violations (non-zero exit on any).
//! - `cargo xtask fuzz [--seconds N] [--targets a,b]`: the cargo-fuzz targets in `fuzz/` (its own
//!   workspace; lock files + markers, records, `state.json`, receiver/sender markers, mailbox
//!   envelopes/bodies, RPC lines), seeded from `fixtures/golden`, N seconds each on nightly
//!   (installs cargo-fuzz and a minimal nightly when missing); prints executions and crashes per
//!   target. Not in CI. Every parser also has proptests in its crate's `tests/prop_*.rs`.
//! - `cargo xtask bench`: release driver over the production dispatch; figures, never assertions.
//!   Each control-socket row also times a bare client (connect, one line, reply, close) against
//!   the same listener, so the substrate's own cost (p50 minus that floor) is visible apart from
//!   the kernel's and hypervisor's wake-up costs that any client pays.

use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod faults;
mod fuzz;
mod live_gate;
mod mcp_sdk;
mod pi;

/// The repository root (the workspace that holds `xtask/`).
fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("live-gate") => live_gate::run(&repo_root(), &args[1..]),
        Some("pi") => pi::run(&repo_root(), &args[1..]),
        Some("bench") => bench::run(&repo_root(), &args[1..]),
        Some("faults") => faults::run(&repo_root(), &args[1..]),
        Some("fuzz") => fuzz::run(&repo_root(), &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <live-gate|pi|bench|faults|fuzz>");
            ExitCode::from(2)
        }
    }
}
