//! The sender envelope: who sent a message. One type for every place it travels: the control
//! socket's `send` line (`entwurf-control-rpc`), the `<sender_info>` block and the mailbox body
//! header (`entwurf-mailbox`). It is display only and never affects routing.

use serde::{Deserialize, Deserializer, Serialize};

/// Who sent a message, serialised with keys `sessionId, agentId, cwd, timestamp[, origin][,
/// replyable]`.
///
/// `replyable` is kept only when it is a JSON boolean: any other value (the string `"true"` of a
/// sloppy caller included) reads as absent, so it never counts as replyable. The control socket's
/// request validation applies the same rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SenderEnvelope {
    /// The sender's session id (its garden id when it has one): the reply address.
    pub session_id: String,
    /// `<provider>/<model>` or another agent label.
    pub agent_id: String,
    /// The sender's working directory.
    pub cwd: String,
    /// ISO-8601 send time (UTC in practice); never validated.
    pub timestamp: String,
    /// `pi-session`, `external-mcp` or `meta-session` (any other string is copied through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Whether a reply can reach the sender.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bool_or_absent"
    )]
    pub replyable: Option<bool>,
}

/// The `origin` of a record-backed native session (Claude Code, …).
pub const ORIGIN_META_SESSION: &str = "meta-session";

impl SenderEnvelope {
    /// An envelope with the four required fields, no origin and no replyable flag.
    pub fn new(
        session_id: impl Into<String>,
        agent_id: impl Into<String>,
        cwd: impl Into<String>,
        timestamp: impl Into<String>,
    ) -> Self {
        Self {
            session_id: session_id.into(),
            agent_id: agent_id.into(),
            cwd: cwd.into(),
            timestamp: timestamp.into(),
            origin: None,
            replyable: None,
        }
    }

    /// True only when `replyable` is `true`.
    pub fn is_replyable(&self) -> bool {
        self.replyable == Some(true)
    }

    /// True when the origin is `meta-session`.
    pub fn is_meta_session(&self) -> bool {
        self.origin.as_deref() == Some(ORIGIN_META_SESSION)
    }
}

fn bool_or_absent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Some(b),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_boolean_replyable_is_kept() {
        let base = r#""sessionId":"s","agentId":"a","cwd":"/w","timestamp":"t""#;
        let parse = |tail: &str| -> SenderEnvelope {
            serde_json::from_str(&format!("{{{base}{tail}}}")).unwrap()
        };
        assert_eq!(parse(r#","replyable":true"#).replyable, Some(true));
        assert_eq!(parse(r#","replyable":false"#).replyable, Some(false));
        assert_eq!(parse(r#","replyable":"true""#).replyable, None);
        assert_eq!(parse(r#","replyable":null"#).replyable, None);
        assert_eq!(parse("").replyable, None);
        assert!(!parse(r#","replyable":"true""#).is_replyable());
    }

    #[test]
    fn keys_are_written_in_wire_order_and_absent_options_are_left_out() {
        let env = SenderEnvelope {
            origin: Some(ORIGIN_META_SESSION.into()),
            ..SenderEnvelope::new("s", "a", "/w", "t")
        };
        assert_eq!(
            serde_json::to_string(&env).unwrap(),
            r#"{"sessionId":"s","agentId":"a","cwd":"/w","timestamp":"t","origin":"meta-session"}"#
        );
        assert!(env.is_meta_session());
    }
}
