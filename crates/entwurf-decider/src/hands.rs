//! The transport hands: the control-socket send with its single dead-connect re-resolve under
//! the same lock (§5), the dead-fallback resolver (§5.4), and the hand traits the runner drives.

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use entwurf_lock::LockClaim;
use entwurf_meta_session::GardenId;
use serde::{Deserialize, Serialize};

use crate::contract::{
    resolve_dispatch, Action, ControlSocketPlan, ExecutionPlan, FactLiveness, IllFormedReceipt,
    Intent, MetaMailboxPlan, NativePushPlan, Receipt, RejectReason, SpawnBgPlan, Transport,
};
use crate::decider::{inspection_liveness, mailbox_plan};
use crate::release::ReleasePolicyError;
use crate::release::{check_in_domain_lock, ReleaseEvent, ReleasePolicy, ReleaseReducer};
use crate::seams::{DeciderConfig, DispatchSeams, IoFailure};

/// How a failed connect/RPC is classified (`classifyConnect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectClass {
    /// `ECONNREFUSED` / `ENOENT`: nobody was listening, nothing was delivered.
    Dead,
    /// Anything else (timeout, close before reply, `EACCES`, no code): it may have been delivered.
    Indeterminate,
}

/// A send over the socket that raised instead of answering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendFailure {
    /// Dead (safe to re-resolve) or indeterminate (never retried).
    pub class: ConnectClass,
    /// The error text, e.g. `connect ECONNREFUSED /x/y.sock`, `timeout`.
    pub message: String,
}

/// A completed RPC answer (`{success, error?}`); the error text is never carried further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcAck {
    /// `success` of the response line.
    pub success: bool,
    /// `error` of the response line.
    pub error: Option<String>,
}

/// A mailbox hand's answer. `success:false` is a contract violation on the direct path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxAck {
    /// Was the body enqueued?
    pub success: bool,
    /// An unparseable `state.json` the enqueue set aside (under this name) and rebuilt.
    pub state_set_aside: Option<std::path::PathBuf>,
}

/// A native-push hand's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativePushAck {
    /// Was it delivered?
    pub success: bool,
    /// Did it take the one re-probe retry?
    pub retried: bool,
}

/// The final outcome of a control-socket send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SendFinalOutcome {
    /// The first RPC answered `success:true`.
    Sent,
    /// Dead connect, re-resolve, and the single retry (socket or mailbox) succeeded.
    FallbackSent,
    /// In-band refusal, or the re-resolve found no route.
    Rejected,
    /// Raised (never in an executed result; it becomes `execution-failed`).
    Failed,
}

impl SendFinalOutcome {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            SendFinalOutcome::Sent => "sent",
            SendFinalOutcome::FallbackSent => "fallback-sent",
            SendFinalOutcome::Rejected => "rejected",
            SendFinalOutcome::Failed => "failed",
        }
    }
}

impl fmt::Display for SendFinalOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a non-failed control-socket send ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlSendResult {
    /// `sent`, `fallback-sent` or `rejected`.
    pub outcome: SendFinalOutcome,
    /// Carried verbatim from a re-resolve reject; absent for an in-band refusal.
    pub reject_reason: Option<RejectReason>,
}

/// The dead-fallback re-resolve's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadFallback {
    /// No route now; the send ends `rejected` with this reason.
    Reject {
        /// The reason, carried verbatim.
        reason: RejectReason,
    },
    /// A fresh plan (control-socket or meta-mailbox; anything else violates the contract).
    Execute(ExecutionPlan),
}

