//! The launch identity of a dormant pi citizen, read from its saved pi session (spec §8).
//!
//! Facts from pi 0.80.10 (`core/session-manager.js`):
//! - sessions live in `<agentDir>/sessions/--<cwd with the leading / dropped and / \ : as ->--/`,
//!   one JSONL file per session named `<ISO timestamp with : and . as ->_<session id>.jsonl`;
//! - the first line is the header `{"type":"session","version":3,"id":<id>,"timestamp":<ISO>,
//!   "cwd":<absolute cwd>}` (plus `parentSession` for a fork);
//! - the model is recorded as `{"type":"model_change","id":<8 hex>,"parentId":…,"timestamp":…,
//!   "provider":<p>,"modelId":<m>}`;
//! - pi writes the file only once the session holds an assistant message.
//!
//! The lookup is by header id, never by file name: every `*.jsonl` one level under the sessions
//! dir whose first line is a `session` header with that id. More than one match is an error (the
//! same id under two cwds), as is a later `model_change` that differs from the first (the first
//! one is the identity; a drift means the file is not what the citizen was).

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The sessions folder inside the pi agent dir.
pub const SESSIONS_DIR: &str = "sessions";

/// Only this many bytes of a file are read to find its header line (pi-shell-acp does the same).
const HEADER_READ_BYTES: u64 = 8192;

/// The provider name the entwurf ACP bridge registers; resuming it needs that bridge loaded.
pub const ENTWURF_BRIDGE_PROVIDER: &str = "entwurf";

/// What a resume needs from the saved session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchIdentity {
    /// The session file the identity came from.
    pub session_file: PathBuf,
    /// The header cwd: the resident's working directory (never the caller's cwd).
    pub cwd: PathBuf,
    /// The first `model_change` provider (`None` is never produced from a file, but a caller
    /// may build an identity without one; then no `--provider` is passed).
    pub provider: Option<String>,
    /// The first `model_change` model id.
    pub model: String,
}

/// Why a launch identity could not be read (each one is a refusal to resume, never a guess).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No saved session carries this id.
    #[error("no saved pi session for {garden_id} under {sessions_dir}: the citizen was never saved by pi, cannot resume it")]
    NoSavedSession {
        /// The garden id looked up.
        garden_id: String,
        /// `<agentDir>/sessions`.
        sessions_dir: PathBuf,
    },
    /// Several saved sessions carry this id.
    #[error("saved pi session id {garden_id} is ambiguous: {} files carry it ({}); remove the stale copies, refusing to guess", .files.len(), join_paths(.files))]
    AmbiguousSession {
        /// The garden id looked up.
        garden_id: String,
        /// Every matching file.
        files: Vec<PathBuf>,
    },
    /// The sessions dir exists but cannot be listed.
    #[error("cannot list saved pi sessions in {path}; check its permissions")]
    ListSessions {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The matching session file cannot be read.
    #[error("cannot read saved pi session {path}; check its permissions")]
    ReadSession {
        /// The session file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The session never recorded a model.
    #[error("saved pi session {path} ({garden_id}) has no recorded model (no model_change entry); cannot resume without one")]
    NoRecordedModel {
        /// The garden id.
        garden_id: String,
        /// The session file.
        path: PathBuf,
    },
    /// The session changed model after its first `model_change`.
    #[error("saved pi session {path} drifted from {first_provider}/{first_model} to {later_provider}/{later_model}; the resume identity is the first model_change, refusing to resume a drifted session")]
    ModelDrift {
        /// The session file.
        path: PathBuf,
        /// First provider.
        first_provider: String,
        /// First model.
        first_model: String,
        /// The differing later provider.
        later_provider: String,
        /// The differing later model.
        later_model: String,
    },
    /// The session header has no cwd.
    #[error("saved pi session {path} ({garden_id}) has no cwd in its header; refusing to resume in a guessed directory")]
    NoHeaderCwd {
        /// The garden id.
        garden_id: String,
        /// The session file.
        path: PathBuf,
    },
    /// The session was made through the entwurf ACP bridge, which this launcher cannot load.
    #[error("saved pi session {path} ({garden_id}) recorded provider={ENTWURF_BRIDGE_PROVIDER}, but the entwurf bridge extension is not resolvable here; refusing to resume with an unknown provider")]
    BridgeUnresolved {
        /// The garden id.
        garden_id: String,
        /// The session file.
        path: PathBuf,
    },
}

fn join_paths(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `<agent_dir>/sessions`.
pub fn sessions_dir(agent_dir: &Path) -> PathBuf {
    agent_dir.join(SESSIONS_DIR)
}

/// pi's per-cwd session folder name: `--<cwd without its leading separator, / \ : → ->--`.
///
/// ```
/// use entwurf_spawn::identity::session_folder_name;
/// assert_eq!(session_folder_name("/home/u/proj"), "--home-u-proj--");
/// ```
pub fn session_folder_name(absolute_cwd: &str) -> String {
    let trimmed = absolute_cwd
        .strip_prefix(['/', '\\'])
        .unwrap_or(absolute_cwd);
    let safe: String = trimmed
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | ':') {
                '-'
            } else {
                c
            }
        })
        .collect();
    format!("--{safe}--")
}

