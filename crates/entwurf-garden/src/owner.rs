//! Which process owns the markers: the Claude Code process, not the shell it ran the hook in.
//!
//! How Claude Code starts a hook (established from Claude Code 2.1.332's own code, see
//! `docs` in the README): a hook with a `command` and no `args` ("shell form", what every
//! `settings.json` and plugin `hooks.json` written so far uses) is spawned with
//! `child_process.spawn(command, [], {shell: true, detached: true})`, which the runtime turns
//! into `/bin/sh -c "<command>"`. A hook with `args` ("exec form") is spawned directly.
//! Whether `/bin/sh` then `exec`s the last simple command (so that the hook's parent is
//! Claude Code) is the shell's choice: dash ≥ 0.5.11 and bash do, older dash and busybox
//! builds, and any compound command, keep the shell alive as the hook's parent — a
//! short-lived process whose pid is useless as an owner.
//!
//! So the owner is found by walking up from the hook's parent, skipping every process that is a
//! known shell running a `-c` string (a hook wrapper), and stopping at the first one that is not.
//! An interactive or login shell (no `-c`) is never skipped, and neither is anything above the
//! first non-shell: the owner must be the process that holds the watch, nothing higher (the
//! reference's lesson: a login shell outlives the session and would keep a dead session looking
//! alive).

/// One process in the parent chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Its pid.
    pub pid: i64,
    /// Its parent's pid.
    pub ppid: i64,
    /// `comm` from `/proc/<pid>/stat` (at most 15 bytes, the executable's base name).
    pub comm: String,
    /// Whether its argument vector holds a `-c` option (a shell running a command string).
    pub runs_command_string: bool,
}

/// Shell names whose `-c` wrapper is skipped.
pub const WRAPPER_SHELLS: &[&str] = &["sh", "dash", "bash", "zsh", "ash", "ksh", "mksh", "busybox"];

/// How many wrapper shells in a row are skipped at most (`sh -c` running `bash -c` …).
pub const MAX_SKIPPED_SHELLS: usize = 3;

/// Whether `p` is a hook wrapper shell.
pub fn is_wrapper_shell(p: &ProcInfo) -> bool {
    p.runs_command_string && WRAPPER_SHELLS.contains(&p.comm.as_str())
}

/// The owner pid, given the chain from the hook's parent upwards (`chain[0]` = the parent).
/// Pure: tests pass hand-made chains.
///
/// ```
/// use entwurf_garden::{choose_owner, ProcInfo};
/// let p = |pid, ppid, comm: &str, c| ProcInfo { pid, ppid, comm: comm.into(), runs_command_string: c };
/// // claude(100) → sh -c (200) → hook: the owner is claude.
/// assert_eq!(choose_owner(&[p(200, 100, "sh", true), p(100, 1, "claude", false)]), Some(100));
/// // claude exec'd the hook directly.
/// assert_eq!(choose_owner(&[p(100, 50, "claude", false)]), Some(100));
/// // a login bash is never skipped.
/// assert_eq!(choose_owner(&[p(300, 1, "bash", false)]), Some(300));
/// ```
pub fn choose_owner(chain: &[ProcInfo]) -> Option<i64> {
    let mut skipped = 0;
    for p in chain {
        if p.pid <= 1 {
            return None;
        }
        if is_wrapper_shell(p) && skipped < MAX_SKIPPED_SHELLS {
            skipped += 1;
            continue;
        }
        return Some(p.pid);
    }
    None
}

/// Parses `/proc/<pid>/stat` into (comm, ppid): comm sits between the first `(` and the last `)`,
/// the ppid is the second field after it.
pub fn parse_stat(stat: &str) -> Option<(String, i64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_ascii_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, ppid))
}

/// Whether a NUL-separated argument vector holds a `-c` option before its command string.
pub fn cmdline_runs_command_string(cmdline: &[u8]) -> bool {
    cmdline
        .split(|b| *b == 0)
        .skip(1)
        .take_while(|a| a.first() == Some(&b'-'))
        .any(|a| a.len() >= 2 && a[1] != b'-' && a[1..].contains(&b'c'))
}

/// Reads one process's entry from `/proc` (`None` when it is gone or unreadable).
pub fn read_proc(pid: i64) -> Option<ProcInfo> {
    use std::io::Read;
    if pid <= 0 {
        return None;
    }
    let mut stat = String::new();
    std::fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .take(64 * 1024)
        .read_to_string(&mut stat)
        .ok()?;
    let (comm, ppid) = parse_stat(&stat)?;
    let runs_command_string = if WRAPPER_SHELLS.contains(&comm.as_str()) {
        let mut cmdline = Vec::new();
        std::fs::File::open(format!("/proc/{pid}/cmdline"))
            .and_then(|f| f.take(64 * 1024).read_to_end(&mut cmdline))
            .is_ok()
            && cmdline_runs_command_string(&cmdline)
    } else {
        false
    };
    Some(ProcInfo {
        pid,
        ppid,
        comm,
        runs_command_string,
    })
}

/// The owner of the markers for a hook whose parent is `parent_pid`: reads the chain from
/// `/proc` as far as [`choose_owner`] needs it. Falls back to `parent_pid` when `/proc` cannot
/// be read (off Linux), as the reference does.
pub fn resolve_owner(parent_pid: i64) -> i64 {
    let mut chain = Vec::new();
    let mut pid = parent_pid;
    for _ in 0..=MAX_SKIPPED_SHELLS {
        let Some(info) = read_proc(pid) else { break };
        let next = info.ppid;
        let wrapper = is_wrapper_shell(&info);
        chain.push(info);
        if !wrapper {
            break;
        }
        pid = next;
    }
    if chain.is_empty() {
        return parent_pid;
    }
    choose_owner(&chain).unwrap_or(parent_pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i64, ppid: i64, comm: &str, c: bool) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            comm: comm.into(),
            runs_command_string: c,
        }
    }

    #[test]
    fn skips_nested_wrappers_up_to_the_limit() {
        let chain = [
            p(400, 300, "bash", true),
            p(300, 200, "sh", true),
            p(200, 100, "claude", false),
            p(100, 1, "bash", false),
        ];
        assert_eq!(choose_owner(&chain), Some(200));
        let deep = [
            p(9, 8, "sh", true),
            p(8, 7, "sh", true),
            p(7, 6, "sh", true),
            p(6, 5, "sh", true),
        ];
        assert_eq!(choose_owner(&deep), Some(6));
    }

    #[test]
    fn never_walks_to_init() {
        assert_eq!(
            choose_owner(&[p(200, 1, "sh", true), p(1, 0, "systemd", false)]),
            None
        );
        assert_eq!(choose_owner(&[]), None);
    }

    #[test]
    fn stat_parsing_survives_odd_comms() {
        let stat = "1234 (a) b (c)) S 77 1234 1234 0 -1";
        assert_eq!(parse_stat(stat), Some(("a) b (c)".into(), 77)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn dash_c_detection() {
        assert!(cmdline_runs_command_string(b"/bin/sh\0-c\0entwurf hook\0"));
        assert!(cmdline_runs_command_string(b"bash\0-lc\0x\0"));
        assert!(!cmdline_runs_command_string(b"-bash\0"));
        assert!(!cmdline_runs_command_string(b"bash\0script.sh\0-c\0"));
        assert!(!cmdline_runs_command_string(b"bash\0--norc\0"));
    }

    #[test]
    fn resolves_this_process_as_a_non_shell() {
        let me = i64::from(std::process::id());
        assert_eq!(resolve_owner(me), me);
        assert_eq!(resolve_owner(-5), -5);
    }
}
