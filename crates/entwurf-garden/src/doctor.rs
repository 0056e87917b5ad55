//! `entwurf doctor`: the check to run when a session did not get its mail.
//!
//! * what is installed: our hooks (per event) and MCP entries for Claude Code and Codex, and
//!   any of the reference's wiring;
//! * whether the hook fired recently, and its last errors (the hook log);
//! * the store's health: unreadable records, forked identities (one native session id on more
//!   than one garden id), leftover temp files of dead writers.
//!
//! [`diagnose`] gathers, [`Report::render`] prints; `problems` lists what needs a hand.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use entwurf_fs::Chain;
use entwurf_meta_session::{list_records, Dirs};
use serde::Serialize;
use serde_json::Value;

use crate::install::{
    is_entwurf_hook_command, read_current, reference_in_claude, reference_in_codex, InstallPaths,
    MCP_SERVER_NAME,
};
use crate::log::{HookLog, Level, LogEntry};

/// How recent a hook run must be to count as "fired recently".
pub const RECENT: Duration = Duration::from_secs(24 * 3600);
/// A temp file older than this is a dead writer's leftover (a live writer renames within ms).
pub const STALE_TEMP: Duration = Duration::from_secs(60);
/// How much of the log's end is read.
pub const LOG_TAIL_BYTES: u64 = 256 * 1024;

/// What is wired where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    /// Events whose `entwurf hook claude-code` entry is in the Claude Code user settings.
    pub claude_hooks: Vec<String>,
    /// The `entwurf` MCP server in `.claude.json`.
    pub claude_mcp: bool,
    /// `[mcp_servers.entwurf]` in the Codex config.
    pub codex_mcp: bool,
    /// The reference's wiring that was found.
    pub reference: Vec<String>,
    /// Files that could not be read or parsed, with why.
    pub unreadable: Vec<String>,
}

/// The hook log's story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookActivity {
    /// The log.
    pub log: PathBuf,
    /// The newest entry of any level.
    #[serde(serialize_with = "crate::log::ser_opt_time")]
    pub last_run: Option<DateTime<Utc>>,
    /// ERROR entries within [`RECENT`].
    pub recent_errors: Vec<LogEntry>,
    /// WARN entries within [`RECENT`].
    pub recent_warnings: usize,
}

/// One native session id found on more than one garden id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForkedIdentity {
    /// The backend.
    pub backend: String,
    /// The native id.
    pub native_session_id: String,
    /// Every garden id carrying it.
    pub garden_ids: Vec<String>,
}

/// The store's health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreHealth {
    /// Readable records.
    pub records: usize,
    /// `file: message` for every unreadable record.
    pub unreadable: Vec<String>,
    /// Forked identities.
    pub forked: Vec<ForkedIdentity>,
    /// Leftover temp files (see [`is_leftover_temp`]).
    pub leftover_temps: Vec<PathBuf>,
    /// Dead writers' temps the record listing swept away while the doctor looked.
    pub swept_temps: Vec<String>,
    /// The store could not be listed at all.
    pub error: Option<String>,
}

/// Everything `entwurf doctor` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Configuration.
    pub installed: Installed,
    /// Hook log.
    pub hook: HookActivity,
    /// Store.
    pub store: StoreHealth,
    /// What needs a hand, one sentence each (empty = healthy).
    pub problems: Vec<String>,
}

fn installed(paths: &InstallPaths) -> Installed {
    let mut out = Installed::default();
    let mut json = |p: &Path| -> Value {
        match read_current(p) {
            Ok(Some(t)) => match serde_json::from_str(&t) {
                Ok(v) => v,
                Err(e) => {
                    out.unreadable
                        .push(format!("{}: {}", p.display(), Chain(&e)));
                    Value::Null
                }
            },
            Ok(None) => Value::Null,
            Err(e) => {
                out.unreadable.push(Chain(&e).to_string());
                Value::Null
            }
        }
    };
    let settings = json(&paths.claude_settings);
    let cj = json(&paths.claude_json);
    if let Some(hooks) = settings.get("hooks").and_then(Value::as_object) {
        for (event, groups) in hooks {
            let ours = groups
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.get("hooks").and_then(Value::as_array))
                .flatten()
                .filter_map(|h| h.get("command").and_then(Value::as_str))
                .any(is_entwurf_hook_command);
            if ours {
                out.claude_hooks.push(event.clone());
            }
        }
    }
    out.claude_mcp = cj
        .get("mcpServers")
        .and_then(|m| m.get(MCP_SERVER_NAME))
        .is_some();
    out.reference = reference_in_claude(&settings, &cj);
    match read_current(&paths.codex_config) {
        Ok(Some(t)) => match t.parse::<toml_edit::DocumentMut>() {
            Ok(doc) => {
                out.codex_mcp = doc
                    .get("mcp_servers")
                    .and_then(|s| s.as_table_like())
                    .is_some_and(|s| s.contains_key(MCP_SERVER_NAME));
                out.reference.extend(reference_in_codex(&doc));
            }
            Err(e) => out.unreadable.push(format!(
                "{}: {}",
                paths.codex_config.display(),
                e.to_string().trim()
            )),
        },
        Ok(None) => {}
        Err(e) => out.unreadable.push(Chain(&e).to_string()),
    }
    out
}

