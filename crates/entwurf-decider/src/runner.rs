//! The runner (`runEntwurfV2` → `executeDispatch`): decide once, then run exactly one hand with
//! the decision's plan and lock unchanged, and fold the hand's answer into a [`RunResult`].

use serde::{Deserialize, Serialize};

use crate::contract::{
    DispatchDecision, DispatchInput, ExecutionPlan, RejectDiagnostic, RejectReason, RejectReceipt,
    SuccessReceipt, Transport,
};

use crate::decider::{decide, DecideError};
use crate::hands::{HandError, SendFinalOutcome, SpawnBgResumeResult, TransportHands};
use crate::seams::{DeciderConfig, DispatchSeams};

/// What an executed hand reported (discriminated on `transport`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "transport",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum ExecutedOutcome {
    /// A control-socket send's final outcome (`failed` never appears here).
    ControlSocket {
        /// `sent`, `fallback-sent` or `rejected`.
        outcome: SendFinalOutcome,
        /// A re-resolve reject's reason, verbatim; absent for an in-band refusal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reject_reason: Option<RejectReason>,
    },
    /// A spawn-bg resume's result (`lock-retained` included: a value, not a failure).
    SpawnBg {
        /// The watcher's result.
        result: SpawnBgResumeResult,
    },
    /// A mailbox enqueue.
    MetaMailbox {
        /// Always `true`.
        success: bool,
        /// An unparseable `state.json` the enqueue set aside and rebuilt (absent normally, so
        /// the result's bytes are the reference's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_set_aside: Option<std::path::PathBuf>,
    },
    /// A native-push delivery.
    NativePush {
        /// Always `true`.
        success: bool,
        /// Whether the one re-probe retry was used.
        retried: bool,
    },
}

/// The run's result (`EntwurfV2RunResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum RunResult {
    /// The decider refused; no hand ran.
    Rejected {
        /// The reject receipt.
        receipt: RejectReceipt,
        /// `target-locked` evidence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diagnostic: Option<RejectDiagnostic>,
    },
    /// The hand ran to an outcome.
    Executed {
        /// The success receipt.
        receipt: SuccessReceipt,
        /// The plan's transport.
        transport: Transport,
        /// The hand's outcome.
        outcome: ExecutedOutcome,
    },
    /// The hand raised. Never retry-safe: a raised send may have delivered.
    ExecutionFailed {
        /// The success receipt.
        receipt: SuccessReceipt,
        /// The plan's transport.
        transport: Transport,
        /// The error's message.
        error: String,
        /// Set when the send was delivered (or refused in band) but the lock stayed dirty.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        finalized_outcome: Option<SendFinalOutcome>,
        /// `true` together with `finalized_outcome`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_failed: Option<bool>,
        /// Always `false`.
        retry_safe: bool,
    },
}

impl RunResult {
    /// Did the message reach the target (socket ack, fallback, enqueue, native push, or a
    /// resume that came up or ran)? `false` for every reject, in-band refusal and failure —
    /// including a delivered send whose lock stayed dirty, which must not be retried.
    pub fn delivered(&self) -> bool {
        match self {
            RunResult::Executed { outcome, .. } => match outcome {
                ExecutedOutcome::ControlSocket { outcome, .. } => matches!(
                    outcome,
                    SendFinalOutcome::Sent | SendFinalOutcome::FallbackSent
                ),
                ExecutedOutcome::SpawnBg { result } => matches!(
                    result,
                    SpawnBgResumeResult::SocketAlive { .. }
                        | SpawnBgResumeResult::ChildExited { .. }
                ),
                ExecutedOutcome::MetaMailbox { .. } | ExecutedOutcome::NativePush { .. } => true,
            },
            _ => false,
        }
    }

    /// The text the reference's tool surface renders for this result.
    pub fn render(&self) -> Rendered {
        render(self)
    }

