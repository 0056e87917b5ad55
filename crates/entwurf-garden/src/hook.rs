//! `entwurf hook claude-code`: one entry point for the four Claude Code hook events.
//!
//! * `SessionStart` / `CwdChanged`: upsert the claude-code record keyed by the native session
//!   id, write the sender marker and the receiver marker for the Claude Code process, make sure
//!   `<mailbox>/<gid>/inbox.signal` exists, and answer
//!   `{"hookSpecificOutput":{"hookEventName":…,"watchPaths":["…/inbox.signal"]}}`.
//! * `UserPromptSubmit`: upsert and sender marker only, answer `{}` (this event cannot arm a
//!   watch, so it never claims a receiver).
//! * `FileChanged`: the doorbell. A changed `<mailbox>/<gid>/inbox.signal` with fresh `*.msg`
//!   marks them delivered, puts the notice on stderr and exits 2 (wakes the session); nothing
//!   fresh, or a file that is not one of our signals, exits 0 silently.
//!
//! Never blocks a session: every failure becomes a leveled line in the hook log and the answer
//! `{}` with exit 0.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveTime, Utc};
use entwurf_fs::Chain;
use entwurf_meta_session::{
    upsert, write_receiver_marker, write_sender_marker, ArmProvenance, Backend, Dirs, GardenId,
    Patch, ReceiverMarkerInput, SenderMarkerInput, UpsertInput,
};

use crate::envelope::{parse_envelope, Envelope, HookEvent};
use crate::log::{HookLog, Level};

/// The file Claude Code is told to watch inside a mailbox.
pub const SIGNAL_FILE: &str = "inbox.signal";

/// What the hook process prints and returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    /// Exactly what goes to stdout.
    pub stdout: String,
    /// Exactly what goes to stderr.
    pub stderr: String,
    /// The exit status (0, or 2 for a doorbell that wakes the session).
    pub exit_code: u8,
}

impl HookOutcome {
    fn empty_answer() -> Self {
        Self {
            stdout: "{}\n".into(),
            stderr: String::new(),
            exit_code: 0,
        }
    }

    fn silent() -> Self {
        Self {
            stdout: String::new(),
            stderr: String::new(),
            exit_code: 0,
        }
    }
}

/// Everything the hook needs from its surroundings, passed in (no environment reads here).
pub struct HookContext<'a> {
    /// The store directories.
    pub dirs: &'a Dirs,
    /// Where leveled lines go.
    pub log: &'a HookLog,
    /// Resolves the Claude Code process (called only when a marker is written).
    pub owner_pid: &'a dyn Fn() -> i64,
    /// The process's cwd, used when the envelope has none.
    pub process_cwd: Option<String>,
    /// Now (UTC) for records, markers and log lines.
    pub now: DateTime<Utc>,
    /// The local wall-clock time for the doorbell's `hook.log` lines.
    pub local_time: NaiveTime,
}

/// Runs the hook on the raw stdin bytes, or on the stdin read error.
pub fn run_hook(input: Result<&[u8], String>, ctx: &HookContext<'_>) -> HookOutcome {
    let bytes = match input {
        Ok(b) => b,
        Err(e) => {
            ctx.log
                .append(ctx.now, Level::Error, &format!("stdin read failed: {e}"));
            return HookOutcome::empty_answer();
        }
    };
    let env = match parse_envelope(bytes) {
        Ok(env) => env,
        Err(e) => {
            ctx.log.append(
                ctx.now,
                Level::Error,
                &format!("envelope parse failed: {}", Chain(&e)),
            );
            return HookOutcome::empty_answer();
        }
    };
    match env.event {
        HookEvent::FileChanged => doorbell(&env, ctx),
        _ => citizen(&env, ctx),
    }
}

