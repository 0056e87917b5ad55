//! Owned-outcome to a dormant pi citizen: the trust preflight, the launch identity read from the
//! saved pi session, and the spawn-bg watcher that starts a detached `pi --entwurf-control`
//! resident and releases the per-target lock exactly once on the first observation.
//!
//! - [`preflight`]: may a resident be launched in this cwd, and with which arguments?
//! - [`identity`]: model, provider and header cwd of the saved session.
//! - [`launch`]: the `pi` argv and environment, as data.
//! - [`plan`]: the spawn-bg plan and the watcher result, with the reference's JSON shapes.
//! - [`watcher`]: [`resume`] over the [`SpawnIo`] seam, releasing under the
//!   `release-after-spawn-observation` policy.
//! - [`production`]: the real IO (the one the decider's spawn-bg hand runs).
//! - [`pi_line`]: the pi lines (0.80, 1.x) and what differs between them; the launched pi's version.
//! - [`millis`]: `ENTWURF_V2_OBSERVE_TIMEOUT_MS` parsing (JS `Number()`), millisecond values.
//!
//! **Architecture Invariant:** a spawn-bg resume releases its lock on the first observation
//! (socket alive, child exited, start failed), exactly once, and never on a timeout: after the
//! observe timeout it sends SIGTERM, waits the grace, and if nothing was observed reports
//! `lock-retained` with the evidence. Proved by
//! `crates/entwurf-spawn/tests/watcher.rs::socket_first_releases_once_and_matches_golden`,
//! `::exit_first_releases_once_and_matches_golden`,
//! `::spawn_failure_releases_once_and_matches_golden`,
//! `::timeout_then_exit_during_grace_releases_child_exited`,
//! `::timeout_then_nothing_retains_the_lock_with_golden_diagnostic` and
//! `::exit_after_the_grace_is_too_late_and_the_lock_stays`.
//!
//! **Architecture Invariant:** nothing is launched without a trusted cwd and a lock that
//! matches the plan: a trust-preflight deny never becomes a plan, and a missing or mis-paired
//! lock or an invalid session id is refused before any spawn. Proved by
//! `crates/entwurf-spawn/tests/preflight.rs::a_deny_never_becomes_a_spawn_plan`,
//! `crates/entwurf-spawn/tests/watcher.rs::a_missing_lock_is_refused_before_any_spawn`,
//! `::a_mis_paired_lock_is_refused_before_any_spawn`,
//! `::an_invalid_session_id_never_becomes_a_plan` and
//! `crates/entwurf-decider/tests/spawn_bg.rs::a_trust_deny_is_refused_before_anything_is_launched`.
//!
//! **Architecture Invariant:** a forged control-socket address fails closed: the child is sent
//! SIGTERM at once and the lock is retained (`observe-failed`), never released on a guess.
//! Proved by
//! `crates/entwurf-spawn/tests/watcher.rs::forged_socket_path_fails_closed_at_once`.
//!
//! **Architecture Invariant:** what differs between the pi lines lives in [`pi_line`] alone,
//! and the preflight applies the line of the pi that would be launched (its version read once;
//! unreadable means the strictest line). Proved by
//! `crates/entwurf-spawn/tests/preflight.rs::trust_store_reading_follows_the_line`,
//! `crates/entwurf-spawn/src/pi_line.rs::the_newest_line_gates_everything_the_older_one_does`
//! and `crates/entwurf-decider/tests/production.rs::the_preflight_judges_mcp_json_by_the_launched_pis_line`.
//!
//! **Architecture Invariant:** plans and results keep the reference's JSON shapes, byte for
//! byte. Proved by `crates/entwurf-spawn/tests/watcher.rs::golden_plans_round_trip_byte_exact`
//! and `::golden_results_parse_back`.
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//! use entwurf_spawn::{preflight_for_cwd, PreflightConfig, SpawnBgPlan, millis};
//!
//! let config = PreflightConfig {
//!     agent_dir: PathBuf::from("/home/u/.pi/agent"),
//!     prefix_roots: entwurf_spawn::preflight::parse_prefix_roots(Some("/home/u/repos")),
//!     home_dir: Some(PathBuf::from("/home/u")),
//!     pi_line: entwurf_spawn::PiLine::V1,
//! };
//! let preflight = preflight_for_cwd(Path::new("/home/u/repos/app"), &config)?;
//! // A deny never becomes a plan, so nothing can be launched for it.
//! let gid = entwurf_meta_session::GardenId::parse("20260612T100000-aaaaaa")?;
//! let plan = SpawnBgPlan::for_resume(
//!     &gid,
//!     "/home/u/repos/app",
//!     "continue",
//!     &preflight,
//!     PathBuf::from("/home/u/.pi/entwurf-control/20260612T100000-aaaaaa.sock"),
//!     millis::parse_observe_timeout_ms(None),
//! )?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod identity;
pub mod launch;
pub mod millis;
pub mod pi_line;
pub mod plan;
pub mod preflight;
pub mod production;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod watcher;

pub use identity::{resolve_launch_identity, IdentityError, LaunchIdentity};
pub use millis::Millis;
pub use pi_line::PiLine;
pub use plan::{
    ReleaseWhen, ResumeAction, RetainReason, RetainedDiagnostic, SpawnBgPlan, SpawnBgResumeResult,
};
pub use preflight::{
    preflight_for_cwd, Preflight, PreflightConfig, PreflightError, PreflightKind, PreflightReason,
    UntrustedLaunch,
};
pub use production::{LaunchConfig, LockRelease, ProductionSpawnIo, StderrSink};
pub use watcher::{resume, ResumeError, ResumeRequest, SpawnIo, SpawnedChild};
