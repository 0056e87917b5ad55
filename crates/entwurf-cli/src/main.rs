//! `entwurf`: the command-line face of the entwurf v2 substrate, a thin layer over the crates.
//!
//! Each subcommand lives in its own module with an `Args` type and a `run` function returning a
//! typed `CliError`; `failure` turns every error (and every argument-parsing error) into stderr
//! text, the documented exit status and, under `--json`, one error object on stdout.
//!
//! **Architecture Invariant:** under `--json` every failure, argument-parsing errors included,
//! is exactly one JSON object `{"error":{kind,message,path}}` on stdout, with the exit status
//! and the stderr text it has without `--json`. Proved by
//! `crates/entwurf-cli/tests/cli_json_errors.rs::send_to_a_path_shaped_target_is_one_invalid_garden_id_object_exit_2`,
//! `::a_corrupt_record_is_one_corrupt_object_naming_the_file`,
//! `::a_refused_mailbox_send_is_one_refused_object_exit_3` and
//! `::help_and_version_with_json_are_not_failures`.
//!
//! **Architecture Invariant:** the environment is read once, at the edge (`ctx`), and every
//! directory is passed on explicitly, so a test that sets `HOME` and the store flags to a temp
//! dir writes nothing to the real home. Proved by
//! `crates/entwurf-cli/tests/cli_send.rs::send_to_a_socket_only_pi_is_sent_and_leaves_no_lock`
//! (nothing written to `HOME`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd_doctor;
mod cmd_hook;
mod cmd_id;
mod cmd_install;
mod cmd_lock;
mod cmd_mailbox;
mod cmd_mcp;
mod cmd_peers;
mod cmd_receiver;
mod cmd_record;
mod cmd_send;
mod ctx;
mod failure;

use ctx::{Ctx, GlobalArgs};

/// mimalloc instead of the system allocator: listing a large garden allocates and frees tens
/// of thousands of small strings, where glibc's malloc spent a sixth of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// entwurf v2 dispatch substrate.
#[derive(Parser, Debug)]
#[command(name = "entwurf", version, about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Garden ids.
    Id(cmd_id::Args),
    /// Meta records (who the citizens are).
    Record(cmd_record::Args),
    /// Receiver markers (who listens on a mailbox).
    Receiver(cmd_receiver::Args),
    /// The per-target dispatch lock.
    Lock(cmd_lock::Args),
    /// The meta mailbox.
    Mailbox(cmd_mailbox::Args),
    /// Dispatch a message to a garden citizen.
    Send(cmd_send::Args),
    /// List citizens and socket-only endpoints with their liveness.
    Peers(cmd_peers::Args),
    /// Serve the garden's tools over MCP on stdin/stdout (for Claude Code, Codex, …).
    Mcp(cmd_mcp::Args),
    /// One MCP tool call without MCP framing (used by the pi extension).
    #[command(hide = true)]
    McpCall(cmd_mcp::CallArgs),
    /// Agent hooks (`entwurf hook claude-code`, run by Claude Code).
    Hook(cmd_hook::Args),
    /// Wire entwurf into Claude Code or Codex (`--dry-run`, `--uninstall`).
    Install(cmd_install::Args),
    /// Check the installation, the hook log and the store's health.
    Doctor(cmd_doctor::Args),
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return failure::usage(err, failure::json_requested(std::env::args_os())),
    };
    let json = cli.global.json;
    let ctx = Ctx::new(cli.global);
    let result = match cli.command {
        Command::Id(a) => cmd_id::run(a, &ctx),
        Command::Record(a) => cmd_record::run(a, &ctx),
        Command::Receiver(a) => cmd_receiver::run(a, &ctx),
        Command::Lock(a) => cmd_lock::run(a, &ctx),
        Command::Mailbox(a) => cmd_mailbox::run(a, &ctx),
        Command::Send(a) => cmd_send::run(a, &ctx),
        Command::Peers(a) => cmd_peers::run(a, &ctx),
        Command::Mcp(a) => cmd_mcp::run(a, &ctx),
        Command::McpCall(a) => cmd_mcp::call(a, &ctx),
        Command::Hook(a) => cmd_hook::run(a, &ctx),
        Command::Install(a) => cmd_install::run(a, &ctx),
        Command::Doctor(a) => cmd_doctor::run(a, &ctx),
    };
    match result {
        Ok(code) => code,
        Err(err) => failure::report(&err, json),
    }
}

/// Rust ignores SIGPIPE, so `entwurf peers | head` would panic on the closed pipe. A command-line
/// tool should end quietly instead, like any Unix filter.
fn restore_default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL installs no handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
