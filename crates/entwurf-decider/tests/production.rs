//! Production wiring over real temp dirs, real unix sockets (the control-rpc crate's server) and
//! the real lock: the reference's e2e rows, the socket-only promotion rules, and the send hand's
//! outcomes (sent, rejected, failed, a socket that dies between probe and send, a release that
//! fails after delivery).

use entwurf_decider::fakes;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use entwurf_control_rpc::test_support::{Script as PeerScript, ScriptedListener};
use entwurf_control_rpc::{
    DeliveredAs, Handler, SendData, SendRequest, Server, ServerHandle, SocketInspection,
    SocketLiveness,
};
use entwurf_decider::*;
use entwurf_lock::{AcquireOutcome, LockClaim};
use entwurf_meta_session::{
    write_receiver_marker, write_record, ArmProvenance, Backend, GardenId, MetaRecord,
    ReceiverMarkerInput,
};
use fakes::{golden, identity_for, GID};

struct World {
    _tmp: tempfile::TempDir,
    dirs: ProductionDirs,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        let dirs = ProductionDirs {
            sessions: r.join("sessions"),
            mailbox: r.join("mailbox"),
            receivers: r.join("receivers"),
            lock: r.join("locks"),
            control: r.join("ctl"),
        };
        std::fs::create_dir_all(&dirs.control).unwrap();
        Self { _tmp: tmp, dirs }
    }
    fn production(&self) -> Production {
        Production::new(self.dirs.clone())
    }
    fn record(&self, backend: Backend) -> MetaRecord {
        let r = identity_for(GID, backend);
        write_record(&self.dirs.sessions, &r).unwrap();
        r
    }
    fn sock(&self) -> PathBuf {
        self.dirs.control.join(format!("{GID}.sock"))
    }
    fn lock_dir_entries(&self) -> Vec<String> {
        match std::fs::read_dir(&self.dirs.lock) {
            Err(_) => vec![],
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
        }
    }
    fn lock_file(&self) -> PathBuf {
        self.dirs.lock.join(format!("{GID}.lock"))
    }
}

fn gid() -> GardenId {
    GardenId::parse(GID).unwrap()
}

fn golden_sender() -> SenderEnvelope {
    let line = golden_rpc("req-send-full.jsonl");
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    serde_json::from_value(v["sender"].clone()).unwrap()
}

fn golden_rpc(name: &str) -> String {
    let dir = fakes::golden_dir().parent().unwrap().join("rpc");
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// A citizen that records every send and answers as told.
#[derive(Clone)]
struct Citizen {
    received: Arc<Mutex<Vec<SendRequest>>>,
    refuse: Option<String>,
    /// Runs while the send is being delivered (before the ack is written).
    during: Arc<dyn Fn() + Send + Sync>,
}

impl Citizen {
    fn accepting() -> Self {
        Self {
            received: Arc::default(),
            refuse: None,
            during: Arc::new(|| {}),
        }
    }
    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

#[async_trait]
impl Handler for Citizen {
    async fn on_send(&self, request: SendRequest) -> Result<SendData, String> {
        let wants_reply = request.wants_reply;
        self.received.lock().unwrap().push(request);
        (self.during)();
        match &self.refuse {
            Some(e) => Err(e.clone()),
            None => Ok(SendData {
                delivered: true,
                delivered_as: DeliveredAs::Direct,
                wants_reply,
            }),
        }
    }
}

async fn serve(world: &World, citizen: &Citizen) -> ServerHandle {
    Server::bind(&world.dirs.control, &gid(), citizen.clone())
        .await
        .unwrap()
}

fn ff(message: &str) -> DispatchInput {
    DispatchInput::new(GID, Intent::FireAndForget, message)
}

#[tokio::test]
async fn e2e_socket_only_sent_delivers_once_and_leaves_no_lock() {
    let w = World::new();
    let citizen = Citizen::accepting();
    let server = serve(&w, &citizen).await;
    let sender = golden_sender();
    let s2 = sender.clone();
    let p = w
        .production()
        .with_sender(Arc::new(move || Some(s2.clone())));
    let mut input = ff("hello over the control socket\nline two — ünïcode ✓");
    input.mode = Some(Mode::Steer);
    input.wants_reply = Some(true);
    let r = dispatch(&p, input).await.unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/socket-only-sent.json"));
    assert!(r.delivered());
    assert_eq!(w.lock_dir_entries(), Vec::<String>::new());
    let got = citizen.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].mode, entwurf_control_rpc::SendMode::Steer);
    assert!(got[0].wants_reply);
    assert_eq!(got[0].sender.as_ref(), Some(&sender));
    server.shutdown().await;
}

