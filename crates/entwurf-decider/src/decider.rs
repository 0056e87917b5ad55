//! The decider (`decideDispatch`): the frozen step order of §3.2 with the older-document rule
//! at step 2b (owned-outcome to a socket-only endpoint is `bad-target` before any lock).

use entwurf_control_rpc::SocketInspection;
use entwurf_lock::{AcquireOutcome, LockClaim};
use entwurf_meta_session::{GardenId, MetaRecord};

use crate::contract::{
    resolve_dispatch, resolve_native_push, Action, ControlSocketPlan, DispatchDecision,
    DispatchInput, ExecutionPlan, FactLiveness, IllFormedReceipt, Intent, MetaMailboxPlan, Mode,
    NativePushPlan, Receipt, RejectDiagnostic, RejectReason, RejectReceipt, ReleaseWhen,
    ResumeAction, SpawnBgPlan, Transport,
};
use crate::seams::{DeciderConfig, DispatchSeams, IoFailure, PreflightKind};

/// Why the decider produced no decision at all (a receipt is never an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    /// The target is not a garden id; nothing was looked up.
    #[error("entwurf_v2 decider: refusing to dispatch to an invalid garden id ({}).", json_string(.value))]
    InvalidGardenId {
        /// The rejected target, verbatim.
        value: String,
    },
    /// A seam failed (corrupt record, lstat error, lock IO, probe, preflight, release). Any lock
    /// taken was released (best effort) before this was returned.
    #[error(transparent)]
    Seam(#[from] IoFailure),
    /// A receipt broke the pre-probe-null rule (a decider bug, never a receipt).
    #[error(transparent)]
    IllFormed(#[from] IllFormedReceipt),
    /// A native-push success without an alive probe route.
    #[error("entwurf_v2 decider: native-push send verdict without an alive probe route (contract invariant broken).")]
    NativePushWithoutRoute,
    /// The resolve table returned a verdict this branch cannot produce.
    #[error("entwurf_v2 decider: table drift — {transport} verdict on the {branch} branch.")]
    TableDrift {
        /// The unexpected transport.
        transport: Transport,
        /// Which branch saw it.
        branch: &'static str,
    },
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn reject(
    reason: RejectReason,
    obs: Option<FactLiveness>,
) -> Result<DispatchDecision, DecideError> {
    Ok(DispatchDecision::Reject {
        receipt: RejectReceipt::new(reason, obs)?,
        diagnostic: None,
    })
}

/// Where an in-domain target came from.
struct InDomain<'a> {
    gid: &'a GardenId,
    /// `false` for a socket-only endpoint (defence in depth: it never resumes).
    allow_resume: bool,
    /// The record's cwd (for the preflight).
    cwd: Option<&'a str>,
}

/// Decide a dispatch (`decideDispatch`). Steps, in order: validate the gid; resolve the target;
/// socket-only (fire-and-forget → in-domain; anything else → `bad-target`, no lock); no citizen →
/// `bad-target`; record-side conflict → `target-address-conflict`; then the backend branch
/// (native-push, unsupported/mailbox, or in-domain under the lock). A meta-mailbox plan carries
/// the record it was decided on ([`MetaMailboxPlan::record`]), so its hand need not read it again.
///
/// In-domain, the lock is taken before the socket is inspected, and released on every reject and
/// on every error after the acquire. If a release on a reject path itself fails, the error
/// handler releases once more (best effort) and the *first* release error is returned: the
/// release seam is then called twice in total (the reference's gate-pinned behaviour).
///
/// Timeouts are the seams' own (the production probe never waits; a connect error other than
/// refused/absent is `indeterminate`, which the table turns into `indeterminate-no-spawn`); a peer that vanishes between the lstat and the
/// probe simply probes `dead`. Nothing here retries.
pub async fn decide<S: DispatchSeams + ?Sized>(
    input: &DispatchInput,
    config: &DeciderConfig,
    seams: &S,
) -> Result<DispatchDecision, DecideError> {
    let gid = GardenId::parse(&input.target).map_err(|_| DecideError::InvalidGardenId {
        value: input.target.clone(),
    })?;
    let resolution = seams.resolve_target(&gid).await?;
    let identity = match resolution.identity {
        None if resolution.socket_only_pi => {
            if input.intent != Intent::FireAndForget {
                // Older design rule (§10): refused before any lock, inspect, probe or spawn.
                return reject(RejectReason::BadTarget, None);
            }
            let d = InDomain {
                gid: &gid,
                allow_resume: false,
                cwd: None,
            };
            return in_domain(input, config, seams, d).await;
        }
        None => return reject(RejectReason::BadTarget, None),
        Some(_) if resolution.pre_probe_address_conflict => {
            return reject(RejectReason::TargetAddressConflict, None)
        }
        Some(identity) => identity,
    };
    if identity.backend.is_native_push() {
        return native_push(input, seams, &gid, &identity).await;
    }
    if !identity.backend.is_socket_liveness() {
        return unsupported(input, config, seams, &gid, identity).await;
    }
    let d = InDomain {
        gid: &gid,
        allow_resume: true,
        cwd: Some(identity.cwd.as_str()),
    };
    in_domain(input, config, seams, d).await
}

async fn native_push<S: DispatchSeams + ?Sized>(
    input: &DispatchInput,
    seams: &S,
    gid: &GardenId,
    identity: &MetaRecord,
) -> Result<DispatchDecision, DecideError> {
    let probe = seams.native_push_probe(identity).await?;
    match resolve_native_push(input.intent, probe.status)? {
        Receipt::Reject(receipt) => Ok(DispatchDecision::Reject {
            receipt,
            diagnostic: None,
        }),
        Receipt::Success(receipt) => {
            let route = match (probe.status, probe.route) {
                (entwurf_control_rpc::SocketLiveness::Alive, Some(route)) => route,
                _ => return Err(DecideError::NativePushWithoutRoute),
            };
            Ok(DispatchDecision::Execute {
                receipt,
                plan: ExecutionPlan::NativePush(NativePushPlan {
                    action: Action::Send,
                    target_garden_id: gid.clone(),
                    backend: identity.backend,
                    native_session_id: identity.native_session_id.clone(),
                    route,
                    wants_reply: input.wants_reply.unwrap_or(false),
                    message: input.message.clone(),
                }),
                lock: None,
            })
        }
    }
}

async fn unsupported<S: DispatchSeams + ?Sized>(
    input: &DispatchInput,
    config: &DeciderConfig,
    seams: &S,
    gid: &GardenId,
    identity: MetaRecord,
) -> Result<DispatchDecision, DecideError> {
    // Always asked exactly once, owned-outcome included.
    let d = seams.mailbox_deliverability_for(&identity).await?;
    match resolve_dispatch(input.intent, FactLiveness::Unsupported, d.deliverable)? {
        Receipt::Reject(receipt) => Ok(DispatchDecision::Reject {
            receipt,
            diagnostic: None,
        }),
        Receipt::Success(receipt) if receipt.transport() == Transport::MetaMailbox => {
            Ok(DispatchDecision::Execute {
                receipt,
                plan: ExecutionPlan::MetaMailbox(MetaMailboxPlan {
                    // The hand enqueues to the record read here, without reading it again.
                    record: Some(Box::new(identity)),
                    ..mailbox_plan(
                        config,
                        gid,
                        input.wants_reply.unwrap_or(false),
                        &input.message,
                    )
                }),
                lock: None,
            })
        }
        Receipt::Success(receipt) => Err(DecideError::TableDrift {
            transport: receipt.transport(),
            branch: "unsupported",
        }),
    }
}

pub(crate) fn mailbox_plan(
    config: &DeciderConfig,
    gid: &GardenId,
    wants_reply: bool,
    message: &str,
) -> MetaMailboxPlan {
    MetaMailboxPlan {
        action: Action::Send,
        target_garden_id: gid.clone(),
        mailbox_dir: config.mailbox_dir.clone(),
        sessions_dir: config.sessions_dir.clone(),
        wants_reply,
        message: message.to_owned(),
        record: None,
    }
}

/// Liveness of an inspection, or `None` for an address conflict. Only a socket file is probed.
pub(crate) async fn inspection_liveness<S: DispatchSeams + ?Sized>(
    seams: &S,
    inspection: &SocketInspection,
) -> Result<Option<FactLiveness>, IoFailure> {
    Ok(match inspection {
        SocketInspection::Absent { .. } => Some(FactLiveness::Dead),
        SocketInspection::Indeterminate { .. } => Some(FactLiveness::Indeterminate),
        SocketInspection::AddressConflict { .. } => None,
        SocketInspection::SocketFile { socket_path } => {
            Some(seams.probe_socket(socket_path).await?.into())
        }
    })
}

async fn in_domain<S: DispatchSeams + ?Sized>(
    input: &DispatchInput,
    config: &DeciderConfig,
    seams: &S,
    d: InDomain<'_>,
) -> Result<DispatchDecision, DecideError> {
    let claim = match seams.acquire_lock(d.gid).await? {
        AcquireOutcome::Acquired(claim) => claim,
        AcquireOutcome::Conflict(conflict) => {
            return Ok(DispatchDecision::Reject {
                receipt: RejectReceipt::new(RejectReason::TargetLocked, None)?,
                diagnostic: Some(RejectDiagnostic::TargetLocked { conflict }),
            })
        }
    };
    match in_domain_locked(input, config, seams, &d, &claim).await {
        Ok(decision) => Ok(decision),
        Err(err) => {
            // Best effort: the original error wins over a failing release.
            let _ = seams.release_lock(&claim).await;
            Err(err)
        }
    }
}

async fn in_domain_locked<S: DispatchSeams + ?Sized>(
    input: &DispatchInput,
    config: &DeciderConfig,
    seams: &S,
    d: &InDomain<'_>,
    claim: &LockClaim,
) -> Result<DispatchDecision, DecideError> {
    let inspection = seams.inspect_socket(d.gid).await?;
    let Some(liveness) = inspection_liveness(seams, &inspection).await? else {
        seams.release_lock(claim).await?;
        return reject(RejectReason::TargetAddressConflict, None);
    };
    let receipt = match resolve_dispatch(input.intent, liveness, false)? {
        Receipt::Reject(receipt) => {
            seams.release_lock(claim).await?;
            return Ok(DispatchDecision::Reject {
                receipt,
                diagnostic: None,
            });
        }
        Receipt::Success(receipt) => receipt,
    };
    let socket_path = inspection.socket_path().to_path_buf();
    match receipt.transport() {
        Transport::SpawnBg => {
            let cwd = match (d.allow_resume, d.cwd) {
                (true, Some(cwd)) => cwd,
                // Defence in depth: a socket-only endpoint never resumes. Unreachable under the
                // older rule (owned-outcome was refused at step 2b); answer as that rule does.
                _ => {
                    seams.release_lock(claim).await?;
                    return reject(RejectReason::BadTarget, None);
                }
            };
            let preflight = seams.preflight_for_cwd(cwd).await?;
            if preflight.kind == PreflightKind::Deny {
                seams.release_lock(claim).await?;
                return reject(RejectReason::UntrustedFailFast, Some(liveness));
            }
            Ok(DispatchDecision::Execute {
                receipt,
                plan: ExecutionPlan::SpawnBg(SpawnBgPlan {
                    action: ResumeAction::Resume,
                    target_garden_id: d.gid.clone(),
                    session_id: d.gid.clone(),
                    cwd: cwd.to_owned(),
                    prompt: input.message.clone(),
                    launch_args: preflight.launch_args,
                    expected_socket_path: socket_path,
                    observe_timeout_ms: observe_timeout(config),
                    release_when: ReleaseWhen::SocketAliveOrChildExited,
                }),
                lock: Some(claim.clone()),
            })
        }
        Transport::ControlSocket => Ok(DispatchDecision::Execute {
            receipt,
            plan: ExecutionPlan::ControlSocket(ControlSocketPlan {
                action: Action::Send,
                target_garden_id: d.gid.clone(),
                socket_path,
                mode: input.mode.unwrap_or(Mode::FollowUp),
                wants_reply: input.wants_reply.unwrap_or(false),
                message: input.message.clone(),
            }),
            lock: Some(claim.clone()),
        }),
        // The error handler in `in_domain` releases the lock.
        other => Err(DecideError::TableDrift {
            transport: other,
            branch: "in-domain",
        }),
    }
}

/// The configured observe timeout as the plan carries it (a zero, which parsing never yields,
/// falls back to the default as an unset variable does).
fn observe_timeout(config: &DeciderConfig) -> entwurf_spawn::Millis {
    entwurf_spawn::Millis::new(config.observe_timeout_ms as f64)
        .unwrap_or(entwurf_spawn::millis::DEFAULT_OBSERVE_TIMEOUT_MS)
}
