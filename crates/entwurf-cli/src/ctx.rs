//! Global flags and the context every subcommand receives. The environment is read here, once.

use std::path::{Path, PathBuf};

use entwurf_meta_session::{Dirs, DirsError, InvalidGardenId, MarkerError, RecordError};

/// Flags shared by every subcommand. Directory flags override the environment.
// The doc comments below are clap's --help text, where `<agent>` is a placeholder, not HTML.
#[allow(rustdoc::invalid_html_tags)]
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Meta-record store (default: $ENTWURF_META_SESSIONS_DIR, $PI_META_SESSIONS_DIR, <agent>/meta-sessions).
    #[arg(long, global = true, value_name = "DIR")]
    pub sessions_dir: Option<PathBuf>,
    /// Mailbox root (default: $ENTWURF_META_MAILBOX_DIR, $PI_META_MAILBOX_DIR, <agent>/meta-mailbox).
    #[arg(long, global = true, value_name = "DIR")]
    pub mailbox_dir: Option<PathBuf>,
    /// Receiver markers (default: $ENTWURF_META_RECEIVERS_DIR, $PI_META_RECEIVERS_DIR, <agent>/meta-receivers).
    #[arg(long, global = true, value_name = "DIR")]
    pub receivers_dir: Option<PathBuf>,
    /// Sender markers (default: $ENTWURF_META_SENDERS_DIR, $PI_META_SENDERS_DIR, <agent>/meta-senders).
    #[arg(long, global = true, value_name = "DIR")]
    pub senders_dir: Option<PathBuf>,
    /// Dispatch locks (default: $ENTWURF_V2_LOCK_DIR, ~/.pi/entwurf-v2-locks).
    #[arg(long, global = true, value_name = "DIR")]
    pub lock_dir: Option<PathBuf>,
    /// Control sockets (default: ~/.pi/entwurf-control).
    #[arg(long, global = true, value_name = "DIR")]
    pub control_dir: Option<PathBuf>,
}

/// What every subcommand gets.
#[derive(Debug)]
pub struct Ctx {
    pub global: GlobalArgs,
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Self {
        Self { global }
    }

    /// The lock dir: `--lock-dir`, else `$ENTWURF_V2_LOCK_DIR` (non-empty, `~` expanded), else
    /// `$HOME/.pi/entwurf-v2-locks`.
    pub fn lock_dir(&self) -> PathBuf {
        if let Some(dir) = &self.global.lock_dir {
            return dir.clone();
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        entwurf_lock::default_lock_dir(&|k| std::env::var(k).ok(), &home)
    }

    /// The control socket dir: `--control-dir`, else `$HOME/.pi/entwurf-control`.
    pub fn control_dir(&self) -> Result<PathBuf, CliError> {
        if let Some(dir) = &self.global.control_dir {
            return Ok(dir.clone());
        }
        let home = self.home().ok_or(CliError::NoHome { store: "control" })?;
        Ok(entwurf_control_rpc::default_control_dir(&home))
    }

    /// `$HOME`, when set and non-empty.
    pub fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    }

    /// The meta-session store dirs: each `--*-dir` flag wins; the other stores come from
    /// [`Dirs::from_env`] over the process environment (read here, at the edge) and `$HOME`.
    /// The environment variables of a store given by flag are not consulted at all, so a
    /// conflict there cannot block the command.
    pub fn dirs(&self) -> Result<Dirs, CliError> {
        let g = &self.global;
        let hidden = |k: &str| -> bool {
            let has = |flag: &Option<PathBuf>, store: &str| flag.is_some() && k.contains(store);
            has(&g.sessions_dir, "_SESSIONS_")
                || has(&g.mailbox_dir, "_MAILBOX_")
                || has(&g.receivers_dir, "_RECEIVERS_")
                || has(&g.senders_dir, "_SENDERS_")
        };
        let env = |k: &str| -> Option<String> {
            if hidden(k) {
                None
            } else {
                std::env::var(k).ok()
            }
        };
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let mut dirs = Dirs::from_env(&env, home.as_deref().unwrap_or(Path::new("")))?;
        let pick = |flag: &Option<PathBuf>, from_env: PathBuf| flag.clone().unwrap_or(from_env);
        dirs.sessions = pick(&g.sessions_dir, dirs.sessions);
        dirs.mailbox = pick(&g.mailbox_dir, dirs.mailbox);
        dirs.receivers = pick(&g.receivers_dir, dirs.receivers);
        dirs.senders = pick(&g.senders_dir, dirs.senders);
        if home.is_none() {
            // Without $HOME the defaults would be relative to the cwd: refuse rather than guess.
            for (store, dir) in [
                ("sessions", &dirs.sessions),
                ("mailbox", &dirs.mailbox),
                ("receivers", &dirs.receivers),
                ("senders", &dirs.senders),
            ] {
                if dir.is_relative() && dir.starts_with(".pi") {
                    return Err(CliError::NoHome { store });
                }
            }
        }
        Ok(dirs)
    }
}