fn activity(log: &HookLog, now: DateTime<Utc>) -> (HookActivity, Option<String>) {
    let (entries, err) = match log.tail(LOG_TAIL_BYTES) {
        Ok(e) => (e, None),
        Err(e) => (
            Vec::new(),
            Some(format!("{}: {}", log.path().display(), Chain(&e))),
        ),
    };
    let recent = |e: &&LogEntry| {
        now.signed_duration_since(e.at)
            .to_std()
            .map(|d| d <= RECENT)
            .unwrap_or(true)
    };
    (
        HookActivity {
            log: log.path().to_path_buf(),
            last_run: entries.iter().map(|e| e.at).max(),
            recent_errors: entries
                .iter()
                .filter(recent)
                .filter(|e| e.level == Level::Error)
                .cloned()
                .collect(),
            recent_warnings: entries
                .iter()
                .filter(recent)
                .filter(|e| e.level == Level::Warn)
                .count(),
        },
        err,
    )
}

/// Whether a file name is an older writer's temp name (the reference's `<file>.tmp-<pid>-<ms>`,
/// `<file>.<hex>.tmp` of markers, `.<name>.tmp` of messages); current writers name their temps
/// after themselves (`entwurf_fs::temp_name`) and those are judged by their writer's liveness.
pub fn is_legacy_temp_name(name: &str) -> bool {
    name.contains(".tmp-") || name.ends_with(".tmp")
}

/// Whether `name` (modified `age` ago) is a leftover: a writer-named temp whose writer is dead,
/// or an older-style temp name untouched for [`STALE_TEMP`].
pub fn is_leftover_temp(name: &str, age: Option<Duration>) -> bool {
    match entwurf_fs::parse_temp_name(name) {
        Some(w) => entwurf_fs::writer_is_dead(&w),
        None => is_legacy_temp_name(name) && age.is_some_and(|a| a > STALE_TEMP),
    }
}

fn stale_temps(dir: &Path, now: SystemTime, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if entwurf_fs::parse_temp_name(name).is_none() && !is_legacy_temp_name(name) {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok());
        if is_leftover_temp(name, age) {
            out.push(entry.path());
        }
    }
}

fn store_health(dirs: &Dirs, now: SystemTime) -> StoreHealth {
    let mut h = StoreHealth::default();
    match list_records(&dirs.sessions) {
        Ok(listing) => {
            h.records = listing.records.len();
            h.swept_temps = listing.removed_temps.clone();
            h.unreadable = listing
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.filename, e.message))
                .collect();
            // The same grouping `entwurf record repair` acts on (the oldest record first: the
            // identity repair keeps).
            match entwurf_meta_session::find_twins(&dirs.sessions) {
                Ok(groups) => {
                    h.forked = groups
                        .into_iter()
                        .map(|g| ForkedIdentity {
                            backend: g.keep.backend.as_str().to_owned(),
                            native_session_id: g.native_session_id,
                            garden_ids: std::iter::once(&g.keep)
                                .chain(&g.others)
                                .map(|r| r.garden_id.to_string())
                                .collect(),
                        })
                        .collect()
                }
                Err(e) => h.error = Some(Chain(&e).to_string()),
            }
        }
        Err(e) => h.error = Some(Chain(&e).to_string()),
    }
    stale_temps(&dirs.sessions, now, &mut h.leftover_temps);
    stale_temps(&dirs.receivers, now, &mut h.leftover_temps);
    if let Ok(rd) = std::fs::read_dir(&dirs.senders) {
        for e in rd.flatten() {
            stale_temps(&e.path(), now, &mut h.leftover_temps);
        }
    }
    if let Ok(rd) = std::fs::read_dir(&dirs.mailbox) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stale_temps(&e.path(), now, &mut h.leftover_temps);
            }
        }
    }
    h.leftover_temps.sort();
    h
}

