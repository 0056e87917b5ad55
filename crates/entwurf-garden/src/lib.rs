//! Claude Code and Codex as garden citizens, without Node or Python.
//!
//! * [`run_hook`]: `entwurf hook claude-code` — the hook envelope on stdin, the record and
//!   markers for the Claude Code process ([`resolve_owner`] skips a `sh -c` wrapper), the
//!   `watchPaths` answer, and the FileChanged doorbell; failures go to the leveled [`HookLog`].
//! * [`install`]: pure planning of the configuration edits (Claude Code user settings and
//!   `~/.claude.json`, Codex `config.toml`), a diff-like rendering, and applying a plan with
//!   backups.
//! * [`doctor`]: what is installed, whether the hook fired recently, the store's health.
//!
//! Nothing here reads the environment: directories and paths are arguments.

#![deny(missing_docs)]

mod envelope;
mod hook;
mod log;
mod owner;

pub mod doctor;
pub mod install;

pub use envelope::{parse_envelope, Envelope, EnvelopeError, HookEvent};
pub use hook::{ensure_signal, run_hook, signal_mailbox, HookContext, HookOutcome, SIGNAL_FILE};
pub use log::{format_line, parse_line, HookLog, Level, LogEntry, HOOK_LOG_FILE, ROTATE_BYTES};
pub use owner::{
    choose_owner, cmdline_runs_command_string, is_wrapper_shell, parse_stat, read_proc,
    resolve_owner, ProcInfo, MAX_SKIPPED_SHELLS, WRAPPER_SHELLS,
};
