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
