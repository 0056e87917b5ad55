//! The release policy and reducer shared by every hand: which plans hold a lock, and
//! which event releases it. A lock is released at most once.

use entwurf_lock::LockClaim;

use crate::contract::{ExecutionPlan, Transport};

/// How a hand must treat the decision's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleasePolicy {
    /// Mailbox and native-push: no lock, never release.
    NoLock,
    /// Control socket: release on the final send outcome.
    ReleaseAfterSendFinal,
    /// Spawn-bg: release on the first socket-alive, child-exit or start failure.
    ReleaseAfterSpawnObservation,
}

/// A plan/lock pairing that breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleasePolicyError {
    /// A lock-free plan carried a lock.
    #[error(
        "entwurf-v2-release: a meta-mailbox plan must carry no lock (？7 invariant violated)."
    )]
    MailboxWithLock,
    /// A lock-free plan carried a lock.
    #[error("entwurf-v2-release: a native-push plan must carry no lock (봉인 4 lock-free rail violated).")]
    NativePushWithLock,
    /// An in-domain plan without a lock.
    #[error("entwurf-v2-release: an in-domain ({transport}) execute must hold a lock.")]
    MissingLock {
        /// The plan's transport.
        transport: Transport,
    },
    /// The lock belongs to another target.
    #[error("entwurf-v2-release: lock gardenId ({lock}) does not match plan target ({plan}) — mis-paired plan/lock.")]
    MisPaired {
        /// The lock's gid.
        lock: String,
        /// The plan's gid.
        plan: String,
    },
}

/// `decideReleasePolicy(plan, lock)`.
pub fn decide_release_policy(
    plan: &ExecutionPlan,
    lock: Option<&LockClaim>,
) -> Result<ReleasePolicy, ReleasePolicyError> {
    let policy = match plan {
        ExecutionPlan::MetaMailbox(_) => {
            return match lock {
                None => Ok(ReleasePolicy::NoLock),
                Some(_) => Err(ReleasePolicyError::MailboxWithLock),
            }
        }
        ExecutionPlan::NativePush(_) => {
            return match lock {
                None => Ok(ReleasePolicy::NoLock),
                Some(_) => Err(ReleasePolicyError::NativePushWithLock),
            }
        }
        ExecutionPlan::ControlSocket(_) => ReleasePolicy::ReleaseAfterSendFinal,
        ExecutionPlan::SpawnBg(_) => ReleasePolicy::ReleaseAfterSpawnObservation,
    };
    check_in_domain_lock(plan.transport(), plan.target_garden_id().as_str(), lock)?;
    Ok(policy)
}

/// The in-domain half of the policy: a lock must be held and paired with the plan's target.
pub fn check_in_domain_lock<'a>(
    transport: Transport,
    plan_target: &str,
    lock: Option<&'a LockClaim>,
) -> Result<&'a LockClaim, ReleasePolicyError> {
    let lock = lock.ok_or(ReleasePolicyError::MissingLock { transport })?;
    if lock.garden_id != plan_target {
        return Err(ReleasePolicyError::MisPaired {
            lock: lock.garden_id.clone(),
            plan: plan_target.to_owned(),
        });
    }
    Ok(lock)
}

/// An observation fed to the reducer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseEvent {
    /// A control-socket send reached its final outcome.
    SendFinal,
    /// A spawn child started (never releases).
    SpawnStarted,
    /// The spawn did not start.
    SpawnStartFailed,
    /// The child's socket is alive.
    SocketAlive,
    /// The child exited (any code).
    ChildExited,
    /// A mailbox enqueue succeeded (never releases).
    MailboxEnqueued,
}

/// The reducer: feed events, and release when it says so. Fires at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseReducer {
    policy: ReleasePolicy,
    released: bool,
}

impl ReleaseReducer {
    /// A reducer for a policy; nothing released yet.
    pub fn new(policy: ReleasePolicy) -> Self {
        Self {
            policy,
            released: false,
        }
    }

    /// Returns `true` exactly when the caller must release now (at most once per reducer).
    pub fn on_event(&mut self, event: &ReleaseEvent) -> bool {
        if self.released {
            return false;
        }
        let fire = match self.policy {
            ReleasePolicy::NoLock => false,
            ReleasePolicy::ReleaseAfterSendFinal => *event == ReleaseEvent::SendFinal,
            ReleasePolicy::ReleaseAfterSpawnObservation => matches!(
                event,
                ReleaseEvent::SocketAlive
                    | ReleaseEvent::ChildExited
                    | ReleaseEvent::SpawnStartFailed
            ),
        };
        self.released = fire;
        fire
    }

    /// Has the reducer fired?
    pub fn released(&self) -> bool {
        self.released
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::no_lock_never(ReleasePolicy::NoLock, vec![ReleaseEvent::SendFinal, ReleaseEvent::SocketAlive, ReleaseEvent::MailboxEnqueued], vec![false, false, false])]
    #[case::send_final_once(ReleasePolicy::ReleaseAfterSendFinal, vec![ReleaseEvent::SocketAlive, ReleaseEvent::SendFinal, ReleaseEvent::SendFinal], vec![false, true, false])]
    #[case::spawn_started_never(ReleasePolicy::ReleaseAfterSpawnObservation, vec![ReleaseEvent::SpawnStarted, ReleaseEvent::SendFinal], vec![false, false])]
    #[case::spawn_first_observation(ReleasePolicy::ReleaseAfterSpawnObservation, vec![ReleaseEvent::SpawnStarted, ReleaseEvent::SocketAlive, ReleaseEvent::ChildExited], vec![false, true, false])]
    #[case::spawn_exit(ReleasePolicy::ReleaseAfterSpawnObservation, vec![ReleaseEvent::ChildExited, ReleaseEvent::SocketAlive], vec![true, false])]
    #[case::spawn_start_failed(ReleasePolicy::ReleaseAfterSpawnObservation, vec![ReleaseEvent::SpawnStartFailed], vec![true])]
    fn reducer_fires_at_most_once(
        #[case] policy: ReleasePolicy,
        #[case] events: Vec<ReleaseEvent>,
        #[case] want: Vec<bool>,
    ) {
        let mut r = ReleaseReducer::new(policy);
        let got: Vec<bool> = events.iter().map(|e| r.on_event(e)).collect();
        assert_eq!(got, want);
    }
}
