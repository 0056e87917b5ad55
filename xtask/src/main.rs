//! Project automation: `cargo xtask <task>`.

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
