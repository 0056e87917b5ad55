//! The decider's IO seams (§1.3) and the facts they return. Production implements them over real
//! directories; tests implement them with call-counting fakes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use entwurf_control_rpc::{SocketInspection, SocketLiveness};
use entwurf_lock::{AcquireOutcome, LockClaim};
use entwurf_meta_session::{GardenId, MetaRecord};

use crate::contract::OBSERVE_TIMEOUT_MS_DEFAULT;

/// An IO failure reported by a seam or a hand.
///
/// Built from the error that caused it ([`IoFailure::from_error`], or `From<io::Error>` for what
/// `entwurf-spawn`'s watcher seams report), which it keeps typed ([`IoFailure::error`] downcasts
/// it); or, where there is no error value, from a text ([`IoFailure::new`]). Its text is that
/// error's whole chain (`top: cause: cause`, [`entwurf_fs::Chain`]), so a receipt carries the
/// cause; it therefore exposes no further `source`, and a chain printed above it never repeats
/// one. Two failures are equal when their texts are.
#[derive(Debug, Clone)]
pub struct IoFailure(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Text(String),
    Error(Arc<dyn std::error::Error + Send + Sync + 'static>),
}

impl IoFailure {
    /// A failure with this text (no underlying error value).
    pub fn new(message: impl Into<String>) -> Self {
        Self(Repr::Text(message.into()))
    }

    /// A failure that is `err`, kept typed.
    pub fn from_error(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Repr::Error(Arc::new(err)))
    }

    /// The error this failure was built from, if any (`downcast_ref` it to its type).
    pub fn error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.0 {
            Repr::Text(_) => None,
            Repr::Error(e) => Some(e.as_ref()),
        }
    }
}

impl std::fmt::Display for IoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Repr::Text(t) => f.write_str(t),
            Repr::Error(e) => entwurf_fs::Chain(e.as_ref()).fmt(f),
        }
    }
}

/// No `source`: the text already holds the whole chain (see the type's docs).
impl std::error::Error for IoFailure {}

impl PartialEq for IoFailure {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for IoFailure {}

/// What `entwurf-spawn` reports: an `io::Error` that wraps an `IoFailure` (a release the runner
/// handed over) is unwrapped back to it; any other is kept as the typed error.
impl From<std::io::Error> for IoFailure {
    fn from(err: std::io::Error) -> Self {
        match err.get_ref().and_then(|e| e.downcast_ref::<IoFailure>()) {
            Some(inner) => inner.clone(),
            None => Self::from_error(err),
        }
    }
}

/// What a [`LockRelease`](crate::LockRelease) returns to `entwurf-spawn`: the failure, kept typed
/// inside the `io::Error` (and unwrapped again by `From<io::Error>`).
impl From<IoFailure> for std::io::Error {
    fn from(failure: IoFailure) -> Self {
        std::io::Error::other(failure)
    }
}

/// `resolveTarget(gid)`: probe-free and lock-free.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetResolution {
    /// The citizen's record, or `None` when there is no record.
    pub identity: Option<MetaRecord>,
    /// A record-side address conflict (a socket, file or symlink at a non-pi citizen's path).
    pub pre_probe_address_conflict: bool,
    /// No record, but a real socket file (not a symlink) at the canonical path.
    pub socket_only_pi: bool,
}

impl TargetResolution {
    /// Nobody: no record, nothing promotable.
    pub fn nobody() -> Self {
        Self::default()
    }
    /// A record-backed citizen without a record-side conflict.
    pub fn citizen(identity: MetaRecord) -> Self {
        Self {
            identity: Some(identity),
            ..Self::default()
        }
    }
    /// A record-less live-looking pi socket.
    pub fn socket_only() -> Self {
        Self {
            socket_only_pi: true,
            ..Self::default()
        }
    }
}

/// The preflight's verdict kind for a resume: `entwurf-spawn`'s type (approve, trusted-no-arg,
/// deny), re-exported.
pub use entwurf_spawn::PreflightKind;

/// `preflightForCwd(cwd)`: only `kind == Deny` and `launch_args` matter to the decider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// The verdict.
    pub kind: PreflightKind,
    /// Extra pi launch args (`["--approve"]` or `[]`).
    pub launch_args: Vec<String>,
}

/// `mailboxDeliverabilityFor(identity)`: the mailbox crate's verdict, re-exported; only the
/// boolean is used by the decider.
pub use entwurf_mailbox::Deliverability;

/// `nativePushProbe(identity)`: the adapter's status and, when alive, its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativePushProbe {
    /// The adapter's liveness.
    pub status: SocketLiveness,
    /// The route to send through (present when alive).
    pub route: Option<serde_json::Value>,
}

/// Decider configuration (data, not IO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeciderConfig {
    /// Mailbox root put into meta-mailbox plans.
    pub mailbox_dir: PathBuf,
    /// Meta-record store put into meta-mailbox plans.
    pub sessions_dir: PathBuf,
    /// Spawn observe timeout put into spawn-bg plans.
    pub observe_timeout_ms: u64,
}

