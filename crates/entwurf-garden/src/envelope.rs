//! The Claude Code hook envelope: the JSON object a hook command receives on stdin.
//!
//! Parsing is lenient in the reference's way: a field of the wrong type counts as absent, a
//! missing `hook_event_name` means `SessionStart`. Only a body that is not a JSON object is an
//! error.

use serde_json::{Map, Value};

/// The hook events `entwurf hook claude-code` handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookEvent {
    /// A session opened (or resumed, cleared, compacted): record, markers, watch.
    SessionStart,
    /// The session's working directory changed: record, markers, watch again.
    CwdChanged,
    /// A prompt was submitted: record and sender marker only (this event cannot arm a watch).
    UserPromptSubmit,
    /// A watched file changed: the doorbell.
    FileChanged,
    /// Any other event name (wired by mistake, or a future event): record and sender marker only.
    Other(String),
}

impl HookEvent {
    /// The event from its `hook_event_name`.
    pub fn from_name(name: &str) -> Self {
        match name {
            "SessionStart" => HookEvent::SessionStart,
            "CwdChanged" => HookEvent::CwdChanged,
            "UserPromptSubmit" => HookEvent::UserPromptSubmit,
            "FileChanged" => HookEvent::FileChanged,
            other => HookEvent::Other(other.to_owned()),
        }
    }

    /// The `hook_event_name` text.
    pub fn name(&self) -> &str {
        match self {
            HookEvent::SessionStart => "SessionStart",
            HookEvent::CwdChanged => "CwdChanged",
            HookEvent::UserPromptSubmit => "UserPromptSubmit",
            HookEvent::FileChanged => "FileChanged",
            HookEvent::Other(s) => s,
        }
    }

    /// Whether this event may answer with `watchPaths` (and so arm the receiver marker).
    pub fn arms_watch(&self) -> bool {
        matches!(self, HookEvent::SessionStart | HookEvent::CwdChanged)
    }
}

/// The fields of an envelope the hook uses. Empty strings stand for absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `hook_event_name` (absent → `SessionStart`, as the reference reads it).
    pub event: HookEvent,
    /// `session_id`: Claude Code's native session id, the record's upsert key.
    pub session_id: String,
    /// `transcript_path`.
    pub transcript_path: String,
    /// The session's cwd: `new_cwd` on CwdChanged when given, else `cwd`.
    pub cwd: String,
    /// `model` (a string, or an object with a string `id`), else `model_id`.
    pub model: Option<String>,
    /// `file_path` (FileChanged).
    pub file_path: String,
}

/// The stdin was not a hook envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON at all.
    #[error("the hook input is not JSON ({0}); Claude Code sends one JSON object on stdin")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("the hook input is JSON but not an object (got {0}); Claude Code sends one JSON object on stdin")]
    NotObject(&'static str),
}

fn str_field(obj: &Map<String, Value>, key: &str) -> String {
    obj.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses the envelope bytes.
///
/// ```
/// use entwurf_garden::{parse_envelope, HookEvent};
/// let e = parse_envelope(br#"{"session_id":"s","transcript_path":"/t","cwd":"/w","hook_event_name":"CwdChanged","new_cwd":"/w2"}"#).unwrap();
/// assert_eq!(e.event, HookEvent::CwdChanged);
/// assert_eq!(e.cwd, "/w2");
/// assert!(parse_envelope(b"[1]").is_err());
/// ```
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let obj = match &value {
        Value::Object(m) => m,
        other => return Err(EnvelopeError::NotObject(json_type(other))),
    };
    let event = match obj.get("hook_event_name").and_then(Value::as_str) {
        Some(name) => HookEvent::from_name(name),
        None => HookEvent::SessionStart,
    };
    let mut cwd = str_field(obj, "cwd");
    if event == HookEvent::CwdChanged {
        let new_cwd = str_field(obj, "new_cwd");
        if !new_cwd.is_empty() {
            cwd = new_cwd;
        }
    }
    let model = match obj.get("model") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Object(m)) => m
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        _ => None,
    }
    .or_else(|| {
        obj.get("model_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    });
    Ok(Envelope {
        event,
        session_id: str_field(obj, "session_id"),
        transcript_path: str_field(obj, "transcript_path"),
        cwd,
        model,
        file_path: str_field(obj, "file_path"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_event_is_session_start_and_wrong_types_are_absent() {
        let e = parse_envelope(br#"{"session_id":5,"cwd":null,"model":{"id":"m1"}}"#).unwrap();
        assert_eq!(e.event, HookEvent::SessionStart);
        assert_eq!(e.session_id, "");
        assert_eq!(e.cwd, "");
        assert_eq!(e.model.as_deref(), Some("m1"));
    }

    #[test]
    fn model_string_and_model_id() {
        let e = parse_envelope(br#"{"model":"claude-x"}"#).unwrap();
        assert_eq!(e.model.as_deref(), Some("claude-x"));
        let e = parse_envelope(br#"{"model_id":"claude-y"}"#).unwrap();
        assert_eq!(e.model.as_deref(), Some("claude-y"));
    }

    #[test]
    fn garbage_and_non_objects_are_errors() {
        assert!(matches!(
            parse_envelope(b"not json"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert_eq!(
            parse_envelope(b"\"s\""),
            Err(EnvelopeError::NotObject("a string"))
        );
        assert!(parse_envelope(b"").is_err());
    }

    #[test]
    fn unknown_events_are_kept_by_name() {
        let e = parse_envelope(br#"{"hook_event_name":"Stop"}"#).unwrap();
        assert_eq!(e.event, HookEvent::Other("Stop".into()));
        assert!(!e.event.arms_watch());
        assert_eq!(e.event.name(), "Stop");
    }
}
