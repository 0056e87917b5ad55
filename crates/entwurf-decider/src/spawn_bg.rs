//! The spawn-bg hand and the trust preflight seam, backed by `entwurf-spawn` (spec §3.4, §8).
//!
//! [`EntwurfSpawnHand`] implements [`SpawnBgHand`]: it runs `entwurf-spawn`'s watcher over
//! [`ProductionSpawnIo`] (the detached `pi --entwurf-control` resident from the saved session's
//! identity, control-rpc's lstat and probe) and races socket-alive against child-exit and the
//! observe timeout, releasing the lock exactly once through the runner's [`LockRelease`] (the
//! same release the decider uses). (The trust preflight seam is wired in production over
//! `entwurf_spawn::preflight_for_cwd`.)
//!
//! The plan and the result are `entwurf-spawn`'s own types, re-exported by the contract: they
//! cross the crate boundary unconverted.

use std::time::Duration;

use async_trait::async_trait;
use entwurf_lock::LockClaim;
use entwurf_spawn::millis::{Millis, DEFAULT_KILL_GRACE_MS};
use entwurf_spawn::watcher::SOCKET_POLL_INTERVAL;
use entwurf_spawn::{ProductionSpawnIo, ResumeError, ResumeRequest};

use crate::contract::SpawnBgPlan;
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
    /// A hand launching residents as `launch` says, with the default kill grace (5000 ms) and
    /// the 150 ms socket poll (each poll a control-rpc lstat and connect probe).
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

#[async_trait]
impl SpawnBgHand for EntwurfSpawnHand {
    /// Launches and watches the resume (§8). Returns after at most observe timeout + kill grace.
    /// A vanished or failed child is a released `child-exited` / `spawn-start-failed`; no
    /// observation is a `lock-retained` result. An error means the lock is dirty (a release
    /// failed after an observation) or the plan and lock do not pair (nothing was spawned).
    async fn resume(
        &self,
        plan: &SpawnBgPlan,
        lock: &LockClaim,
        release: &dyn LockRelease,
    ) -> Result<SpawnBgResumeResult, HandError> {
        let request = ResumeRequest {
            plan: plan.clone(),
            lock: Some(lock.clone()),
            kill_grace_ms: self.kill_grace_ms,
            poll_interval: self.poll_interval,
        };
        let io = ProductionSpawnIo::new(&self.launch, release);
        match entwurf_spawn::resume(&request, &io).await {
            Ok(result) => Ok(result),
            Err(ResumeError::ReleaseFailed { error, .. }) => Err(HandError::Io(error.into())),
            Err(e @ (ResumeError::NoLock | ResumeError::MisPairedLock { .. })) => {
                Err(HandError::Io(IoFailure::from_error(e)))
            }
        }
    }
}
