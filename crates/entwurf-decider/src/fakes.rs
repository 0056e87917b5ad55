//! Call-counting fakes for the decider's seams, the control hand's deps and the runner's hands,
//! plus the fixtures they answer with (garden ids, records, lock claims, golden files). Compiled
//! only with the `test-support` feature, which this crate's tests and the root matrix enable as
//! dev-dependencies; a release build never contains it. Test code: a fixture that cannot be
//! built panics.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::*;
use async_trait::async_trait;
use entwurf_control_rpc::{ConflictReason, SocketInspection, SocketLiveness};
use entwurf_lock::{AcquireOutcome, LockClaim, LockConflict};
use entwurf_meta_session::{Backend, GardenId, MetaRecord};

/// The garden id every fixture targets unless told otherwise.
pub const GID: &str = "20260612T100000-aaaaaa";
/// A second, valid garden id (a re-plan to another target, a mis-paired lock).
pub const OTHER_GID: &str = "20260612T100500-cccccc";
/// The text of a release that fails (an `EACCES` unlink of [`GID`]'s lock), as the reference's
/// receipts carry it.
pub const RELEASE_EACCES: &str =
    "EACCES: permission denied, unlink '/fake/locks/20260612T100000-aaaaaa.lock'";

/// [`GID`], parsed.
pub fn gid() -> GardenId {
    GardenId::parse(GID).unwrap()
}

/// The record of [`GID`] as a citizen of `backend`.
pub fn identity(backend: Backend) -> MetaRecord {
    identity_for(GID, backend)
}

/// A v2 record for garden id `g` on `backend`, with fixed timestamps and cwd so golden
/// comparisons are stable; panics on an invalid `g`.
pub fn identity_for(g: &str, backend: Backend) -> MetaRecord {
    MetaRecord {
        schema_version: 2,
        garden_id: GardenId::parse(g).unwrap(),
        backend,
        native_session_id: format!("native-{g}"),
        cwd: "/home/u/repos/entwurf".into(),
        model: None,
        transcript_path: None,
        parent_garden_id: None,
        is_entwurf: false,
        created_at: "2026-06-12T01:00:00.000Z".into(),
        record_updated_at: "2026-06-12T01:00:00.000Z".into(),
    }
}

/// The lock claim a fake acquire hands out for `g`: pid 4242 on `test-host`, a fixed nonce,
/// under `/fake/locks`, without a start key (the reference's bytes).
pub fn claim_for(g: &str) -> LockClaim {
    LockClaim {
        garden_id: g.into(),
        pid: 4242u32.into(),
        hostname: "test-host".into(),
        created_at: "2026-06-12T10:00:00.000Z".into(),
        nonce: "deadbeefcafef00d".into(),
        owner: "entwurf_v2".into(),
        lock_path: PathBuf::from(format!("/fake/locks/{g}.lock")),
        start_key: None,
    }
}

/// [`claim_for`] of [`GID`].
pub fn claim() -> LockClaim {
    claim_for(GID)
}

/// A `target-locked` conflict naming [`claim`] as the holder, with the reference's detail text.
pub fn conflict() -> LockConflict {
    LockConflict {
        reason: "target-locked".into(),
        lock_path: PathBuf::from(format!("/fake/locks/{GID}.lock")),
        holder: Some(claim()),
        detail: format!("held by pid 4242 on host test-host since 2026-06-12T10:00:00.000Z (file mtime 2026-06-12T10:00:00.000Z) (/fake/locks/{GID}.lock); clear it by hand if that process is gone"),
    }
}

/// [`GID`]'s control socket under the fake control dir (`/fake/ctl`).
pub fn sock() -> PathBuf {
    PathBuf::from(format!("/fake/ctl/{GID}.sock"))
}

