//! The v2 dispatch contract: intents, modes, liveness vocabularies, transports, receipts, reject
//! reasons, execution plans, the dispatch decision, and the two pure resolve tables.
//!
//! Every value here serialises byte-identically to the reference (compact JSON, keys in the
//! reference's insertion order, absent optionals omitted, `null` kept where the reference keeps it).

use std::fmt;
use std::path::PathBuf;

use entwurf_lock::{LockClaim, LockConflict};
use entwurf_meta_session::{Backend, GardenId, MetaRecord};
use serde::{Deserialize, Serialize};

pub use entwurf_control_rpc::SocketLiveness;

/// The default delivery mode of a v2 dispatch (`ENTWURF_V2_MODE_DEFAULT`).
pub const MODE_DEFAULT: Mode = Mode::FollowUp;

/// Default spawn observe timeout (`ENTWURF_V2_OBSERVE_TIMEOUT_MS` unset).
pub const OBSERVE_TIMEOUT_MS_DEFAULT: u64 = 30_000;

/// Who owns the completion of a dispatch. Never inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Intent {
    /// The ack is the end of the contract.
    FireAndForget,
    /// The caller owns the completion of the dispatched session.
    OwnedOutcome,
}

/// Every intent, in the reference's order.
pub const INTENTS: [Intent; 2] = [Intent::FireAndForget, Intent::OwnedOutcome];

impl Intent {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::FireAndForget => "fire-and-forget",
            Intent::OwnedOutcome => "owned-outcome",
        }
    }
}

/// Delivery axis for a control-socket send. Only the control-socket plan carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Mode {
    /// Interrupt the current turn.
    #[serde(rename = "steer")]
    Steer,
    /// Queue after the current turn (the v2 default).
    #[default]
    #[serde(rename = "follow_up")]
    FollowUp,
}

/// Every mode, in the reference's order.
pub const MODES: [Mode; 2] = [Mode::Steer, Mode::FollowUp];

impl Mode {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Steer => "steer",
            Mode::FollowUp => "follow_up",
        }
    }
}

/// Liveness as a fact of a receipt (`FACT_LIVENESSES`, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FactLiveness {
    /// A listener accepted the connection.
    Alive,
    /// Nobody listens (or nothing is there).
    Dead,
    /// We cannot tell.
    Indeterminate,
    /// The backend has no pi-socket liveness predicate.
    Unsupported,
}

/// Every fact liveness, in the reference's order.
pub const FACT_LIVENESSES: [FactLiveness; 4] = [
    FactLiveness::Alive,
    FactLiveness::Dead,
    FactLiveness::Indeterminate,
    FactLiveness::Unsupported,
];

impl FactLiveness {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            FactLiveness::Alive => "alive",
            FactLiveness::Dead => "dead",
            FactLiveness::Indeterminate => "indeterminate",
            FactLiveness::Unsupported => "unsupported",
        }
    }
}

impl From<SocketLiveness> for FactLiveness {
    fn from(s: SocketLiveness) -> Self {
        match s {
            SocketLiveness::Alive => FactLiveness::Alive,
            SocketLiveness::Dead => FactLiveness::Dead,
            SocketLiveness::Indeterminate => FactLiveness::Indeterminate,
        }
    }
}

/// `factLivenessOf(backend, socket)`: `unsupported` off the pi domain, else the socket value
/// (an unknown socket value counts as `indeterminate`).
pub fn fact_liveness_of(backend: Backend, socket: Option<SocketLiveness>) -> FactLiveness {
    if !backend.is_socket_liveness() {
        return FactLiveness::Unsupported;
    }
    socket.map_or(FactLiveness::Indeterminate, FactLiveness::from)
}

/// A transport (`ENTWURF_V2_TRANSPORTS`, in this order). `tmux-live` is in the enum but no code
/// path produces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// A live pi's control socket.
    ControlSocket,
    /// Resume a dormant pi in the background.
    SpawnBg,
    /// Reserved; never produced.
    TmuxLive,
    /// The claude-code meta mailbox.
    MetaMailbox,
    /// The antigravity native-push adapter.
    NativePush,
}

/// Every transport, in the reference's order.
pub const TRANSPORTS: [Transport; 5] = [
    Transport::ControlSocket,
    Transport::SpawnBg,
    Transport::TmuxLive,
    Transport::MetaMailbox,
    Transport::NativePush,
];

