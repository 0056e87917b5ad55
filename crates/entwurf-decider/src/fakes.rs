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

pub const GID: &str = "20260612T100000-aaaaaa";
pub const OTHER_GID: &str = "20260612T100500-cccccc";
pub const RELEASE_EACCES: &str =
    "EACCES: permission denied, unlink '/fake/locks/20260612T100000-aaaaaa.lock'";

pub fn gid() -> GardenId {
    GardenId::parse(GID).unwrap()
}

pub fn identity(backend: Backend) -> MetaRecord {
    identity_for(GID, backend)
}

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

pub fn claim() -> LockClaim {
    claim_for(GID)
}

pub fn conflict() -> LockConflict {
    LockConflict {
        reason: "target-locked".into(),
        lock_path: PathBuf::from(format!("/fake/locks/{GID}.lock")),
        holder: Some(claim()),
        detail: format!("held by pid 4242 on host test-host since 2026-06-12T10:00:00.000Z (file mtime 2026-06-12T10:00:00.000Z) (/fake/locks/{GID}.lock); clear it by hand if that process is gone"),
    }
}

pub fn sock() -> PathBuf {
    PathBuf::from(format!("/fake/ctl/{GID}.sock"))
}

pub fn absent() -> SocketInspection {
    SocketInspection::Absent {
        socket_path: sock(),
    }
}
pub fn socket_file() -> SocketInspection {
    SocketInspection::SocketFile {
        socket_path: sock(),
    }
}
pub fn symlink() -> SocketInspection {
    SocketInspection::AddressConflict {
        socket_path: sock(),
        reason: ConflictReason::Symlink,
    }
}
pub fn not_socket() -> SocketInspection {
    SocketInspection::AddressConflict {
        socket_path: sock(),
        reason: ConflictReason::NotSocket,
    }
}
pub fn lstat_eacces() -> SocketInspection {
    SocketInspection::Indeterminate {
        socket_path: sock(),
        error: "EACCES".into(),
    }
}

pub fn config() -> DeciderConfig {
    DeciderConfig::new("/fake/mailbox", "/fake/sessions")
}

/// A queue that repeats its last element.
#[derive(Debug, Clone)]
pub struct Seq<T: Clone>(VecDeque<T>);

impl<T: Clone> Seq<T> {
    pub fn one(v: T) -> Self {
        Self(VecDeque::from([v]))
    }
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
    pub resolution: Seq<Result<TargetResolution, IoFailure>>,
    pub acquire: Result<AcquireOutcome, IoFailure>,
    pub release: Seq<Result<(), IoFailure>>,
    pub inspection: Seq<Result<SocketInspection, IoFailure>>,
    pub probe: Seq<Result<SocketLiveness, IoFailure>>,
    pub preflight: Result<Preflight, IoFailure>,
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
    pub fn citizen(backend: Backend) -> Self {
        Self {
            resolution: Seq::one(Ok(TargetResolution::citizen(identity(backend)))),
            ..Self::default()
        }
    }
    pub fn socket_only() -> Self {
        Self {
            resolution: Seq::one(Ok(TargetResolution::socket_only())),
            ..Self::default()
        }
    }
    pub fn inspect(mut self, i: SocketInspection) -> Self {
        self.inspection = Seq::one(Ok(i));
        self
    }
    pub fn probe(mut self, p: SocketLiveness) -> Self {
        self.probe = Seq::one(Ok(p));
        self
    }
    pub fn deliverable(mut self, d: bool) -> Self {
        self.deliverable = Seq::one(d);
        self
    }
    pub fn locked(mut self) -> Self {
        self.acquire = Ok(AcquireOutcome::Conflict(conflict()));
        self
    }
    pub fn preflight(mut self, kind: PreflightKind, args: &[&str]) -> Self {
        self.preflight = Ok(Preflight {
            kind,
            launch_args: args.iter().map(|s| s.to_string()).collect(),
        });
        self
    }
    pub fn native(mut self, status: SocketLiveness) -> Self {
        self.native = Some(NativePushProbe {
            status,
            route: (status == SocketLiveness::Alive)
                .then(|| serde_json::json!({"lsAddress": "127.0.0.1:40123"})),
        });
        self
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub resolve: usize,
    pub acquire: usize,
    pub release: usize,
    pub inspect: usize,
    pub probe: usize,
    pub preflight: usize,
    pub mailbox: usize,
    pub native: usize,
}

pub struct FakeSeams {
    script: Mutex<Script>,
    calls: Mutex<Calls>,
}

impl FakeSeams {
    pub fn new(script: Script) -> Self {
        Self {
            script: Mutex::new(script),
            calls: Mutex::new(Calls::default()),
        }
    }
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
    pub sends: Mutex<Seq<Result<RpcAck, SendFailure>>>,
    pub fallback: Option<Result<DeadFallback, HandError>>,
    pub mailbox: Result<MailboxAck, IoFailure>,
    pub release: Mutex<Seq<Result<(), IoFailure>>>,
    pub seams: FakeSeams,
    pub sent_plans: Mutex<Vec<ControlSocketPlan>>,
    pub mailbox_plans: Mutex<Vec<MetaMailboxPlan>>,
    pub releases: Mutex<usize>,
    pub fallbacks: Mutex<usize>,
}

pub fn ack(success: bool) -> Result<RpcAck, SendFailure> {
    Ok(RpcAck {
        success,
        error: (!success).then(|| "Missing message".to_string()),
    })
}
pub fn dead(msg: &str) -> Result<RpcAck, SendFailure> {
    Err(SendFailure {
        class: ConnectClass::Dead,
        message: msg.into(),
    })
}
pub fn indet(msg: &str) -> Result<RpcAck, SendFailure> {
    Err(SendFailure {
        class: ConnectClass::Indeterminate,
        message: msg.into(),
    })
}

impl FakeControlDeps {
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
    pub fn failing_release(self) -> Self {
        *self.release.lock().unwrap() = Seq::one(Err(IoFailure::new(RELEASE_EACCES)));
        self
    }
    pub fn sends(&self) -> usize {
        self.sent_plans.lock().unwrap().len()
    }
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
    pub control: Option<Result<ControlSendResult, HandError>>,
    pub mailbox: Option<Result<MailboxAck, HandError>>,
    pub spawn: Option<Result<SpawnBgResumeResult, HandError>>,
    pub native: Option<Result<NativePushAck, HandError>>,
    pub calls: Mutex<Vec<(Transport, Option<LockClaim>)>>,
}

impl FakeHands {
    fn record(&self, t: Transport, lock: Option<&LockClaim>) {
        self.calls.lock().unwrap().push((t, lock.cloned()));
    }
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

pub fn golden(rel: &str) -> String {
    std::fs::read_to_string(golden_dir().join(rel)).unwrap()
}
