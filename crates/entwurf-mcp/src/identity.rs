//! Who is calling: a pi session (`PI_SESSION_ID` + `PI_AGENT_ID`), a garden-native meta-session
//! (a sender marker of a live ancestor process, checked against its record), an external host
//! the operator labelled (`--sender-label`), or nobody.
//!
//! The environment is read by the caller at its edge into [`IdentityEnv`]; the process chain
//! is walked through a small function so tests can give their own.

use std::path::{Path, PathBuf};

use entwurf_meta_session::{
    armed_receiver, read_record, read_sender_marker, read_sender_marker_at, Backend, MetaRecord,
    SenderMarker,
};

/// The identity inputs, read once from the environment and the flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityEnv {
    /// `PI_SESSION_ID` (trimmed, non-empty).
    pub pi_session_id: Option<String>,
    /// `PI_AGENT_ID` (trimmed, non-empty).
    pub pi_agent_id: Option<String>,
    /// `ENTWURF_META_SENDER_MARKER`: an explicit sender marker path.
    pub sender_marker: Option<PathBuf>,
    /// `--sender-label`, else `ENTWURF_BRIDGE_EXTERNAL_AGENT_ID`.
    pub sender_label: Option<String>,
    /// `ENTWURF_BRIDGE_REQUIRE_META_SENDER=1`.
    pub require_meta_sender: bool,
    /// The server's working directory.
    pub cwd: String,
}

impl IdentityEnv {
    /// Reads the variables through `get` (the caller passes the process environment).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>, cwd: String) -> Self {
        let clean = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self {
            pi_session_id: clean("PI_SESSION_ID"),
            pi_agent_id: clean("PI_AGENT_ID"),
            sender_marker: clean("ENTWURF_META_SENDER_MARKER").map(PathBuf::from),
            sender_label: clean("ENTWURF_BRIDGE_EXTERNAL_AGENT_ID"),
            require_meta_sender: get("ENTWURF_BRIDGE_REQUIRE_META_SENDER").as_deref() == Some("1"),
            cwd,
        }
    }
}

/// Where an envelope comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A pi session.
    PiSession,
    /// A record-backed native session.
    MetaSession,
    /// An MCP host with no garden identity.
    ExternalMcp,
}

impl Origin {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::PiSession => "pi-session",
            Origin::MetaSession => "meta-session",
            Origin::ExternalMcp => "external-mcp",
        }
    }
}

/// The caller's identity envelope (what `entwurf_self` shows and a send attaches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfEnvelope {
    /// The reply address (garden id), or `external-mcp`.
    pub session_id: String,
    /// The agent label.
    pub agent_id: String,
    /// The caller's cwd.
    pub cwd: String,
    /// ISO time of the snapshot.
    pub timestamp: String,
    /// Origin.
    pub origin: Origin,
    /// Can a reply reach the caller?
    pub replyable: bool,
    /// pi: the canonical control socket path.
    pub socket_path: Option<String>,
    /// pi: whether that path exists.
    pub socket_alive: bool,
    /// meta-session: its mailbox dir.
    pub mailbox_path: Option<String>,
}

impl SelfEnvelope {
    /// The wire envelope a send attaches.
    pub fn to_wire(&self) -> entwurf_decider::SenderEnvelope {
        entwurf_decider::SenderEnvelope {
            session_id: self.session_id.clone(),
            agent_id: self.agent_id.clone(),
            cwd: self.cwd.clone(),
            timestamp: self.timestamp.clone(),
            origin: Some(self.origin.as_str().to_owned()),
            replyable: Some(self.replyable),
        }
    }

    /// The garden id this caller owns (pi session id or meta-session gid).
    pub fn own_garden_id(&self) -> Option<&str> {
        match self.origin {
            Origin::PiSession | Origin::MetaSession => Some(&self.session_id),
            Origin::ExternalMcp => None,
        }
    }
}

/// The store directories identity resolution reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityDirs {
    /// Meta records.
    pub sessions: PathBuf,
    /// Mailboxes (for `mailboxPath`).
    pub mailbox: PathBuf,
    /// Receiver markers (replyability of a meta-session).
    pub receivers: PathBuf,
    /// Sender markers.
    pub senders: PathBuf,
    /// Control sockets.
    pub control: PathBuf,
}