impl Transport {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::ControlSocket => "control-socket",
            Transport::SpawnBg => "spawn-bg",
            Transport::TmuxLive => "tmux-live",
            Transport::MetaMailbox => "meta-mailbox",
            Transport::NativePush => "native-push",
        }
    }

    /// The action a success on this transport carries (`send` or `resume`).
    pub fn action(self) -> Action {
        match self {
            Transport::ControlSocket | Transport::MetaMailbox | Transport::NativePush => {
                Action::Send
            }
            Transport::SpawnBg | Transport::TmuxLive => Action::Resume,
        }
    }

    /// The ownership a success on this transport carries.
    pub fn ownership(self) -> Ownership {
        match self.action() {
            Action::Send => Ownership::AckOnly,
            Action::Resume => Ownership::Owned,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a success does (`ENTWURF_V2_ACTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Deliver a message to a running citizen.
    Send,
    /// Resume a dormant citizen.
    Resume,
}

/// Who owns the completion (`ENTWURF_V2_OWNERSHIPS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ownership {
    /// The ack ends the contract.
    AckOnly,
    /// The caller owns the outcome.
    Owned,
}

/// Every reject reason (`ENTWURF_V2_REJECT_REASONS`, in the reference's order).
///
/// `socket-only-no-resume-authority` is a **parse-only** variant: the project follows the older
/// design rule (owned-outcome to a socket-only endpoint is `bad-target` before any lock), so the
/// decider never produces it. It is kept so that the reference's golden files, which pin the
/// serialisation of that reason, still parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    /// The in-domain probe was indeterminate.
    IndeterminateNoSpawn,
    /// Fire-and-forget to a dormant pi.
    DormantFireForgetUnsupported,
    /// Owned-outcome to a live pi (never auto-sent).
    OwnedLiveNoAutosend,
    /// Owned-outcome to a backend without a liveness predicate.
    BackendLivenessUnsupported,
    /// Fire-and-forget to a mailbox nobody drains.
    MailboxUndeliverable,
    /// The native-push probe said dead.
    NativePushTargetDead,
    /// The native-push probe was indeterminate.
    NativePushProbeIndeterminate,
    /// Owned-outcome to a native-push backend.
    NativePushNoResumeAuthority,
    /// No citizen; also (older rule) owned-outcome to a socket-only endpoint.
    BadTarget,
    /// Resume verdict, but the preflight of the target cwd denied.
    UntrustedFailFast,
    /// Parse-only (newer-reference rule); never produced by this decider.
    SocketOnlyNoResumeAuthority,
    /// The per-gid lock is held by someone else.
    TargetLocked,
    /// A symlink or non-socket where the control socket should be.
    TargetAddressConflict,
}

/// Every reject reason, in the reference's order (including the parse-only one).
pub const REJECT_REASONS: [RejectReason; 13] = [
    RejectReason::IndeterminateNoSpawn,
    RejectReason::DormantFireForgetUnsupported,
    RejectReason::OwnedLiveNoAutosend,
    RejectReason::BackendLivenessUnsupported,
    RejectReason::MailboxUndeliverable,
    RejectReason::NativePushTargetDead,
    RejectReason::NativePushProbeIndeterminate,
    RejectReason::NativePushNoResumeAuthority,
    RejectReason::BadTarget,
    RejectReason::UntrustedFailFast,
    RejectReason::SocketOnlyNoResumeAuthority,
    RejectReason::TargetLocked,
    RejectReason::TargetAddressConflict,
];

/// Reasons decided before any probe: they carry `observedLiveness: null`.
pub const PRE_PROBE_REJECT_REASONS: [RejectReason; 3] = [
    RejectReason::BadTarget,
    RejectReason::TargetLocked,
    RejectReason::TargetAddressConflict,
];

/// Reasons the resolve table produces.
pub const RESOLVER_REJECT_REASONS: [RejectReason; 5] = [
    RejectReason::IndeterminateNoSpawn,
    RejectReason::DormantFireForgetUnsupported,
    RejectReason::OwnedLiveNoAutosend,
    RejectReason::BackendLivenessUnsupported,
    RejectReason::MailboxUndeliverable,
];

/// Reasons the native-push table produces.
pub const NATIVE_PUSH_REJECT_REASONS: [RejectReason; 3] = [
    RejectReason::NativePushTargetDead,
    RejectReason::NativePushProbeIndeterminate,
    RejectReason::NativePushNoResumeAuthority,
];

impl RejectReason {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::IndeterminateNoSpawn => "indeterminate-no-spawn",
            RejectReason::DormantFireForgetUnsupported => "dormant-fire-forget-unsupported",
            RejectReason::OwnedLiveNoAutosend => "owned-live-no-autosend",
            RejectReason::BackendLivenessUnsupported => "backend-liveness-unsupported",
            RejectReason::MailboxUndeliverable => "mailbox-undeliverable",
            RejectReason::NativePushTargetDead => "native-push-target-dead",
            RejectReason::NativePushProbeIndeterminate => "native-push-probe-indeterminate",
            RejectReason::NativePushNoResumeAuthority => "native-push-no-resume-authority",
            RejectReason::BadTarget => "bad-target",
            RejectReason::UntrustedFailFast => "untrusted-fail-fast",
            RejectReason::SocketOnlyNoResumeAuthority => "socket-only-no-resume-authority",
            RejectReason::TargetLocked => "target-locked",
            RejectReason::TargetAddressConflict => "target-address-conflict",
        }
    }

    /// True for the three pre-probe reasons (`observedLiveness` must be `null`).
    pub fn is_pre_probe(self) -> bool {
        PRE_PROBE_REJECT_REASONS.contains(&self)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reject receipt whose `observedLiveness` contradicts its reason's class (§2.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IllFormedReceipt {
    /// A pre-probe reason with a non-null liveness.
    #[error("entwurf_v2: ill-formed reject receipt — reason '{reason}' requires observedLiveness=null (pre-probe), got \"{got}\".")]
    PreProbeNeedsNull {
        /// The reason.
        reason: RejectReason,
        /// The offending liveness.
        got: &'static str,
    },
    /// A post-probe reason with a null liveness.
    #[error("entwurf_v2: ill-formed reject receipt — reason '{reason}' requires a non-null observedLiveness (post-probe), got null.")]
    PostProbeNeedsValue {
        /// The reason.
        reason: RejectReason,
    },
    /// A success receipt whose action/ownership do not fit its transport.
    #[error("entwurf_v2: ill-formed success receipt — transport '{transport}' carries action/ownership '{action}'/'{ownership}', which the verdict union forbids.")]
    SuccessShape {
        /// The transport.
        transport: Transport,
        /// The action found.
        action: &'static str,
        /// The ownership found.
        ownership: &'static str,
    },
    /// The `ok` discriminant does not fit the branch.
    #[error("entwurf_v2: ill-formed receipt — \"ok\" must be {expected} for this branch.")]
    WrongOk {
        /// The expected `ok` value.
        expected: bool,
    },
}

/// A success receipt: `{ok:true, action, transport, ownership, observedLiveness}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "SuccessWire", try_from = "SuccessWire")]
pub struct SuccessReceipt {
    transport: Transport,
    observed_liveness: FactLiveness,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SuccessWire {
    ok: bool,
    action: Action,
    transport: Transport,
    ownership: Ownership,
    observed_liveness: FactLiveness,
}

impl From<SuccessReceipt> for SuccessWire {
    fn from(r: SuccessReceipt) -> Self {
        SuccessWire {
            ok: true,
            action: r.action(),
            transport: r.transport,
            ownership: r.ownership(),
            observed_liveness: r.observed_liveness,
        }
    }
}

impl TryFrom<SuccessWire> for SuccessReceipt {
    type Error = IllFormedReceipt;
    fn try_from(w: SuccessWire) -> Result<Self, Self::Error> {
        if !w.ok {
            return Err(IllFormedReceipt::WrongOk { expected: true });
        }
        if w.action != w.transport.action() || w.ownership != w.transport.ownership() {
            return Err(IllFormedReceipt::SuccessShape {
                transport: w.transport,
                action: match w.action {
                    Action::Send => "send",
                    Action::Resume => "resume",
                },
                ownership: match w.ownership {
                    Ownership::AckOnly => "ack-only",
                    Ownership::Owned => "owned",
                },
            });
        }
        Ok(SuccessReceipt::new(w.transport, w.observed_liveness))
    }
}

impl SuccessReceipt {
    /// A success on `transport`; action and ownership follow from the transport (verdict union).
    pub fn new(transport: Transport, observed_liveness: FactLiveness) -> Self {
        Self {
            transport,
            observed_liveness,
        }
    }
    /// `send` or `resume`.
    pub fn action(&self) -> Action {
        self.transport.action()
    }
    /// The chosen transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }
    /// `ack-only` or `owned`.
    pub fn ownership(&self) -> Ownership {
        self.transport.ownership()
    }
    /// The observed liveness (never null on a success).
    pub fn observed_liveness(&self) -> FactLiveness {
        self.observed_liveness
    }
}

/// A reject receipt: `{ok:false, reason, observedLiveness}`. Built only through
/// [`RejectReceipt::new`], which enforces the pre-probe-null rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RejectWire", try_from = "RejectWire")]
pub struct RejectReceipt {
    reason: RejectReason,
    observed_liveness: Option<FactLiveness>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RejectWire {
    ok: bool,
    reason: RejectReason,
    // The key is always present (a missing key is an error); its value may be null.
    #[serde(deserialize_with = "Option::deserialize")]
    observed_liveness: Option<FactLiveness>,
}

impl From<RejectReceipt> for RejectWire {
    fn from(r: RejectReceipt) -> Self {
        RejectWire {
            ok: false,
            reason: r.reason,
            observed_liveness: r.observed_liveness,
        }
    }
}

impl TryFrom<RejectWire> for RejectReceipt {
    type Error = IllFormedReceipt;
    fn try_from(w: RejectWire) -> Result<Self, Self::Error> {
        if w.ok {
            return Err(IllFormedReceipt::WrongOk { expected: false });
        }
        RejectReceipt::new(w.reason, w.observed_liveness)
    }
}

impl RejectReceipt {
    /// The one reject constructor (`makeRejectReceipt`): a pre-probe reason needs `None`, any
    /// other reason needs a value. A mismatch is an error, never a receipt.
    pub fn new(
        reason: RejectReason,
        observed_liveness: Option<FactLiveness>,
    ) -> Result<Self, IllFormedReceipt> {
        match (reason.is_pre_probe(), observed_liveness) {
            (true, Some(got)) => Err(IllFormedReceipt::PreProbeNeedsNull {
                reason,
                got: got.as_str(),
            }),
            (false, None) => Err(IllFormedReceipt::PostProbeNeedsValue { reason }),
            _ => Ok(Self {
                reason,
                observed_liveness,
            }),
        }
    }
    /// Why the dispatch was refused.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }
    /// The observed liveness; `None` exactly for the pre-probe reasons.
    pub fn observed_liveness(&self) -> Option<FactLiveness> {
        self.observed_liveness
    }
}

/// Either receipt branch (discriminated on `ok`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// `ok: true`.
    Success(SuccessReceipt),
    /// `ok: false`.
    Reject(RejectReceipt),
}

impl Receipt {
    /// The observed liveness (`None` only on a pre-probe reject).
    pub fn observed_liveness(&self) -> Option<FactLiveness> {
        match self {
            Receipt::Success(s) => Some(s.observed_liveness()),
            Receipt::Reject(r) => r.observed_liveness(),
        }
    }
}

impl Serialize for Receipt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Receipt::Success(r) => r.serialize(s),
            Receipt::Reject(r) => r.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Receipt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        match v.get("ok") {
            Some(serde_json::Value::Bool(true)) => serde_json::from_value(v)
                .map(Receipt::Success)
                .map_err(D::Error::custom),
            Some(serde_json::Value::Bool(false)) => serde_json::from_value(v)
                .map(Receipt::Reject)
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom("receipt needs a boolean \"ok\"")),
        }
    }
}