/// Nothing at [`sock`].
pub fn absent() -> SocketInspection {
    SocketInspection::Absent {
        socket_path: sock(),
    }
}
/// A socket file at [`sock`] (worth a probe).
pub fn socket_file() -> SocketInspection {
    SocketInspection::SocketFile {
        socket_path: sock(),
    }
}
/// A symlink at [`sock`]: an address conflict, never followed.
pub fn symlink() -> SocketInspection {
    SocketInspection::AddressConflict {
        socket_path: sock(),
        reason: ConflictReason::Symlink,
    }
}
/// A regular file (or other non-socket) at [`sock`]: an address conflict.
pub fn not_socket() -> SocketInspection {
    SocketInspection::AddressConflict {
        socket_path: sock(),
        reason: ConflictReason::NotSocket,
    }
}
/// An `lstat` of [`sock`] that failed with `EACCES`: indeterminate.
pub fn lstat_eacces() -> SocketInspection {
    SocketInspection::Indeterminate {
        socket_path: sock(),
        error: "EACCES".into(),
    }
}

/// The decider configuration the fakes run with: fake mailbox and sessions dirs, defaults
/// otherwise.
pub fn config() -> DeciderConfig {
    DeciderConfig::new("/fake/mailbox", "/fake/sessions")
}

/// A queue that repeats its last element.
#[derive(Debug, Clone)]
pub struct Seq<T: Clone>(VecDeque<T>);

impl<T: Clone> Seq<T> {
    /// A queue answering `v` for ever.
    pub fn one(v: T) -> Self {
        Self(VecDeque::from([v]))
    }
    /// A queue answering `v` in order, then its last element for ever; `v` must not be empty.
    pub fn of(v: Vec<T>) -> Self {
        Self(v.into())
    }
    fn next(&mut self) -> T {
        if self.0.len() > 1 {
            self.0.pop_front().unwrap()
        } else {
            self.0.front().cloned().unwrap()
        }
    }
}

/// What the fake seams answer.
#[derive(Debug, Clone)]
pub struct Script {
    /// What `resolve_target` answers, call after call.
    pub resolution: Seq<Result<TargetResolution, IoFailure>>,
    /// What every `acquire_lock` answers.
    pub acquire: Result<AcquireOutcome, IoFailure>,
    /// What `release_lock` answers, call after call.
    pub release: Seq<Result<(), IoFailure>>,
    /// What `inspect_socket` answers, call after call.
    pub inspection: Seq<Result<SocketInspection, IoFailure>>,
    /// What `probe_socket` answers, call after call.
    pub probe: Seq<Result<SocketLiveness, IoFailure>>,
    /// What every `preflight_for_cwd` answers.
    pub preflight: Result<Preflight, IoFailure>,
    /// The mailbox deliverability verdicts, call after call.
    pub deliverable: Seq<bool>,
    /// `None`: the native-push probe fails the test if it is reached.
    pub native: Option<NativePushProbe>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            resolution: Seq::one(Ok(TargetResolution::nobody())),
            acquire: Ok(AcquireOutcome::Acquired(claim())),
            release: Seq::one(Ok(())),
            inspection: Seq::one(Ok(absent())),
            probe: Seq::one(Ok(SocketLiveness::Dead)),
            preflight: Ok(Preflight {
                kind: PreflightKind::Approve,
                launch_args: vec!["--approve".into()],
            }),
            deliverable: Seq::one(false),
            native: None,
        }
    }
}

