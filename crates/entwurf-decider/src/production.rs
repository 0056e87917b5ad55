//! Production wiring (`makeProductionEntwurfV2Deps`): one set of directories for every hand, the
//! real lock, the meta-session store, lstat inspection and connect probe, the RPC client and the
//! mailbox enqueue. The environment is never read here: the caller (CLI) passes directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use entwurf_control_rpc::{
    inspect, probe_connect, send_message, socket_path, FailureClass, ProbeConnection, Probed,
    SendMode, SendRequest, SenderEnvelope, SocketInspection, SocketLiveness, DEFAULT_RPC_TIMEOUT,
};
use entwurf_lock::{AcquireOutcome, Lock, LockClaim};
use entwurf_meta_session::{read_record, Backend, GardenId, MetaRecord, RecordError};

use crate::contract::{
    ControlSocketPlan, DispatchInput, MetaMailboxPlan, Mode, NativePushPlan, SpawnBgPlan, Transport,
};
use crate::decider::DecideError;
use crate::hands::{
    execute_control_socket_send, resolve_dead_control_send_fallback, ConnectClass, ControlSendDeps,
    ControlSendResult, DeadFallback, HandError, LockRelease, MailboxAck, NativePushAck,
    NativePushHand, RpcAck, SendFailure, SpawnBgHand, SpawnBgResumeResult, SpawnBgUnavailable,
    TransportHands,
};
use crate::release::{check_in_domain_lock, ReleasePolicyError};
use crate::runner::{run, RunResult};
use crate::seams::{
    DeciderConfig, Deliverability, DispatchSeams, IoFailure, NativePushProbe, Preflight,
    TargetResolution,
};

/// The directories every production hand shares (resolved once, at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionDirs {
    /// Meta records (`<gid>.meta.json`).
    pub sessions: PathBuf,
    /// Mailbox root (`<gid>/…`).
    pub mailbox: PathBuf,
    /// Receiver markers (`<gid>.json`).
    pub receivers: PathBuf,
    /// Dispatch locks (`<gid>.lock`).
    pub lock: PathBuf,
    /// Control sockets (`<gid>.sock`).
    pub control: PathBuf,
}

/// Builds the sender envelope for each send attempt (`None`: no envelope; the RPC omits
/// `sender` and the mailbox gets the raw message).
pub type SenderProvider = Arc<dyn Fn() -> Option<SenderEnvelope> + Send + Sync>;

/// The native-push adapter seam (probe for the decider, send for the hand).
#[async_trait]
pub trait NativePushAdapter: NativePushHand {
    /// Probe the citizen's native conversation.
    async fn probe(&self, identity: &MetaRecord) -> Result<NativePushProbe, IoFailure>;
}

/// The adapter of a build without one: every probe is a typed error, nothing is ever sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativePushNotWired;

#[async_trait]
impl NativePushHand for NativePushNotWired {
    async fn send(&self, plan: &NativePushPlan) -> Result<NativePushAck, HandError> {
        crate::hands::NativePushUnavailable.send(plan).await
    }
}

#[async_trait]
impl NativePushAdapter for NativePushNotWired {
    async fn probe(&self, identity: &MetaRecord) -> Result<NativePushProbe, IoFailure> {
        Err(IoFailure::new(format!(
            "entwurf-v2-production: transport not available: native-push — no adapter for backend {} is wired in this build, so citizen {} cannot be probed or sent to.",
            identity.backend, identity.garden_id
        )))
    }
}

use entwurf_spawn::{PiLine, PreflightConfig};

/// The line of the pi program spawn-bg launches, read from that pi on first use (its installed
/// `package.json`, else `<pi> --version`) and shared by every clone, so a process reads it once.
/// A pi whose version cannot be read gets the strictest line's rules.
#[derive(Debug, Clone)]
pub struct LaunchedPiLine {
    program: PathBuf,
    path_env: Option<std::ffi::OsString>,
    line: Arc<std::sync::OnceLock<PiLine>>,
}

impl LaunchedPiLine {
    /// The line of `program` (`path_env` finds a bare command name); nothing is read yet.
    pub fn new(program: PathBuf, path_env: Option<std::ffi::OsString>) -> Self {
        Self {
            program,
            path_env,
            line: Arc::default(),
        }
    }

