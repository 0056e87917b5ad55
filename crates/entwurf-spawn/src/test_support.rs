//! Fixtures for tests of spawn-bg, here and in the crates that drive it (the decider).

use std::io;
use std::path::{Path, PathBuf};

use crate::identity::{session_file_name, session_folder_name, sessions_dir};

/// Writes the smallest saved pi session that resume accepts, in pi's own layout: a `session`
/// header (version 3, `session_id`, `cwd`) and one `model_change` (provider `p`, model `m`),
/// at `<agent>/sessions/<cwd folder>/<stamp>_<id>.jsonl`. Returns the file's path.
pub fn write_minimal_saved_session(
    agent_dir: &Path,
    cwd: &str,
    session_id: &str,
) -> io::Result<PathBuf> {
    let stamp = "2026-06-12T10:00:00.000Z";
    let folder = sessions_dir(agent_dir).join(session_folder_name(cwd));
    std::fs::create_dir_all(&folder)?;
    let file = folder.join(session_file_name(stamp, session_id));
    let header = serde_json::json!({
        "type": "session", "version": 3, "id": session_id, "timestamp": stamp, "cwd": cwd,
    });
    let model = serde_json::json!({
        "type": "model_change", "id": "a1b2c3d4", "parentId": null,
        "timestamp": "2026-06-12T10:00:00.001Z", "provider": "p", "modelId": "m",
    });
    std::fs::write(&file, format!("{header}\n{model}\n"))?;
    Ok(file)
}

/// A [`LockRelease`](crate::LockRelease) that counts its calls and succeeds, or fails with a
/// fixed text ([`CountingRelease::failing`]).
#[derive(Debug, Default)]
pub struct CountingRelease {
    calls: std::sync::atomic::AtomicUsize,
    fail_with: Option<String>,
}

impl CountingRelease {
    /// A release whose every call fails with `error`.
    pub fn failing(error: impl Into<String>) -> Self {
        Self {
            fail_with: Some(error.into()),
            ..Self::default()
        }
    }

    /// How many releases were asked for.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl crate::LockRelease for CountingRelease {
    async fn release(&self, _claim: &entwurf_lock::LockClaim) -> io::Result<()> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.fail_with
            .as_ref()
            .map_or(Ok(()), |e| Err(io::Error::other(e.clone())))
    }
}

/// A resume world in its own temp dir (removed on drop): `<root>/agent` (holding a minimal saved
/// session for the garden id when asked), the record cwd `<root>/cwd`, the expected socket
/// `<root>/<gid>.sock`, and stand-in `pi` scripts.
#[derive(Debug)]
pub struct StandInWorld {
    _tmp: tempfile::TempDir,
    /// The world's root (canonical, so socket paths compare equal).
    pub root: PathBuf,
    /// The pi agent dir.
    pub agent: PathBuf,
    /// The record's cwd (and the saved session's).
    pub cwd: PathBuf,
    /// Where the resident is expected to stand its socket up.
    pub socket: PathBuf,
}

impl StandInWorld {
    /// Lays a world out in a fresh temp dir; `with_session` writes the saved session for `gid`.
    pub fn new(gid: &str, with_session: bool) -> io::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let root = std::fs::canonicalize(tmp.path())?;
        let agent = root.join("agent");
        let cwd = root.join("cwd");
        std::fs::create_dir_all(&cwd)?;
        if with_session {
            write_minimal_saved_session(&agent, &cwd.to_string_lossy(), gid)?;
        }
        let socket = root.join(format!("{gid}.sock"));
        Ok(Self {
            _tmp: tmp,
            root,
            agent,
            cwd,
            socket,
        })
    }

    /// A stand-in `pi` at `<root>/fake-pi`: a shell script running `body`.
    pub fn stand_in_pi(&self, body: &str) -> io::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.root.join("fake-pi");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(path)
    }

    /// The launch of `program` in this world, the resident's stderr to
    /// `<root>/logs/resident.stderr`.
    pub fn launch(&self, program: PathBuf) -> crate::LaunchConfig {
        let mut config = crate::LaunchConfig::new(self.agent.clone());
        config.pi_program = program;
        config.stderr = crate::StderrSink::File(self.root.join("logs/resident.stderr"));
        config
    }
}

/// Reads a spawn-bg plan as a decision carries it (`{"transport":"spawn-bg", …}`, the tag of the
/// decider's `ExecutionPlan`): checks and drops the tag, then parses the rest.
pub fn plan_from_tagged(mut value: serde_json::Value) -> Result<crate::SpawnBgPlan, String> {
    let tag = value
        .as_object_mut()
        .and_then(|o| o.remove("transport"))
        .ok_or("the plan has no transport tag")?;
    if tag != "spawn-bg" {
        return Err(format!("not a spawn-bg plan: transport {tag}"));
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}