fn reject(reason: RejectReason, obs: FactLiveness) -> Result<Receipt, IllFormedReceipt> {
    RejectReceipt::new(reason, Some(obs)).map(Receipt::Reject)
}

fn success(transport: Transport, obs: FactLiveness) -> Result<Receipt, IllFormedReceipt> {
    Ok(Receipt::Success(SuccessReceipt::new(transport, obs)))
}

/// The resolve table (`resolveDispatch`, §2.5). `mailbox_deliverable` is read only on the
/// `unsupported` row. Every receipt is built through the checked constructor, so the result is a
/// `Result`; the table itself never produces an ill-formed receipt.
pub fn resolve_dispatch(
    intent: Intent,
    liveness: FactLiveness,
    mailbox_deliverable: bool,
) -> Result<Receipt, IllFormedReceipt> {
    use FactLiveness as L;
    use Intent as I;
    match (intent, liveness) {
        (I::FireAndForget, L::Unsupported) if mailbox_deliverable => {
            success(Transport::MetaMailbox, L::Unsupported)
        }
        (I::FireAndForget, L::Unsupported) => {
            reject(RejectReason::MailboxUndeliverable, L::Unsupported)
        }
        (I::OwnedOutcome, L::Unsupported) => {
            reject(RejectReason::BackendLivenessUnsupported, L::Unsupported)
        }
        (I::FireAndForget, L::Alive) => success(Transport::ControlSocket, L::Alive),
        (I::FireAndForget, L::Dead) => reject(RejectReason::DormantFireForgetUnsupported, L::Dead),
        (_, L::Indeterminate) => reject(RejectReason::IndeterminateNoSpawn, L::Indeterminate),
        (I::OwnedOutcome, L::Alive) => reject(RejectReason::OwnedLiveNoAutosend, L::Alive),
        (I::OwnedOutcome, L::Dead) => success(Transport::SpawnBg, L::Dead),
    }
}

