//! Project automation: `cargo xtask <task>`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("live-gate") => {
            eprintln!("xtask live-gate: not yet implemented");
            ExitCode::from(2)
        }
        _ => {
            eprintln!("usage: cargo xtask <live-gate|pi|bench>");
            ExitCode::from(2)
        }
    }
}
