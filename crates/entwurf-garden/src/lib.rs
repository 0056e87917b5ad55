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
//! **Architecture Invariant:** the hook never blocks a Claude Code session: every failure
//! (garbage on stdin, an unwritable or read-only store, an unwritable log) is a log line and
//! `{}` with exit 0; only a doorbell with fresh mail exits 2 (the reference's answers,
//! `fixtures/golden/mcp/doorbell.json` and `fixtures/golden/mcp/hooks.json`). Proved by
//! `crates/entwurf-cli/tests/cli_hook.rs::garbage_stdin_answers_empty_and_logs_an_error`,
//! `::an_unwritable_store_answers_empty_and_logs_an_error`,
//! `::a_read_only_log_never_breaks_the_hook`, `::doorbell_matches_the_golden_runs` and
//! `::golden_envelopes_give_the_reference_answers_and_one_record`.
//!
//! **Architecture Invariant:** the hook's markers belong to the Claude Code process, never to a
//! `sh -c` wrapper or a login shell, and concurrent hooks of one session make one record.
//! Proved by `crates/entwurf-cli/tests/cli_hook.rs::a_sh_c_wrapper_is_skipped_and_claude_code_owns_the_markers`,
//! `::concurrent_hooks_for_one_session_make_one_record` and
//! `crates/entwurf-garden/src/owner.rs::skips_nested_wrappers_up_to_the_limit`.
//!
//! **Architecture Invariant:** `entwurf install` then `--uninstall` leaves the user's
//! configuration byte-identical; a second install changes nothing; every changed file is backed
//! up first; a file changed since planning is refused. Proved by
//! `crates/entwurf-garden/tests/install.rs::claude_round_trip_leaves_the_users_settings_byte_identical`,
//! `::codex_round_trip_keeps_comments_and_order`,
//! `::apply_refuses_a_file_changed_since_planning` and
//! `crates/entwurf-cli/tests/cli_install.rs::dry_run_prints_the_plan_and_changes_nothing`.
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
