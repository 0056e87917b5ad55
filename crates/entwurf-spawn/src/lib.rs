//! Owned-outcome to a dormant pi citizen: the trust preflight, the launch identity read from the
//! saved pi session, and the spawn-bg watcher that starts a detached `pi --entwurf-control`
//! resident and releases the per-target lock exactly once on the first observation.
//!
//! - [`preflight`]: may a resident be launched in this cwd, and with which arguments (§3.4)?
//! - [`identity`]: model, provider and header cwd of the saved session (§8).
//! - [`launch`]: the `pi` argv and environment, as data.
//! - [`plan`]: the spawn-bg plan and the watcher result, with the reference's JSON shapes.
//! - [`watcher`]: [`resume`] over the [`SpawnIo`] seam (§8, release policy §5.1).
//! - [`production`]: the real IO (the one the decider's spawn-bg hand runs).
//! - [`pi_line`]: the pi lines (0.80, 1.x) and what differs between them; the launched pi's version.
//! - [`millis`]: `ENTWURF_V2_OBSERVE_TIMEOUT_MS` parsing (JS `Number()`), millisecond values.
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
