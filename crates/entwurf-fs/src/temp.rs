//! Writer-named temp files and the process start key.
//!
//! A temp name is `.<target>.tmp.<pid>.<start key>.<8 hex>`, e.g.
//! `.state.json.tmp.4242.linux:912345.0a1b2c3d`: a dot name (no reader glob — `*.meta.json`,
//! `*.json`, `*.msg`, `*.lock` — ever matches it), the target it will become, and its writer.
//! The start key is `linux:<starttime>` from `/proc/<pid>/stat` (the form receiver markers
//! carry), or `-` when it could not be read. A temp whose writer is gone (no such pid, or the
//! pid now belongs to a process with another start key) can never be finished by anyone and
//! is removed by [`crate::StoreDir::sweep_dead_temps`].

use std::sync::OnceLock;

/// The marker between the target and the writer in a temp name.
pub const TEMP_MARK: &str = ".tmp.";

/// The start key of process `pid`: `linux:<starttime>` from field 22 of `/proc/<pid>/stat`
/// (counted after the last `)`, so a `comm` with spaces or parentheses cannot shift it).
/// Off Linux, `ps:<ps -o lstart= -p pid>`. `""` when the pid is not positive, does not exist,
/// or cannot be read — and an empty key never matches anything.
pub fn process_start_key(pid: i64) -> String {
    if pid <= 0 {
        return String::new();
    }
    start_key_impl(pid)
}

#[cfg(target_os = "linux")]
fn start_key_impl(pid: i64) -> String {
    use std::io::Read;
    // A stat line is a few hundred bytes: one read into room for 1 KiB and one that sees the
    // end (`/proc` reports size 0, so no size hint is asked for).
    let mut buf = Vec::with_capacity(1024);
    let read = std::fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut buf));
    match read {
        Ok(_) => start_key_from_stat(&String::from_utf8_lossy(&buf)).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[cfg(not(target_os = "linux"))]
fn start_key_impl(pid: i64) -> String {
    let out = std::process::Command::new("ps")
        .args(["-o", "lstart=", "-p", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if text.is_empty() {
                String::new()
            } else {
                format!("ps:{text}")
            }
        }
        Err(_) => String::new(),
    }
}

/// Extracts `linux:<starttime>` from the text of a `/proc/<pid>/stat` file (pure).
pub fn start_key_from_stat(stat: &str) -> Option<String> {
    let after = &stat[stat.rfind(')')? + 1..];
    let field = after.split_whitespace().nth(19)?;
    if !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("linux:{field}"))
    } else {
        None
    }
}

/// This process's pid and start key, read once.
pub fn own_start_key() -> &'static (u32, String) {
    static OWN: OnceLock<(u32, String)> = OnceLock::new();
    OWN.get_or_init(|| {
        let pid = std::process::id();
        (pid, process_start_key(i64::from(pid)))
    })
}

/// A temp name for `target` written by this process (a fresh random tag each call).
pub fn temp_name(target: &str) -> String {
    let (pid, key) = own_start_key();
    let key = if key.is_empty() || key.contains(['.', '/']) {
        "-"
    } else {
        key.as_str()
    };
    let tag: u32 = rand::random();
    format!(".{target}{TEMP_MARK}{pid}.{key}.{tag:08x}")
}

/// Who wrote a temp file, parsed from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempWriter {
    /// The target name the temp was to become.
    pub target: String,
    /// The writer's pid.
    pub pid: u32,
    /// The writer's start key (`None`: unknown when it wrote).
    pub start_key: Option<String>,
}

/// Parses a name made by [`temp_name`]; `None` for anything else.
pub fn parse_temp_name(name: &str) -> Option<TempWriter> {
    let rest = name.strip_prefix('.')?;
    let mut parts = rest.rsplitn(4, '.');
    let tag = parts.next()?;
    let key = parts.next()?;
    let pid = parts.next()?;
    let head = parts.next()?;
    let target = head.strip_suffix(".tmp")?;
    if tag.len() != 8 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) || target.is_empty() {
        return None;
    }
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    let start_key = match key {
        "-" => None,
        k if k.starts_with("linux:") || k.starts_with("ps:") => Some(k.to_owned()),
        _ => return None,
    };
    Some(TempWriter {
        target: target.to_owned(),
        pid,
        start_key,
    })
}

/// How old a temp without a writer in its name must be before the sweep removes it. No writer
/// holds a temp for more than a moment; an hour leaves any clock skew far behind.
pub const UNOWNED_TEMP_AGE_SECS: i64 = 3600;

/// A temp name of the forms earlier versions (and the reference) wrote, which carry at most a
/// pid: `<target>.tmp-<pid>-<millis>[-<hex>]` (records, `state.json`, caches),
/// `.<stamp>.msg.tmp` (messages) and `<target>.json.<8 hex>.tmp` (markers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyTemp {
    /// Written by this pid (no start key): dead once no process has the pid.
    Pid(u32),
    /// No writer in the name: removable once older than [`UNOWNED_TEMP_AGE_SECS`].
    Unowned,
}