#[tokio::test]
async fn e2e_socket_only_in_band_refusal_is_rejected_without_fallback() {
    let w = World::new();
    let citizen = Citizen {
        refuse: Some("Missing message".into()),
        ..Citizen::accepting()
    };
    let server = serve(&w, &citizen).await;
    let r = dispatch(&w.production(), ff("refused")).await.unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/socket-only-rejected.json"));
    assert_eq!(citizen.count(), 1, "no retry after an in-band refusal");
    assert!(w.lock_dir_entries().is_empty());
    server.shutdown().await;
}

/// A socket file whose listener is gone (ECONNREFUSED on connect).
fn stale_socket(path: &Path) {
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    drop(l); // std does not unlink: the file stays, nobody listens
    assert!(matches!(
        entwurf_control_rpc::inspect(path),
        SocketInspection::SocketFile { .. }
    ));
}

#[tokio::test]
async fn e2e_stale_socket_fire_and_forget_is_dormant_and_owned_is_bad_target() {
    let w = World::new();
    stale_socket(&w.sock());
    let r = dispatch(&w.production(), ff("to a stale socket"))
        .await
        .unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/stale-socket.json"));
    assert!(w.lock_dir_entries().is_empty());
    // Project rule (older design): bad-target/null, before any lock.
    let w = World::new();
    stale_socket(&w.sock());
    let r = dispatch(
        &w.production(),
        DispatchInput::new(GID, Intent::OwnedOutcome, "owned to a stale socket"),
    )
    .await
    .unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/bad-target.json"));
    assert!(!w.dirs.lock.exists(), "no lock was ever taken");
}

#[tokio::test]
async fn e2e_nothing_at_the_path_is_bad_target() {
    let w = World::new();
    let r = dispatch(&w.production(), ff("nobody home")).await.unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/bad-target.json"));
    assert!(!w.dirs.lock.exists());
}

