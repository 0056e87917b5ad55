//! Test-only helpers shared by the workspace's tests (a dev-dependency only; `publish = false`).
//!
//! It depends on no workspace crate, so the lowest crate can use it as well as the CLI. What a
//! single crate's tests share stays in that crate's `tests/common`; what lives here is the same
//! logic in several crates:
//!
//! - [`prop`]: proptest strategies for hostile input: any text ([`prop::chars`]), any JSON value
//!   ([`prop::json_value`]), and objects over a parser's own keys ([`prop::keyed_object`]) so a
//!   property reaches every field check, not only the JSON parser.
//! - [`dead_pid`]: the pid of a child that exited and was reaped.

#![deny(missing_docs)]

pub mod prop;

/// The pid of a child that has exited and been reaped: no process holds it (`kill(pid, 0)` gives
/// `ESRCH`) until the kernel hands it out again, which takes a full wrap of the pid space.
///
/// # Panics
/// When `true` cannot be spawned or waited for (a test-environment failure).
pub fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn `true` for a dead pid");
    let pid = child.id();
    child.wait().expect("reap `true`");
    pid
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dead_pid_names_no_process() {
        let pid = super::dead_pid();
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
