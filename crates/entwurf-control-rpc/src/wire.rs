//! Wire types and the pure protocol logic: request lines the client writes, response lines the
//! server writes, the server-side line parser, `send` validation and the `<sender_info>` block.
//!
//! Everything here is IO-free so it can be tested with plain values.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `type` every response line carries.
pub const RESPONSE_TYPE: &str = "response";
/// The `command` of a response to a line that could not be parsed.
pub const PARSE_COMMAND: &str = "parse";
/// The fixed order in which missing sender fields are listed.
pub const SENDER_REQUIRED_FIELDS: [&str; 4] = ["sessionId", "agentId", "cwd", "timestamp"];

/// How a `send` should be queued when the receiver is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendMode {
    /// Inject after the current assistant turn (the server's default).
    Steer,
    /// Run once the steering queue is empty (the v2 dispatcher's default).
    #[default]
    FollowUp,
}

impl SendMode {
    /// The wire spelling (`steer` / `follow_up`).
    pub fn as_str(self) -> &'static str {
        match self {
            SendMode::Steer => "steer",
            SendMode::FollowUp => "follow_up",
        }
    }

    /// Server-side reading of the `mode` field: `"follow_up"` is follow-up, anything else
    /// (missing, unknown, not a string) counts as steer.
    pub fn from_wire(value: Option<&Value>) -> Self {
        match value.and_then(Value::as_str) {
            Some("follow_up") => SendMode::FollowUp,
            _ => SendMode::Steer,
        }
    }
}

/// Who sent a message (display only; it never affects routing): `entwurf-meta-session`'s type,
/// the same one a mailbox body renders. Serialized with keys
/// `sessionId, agentId, cwd, timestamp[, origin][, replyable]`.
pub use entwurf_meta_session::SenderEnvelope;

/// A `send` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// The message text (must not be blank; never trimmed).
    pub message: String,
    pub mode: SendMode,
    /// Courtesy hint only: nothing waits for a reply.
    pub wants_reply: bool,
    pub sender: Option<SenderEnvelope>,
}

impl SendRequest {
    /// A send with the v2 defaults: mode `follow_up`, `wants_reply:false`, no sender.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            mode: SendMode::FollowUp,
            wants_reply: false,
            sender: None,
        }
    }

    /// The content a receiver injects: the message, plus the `<sender_info>` block when a sender
    /// is present (§3.5).
    pub fn content(&self) -> String {
        match &self.sender {
            None => self.message.clone(),
            Some(sender) => format!(
                "{}\n\n{}",
                self.message,
                sender_info_block(sender, self.wants_reply)
            ),
        }
    }
}

/// `<sender_info>{…}</sender_info>`: compact JSON with keys `sessionId, agentId, cwd, timestamp`,
/// then `origin` if non-empty, `replyable` if set, and `"wants_reply":true` only when asked.
pub fn sender_info_block(sender: &SenderEnvelope, wants_reply: bool) -> String {
    let mut map = Map::new();
    map.insert("sessionId".into(), Value::from(sender.session_id.as_str()));
    map.insert("agentId".into(), Value::from(sender.agent_id.as_str()));
    map.insert("cwd".into(), Value::from(sender.cwd.as_str()));
    map.insert("timestamp".into(), Value::from(sender.timestamp.as_str()));
    if let Some(origin) = sender.origin.as_deref().filter(|o| !o.is_empty()) {
        map.insert("origin".into(), Value::from(origin));
    }
    if let Some(replyable) = sender.replyable {
        map.insert("replyable".into(), Value::Bool(replyable));
    }
    if wants_reply {
        map.insert("wants_reply".into(), Value::Bool(true));
    }
    format!("<sender_info>{}</sender_info>", Value::Object(map))
}

/// A command a client sends. The client never sends an `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Send(SendRequest),
    GetInfo,
    GetMessage,
    Abort,
    /// `summarize: None` leaves the key out.
    Clear {
        summarize: Option<bool>,
    },
    /// Any other `type` (for tests and forward compatibility); sent as `{"type":<t>}`.
    Unknown(String),
}

