//! `entwurf hook claude-code`: the Claude Code hook for SessionStart, CwdChanged,
//! UserPromptSubmit and FileChanged (the doorbell). Never blocks a session: whatever goes
//! wrong becomes a line in the hook log and the answer `{}` with exit 0.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use entwurf_fs::Chain;
use entwurf_garden::{run_hook, HookContext, HookLog, Level};
use entwurf_meta_session::Dirs;

use crate::ctx::{CliError, Ctx};

/// The largest envelope read (a UserPromptSubmit envelope carries the whole prompt).
const MAX_STDIN: u64 = 64 * 1024 * 1024;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    agent: Agent,
}

// The doc comments below are clap's --help text, where `<agent>` is a placeholder, not HTML.
#[allow(rustdoc::invalid_html_tags)]
#[derive(clap::Subcommand, Debug)]
enum Agent {
    /// The Claude Code hook: the hook envelope (JSON) on stdin.
    ///
    /// SessionStart / CwdChanged: record + markers, answers watchPaths for the doorbell.
    /// UserPromptSubmit: record + sender marker, answers {}. FileChanged: the doorbell (exit 2
    /// with the notice on stderr when fresh mail was marked delivered, else silent exit 0).
    /// Errors go to the hook log ($ENTWURF_HOOK_LOG, else <agent dir>/entwurf-hook.log).
    ClaudeCode(ClaudeArgs),
}

// The doc comments below are clap's --help text, where `<agent>` is a placeholder, not HTML.
#[allow(rustdoc::invalid_html_tags)]
#[derive(clap::Args, Debug)]
struct ClaudeArgs {
    /// The hook log (default: $ENTWURF_HOOK_LOG, else <agent dir>/entwurf-hook.log).
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
}

/// The hook log path: the flag, `$ENTWURF_HOOK_LOG`, else `<agent dir>/entwurf-hook.log` (the
/// agent dir as the stores resolve it; `~/.pi/agent` when the environment is unusable).
pub fn hook_log(flag: Option<PathBuf>, dirs: Option<&Dirs>) -> HookLog {
    if let Some(p) = flag {
        return HookLog::new(p);
    }
    if let Some(p) = std::env::var_os("ENTWURF_HOOK_LOG").filter(|v| !v.is_empty()) {
        return HookLog::new(PathBuf::from(p));
    }
    match dirs {
        Some(d) => HookLog::in_agent_dir(&d.agent),
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            HookLog::in_agent_dir(&home.join(".pi").join("agent"))
        }
    }
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let Agent::ClaudeCode(a) = args.agent;
    let now = chrono::Utc::now();
    let dirs = ctx.dirs();
    let log = hook_log(a.log_file, dirs.as_ref().ok());
    let outcome = match &dirs {
        Err(e) => {
            // Drain stdin so Claude Code's write does not fail, then answer {}.
            let _ = std::io::copy(&mut std::io::stdin().take(MAX_STDIN), &mut std::io::sink());
            log.append(
                now,
                Level::Error,
                &format!("store directories unusable: {}", Chain(e)),
            );
            entwurf_garden::HookOutcome {
                stdout: "{}\n".into(),
                stderr: String::new(),
                exit_code: 0,
            }
        }
        Ok(dirs) => {
            let mut buf = Vec::new();
            let read = std::io::stdin()
                .take(MAX_STDIN + 1)
                .read_to_end(&mut buf)
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    if buf.len() as u64 > MAX_STDIN {
                        Err(format!("envelope larger than {MAX_STDIN} bytes"))
                    } else {
                        Ok(())
                    }
                });
            let parent = i64::from(std::os::unix::process::parent_id());
            let owner = move || entwurf_garden::resolve_owner(parent);
            let hctx = HookContext {
                dirs,
                log: &log,
                owner_pid: &owner,
                process_cwd: std::env::current_dir()
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned()),
                now,
                local_time: chrono::Local::now().time(),
            };
            run_hook(read.map(|()| buf.as_slice()), &hctx)
        }
    };
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    Ok(ExitCode::from(outcome.exit_code))
}
