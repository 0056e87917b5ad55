//! `entwurf install claude-code | codex`: pure planning of configuration edits, a diff-like
//! rendering, and applying a plan with a backup of every file it changes.
//!
//! Planning ([`plan_claude`], [`plan_codex`]) takes the current file texts and returns the new
//! ones; it does no IO, so every case is testable on strings. [`read_current`] and
//! [`apply_plan`] are the only functions that touch the disk.
//!
//! * Claude Code: the four hooks in the user settings (`<claude dir>/settings.json` `hooks`),
//!   the MCP server in the user-scope MCP map (`~/.claude.json` `mcpServers`, where
//!   `claude mcp add -s user` puts it; `$CLAUDE_CONFIG_DIR/.claude.json` when that is set), and
//!   a small state file (`<claude dir>/entwurf-install.json`) that remembers which containers
//!   the install created and what `--replace-reference` took away, so `--uninstall` restores
//!   the files exactly.
//! * Codex: `[mcp_servers.entwurf]` in `$CODEX_HOME/config.toml` (`~/.codex/config.toml`), with
//!   an explicit sender label; comments, order and formatting of everything else are kept
//!   (`toml_edit`).
//!
//! Idempotent: planning against an installed configuration yields no edits.

mod claude;
mod codex;
mod diff;
mod jsonfmt;

use std::path::{Path, PathBuf};

pub use claude::{
    hook_command, is_entwurf_hook_command, plan_claude, reference_in_claude, ClaudeInputs,
    MCP_SERVER_NAME, REFERENCE_MCP_NAMES, REFERENCE_PLUGIN, STATE_FILE,
};
pub use codex::{plan_codex, reference_in_codex};
pub use diff::render_diff;

/// The Claude Code events `entwurf install claude-code` hooks, in order.
pub fn claude_events() -> &'static [&'static str] {
    &claude::EVENTS
}

/// Which agent to wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Claude Code: hooks + MCP server.
    ClaudeCode,
    /// Codex: MCP server only (Codex has no hooks).
    Codex,
}

impl Target {
    /// `claude-code` / `codex`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::ClaudeCode => "claude-code",
            Target::Codex => "codex",
        }
    }
}

/// Where the configuration files are. Every path can be overridden (tests use temp homes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstallPaths {
    /// Claude Code user settings (`<claude dir>/settings.json`).
    pub claude_settings: PathBuf,
    /// Claude Code's global config holding user-scope MCP servers (`~/.claude.json`).
    pub claude_json: PathBuf,
    /// Our install state (`<claude dir>/entwurf-install.json`).
    pub claude_state: PathBuf,
    /// Codex config (`<codex home>/config.toml`).
    pub codex_config: PathBuf,
}

impl InstallPaths {
    /// The default layout: `claude_config_dir` (`$CLAUDE_CONFIG_DIR`) holds `settings.json` and
    /// `.claude.json` when given, else `<home>/.claude/settings.json` and `<home>/.claude.json`;
    /// `codex_home` (`$CODEX_HOME`) else `<home>/.codex`.
    pub fn resolve(
        home: &Path,
        claude_config_dir: Option<&Path>,
        codex_home: Option<&Path>,
    ) -> Self {
        let (claude_dir, claude_json) = match claude_config_dir {
            Some(d) => (d.to_path_buf(), d.join(".claude.json")),
            None => (home.join(".claude"), home.join(".claude.json")),
        };
        let codex = codex_home
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.join(".codex"));
        Self {
            claude_settings: claude_dir.join("settings.json"),
            claude_state: claude_dir.join(STATE_FILE),
            claude_json,
            codex_config: codex.join("config.toml"),
        }
    }
}

/// What the install writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// The absolute path of the `entwurf` binary the hooks and MCP entries run.
    pub entwurf_bin: String,
    /// Remove instead of add.
    pub uninstall: bool,
    /// Take the reference's bridge/plugin out of the way instead of refusing.
    pub replace_reference: bool,
    /// The arguments after the binary for the Claude Code MCP entry (`["mcp"]`).
    pub claude_mcp_args: Vec<String>,
    /// The arguments after the binary for the Codex MCP entry (`["mcp", "--sender-label", "external-mcp/codex"]`).
    pub codex_mcp_args: Vec<String>,
}

impl InstallOptions {
    /// Defaults for `entwurf_bin`: install, no replacement, the standard MCP arguments.
    pub fn new(entwurf_bin: impl Into<String>) -> Self {
        Self {
            entwurf_bin: entwurf_bin.into(),
            uninstall: false,
            replace_reference: false,
            claude_mcp_args: vec!["mcp".into()],
            codex_mcp_args: vec![
                "mcp".into(),
                "--sender-label".into(),
                "external-mcp/codex".into(),
            ],
        }
    }
}

/// One file's change: its text before (`None` = absent) and after (`None` = removed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileEdit {
    /// The file.
    pub path: PathBuf,
    /// Current text.
    pub before: Option<String>,
    /// New text.
    pub after: Option<String>,
}