/// The native-push table (`resolveNativePushDispatch`, §2.6). `observedLiveness` = the probe.
pub fn resolve_native_push(
    intent: Intent,
    probe: SocketLiveness,
) -> Result<Receipt, IllFormedReceipt> {
    let obs = FactLiveness::from(probe);
    match (intent, probe) {
        (Intent::OwnedOutcome, _) => reject(RejectReason::NativePushNoResumeAuthority, obs),
        (Intent::FireAndForget, SocketLiveness::Alive) => success(Transport::NativePush, obs),
        (Intent::FireAndForget, SocketLiveness::Dead) => {
            reject(RejectReason::NativePushTargetDead, obs)
        }
        (Intent::FireAndForget, SocketLiveness::Indeterminate) => {
            reject(RejectReason::NativePushProbeIndeterminate, obs)
        }
    }
}

/// Plan for a control-socket send (keys in the reference's order after `transport`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlSocketPlan {
    /// Always `send`.
    pub action: Action,
    /// The target citizen.
    pub target_garden_id: GardenId,
    /// The **inspected** canonical socket path.
    pub socket_path: PathBuf,
    /// Delivery mode.
    pub mode: Mode,
    /// Etiquette only.
    pub wants_reply: bool,
    /// The message.
    pub message: String,
}

