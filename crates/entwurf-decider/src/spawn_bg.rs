//! The spawn-bg hand and the trust preflight seam, backed by `entwurf-spawn` (spec §3.4, §8).
//!
//! [`EntwurfSpawnHand`] implements [`SpawnBgHand`]: it launches the detached `pi
//! --entwurf-control` resident from the saved session's identity and races socket-alive against
//! child-exit and the observe timeout, releasing the lock exactly once through the runner's
//! [`LockRelease`] (the same release the decider uses). Lstat and probe are the control-rpc
//! crate's. (The trust preflight seam is wired in production over `entwurf_spawn::preflight_for_cwd`.)
//!
//! The plan and result cross the crate boundary through their JSON shapes (both sides pin the
//! reference's keysets against the golden files), so the two models cannot drift silently.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use entwurf_control_rpc::{ConflictReason, SocketInspection, SocketLiveness};
use entwurf_lock::LockClaim;
use entwurf_spawn::millis::{Millis, DEFAULT_KILL_GRACE_MS};
use entwurf_spawn::watcher::{PathInspection, ProbeLiveness, SOCKET_POLL_INTERVAL};
use entwurf_spawn::{ResumeError, ResumeRequest, SpawnIo, SpawnedChild};

use crate::contract::{ExecutionPlan, SpawnBgPlan};
use crate::hands::{HandError, LockRelease, SpawnBgHand, SpawnBgResumeResult};
use crate::seams::IoFailure;

pub use entwurf_spawn::preflight::parse_prefix_roots;
pub use entwurf_spawn::{LaunchConfig, StderrSink};

/// The production spawn-bg hand.
#[derive(Debug, Clone)]
pub struct EntwurfSpawnHand {
    launch: LaunchConfig,
    kill_grace_ms: Millis,
    poll_interval: Duration,
}

impl EntwurfSpawnHand {
    /// A hand launching residents as `launch` says, with the default kill grace (5000 ms), the
    /// 150 ms socket poll and control-rpc's connect probe (which never waits).
    pub fn new(launch: LaunchConfig) -> Self {
        Self {
            launch,
            kill_grace_ms: DEFAULT_KILL_GRACE_MS,
            poll_interval: SOCKET_POLL_INTERVAL,
        }
    }

    /// Overrides the grace between SIGTERM and giving up (`lock-retained`).
    pub fn with_kill_grace(mut self, kill_grace_ms: Millis) -> Self {
        self.kill_grace_ms = kill_grace_ms;
        self
    }
}

/// One resume's IO: the configured launch, control-rpc's lstat and probe, the runner's release.
struct HandIo<'a> {
    launch: &'a LaunchConfig,
    release: &'a dyn LockRelease,
}

#[async_trait]
impl SpawnIo for HandIo<'_> {
    async fn spawn(&self, plan: &entwurf_spawn::SpawnBgPlan) -> Result<SpawnedChild, IoFailure> {
        entwurf_spawn::production::spawn_resident(self.launch, plan)
    }

    async fn inspect(&self, socket_path: &Path) -> Result<PathInspection, IoFailure> {
        Ok(match entwurf_control_rpc::inspect(socket_path) {
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
        })
    }

    async fn probe(&self, socket_path: &Path) -> ProbeLiveness {
        match entwurf_control_rpc::probe(socket_path).await {
            SocketLiveness::Alive => ProbeLiveness::Alive,
            SocketLiveness::Dead => ProbeLiveness::Dead,
            SocketLiveness::Indeterminate => ProbeLiveness::Indeterminate,
        }
    }

    async fn release(&self, lock: &LockClaim) -> Result<(), IoFailure> {
        self.release.release(lock).await
    }
}

fn to_spawn_plan(plan: &SpawnBgPlan) -> Result<entwurf_spawn::SpawnBgPlan, IoFailure> {
    let value = serde_json::to_value(ExecutionPlan::SpawnBg(plan.clone()))
        .map_err(|e| IoFailure::new(format!("entwurf-v2-spawn: cannot encode the plan: {e}")))?;
    serde_json::from_value(value)
        .map_err(|e| IoFailure::new(format!("entwurf-v2-spawn: plan shape mismatch: {e}")))
}

fn from_spawn_result(
    result: &entwurf_spawn::SpawnBgResumeResult,
) -> Result<SpawnBgResumeResult, IoFailure> {
    let value = serde_json::to_value(result)
        .map_err(|e| IoFailure::new(format!("entwurf-v2-spawn: cannot encode the result: {e}")))?;
    serde_json::from_value(value)
        .map_err(|e| IoFailure::new(format!("entwurf-v2-spawn: result shape mismatch: {e}")))
}

#[async_trait]
impl SpawnBgHand for EntwurfSpawnHand {
    /// Launches and watches the resume (§8). Returns after at most observe timeout + kill grace.
    /// A vanished or failed child is a released `child-exited` / `spawn-start-failed`; no
    /// observation is a `lock-retained` result. An error means the lock is dirty (a release
    /// failed after an observation) or the plan could not be carried over (then the lock is
    /// released first).
    async fn resume(
        &self,
        plan: &SpawnBgPlan,
        lock: &LockClaim,
        release: &dyn LockRelease,
    ) -> Result<SpawnBgResumeResult, HandError> {
        let spawn_plan = match to_spawn_plan(plan) {
            Ok(p) => p,
            Err(e) => {
                // Nothing was spawned: the lock must not stay behind.
                release.release(lock).await?;
                return Err(HandError::Io(e));
            }
        };
        let request = ResumeRequest {
            plan: spawn_plan,
            lock: Some(lock.clone()),
            kill_grace_ms: self.kill_grace_ms,
            poll_interval: self.poll_interval,
        };
        let io = HandIo {
            launch: &self.launch,
            release,
        };
        match entwurf_spawn::resume(&request, &io).await {
            Ok(result) => Ok(from_spawn_result(&result)?),
            Err(ResumeError::ReleaseFailed { error, .. }) => Err(HandError::Io(error)),
            Err(e @ ResumeError::InvalidSessionId { .. }) => {
                // Nothing was spawned: the lock must not stay behind.
                release.release(lock).await?;
                Err(HandError::Io(IoFailure::new(e.to_string())))
            }
            Err(e @ (ResumeError::NoLock | ResumeError::MisPairedLock { .. })) => {
                Err(HandError::Io(IoFailure::new(e.to_string())))
            }
        }
    }
}