#[tokio::test]
async fn socket_only_promotion_refuses_a_symlink_and_never_connects_through_it() {
    let w = World::new();
    let elsewhere = w.dirs.control.join("real");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let citizen = Citizen::accepting();
    let server = Server::bind(&elsewhere, &gid(), citizen.clone())
        .await
        .unwrap();
    std::os::unix::fs::symlink(server.path(), w.sock()).unwrap();
    let r = dispatch(&w.production(), ff("via a symlink"))
        .await
        .unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/bad-target.json"));
    assert_eq!(citizen.count(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn socket_only_promotion_refuses_a_regular_file() {
    let w = World::new();
    std::fs::write(w.sock(), b"not a socket").unwrap();
    let r = dispatch(&w.production(), ff("x")).await.unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/bad-target.json"));
}

#[tokio::test]
async fn e2e_mailbox_without_marker_is_undeliverable_and_writes_nothing() {
    let w = World::new();
    w.record(Backend::ClaudeCode);
    let mut input = ff("mailbox hello");
    input.wants_reply = Some(true);
    let r = dispatch(&w.production(), input).await.unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/mailbox-undeliverable.json"));
    assert!(
        !w.dirs.mailbox.exists(),
        "the mailbox root is not even created"
    );
    let r = dispatch(
        &w.production(),
        DispatchInput::new(GID, Intent::OwnedOutcome, "mailbox hello"),
    )
    .await
    .unwrap();
    assert_eq!(
        r.render().text,
        "entwurf_v2 rejected: backend-liveness-unsupported (observed liveness: unsupported)"
    );
    assert!(!w.dirs.mailbox.exists());
}

/// A live receiver marker for `rec`, owned by this test process.
fn arm_receiver(w: &World, rec: &MetaRecord) {
    write_receiver_marker(
        &w.dirs.receivers,
        &ReceiverMarkerInput {
            garden_id: rec.garden_id.clone(),
            backend: rec.backend,
            native_session_id: rec.native_session_id.clone(),
            owner_pid: std::process::id() as i64,
            owner_kind: None,
            arm_provenance: ArmProvenance::SessionStart,
        },
        chrono::Utc::now(),
    )
    .unwrap();
}

#[tokio::test]
async fn e2e_mailbox_with_a_live_marker_enqueues_exactly_one_golden_body() {
    let w = World::new();
    let rec = w.record(Backend::ClaudeCode);
    arm_receiver(&w, &rec);
    let sender = golden_sender();
    let p = w
        .production()
        .with_sender(Arc::new(move || Some(sender.clone())))
        .with_home(Some("/home/u".into()));
    let mut input = ff("mailbox hello");
    input.wants_reply = Some(true);
    let r = dispatch(&p, input).await.unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/mailbox-executed.json"));
    let dir = w.dirs.mailbox.join(GID);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names[0].ends_with(".msg"));
    assert_eq!(&names[1..], ["inbox.signal", "state.json"]);
    assert_eq!(
        std::fs::read_to_string(dir.join(&names[0])).unwrap(),
        golden("e2e/mailbox-body.msg")
    );
    assert!(!w.dirs.lock.exists(), "the mailbox path is lock-free");
}

/// The record a mailbox decision read travels in its plan (the hand receives the plan), and
/// only there: it is not serialised, so a decision read back from JSON has none and the hand
/// reads the record itself. Either way the production hand delivers.
#[tokio::test]
async fn a_mailbox_plan_carries_the_record_the_decision_read_and_a_parsed_one_reads_it_itself() {
    let w = World::new();
    let rec = w.record(Backend::ClaudeCode);
    arm_receiver(&w, &rec);
    let p = w.production();
    let record_of = |d: &DispatchDecision| match d {
        DispatchDecision::Execute {
            plan: ExecutionPlan::MetaMailbox(m),
            ..
        } => m.record.as_deref().cloned(),
        other => panic!("expected a mailbox execute, got {other:?}"),
    };
    let decision = decide(&ff("one"), p.config(), &p).await.unwrap();
    assert_eq!(record_of(&decision), Some(rec.clone()));
    let text = serde_json::to_string(&decision).unwrap();
    let parsed: DispatchDecision = serde_json::from_str(&text).unwrap();
    assert_eq!(record_of(&parsed), None);
    assert_eq!(serde_json::to_string(&parsed).unwrap(), text, "same JSON");
    for d in [decision, parsed] {
        let r = execute_dispatch(d, &p).await;
        assert!(matches!(r, RunResult::Executed { .. }), "{r:?}");
    }
    let listing = entwurf_mailbox::list(&w.dirs.mailbox, &rec.garden_id).unwrap();
    assert_eq!(listing.unread().count(), 2, "{listing:?}");
}

#[tokio::test]
async fn record_side_conflict_and_indeterminate_lstat_for_non_pi_citizens() {
    let w = World::new();
    w.record(Backend::Codex);
    std::fs::write(w.sock(), b"x").unwrap();
    let r = dispatch(&w.production(), ff("x")).await.unwrap();
    assert_eq!(
        r.to_json_line(),
        r#"{"kind":"rejected","receipt":{"ok":false,"reason":"target-address-conflict","observedLiveness":null}}
"#
    );

    // The control dir is a regular file: lstat of <file>/<gid>.sock fails with ENOTDIR.
    let w = World::new();
    w.record(Backend::ClaudeCode);
    std::fs::remove_dir(&w.dirs.control).unwrap();
    std::fs::write(&w.dirs.control, b"").unwrap();
    let err = dispatch(&w.production(), ff("x")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("entwurf-v2-production: cannot resolve target {GID} — its control socket lstat is indeterminate (ENOTDIR); refusing to claim \"no address conflict\".")
    );
}

#[tokio::test]
async fn corrupt_record_fails_loudly_and_takes_no_lock() {
    let w = World::new();
    std::fs::create_dir_all(&w.dirs.sessions).unwrap();
    std::fs::write(
        w.dirs.sessions.join(format!("{GID}.meta.json")),
        b"{ broken\n",
    )
    .unwrap();
    let err = dispatch(&w.production(), ff("x")).await.unwrap_err();
    assert!(matches!(err, DecideError::Seam(_)), "{err}");
    assert!(!w.dirs.lock.exists());
}

#[tokio::test]
async fn a_silent_hang_up_is_failed_not_retried_and_the_lock_is_released() {
    let w = World::new();
    let peer = ScriptedListener::start(&w.sock(), PeerScript::accept_then_close()).unwrap();
    let r = dispatch(&w.production(), ff("x")).await.unwrap();
    let RunResult::ExecutionFailed {
        error,
        retry_safe,
        finalized_outcome,
        ..
    } = &r
    else {
        panic!("{r:?}")
    };
    assert!(error.contains("closed"), "{error}");
    assert!(!retry_safe);
    assert!(finalized_outcome.is_none());
    assert!(w.lock_dir_entries().is_empty());
    // The probe's connection carries the one send. Only if the peer had already closed it
    // before a byte went out is there one fresh connect (what a client without the kept
    // connection does); never a third (indeterminate is never retried).
    let connections = peer.received().len();
    assert!((1..=2).contains(&connections), "{connections} connections");
}

#[tokio::test]
async fn a_held_lock_is_target_locked_with_its_holder() {
    let w = World::new();
    let citizen = Citizen::accepting();
    let server = serve(&w, &citizen).await;
    let lock = entwurf_lock::Lock::new(&w.dirs.lock);
    let AcquireOutcome::Acquired(held) = lock.acquire(&gid()).unwrap() else {
        panic!()
    };
    let r = dispatch(&w.production(), ff("x")).await.unwrap();
    let RunResult::Rejected {
        receipt,
        diagnostic: Some(RejectDiagnostic::TargetLocked { conflict }),
    } = &r
    else {
        panic!("{r:?}")
    };
    assert_eq!(receipt.reason(), RejectReason::TargetLocked);
    assert_eq!(conflict.holder.as_ref(), Some(&held));
    assert_eq!(citizen.count(), 0);
    lock.release(&held).unwrap();
    server.shutdown().await;
}

/// Production with two twists for the race tests: the server is shut down right after the
/// decider's probe said alive, and (optionally) a fresh server is bound just before the
/// dead-fallback re-resolve.
struct Racy<'a> {
    p: &'a Production,
    kill_after_probe: Mutex<Option<ServerHandle>>,
    revive: Option<(PathBuf, Citizen)>,
    revived: Mutex<Option<ServerHandle>>,
    fallbacks: Mutex<usize>,
}

#[async_trait]
impl DispatchSeams for Racy<'_> {
    async fn resolve_target(&self, gid: &GardenId) -> Result<TargetResolution, IoFailure> {
        self.p.resolve_target(gid).await
    }
    async fn acquire_lock(&self, gid: &GardenId) -> Result<AcquireOutcome, IoFailure> {
        self.p.acquire_lock(gid).await
    }
    async fn release_lock(&self, claim: &LockClaim) -> Result<(), IoFailure> {
        DispatchSeams::release_lock(self.p, claim).await
    }
    async fn inspect_socket(&self, gid: &GardenId) -> Result<SocketInspection, IoFailure> {
        self.p.inspect_socket(gid).await
    }
    async fn probe_socket(&self, path: &Path) -> Result<SocketLiveness, IoFailure> {
        let l = self.p.probe_socket(path).await;
        let server = self.kill_after_probe.lock().unwrap().take();
        if let Some(server) = server {
            server.shutdown().await; // the socket file goes with it: the send sees ENOENT
        }
        l
    }
    async fn preflight_for_cwd(&self, cwd: &str) -> Result<Preflight, IoFailure> {
        self.p.preflight_for_cwd(cwd).await
    }
    async fn mailbox_deliverability_for(
        &self,
        id: &MetaRecord,
    ) -> Result<Deliverability, IoFailure> {
        self.p.mailbox_deliverability_for(id).await
    }
    async fn native_push_probe(&self, id: &MetaRecord) -> Result<NativePushProbe, IoFailure> {
        self.p.native_push_probe(id).await
    }
}

