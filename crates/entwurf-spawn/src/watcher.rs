//! The spawn-bg watcher (`release-after-spawn-observation` policy): start the resident, then race
//! "socket alive at the expected path" against "child exited" and the observe timeout, and
//! release the per-target lock exactly once, on the first observation.
//!
//! A timeout is never a release: it escalates to SIGTERM and a bounded grace, and if that grace
//! passes with no observation the lock is retained and reported (`lock-retained`). A watcher
//! dependency that fails after the child exists is handled the same way: SIGTERM, then only an
//! observed exit may release.
//!
//! All IO goes through [`SpawnIo`]; timers are tokio timers (a paused tokio clock makes the
//! tests deterministic).

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use entwurf_lock::LockClaim;

use crate::millis::Millis;
use crate::plan::{RetainReason, RetainedDiagnostic, SpawnBgPlan, SpawnBgResumeResult};

/// How often the expected socket path is looked at.
pub const SOCKET_POLL_INTERVAL: Duration = Duration::from_millis(150);

/// What an `lstat` of the expected socket path found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathInspection {
    /// Nothing there (yet).
    Absent,
    /// A socket file: worth a connect probe.
    SocketFile,
    /// A symlink: a forged address, never followed.
    Symlink,
    /// Something that is not a socket: a forged address.
    NotSocket,
    /// `lstat` failed with something other than `ENOENT` (errno name); keep waiting.
    Indeterminate(String),
}

/// Result of a connect probe: control-rpc's own liveness, which the probe returns.
pub use entwurf_control_rpc::SocketLiveness as ProbeLiveness;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A started resident.
pub struct SpawnedChild {
    /// Its pid (diagnostic only).
    pub pid: Option<u32>,
    /// Resolves when it exits: the exit code, `None` for a signal; an error when the exit cannot
    /// be watched. The exit watch is armed at spawn, so a fast exit is never missed.
    pub exit: BoxFuture<'static, io::Result<Option<i32>>>,
    /// Sends SIGTERM (a no-op once the exit has been reaped).
    pub terminate: Box<dyn Fn() -> io::Result<()> + Send + Sync>,
}

impl std::fmt::Debug for SpawnedChild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnedChild")
            .field("pid", &self.pid)
            .finish()
    }
}

/// The IO a spawn-bg resume needs.
#[async_trait::async_trait]
pub trait SpawnIo: Send + Sync {
    /// Resolves the launch identity and starts the resident for `plan`. An error means no child
    /// exists (→ `spawn-start-failed`, the lock is released). Must not wait for the child.
    async fn spawn(&self, plan: &SpawnBgPlan) -> io::Result<SpawnedChild>;
    /// `lstat` of the expected socket path. An error is a watcher dependency failure.
    async fn inspect(&self, socket_path: &Path) -> io::Result<PathInspection>;
    /// Connect probe of a socket file; bounded by its own timeout (no answer → indeterminate, a
    /// vanished listener → dead). Never fails: a probe has no error, only a liveness.
    async fn probe(&self, socket_path: &Path) -> ProbeLiveness;
    /// Releases the held lock. Called at most once per resume.
    async fn release(&self, lock: &LockClaim) -> io::Result<()>;
}

/// One resume: the plan, the lock the decider handed over, and the watcher's timing policy.
#[derive(Debug, Clone)]
pub struct ResumeRequest {
    /// The spawn-bg plan.
    pub plan: SpawnBgPlan,
    /// The decider's claim on the target (`None` is a wiring bug and is refused).
    pub lock: Option<LockClaim>,
    /// Grace after SIGTERM (default 5000 ms).
    pub kill_grace_ms: Millis,
    /// Socket poll interval (default 150 ms).
    pub poll_interval: Duration,
}

impl ResumeRequest {
    /// A request with the default grace and poll interval.
    pub fn new(plan: SpawnBgPlan, lock: Option<LockClaim>) -> Self {
        Self {
            plan,
            lock,
            kill_grace_ms: crate::millis::DEFAULT_KILL_GRACE_MS,
            poll_interval: SOCKET_POLL_INTERVAL,
        }
    }
}

/// Why a resume produced no result.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The plan came without a lock (release policy violation; nothing was spawned).
    #[error("entwurf-v2-release: an in-domain (spawn-bg) execute must hold a lock.")]
    NoLock,
    /// The lock belongs to another target (nothing was spawned).
    #[error("entwurf-v2-release: lock gardenId ({lock}) does not match plan target ({plan}) — mis-paired plan/lock.")]
    MisPairedLock {
        /// The lock's garden id.
        lock: String,
        /// The plan's target.
        plan: String,
    },
    /// An observation happened (the outcome is in `observed`) but releasing the lock failed: the
    /// lock file is dirty, and a re-send would spawn a second resident.
    #[error("{error}")]
    ReleaseFailed {
        /// The release error.
        error: io::Error,
        /// What had been observed.
        observed: Box<SpawnBgResumeResult>,
    },
}

enum Observation {
    Socket(io::Result<()>),
    Exit(io::Result<Option<i32>>),
    Timeout,
}