    /// Compact JSON + `"\n"`, as the reference serialises it.
    pub fn to_json_line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// An `execution-failed` result; `error` is the receipt's text (an error is passed as
/// [`entwurf_fs::Chain`], so its causes are kept).
fn failed(receipt: SuccessReceipt, transport: Transport, error: impl ToString) -> RunResult {
    RunResult::ExecutionFailed {
        receipt,
        transport,
        error: error.to_string(),
        finalized_outcome: None,
        release_failed: None,
        retry_safe: false,
    }
}

/// `executeDispatch(decision, hands)`: a reject runs no hand; an execute runs exactly one.
///
/// Never fails: a hand's timeout or vanished peer arrives as its error (→ `execution-failed`,
/// never retry-safe) or as its outcome (`rejected` after a dead re-resolve, `lock-retained`).
pub async fn execute_dispatch<H: TransportHands + ?Sized>(
    decision: DispatchDecision,
    hands: &H,
) -> RunResult {
    let (receipt, plan, lock) = match decision {
        DispatchDecision::Reject {
            receipt,
            diagnostic,
        } => {
            return RunResult::Rejected {
                receipt,
                diagnostic,
            }
        }
        DispatchDecision::Execute {
            receipt,
            plan,
            lock,
        } => (receipt, plan, lock),
    };
    let transport = plan.transport();
    let executed = |outcome| RunResult::Executed {
        receipt,
        transport,
        outcome,
    };
    match &plan {
        ExecutionPlan::ControlSocket(p) => match hands.send_control(p, lock.as_ref()).await {
            Ok(r) => executed(ExecutedOutcome::ControlSocket {
                outcome: r.outcome,
                reject_reason: r.reject_reason,
            }),
            Err(err @ HandError::DeliveredReleaseFailed { outcome, .. }) => {
                RunResult::ExecutionFailed {
                    receipt,
                    transport,
                    error: err.to_string(),
                    finalized_outcome: Some(outcome),
                    release_failed: Some(true),
                    retry_safe: false,
                }
            }
            Err(err) => failed(receipt, transport, entwurf_fs::Chain(&err)),
        },
        ExecutionPlan::MetaMailbox(p) => match hands.send_mailbox(p, lock.as_ref()).await {
            Ok(ack) if ack.success => executed(ExecutedOutcome::MetaMailbox {
                success: true,
                state_set_aside: ack.state_set_aside,
            }),
            Ok(_) => failed(receipt, transport, "entwurf-v2-runner: meta-mailbox send returned success:false (contract violation; a mailbox has no in-band reject)."),
            Err(err) => failed(receipt, transport, entwurf_fs::Chain(&err)),
        },
        ExecutionPlan::SpawnBg(p) => match hands.resume_spawn_bg(p, lock.as_ref()).await {
            Ok(result) => executed(ExecutedOutcome::SpawnBg { result }),
            Err(err) => failed(receipt, transport, entwurf_fs::Chain(&err)),
        },
        ExecutionPlan::NativePush(p) => match hands.send_native_push(p, lock.as_ref()).await {
            Ok(ack) if ack.success => executed(ExecutedOutcome::NativePush {
                success: true,
                retried: ack.retried,
            }),
            Ok(_) => failed(receipt, transport, "entwurf-v2-runner: native-push send returned success:false (contract violation; native-push has no in-band reject)."),
            Err(err) => failed(receipt, transport, entwurf_fs::Chain(&err)),
        },
    }
}

/// `runEntwurfV2`: decide exactly once, then execute. A decider error propagates (no result).
/// Timeouts and vanished peers are handled as in [`decide`](crate::decide) and [`execute_dispatch`].
pub async fn run<S, H>(
    input: &DispatchInput,
    config: &DeciderConfig,
    seams: &S,
    hands: &H,
) -> Result<RunResult, DecideError>
where
    S: DispatchSeams + ?Sized,
    H: TransportHands + ?Sized,
{
    let decision = decide(input, config, seams).await?;
    Ok(execute_dispatch(decision, hands).await)
}

/// The tool surface's rendering of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    /// Human text.
    pub text: String,
    /// Whether the surface flags it as an error.
    pub is_error: bool,
}