#[async_trait]
impl ControlSendDeps for Racy<'_> {
    async fn send_over_socket(&self, plan: &ControlSocketPlan) -> Result<RpcAck, SendFailure> {
        self.p.send_over_socket(plan).await
    }
    async fn dead_fallback(
        &self,
        plan: &ControlSocketPlan,
        lock: &LockClaim,
    ) -> Result<DeadFallback, HandError> {
        *self.fallbacks.lock().unwrap() += 1;
        if let Some((dir, citizen)) = &self.revive {
            let h = Server::bind(dir, &gid(), citizen.clone()).await.unwrap();
            *self.revived.lock().unwrap() = Some(h);
        }
        // The real resolver, over this (racy) seam set.
        resolve_dead_control_send_fallback(plan, lock, self, self.p.config()).await
    }
    async fn send_via_mailbox(&self, plan: &MetaMailboxPlan) -> Result<MailboxAck, IoFailure> {
        self.p.send_via_mailbox(plan).await
    }
    async fn release_lock(&self, claim: &LockClaim) -> Result<(), IoFailure> {
        ControlSendDeps::release_lock(self.p, claim).await
    }
}

#[async_trait]
impl TransportHands for Racy<'_> {
    async fn send_control(
        &self,
        plan: &ControlSocketPlan,
        lock: Option<&LockClaim>,
    ) -> Result<ControlSendResult, HandError> {
        execute_control_socket_send(plan, lock, self).await
    }
    async fn send_mailbox(
        &self,
        p: &MetaMailboxPlan,
        l: Option<&LockClaim>,
    ) -> Result<MailboxAck, HandError> {
        self.p.send_mailbox(p, l).await
    }
    async fn resume_spawn_bg(
        &self,
        p: &SpawnBgPlan,
        l: Option<&LockClaim>,
    ) -> Result<SpawnBgResumeResult, HandError> {
        self.p.resume_spawn_bg(p, l).await
    }
    async fn send_native_push(
        &self,
        p: &NativePushPlan,
        l: Option<&LockClaim>,
    ) -> Result<NativePushAck, HandError> {
        self.p.send_native_push(p, l).await
    }
}