    /// The line, read on the first call.
    pub fn line(&self) -> PiLine {
        *self.line.get_or_init(|| {
            entwurf_spawn::pi_line::installed_pi_version(&self.program, self.path_env.as_deref())
                .map(|v| PiLine::of_version(&v))
                .unwrap_or(PiLine::STRICTEST)
        })
    }
}

/// Which pi line's trust rules the preflight applies: a fixed one, or the launched pi's.
#[derive(Debug)]
enum TrustLine {
    Fixed(PiLine),
    Launched(LaunchedPiLine),
}

impl TrustLine {
    fn line(&self) -> PiLine {
        match self {
            TrustLine::Fixed(line) => *line,
            TrustLine::Launched(launched) => launched.line(),
        }
    }
}

/// The connections of alive probes, kept (one per socket path) from the probe under the lock
/// until the send that follows takes it, or until the lock for that target is released.
#[derive(Debug, Default)]
struct ProbeStash(std::sync::Mutex<Vec<ProbeConnection>>);

impl ProbeStash {
    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<ProbeConnection>> {
        // A panic elsewhere cannot leave the list half-updated: every change is one push/remove.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `conn`, replacing (closing) an older one to the same path.
    fn put(&self, conn: ProbeConnection) {
        let mut slots = self.slots();
        slots.retain(|c| c.path() != conn.path());
        slots.push(conn);
    }

    /// Takes the kept connection to `path`, if any.
    fn take(&self, path: &Path) -> Option<ProbeConnection> {
        let mut slots = self.slots();
        let i = slots.iter().position(|c| c.path() == path)?;
        Some(slots.swap_remove(i))
    }

    fn len(&self) -> usize {
        self.slots().len()
    }
}

/// Real IO for the decider and every hand.
pub struct Production {
    dirs: ProductionDirs,
    config: DeciderConfig,
    lock: Lock,
    sender: SenderProvider,
    home: Option<String>,
    preflight: PreflightConfig,
    trust_line: TrustLine,
    spawn_bg: Arc<dyn SpawnBgHand>,
    native_push: Arc<dyn NativePushAdapter>,
    probes: ProbeStash,
}

impl std::fmt::Debug for Production {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Production")
            .field("dirs", &self.dirs)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Production {
    /// Production IO over `dirs`: no sender envelope, default observe timeout, no home for `~`
    /// abbreviation, a preflight whose agent dir is the parent of the sessions dir (override
    /// with [`Production::with_preflight`]), and the "transport not available" spawn-bg and
    /// native-push hands.
    pub fn new(dirs: ProductionDirs) -> Self {
        let agent_dir = dirs
            .sessions
            .parent()
            .map_or_else(|| dirs.sessions.clone(), Path::to_path_buf);
        Self {
            config: DeciderConfig::new(dirs.mailbox.clone(), dirs.sessions.clone()),
            lock: Lock::new(dirs.lock.clone()),
            dirs,
            sender: Arc::new(|| None),
            home: None,
            preflight: PreflightConfig {
                agent_dir,
                prefix_roots: Vec::new(),
                home_dir: None,
                pi_line: PiLine::STRICTEST,
            },
            trust_line: TrustLine::Fixed(PiLine::STRICTEST),
            spawn_bg: Arc::new(SpawnBgUnavailable),
            native_push: Arc::new(NativePushNotWired),
            probes: ProbeStash::default(),
        }
    }

    /// Sets the per-send sender envelope provider.
    pub fn with_sender(mut self, sender: SenderProvider) -> Self {
        self.sender = sender;
        self
    }

    /// Sets `$HOME` (only used to `~`-abbreviate the sender cwd in mailbox bodies).
    pub fn with_home(mut self, home: Option<String>) -> Self {
        self.home = home;
        self
    }

    /// Sets the spawn observe timeout put into spawn-bg plans.
    pub fn with_observe_timeout_ms(mut self, ms: u64) -> Self {
        self.config.observe_timeout_ms = ms;
        self
    }

    /// Sets the trust preflight configuration; its `pi_line` is the line whose rules apply
    /// (replacing an earlier [`Production::with_pi_program`]).
    pub fn with_preflight(mut self, preflight: PreflightConfig) -> Self {
        self.trust_line = TrustLine::Fixed(preflight.pi_line);
        self.preflight = preflight;
        self
    }

    /// Sets the trust preflight from its parts: the agent dir holding `trust.json`, the operator
    /// prefix roots (`ENTWURF_PREFIX_ROOTS`, already split), and the home dir for `~`. Which pi
    /// line's rules apply is left as it is ([`Production::with_pi_program`]).
    pub fn with_trust(
        mut self,
        agent_dir: PathBuf,
        prefix_roots: Vec<String>,
        home_dir: Option<PathBuf>,
    ) -> Self {
        self.preflight = PreflightConfig {
            agent_dir,
            prefix_roots,
            home_dir,
            pi_line: self.preflight.pi_line,
        };
        self
    }

    /// The preflight judges projects by the rules of the pi `program` that spawn-bg launches
    /// (`path_env` finds a bare command name). Its version is read on the first preflight and
    /// kept; an unreadable one gets the strictest line's rules. Without this (or
    /// [`Production::with_pi_line`]) the strictest line's rules apply.
    pub fn with_pi_program(self, program: PathBuf, path_env: Option<std::ffi::OsString>) -> Self {
        self.with_launched_pi_line(LaunchedPiLine::new(program, path_env))
    }

    /// [`Production::with_pi_program`] with a line that may already have been read (it is
    /// shared with its clones: several productions of one process read it once).
    pub fn with_launched_pi_line(mut self, launched: LaunchedPiLine) -> Self {
        self.trust_line = TrustLine::Launched(launched);
        self
    }

    /// The preflight judges projects by `line`'s rules (when the launched pi's line is known).
    pub fn with_pi_line(mut self, line: PiLine) -> Self {
        self.trust_line = TrustLine::Fixed(line);
        self
    }

    /// Plugs in a spawn-bg hand (it must release through the [`LockRelease`] it is given).
    pub fn with_spawn_bg(mut self, hand: Arc<dyn SpawnBgHand>) -> Self {
        self.spawn_bg = hand;
        self
    }

    /// Plugs in a native-push adapter.
    pub fn with_native_push(mut self, adapter: Arc<dyn NativePushAdapter>) -> Self {
        self.native_push = adapter;
        self
    }

    /// The directories.
    pub fn dirs(&self) -> &ProductionDirs {
        &self.dirs
    }

    /// The decider configuration.
    pub fn config(&self) -> &DeciderConfig {
        &self.config
    }

    fn canonical_socket(&self, gid: &GardenId) -> PathBuf {
        socket_path(&self.dirs.control, gid)
    }

    /// How many alive-probe connections are being kept for a send (0 between dispatches).
    pub fn kept_probe_connections(&self) -> usize {
        self.probes.len()
    }

    fn release_blocking(&self, claim: &LockClaim) -> Result<(), IoFailure> {
        // A probe connection no send took (a reject, an error, a spawn) is closed while the lock
        // is still held, so nothing outlives the lock taken before the probe.
        let kept = self.dirs.control.join(format!("{}.sock", claim.garden_id));
        drop(self.probes.take(&kept));
        self.lock
            .release(claim)
            .map(|_| ())
            .map_err(IoFailure::from_error)
    }
}

/// Runs one dispatch over production IO: decide exactly once, then run one hand.
///
/// Timeouts: the probe never waits (a Unix-socket connect completes or fails at once; an error
/// other than refused/absent is `indeterminate`), the RPC gives up after 5000 ms (a failed,
/// never retried send). A peer that vanishes before answering makes the send `failed` (or, on a
/// refused connect, one re-resolve under the same lock). A decider error (invalid gid, corrupt
/// record, lock IO, …) is returned as `Err` with any lock already released.
pub async fn dispatch(
    production: &Production,
    input: DispatchInput,
) -> Result<RunResult, DecideError> {
    run(&input, &production.config, production, production).await
}

#[async_trait]
impl DispatchSeams for Production {
    async fn resolve_target(&self, gid: &GardenId) -> Result<TargetResolution, IoFailure> {
        let sessions = &self.dirs.sessions;
        // One read instead of a stat and a read: a missing record is the read's `NotFound`.
        let identity = match read_record(sessions, gid) {
            Ok(identity) => Some(identity),
            Err(RecordError::NotFound { .. }) => None,
            Err(e) => return Err(IoFailure::from_error(e)),
        };
        let socket = self.canonical_socket(gid);
        let Some(identity) = identity else {
            // One lstat, no connect: only a real socket file (not a symlink) is promoted.
            let promoted = matches!(inspect(&socket), SocketInspection::SocketFile { .. });
            return Ok(TargetResolution {
                identity: None,
                pre_probe_address_conflict: false,
                socket_only_pi: promoted,
            });
        };
        if identity.backend == Backend::Pi {
            return Ok(TargetResolution::citizen(identity));
        }
        let conflict = match inspect(&socket) {
            SocketInspection::Absent { .. } => false,
            SocketInspection::SocketFile { .. } | SocketInspection::AddressConflict { .. } => true,
            SocketInspection::Indeterminate { error, .. } => {
                return Err(IoFailure::new(format!(
                    "entwurf-v2-production: cannot resolve target {gid} — its control socket lstat is indeterminate ({error}); refusing to claim \"no address conflict\"."
                )))
            }
        };
        Ok(TargetResolution {
            identity: Some(identity),
            pre_probe_address_conflict: conflict,
            socket_only_pi: false,
        })
    }