impl Request {
    /// The `type` on the wire, which is also the `command` a matching response carries.
    pub fn command(&self) -> &str {
        match self {
            Request::Send(_) => "send",
            Request::GetInfo => "get_info",
            Request::GetMessage => "get_message",
            Request::Abort => "abort",
            Request::Clear { .. } => "clear",
            Request::Unknown(t) => t,
        }
    }

    /// The request as a JSON object, keys in wire order
    /// (`type, message, mode, wants_reply, sender` for a send).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("type".into(), Value::from(self.command()));
        match self {
            Request::Send(send) => {
                map.insert("message".into(), Value::from(send.message.as_str()));
                map.insert("mode".into(), Value::from(send.mode.as_str()));
                map.insert("wants_reply".into(), Value::Bool(send.wants_reply));
                if let Some(sender) = &send.sender {
                    // A SenderEnvelope always serializes (only strings, bools and options).
                    map.insert(
                        "sender".into(),
                        serde_json::to_value(sender).unwrap_or(Value::Null),
                    );
                }
            }
            Request::Clear {
                summarize: Some(summarize),
            } => {
                map.insert("summarize".into(), Value::Bool(*summarize));
            }
            _ => {}
        }
        Value::Object(map)
    }

    /// The exact bytes written: compact JSON (raw UTF-8) and one `\n`; the same text as
    /// [`Request::to_value`] renders, without building the map first.
    pub fn to_line(&self) -> String {
        /// A send in wire order (`sender` left out when there is none).
        #[derive(Serialize)]
        struct SendLine<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            message: &'a str,
            mode: &'a str,
            wants_reply: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            sender: Option<&'a SenderEnvelope>,
        }
        let typed = match self {
            Request::Send(send) => serde_json::to_string(&SendLine {
                kind: self.command(),
                message: &send.message,
                mode: send.mode.as_str(),
                wants_reply: send.wants_reply,
                sender: send.sender.as_ref(),
            })
            .ok(),
            _ => None,
        };
        let mut line = typed.unwrap_or_else(|| self.to_value().to_string());
        line.push('\n');
        line
    }
}

/// One response line. Keys serialize in the order `type, command, success, data, error, id`;
/// absent fields are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always `"response"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub command: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Response {
    /// A success, with optional data.
    pub fn ok(command: &str, data: Option<Value>, id: Option<String>) -> Self {
        Self {
            kind: RESPONSE_TYPE.into(),
            command: command.into(),
            success: true,
            data,
            error: None,
            id,
        }
    }

    /// A failure with its error text.
    pub fn fail(command: &str, error: impl Into<String>, id: Option<String>) -> Self {
        Self {
            kind: RESPONSE_TYPE.into(),
            command: command.into(),
            success: false,
            data: None,
            error: Some(error.into()),
            id,
        }
    }

    /// The exact bytes a server writes: compact JSON and one `\n`.
    pub fn to_line(&self) -> String {
        // Serializing strings, bools and a Value cannot fail.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// Client-side matching rule: a JSON object with `type == "response"` and
    /// `command == expected`. Anything else (garbage, other commands) gives `None`.
    pub fn match_line(line: &str, expected_command: &str) -> Option<Response> {
        let line = line.trim();
        if let Some(fast) = Self::match_typed(line, expected_command) {
            return fast;
        }
        Self::match_general(line, expected_command)
    }

    /// The rule over a parsed JSON value (any line; the typed path must agree with it).
    fn match_general(line: &str, expected_command: &str) -> Option<Response> {
        let value: Value = serde_json::from_str(line).ok()?;
        let obj = value.as_object()?;
        if obj.get("type").and_then(Value::as_str) != Some(RESPONSE_TYPE)
            || obj.get("command").and_then(Value::as_str) != Some(expected_command)
        {
            return None;
        }
        Some(Response {
            kind: RESPONSE_TYPE.into(),
            command: expected_command.into(),
            success: obj.get("success").is_some_and(is_truthy),
            data: obj.get("data").cloned(),
            error: obj.get("error").and_then(Value::as_str).map(str::to_owned),
            id: obj.get("id").and_then(Value::as_str).map(str::to_owned),
        })
    }

    /// [`Response::match_line`] for a well-formed object, read straight into typed fields:
    /// `Some(verdict)` when it applies. `None` (use the general path) for anything else: a
    /// non-object, a duplicate key, `type`/`command`/`error`/`id` that are not strings or null.
    fn match_typed(line: &str, expected_command: &str) -> Option<Option<Response>> {
        #[derive(Deserialize)]
        struct Line<'a> {
            #[serde(rename = "type", borrow, default)]
            kind: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow, default)]
            command: Option<std::borrow::Cow<'a, str>>,
            #[serde(default)]
            success: Option<Value>,
            #[serde(default, deserialize_with = "present")]
            data: Option<Value>,
            #[serde(default)]
            error: Option<String>,
            #[serde(default)]
            id: Option<String>,
        }
        // A derived struct also accepts a JSON array (by position); only objects qualify.
        if !line.starts_with('{') {
            return None;
        }
        let l: Line<'_> = serde_json::from_str(line).ok()?;
        if l.kind.as_deref() != Some(RESPONSE_TYPE)
            || l.command.as_deref() != Some(expected_command)
        {
            return Some(None);
        }
        Some(Some(Response {
            kind: RESPONSE_TYPE.into(),
            command: expected_command.into(),
            success: l.success.as_ref().is_some_and(is_truthy),
            data: l.data,
            error: l.error,
            id: l.id,
        }))
    }
}