impl Script {
    /// The default script with [`GID`] resolving to a citizen of `backend`.
    pub fn citizen(backend: Backend) -> Self {
        Self {
            resolution: Seq::one(Ok(TargetResolution::citizen(identity(backend)))),
            ..Self::default()
        }
    }
    /// The default script with [`GID`] resolving to a record-less socket-only pi.
    pub fn socket_only() -> Self {
        Self {
            resolution: Seq::one(Ok(TargetResolution::socket_only())),
            ..Self::default()
        }
    }
    /// Every inspection answers `i`.
    pub fn inspect(mut self, i: SocketInspection) -> Self {
        self.inspection = Seq::one(Ok(i));
        self
    }
    /// Every probe answers `p`.
    pub fn probe(mut self, p: SocketLiveness) -> Self {
        self.probe = Seq::one(Ok(p));
        self
    }
    /// Every deliverability check answers `d`.
    pub fn deliverable(mut self, d: bool) -> Self {
        self.deliverable = Seq::one(d);
        self
    }
    /// The acquire finds the lock held ([`conflict`]).
    pub fn locked(mut self) -> Self {
        self.acquire = Ok(AcquireOutcome::Conflict(conflict()));
        self
    }
    /// The trust preflight answers `kind` with launch arguments `args`.
    pub fn preflight(mut self, kind: PreflightKind, args: &[&str]) -> Self {
        self.preflight = Ok(Preflight {
            kind,
            launch_args: args.iter().map(|s| s.to_string()).collect(),
        });
        self
    }
    /// The native-push probe answers `status`, with a route only when alive.
    pub fn native(mut self, status: SocketLiveness) -> Self {
        self.native = Some(NativePushProbe {
            status,
            route: (status == SocketLiveness::Alive)
                .then(|| serde_json::json!({"lsAddress": "127.0.0.1:40123"})),
        });
        self
    }
}

/// How many times the decider called each seam; tests assert on these to prove what a path
/// did not touch (no lock, no probe, no spawn).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    /// `resolve_target` calls.
    pub resolve: usize,
    /// `acquire_lock` calls.
    pub acquire: usize,
    /// `release_lock` calls.
    pub release: usize,
    /// `inspect_socket` calls.
    pub inspect: usize,
    /// `probe_socket` calls.
    pub probe: usize,
    /// `preflight_for_cwd` calls.
    pub preflight: usize,
    /// `mailbox_deliverability_for` calls.
    pub mailbox: usize,
    /// `native_push_probe` calls.
    pub native: usize,
}

/// [`DispatchSeams`] answering from a [`Script`] and counting each call in [`Calls`].
pub struct FakeSeams {
    script: Mutex<Script>,
    calls: Mutex<Calls>,
}

impl FakeSeams {
    /// Seams answering from `script`, no call counted yet.
    pub fn new(script: Script) -> Self {
        Self {
            script: Mutex::new(script),
            calls: Mutex::new(Calls::default()),
        }
    }
    /// The calls so far.
    pub fn calls(&self) -> Calls {
        *self.calls.lock().unwrap()
    }
    fn count(&self, f: impl FnOnce(&mut Calls)) {
        f(&mut self.calls.lock().unwrap());
    }
}

#[async_trait]
impl DispatchSeams for FakeSeams {
    async fn resolve_target(&self, _gid: &GardenId) -> Result<TargetResolution, IoFailure> {
        self.count(|c| c.resolve += 1);
        self.script.lock().unwrap().resolution.next()
    }
    async fn acquire_lock(&self, _gid: &GardenId) -> Result<AcquireOutcome, IoFailure> {
        self.count(|c| c.acquire += 1);
        self.script.lock().unwrap().acquire.clone()
    }
    async fn release_lock(&self, _claim: &LockClaim) -> Result<(), IoFailure> {
        self.count(|c| c.release += 1);
        self.script.lock().unwrap().release.next()
    }
    async fn inspect_socket(&self, _gid: &GardenId) -> Result<SocketInspection, IoFailure> {
        self.count(|c| c.inspect += 1);
        self.script.lock().unwrap().inspection.next()
    }
    async fn probe_socket(&self, _p: &Path) -> Result<SocketLiveness, IoFailure> {
        self.count(|c| c.probe += 1);
        self.script.lock().unwrap().probe.next()
    }
    async fn preflight_for_cwd(&self, _cwd: &str) -> Result<Preflight, IoFailure> {
        self.count(|c| c.preflight += 1);
        self.script.lock().unwrap().preflight.clone()
    }
    async fn mailbox_deliverability_for(
        &self,
        _identity: &MetaRecord,
    ) -> Result<Deliverability, IoFailure> {
        self.count(|c| c.mailbox += 1);
        let deliverable = self.script.lock().unwrap().deliverable.next();
        Ok(Deliverability {
            deliverable,
            reason: "fake".into(),
        })
    }
    async fn native_push_probe(
        &self,
        _identity: &MetaRecord,
    ) -> Result<NativePushProbe, IoFailure> {
        self.count(|c| c.native += 1);
        match self.script.lock().unwrap().native.clone() {
            Some(p) => Ok(p),
            None => panic!("the native-push probe must not be reached"),
        }
    }
}

