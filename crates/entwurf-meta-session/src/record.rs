//! The meta record (`<sessionsDir>/<gid>.meta.json`), schema v2.

use serde::{Deserialize, Serialize};

use crate::{Backend, GardenId};

/// A v2 meta record. Field order is the serialisation order and must not change: the file is
/// byte-compatible with the reference (`serde_json::to_string_pretty` + `"\n"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetaRecord {
    /// Always 2 when written.
    pub schema_version: u32,
    /// The citizen's garden id; equals the file stem.
    pub garden_id: GardenId,
    /// The citizen's backend.
    pub backend: Backend,
    /// The backend's own session id (the upsert key).
    pub native_session_id: String,
    /// Working directory, non-empty.
    pub cwd: String,
    /// Model, `null` or non-empty.
    pub model: Option<String>,
    /// Transcript path, `null` or non-empty.
    pub transcript_path: Option<String>,
    /// Parent garden id, `null` or a valid gid.
    pub parent_garden_id: Option<GardenId>,
    /// Whether the citizen was spawned by entwurf.
    pub is_entwurf: bool,
    /// ISO-8601 UTC creation time.
    pub created_at: String,
    /// ISO-8601 UTC time of the last write (not a liveness signal).
    pub record_updated_at: String,
}