/// How many ancestors are searched for a sender marker (the reference checks two).
pub const MAX_ANCESTORS: usize = 8;

/// The parent of `pid` from `/proc/<pid>/stat`, or `None` (gone, pid 0/1, unreadable).
pub fn proc_parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parent_from_stat(&stat)
}

/// The ppid field of a `/proc/<pid>/stat` line (the comm may hold spaces and parentheses).
pub fn parent_from_stat(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
    (ppid > 1).then_some(ppid)
}

/// The verified sender marker of this process: the explicit marker path when given, else the
/// first claude-code marker owned by a live ancestor (`start_pid` = our parent, then upward).
pub fn find_sender_marker(
    env: &IdentityEnv,
    senders_dir: &Path,
    start_pid: Option<u32>,
    parent_of: &dyn Fn(u32) -> Option<u32>,
) -> Option<SenderMarker> {
    if let Some(path) = &env.sender_marker {
        return read_sender_marker_at(path, true);
    }
    let mut pid = start_pid.filter(|p| *p > 1);
    for _ in 0..MAX_ANCESTORS {
        let p = pid?;
        if let Some(m) = read_sender_marker(senders_dir, Backend::ClaudeCode, i64::from(p), true) {
            return Some(m);
        }
        pid = parent_of(p);
    }
    None
}

/// A marker counts only when its record exists and names the same backend and native id.
pub fn verified_meta_identity(marker: &SenderMarker, sessions_dir: &Path) -> Option<MetaRecord> {
    let record = read_record(sessions_dir, &marker.garden_id).ok()?;
    (record.backend == marker.backend && record.native_session_id == marker.native_session_id)
        .then_some(record)
}

/// The authoritative identity (pi env, else a verified marker), or `None`.
pub fn authoritative(
    env: &IdentityEnv,
    dirs: &IdentityDirs,
    marker: Option<&SenderMarker>,
    now_iso: &str,
) -> Option<SelfEnvelope> {
    if let (Some(sid), Some(aid)) = (&env.pi_session_id, &env.pi_agent_id) {
        let sock = dirs.control.join(format!("{sid}.sock"));
        let alive = sock.exists();
        return Some(SelfEnvelope {
            session_id: sid.clone(),
            agent_id: aid.clone(),
            cwd: env.cwd.clone(),
            timestamp: now_iso.to_owned(),
            origin: Origin::PiSession,
            replyable: alive,
            socket_path: Some(sock.display().to_string()),
            socket_alive: alive,
            mailbox_path: None,
        });
    }
    let marker = marker?;
    let record = verified_meta_identity(marker, &dirs.sessions)?;
    let active = armed_receiver(&dirs.receivers, &record).is_some();
    Some(SelfEnvelope {
        session_id: record.garden_id.to_string(),
        agent_id: format!("meta-session/{}", record.backend.as_str()),
        cwd: if marker.cwd.is_empty() {
            env.cwd.clone()
        } else {
            marker.cwd.clone()
        },
        timestamp: now_iso.to_owned(),
        origin: Origin::MetaSession,
        replyable: active,
        socket_path: None,
        socket_alive: false,
        mailbox_path: Some(
            dirs.mailbox
                .join(record.garden_id.as_str())
                .display()
                .to_string(),
        ),
    })
}

/// The missing-identity message of `entwurf_self` (the reference's wording).
pub fn wiring_incomplete(env: &IdentityEnv) -> String {
    let mut missing = Vec::new();
    if env.pi_session_id.is_none() {
        missing.push("PI_SESSION_ID");
    }
    if env.pi_agent_id.is_none() {
        missing.push("PI_AGENT_ID");
    }
    if env.cwd.is_empty() {
        missing.push("cwd");
    }
    format!(
        "entwurf sender envelope wiring incomplete — missing env: {}, and no trusted meta-sender marker was found. This MCP child should either inherit PI_SESSION_ID + PI_AGENT_ID (from an entwurf-control pi session), or run inside a garden-native meta-session whose SessionStart hook wrote a live sender marker. entwurf_self is only callable when one of those authoritative identity paths is present.",
        missing.join(", ")
    )
}