/// Plan for a meta-mailbox enqueue (no `mode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetaMailboxPlan {
    /// Always `send`.
    pub action: Action,
    /// The target citizen.
    pub target_garden_id: GardenId,
    /// Mailbox root.
    pub mailbox_dir: PathBuf,
    /// Meta-record store.
    pub sessions_dir: PathBuf,
    /// Rendered into the body's `wants reply:` line when a sender envelope is present.
    pub wants_reply: bool,
    /// The message.
    pub message: String,
    /// The record the decision read (never serialised, so decision JSON stays the reference's):
    /// the mailbox hand enqueues to it without reading it again. `None` for a plan parsed from
    /// JSON or re-resolved after a dead connect; the hand then reads the record itself. Boxed
    /// so that a plan stays small (a move, no copy of the record, on the way to the hand).
    #[serde(skip)]
    pub record: Option<Box<MetaRecord>>,
}

/// Plan for a background resume of a dormant pi (no `mode`, no `wantsReply`): `entwurf-spawn`'s
/// type, so the plan the decider makes is the one the watcher runs.
pub use entwurf_spawn::{Millis, ReleaseWhen, ResumeAction, SpawnBgPlan};

/// Plan for a native-push send (lock-free).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NativePushPlan {
    /// Always `send`.
    pub action: Action,
    /// The target citizen.
    pub target_garden_id: GardenId,
    /// The backend (antigravity).
    pub backend: Backend,
    /// The backend's own session id.
    pub native_session_id: String,
    /// The probed route (adapter-specific, e.g. `{"lsAddress": …}`).
    pub route: serde_json::Value,
    /// Etiquette only.
    pub wants_reply: bool,
    /// The message.
    pub message: String,
}