#[tokio::test]
async fn socket_dies_between_probe_and_send_re_resolves_once_then_reports_dormant() {
    let w = World::new();
    w.record(Backend::Pi);
    let citizen = Citizen::accepting();
    let server = serve(&w, &citizen).await;
    let p = w.production();
    let racy = Racy {
        p: &p,
        kill_after_probe: Mutex::new(Some(server)),
        revive: None,
        revived: Mutex::new(None),
        fallbacks: Mutex::new(0),
    };
    let r = run(&ff("x"), p.config(), &racy, &racy).await.unwrap();
    assert_eq!(r.to_json_line(), golden("result/ctl-rejected-dormant.json"));
    assert_eq!(*racy.fallbacks.lock().unwrap(), 1);
    assert_eq!(citizen.count(), 0);
    assert!(
        w.lock_dir_entries().is_empty(),
        "released exactly once after the final outcome"
    );
}

#[tokio::test]
async fn socket_only_dies_between_probe_and_send_is_bad_target_on_re_resolve() {
    let w = World::new();
    let citizen = Citizen::accepting();
    let server = serve(&w, &citizen).await;
    let p = w.production();
    let racy = Racy {
        p: &p,
        kill_after_probe: Mutex::new(Some(server)),
        revive: None,
        revived: Mutex::new(None),
        fallbacks: Mutex::new(0),
    };
    let r = run(&ff("x"), p.config(), &racy, &racy).await.unwrap();
    assert_eq!(
        r.to_json_line(),
        golden("result/ctl-rejected-bad-target.json")
    );
    assert!(w.lock_dir_entries().is_empty());
}

