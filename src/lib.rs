//! Test-harness helpers for the deterministic matrix (`tests/matrix.rs`) and the live gate
//! (`tests/matrix_live.rs`).
//!
//! Owns the live gate's seams: a per-cell [`World`] (an `assert_fs::TempDir` holding every
//! store dir and the residents' `HOME`, its store paths `ChildPath`s), pi discovery
//! ([`discover_pi`]), target selection ([`select_target`]), a real pi [`Resident`] with staged
//! timeouts and a reaper that also runs on panic, and named invariant checks: [`check`] for a
//! condition, [`check_path`] for an on-disk invariant stated as a `predicates` predicate
//! (`predicate::path::missing()`, file contents, or one of [`on_disk`]'s).
//!
//! ```no_run
//! use entwurf_harness::{check_path, discover_pi_from_env, select_target, CellError, World};
//! use predicates::prelude::*;
//! fn cell() -> Result<(), CellError> {
//!     let world = World::new("example")?;
//!     let pi = discover_pi_from_env()?;
//!     let target = select_target(|k| std::env::var(k).ok())?;
//!     let gid = world.mint_gid("target");
//!     check_path("fresh-gid-has-no-socket", world.socket_path(&gid), predicate::path::missing())?;
//!     let resident = world.start_resident(&pi, &target, &gid)?;
//!     resident.wait_for_socket()?;
//!     world.pass(); // reaps the resident, removes the world
//!     Ok(())
//! }
//! ```

mod check;
mod discovery;
mod live;
pub mod on_disk;
pub mod procs;
mod resident;
mod target;
mod view;
mod wait;
mod world;

pub use check::{check, check_eq, check_path, CellError};
pub use discovery::{
    default_extension, default_pi_bin, discover_pi, discover_pi_from_env, workspace_root,
    DiscoveryError, PiLocation, ENV_PI_BIN, ENV_PI_EXTENSION, ENV_PI_LINE,
};
pub use entwurf_spawn::PiLine;
pub use live::{
    arm_receiver, discover_entwurf_bin_from_env, dispatch, make_claude_code_record, make_pi_record,
    production, record_exists, spawn_witness, ENV_ENTWURF_BIN,
};
pub use resident::{
    control_socket_path, socket_accepts, tail_lines, HarnessError, Reaped, Resident, ResidentDirs,
};
pub use target::{
    parse_target, select_target, LiveTarget, TargetError, DEFAULT_MODEL, DEFAULT_PROVIDER,
    ENV_MODEL, ENV_PROVIDER, ENV_TARGET,
};
pub use view::DispatchView;
pub use wait::{poll_until, Timeouts};
pub use world::World;