/// What the chosen hand must do (discriminated on `transport`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "kebab-case")]
pub enum ExecutionPlan {
    /// See [`ControlSocketPlan`].
    ControlSocket(ControlSocketPlan),
    /// See [`SpawnBgPlan`].
    SpawnBg(SpawnBgPlan),
    /// See [`MetaMailboxPlan`].
    MetaMailbox(MetaMailboxPlan),
    /// See [`NativePushPlan`].
    NativePush(NativePushPlan),
}

impl ExecutionPlan {
    /// The plan's transport.
    pub fn transport(&self) -> Transport {
        match self {
            ExecutionPlan::ControlSocket(_) => Transport::ControlSocket,
            ExecutionPlan::SpawnBg(_) => Transport::SpawnBg,
            ExecutionPlan::MetaMailbox(_) => Transport::MetaMailbox,
            ExecutionPlan::NativePush(_) => Transport::NativePush,
        }
    }

    /// The plan's target.
    pub fn target_garden_id(&self) -> &GardenId {
        match self {
            ExecutionPlan::ControlSocket(p) => &p.target_garden_id,
            ExecutionPlan::SpawnBg(p) => &p.target_garden_id,
            ExecutionPlan::MetaMailbox(p) => &p.target_garden_id,
            ExecutionPlan::NativePush(p) => &p.target_garden_id,
        }
    }
}

/// Extra evidence on a reject; only `target-locked` carries one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RejectDiagnostic {
    /// Who holds the lock, and how to clear it.
    TargetLocked {
        /// The lock module's conflict.
        conflict: LockConflict,
    },
}

/// The decider's output.
///
/// Invariants: a reject holds no lock (every acquired lock was released) and carries no plan; only
/// `target-locked` carries a diagnostic; an execute has `receipt.transport == plan.transport`, and
/// its lock is `Some` exactly for control-socket and spawn-bg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DispatchDecision {
    /// Refused, with a typed reason.
    Reject {
        /// The reject receipt.
        receipt: RejectReceipt,
        /// `target-locked` evidence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diagnostic: Option<RejectDiagnostic>,
    },
    /// Go: run the plan's hand with this lock.
    Execute {
        /// The success receipt.
        receipt: SuccessReceipt,
        /// What to do.
        plan: ExecutionPlan,
        /// The held claim (control-socket, spawn-bg) or `null` (mailbox, native-push).
        lock: Option<LockClaim>,
    },
}

impl DispatchDecision {
    /// The decision's receipt.
    pub fn receipt(&self) -> Receipt {
        match self {
            DispatchDecision::Reject { receipt, .. } => Receipt::Reject(*receipt),
            DispatchDecision::Execute { receipt, .. } => Receipt::Success(*receipt),
        }
    }
}

/// What the decider receives (`DispatchInput`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchInput {
    /// The target garden id; validated by the decider before anything else.
    pub target: String,
    /// Never inferred.
    pub intent: Intent,
    /// Defaults to `follow_up` (applied by the decider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Defaults to `false` (applied by the decider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wants_reply: Option<bool>,
    /// The message.
    pub message: String,
}

