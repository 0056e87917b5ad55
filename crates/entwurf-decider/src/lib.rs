//! Dispatch: the v2 contract (receipts, reject reasons, the resolve tables), the decider, the
//! runner with its transport hands, and production wiring.
//!
//! The decider is pure logic over injected IO seams ([`DispatchSeams`]); the runner executes a
//! decision through [`TransportHands`]. [`Production`] implements both over real directories.
//!
//! **Architecture Invariant:** a garden id is validated before any lookup, so no path exists
//! for an invalid target (an error, not a receipt). Proved by
//! `crates/entwurf-decider/tests/decider.rs::invalid_gid_fails_before_any_lookup`.
//!
//! **Architecture Invariant:** the lock is taken before the socket is inspected and released
//! exactly once on every path: by the decider on every reject and every error after the
//! acquire, by the hand after the final outcome; nothing before the acquire holds it. Proved
//! by `crates/entwurf-decider/tests/decider.rs::post_acquire_error_releases_once_and_reraises`,
//! `::errors_before_the_acquire_hold_no_lock`,
//! `crates/entwurf-decider/src/release.rs::reducer_fires_at_most_once` and the matrix, whose
//! `tests/matrix.rs::coverage_every_transport_lock_class_and_reason_is_exercised` runs every
//! row and checks its acquires and releases.
//!
//! **Architecture Invariant:** a delivered send whose release fails is reported as delivered
//! with `releaseFailed` (the lock is dirty) and never retried. Proved by
//! `crates/entwurf-decider/tests/production.rs::a_release_that_fails_after_delivery_is_reported_delivered_do_not_retry`.
//!
//! **Architecture Invariant:** a control-socket send is retried only after a *dead* connect
//! (`ECONNREFUSED`/`ENOENT`), once, under the same lock, to the newly inspected path; never
//! after an indeterminate failure, which may have been delivered. Proved by
//! `crates/entwurf-decider/tests/hands.rs::an_indeterminate_failure_never_re_resolves_nor_enqueues`,
//! `::the_retry_uses_the_newly_inspected_path_and_the_original_mode`,
//! `crates/entwurf-decider/tests/production.rs::a_silent_hang_up_is_failed_not_retried_and_the_lock_is_released`
//! and `::socket_dies_between_probe_and_send_re_resolves_once_then_reports_dormant`.
//!
//! **Architecture Invariant:** a control-socket send rides on the alive probe's connection (one
//! connection per dispatch); a kept connection that no send uses is closed before the lock is
//! released. Proved by
//! `crates/entwurf-decider/tests/production.rs::a_send_rides_on_the_probe_connection_one_connection_per_dispatch`
//! and `::a_probe_connection_no_send_takes_is_closed_before_the_lock_is_released`.
//!
//! **Architecture Invariant:** owned-outcome to a socket-only endpoint is rejected `bad-target`
//! before any lock, inspect, probe or spawn (the older design rule the project implements; see
//! `fixtures/golden/README.md`), and a socket-only endpoint is promoted only from a real
//! socket file, never through a symlink. Proved by
//! `crates/entwurf-decider/tests/golden.rs::socket_only_owned_outcome_follows_the_older_rule`,
//! `crates/entwurf-decider/tests/decider.rs::pre_probe_conflict_is_ignored_for_a_socket_only_endpoint`
//! and `crates/entwurf-decider/tests/production.rs::socket_only_promotion_refuses_a_symlink_and_never_connects_through_it`.
//!
//! **Architecture Invariant:** the mailbox backends (claude-code, codex) never lock: the
//! decider asks their deliverability once and plans a mailbox send or rejects. Proved by
//! `crates/entwurf-decider/tests/decider.rs::unsupported_backends_always_ask_deliverability_once_and_never_lock`
//! and `crates/entwurf-decider/tests/production.rs::e2e_mailbox_without_marker_is_undeliverable_and_writes_nothing`.
//!
//! **Architecture Invariant:** receipts, decisions, results and their texts are the
//! reference's, byte for byte (`fixtures/golden/receipts/`), and the resolve tables follow the
//! pre-probe rule in both directions. Proved by
//! `crates/entwurf-decider/tests/golden.rs::every_receipt_round_trips_byte_identically`,
//! `::every_decision_round_trips_byte_identically`, `::decider_reproduces_golden_decisions`,
//! `::every_result_renders_like_the_reference_surface`,
//! `crates/entwurf-decider/tests/hands.rs::runner_reproduces_golden_results` and
//! `crates/entwurf-decider/src/contract.rs::every_reason_follows_the_pre_probe_rule_in_both_directions`.
//!
//! **Architecture Invariant:** the runner decides once and runs exactly one hand per execute
//! decision; a transport without a production hand (spawn-bg in a build without it,
//! native-push) releases and fails with a typed "transport not available" error, never a fake
//! success. Proved by
//! `crates/entwurf-decider/tests/hands.rs::run_decides_once_and_a_decider_error_yields_no_result`,
//! `::unavailable_spawn_hand_releases_and_fails_honestly` and `::delivered_is_true_only_for_deliveries`.
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

#![deny(missing_docs)]

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