    async fn acquire_lock(&self, gid: &GardenId) -> Result<AcquireOutcome, IoFailure> {
        self.lock.acquire(gid).map_err(IoFailure::from_error)
    }

    async fn release_lock(&self, claim: &LockClaim) -> Result<(), IoFailure> {
        self.release_blocking(claim)
    }

    async fn inspect_socket(&self, gid: &GardenId) -> Result<SocketInspection, IoFailure> {
        Ok(inspect(&self.canonical_socket(gid)))
    }

    /// The connect probe; an alive probe's connection is kept for the send that follows under
    /// the same lock (one connection per dispatch instead of two).
    async fn probe_socket(&self, socket_path: &Path) -> Result<SocketLiveness, IoFailure> {
        let probed = probe_connect(socket_path);
        let liveness = probed.liveness();
        if let Probed::Alive(conn) = probed {
            self.probes.put(conn);
        }
        Ok(liveness)
    }

    async fn preflight_for_cwd(&self, cwd: &str) -> Result<Preflight, IoFailure> {
        let config = PreflightConfig {
            pi_line: self.trust_line.line(),
            ..self.preflight.clone()
        };
        let p = entwurf_spawn::preflight_for_cwd(Path::new(cwd), &config)
            .map_err(IoFailure::from_error)?;
        Ok(Preflight {
            kind: p.kind,
            launch_args: p.launch_args,
        })
    }