/// A present key is `Some`, even when its value is `null` (a plain `Option` would read `null` as
/// absent, and [`Response::match_line`] keeps `"data":null`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// How a `send` was queued by the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeliveredAs {
    /// The receiver was idle; a turn started at once.
    #[serde(rename = "direct")]
    Direct,
    #[serde(rename = "steer")]
    Steer,
    #[serde(rename = "followUp")]
    FollowUp,
}

impl DeliveredAs {
    /// The reference rule: idle → direct; busy → follow-up for `follow_up`, otherwise steer.
    pub fn choose(idle: bool, mode: SendMode) -> Self {
        match (idle, mode) {
            (true, _) => DeliveredAs::Direct,
            (false, SendMode::FollowUp) => DeliveredAs::FollowUp,
            (false, SendMode::Steer) => DeliveredAs::Steer,
        }
    }
}

/// `data` of a successful `send`: `{"delivered":true,"deliveredAs":…,"wants_reply":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendData {
    pub delivered: bool,
    #[serde(rename = "deliveredAs")]
    pub delivered_as: DeliveredAs,
    pub wants_reply: bool,
}

/// `model` inside `get_info` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    pub id: String,
    pub provider: String,
}

/// `data` of a successful `get_info` as a server writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoData {
    #[serde(rename = "sessionId")]
    pub session_id: String,
    pub cwd: String,
    /// `null` when the citizen has no model.
    pub model: Option<ModelRef>,
    pub idle: bool,
}

/// The last assistant message (`get_message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// Always `"assistant"`.
    pub role: String,
    pub content: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
}

/// `data` of a successful `clear`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearData {
    pub cleared: bool,
    #[serde(
        rename = "alreadyAtRoot",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub already_at_root: Option<bool>,
    #[serde(rename = "targetId", default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

/// What a client learns from `get_info` (lenient: a field of the wrong type becomes `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeInfo {
    pub session_id: Option<String>,
    pub cwd: Option<String>,
    pub model_id: Option<String>,
    pub model_provider: Option<String>,
    pub idle: Option<bool>,
}

impl RuntimeInfo {
    /// Reads `get_info` data the way the reference does (wrong types → `None`).
    pub fn from_data(data: Option<&Value>) -> Self {
        let str_at = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let model = data.and_then(|d| d.get("model"));
        Self {
            session_id: str_at(data.and_then(|d| d.get("sessionId"))),
            cwd: str_at(data.and_then(|d| d.get("cwd"))),
            model_id: str_at(model.and_then(|m| m.get("id"))),
            model_provider: str_at(model.and_then(|m| m.get("provider"))),
            idle: data.and_then(|d| d.get("idle")).and_then(Value::as_bool),
        }
    }

    /// `provider/id`, or just `id` without a provider; `None` without a model id.
    pub fn display_model(&self) -> Option<String> {
        let id = self.model_id.as_deref()?;
        Some(match self.model_provider.as_deref() {
            Some(provider) => format!("{provider}/{id}"),
            None => id.to_owned(),
        })
    }
}