impl DeciderConfig {
    /// A config with the default observe timeout.
    pub fn new(mailbox_dir: impl Into<PathBuf>, sessions_dir: impl Into<PathBuf>) -> Self {
        Self {
            mailbox_dir: mailbox_dir.into(),
            sessions_dir: sessions_dir.into(),
            observe_timeout_ms: OBSERVE_TIMEOUT_MS_DEFAULT,
        }
    }
}

/// Parses `ENTWURF_V2_OBSERVE_TIMEOUT_MS` like the reference's `Number(raw)`: surrounding
/// whitespace is trimmed, decimal, exponent and `0x`/`0o`/`0b` forms are accepted; empty, unset,
/// non-finite or ≤ 0 falls back to 30000. A fractional value is rounded up to whole
/// milliseconds (the plan carries an integer).
pub fn parse_observe_timeout_ms(raw: Option<&str>) -> u64 {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return OBSERVE_TIMEOUT_MS_DEFAULT;
    };
    let lower = raw.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find(|(p, _)| lower.starts_with(p));
    let value = match radix {
        Some((p, r)) => u64::from_str_radix(&lower[p.len()..], r)
            .ok()
            .map(|v| v as f64),
        None if lower.contains("inf") || lower.contains("nan") => None,
        None => lower.parse::<f64>().ok(),
    };
    match value {
        Some(v) if v.is_finite() && v > 0.0 => v.ceil() as u64,
        _ => OBSERVE_TIMEOUT_MS_DEFAULT,
    }
}

/// The decider's IO seams (all required). Every method is probe-free unless its name says
/// otherwise; only `probe_socket` connects, and only `acquire_lock`/`release_lock` write.
#[async_trait]
pub trait DispatchSeams: Send + Sync {
    /// Resolve a garden id to a citizen (no lock, no connect). A corrupt record is an error.
    async fn resolve_target(&self, gid: &GardenId) -> Result<TargetResolution, IoFailure>;
    /// Take the per-gid lock.
    async fn acquire_lock(&self, gid: &GardenId) -> Result<AcquireOutcome, IoFailure>;
    /// Release a claim taken by `acquire_lock`. Only an error matters; the outcome is discarded.
    async fn release_lock(&self, claim: &LockClaim) -> Result<(), IoFailure>;
    /// `lstat` the canonical socket path (no connect).
    async fn inspect_socket(&self, gid: &GardenId) -> Result<SocketInspection, IoFailure>;
    /// Connect probe of an inspected socket file.
    async fn probe_socket(&self, socket_path: &Path) -> Result<SocketLiveness, IoFailure>;
    /// Trust preflight of a resume's cwd.
    async fn preflight_for_cwd(&self, cwd: &str) -> Result<Preflight, IoFailure>;
    /// Would a mailbox enqueue to this citizen be drained?
    async fn mailbox_deliverability_for(
        &self,
        identity: &MetaRecord,
    ) -> Result<Deliverability, IoFailure>;
    /// Probe a native-push citizen through its adapter.
    async fn native_push_probe(&self, identity: &MetaRecord) -> Result<NativePushProbe, IoFailure>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::unset(None, 30000)]
    #[case::empty(Some(""), 30000)]
    #[case::padded(Some(" 45000 "), 45000)]
    #[case::exponent(Some("1e3"), 1000)]
    #[case::hex(Some("0x10"), 16)]
    #[case::fraction_rounds_up(Some("1.5"), 2)]
    #[case::zero(Some("0"), 30000)]
    #[case::negative(Some("-5"), 30000)]
    #[case::garbage(Some("abc"), 30000)]
    #[case::infinity(Some("Infinity"), 30000)]
    fn observe_timeout_parses_like_number(#[case] raw: Option<&str>, #[case] want: u64) {
        assert_eq!(parse_observe_timeout_ms(raw), want);
    }

    #[test]
    fn an_io_failure_keeps_its_error_typed_and_its_text_is_the_whole_chain() {
        let gid_error = GardenId::parse("../x").unwrap_err();
        let failure = IoFailure::from_error(gid_error.clone());
        assert_eq!(failure.to_string(), gid_error.to_string());
        assert!(
            std::error::Error::source(&failure).is_none(),
            "the text is the chain"
        );
        let typed = failure
            .error()
            .and_then(|e| e.downcast_ref::<entwurf_meta_session::InvalidGardenId>());
        assert_eq!(typed, Some(&gid_error));
        // Through entwurf-spawn's io::Error and back: the same failure, not a wrapper of it.
        let back = IoFailure::from(std::io::Error::from(failure.clone()));
        assert_eq!(back, failure);
        assert!(back
            .error()
            .is_some_and(|e| e.is::<entwurf_meta_session::InvalidGardenId>()));
        // A text failure has no error value.
        assert!(IoFailure::new("EIO").error().is_none());
        // A caused error: every cause is in the text, once.
        let io = std::io::Error::other(gid_error.clone());
        let outer = IoFailure::from_error(Wrapped(io));
        assert_eq!(outer.to_string(), format!("wrapped: {gid_error}"));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapped(#[source] std::io::Error);

    #[test]
    fn a_chain_is_not_lost_through_entwurf_spawn() {
        let failure = IoFailure::from_error(Wrapped(std::io::Error::other("EACCES")));
        let back = IoFailure::from(std::io::Error::from(failure.clone()));
        assert_eq!(back.to_string(), "wrapped: EACCES");
    }
}