#[tokio::test]
async fn socket_restarted_between_probe_and_send_is_fallback_sent_to_the_new_listener() {
    let w = World::new();
    w.record(Backend::Pi);
    let old = Citizen::accepting();
    let server = serve(&w, &old).await;
    let new = Citizen::accepting();
    let p = w.production();
    let racy = Racy {
        p: &p,
        kill_after_probe: Mutex::new(Some(server)),
        revive: Some((w.dirs.control.clone(), new.clone())),
        revived: Mutex::new(None),
        fallbacks: Mutex::new(0),
    };
    let r = run(&ff("again"), p.config(), &racy, &racy).await.unwrap();
    assert_eq!(r.to_json_line(), golden("result/ctl-fallback-sent.json"));
    assert!(r.delivered());
    assert_eq!((old.count(), new.count()), (0, 1));
    assert_eq!(*racy.fallbacks.lock().unwrap(), 1);
    assert!(w.lock_dir_entries().is_empty());
    let h = racy.revived.lock().unwrap().take().unwrap();
    h.shutdown().await;
}

#[tokio::test]
async fn a_release_that_fails_after_delivery_is_reported_delivered_do_not_retry() {
    let w = World::new();
    let lock_file = w.lock_file();
    // While the citizen takes the message, the lock file is replaced by a directory, so the
    // release after the final outcome fails (EISDIR) even for root.
    let citizen = Citizen {
        during: Arc::new(move || {
            std::fs::remove_file(&lock_file).unwrap();
            std::fs::create_dir(&lock_file).unwrap();
        }),
        ..Citizen::accepting()
    };
    let server = serve(&w, &citizen).await;
    let r = dispatch(&w.production(), ff("exactly once")).await.unwrap();
    let RunResult::ExecutionFailed {
        error,
        finalized_outcome,
        release_failed,
        retry_safe,
        ..
    } = &r
    else {
        panic!("{r:?}")
    };
    assert_eq!(*finalized_outcome, Some(SendFinalOutcome::Sent));
    assert_eq!(*release_failed, Some(true));
    assert!(!retry_safe);
    assert!(
        error.starts_with(
            "entwurf-v2-send: sent delivered but releaseLock failed (lock dirty, do NOT re-send): "
        ),
        "{error}"
    );
    assert!(r
        .render()
        .text
        .contains("DELIVERED (sent) but the lock is DIRTY"));
    assert!(!r.delivered(), "the CLI must not report success, nor retry");
    assert_eq!(citizen.count(), 1, "delivered exactly once");
    server.shutdown().await;
}

