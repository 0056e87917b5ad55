//! The real IO behind [`SpawnIo`]: a detached `pi` resident, control-rpc's `lstat` and connect
//! probe of the expected socket, SIGTERM, and the caller's lock release.
//!
//! [`ProductionSpawnIo`] is the one production implementation: the decider's spawn-bg hand runs
//! it and this crate's tests drive it, so the tested path is the shipped path.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use entwurf_control_rpc::{ConflictReason, SocketInspection};
use entwurf_lock::LockClaim;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::identity::resolve_launch_identity;
use crate::launch::{launch_spec, LaunchSpec, DEFAULT_PI_COMMAND};
use crate::plan::SpawnBgPlan;
use crate::watcher::{PathInspection, ProbeLiveness, SpawnIo, SpawnedChild};

/// Where the resident's stderr goes. The dispatcher usually exits long before the resident, so
/// a pipe would break under it; a log file or nothing are the durable choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StderrSink {
    /// Discard.
    Null,
    /// Append to this file (its parent dir is created).
    File(PathBuf),
    /// Append to `<dir>/<garden id>.stderr.log` (the dir is created).
    LogDir(PathBuf),
    /// Share the dispatcher's stderr.
    Inherit,
}

/// How residents are launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchConfig {
    /// The `pi` program (default `pi`, looked up on `PATH`).
    pub pi_program: PathBuf,
    /// The pi agent dir whose `sessions/` holds the saved sessions.
    pub agent_dir: PathBuf,
    /// Extension arguments placed after the launch args (e.g. `["-e", "<entwurf-control.ts>"]`).
    pub extension_args: Vec<String>,
    /// The resident's stderr.
    pub stderr: StderrSink,
}

impl LaunchConfig {
    /// `pi` on `PATH`, no extra extension args, stderr discarded.
    pub fn new(agent_dir: PathBuf) -> Self {
        Self {
            pi_program: PathBuf::from(DEFAULT_PI_COMMAND),
            agent_dir,
            extension_args: Vec::new(),
            stderr: StderrSink::Null,
        }
    }
}

/// Releases a held lock claim (the outcome is discarded; only an error matters). The decider's
/// runner implements it over its one production lock dir, so every release goes there; its
/// failure travels as the `io::Error`'s inner error, typed.
#[async_trait::async_trait]
pub trait LockRelease: Send + Sync {
    /// Release the claim.
    async fn release(&self, claim: &LockClaim) -> io::Result<()>;
}

/// The production [`SpawnIo`]: launches as `config` says, inspects and probes through
/// `entwurf-control-rpc` (the decider's own lstat and connect probe), releases through `release`.
pub struct ProductionSpawnIo<'a> {
    config: &'a LaunchConfig,
    release: &'a dyn LockRelease,
}

impl<'a> ProductionSpawnIo<'a> {
    /// Real IO with `config` and the caller's `release`.
    pub fn new(config: &'a LaunchConfig, release: &'a dyn LockRelease) -> Self {
        Self { config, release }
    }

    /// The launch this IO would perform for `plan` (identity resolved, nothing started).
    pub fn prepare(&self, plan: &SpawnBgPlan) -> io::Result<LaunchSpec> {
        prepare_launch(self.config, plan)
    }
}

/// Resolves the launch identity of `plan.session_id` under `config.agent_dir` and lays out the
/// launch (nothing is started). Every identity error becomes the start failure's message.
pub fn prepare_launch(config: &LaunchConfig, plan: &SpawnBgPlan) -> io::Result<LaunchSpec> {
    let identity = resolve_launch_identity(&config.agent_dir, plan.session_id.as_str())
        .map_err(io::Error::other)?;
    Ok(launch_spec(
        config.pi_program.clone(),
        plan,
        &identity,
        &config.extension_args,
    ))
}

/// Resolves the identity and starts the resident detached: the production `SpawnIo::spawn`.
pub fn spawn_resident(config: &LaunchConfig, plan: &SpawnBgPlan) -> io::Result<SpawnedChild> {
    let spec = prepare_launch(config, plan)?;
    start_detached(&spec, &config.stderr)
}

/// The stderr log file of a resident for `garden_id` under `dir`.
pub fn resident_log_path(dir: &Path, garden_id: &str) -> PathBuf {
    dir.join(format!("{garden_id}.stderr.log"))
}