/// A command line the server accepted as a command (it has a string `type`).
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The request's `type`.
    pub command: String,
    /// Echoed back only when it was a string.
    pub id: Option<String>,
    /// The whole request object.
    pub body: Map<String, Value>,
}

/// Why a line is not a command. Its `Display` is the exact `error` text of the `parse` response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineParseError {
    /// Not JSON. The reference shows V8's `JSON.parse` text here, which cannot be reproduced;
    /// this carries serde_json's text instead (no client reads it).
    #[error("Failed to parse command: {0}")]
    NotJson(String),
    /// `null`, a number, a string or a bool.
    #[error("Failed to parse command: Invalid command")]
    InvalidCommand,
    /// An array, or an object whose `type` is not a string.
    #[error("Failed to parse command: Missing command type")]
    MissingCommandType,
}

impl LineParseError {
    /// The `parse` response (never carries an `id`).
    pub fn to_response(&self) -> Response {
        Response::fail(PARSE_COMMAND, self.to_string(), None)
    }
}

/// Server-side parse of one trimmed, non-empty line into a command with a string `type`.
/// A numeric (or any non-string) `id` is dropped.
pub fn parse_line(line: &str) -> Result<Incoming, LineParseError> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| LineParseError::NotJson(e.to_string()))?;
    match value {
        Value::Object(body) => {
            let command = body
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(LineParseError::MissingCommandType)?;
            let id = body.get("id").and_then(Value::as_str).map(str::to_owned);
            Ok(Incoming { command, id, body })
        }
        Value::Array(_) => Err(LineParseError::MissingCommandType),
        _ => Err(LineParseError::InvalidCommand),
    }
}

/// JavaScript truthiness of a JSON value.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// JavaScript `String.prototype.trim` (Unicode white space plus the BOM).
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

/// Server-side validation of a `send` body (§3.4), in the reference's order: message, then the
/// sender object check, then the sender's required fields.
///
/// Errors: `Missing message`, `sender must be an object`,
/// `sender envelope missing required field(s): <fields in fixed order>`.
pub fn validate_send(body: &Map<String, Value>) -> Result<SendRequest, String> {
    let message = match body.get("message").and_then(Value::as_str) {
        Some(m) if !js_trim(m).is_empty() => m.to_owned(),
        _ => return Err("Missing message".into()),
    };
    let sender = match body.get("sender") {
        None => None,
        Some(value) => Some(validate_sender(value)?),
    };
    Ok(SendRequest {
        message,
        mode: SendMode::from_wire(body.get("mode")),
        wants_reply: body.get("wants_reply").and_then(Value::as_bool) == Some(true),
        sender,
    })
}

/// The accepted envelope keeps `origin` only when it is a non-empty string (the reference copies
/// any truthy value through; non-string origins are dropped here) and `replyable` only when it
/// is a bool. Extra fields are dropped; values are kept untrimmed.
fn validate_sender(value: &Value) -> Result<SenderEnvelope, String> {
    let empty = Map::new();
    // An array passes JavaScript's `typeof === "object"` check and then has none of the fields.
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => &empty,
        _ => return Err("sender must be an object".into()),
    };
    let field = |name: &str| {
        obj.get(name)
            .and_then(Value::as_str)
            .filter(|s| !js_trim(s).is_empty())
            .map(str::to_owned)
    };
    let missing: Vec<&str> = SENDER_REQUIRED_FIELDS
        .iter()
        .copied()
        .filter(|name| field(name).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "sender envelope missing required field(s): {}",
            missing.join(", ")
        ));
    }
    Ok(SenderEnvelope {
        session_id: field("sessionId").unwrap_or_default(),
        agent_id: field("agentId").unwrap_or_default(),
        cwd: field("cwd").unwrap_or_default(),
        timestamp: field("timestamp").unwrap_or_default(),
        origin: obj
            .get("origin")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        replyable: obj.get("replyable").and_then(Value::as_bool),
    })
}

