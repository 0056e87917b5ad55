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

/// A [`LockRelease`](crate::LockRelease) that counts its calls and always succeeds.
#[derive(Debug, Default)]
pub struct CountingRelease {
    calls: std::sync::atomic::AtomicUsize,
}

impl CountingRelease {
    /// How many releases were asked for.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl crate::LockRelease for CountingRelease {
    async fn release(
        &self,
        _claim: &entwurf_lock::LockClaim,
    ) -> Result<(), crate::watcher::IoFailure> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
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
