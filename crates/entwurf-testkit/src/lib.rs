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
//! - Hostile stores: [`mkfifo`] (a FIFO where a store file belongs: an open that blocks if the
//!   code under test forgets `O_NONBLOCK`), and [`entries_ending`] to see what a directory holds.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};

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

/// Makes a FIFO (mode 0600) at `path`.
///
/// # Panics
/// When the FIFO cannot be made (a test-environment failure).
pub fn mkfifo(path: impl AsRef<Path>) {
    let path = path.as_ref();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

/// The entries directly in `dir` whose name ends with `suffix` (sorted; empty when `dir` is
/// absent or unreadable).
pub fn entries_ending(dir: impl AsRef<Path>, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_pid_names_no_process() {
        let pid = dead_pid();
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn a_fifo_is_listed_by_its_suffix() {
        use std::os::unix::fs::FileTypeExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        mkfifo(dir.join("a.msg"));
        std::fs::write(dir.join("b.json"), b"{}").unwrap();
        let msgs = entries_ending(dir, ".msg");
        assert_eq!(msgs, vec![dir.join("a.msg")]);
        assert!(std::fs::symlink_metadata(&msgs[0])
            .unwrap()
            .file_type()
            .is_fifo());
        assert!(entries_ending(dir.join("absent"), ".msg").is_empty());
    }
}