/// Control-hand deps: scripted socket sends, an optional scripted fallback (else the real
/// resolver over `seams`), a scripted mailbox answer and release.
pub struct FakeControlDeps {
    /// What each socket send answers, in order.
    pub sends: Mutex<Seq<Result<RpcAck, SendFailure>>>,
    /// A scripted dead-connect fallback; `None` runs the real resolver over [`Self::seams`].
    pub fallback: Option<Result<DeadFallback, HandError>>,
    /// What a mailbox send answers.
    pub mailbox: Result<MailboxAck, IoFailure>,
    /// What each release answers, in order.
    pub release: Mutex<Seq<Result<(), IoFailure>>>,
    /// The seams the real fallback resolver re-inspects and probes through.
    pub seams: FakeSeams,
    /// Every plan sent over the socket, in order.
    pub sent_plans: Mutex<Vec<ControlSocketPlan>>,
    /// Every plan sent through the mailbox, in order.
    pub mailbox_plans: Mutex<Vec<MetaMailboxPlan>>,
    /// How many releases were made.
    pub releases: Mutex<usize>,
    /// How many dead-connect fallbacks were asked for.
    pub fallbacks: Mutex<usize>,
}

/// A completed send: `success`, or a refusal with the reference's `Missing message` text.
pub fn ack(success: bool) -> Result<RpcAck, SendFailure> {
    Ok(RpcAck {
        success,
        error: (!success).then(|| "Missing message".to_string()),
    })
}
/// A send whose connect failed *dead* (nobody listens; a retry is safe) with `msg`.
pub fn dead(msg: &str) -> Result<RpcAck, SendFailure> {
    Err(SendFailure {
        class: ConnectClass::Dead,
        message: msg.into(),
    })
}
/// A send that failed *indeterminately* (it may have been delivered; never retried) with `msg`.
pub fn indet(msg: &str) -> Result<RpcAck, SendFailure> {
    Err(SendFailure {
        class: ConnectClass::Indeterminate,
        message: msg.into(),
    })
}

impl FakeControlDeps {
    /// Deps answering `sends` in order, a successful mailbox and release, and the real fallback
    /// over seams scripted by `seams`.
    pub fn new(sends: Vec<Result<RpcAck, SendFailure>>, seams: Script) -> Self {
        Self {
            sends: Mutex::new(Seq::of(sends)),
            fallback: None,
            mailbox: Ok(MailboxAck {
                success: true,
                ..Default::default()
            }),
            release: Mutex::new(Seq::one(Ok(()))),
            seams: FakeSeams::new(seams),
            sent_plans: Mutex::new(vec![]),
            mailbox_plans: Mutex::new(vec![]),
            releases: Mutex::new(0),
            fallbacks: Mutex::new(0),
        }
    }
    /// Every release fails with [`RELEASE_EACCES`].
    pub fn failing_release(self) -> Self {
        *self.release.lock().unwrap() = Seq::one(Err(IoFailure::new(RELEASE_EACCES)));
        self
    }
    /// How many socket sends were made.
    pub fn sends(&self) -> usize {
        self.sent_plans.lock().unwrap().len()
    }
    /// How many releases were made.
    pub fn releases(&self) -> usize {
        *self.releases.lock().unwrap()
    }
}