/// Parses an earlier version's temp name; `None` for anything else.
pub fn parse_legacy_temp_name(name: &str) -> Option<LegacyTemp> {
    if let Some((_, tail)) = name.rsplit_once(".tmp-") {
        let mut parts = tail.split('-');
        let pid = parts.next()?;
        let millis = parts.next()?;
        let hex = parts.next();
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let hex_ok = hex.is_none_or(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if digits(pid) && digits(millis) && hex_ok && parts.next().is_none() {
            return pid.parse().ok().map(LegacyTemp::Pid);
        }
        return None;
    }
    if name.starts_with('.') && name.ends_with(".msg.tmp") && name.len() > ".msg.tmp".len() + 1 {
        return Some(LegacyTemp::Unowned);
    }
    let stem = name.strip_suffix(".tmp")?;
    let (head, hex) = stem.rsplit_once('.')?;
    if head.ends_with(".json") && hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(LegacyTemp::Unowned);
    }
    None
}

/// Whether `name` is a temp of any form the sweep knows ([`parse_temp_name`] or
/// [`parse_legacy_temp_name`]).
pub fn is_temp_name(name: &str) -> bool {
    name.contains(".tmp")
        && (parse_temp_name(name).is_some() || parse_legacy_temp_name(name).is_some())
}

/// Whether the writer of a temp can no longer finish it: its pid is gone, or now belongs to a
/// process with another start key. This process's own temps are never dead.
pub fn writer_is_dead(w: &TempWriter) -> bool {
    let (own_pid, own_key) = own_start_key();
    if w.pid == *own_pid && w.start_key.as_deref().is_none_or(|k| k == own_key) {
        return false;
    }
    let now = process_start_key(i64::from(w.pid));
    if now.is_empty() {
        // No such process (or its /proc entry is unreadable, which for a live process of
        // ours does not happen): nobody will finish this temp.
        return !pid_exists(w.pid);
    }
    match &w.start_key {
        Some(k) => *k != now,
        None => false,
    }
}

pub(crate) fn pid_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match rustix::process::Pid::from_raw(pid) {
        Some(p) => !matches!(
            rustix::process::test_kill_process(p),
            Err(rustix::io::Errno::SRCH)
        ),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_round_trip_and_name_this_process() {
        let n = temp_name("state.json");
        assert!(n.starts_with(".state.json.tmp."), "{n}");
        let w = parse_temp_name(&n).unwrap();
        assert_eq!(w.target, "state.json");
        assert_eq!(w.pid, std::process::id());
        assert_eq!(w.start_key.as_deref(), Some(own_start_key().1.as_str()));
        assert!(!writer_is_dead(&w), "our own temp is live");
        assert_ne!(temp_name("x"), temp_name("x"), "a fresh tag per call");
    }

    #[test]
    fn foreign_names_do_not_parse() {
        for n in [
            "state.json",
            "a.meta.json",
            ".a.msg.tmp",
            "a.json.tmp-1-2",
            ".x.tmp.12.linux:5.zzzzzzzz",
            ".x.tmp.1a.linux:5.0000000a",
            ".x.tmp.12.weird.0000000a",
            "x.tmp.12.linux:5.0000000a",
        ] {
            assert_eq!(parse_temp_name(n), None, "{n}");
        }
        let w = parse_temp_name(".a.b.msg.tmp.12.linux:5.0000000a").unwrap();
        assert_eq!(w.target, "a.b.msg");
        assert_eq!(
            parse_temp_name(".a.tmp.12.-.0000000a").unwrap().start_key,
            None
        );
    }

    #[test]
    fn a_reused_pid_or_a_gone_pid_is_a_dead_writer() {
        let (pid, key) = own_start_key().clone();
        let other = TempWriter {
            target: "t".into(),
            pid,
            start_key: Some("linux:1".into()),
        };
        assert_ne!(key, "linux:1");
        assert!(writer_is_dead(&other), "same pid, other start key");
        let gone = entwurf_testkit::dead_pid();
        let w = TempWriter {
            target: "t".into(),
            pid: gone,
            start_key: None,
        };
        assert!(writer_is_dead(&w), "a reaped child is gone");
    }

    #[test]
    fn legacy_temp_names_parse_with_their_writer_if_any() {
        use LegacyTemp::*;
        for (n, want) in [
            (
                "20260612T100000-aaaaaa.meta.json.tmp-4242-1718000000000",
                Some(Pid(4242)),
            ),
            ("state.json.tmp-17-1718000000000-0a1b", Some(Pid(17))),
            (".entwurf-list-cache.tmp-9-1", Some(Pid(9))),
            (".2026-06-12T10-05-00-000Z-0a0b0c.msg.tmp", Some(Unowned)),
            ("20260612T100000-aaaaaa.json.0a1b2c3d.tmp", Some(Unowned)),
            ("4242.json.deadbeef.tmp", Some(Unowned)),
            ("state.json", None),
            ("x.tmp-a-1", None),
            ("x.tmp-1-2-zz", None),
            ("a.msg", None),
            ("x.json.123.tmp", None),
        ] {
            assert_eq!(parse_legacy_temp_name(n), want, "{n}");
        }
        assert!(is_temp_name(&temp_name("a")));
        assert!(!is_temp_name("a.meta.json"));
    }

    #[test]
    fn start_key_reads_field_22_after_the_last_paren() {
        let stat = "42 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20";
        assert_eq!(start_key_from_stat(stat).as_deref(), Some("linux:987654"));
        assert_eq!(start_key_from_stat("garbage"), None);
        assert_eq!(process_start_key(0), "");
        assert!(process_start_key(i64::from(std::process::id())).starts_with("linux:"));
    }
}