/// `renderEntwurfV2Result(result)`.
pub fn render(result: &RunResult) -> Rendered {
    let (text, is_error) = match result {
        RunResult::Rejected {
            receipt,
            diagnostic,
        } => {
            let obs = receipt.observed_liveness().map_or("n/a", |l| l.as_str());
            let mut text = format!(
                "entwurf_v2 rejected: {} (observed liveness: {obs})",
                receipt.reason()
            );
            if let Some(RejectDiagnostic::TargetLocked { conflict }) = diagnostic {
                text.push_str(&format!(
                    "\n  target-locked: {}\n  {}",
                    conflict.lock_path.display(),
                    conflict.detail
                ));
                match &conflict.holder {
                    Some(h) => text.push_str(&format!(
                        "\n  holder: pid {} on {} since {}",
                        h.pid, h.hostname, h.created_at
                    )),
                    None => text.push_str("\n  holder: unknown (empty or corrupt lockfile)"),
                }
            }
            (text, true)
        }
        RunResult::Executed { outcome, .. } => render_executed(outcome),
        RunResult::ExecutionFailed {
            transport,
            error,
            finalized_outcome,
            release_failed,
            ..
        } => match (finalized_outcome, release_failed) {
            (Some(o), Some(true)) => (
                format!("entwurf_v2 {transport} DELIVERED ({o}) but the lock is DIRTY (release failed) — do NOT retry, a re-send would double-deliver. Clear the lock by hand.\n  error: {error}"),
                true,
            ),
            _ => (
                format!("entwurf_v2 {transport} execution failed: {error} (retry-safe: false)"),
                true,
            ),
        },
    };
    Rendered { text, is_error }
}

fn pid_part(pid: &Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

fn render_executed(outcome: &ExecutedOutcome) -> (String, bool) {
    match outcome {
        ExecutedOutcome::ControlSocket {
            outcome,
            reject_reason,
        } => {
            let reason = reject_reason
                .map(|r| format!(" (reason: {r})"))
                .unwrap_or_default();
            (
                format!("entwurf_v2 control-socket → {outcome}{reason}"),
                !matches!(
                    outcome,
                    SendFinalOutcome::Sent | SendFinalOutcome::FallbackSent
                ),
            )
        }
        ExecutedOutcome::SpawnBg { result } => match result {
            SpawnBgResumeResult::SocketAlive { pid, .. } => (
                format!(
                    "entwurf_v2 spawn-bg → socket-alive{}, lock released",
                    pid_part(pid)
                ),
                false,
            ),
            SpawnBgResumeResult::ChildExited { pid, exit_code, .. } => (
                format!(
                    "entwurf_v2 spawn-bg → child-exited{} exitCode={}, lock released",
                    pid_part(pid),
                    exit_code.map_or("null".to_owned(), |c| c.to_string())
                ),
                false,
            ),
            SpawnBgResumeResult::SpawnStartFailed { error, .. } => (
                format!("entwurf_v2 spawn-bg failed to start: {error}"),
                true,
            ),
            SpawnBgResumeResult::LockRetained {
                reason,
                error,
                diagnostic,
                ..
            } => {
                let reason = match reason {
                    crate::hands::RetainReason::KillUnconfirmed => "kill-unconfirmed",
                    crate::hands::RetainReason::ObserveFailed => "observe-failed",
                };
                let mut text = format!(
                    "entwurf_v2 spawn-bg LOCK RETAINED ({reason}) — lock NOT released, operator must clear:\n  target: {}\n  lockPath: {}\n  expectedSocketPath: {}\n  observeTimeoutMs: {}, killGraceMs: {}",
                    diagnostic.target_garden_id,
                    diagnostic.lock_path.display(),
                    diagnostic.expected_socket_path.display(),
                    diagnostic.observe_timeout_ms,
                    diagnostic.kill_grace_ms
                );
                if let Some(e) = error {
                    text.push_str(&format!("\n  error: {e}"));
                }
                (text, true)
            }
        },
        ExecutedOutcome::MetaMailbox {
            state_set_aside: None,
            ..
        } => ("entwurf_v2 meta-mailbox → enqueued".into(), false),
        ExecutedOutcome::MetaMailbox {
            state_set_aside: Some(aside),
            ..
        } => (
            format!(
                "entwurf_v2 meta-mailbox → enqueued (the unparseable receipt state was set aside as {} and rebuilt)",
                aside.display()
            ),
            false,
        ),
        ExecutedOutcome::NativePush { retried, .. } => (
            if *retried {
                "entwurf_v2 native-push → delivered (after a 1-shot re-probe retry)".into()
            } else {
                "entwurf_v2 native-push → delivered".into()
            },
            false,
        ),
    }
}