#[async_trait]
impl ControlSendDeps for FakeControlDeps {
    async fn send_over_socket(&self, plan: &ControlSocketPlan) -> Result<RpcAck, SendFailure> {
        self.sent_plans.lock().unwrap().push(plan.clone());
        self.sends.lock().unwrap().next()
    }
    async fn dead_fallback(
        &self,
        plan: &ControlSocketPlan,
        lock: &LockClaim,
    ) -> Result<DeadFallback, HandError> {
        *self.fallbacks.lock().unwrap() += 1;
        match &self.fallback {
            Some(f) => f.clone(),
            None => resolve_dead_control_send_fallback(plan, lock, &self.seams, &config()).await,
        }
    }
    async fn send_via_mailbox(&self, plan: &MetaMailboxPlan) -> Result<MailboxAck, IoFailure> {
        self.mailbox_plans.lock().unwrap().push(plan.clone());
        self.mailbox.clone()
    }
    async fn release_lock(&self, _claim: &LockClaim) -> Result<(), IoFailure> {
        *self.releases.lock().unwrap() += 1;
        self.release.lock().unwrap().next()
    }
}

/// Runner hands: each answers from a script and counts its calls.
#[derive(Default)]
pub struct FakeHands {
    /// The control-socket hand's answer; `None` panics if that hand is called.
    pub control: Option<Result<ControlSendResult, HandError>>,
    /// The mailbox hand's answer; `None` panics if that hand is called.
    pub mailbox: Option<Result<MailboxAck, HandError>>,
    /// The spawn-bg hand's answer; `None` panics if that hand is called.
    pub spawn: Option<Result<SpawnBgResumeResult, HandError>>,
    /// The native-push hand's answer; `None` panics if that hand is called.
    pub native: Option<Result<NativePushAck, HandError>>,
    /// Every hand call: its transport and the lock it was given.
    pub calls: Mutex<Vec<(Transport, Option<LockClaim>)>>,
}

impl FakeHands {
    fn record(&self, t: Transport, lock: Option<&LockClaim>) {
        self.calls.lock().unwrap().push((t, lock.cloned()));
    }
    /// How many hands ran (the runner must run exactly one per execute decision).
    pub fn call_count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

fn scripted<T: Clone>(v: &Option<Result<T, HandError>>, t: Transport) -> Result<T, HandError> {
    v.clone()
        .unwrap_or_else(|| panic!("hand {t} was not scripted but was called"))
}

#[async_trait]
impl TransportHands for FakeHands {
    async fn send_control(
        &self,
        _p: &ControlSocketPlan,
        lock: Option<&LockClaim>,
    ) -> Result<ControlSendResult, HandError> {
        self.record(Transport::ControlSocket, lock);
        scripted(&self.control, Transport::ControlSocket)
    }
    async fn send_mailbox(
        &self,
        _p: &MetaMailboxPlan,
        lock: Option<&LockClaim>,
    ) -> Result<MailboxAck, HandError> {
        self.record(Transport::MetaMailbox, lock);
        scripted(&self.mailbox, Transport::MetaMailbox)
    }
    async fn resume_spawn_bg(
        &self,
        _p: &SpawnBgPlan,
        lock: Option<&LockClaim>,
    ) -> Result<SpawnBgResumeResult, HandError> {
        self.record(Transport::SpawnBg, lock);
        scripted(&self.spawn, Transport::SpawnBg)
    }
    async fn send_native_push(
        &self,
        _p: &NativePushPlan,
        lock: Option<&LockClaim>,
    ) -> Result<NativePushAck, HandError> {
        self.record(Transport::NativePush, lock);
        scripted(&self.native, Transport::NativePush)
    }
}

/// `fixtures/golden/receipts`, found upward from the crate (or workspace) directory.
pub fn golden_dir() -> PathBuf {
    // CARGO_MANIFEST_DIR is the crate or the workspace root; find fixtures/golden upward.
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("fixtures/golden/receipts");
        if candidate.is_dir() {
            return candidate;
        }
        assert!(dir.pop(), "fixtures/golden/receipts not found");
    }
}

/// The golden file `rel` under [`golden_dir`]; panics when it cannot be read.
pub fn golden(rel: &str) -> String {
    std::fs::read_to_string(golden_dir().join(rel)).unwrap()
}