/// pi's session file name for a header timestamp (`2026-11-25T15:01:31.194Z`) and id.
pub fn session_file_name(header_timestamp: &str, session_id: &str) -> String {
    let stamp: String = header_timestamp
        .chars()
        .map(|c| if matches!(c, ':' | '.') { '-' } else { c })
        .collect();
    format!("{stamp}_{session_id}.jsonl")
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<serde_json::Value>,
    cwd: Option<serde_json::Value>,
    provider: Option<serde_json::Value>,
    #[serde(rename = "modelId")]
    model_id: Option<serde_json::Value>,
}

fn non_empty(v: Option<serde_json::Value>) -> Option<String> {
    match v {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// The header id of a session file (first line, bounded read), or `None` if it has none.
fn header_id(path: &Path) -> Option<String> {
    let file = fs::File::open(path).ok()?;
    let mut prefix = Vec::new();
    file.take(HEADER_READ_BYTES).read_to_end(&mut prefix).ok()?;
    let text = String::from_utf8_lossy(&prefix);
    let line = text.split('\n').next()?.trim();
    let entry: Entry = serde_json::from_str(line).ok()?;
    (entry.kind.as_deref() == Some("session"))
        .then(|| non_empty(entry.id))
        .flatten()
}

/// Every saved session file under `<agent_dir>/sessions/*/` whose header id is `garden_id`.
/// A missing sessions dir is "none"; unreadable sub-dirs and files are skipped.
pub fn find_session_files(
    agent_dir: &Path,
    garden_id: &str,
) -> Result<Vec<PathBuf>, IdentityError> {
    let base = sessions_dir(agent_dir);
    let dirs = match fs::read_dir(&base) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(IdentityError::ListSessions { path: base, source }),
    };
    let mut matches = Vec::new();
    for dir in dirs.flatten() {
        let Ok(files) = fs::read_dir(dir.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "jsonl")
                && header_id(&path).as_deref() == Some(garden_id)
            {
                matches.push(path);
            }
        }
    }
    matches.sort();
    Ok(matches)
}

/// The single saved session file for `garden_id`.
pub fn find_session_file(agent_dir: &Path, garden_id: &str) -> Result<PathBuf, IdentityError> {
    let mut files = find_session_files(agent_dir, garden_id)?;
    match files.len() {
        0 => Err(IdentityError::NoSavedSession {
            garden_id: garden_id.to_owned(),
            sessions_dir: sessions_dir(agent_dir),
        }),
        1 => Ok(files.remove(0)),
        _ => Err(IdentityError::AmbiguousSession {
            garden_id: garden_id.to_owned(),
            files,
        }),
    }
}

/// Reads the launch identity from one session file: header cwd and the first `model_change`.
/// Malformed lines are skipped (pi does the same); a missing model or cwd, a model drift or a
/// bridge-only provider is an error.
pub fn read_launch_identity(path: &Path, garden_id: &str) -> Result<LaunchIdentity, IdentityError> {
    let read_err = |source| IdentityError::ReadSession {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(read_err)?;
    let mut header_cwd = None;
    let mut first: Option<(String, String)> = None;
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(read_err)?;
        let Ok(entry) = serde_json::from_slice::<Entry>(line.trim_ascii()) else {
            continue;
        };
        match entry.kind.as_deref() {
            Some("session") => {
                if let Some(cwd) = non_empty(entry.cwd) {
                    header_cwd = Some(cwd);
                }
            }
            Some("model_change") => {
                let (Some(provider), Some(model)) =
                    (non_empty(entry.provider), non_empty(entry.model_id))
                else {
                    continue;
                };
                match &first {
                    None => first = Some((provider, model)),
                    Some((fp, fm)) if *fp != provider || *fm != model => {
                        return Err(IdentityError::ModelDrift {
                            path: path.to_path_buf(),
                            first_provider: fp.clone(),
                            first_model: fm.clone(),
                            later_provider: provider,
                            later_model: model,
                        })
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    let Some((provider, model)) = first else {
        return Err(IdentityError::NoRecordedModel {
            garden_id: garden_id.to_owned(),
            path: path.to_path_buf(),
        });
    };
    if provider == ENTWURF_BRIDGE_PROVIDER {
        return Err(IdentityError::BridgeUnresolved {
            garden_id: garden_id.to_owned(),
            path: path.to_path_buf(),
        });
    }
    let Some(cwd) = header_cwd else {
        return Err(IdentityError::NoHeaderCwd {
            garden_id: garden_id.to_owned(),
            path: path.to_path_buf(),
        });
    };
    Ok(LaunchIdentity {
        session_file: path.to_path_buf(),
        cwd: PathBuf::from(cwd),
        provider: Some(provider),
        model,
    })
}

/// Finds the saved session for `garden_id` under `agent_dir` and reads its launch identity.
pub fn resolve_launch_identity(
    agent_dir: &Path,
    garden_id: &str,
) -> Result<LaunchIdentity, IdentityError> {
    let file = find_session_file(agent_dir, garden_id)?;
    read_launch_identity(&file, garden_id)
}