    async fn mailbox_deliverability_for(
        &self,
        identity: &MetaRecord,
    ) -> Result<Deliverability, IoFailure> {
        Ok(entwurf_mailbox::mailbox_deliverability_for(
            &self.dirs.receivers,
            identity,
        ))
    }

    async fn native_push_probe(&self, identity: &MetaRecord) -> Result<NativePushProbe, IoFailure> {
        self.native_push.probe(identity).await
    }
}

#[async_trait]
impl LockRelease for Production {
    async fn release(&self, claim: &LockClaim) -> std::io::Result<()> {
        Ok(self.release_blocking(claim)?)
    }
}

fn send_mode(mode: Mode) -> SendMode {
    match mode {
        Mode::Steer => SendMode::Steer,
        Mode::FollowUp => SendMode::FollowUp,
    }
}

#[async_trait]
impl ControlSendDeps for Production {
    async fn send_over_socket(&self, plan: &ControlSocketPlan) -> Result<RpcAck, SendFailure> {
        let request = SendRequest {
            message: plan.message.clone(),
            mode: send_mode(plan.mode),
            wants_reply: plan.wants_reply,
            // Rebuilt per attempt, so a retry carries a fresh timestamp.
            sender: (self.sender)(),
        };
        // The alive probe's connection when there is one (same bytes, same error classes; a
        // peer that closed it before the request went out gets a fresh connect), else a new one.
        let sent = match self.probes.take(&plan.socket_path) {
            Some(conn) => conn.send_message(request, DEFAULT_RPC_TIMEOUT).await,
            None => send_message(&plan.socket_path, request).await,
        };
        match sent {
            Ok(ack) => Ok(RpcAck {
                success: ack.success,
                error: ack.error,
            }),
            Err(e) => Err(SendFailure {
                class: match e.class() {
                    FailureClass::Dead => ConnectClass::Dead,
                    FailureClass::Indeterminate => ConnectClass::Indeterminate,
                },
                message: e.to_string(),
            }),
        }
    }