/// Gathers the report. `now` decides what "recent" means.
pub fn diagnose(paths: &InstallPaths, dirs: &Dirs, log: &HookLog, now: DateTime<Utc>) -> Report {
    let installed = installed(paths);
    let (hook, log_err) = activity(log, now);
    let store = store_health(dirs, SystemTime::from(now));
    let mut problems = Vec::new();
    let missing: Vec<&str> = crate::install::claude_events()
        .iter()
        .copied()
        .filter(|e| !installed.claude_hooks.iter().any(|h| h == e))
        .collect();
    if !installed.claude_hooks.is_empty() && !missing.is_empty() {
        problems.push(format!(
            "Claude Code hooks incomplete (missing {}): run `entwurf install claude-code`",
            missing.join(", ")
        ));
    }
    if !installed.claude_hooks.is_empty() && !installed.claude_mcp {
        problems.push("Claude Code hooks are installed but the entwurf MCP server is not: run `entwurf install claude-code`".into());
    }
    if !installed.reference.is_empty() && !installed.claude_hooks.is_empty() {
        problems.push(format!(
            "both the reference bridge ({}) and entwurf are wired: every hook runs twice; run `entwurf install claude-code --replace-reference`",
            installed.reference.join("; ")
        ));
    }
    for u in &installed.unreadable {
        problems.push(format!("unreadable configuration: {u}"));
    }
    if let Some(e) = log_err {
        problems.push(format!("hook log unreadable: {e}"));
    }
    if !installed.claude_hooks.is_empty() {
        match hook.last_run {
            None => problems.push(format!(
                "the hook has never logged a run in {}: open a Claude Code session (hooks load at start), then run doctor again",
                hook.log.display()
            )),
            Some(t) if now.signed_duration_since(t).to_std().is_ok_and(|d| d > RECENT) => {
                problems.push(format!("the hook has not run since {t}: is Claude Code running with these settings?"))
            }
            _ => {}
        }
    }
    if let Some(last) = hook.recent_errors.last() {
        problems.push(format!(
            "{} hook error(s) in the last 24 h; the last: {} {}",
            hook.recent_errors.len(),
            last.at.format("%Y-%m-%dT%H:%M:%SZ"),
            last.message
        ));
    }
    if let Some(e) = &store.error {
        problems.push(format!("the record store cannot be listed: {e}"));
    }
    if !store.unreadable.is_empty() {
        problems.push(format!(
            "{} unreadable record(s) in {}: {}",
            store.unreadable.len(),
            dirs.sessions.display(),
            store.unreadable.join("; ")
        ));
    }
    for f in &store.forked {
        problems.push(format!(
            "forked identity: {} session {} has {} garden ids ({}, the first is the one kept); run `entwurf record repair` to merge them",
            f.backend,
            f.native_session_id,
            f.garden_ids.len(),
            f.garden_ids.join(", ")
        ));
    }
    if !store.leftover_temps.is_empty() {
        problems.push(format!(
            "{} leftover temp file(s) from dead writers (safe to delete): {}",
            store.leftover_temps.len(),
            store
                .leftover_temps
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Report {
        installed,
        hook,
        store,
        problems,
    }
}

impl Report {
    /// The text form.
    pub fn render(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mut s = String::new();
        s.push_str("installed\n");
        s.push_str(&format!(
            "  claude-code hooks: {}\n",
            if self.installed.claude_hooks.is_empty() {
                "none".to_owned()
            } else {
                self.installed.claude_hooks.join(", ")
            }
        ));
        s.push_str(&format!(
            "  claude-code mcp:   {}\n",
            yes(self.installed.claude_mcp)
        ));
        s.push_str(&format!(
            "  codex mcp:         {}\n",
            yes(self.installed.codex_mcp)
        ));
        if !self.installed.reference.is_empty() {
            s.push_str(&format!(
                "  reference bridge:  {}\n",
                self.installed.reference.join("; ")
            ));
        }
        s.push_str(&format!("hook log ({})\n", self.hook.log.display()));
        s.push_str(&format!(
            "  last run: {}\n",
            self.hook
                .last_run
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_else(|| "never".into())
        ));
        s.push_str(&format!(
            "  last 24 h: {} error(s), {} warning(s)\n",
            self.hook.recent_errors.len(),
            self.hook.recent_warnings
        ));
        s.push_str("store\n");
        s.push_str(&format!("  records: {}\n", self.store.records));
        s.push_str(&format!("  unreadable: {}\n", self.store.unreadable.len()));
        s.push_str(&format!(
            "  forked identities: {}\n",
            self.store.forked.len()
        ));
        s.push_str(&format!(
            "  leftover temps: {}\n",
            self.store.leftover_temps.len()
        ));
        if self.problems.is_empty() {
            s.push_str("ok: nothing needs a hand\n");
        } else {
            for p in &self.problems {
                s.push_str(&format!("problem: {p}\n"));
            }
        }
        s
    }
}
