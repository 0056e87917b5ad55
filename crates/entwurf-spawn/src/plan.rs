//! The spawn-bg execution plan (spec §3.3) and the watcher's result (spec §8), with the
//! reference's exact JSON keysets and key order.
//!
//! These are the only definitions: the decider's `ExecutionPlan::SpawnBg` and its runner's
//! spawn-bg outcome are these types, re-exported, so a plan reaches the watcher and a result
//! comes back without any conversion.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use entwurf_meta_session::GardenId;

use crate::millis::Millis;
use crate::preflight::{Preflight, UntrustedLaunch};

/// `"resume"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ResumeAction {
    /// The only value.
    #[default]
    #[serde(rename = "resume")]
    Resume,
}

/// `"socket-alive-or-child-exited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ReleaseWhen {
    /// The only value.
    #[default]
    #[serde(rename = "socket-alive-or-child-exited")]
    SocketAliveOrChildExited,
}

/// The plan the decider hands to the spawn-bg hand (keys in wire order). Its `transport` key
/// (`"spawn-bg"`) is the tag of the decider's `ExecutionPlan`, written and read there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpawnBgPlan {
    /// Always `resume`.
    pub action: ResumeAction,
    /// The citizen being resumed.
    pub target_garden_id: GardenId,
    /// The pi session id to resume: the garden id (not the native session id).
    pub session_id: GardenId,
    /// The meta-record cwd (the preflight's subject; the resident runs in the session header cwd).
    pub cwd: String,
    /// The message, run as the resumed turn.
    pub prompt: String,
    /// The preflight's launch arguments: `["--approve"]` or `[]`.
    pub launch_args: Vec<String>,
    /// The inspected canonical socket path the resident must stand up.
    pub expected_socket_path: PathBuf,
    /// How long to wait for an observation before SIGTERM.
    pub observe_timeout_ms: Millis,
    /// Always `socket-alive-or-child-exited`.
    pub release_when: ReleaseWhen,
}

impl SpawnBgPlan {
    /// Builds the plan for a resume verdict. Only an approving preflight yields a plan: a deny is
    /// refused here, so nothing can be launched for an untrusted cwd.
    pub fn for_resume(
        garden_id: &GardenId,
        record_cwd: &str,
        message: &str,
        preflight: &Preflight,
        expected_socket_path: PathBuf,
        observe_timeout_ms: Millis,
    ) -> Result<Self, UntrustedLaunch> {
        let launch_args = preflight.approved_launch_args()?.to_vec();
        Ok(Self {
            action: ResumeAction::Resume,
            target_garden_id: garden_id.clone(),
            session_id: garden_id.clone(),
            cwd: record_cwd.to_owned(),
            prompt: message.to_owned(),
            launch_args,
            expected_socket_path,
            observe_timeout_ms,
            release_when: ReleaseWhen::SocketAliveOrChildExited,
        })
    }
}

/// Why a lock was retained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetainReason {
    /// The observe timeout ran out, SIGTERM was sent, and the grace ran out with no observation.
    KillUnconfirmed,
    /// A watcher dependency failed and the child's exit could not be observed.
    ObserveFailed,
}

/// The evidence an operator needs to find and clear a retained lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetainedDiagnostic {
    /// The citizen.
    pub target_garden_id: GardenId,
    /// The child's pid, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The socket path that never became observable.
    pub expected_socket_path: PathBuf,
    /// The lock file left in place.
    pub lock_path: PathBuf,
    /// The observe timeout used.
    pub observe_timeout_ms: Millis,
    /// The kill grace used.
    pub kill_grace_ms: Millis,
}

/// The terminal outcome of a spawn-bg resume (the `outcome.result` of a runner result); every
/// variant is an executed result, `lock-retained` included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SpawnBgResumeResult {
    /// The resident stood its control socket up; the lock was released.
    #[serde(rename_all = "camelCase")]
    SocketAlive {
        /// Always `true`.
        released: bool,
        /// The resident's pid.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    /// The child exited first (any code; `None` = killed by a signal); the lock was released.
    #[serde(rename_all = "camelCase")]
    ChildExited {
        /// Always `true`.
        released: bool,
        /// The exit code, `null` for a signal.
        exit_code: Option<i32>,
        /// The child's pid.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    /// The child never started; the lock was released.
    #[serde(rename_all = "camelCase")]
    SpawnStartFailed {
        /// Always `true`.
        released: bool,
        /// Why it did not start.
        error: String,
    },
    /// Nothing was observed; the lock was NOT released (a child may still be starting).
    #[serde(rename_all = "camelCase")]
    LockRetained {
        /// Always `false`.
        released: bool,
        /// Why.
        reason: RetainReason,
        /// The dependency error, if one caused this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Where the lock is and what was waited for.
        diagnostic: RetainedDiagnostic,
    },
}

impl SpawnBgResumeResult {
    /// Whether the lock was released.
    pub fn released(&self) -> bool {
        match self {
            Self::SocketAlive { released, .. }
            | Self::ChildExited { released, .. }
            | Self::SpawnStartFailed { released, .. }
            | Self::LockRetained { released, .. } => *released,
        }
    }

    /// The child's pid, when one started.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Self::SocketAlive { pid, .. } | Self::ChildExited { pid, .. } => *pid,
            Self::LockRetained { diagnostic, .. } => diagnostic.pid,
            Self::SpawnStartFailed { .. } => None,
        }
    }

    /// Whether a surface should present this as an error (spec §6: lock-retained and
    /// spawn-start-failed are errors; socket-alive and child-exited are not).
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Self::SpawnStartFailed { .. } | Self::LockRetained { .. }
        )
    }
}
