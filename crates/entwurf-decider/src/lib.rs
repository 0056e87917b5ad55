//! Dispatch: the v2 contract (receipts, reject reasons, the resolve tables), the decider, the
//! runner with its transport hands, and production wiring.
//!
//! The decider is pure logic over injected IO seams ([`DispatchSeams`]); the runner executes a
//! decision through [`TransportHands`]. [`Production`] implements both over real directories.
//!
//! ```
//! use entwurf_decider::{resolve_dispatch, FactLiveness, Intent, Receipt, Transport};
//! let r = resolve_dispatch(Intent::FireAndForget, FactLiveness::Alive, false).unwrap();
//! let Receipt::Success(s) = r else { unreachable!() };
//! assert_eq!(s.transport(), Transport::ControlSocket);
//! assert_eq!(
//!     serde_json::to_string(&s).unwrap(),
//!     r#"{"ok":true,"action":"send","transport":"control-socket","ownership":"ack-only","observedLiveness":"alive"}"#
//! );
//! ```

mod contract;
mod decider;
#[cfg(feature = "test-support")]
pub mod fakes;
mod hands;
mod production;
mod release;
mod runner;
mod seams;
mod spawn_bg;

pub use contract::*;
pub use decider::{decide, DecideError};
pub use entwurf_control_rpc::SenderEnvelope;
pub use hands::{
    execute_control_socket_send, resolve_dead_control_send_fallback, ConnectClass, ControlSendDeps,
    ControlSendResult, DeadFallback, HandError, LockRelease, MailboxAck, NativePushAck,
    NativePushHand, NativePushUnavailable, RetainReason, RetainedDiagnostic, RpcAck, SendFailure,
    SendFinalOutcome, SpawnBgHand, SpawnBgResumeResult, SpawnBgUnavailable, TransportHands,
};
pub use production::{
    dispatch, LaunchedPiLine, NativePushAdapter, NativePushNotWired, Production, ProductionDirs,
    SenderProvider,
};
pub use release::{
    check_in_domain_lock, decide_release_policy, ReleaseEvent, ReleasePolicy, ReleasePolicyError,
    ReleaseReducer,
};
pub use runner::{execute_dispatch, render, run, ExecutedOutcome, Rendered, RunResult};
pub use seams::{
    parse_observe_timeout_ms, DeciderConfig, Deliverability, DispatchSeams, IoFailure,
    NativePushProbe, Preflight, PreflightKind, TargetResolution,
};
pub use spawn_bg::{parse_prefix_roots, EntwurfSpawnHand, LaunchConfig, StderrSink};