/// A CLI failure: printed to stderr as `entwurf: <message>`, and under `--json` also as one
/// error object on stdout (kind, path and details: `crate::failure`).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The store-directory environment is contradictory.
    #[error(transparent)]
    Dirs(#[from] DirsError),
    /// `$HOME` is unset and a store would default under it.
    #[error("HOME is not set, so the default {store} dir is unknown; pass --{store}-dir or set PI_CODING_AGENT_DIR")]
    NoHome { store: &'static str },
    /// A garden id argument breaks the grammar.
    #[error(transparent)]
    InvalidGardenId(#[from] InvalidGardenId),
    /// A meta-record operation failed (not found, corrupt, drift, refusal, IO).
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A marker could not be written.
    #[error(transparent)]
    Marker(#[from] MarkerError),
    /// `entwurf receiver arm` on a pi citizen.
    #[error("refusing to arm a receiver for {gid}: it is a pi citizen, reached through its control socket; receiver markers exist only for claude-code, antigravity and codex")]
    PiReceiver { gid: String },
    /// `entwurf receiver show` found no readable marker.
    #[error("no readable receiver marker for {gid} at {} (absent or corrupt); arm one with `entwurf receiver arm {gid} --owner-pid PID`", path.display())]
    NoReceiverMarker { gid: String, path: PathBuf },
    /// `entwurf record list --strict` found unreadable records.
    #[error("{count} unreadable meta-record(s) in {}", dir.display())]
    UnreadableRecords {
        count: usize,
        dir: PathBuf,
        /// The whole listing (`details` of the `--json` error object).
        listing: Box<serde_json::Value>,
    },
    /// The lock crate failed (invalid garden id, unreadable lock file, unusable lock dir, …).
    #[error(transparent)]
    Lock(#[from] entwurf_lock::LockError),
    /// `entwurf record repair` failed part-way (every step done is safe to repeat).
    #[error(transparent)]
    Repair(#[from] entwurf_mailbox::RepairError),
    /// A mailbox operation failed, or the guarded send refused (`mailbox-undeliverable`).
    #[error(transparent)]
    Mailbox(#[from] entwurf_mailbox::MailboxError),
    /// The dispatch could not be decided (invalid gid, corrupt record, lock or lstat IO, …).
    #[error(transparent)]
    Dispatch(#[from] entwurf_decider::DecideError),
    /// The async runtime for a dispatch could not be started.
    #[error("cannot start the async runtime; check the process and thread limits (ulimit -u)")]
    Runtime(#[source] std::io::Error),
    /// The message could not be read from stdin.
    #[error("could not read the message from stdin; pass the message as an argument instead")]
    Stdin { source: std::io::Error },
    /// The MCP server stopped abnormally.
    #[error(transparent)]
    Mcp(entwurf_mcp::ServeError),
    /// The output could not be written (a full disk, a closed pipe).
    #[error("could not write the output; check where stdout goes (a full disk?)")]
    Stdout { source: std::io::Error },
    /// The path of the running binary is unknown (install needs it for the configuration).
    #[error("cannot tell where this entwurf binary is; pass --entwurf-bin PATH")]
    CurrentExe { source: std::io::Error },
    /// `entwurf install` could not plan or apply.
    #[error(transparent)]
    Install(#[from] entwurf_garden::install::InstallError),
    /// `entwurf lock clear` without `--force` while the holder may still be alive.
    #[error("refusing to clear {}: {why}: {detail}; pass --force once you are sure no dispatcher holds it", lock_path.display())]
    LockClearRefused {
        lock_path: PathBuf,
        why: &'static str,
        detail: String,
        /// What `lock clear --json` reports about the refusal (`details` of the error object).
        status: Box<serde_json::Value>,
    },
}

impl CliError {
    /// Process exit status for this error (never 0).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Dirs(_) | CliError::NoHome { .. } | CliError::InvalidGardenId(_) => 2,
            CliError::Record(RecordError::InvalidInput(_)) => 2,
            CliError::Record(RecordError::BackendChange { .. })
            | CliError::Record(RecordError::Ambiguous { .. })
            | CliError::PiReceiver { .. } => 3,
            CliError::Marker(MarkerError::Invalid(_)) => 2,
            CliError::Record(_)
            | CliError::Marker(_)
            | CliError::NoReceiverMarker { .. }
            | CliError::UnreadableRecords { .. } => 1,
            CliError::Lock(entwurf_lock::LockError::InvalidGardenId { .. }) => 2,
            CliError::Lock(_) => 1,
            CliError::Repair(_) => 1,
            CliError::LockClearRefused { .. } => 3,
            CliError::CurrentExe { .. } => 2,
            CliError::Install(e) => {
                use entwurf_garden::install::InstallError as I;
                match e {
                    I::ReferenceInstalled { .. } => 3,
                    I::Parse { .. } | I::Shape { .. } => 2,
                    I::Io { .. } | I::Raced { .. } => 1,
                }
            }
            CliError::Mailbox(e) => {
                use entwurf_mailbox::MailboxError as M;
                match e {
                    M::Undeliverable { .. } => 3,
                    M::InvalidGardenId(_) | M::EmptyBody { .. } | M::TooLarge { .. } => 2,
                    M::RecordMissing { .. }
                    | M::Refused { .. }
                    | M::Record { .. }
                    | M::State { .. }
                    | M::NotADirectory { .. }
                    | M::SignalFailed { .. }
                    | M::Io { .. } => 1,
                }
            }
            CliError::Stdin { .. } => 2,
            CliError::Dispatch(entwurf_decider::DecideError::InvalidGardenId { .. }) => 2,
            CliError::Dispatch(_)
            | CliError::Runtime(_)
            | CliError::Mcp(_)
            | CliError::Stdout { .. } => 1,
        }
    }
}
