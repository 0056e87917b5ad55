//! The hook's leveled log: `<agent dir>/entwurf-hook.log`, one line per entry,
//! `<ISO time> <LEVEL> <message>` (the reference's line shape, in a file of our own name).
//!
//! Writing never fails the caller: every error is swallowed (a broken log must not break a
//! session). The file is opened append-only without following a symlink at its name, and
//! rotated to `<file>.1` once it passes [`ROTATE_BYTES`], so it cannot grow without bound.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// The log's file name inside the agent dir.
pub const HOOK_LOG_FILE: &str = "entwurf-hook.log";

/// Past this size the log is renamed to `<file>.1` (replacing an older one) before appending.
pub const ROTATE_BYTES: u64 = 1024 * 1024;

/// A log entry's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Routine: a record created or attached, a watch armed, a doorbell rung.
    Info,
    /// The session is a citizen, but something nearby is off (a marker not written, a corrupt
    /// neighbour skipped, a degraded prompt-submit envelope).
    Warn,
    /// The session did not become (or stay) a citizen, or lost its wake-up.
    Error,
}

impl Level {
    /// `INFO` / `WARN` / `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        match s {
            "INFO" => Some(Level::Info),
            "WARN" => Some(Level::Warn),
            "ERROR" => Some(Level::Error),
            _ => None,
        }
    }
}

/// One parsed log line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogEntry {
    /// When.
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    /// How bad.
    pub level: Level,
    /// What.
    pub message: String,
}

/// Serialises a time as the ISO text with milliseconds (`…Z`).
pub fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&entwurf_meta_session::iso_millis(*t))
}

/// Serialises an optional time like [`ser_time`], `null` when absent.
pub fn ser_opt_time<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_time(t, s),
        None => s.serialize_none(),
    }
}

/// Renders one line (with its `\n`). Newlines inside the message are flattened to spaces so an
/// entry is always one line.
pub fn format_line(at: DateTime<Utc>, level: Level, message: &str) -> String {
    let flat: String = message
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    format!(
        "{} {} {flat}\n",
        entwurf_meta_session::iso_millis(at),
        level.as_str()
    )
}

/// Parses one line; `None` for anything that is not `<ISO> <LEVEL> <message>`.
pub fn parse_line(line: &str) -> Option<LogEntry> {
    let mut parts = line.splitn(3, ' ');
    let at = DateTime::parse_from_rfc3339(parts.next()?).ok()?;
    let level = Level::parse(parts.next()?)?;
    Some(LogEntry {
        at: at.with_timezone(&Utc),
        level,
        message: parts.next().unwrap_or_default().trim_end().to_owned(),
    })
}

/// A hook log at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookLog {
    path: PathBuf,
}

impl HookLog {
    /// The log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The log in `agent_dir` under [`HOOK_LOG_FILE`].
    pub fn in_agent_dir(agent_dir: &Path) -> Self {
        Self::new(agent_dir.join(HOOK_LOG_FILE))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry; every failure is swallowed (best effort by design).
    pub fn append(&self, at: DateTime<Utc>, level: Level, message: &str) {
        let _ = self.try_append(&format_line(at, level, message));
    }

    fn try_append(&self, line: &str) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            if !dir.as_os_str().is_empty() && !dir.is_dir() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .custom_flags(libc_o_nofollow())
                .open(&self.path)
        };
        let mut file = open()?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other("the hook log is not a regular file"));
        }
        if meta.len() > ROTATE_BYTES {
            let mut old = self.path.clone().into_os_string();
            old.push(".1");
            // Two hooks may rotate at once: one rename wins, the other finds its name moved and
            // simply appends to the file it already holds open (a line in `.1`, not lost).
            if std::fs::rename(&self.path, &old).is_ok() {
                file = open()?;
            }
        }
        // One write call per line: O_APPEND keeps concurrent hooks' lines whole.
        file.write_all(line.as_bytes())
    }

    /// The entries in the last `max_bytes` of the log (and of `<file>.1` when the current file
    /// is shorter), oldest first. A missing log reads as empty; lines that do not parse are
    /// skipped.
    pub fn tail(&self, max_bytes: u64) -> std::io::Result<Vec<LogEntry>> {
        let mut text = String::new();
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        let current = read_tail(&self.path, max_bytes)?;
        if (current.len() as u64) < max_bytes {
            text.push_str(&read_tail(
                Path::new(&old),
                max_bytes - current.len() as u64,
            )?);
        }
        text.push_str(&current);
        Ok(text.lines().filter_map(parse_line).collect())
    }
}

fn read_tail(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_nofollow() | libc_o_nonblock())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let len = meta.len();
    let start = len.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(max_bytes).read_to_end(&mut buf)?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        // Drop the partial first line.
        match text.find('\n') {
            Some(i) => text.drain(..=i),
            None => text.drain(..),
        };
    }
    Ok(text)
}

/// `O_NOFOLLOW`: a symlink planted at a path is refused, not followed.
pub(crate) fn libc_o_nofollow() -> i32 {
    nix::libc::O_NOFOLLOW
}

/// `O_NONBLOCK`: opening a FIFO planted at a path must not hang a reader.
pub(crate) fn libc_o_nonblock() -> i32 {
    nix::libc::O_NONBLOCK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn lines_round_trip_and_newlines_are_flattened() {
        let line = format_line(t("2026-12-06T21:41:43.123Z"), Level::Warn, "a\nb");
        assert_eq!(line, "2026-12-06T21:41:43.123Z WARN a b\n");
        let e = parse_line(line.trim_end()).unwrap();
        assert_eq!(e.level, Level::Warn);
        assert_eq!(e.message, "a b");
        assert!(parse_line("garbage").is_none());
        assert!(parse_line("2026-12-06T21:41:43.123Z DEBUG x").is_none());
    }

    #[test]
    fn append_tail_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = HookLog::in_agent_dir(&dir.path().join("agent"));
        assert!(log.tail(1024).unwrap().is_empty());
        log.append(t("2026-01-01T00:00:00Z"), Level::Info, "one");
        log.append(t("2026-01-01T00:00:01Z"), Level::Error, "two");
        let entries = log.tail(1024).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].level, Level::Error);
        // Past the rotation size the next append starts a new file and keeps the old one.
        std::fs::write(log.path(), vec![b'x'; (ROTATE_BYTES + 1) as usize]).unwrap();
        log.append(t("2026-01-01T00:00:02Z"), Level::Info, "three");
        assert!(std::fs::metadata(log.path()).unwrap().len() < 100);
        let entries = log.tail(200).unwrap();
        assert_eq!(entries.last().unwrap().message, "three");
    }

    #[test]
    fn a_symlink_or_directory_at_the_log_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let log = HookLog::new(dir.path().join("hook.log"));
        std::os::unix::fs::symlink(&victim, log.path()).unwrap();
        log.append(Utc::now(), Level::Info, "x");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        let log2 = HookLog::new(dir.path().join("d"));
        std::fs::create_dir(log2.path()).unwrap();
        log2.append(Utc::now(), Level::Info, "x"); // swallowed
    }
}
