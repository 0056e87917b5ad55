//! The real IO behind [`SpawnIo`]: a detached `pi` resident, `lstat` + connect probe of the
//! expected socket, SIGTERM, and an injected lock release.

use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use entwurf_lock::LockClaim;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::identity::resolve_launch_identity;
use crate::launch::{launch_spec, LaunchSpec, DEFAULT_PI_COMMAND};
use crate::plan::SpawnBgPlan;
use crate::watcher::{IoFailure, PathInspection, ProbeLiveness, SpawnIo, SpawnedChild};

/// The connect-probe timeout (a silent socket is indeterminate after this).
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_millis(300);

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

/// A lock release function (the one the decider uses, so all releases go to the same dir).
pub type ReleaseFn = Box<dyn Fn(&LockClaim) -> Result<(), IoFailure> + Send + Sync>;

/// The production [`SpawnIo`].
pub struct ProductionSpawnIo {
    config: LaunchConfig,
    release: ReleaseFn,
    probe_timeout: Duration,
}

impl ProductionSpawnIo {
    /// Real IO with `config` and the injected `release`.
    pub fn new(config: LaunchConfig, release: ReleaseFn) -> Self {
        Self {
            config,
            release,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
        }
    }

    /// The launch this IO would perform for `plan` (identity resolved, nothing started).
    pub fn prepare(&self, plan: &SpawnBgPlan) -> Result<LaunchSpec, IoFailure> {
        prepare_launch(&self.config, plan)
    }
}

/// Resolves the launch identity of `plan.session_id` under `config.agent_dir` and lays out the
/// launch (nothing is started). Every identity error becomes the start failure's message.
pub fn prepare_launch(config: &LaunchConfig, plan: &SpawnBgPlan) -> Result<LaunchSpec, IoFailure> {
    if !entwurf_meta_session::is_valid_garden_id(&plan.session_id) {
        return Err(IoFailure::new(format!(
            "entwurf-v2-spawn: refusing to resume an invalid garden id ({:?}) as a pi session id.",
            plan.session_id
        )));
    }
    let identity = resolve_launch_identity(&config.agent_dir, &plan.session_id)
        .map_err(|e| IoFailure::from_error(&e))?;
    Ok(launch_spec(
        config.pi_program.clone(),
        plan,
        &identity,
        &config.extension_args,
    ))
}

/// Resolves the identity and starts the resident detached: the production `SpawnIo::spawn`.
pub fn spawn_resident(
    config: &LaunchConfig,
    plan: &SpawnBgPlan,
) -> Result<SpawnedChild, IoFailure> {
    let spec = prepare_launch(config, plan)?;
    start_detached(&spec, &config.stderr)
}

fn errno_name(e: &io::Error) -> String {
    e.raw_os_error()
        .map(|code| format!("{:?}", Errno::from_raw(code)))
        .unwrap_or_else(|| e.to_string())
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
pub fn start_detached(spec: &LaunchSpec, stderr: &StderrSink) -> Result<SpawnedChild, IoFailure> {
    let program = spec.program.display().to_string();
    let stderr = stderr_stdio(stderr, &spec.session_id)
        .map_err(|e| IoFailure::new(format!("cannot open the resident's stderr log: {e}")))?;
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
    let mut child = command
        .spawn()
        .map_err(|e| IoFailure::new(format!("spawn {program} {}", errno_name(&e))))?;
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
            Ok(Err(e)) => Err(IoFailure::new(format!(
                "waiting for the resident failed: {e}"
            ))),
            Err(e) => Err(IoFailure::new(format!(
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
            i32::try_from(pid).map_err(|_| IoFailure::new(format!("pid {pid} out of range")))?;
        match kill(Pid::from_raw(pid), Signal::SIGTERM) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(IoFailure::new(format!("kill -TERM {pid}: {e}"))),
        }
    });
    Ok(SpawnedChild {
        pid,
        exit,
        terminate,
    })
}

/// `lstat` classification of a socket path (never follows a symlink).
pub fn inspect_path(path: &Path) -> PathInspection {
    match fs::symlink_metadata(path) {
        Ok(meta) => {
            let t = meta.file_type();
            if t.is_symlink() {
                PathInspection::Symlink
            } else if t.is_socket() {
                PathInspection::SocketFile
            } else {
                PathInspection::NotSocket
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => PathInspection::Absent,
        Err(e) => PathInspection::Indeterminate(errno_name(&e)),
    }
}

/// Connect probe: accepted → alive; `ECONNREFUSED`/`ENOENT` (nobody listens, or the listener
/// vanished and left its file, or the file is gone) → dead; anything else, or no answer within
/// `timeout` (the attempt is dropped) → indeterminate. The connection is closed at once.
pub async fn probe_socket(path: &Path, timeout: Duration) -> ProbeLiveness {
    match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path)).await {
        Ok(Ok(_stream)) => ProbeLiveness::Alive,
        Ok(Err(e))
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ) =>
        {
            ProbeLiveness::Dead
        }
        Ok(Err(_)) | Err(_) => ProbeLiveness::Indeterminate,
    }
}

#[async_trait::async_trait]
impl SpawnIo for ProductionSpawnIo {
    async fn spawn(&self, plan: &SpawnBgPlan) -> Result<SpawnedChild, IoFailure> {
        spawn_resident(&self.config, plan)
    }

    async fn inspect(&self, socket_path: &Path) -> Result<PathInspection, IoFailure> {
        Ok(inspect_path(socket_path))
    }

    async fn probe(&self, socket_path: &Path) -> ProbeLiveness {
        probe_socket(socket_path, self.probe_timeout).await
    }

    async fn release(&self, lock: &LockClaim) -> Result<(), IoFailure> {
        (self.release)(lock)
    }
}