fn citizen(env: &Envelope, ctx: &HookContext<'_>) -> HookOutcome {
    let event = env.event.name();
    let degraded_level = if env.event.arms_watch() {
        Level::Error
    } else {
        Level::Warn
    };
    let cwd = if env.cwd.is_empty() {
        ctx.process_cwd.clone().unwrap_or_default()
    } else {
        env.cwd.clone()
    };
    if env.session_id.is_empty() || env.transcript_path.is_empty() || cwd.is_empty() {
        let state = |s: &str| if s.is_empty() { "MISSING" } else { "set" };
        ctx.log.append(
            ctx.now,
            degraded_level,
            &format!(
                "degraded envelope (event={event}, session_id={}, transcript_path={}, cwd={}): no record written",
                state(&env.session_id),
                state(&env.transcript_path),
                state(&cwd),
            ),
        );
        return HookOutcome::empty_answer();
    }

    let mut input = UpsertInput::new(Backend::ClaudeCode, &env.session_id, &cwd);
    input.transcript_path = Patch::Value(env.transcript_path.clone());
    input.model = Patch::from_option(env.model.clone());
    let result = match upsert(&ctx.dirs.sessions, &ctx.dirs.mailbox, &input, ctx.now) {
        Ok(r) => r,
        Err(e) => {
            ctx.log.append(
                ctx.now,
                Level::Error,
                &format!(
                    "upsert failed (event={event}, native={}): {}",
                    env.session_id,
                    Chain(&e)
                ),
            );
            return HookOutcome::empty_answer();
        }
    };
    for skipped in &result.skipped {
        ctx.log.append(
            ctx.now,
            Level::Warn,
            &format!(
                "scan skipped {}: {} (run `entwurf doctor`)",
                skipped.file, skipped.message
            ),
        );
    }
    let gid = result.record.garden_id.clone();
    let owner = (ctx.owner_pid)();
    let mut notes = Vec::new();

    if owner > 1 {
        let sender = SenderMarkerInput {
            backend: Backend::ClaudeCode,
            garden_id: gid.clone(),
            native_session_id: env.session_id.clone(),
            cwd: cwd.clone(),
            owner_pid: owner,
        };
        if let Err(e) = write_sender_marker(&ctx.dirs.senders, &sender, ctx.now) {
            ctx.log.append(
                ctx.now,
                Level::Warn,
                &format!(
                    "sender marker write failed (event={event}, pid={owner}, garden={gid}): {}",
                    Chain(&e)
                ),
            );
        }
    } else {
        notes.push("no owner process");
    }

    let provenance = match env.event {
        HookEvent::SessionStart => ArmProvenance::SessionStart,
        HookEvent::CwdChanged => ArmProvenance::CwdChanged,
        _ => {
            ctx.log.append(
                ctx.now,
                Level::Info,
                &format!(
                    "{} {gid} (event={event}, native={}, owner={owner})",
                    result.action.as_str(),
                    env.session_id
                ),
            );
            return HookOutcome::empty_answer();
        }
    };

    let signal = match ensure_signal(&ctx.dirs.mailbox, &gid) {
        Ok(p) => p,
        Err(e) => {
            ctx.log.append(
                ctx.now,
                Level::Error,
                &format!("arm failed (event={event}, garden={gid}): {}", Chain(&e)),
            );
            return HookOutcome::empty_answer();
        }
    };
    if owner > 1 {
        let receiver = ReceiverMarkerInput {
            garden_id: gid.clone(),
            backend: Backend::ClaudeCode,
            native_session_id: env.session_id.clone(),
            owner_pid: owner,
            owner_kind: None,
            arm_provenance: provenance,
        };
        if let Err(e) = write_receiver_marker(&ctx.dirs.receivers, &receiver, ctx.now) {
            ctx.log.append(
                ctx.now,
                Level::Warn,
                &format!(
                    "receiver marker write failed (event={event}, garden={gid}): {}",
                    Chain(&e)
                ),
            );
        }
    }
    ctx.log.append(
        ctx.now,
        Level::Info,
        &format!(
            "{} {gid} (event={event}, native={}, owner={owner}) watch {}{}",
            result.action.as_str(),
            env.session_id,
            signal.display(),
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            }
        ),
    );
    let answer = serde_json::json!({
        "hookSpecificOutput": {
            "hookEventName": event,
            "watchPaths": [signal.to_string_lossy()],
        }
    });
    HookOutcome {
        stdout: format!("{answer}\n"),
        stderr: String::new(),
        exit_code: 0,
    }
}

/// `mkdir -p <mailbox>/<gid>` and create `inbox.signal` (empty, 0600) when absent; an existing
/// signal is left untouched. A symlink at the signal's name is refused.
pub fn ensure_signal(mailbox_root: &Path, gid: &GardenId) -> std::io::Result<PathBuf> {
    let dir = mailbox_root.join(gid.as_str());
    std::fs::create_dir_all(&dir)?;
    let signal = dir.join(SIGNAL_FILE);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(crate::log::libc_o_nofollow() | crate::log::libc_o_nonblock())
        .open(&signal)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", signal.display())))?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file; remove it so the doorbell can be armed",
            signal.display()
        )));
    }
    Ok(signal)
}

/// Where a FileChanged path points, if it is one of our doorbells: `<mailbox>/<gid>/inbox.signal`
/// for a valid gid under `mailbox_root` (compared as given, then canonicalised). Pure apart from
/// the canonicalisation fallback.
pub fn signal_mailbox(file_path: &str, mailbox_root: &Path) -> Option<(GardenId, PathBuf)> {
    let path = Path::new(file_path);
    if path.file_name()? != SIGNAL_FILE {
        return None;
    }
    let dir = path.parent()?;
    let gid = GardenId::parse(dir.file_name()?.to_str()?).ok()?;
    let root = dir.parent()?;
    let same_root = root == mailbox_root
        || match (root.canonicalize(), mailbox_root.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
    same_root.then(|| (gid, dir.to_path_buf()))
}

fn doorbell(env: &Envelope, ctx: &HookContext<'_>) -> HookOutcome {
    let Some((gid, dir)) = signal_mailbox(&env.file_path, &ctx.dirs.mailbox) else {
        // Not one of our signals (another hook's watch, or an empty path): nothing to ring.
        return HookOutcome::silent();
    };
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            ctx.log.append(
                ctx.now,
                Level::Error,
                &format!("doorbell refused: {} is not a directory", dir.display()),
            );
            return HookOutcome::empty_answer();
        }
        Err(e) => {
            ctx.log.append(
                ctx.now,
                Level::Warn,
                &format!(
                    "doorbell for {gid}: mailbox {} unreadable: {}",
                    dir.display(),
                    Chain(&e)
                ),
            );
            return HookOutcome::empty_answer();
        }
    }
    match entwurf_mailbox::ring_doorbell(&dir, ctx.local_time) {
        Ok(outcome) => {
            if outcome.exit_code == 2 {
                ctx.log.append(
                    ctx.now,
                    Level::Info,
                    &format!(
                        "doorbell {gid}: delivered {} fresh message(s)",
                        outcome.delivered.len()
                    ),
                );
            }
            HookOutcome {
                stdout: String::new(),
                stderr: outcome.notice,
                exit_code: outcome.exit_code,
            }
        }
        Err(e) => {
            ctx.log.append(
                ctx.now,
                Level::Error,
                &format!("doorbell for {gid} failed: {}", Chain(&e)),
            );
            HookOutcome::empty_answer()
        }
    }
}