    async fn dead_fallback(
        &self,
        plan: &ControlSocketPlan,
        lock: &LockClaim,
    ) -> Result<DeadFallback, HandError> {
        resolve_dead_control_send_fallback(plan, lock, self, &self.config).await
    }

    async fn send_via_mailbox(&self, plan: &MetaMailboxPlan) -> Result<MailboxAck, IoFailure> {
        self.enqueue_for_plan(plan)
    }

    async fn release_lock(&self, claim: &LockClaim) -> Result<(), IoFailure> {
        self.release_blocking(claim)
    }
}

impl Production {
    /// The production mailbox send: render the body, then enqueue exactly once, to the plan's
    /// record when the decision read one (moments ago, in `resolve_target`), otherwise after
    /// reading the record as the reference's enqueue does.
    fn enqueue_for_plan(&self, plan: &MetaMailboxPlan) -> Result<MailboxAck, IoFailure> {
        let sender = (self.sender)();
        let body = entwurf_mailbox::render_body(
            sender.as_ref(),
            &plan.message,
            plan.wants_reply,
            self.home.as_deref(),
        );
        let now = chrono::Utc::now();
        let tags = &mut entwurf_mailbox::RandomTags;
        match plan
            .record
            .as_ref()
            .filter(|r| r.garden_id == plan.target_garden_id)
        {
            Some(record) => entwurf_mailbox::enqueue_resolved(
                record,
                &plan.sessions_dir,
                &plan.mailbox_dir,
                &body,
                now,
                tags,
            ),
            None => entwurf_mailbox::enqueue(
                &plan.sessions_dir,
                &plan.mailbox_dir,
                &plan.target_garden_id,
                &body,
                now,
                tags,
            ),
        }
        .map(|e| MailboxAck {
            success: true,
            state_set_aside: e.state_set_aside,
        })
        .map_err(IoFailure::from_error)
    }
}

#[async_trait]
impl TransportHands for Production {
    async fn send_control(
        &self,
        plan: &ControlSocketPlan,
        lock: Option<&LockClaim>,
    ) -> Result<ControlSendResult, HandError> {
        execute_control_socket_send(plan, lock, self).await
    }

    async fn send_mailbox(
        &self,
        plan: &MetaMailboxPlan,
        lock: Option<&LockClaim>,
    ) -> Result<MailboxAck, HandError> {
        if lock.is_some() {
            return Err(ReleasePolicyError::MailboxWithLock.into());
        }
        // Exactly one enqueue; an error propagates (the runner reports execution-failed).
        Ok(self.enqueue_for_plan(plan)?)
    }

    async fn resume_spawn_bg(
        &self,
        plan: &SpawnBgPlan,
        lock: Option<&LockClaim>,
    ) -> Result<SpawnBgResumeResult, HandError> {
        let lock = check_in_domain_lock(Transport::SpawnBg, plan.target_garden_id.as_str(), lock)?;
        self.spawn_bg.resume(plan, lock, self).await
    }

    async fn send_native_push(
        &self,
        plan: &NativePushPlan,
        lock: Option<&LockClaim>,
    ) -> Result<NativePushAck, HandError> {
        if lock.is_some() {
            return Err(ReleasePolicyError::NativePushWithLock.into());
        }
        self.native_push.send(plan).await
    }
}