impl DispatchInput {
    /// An input with no mode and no wantsReply (the decider applies the defaults).
    pub fn new(target: impl Into<String>, intent: Intent, message: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            intent,
            mode: None,
            wants_reply: None,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::ff_alive(Intent::FireAndForget, FactLiveness::Alive, false, r#"{"ok":true,"action":"send","transport":"control-socket","ownership":"ack-only","observedLiveness":"alive"}"#)]
    #[case::ff_alive_deliverable_ignored(Intent::FireAndForget, FactLiveness::Alive, true, r#"{"ok":true,"action":"send","transport":"control-socket","ownership":"ack-only","observedLiveness":"alive"}"#)]
    #[case::ff_dead(
        Intent::FireAndForget,
        FactLiveness::Dead,
        true,
        r#"{"ok":false,"reason":"dormant-fire-forget-unsupported","observedLiveness":"dead"}"#
    )]
    #[case::ff_indet(
        Intent::FireAndForget,
        FactLiveness::Indeterminate,
        true,
        r#"{"ok":false,"reason":"indeterminate-no-spawn","observedLiveness":"indeterminate"}"#
    )]
    #[case::ff_unsupported_deliverable(Intent::FireAndForget, FactLiveness::Unsupported, true, r#"{"ok":true,"action":"send","transport":"meta-mailbox","ownership":"ack-only","observedLiveness":"unsupported"}"#)]
    #[case::ff_unsupported_undeliverable(
        Intent::FireAndForget,
        FactLiveness::Unsupported,
        false,
        r#"{"ok":false,"reason":"mailbox-undeliverable","observedLiveness":"unsupported"}"#
    )]
    #[case::owned_alive(
        Intent::OwnedOutcome,
        FactLiveness::Alive,
        true,
        r#"{"ok":false,"reason":"owned-live-no-autosend","observedLiveness":"alive"}"#
    )]
    #[case::owned_dead(Intent::OwnedOutcome, FactLiveness::Dead, false, r#"{"ok":true,"action":"resume","transport":"spawn-bg","ownership":"owned","observedLiveness":"dead"}"#)]
    #[case::owned_indet(
        Intent::OwnedOutcome,
        FactLiveness::Indeterminate,
        false,
        r#"{"ok":false,"reason":"indeterminate-no-spawn","observedLiveness":"indeterminate"}"#
    )]
    #[case::owned_unsupported_deliverable(
        Intent::OwnedOutcome,
        FactLiveness::Unsupported,
        true,
        r#"{"ok":false,"reason":"backend-liveness-unsupported","observedLiveness":"unsupported"}"#
    )]
    #[case::owned_unsupported_undeliverable(
        Intent::OwnedOutcome,
        FactLiveness::Unsupported,
        false,
        r#"{"ok":false,"reason":"backend-liveness-unsupported","observedLiveness":"unsupported"}"#
    )]
    fn resolve_table(
        #[case] intent: Intent,
        #[case] liveness: FactLiveness,
        #[case] deliverable: bool,
        #[case] want: &str,
    ) {
        let r = resolve_dispatch(intent, liveness, deliverable).unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), want);
    }

    #[test]
    fn deliverable_flag_only_matters_on_the_unsupported_row() {
        for intent in INTENTS {
            for l in FACT_LIVENESSES {
                let a = resolve_dispatch(intent, l, true).unwrap();
                let b = resolve_dispatch(intent, l, false).unwrap();
                if l != FactLiveness::Unsupported || intent == Intent::OwnedOutcome {
                    assert_eq!(a, b, "{intent:?} {l:?}");
                } else {
                    assert_ne!(a, b);
                }
            }
        }
    }

    #[rstest]
    #[case::ff_alive(Intent::FireAndForget, SocketLiveness::Alive, None)]
    #[case::ff_dead(
        Intent::FireAndForget,
        SocketLiveness::Dead,
        Some(RejectReason::NativePushTargetDead)
    )]
    #[case::ff_indet(
        Intent::FireAndForget,
        SocketLiveness::Indeterminate,
        Some(RejectReason::NativePushProbeIndeterminate)
    )]
    #[case::owned_alive(
        Intent::OwnedOutcome,
        SocketLiveness::Alive,
        Some(RejectReason::NativePushNoResumeAuthority)
    )]
    #[case::owned_dead(
        Intent::OwnedOutcome,
        SocketLiveness::Dead,
        Some(RejectReason::NativePushNoResumeAuthority)
    )]
    #[case::owned_indet(
        Intent::OwnedOutcome,
        SocketLiveness::Indeterminate,
        Some(RejectReason::NativePushNoResumeAuthority)
    )]
    fn native_push_table(
        #[case] intent: Intent,
        #[case] probe: SocketLiveness,
        #[case] want: Option<RejectReason>,
    ) {
        let r = resolve_native_push(intent, probe).unwrap();
        assert_eq!(r.observed_liveness(), Some(FactLiveness::from(probe)));
        match (r, want) {
            (Receipt::Success(s), None) => assert_eq!(s.transport(), Transport::NativePush),
            (Receipt::Reject(j), Some(w)) => assert_eq!(j.reason(), w),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn ill_formed_texts_are_exact() {
        let e = RejectReceipt::new(RejectReason::BadTarget, Some(FactLiveness::Dead)).unwrap_err();
        assert_eq!(e.to_string(), "entwurf_v2: ill-formed reject receipt — reason 'bad-target' requires observedLiveness=null (pre-probe), got \"dead\".");
        let e = RejectReceipt::new(RejectReason::OwnedLiveNoAutosend, None).unwrap_err();
        assert_eq!(e.to_string(), "entwurf_v2: ill-formed reject receipt — reason 'owned-live-no-autosend' requires a non-null observedLiveness (post-probe), got null.");
    }

    #[test]
    fn every_reason_follows_the_pre_probe_rule_in_both_directions() {
        for reason in REJECT_REASONS {
            for l in FACT_LIVENESSES {
                assert_eq!(
                    RejectReceipt::new(reason, Some(l)).is_ok(),
                    !reason.is_pre_probe()
                );
            }
            assert_eq!(
                RejectReceipt::new(reason, None).is_ok(),
                reason.is_pre_probe()
            );
        }
    }

    #[test]
    fn enum_orders_and_wire_names_match_the_reference() {
        let names: Vec<_> = REJECT_REASONS.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "indeterminate-no-spawn",
                "dormant-fire-forget-unsupported",
                "owned-live-no-autosend",
                "backend-liveness-unsupported",
                "mailbox-undeliverable",
                "native-push-target-dead",
                "native-push-probe-indeterminate",
                "native-push-no-resume-authority",
                "bad-target",
                "untrusted-fail-fast",
                "socket-only-no-resume-authority",
                "target-locked",
                "target-address-conflict"
            ]
        );
        for r in REJECT_REASONS {
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        for t in TRANSPORTS {
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        let t: Vec<_> = TRANSPORTS.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            t,
            [
                "control-socket",
                "spawn-bg",
                "tmux-live",
                "meta-mailbox",
                "native-push"
            ]
        );
        assert_eq!(Mode::default(), Mode::FollowUp);
        assert_eq!(
            serde_json::to_string(&MODES).unwrap(),
            r#"["steer","follow_up"]"#
        );
        assert_eq!(
            serde_json::to_string(&INTENTS).unwrap(),
            r#"["fire-and-forget","owned-outcome"]"#
        );
        assert_eq!(
            serde_json::to_string(&FACT_LIVENESSES).unwrap(),
            r#"["alive","dead","indeterminate","unsupported"]"#
        );
    }

    #[test]
    fn tmux_live_is_a_resume_owned_transport() {
        let r = SuccessReceipt::new(Transport::TmuxLive, FactLiveness::Dead);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"ok":true,"action":"resume","transport":"tmux-live","ownership":"owned","observedLiveness":"dead"}"#
        );
    }

    #[rstest]
    #[case::ok_false_on_success(r#"{"ok":false,"action":"send","transport":"control-socket","ownership":"ack-only","observedLiveness":"alive"}"#)]
    #[case::send_owned(r#"{"ok":true,"action":"send","transport":"control-socket","ownership":"owned","observedLiveness":"alive"}"#)]
    #[case::resume_on_mailbox(r#"{"ok":true,"action":"resume","transport":"meta-mailbox","ownership":"owned","observedLiveness":"unsupported"}"#)]
    #[case::success_null_liveness(r#"{"ok":true,"action":"send","transport":"control-socket","ownership":"ack-only","observedLiveness":null}"#)]
    #[case::reject_with_action(
        r#"{"ok":false,"reason":"bad-target","observedLiveness":null,"action":"send"}"#
    )]
    #[case::reject_missing_liveness_key(r#"{"ok":false,"reason":"bad-target"}"#)]
    #[case::pre_probe_with_value(
        r#"{"ok":false,"reason":"target-locked","observedLiveness":"dead"}"#
    )]
    #[case::post_probe_null(
        r#"{"ok":false,"reason":"untrusted-fail-fast","observedLiveness":null}"#
    )]
    #[case::unknown_reason(r#"{"ok":false,"reason":"nope","observedLiveness":"dead"}"#)]
    fn malformed_receipts_do_not_parse(#[case] text: &str) {
        assert!(serde_json::from_str::<Receipt>(text).is_err(), "{text}");
    }

    #[test]
    fn fact_liveness_of_maps_off_domain_to_unsupported() {
        assert_eq!(
            fact_liveness_of(Backend::ClaudeCode, Some(SocketLiveness::Alive)),
            FactLiveness::Unsupported
        );
        assert_eq!(
            fact_liveness_of(Backend::Pi, None),
            FactLiveness::Indeterminate
        );
        assert_eq!(
            fact_liveness_of(Backend::Pi, Some(SocketLiveness::Dead)),
            FactLiveness::Dead
        );
    }
}
