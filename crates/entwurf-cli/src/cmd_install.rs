//! `entwurf install claude-code | codex`: wire `entwurf mcp` (and the Claude Code hooks) into the
//! user's configuration; `--dry-run` prints the diff, `--uninstall` takes it out again.

use std::path::PathBuf;
use std::process::ExitCode;

use entwurf_garden::install::{
    apply_plan, plan_claude, plan_codex, read_current, ClaudeInputs, InstallOptions, InstallPaths,
};

use crate::ctx::{CliError, Ctx};

/// Where the agents' configuration lives (every path overridable, so tests use temp homes).
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigPaths {
    /// The home directory the defaults are under (default: $HOME).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Claude Code's config dir, holding settings.json and .claude.json (default:
    /// $CLAUDE_CONFIG_DIR, else ~/.claude with ~/.claude.json).
    #[arg(long, value_name = "DIR")]
    pub claude_config_dir: Option<PathBuf>,
    /// Codex's home, holding config.toml (default: $CODEX_HOME, else ~/.codex).
    #[arg(long, value_name = "DIR")]
    pub codex_home: Option<PathBuf>,
}

impl ConfigPaths {
    /// Resolves the flags, then the environment (read here, at the edge).
    pub fn resolve(&self) -> Result<InstallPaths, CliError> {
        let env_dir = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = self
            .home
            .clone()
            .or_else(|| env_dir("HOME"))
            .ok_or(CliError::NoHome { store: "home" })?;
        let claude = self
            .claude_config_dir
            .clone()
            .or_else(|| env_dir("CLAUDE_CONFIG_DIR"));
        let codex = self.codex_home.clone().or_else(|| env_dir("CODEX_HOME"));
        Ok(InstallPaths::resolve(
            &home,
            claude.as_deref(),
            codex.as_deref(),
        ))
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    agent: Agent,
}

#[derive(clap::Subcommand, Debug)]
enum Agent {
    /// Claude Code: the four hooks in the user settings and the `entwurf` MCP server in the
    /// user-scope MCP map (~/.claude.json).
    ClaudeCode(Common),
    /// Codex: `[mcp_servers.entwurf]` in config.toml, with an explicit sender label (Codex has
    /// no hooks: its sessions can send, mail to them is undeliverable).
    Codex {
        #[command(flatten)]
        common: Common,
        /// The sender label the Codex MCP entry passes to `entwurf mcp`.
        #[arg(long, value_name = "LABEL", default_value = "codex")]
        sender_label: String,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// Take the configuration out again (restores what --replace-reference disabled).
    #[arg(long)]
    uninstall: bool,
    /// Print exactly what would change (a diff per file) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// If the reference's bridge or plugin is installed, disable it instead of refusing.
    #[arg(long)]
    replace_reference: bool,
    /// The entwurf binary the configuration runs (default: this executable).
    #[arg(long, value_name = "PATH")]
    entwurf_bin: Option<PathBuf>,
    #[command(flatten)]
    paths: ConfigPaths,
}

fn entwurf_bin(flag: &Option<PathBuf>) -> Result<String, CliError> {
    let path = match flag {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .map_err(|source| CliError::CurrentExe { source })?,
    };
    Ok(path.to_string_lossy().into_owned())
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let (common, plan) = match args.agent {
        Agent::ClaudeCode(common) => {
            let paths = common.paths.resolve()?;
            let mut opts = InstallOptions::new(entwurf_bin(&common.entwurf_bin)?);
            opts.uninstall = common.uninstall;
            opts.replace_reference = common.replace_reference;
            let settings = read_current(&paths.claude_settings)?;
            let cj = read_current(&paths.claude_json)?;
            let state = read_current(&paths.claude_state)?;
            let inputs = ClaudeInputs {
                settings: settings.as_deref(),
                claude_json: cj.as_deref(),
                state: state.as_deref(),
            };
            let plan = plan_claude(inputs, &paths, &opts)?;
            (common, plan)
        }
        Agent::Codex {
            common,
            sender_label,
        } => {
            let paths = common.paths.resolve()?;
            let mut opts = InstallOptions::new(entwurf_bin(&common.entwurf_bin)?);
            opts.uninstall = common.uninstall;
            opts.replace_reference = common.replace_reference;
            opts.codex_mcp_args = vec!["mcp".into(), "--sender-label".into(), sender_label];
            let current = read_current(&paths.codex_config)?;
            let plan = plan_codex(current.as_deref(), &paths, &opts)?;
            (common, plan)
        }
    };
    if common.dry_run {
        if ctx.global.json {
            println!("{}", serde_json::json!({ "dryRun": true, "plan": plan }));
        } else {
            print!("{}", plan.render());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let applied = apply_plan(&plan, &stamp)?;
    if ctx.global.json {
        println!(
            "{}",
            serde_json::json!({ "dryRun": false, "plan": plan, "applied": applied })
        );
    } else {
        print!("{}", plan.render());
        for b in &applied.backups {
            println!("backup: {}", b.display());
        }
        if !plan.is_noop() {
            let verb = if plan.uninstall {
                "uninstalled"
            } else {
                "installed"
            };
            println!("{verb}; restart running sessions to pick it up");
        }
    }
    Ok(ExitCode::SUCCESS)
}