/// Why a hand raised. The runner turns every one into `execution-failed` (never retry-safe).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandError {
    /// An IO failure (enqueue, release, a seam during the re-resolve, …).
    #[error(transparent)]
    Io(#[from] IoFailure),
    /// A send over the socket raised.
    #[error(transparent)]
    Send(#[from] SendFailure),
    /// The plan and lock do not pair.
    #[error(transparent)]
    Policy(#[from] ReleasePolicyError),
    /// A receipt broke the pre-probe-null rule during the re-resolve.
    #[error(transparent)]
    IllFormed(#[from] IllFormedReceipt),
    /// The re-resolve produced a plan a send fallback may not run.
    #[error("entwurf-v2-send: re-resolve returned a {transport} plan for a send fallback (contract violation).")]
    FallbackContractViolation {
        /// The offending plan's transport.
        transport: Transport,
    },
    /// The re-resolve produced a plan for another target.
    #[error("entwurf-v2-send: re-resolve returned a plan for a different target ({replan}) than the held lock ({lock}) — same-lock re-resolve violated.")]
    FallbackMisroute {
        /// The re-plan's target.
        replan: String,
        /// The held lock's gid.
        lock: String,
    },
    /// The dead-fallback resolver was handed a lock for another target.
    #[error("entwurf-v2-send-fallback: plan target ({plan}) does not match held lock ({lock}) — mis-paired.")]
    FallbackMisPaired {
        /// The plan's target.
        plan: String,
        /// The lock's gid.
        lock: String,
    },
    /// The re-resolve's table produced a success that is not a send.
    #[error("entwurf-v2-send-fallback: table drift — {transport} verdict for a fire-and-forget re-resolve.")]
    FallbackTableDrift {
        /// The unexpected transport.
        transport: Transport,
    },
    /// The send happened (or was refused in band) but the lock could not be released.
    #[error("entwurf-v2-send: {outcome} delivered but releaseLock failed (lock dirty, do NOT re-send): {release_error}")]
    DeliveredReleaseFailed {
        /// `sent`, `fallback-sent` or `rejected`.
        outcome: SendFinalOutcome,
        /// The release's error.
        release_error: IoFailure,
    },
    /// This build has no hand for the transport yet (never a fake success).
    #[error("entwurf-v2-runner: transport not available: {transport} ({detail})")]
    NotAvailable {
        /// The plan's transport.
        transport: Transport,
        /// What is missing and what happened to the lock.
        detail: String,
    },
}

/// What the control-socket hand needs (§5.2).
#[async_trait]
pub trait ControlSendDeps: Send + Sync {
    /// Send the plan's message as one RPC line and wait for the `send` response. Raises a
    /// classified [`SendFailure`] when no response arrives (connect error, timeout, close).
    async fn send_over_socket(&self, plan: &ControlSocketPlan) -> Result<RpcAck, SendFailure>;
    /// Re-resolve after a dead connect, under the held lock (never releases, never spawns).
    async fn dead_fallback(
        &self,
        plan: &ControlSocketPlan,
        lock: &LockClaim,
    ) -> Result<DeadFallback, HandError>;
    /// Enqueue a fallback mailbox plan (lock ignored).
    async fn send_via_mailbox(&self, plan: &MetaMailboxPlan) -> Result<MailboxAck, IoFailure>;
    /// Release the held lock (called exactly once by the hand).
    async fn release_lock(&self, claim: &LockClaim) -> Result<(), IoFailure>;
}

/// `executeControlSocketSend(plan, lock, deps)`: first send; on a dead connect one re-resolve
/// under the same lock and one retry (socket or mailbox); never a fallback after an
/// indeterminate failure or an in-band refusal. The lock is released exactly once, after the
/// final outcome. A failed send re-raises its original error (even if the release failed too);
/// a delivered (or in-band refused) send whose release fails raises
/// [`HandError::DeliveredReleaseFailed`]: do not re-send.
///
/// Timeout (the RPC's 5000 ms in production) or a peer that hangs up before answering is an
/// indeterminate failure: `failed`, no fallback, because the message may have been delivered.
/// A peer that vanished before the connect (refused / no file) is the one dead case that
/// re-resolves.
pub async fn execute_control_socket_send<D: ControlSendDeps + ?Sized>(
    plan: &ControlSocketPlan,
    lock: Option<&LockClaim>,
    deps: &D,
) -> Result<ControlSendResult, HandError> {
    let lock = check_in_domain_lock(
        Transport::ControlSocket,
        plan.target_garden_id.as_str(),
        lock,
    )?;
    let mut reducer = ReleaseReducer::new(ReleasePolicy::ReleaseAfterSendFinal);
    let outcome = control_send_process(plan, lock, deps).await;
    let release = if reducer.on_event(&ReleaseEvent::SendFinal) {
        deps.release_lock(lock).await
    } else {
        Ok(())
    };
    match (outcome, release) {
        (Err(err), _) => Err(err),
        (Ok(result), Ok(())) => Ok(result),
        (Ok(result), Err(release_error)) => Err(HandError::DeliveredReleaseFailed {
            outcome: result.outcome,
            release_error,
        }),
    }
}

fn rejected(reason: Option<RejectReason>) -> ControlSendResult {
    ControlSendResult {
        outcome: SendFinalOutcome::Rejected,
        reject_reason: reason,
    }
}

async fn control_send_process<D: ControlSendDeps + ?Sized>(
    plan: &ControlSocketPlan,
    lock: &LockClaim,
    deps: &D,
) -> Result<ControlSendResult, HandError> {
    match deps.send_over_socket(plan).await {
        Ok(ack) if ack.success => {
            return Ok(ControlSendResult {
                outcome: SendFinalOutcome::Sent,
                reject_reason: None,
            })
        }
        // In-band refusal: final, no fallback; the receiver's error text is dropped.
        Ok(_) => return Ok(rejected(None)),
        Err(f) if f.class == ConnectClass::Indeterminate => return Err(f.into()),
        Err(_dead) => {}
    }
    let replan = match deps.dead_fallback(plan, lock).await? {
        DeadFallback::Reject { reason } => return Ok(rejected(Some(reason))),
        DeadFallback::Execute(replan) => replan,
    };
    let target = replan.target_garden_id();
    if target != &plan.target_garden_id || target.as_str() != lock.garden_id {
        return Err(HandError::FallbackMisroute {
            replan: target.to_string(),
            lock: lock.garden_id.clone(),
        });
    }
    let success = match &replan {
        ExecutionPlan::ControlSocket(p) => deps.send_over_socket(p).await?.success,
        ExecutionPlan::MetaMailbox(p) => deps.send_via_mailbox(p).await?.success,
        other => {
            return Err(HandError::FallbackContractViolation {
                transport: other.transport(),
            })
        }
    };
    Ok(if success {
        ControlSendResult {
            outcome: SendFinalOutcome::FallbackSent,
            reject_reason: None,
        }
    } else {
        rejected(None)
    })
}

/// `resolveDeadControlSendFallback(plan, lock, …)`: a fire-and-forget re-resolve under the held
/// lock. Never releases, never spawns, never runs the whole decider. Errors from the seams
/// propagate (the hand turns them into `failed`). It has no timeout of its own: a re-probe that
/// times out is `indeterminate` (→ `indeterminate-no-spawn`), a vanished peer probes `dead`.
pub async fn resolve_dead_control_send_fallback<S: DispatchSeams + ?Sized>(
    plan: &ControlSocketPlan,
    lock: &LockClaim,
    seams: &S,
    config: &DeciderConfig,
) -> Result<DeadFallback, HandError> {
    if plan.target_garden_id.as_str() != lock.garden_id {
        return Err(HandError::FallbackMisPaired {
            plan: plan.target_garden_id.to_string(),
            lock: lock.garden_id.clone(),
        });
    }
    let gid: &GardenId = &plan.target_garden_id;
    let resolution = seams.resolve_target(gid).await?;
    let reject = |reason| Ok(DeadFallback::Reject { reason });
    match &resolution.identity {
        None if resolution.socket_only_pi => {}
        None => return reject(RejectReason::BadTarget),
        Some(_) if resolution.pre_probe_address_conflict => {
            return reject(RejectReason::TargetAddressConflict)
        }
        Some(identity) if !identity.backend.is_socket_liveness() => {
            let d = seams.mailbox_deliverability_for(identity).await?;
            return match resolve_dispatch(
                Intent::FireAndForget,
                FactLiveness::Unsupported,
                d.deliverable,
            )? {
                Receipt::Reject(r) => reject(r.reason()),
                Receipt::Success(_) => Ok(DeadFallback::Execute(ExecutionPlan::MetaMailbox(
                    mailbox_plan(config, gid, plan.wants_reply, &plan.message),
                ))),
            };
        }
        Some(_) => {}
    }
    let inspection = seams.inspect_socket(gid).await?;
    let Some(liveness) = inspection_liveness(seams, &inspection).await? else {
        return reject(RejectReason::TargetAddressConflict);
    };
    match resolve_dispatch(Intent::FireAndForget, liveness, false)? {
        Receipt::Reject(r) => reject(r.reason()),
        Receipt::Success(s) if s.transport() == Transport::ControlSocket => Ok(
            DeadFallback::Execute(ExecutionPlan::ControlSocket(ControlSocketPlan {
                action: Action::Send,
                target_garden_id: gid.clone(),
                socket_path: PathBuf::from(inspection.socket_path()),
                mode: plan.mode,
                wants_reply: plan.wants_reply,
                message: plan.message.clone(),
            })),
        ),
        Receipt::Success(s) => Err(HandError::FallbackTableDrift {
            transport: s.transport(),
        }),
    }
}

/// `SpawnBgResumeResult` (§8) with its `lock-retained` reason and diagnostic, and the lock release
/// a spawn hand is given: `entwurf-spawn`'s types, so a watcher's result is the runner's outcome.
pub use entwurf_spawn::{LockRelease, RetainReason, RetainedDiagnostic, SpawnBgResumeResult};

/// The spawn-bg hand (§8), pluggable into production. It owns the lock from the moment it is
/// called and must release it through `release` on every path it does not retain it on.
#[async_trait]
pub trait SpawnBgHand: Send + Sync {
    /// Launch the resume and watch it. Timeouts and a vanished child are results, not errors.
    async fn resume(
        &self,
        plan: &SpawnBgPlan,
        lock: &LockClaim,
        release: &dyn LockRelease,
    ) -> Result<SpawnBgResumeResult, HandError>;
}

/// The native-push hand (§2.6), pluggable into production. Lock-free.
#[async_trait]
pub trait NativePushHand: Send + Sync {
    /// Deliver with one re-probe retry.
    async fn send(&self, plan: &NativePushPlan) -> Result<NativePushAck, HandError>;
}

/// The spawn-bg hand of a build without one: releases the lock, then fails honestly.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpawnBgUnavailable;

#[async_trait]
impl SpawnBgHand for SpawnBgUnavailable {
    async fn resume(
        &self,
        _plan: &SpawnBgPlan,
        lock: &LockClaim,
        release: &dyn LockRelease,
    ) -> Result<SpawnBgResumeResult, HandError> {
        let detail = match release.release(lock).await {
            Ok(()) => "no spawn-bg hand is wired in this build; nothing was spawned and the lock was released".to_owned(),
            Err(e) => format!("no spawn-bg hand is wired in this build; nothing was spawned, and releasing the lock failed ({e}): clear {} by hand", lock.lock_path.display()),
        };
        Err(HandError::NotAvailable {
            transport: Transport::SpawnBg,
            detail,
        })
    }
}

/// The native-push hand of a build without one: fails honestly, nothing sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativePushUnavailable;

#[async_trait]
impl NativePushHand for NativePushUnavailable {
    async fn send(&self, _plan: &NativePushPlan) -> Result<NativePushAck, HandError> {
        Err(HandError::NotAvailable {
            transport: Transport::NativePush,
            detail: "no native-push adapter is wired in this build; nothing was sent".to_owned(),
        })
    }
}

/// The four hands the runner drives, one method per transport; exactly one runs per execute
/// decision, with the decision's plan and lock unchanged.
#[async_trait]
pub trait TransportHands: Send + Sync {
    /// §5: control-socket send with its single dead-connect re-resolve.
    async fn send_control(
        &self,
        plan: &ControlSocketPlan,
        lock: Option<&LockClaim>,
    ) -> Result<ControlSendResult, HandError>;
    /// Meta-mailbox enqueue (exactly once, lock-free). The plan carries the record the decision
    /// read ([`MetaMailboxPlan::record`]) when there is one; a hand may deliver to it without
    /// reading it again.
    async fn send_mailbox(
        &self,
        plan: &MetaMailboxPlan,
        lock: Option<&LockClaim>,
    ) -> Result<MailboxAck, HandError>;
    /// §8: spawn-bg resume.
    async fn resume_spawn_bg(
        &self,
        plan: &SpawnBgPlan,
        lock: Option<&LockClaim>,
    ) -> Result<SpawnBgResumeResult, HandError>;
    /// Native-push send (lock-free).
    async fn send_native_push(
        &self,
        plan: &NativePushPlan,
        lock: Option<&LockClaim>,
    ) -> Result<NativePushAck, HandError>;
}
