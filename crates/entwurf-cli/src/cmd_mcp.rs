//! `entwurf mcp`: the stdio MCP server (server name `entwurf`) giving Claude Code, Codex and
//! other MCP hosts the garden's tools. Sends go through the same production wiring as
//! `entwurf send`. The environment is read here, once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use entwurf_mcp::identity::{proc_parent, IdentityDirs, IdentityEnv};
use entwurf_mcp::{Garden, Options};

use crate::cmd_send::Wiring;
use crate::ctx::{CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Let a caller with no garden identity and no sender label send (the reference's default).
    #[arg(long)]
    allow_anonymous: bool,
    /// Any caller may drain any mailbox, and `gardenId` is required (the reference's behaviour).
    #[arg(long)]
    any_inbox: bool,
    /// Send as this identified, non-replyable external caller when the caller has no garden
    /// identity (e.g. `external-mcp/codex`). Default: $ENTWURF_BRIDGE_EXTERNAL_AGENT_ID.
    #[arg(long, value_name = "LABEL")]
    sender_label: Option<String>,
    /// No `outputSchema` / `structuredContent` (text only, as the reference).
    #[arg(long)]
    no_structured: bool,
    /// Only the reference's five tools (no `entwurf_inbox_peek` / `entwurf_inbox_wait`).
    #[arg(long)]
    reference_tools: bool,
    /// All of the above switches: behave as the reference's bridge.
    #[arg(long)]
    reference: bool,
}

/// `entwurf mcp-call TOOL [--args JSON]` (hidden): one tool call without MCP framing, for
/// surfaces that run the tools in-process elsewhere (our pi extension). Prints
/// `{"text","isError","structured"}` on one line; exit 0 whenever a result was produced.
#[derive(clap::Args, Debug)]
pub struct CallArgs {
    /// The tool name.
    tool: String,
    /// The arguments, a JSON object.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    args: String,
    #[command(flatten)]
    switches: Args,
}

pub fn call(args: CallArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let garden = garden(args.switches, ctx)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let out = match serde_json::from_str::<serde_json::Value>(&args.args) {
        Ok(serde_json::Value::Object(m)) => runtime.block_on(garden.call(&args.tool, Some(&m))),
        Ok(_) => entwurf_mcp::ToolOutput::err(format!(
            "MCP error -32602: Invalid arguments for tool {}: --args must be a JSON object",
            args.tool
        )),
        Err(e) => entwurf_mcp::ToolOutput::err(format!(
            "MCP error -32602: Invalid arguments for tool {}: --args is not JSON ({e})",
            args.tool
        )),
    };
    let line = serde_json::json!({
        "text": out.text,
        "isError": out.is_error,
        "structured": out.structured,
    });
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let garden = garden(args, ctx)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime
        .block_on(entwurf_mcp::serve_stdio(garden))
        .map_err(CliError::Mcp)?;
    Ok(ExitCode::SUCCESS)
}

fn garden(args: Args, ctx: &Ctx) -> Result<Garden, CliError> {
    // The control dir: --control-dir, else $ENTWURF_DIR (the bridge's variable), else default.
    let mut global = ctx.global.clone();
    if global.control_dir.is_none() {
        global.control_dir = std::env::var_os("ENTWURF_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
    }
    let ctx = Ctx::new(global);
    let dirs = ctx.dirs()?;
    let wiring = Wiring::from_ctx(&ctx)?;
    let opts = if args.reference {
        Options::reference()
    } else {
        Options {
            allow_anonymous: args.allow_anonymous,
            any_inbox: args.any_inbox,
            structured: !args.no_structured,
            extra_tools: !args.reference_tools,
        }
    };
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut env = IdentityEnv::from_lookup(&|k| std::env::var(k).ok(), cwd);
    if let Some(label) = args.sender_label.filter(|l| !l.trim().is_empty()) {
        env.sender_label = Some(label.trim().to_owned());
    }
    Ok(Garden::new(
        opts,
        env,
        IdentityDirs {
            sessions: dirs.sessions,
            mailbox: dirs.mailbox,
            receivers: dirs.receivers,
            senders: dirs.senders,
            control: ctx.control_dir()?,
        },
        ctx.home().map(|h| h.to_string_lossy().into_owned()),
        Arc::new(move |sender| wiring.build(sender)),
        u32::try_from(nix::unistd::getppid().as_raw()).ok(),
        proc_parent,
    ))
}