fn stderr_stdio(sink: &StderrSink, garden_id: &str) -> io::Result<Stdio> {
    let path = match sink {
        StderrSink::Null => return Ok(Stdio::null()),
        StderrSink::Inherit => return Ok(Stdio::inherit()),
        StderrSink::File(path) => path.clone(),
        StderrSink::LogDir(dir) => resident_log_path(dir, garden_id),
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    Ok(Stdio::from(file))
}

/// Starts `spec` detached (its own session and process group via `setsid`; stdin and stdout
/// null) and arms its exit watch at once. Must run inside a tokio runtime.
pub fn start_detached(spec: &LaunchSpec, stderr: &StderrSink) -> io::Result<SpawnedChild> {
    let program = spec.program.display().to_string();
    let stderr = stderr_stdio(stderr, &spec.session_id).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot open the resident's stderr log: {e}"),
        )
    })?;
    let mut command = tokio::process::Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(false);
    // SAFETY: the closure runs in the forked child before exec and only calls setsid(2), which
    // is async-signal-safe; it touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            // A new session (and process group) with no controlling terminal: the resident is not
            // hung up or signalled with the dispatcher's terminal or process group.
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(|e| io::Error::from_raw_os_error(e as i32))
        });
    }
    let mut child = command.spawn().map_err(|e| {
        // Node's `spawn <program> <CODE>`: any errno, by its name.
        let code = e
            .raw_os_error()
            .map_or_else(|| e.to_string(), |c| format!("{:?}", Errno::from_raw(c)));
        io::Error::new(e.kind(), format!("spawn {program} {code}"))
    })?;
    let pid = child.id();
    let reaped = Arc::new(AtomicBool::new(false));
    let reaped_by_exit = Arc::clone(&reaped);
    let exit_task = tokio::spawn(async move {
        let status = child.wait().await;
        reaped_by_exit.store(true, Ordering::SeqCst);
        status
    });
    let exit = Box::pin(async move {
        match exit_task.await {
            Ok(Ok(status)) => Ok(status.code()),
            Ok(Err(e)) => Err(io::Error::new(
                e.kind(),
                format!("waiting for the resident failed: {e}"),
            )),
            Err(e) => Err(io::Error::other(format!(
                "the resident's exit watch failed: {e}"
            ))),
        }
    });
    let terminate = Box::new(move || {
        let Some(pid) = pid else { return Ok(()) };
        if reaped.load(Ordering::SeqCst) {
            return Ok(());
        }
        let pid =
            i32::try_from(pid).map_err(|_| io::Error::other(format!("pid {pid} out of range")))?;
        match kill(Pid::from_raw(pid), Signal::SIGTERM) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(io::Error::other(format!("kill -TERM {pid}: {e}"))),
        }
    });
    Ok(SpawnedChild {
        pid,
        exit,
        terminate,
    })
}

impl From<SocketInspection> for PathInspection {
    fn from(inspection: SocketInspection) -> Self {
        match inspection {
            SocketInspection::Absent { .. } => PathInspection::Absent,
            SocketInspection::SocketFile { .. } => PathInspection::SocketFile,
            SocketInspection::AddressConflict {
                reason: ConflictReason::Symlink,
                ..
            } => PathInspection::Symlink,
            SocketInspection::AddressConflict {
                reason: ConflictReason::NotSocket,
                ..
            } => PathInspection::NotSocket,
            SocketInspection::Indeterminate { error, .. } => PathInspection::Indeterminate(error),
        }
    }
}

#[async_trait::async_trait]
impl SpawnIo for ProductionSpawnIo<'_> {
    async fn spawn(&self, plan: &SpawnBgPlan) -> io::Result<SpawnedChild> {
        spawn_resident(self.config, plan)
    }

    /// `lstat` of the path (a symlink is never followed): control-rpc's `inspect`.
    async fn inspect(&self, socket_path: &Path) -> io::Result<PathInspection> {
        Ok(entwurf_control_rpc::inspect(socket_path).into())
    }

    /// Connect probe: control-rpc's `probe` (accepted → alive, `ECONNREFUSED`/`ENOENT` → dead,
    /// anything else → indeterminate; the connection is closed at once).
    async fn probe(&self, socket_path: &Path) -> ProbeLiveness {
        entwurf_control_rpc::probe(socket_path).await
    }

    async fn release(&self, lock: &LockClaim) -> io::Result<()> {
        self.release.release(lock).await
    }
}