/// What an install or uninstall would do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Which agent.
    pub target: Target,
    /// Whether this removes.
    pub uninstall: bool,
    /// Files that change (unchanged files are left out; empty = nothing to do).
    pub edits: Vec<FileEdit>,
    /// Remarks for the person running it (reference replaced, file reformatted, …).
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether applying it changes nothing.
    pub fn is_noop(&self) -> bool {
        self.edits.is_empty()
    }

    /// The diff-like rendering of every edit (what `--dry-run` prints).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verb = if self.uninstall {
            "uninstall"
        } else {
            "install"
        };
        if self.edits.is_empty() {
            out.push_str(&format!(
                "entwurf {verb} {}: nothing to change\n",
                self.target.as_str()
            ));
        } else {
            out.push_str(&format!(
                "entwurf {verb} {}: {} file(s) would change\n",
                self.target.as_str(),
                self.edits.len()
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        for edit in &self.edits {
            out.push_str(&render_diff(
                &edit.path,
                edit.before.as_deref(),
                edit.after.as_deref(),
            ));
        }
        out
    }
}

/// Why a plan could not be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A configuration file does not parse.
    #[error("{} is not valid {kind}: {message}; fix or move the file, then run again", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// `JSON` / `TOML`.
        kind: &'static str,
        /// The parser's message.
        message: String,
    },
    /// A key we must edit holds the wrong type.
    #[error("{}: `{key}` is {found}, expected {expected}; fix that entry by hand, then run again", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// What it is.
        found: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The reference's bridge or plugin is installed.
    #[error("the reference entwurf bridge is installed ({}); installing ours too would run every hook twice. Uninstall it (`meta-bridge-uninstall.sh`), or pass --replace-reference to disable it here (uninstall restores it)", found.join("; "))]
    ReferenceInstalled {
        /// What was found.
        found: Vec<String>,
    },
    /// A file could not be read, backed up or written.
    #[error("could not {op} {}", path.display())]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file changed between planning and applying.
    #[error("{} changed while the install was being planned; run the command again", path.display())]
    Raced {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a configuration file's text: `None` when absent. A symlink is followed (dotfile
/// managers link these files); anything but a regular file at the end is refused, as is a file
/// over 64 MiB.
pub fn read_current(path: &Path) -> Result<Option<String>, InstallError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |op, source| InstallError::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", e)),
    };
    let meta = file.metadata().map_err(|e| io("read", e))?;
    if !meta.is_file() {
        return Err(io(
            "read",
            std::io::Error::other("not a regular file; move it away and run again"),
        ));
    }
    const MAX: u64 = 64 * 1024 * 1024;
    let mut buf = Vec::new();
    file.take(MAX + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io("read", e))?;
    if buf.len() as u64 > MAX {
        return Err(io("read", std::io::Error::other("larger than 64 MiB")));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| io("read", std::io::Error::other("not UTF-8 text")))
}

/// What [`apply_plan`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// Files written or removed.
    pub changed: Vec<PathBuf>,
    /// Backups made (`<file>.entwurf-backup-<stamp>`), one per file that existed before.
    pub backups: Vec<PathBuf>,
}

/// Applies a plan: for every edit, checks the file still has the planned `before` text, copies
/// it to `<file>.entwurf-backup-<stamp>` (mode kept), then writes the new text through a temp
/// file in the same directory and a rename (mode kept; a symlinked file is written at its
/// target, so the link stays). `after = None` removes the file (after its backup).
pub fn apply_plan(plan: &Plan, stamp: &str) -> Result<Applied, InstallError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut applied = Applied {
        changed: Vec::new(),
        backups: Vec::new(),
    };
    for edit in &plan.edits {
        let target = match std::fs::canonicalize(&edit.path) {
            Ok(p) => p,
            Err(_) => edit.path.clone(),
        };
        let io = |op, source| InstallError::Io {
            op,
            path: target.clone(),
            source,
        };
        let now = read_current(&target)?;
        if now != edit.before {
            return Err(InstallError::Raced { path: target });
        }
        let mode = std::fs::metadata(&target)
            .map(|m| m.permissions().mode() & 0o7777)
            .ok();
        if let Some(before) = &edit.before {
            let backup = sibling(&target, &format!(".entwurf-backup-{stamp}"));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode.unwrap_or(0o600))
                .open(&backup)
                .map_err(|e| io("back up", e))?;
            f.write_all(before.as_bytes())
                .map_err(|e| io("back up", e))?;
            applied.backups.push(backup);
        }
        match &edit.after {
            Some(text) => {
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
                }
                let tmp = sibling(&target, &format!(".entwurf-tmp-{}", std::process::id()));
                let write = (|| -> std::io::Result<()> {
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(mode.unwrap_or(0o600))
                        .open(&tmp)?;
                    if let Some(m) = mode {
                        f.set_permissions(std::fs::Permissions::from_mode(m))?;
                    }
                    f.write_all(text.as_bytes())?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &target)
                })();
                if let Err(e) = write {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(io("write", e));
                }
            }
            None => match std::fs::remove_file(&target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("remove", e)),
            },
        }
        applied.changed.push(target);
    }
    Ok(applied)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
