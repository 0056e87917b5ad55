//! Global flags and the context every subcommand receives. The environment is read here, once.

use std::path::PathBuf;

/// Flags shared by every subcommand. Directory flags override the environment.
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
}

/// A CLI failure: printed to stderr as `entwurf: <message>`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The subcommand is not available in this build.
    #[error("{0}: not available yet")]
    NotYet(&'static str),
    /// The lock crate failed (invalid garden id, unreadable lock file, unusable lock dir, …).
    #[error(transparent)]
    Lock(#[from] entwurf_lock::LockError),
    /// `entwurf lock clear` without `--force` while the holder may still be alive.
    #[error("refusing to clear {}: {why}: {detail}; pass --force once you are sure no dispatcher holds it", lock_path.display())]
    LockClearRefused {
        lock_path: PathBuf,
        why: &'static str,
        detail: String,
    },
}

impl CliError {
    /// Process exit status for this error (never 0).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::NotYet(_) => 2,
            CliError::Lock(entwurf_lock::LockError::InvalidGardenId { .. }) => 2,
            CliError::Lock(_) => 1,
            CliError::LockClearRefused { .. } => 3,
        }
    }
}