/// Runs one spawn-bg resume to a bounded end: at most the observe timeout plus the kill grace.
///
/// On the first observation (socket alive, child exited with any code, or the spawn failing to
/// start) the lock is released exactly once through [`SpawnIo::release`]. On the observe timeout
/// the child gets SIGTERM and `kill_grace_ms` to produce an observation; without one the lock is
/// retained (`lock-retained`, `kill-unconfirmed`). A failing watcher dependency leads to SIGTERM
/// and a grace in which only the child's exit can release (else `lock-retained`,
/// `observe-failed`). If the resident vanishes, that is its exit: released `child-exited`.
/// The function never waits longer than observe timeout + grace after the spawn.
pub async fn resume<I: SpawnIo + ?Sized>(
    request: &ResumeRequest,
    io: &I,
) -> Result<SpawnBgResumeResult, ResumeError> {
    let plan = &request.plan;
    let lock = request.lock.as_ref().ok_or(ResumeError::NoLock)?;
    if lock.garden_id != plan.target_garden_id.as_str() {
        return Err(ResumeError::MisPairedLock {
            lock: lock.garden_id.clone(),
            plan: plan.target_garden_id.to_string(),
        });
    }
    let mut release = ReleaseOnce::new(io, lock);

    let child = match io.spawn(plan).await {
        Ok(child) => child,
        Err(e) => {
            let result = SpawnBgResumeResult::SpawnStartFailed {
                released: true,
                error: entwurf_fs::Chain(&e).to_string(),
            };
            return release.fire(result).await;
        }
    };
    let pid = child.pid;
    let terminate = child.terminate;
    let retained = |reason, error: Option<io::Error>| SpawnBgResumeResult::LockRetained {
        released: false,
        reason,
        error: error.map(|e| entwurf_fs::Chain(&e).to_string()),
        diagnostic: RetainedDiagnostic {
            target_garden_id: plan.target_garden_id.clone(),
            pid,
            expected_socket_path: plan.expected_socket_path.clone(),
            lock_path: lock.lock_path.clone(),
            observe_timeout_ms: plan.observe_timeout_ms,
            kill_grace_ms: request.kill_grace_ms,
        },
    };
    let socket_alive = SpawnBgResumeResult::SocketAlive {
        released: true,
        pid,
    };
    let exited = |code| SpawnBgResumeResult::ChildExited {
        released: true,
        exit_code: code,
        pid,
    };

    let socket = await_socket_alive(io, &plan.expected_socket_path, request.poll_interval);
    tokio::pin!(socket);
    let mut exit = child.exit;

    // The primary race. `biased` keeps simultaneous observations deterministic: socket, then exit.
    let first = tokio::select! {
        biased;
        r = &mut socket => Observation::Socket(r),
        r = &mut exit => Observation::Exit(r),
        () = tokio::time::sleep(plan.observe_timeout_ms.to_duration()) => Observation::Timeout,
    };
    match first {
        Observation::Socket(Ok(())) => release.fire(socket_alive).await,
        Observation::Exit(Ok(code)) => release.fire(exited(code)).await,
        Observation::Socket(Err(e)) => {
            // The socket watch failed (a forged path, or lstat itself): only an observed exit
            // may release now.
            let _ = terminate();
            tokio::select! {
                biased;
                r = &mut exit => match r {
                    Ok(code) => release.fire(exited(code)).await,
                    Err(_) => Ok(retained(RetainReason::ObserveFailed, Some(e))),
                },
                () = tokio::time::sleep(request.kill_grace_ms.to_duration()) => {
                    Ok(retained(RetainReason::ObserveFailed, Some(e)))
                }
            }
        }
        Observation::Exit(Err(e)) => {
            // The exit watch itself failed: nothing left that could observe the exit.
            let _ = terminate();
            Ok(retained(RetainReason::ObserveFailed, Some(e)))
        }
        Observation::Timeout => {
            let _ = terminate();
            tokio::select! {
                biased;
                r = &mut socket => match r {
                    Ok(()) => release.fire(socket_alive).await,
                    Err(e) => Ok(retained(RetainReason::KillUnconfirmed, Some(e))),
                },
                r = &mut exit => match r {
                    Ok(code) => release.fire(exited(code)).await,
                    Err(e) => Ok(retained(RetainReason::KillUnconfirmed, Some(e))),
                },
                () = tokio::time::sleep(request.kill_grace_ms.to_duration()) => {
                    Ok(retained(RetainReason::KillUnconfirmed, None))
                }
            }
        }
    }
}

/// Polls the exact `socket_path` every `interval`: a connectable socket resolves, a forged path
/// (symlink or non-socket) fails at once, absent / dead / indeterminate keep waiting. Never
/// resolves on its own otherwise; the caller drops it to stop.
async fn await_socket_alive<I: SpawnIo + ?Sized>(
    io: &I,
    socket_path: &Path,
    interval: Duration,
) -> io::Result<()> {
    loop {
        match io.inspect(socket_path).await? {
            PathInspection::SocketFile => {
                if io.probe(socket_path).await == ProbeLiveness::Alive {
                    return Ok(());
                }
            }
            PathInspection::Symlink | PathInspection::NotSocket => {
                return Err(io::Error::other(format!(
                    "entwurf-v2-spawn: forged control-socket address at {} (never connected).",
                    socket_path.display()
                )));
            }
            PathInspection::Absent | PathInspection::Indeterminate(_) => {}
        }
        tokio::time::sleep(interval).await;
    }
}

/// The release reducer every hand shares, for the `release-after-spawn-observation` policy: the lock is
/// released on the first observation and never again.
struct ReleaseOnce<'a, I: ?Sized> {
    io: &'a I,
    lock: &'a LockClaim,
    fired: bool,
}

impl<'a, I: SpawnIo + ?Sized> ReleaseOnce<'a, I> {
    fn new(io: &'a I, lock: &'a LockClaim) -> Self {
        Self {
            io,
            lock,
            fired: false,
        }
    }

    async fn fire(
        &mut self,
        observed: SpawnBgResumeResult,
    ) -> Result<SpawnBgResumeResult, ResumeError> {
        if self.fired {
            return Ok(observed);
        }
        self.fired = true;
        match self.io.release(self.lock).await {
            Ok(()) => Ok(observed),
            Err(error) => Err(ResumeError::ReleaseFailed {
                error,
                observed: Box::new(observed),
            }),
        }
    }
}