/// The reference's refusal under `ENTWURF_BRIDGE_REQUIRE_META_SENDER=1`.
pub const REQUIRE_SENDER_REFUSAL: &str = "entwurf-bridge refused: no authoritative sender identity. ENTWURF_BRIDGE_REQUIRE_META_SENDER=1 forbids anonymous external sends, and no live meta-sender marker was found for this process. The native SessionStart hook writes that marker (keyed by the Claude Code parent pid + start-time) — open this session through the installed meta-bridge so your garden-id is registered, then retry.";

/// Our default refusal of an anonymous send.
pub const ANONYMOUS_REFUSAL: &str = "entwurf mcp refused: anonymous sends are off. No PI_SESSION_ID/PI_AGENT_ID, no live sender marker of a Claude Code session, and no sender label. Start the server with --sender-label <host> (e.g. external-mcp/codex) to send as an identified, non-replyable external caller, or with --allow-anonymous for the reference's behaviour.";

/// Who a send goes out as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendAs {
    /// An envelope (pi, meta-session, labelled or anonymous external).
    Envelope(SelfEnvelope),
    /// Refused, with the text to show.
    Refused(&'static str),
}

/// The send policy: authoritative identity, else the reference's strict refusal when required,
/// else a labelled external caller, else anonymous (only with `allow_anonymous`).
pub fn send_identity(
    env: &IdentityEnv,
    authoritative: Option<SelfEnvelope>,
    allow_anonymous: bool,
    now_iso: &str,
) -> SendAs {
    if let Some(a) = authoritative {
        return SendAs::Envelope(a);
    }
    if env.require_meta_sender {
        return SendAs::Refused(REQUIRE_SENDER_REFUSAL);
    }
    let external = |agent_id: String| SelfEnvelope {
        session_id: "external-mcp".into(),
        agent_id,
        cwd: env.cwd.clone(),
        timestamp: now_iso.to_owned(),
        origin: Origin::ExternalMcp,
        replyable: false,
        socket_path: None,
        socket_alive: false,
        mailbox_path: None,
    };
    match (&env.sender_label, allow_anonymous) {
        (Some(label), _) => SendAs::Envelope(external(label.clone())),
        (None, true) => SendAs::Envelope(external("external-mcp/unknown-host".into())),
        (None, false) => SendAs::Refused(ANONYMOUS_REFUSAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_is_read_past_a_comm_with_parentheses() {
        assert_eq!(parent_from_stat("42 (a) b) S 77 1 1"), Some(77));
        assert_eq!(parent_from_stat("42 (init) S 1 1 1"), None);
        assert_eq!(parent_from_stat("garbage"), None);
    }

    #[test]
    fn the_send_policy_orders_label_anonymous_and_strict() {
        let mut env = IdentityEnv {
            cwd: "/w".into(),
            ..Default::default()
        };
        assert_eq!(
            send_identity(&env, None, false, "t"),
            SendAs::Refused(ANONYMOUS_REFUSAL)
        );
        let SendAs::Envelope(e) = send_identity(&env, None, true, "t") else {
            panic!()
        };
        assert_eq!(e.agent_id, "external-mcp/unknown-host");
        env.sender_label = Some("external-mcp/codex".into());
        let SendAs::Envelope(e) = send_identity(&env, None, false, "t") else {
            panic!()
        };
        assert_eq!(e.agent_id, "external-mcp/codex");
        assert!(!e.replyable);
        env.require_meta_sender = true;
        assert_eq!(
            send_identity(&env, None, true, "t"),
            SendAs::Refused(REQUIRE_SENDER_REFUSAL)
        );
    }

    #[test]
    fn the_environment_is_trimmed_and_empty_means_unset() {
        let env = IdentityEnv::from_lookup(
            &|k| match k {
                "PI_SESSION_ID" => Some("  ".into()),
                "PI_AGENT_ID" => Some(" a/b ".into()),
                "ENTWURF_BRIDGE_REQUIRE_META_SENDER" => Some("1".into()),
                _ => None,
            },
            "/w".into(),
        );
        assert_eq!(env.pi_session_id, None);
        assert_eq!(env.pi_agent_id.as_deref(), Some("a/b"));
        assert!(env.require_meta_sender);
        assert!(wiring_incomplete(&env).contains("missing env: PI_SESSION_ID, and no trusted"));
    }
}