#[tokio::test]
async fn owned_outcome_to_a_dormant_pi_record_never_spawns_in_this_build() {
    let w = World::new();
    w.record(Backend::Pi);
    let agent = w.dirs.sessions.parent().unwrap().join("agent");
    let p = w.production().with_trust(agent, vec![], None);
    let r = dispatch(&p, DispatchInput::new(GID, Intent::OwnedOutcome, "resume"))
        .await
        .unwrap();
    // Either the preflight refuses, or the spawn-bg hand is not wired: never a fake success,
    // and the lock never leaks.
    match &r {
        RunResult::Rejected { receipt, .. } => {
            assert_eq!(receipt.reason(), RejectReason::UntrustedFailFast)
        }
        RunResult::ExecutionFailed { error, .. } => {
            assert!(
                error.contains("transport not available: spawn-bg"),
                "{error}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(w.lock_dir_entries().is_empty());
}

/// The trust preflight judges a cwd whose only project file is `.pi/mcp.json` by the line of the
/// pi that spawn-bg would launch, read from that pi's installed `package.json` (the launcher is
/// never run to learn it): pi 1.x gates `mcp.json` (untrusted-fail-fast), pi 0.80 does not (the
/// dispatch goes on to the spawn-bg hand, which this build does not wire).
#[rstest::rstest]
#[case::pi_0_80("0.80.10", false)]
#[case::pi_1_6("1.6.0", true)]
#[tokio::test]
async fn the_preflight_judges_mcp_json_by_the_launched_pis_line(
    #[case] version: &str,
    #[case] refused: bool,
) {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let root = w.dirs.sessions.parent().unwrap().to_path_buf();
    let project = root.join("project");
    std::fs::create_dir_all(project.join(".pi")).unwrap();
    std::fs::write(project.join(".pi/mcp.json"), "{\"mcpServers\": {}}\n").unwrap();
    let mut rec = identity_for(GID, Backend::Pi);
    rec.cwd = project.display().to_string();
    write_record(&w.dirs.sessions, &rec).unwrap();
    // A pi install laid out as `cargo xtask pi` makes it; its launcher must not be run.
    let install = root.join("pi-install");
    let manifest = install.join("node_modules/@earendil-works/pi-coding-agent/package.json");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    std::fs::write(
        &manifest,
        format!(r#"{{"name":"@earendil-works/pi-coding-agent","version":"{version}"}}"#),
    )
    .unwrap();
    let ran = root.join("launcher-ran");
    let launcher = install.join("bin/pi");
    std::fs::create_dir_all(launcher.parent().unwrap()).unwrap();
    std::fs::write(&launcher, format!("#!/bin/sh\ntouch '{}'\n", ran.display())).unwrap();
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();

    let p = w
        .production()
        .with_trust(root.join("agent"), vec![], None)
        .with_pi_program(launcher, None);
    let r = dispatch(&p, DispatchInput::new(GID, Intent::OwnedOutcome, "resume"))
        .await
        .unwrap();
    match &r {
        RunResult::Rejected { receipt, .. } if refused => {
            assert_eq!(receipt.reason(), RejectReason::UntrustedFailFast)
        }
        RunResult::ExecutionFailed { error, .. } if !refused => {
            assert!(
                error.contains("transport not available: spawn-bg"),
                "{error}"
            )
        }
        other => panic!("pi {version}: {other:?}"),
    }
    assert!(!ran.exists(), "the launcher was run to learn its version");
    assert!(w.lock_dir_entries().is_empty());
}

const INSTANT_REPLY: &str = "{\"type\":\"response\",\"command\":\"send\",\"success\":true,\"data\":{\"delivered\":true,\"deliveredAs\":\"direct\",\"wantsReply\":false}}\n";

/// Nothing further is waiting in `listener`'s backlog.
fn no_more_connections(listener: &std::os::unix::net::UnixListener) {
    listener.set_nonblocking(true).unwrap();
    let err = listener.accept().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
}

#[tokio::test]
async fn a_send_rides_on_the_probe_connection_one_connection_per_dispatch() {
    use std::io::{BufRead, BufReader, Write};
    let w = World::new();
    w.record(Backend::Pi);
    let listener = std::os::unix::net::UnixListener::bind(w.sock()).unwrap();
    let l2 = listener.try_clone().unwrap();
    let peer = std::thread::spawn(move || {
        let (stream, _) = l2.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        (&stream).write_all(INSTANT_REPLY.as_bytes()).unwrap();
        line
    });
    let production = w.production();
    let r = dispatch(&production, ff("one connection")).await.unwrap();
    assert!(r.delivered(), "{r:?}");
    let line = peer.join().unwrap();
    assert!(line.contains("\"message\":\"one connection\""), "{line}");
    no_more_connections(&listener);
    assert_eq!(production.kept_probe_connections(), 0);
    assert!(w.lock_dir_entries().is_empty());
}

#[tokio::test]
async fn a_probe_connection_no_send_takes_is_closed_before_the_lock_is_released() {
    use std::io::Read;
    let w = World::new();
    w.record(Backend::Pi);
    let listener = std::os::unix::net::UnixListener::bind(w.sock()).unwrap();
    let production = w.production();
    // Owned-outcome to a live pi: the probe says alive, the decider rejects, nothing is sent.
    let r = dispatch(
        &production,
        DispatchInput::new(GID, Intent::OwnedOutcome, "no autosend"),
    )
    .await
    .unwrap();
    let RunResult::Rejected { receipt, .. } = &r else {
        panic!("{r:?}")
    };
    assert_eq!(receipt.reason(), RejectReason::OwnedLiveNoAutosend);
    assert_eq!(production.kept_probe_connections(), 0);
    assert!(w.lock_dir_entries().is_empty());
    // The one probe connection was closed without a byte written.
    let (mut stream, _) = listener.accept().unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    assert!(bytes.is_empty());
    no_more_connections(&listener);
}
