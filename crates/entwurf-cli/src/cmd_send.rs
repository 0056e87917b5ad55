//! `entwurf send GID MESSAGE`: one real v2 dispatch through production wiring.
//!
//! Prints the run result (the reference's compact JSON with `--json`, else the surface text).
//! Exit status: 0 only when the message was delivered (socket ack, fallback, mailbox enqueue,
//! or a resume that came up); 3 for a refusal (decider reject or in-band refusal); 1 for an
//! execution failure (never retry it blindly: a failed send may have been delivered).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use entwurf_decider::{
    dispatch, parse_observe_timeout_ms, parse_prefix_roots, DispatchInput, EntwurfSpawnHand,
    Intent, LaunchConfig, LaunchedPiLine, Mode, Production, ProductionDirs, RunResult,
    SenderEnvelope, SenderProvider, StderrSink,
};

use crate::ctx::{CliError, Ctx};

/// Exit status of a refusal (reject receipt or in-band `rejected`).
const EXIT_REFUSED: u8 = 3;
/// Exit status of an execution failure.
const EXIT_FAILED: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum IntentArg {
    /// The ack is the end of the contract.
    #[value(name = "fire-and-forget")]
    FireAndForget,
    /// The caller owns the completion (resume a dormant pi; never auto-sent to a live one).
    #[value(name = "owned-outcome")]
    OwnedOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    /// Queue after the current turn.
    #[value(name = "follow_up")]
    FollowUp,
    /// Interrupt the current turn.
    #[value(name = "steer")]
    Steer,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The target's garden id.
    gid: String,
    /// The message.
    message: String,
    /// Who owns the outcome.
    #[arg(long, value_enum, default_value = "fire-and-forget")]
    intent: IntentArg,
    /// Delivery mode for a control-socket send (default follow_up).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Ask the receiver for a reply (etiquette only).
    #[arg(long)]
    wants_reply: bool,
    /// Sender envelope: the session id a reply should go to (omit for no envelope).
    #[arg(long, value_name = "ID")]
    sender_session_id: Option<String>,
    /// Sender envelope: the agent label (default `entwurf-cli`).
    #[arg(long, value_name = "LABEL", requires = "sender_session_id")]
    sender_agent_id: Option<String>,
}

/// The production dispatch wiring every sending surface shares (`entwurf send`, `entwurf mcp`),
/// resolved once from the flags and environment: store dirs, the observe timeout, the trust
/// preflight, `~` abbreviation and the spawn-bg launch. [`Wiring::build`] adds the sender.
#[derive(Debug, Clone)]
pub struct Wiring {
    dirs: ProductionDirs,
    agent: PathBuf,
    observe: u64,
    prefix_roots: Vec<String>,
    home: Option<PathBuf>,
    launch: LaunchConfig,
    /// The line of the pi that spawn-bg launches: the trust preflight applies its rules. Read
    /// from that pi once per process, on the first preflight, and shared by every dispatch.
    pi_line: LaunchedPiLine,
}

impl Wiring {
    pub fn from_ctx(ctx: &Ctx) -> Result<Self, CliError> {
        let dirs = ctx.dirs()?;
        // The environment is read here, at the edge, once.
        let observe = parse_observe_timeout_ms(
            std::env::var("ENTWURF_V2_OBSERVE_TIMEOUT_MS")
                .ok()
                .as_deref(),
        );
        let prefix_roots =
            parse_prefix_roots(std::env::var("ENTWURF_PREFIX_ROOTS").ok().as_deref());
        // Owned-outcome to a dormant pi resumes it: `pi` from PATH (or `PI_BIN`), with the
        // `ENTWURF_PI_EXTENSION` extension when set; the resident's stderr goes to
        // `$ENTWURF_SPAWN_LOG_DIR/<gid>.stderr.log` when that is set, else it is discarded.
        let mut launch = LaunchConfig::new(dirs.agent.clone());
        if let Some(bin) = std::env::var_os("PI_BIN").filter(|v| !v.is_empty()) {
            launch.pi_program = PathBuf::from(bin);
        }
        if let Some(ext) = std::env::var("ENTWURF_PI_EXTENSION")
            .ok()
            .filter(|v| !v.is_empty())
        {
            launch.extension_args = vec!["-e".to_owned(), ext];
        }
        if let Some(dir) = std::env::var_os("ENTWURF_SPAWN_LOG_DIR").filter(|v| !v.is_empty()) {
            launch.stderr = StderrSink::LogDir(PathBuf::from(dir));
        }
        let pi_line = LaunchedPiLine::new(launch.pi_program.clone(), std::env::var_os("PATH"));
        Ok(Self {
            dirs: ProductionDirs {
                sessions: dirs.sessions,
                mailbox: dirs.mailbox,
                receivers: dirs.receivers,
                lock: ctx.lock_dir(),
                control: ctx.control_dir()?,
            },
            agent: dirs.agent,
            observe,
            prefix_roots,
            home: ctx.home(),
            launch,
            pi_line,
        })
    }

    /// The production dispatch with this sender envelope provider.
    pub fn build(&self, sender: SenderProvider) -> Production {
        Production::new(self.dirs.clone())
            .with_observe_timeout_ms(self.observe)
            .with_trust(
                self.agent.clone(),
                self.prefix_roots.clone(),
                self.home.clone(),
            )
            .with_launched_pi_line(self.pi_line.clone())
            .with_home(self.home.as_ref().map(|h| h.to_string_lossy().into_owned()))
            .with_sender(sender)
            .with_spawn_bg(Arc::new(EntwurfSpawnHand::new(self.launch.clone())))
    }
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let production = Wiring::from_ctx(ctx)?.build(sender_provider(&args));
    let input = DispatchInput {
        target: args.gid,
        intent: match args.intent {
            IntentArg::FireAndForget => Intent::FireAndForget,
            IntentArg::OwnedOutcome => Intent::OwnedOutcome,
        },
        mode: args.mode.map(|m| match m {
            ModeArg::FollowUp => Mode::FollowUp,
            ModeArg::Steer => Mode::Steer,
        }),
        wants_reply: args.wants_reply.then_some(true),
        message: args.message,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let result = runtime.block_on(dispatch(&production, input))?;
    if ctx.global.json {
        print!("{}", result.to_json_line());
    } else {
        println!("{}", result.render().text);
    }
    Ok(exit_for(&result))
}

fn sender_provider(args: &Args) -> entwurf_decider::SenderProvider {
    let Some(session_id) = args.sender_session_id.clone() else {
        return Arc::new(|| None);
    };
    let agent_id = args
        .sender_agent_id
        .clone()
        .unwrap_or_else(|| "entwurf-cli".to_owned());
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| PathBuf::from("/").to_string_lossy().into_owned());
    Arc::new(move || {
        Some(SenderEnvelope {
            session_id: session_id.clone(),
            agent_id: agent_id.clone(),
            cwd: cwd.clone(),
            // Rebuilt per attempt: a retry carries a fresh timestamp.
            timestamp: entwurf_meta_session::iso_millis(chrono::Utc::now()),
            origin: None,
            replyable: None,
        })
    })
}

fn exit_for(result: &RunResult) -> ExitCode {
    if result.delivered() {
        return ExitCode::SUCCESS;
    }
    match result {
        RunResult::ExecutionFailed { .. } => ExitCode::from(EXIT_FAILED),
        RunResult::Executed {
            outcome: entwurf_decider::ExecutedOutcome::SpawnBg { .. },
            ..
        } => ExitCode::from(EXIT_FAILED),
        _ => ExitCode::from(EXIT_REFUSED),
    }
}
