//! The four backends and their capability table (the reference's `entwurf-capabilities.json`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A garden citizen's backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// Claude Code: self-fetch (mailbox + doorbell).
    ClaudeCode,
    /// Antigravity: native push through an adapter.
    Antigravity,
    /// Codex: direct-inject, no transport in v2 (always mailbox-undeliverable).
    Codex,
    /// pi: control socket, the only socket-liveness backend.
    Pi,
}

/// How a backend learns of new messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WakeMode {
    /// The citizen drains its own mailbox when the doorbell rings.
    SelfFetch,
    /// Messages are injected into the running session.
    DirectInject,
}

impl WakeMode {
    /// The wire string (`self-fetch` / `direct-inject`).
    pub fn as_str(self) -> &'static str {
        match self {
            WakeMode::SelfFetch => "self-fetch",
            WakeMode::DirectInject => "direct-inject",
        }
    }
}

/// One row of the capability registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// The mailbox gate: only `self-fetch` has a drain.
    pub wake_mode: WakeMode,
    /// A hint only ("D-coordinate"); nothing branches on it.
    pub delivery_level: &'static str,
    /// What the backend calls its own session id.
    pub native_id_label: &'static str,
}

/// Every v2 backend, in registry order.
pub const ALL_BACKENDS: [Backend; 4] = [
    Backend::ClaudeCode,
    Backend::Antigravity,
    Backend::Codex,
    Backend::Pi,
];

/// The backends a marker (receiver or sender) or a v1 record may carry: never `pi`.
pub const MARKER_BACKENDS: [Backend; 3] =
    [Backend::ClaudeCode, Backend::Antigravity, Backend::Codex];

/// The backend name is not one of the known backends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend {value:?}: expected one of claude-code, antigravity, codex, pi")]
pub struct UnknownBackend {
    /// The rejected input.
    pub value: String,
}

impl Backend {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::ClaudeCode => "claude-code",
            Backend::Antigravity => "antigravity",
            Backend::Codex => "codex",
            Backend::Pi => "pi",
        }
    }

    /// The registry row for this backend.
    pub fn capability(self) -> Capability {
        let (wake_mode, native_id_label) = match self {
            Backend::ClaudeCode => (WakeMode::SelfFetch, "sessionId"),
            Backend::Antigravity => (WakeMode::DirectInject, "conversationId"),
            Backend::Codex => (WakeMode::DirectInject, "threadId"),
            Backend::Pi => (WakeMode::DirectInject, "sessionId"),
        };
        Capability {
            wake_mode,
            delivery_level: "D6",
            native_id_label,
        }
    }

    /// Only `pi` has control-socket liveness.
    pub fn is_socket_liveness(self) -> bool {
        self == Backend::Pi
    }

    /// Only `claude-code` drains a mailbox.
    pub fn is_self_fetch(self) -> bool {
        self.capability().wake_mode == WakeMode::SelfFetch
    }

    /// Only `antigravity` is reached by native push.
    pub fn is_native_push(self) -> bool {
        self == Backend::Antigravity
    }

    /// May this backend appear in a receiver/sender marker or a v1 record?
    pub fn is_marker_backend(self) -> bool {
        self != Backend::Pi
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = UnknownBackend;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_BACKENDS
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| UnknownBackend {
                value: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_domains_are_disjoint_and_singular() {
        let liveness: Vec<_> = ALL_BACKENDS
            .into_iter()
            .filter(|b| b.is_socket_liveness())
            .collect();
        let self_fetch: Vec<_> = ALL_BACKENDS
            .into_iter()
            .filter(|b| b.is_self_fetch())
            .collect();
        let native: Vec<_> = ALL_BACKENDS
            .into_iter()
            .filter(|b| b.is_native_push())
            .collect();
        assert_eq!(liveness, [Backend::Pi]);
        assert_eq!(self_fetch, [Backend::ClaudeCode]);
        assert_eq!(native, [Backend::Antigravity]);
    }

    #[test]
    fn names_round_trip() {
        for b in ALL_BACKENDS {
            assert_eq!(b.as_str().parse::<Backend>().unwrap(), b);
            assert_eq!(
                serde_json::to_string(&b).unwrap(),
                format!("\"{}\"", b.as_str())
            );
        }
        assert!("Pi".parse::<Backend>().is_err());
    }

    #[test]
    fn pi_is_never_a_marker_backend() {
        assert!(!Backend::Pi.is_marker_backend());
        assert!(MARKER_BACKENDS.iter().all(|b| b.is_marker_backend()));
    }
}