/// Splits buffered bytes into complete lines (on `\n` only), trimming each and skipping blank
/// ones. Returns the lines and leaves the unterminated tail in `buf`.
pub fn drain_lines(buf: &mut Vec<u8>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
        let raw: Vec<u8> = buf.drain(..=pos).collect();
        let text = String::from_utf8_lossy(&raw[..raw.len() - 1]);
        let trimmed = js_trim(&text);
        if !trimmed.is_empty() {
            lines.push(trimmed.to_owned());
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_typed_request_line_is_the_value_rendering() {
        let sender = SenderEnvelope {
            session_id: "s\"1".into(),
            agent_id: "a/é".into(),
            cwd: "/w\\x".into(),
            timestamp: "2026-06-12T10:00:00.000Z".into(),
            origin: Some("pi-session".into()),
            replyable: None,
        };
        let mut with_sender = SendRequest::new("line\nnext \u{1F600} \"q\" \u{7}");
        with_sender.sender = Some(sender);
        with_sender.wants_reply = true;
        with_sender.mode = SendMode::Steer;
        let requests = [
            Request::Send(SendRequest::new("hi")),
            Request::Send(with_sender),
            Request::GetInfo,
            Request::Clear {
                summarize: Some(true),
            },
            Request::Unknown("x".into()),
        ];
        for r in requests {
            assert_eq!(r.to_line(), format!("{}\n", r.to_value()), "{r:?}");
        }
    }

    #[rstest::rstest]
    #[case::plain(r#"{"type":"response","command":"send","success":true}"#)]
    #[case::data_and_error(r#"{"type":"response","command":"send","success":false,"error":"nope","data":{"a":[1]},"id":"7"}"#)]
    #[case::null_data(
        r#"{"type":"response","command":"send","success":1,"data":null,"error":null}"#
    )]
    #[case::other_command(r#"{"type":"response","command":"get_info","success":true}"#)]
    #[case::not_a_response(r#"{"type":"event","command":"send","success":true}"#)]
    #[case::escaped_type(r#"{"type":"respons\u0065","command":"send","success":"yes"}"#)]
    #[case::numeric_error(r#"{"type":"response","command":"send","success":true,"error":5}"#)]
    #[case::duplicate_key(r#"{"type":"response","command":"send","success":false,"success":true}"#)]
    #[case::array(r#"["response","send",true]"#)]
    #[case::garbage("{not json")]
    #[case::padded("  {\"type\":\"response\",\"command\":\"send\",\"success\":0}  ")]
    fn the_typed_response_match_agrees_with_the_general_rule(#[case] line: &str) {
        assert_eq!(
            Response::match_line(line, "send"),
            Response::match_general(line.trim(), "send"),
            "{line}"
        );
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn blank_sender_field_is_listed() {
        let err = validate_send(&obj(json!({"type":"send","message":"hi","sender":{"sessionId":"a","agentId":" ","cwd":"/x"}}))).unwrap_err();
        assert_eq!(
            err,
            "sender envelope missing required field(s): agentId, timestamp"
        );
    }

    #[test]
    fn message_is_checked_before_sender() {
        let err = validate_send(&obj(json!({"type":"send","sender":null}))).unwrap_err();
        assert_eq!(err, "Missing message");
    }

    #[test]
    fn mode_defaults_to_steer_on_the_server() {
        let req = validate_send(&obj(json!({"message":"m","mode":"bogus"}))).unwrap();
        assert_eq!(req.mode, SendMode::Steer);
        assert!(!req.wants_reply);
    }

    #[test]
    fn drain_lines_keeps_the_tail() {
        let mut buf = b"\r\n  \n{\"a\":1}\r\n{\"b\"".to_vec();
        assert_eq!(drain_lines(&mut buf), vec!["{\"a\":1}".to_owned()]);
        assert_eq!(buf, b"{\"b\"".to_vec());
    }

    #[test]
    fn numeric_id_is_dropped() {
        let inc = parse_line("{\"type\":\"get_info\",\"id\":7}").unwrap();
        assert_eq!(inc.id, None);
    }

    #[test]
    fn display_model_without_provider_is_the_id() {
        let info = RuntimeInfo::from_data(Some(&json!({"model":{"id":"m"}})));
        assert_eq!(info.display_model().as_deref(), Some("m"));
    }
}
