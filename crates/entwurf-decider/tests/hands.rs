//! The control-socket hand (with the real dead-fallback resolver over fake seams) and the
//! runner, reproducing the reference's golden results byte for byte.

#![allow(clippy::too_many_arguments)]

use entwurf_decider::fakes;

use async_trait::async_trait;
use entwurf_control_rpc::SocketLiveness;
use entwurf_decider::*;
use entwurf_lock::LockClaim;
use entwurf_meta_session::{Backend, GardenId};
use fakes::*;
use rstest::rstest;

/// Hands whose control hand is the real one over [`FakeControlDeps`]; the others are not expected.
struct ControlOnly<'a>(&'a FakeControlDeps);

#[async_trait]
impl TransportHands for ControlOnly<'_> {
    async fn send_control(
        &self,
        plan: &ControlSocketPlan,
        lock: Option<&LockClaim>,
    ) -> Result<ControlSendResult, HandError> {
        execute_control_socket_send(plan, lock, self.0).await
    }
    async fn send_mailbox(
        &self,
        _: &MetaMailboxPlan,
        _: Option<&LockClaim>,
    ) -> Result<MailboxAck, HandError> {
        panic!("mailbox hand must not run")
    }
    async fn resume_spawn_bg(
        &self,
        _: &SpawnBgPlan,
        _: Option<&LockClaim>,
    ) -> Result<SpawnBgResumeResult, HandError> {
        panic!("spawn hand must not run")
    }
    async fn send_native_push(
        &self,
        _: &NativePushPlan,
        _: Option<&LockClaim>,
    ) -> Result<NativePushAck, HandError> {
        panic!("native hand must not run")
    }
}

fn decision(name: &str) -> DispatchDecision {
    serde_json::from_str(&golden(&format!("decision/{name}.json"))).unwrap()
}

fn econnrefused() -> Result<RpcAck, SendFailure> {
    dead(&format!("connect ECONNREFUSED /fake/ctl/{GID}.sock"))
}
fn enoent() -> Result<RpcAck, SendFailure> {
    dead(&format!("connect ENOENT /fake/ctl/{GID}.sock"))
}

fn spawn_plan() -> ExecutionPlan {
    match decision("ok-spawn-bg") {
        DispatchDecision::Execute { plan, .. } => plan,
        _ => unreachable!(),
    }
}

fn other_control_plan() -> ExecutionPlan {
    ExecutionPlan::ControlSocket(ControlSocketPlan {
        action: Action::Send,
        target_garden_id: GardenId::parse(OTHER_GID).unwrap(),
        socket_path: format!("/fake/ctl/{OTHER_GID}.sock").into(),
        mode: Mode::FollowUp,
        wants_reply: false,
        message: "hi".into(),
    })
}

/// (golden result, socket sends, re-resolve seams, scripted fallback, release fails,
///  expected socket sends, expected fallbacks, expected mailbox enqueues)
#[rstest]
#[case::sent("ctl-sent", vec![ack(true)], Script::default(), None, false, 1, 0, 0)]
#[case::rejected_inband("ctl-rejected-inband", vec![ack(false)], Script::default(), None, false, 1, 0, 0)]
#[case::fallback_sent("ctl-fallback-sent", vec![econnrefused(), ack(true)], Script::citizen(Backend::Pi).inspect(socket_file()).probe(SocketLiveness::Alive), None, false, 2, 1, 0)]
#[case::fallback_mailbox("ctl-fallback-mailbox", vec![enoent()], Script::citizen(Backend::ClaudeCode).deliverable(true), None, false, 1, 1, 1)]
#[case::rejected_dormant("ctl-rejected-dormant", vec![econnrefused()], Script::citizen(Backend::Pi), None, false, 1, 1, 0)]
#[case::rejected_undeliverable("ctl-rejected-undeliverable", vec![econnrefused()], Script::citizen(Backend::Codex), None, false, 1, 1, 0)]
#[case::rejected_bad_target("ctl-rejected-bad-target", vec![enoent()], Script::default(), None, false, 1, 1, 0)]
#[case::rejected_conflict("ctl-rejected-conflict", vec![econnrefused()], Script::citizen(Backend::Pi).inspect(symlink()), None, false, 1, 1, 0)]
#[case::rejected_indet("ctl-rejected-indet", vec![econnrefused()], Script::citizen(Backend::Pi).inspect(socket_file()).probe(SocketLiveness::Indeterminate), None, false, 1, 1, 0)]
#[case::failed_timeout("ctl-failed-timeout", vec![indet("timeout")], Script::default(), None, false, 1, 0, 0)]
#[case::failed_closed("ctl-failed-closed", vec![indet("connection closed before response")], Script::default(), None, false, 1, 0, 0)]
#[case::failed_retry("ctl-failed-retry", vec![econnrefused(), econnrefused()], Script::citizen(Backend::Pi).inspect(socket_file()).probe(SocketLiveness::Alive), None, false, 2, 1, 0)]
#[case::failed_contract("ctl-failed-contract", vec![econnrefused()], Script::default(), Some(Ok(DeadFallback::Execute(spawn_plan()))), false, 1, 1, 0)]
#[case::failed_misroute("ctl-failed-misroute", vec![econnrefused()], Script::default(), Some(Ok(DeadFallback::Execute(other_control_plan()))), false, 1, 1, 0)]
#[case::failed_release_too("ctl-failed-release-too", vec![indet("timeout")], Script::default(), None, true, 1, 0, 0)]
#[case::dirty_sent("ctl-dirty-sent", vec![ack(true)], Script::default(), None, true, 1, 0, 0)]
#[case::dirty_fallback("ctl-dirty-fallback", vec![econnrefused(), ack(true)], Script::citizen(Backend::Pi).inspect(socket_file()).probe(SocketLiveness::Alive), None, true, 2, 1, 0)]
#[case::dirty_rejected("ctl-dirty-rejected", vec![ack(false)], Script::default(), None, true, 1, 0, 0)]
#[tokio::test]
#[allow(clippy::too_many_arguments)]
async fn control_hand_reproduces_golden_results(
    #[case] name: &str,
    #[case] sends: Vec<Result<RpcAck, SendFailure>>,
    #[case] reresolve: Script,
    #[case] fallback: Option<Result<DeadFallback, HandError>>,
    #[case] release_fails: bool,
    #[case] want_sends: usize,
    #[case] want_fallbacks: usize,
    #[case] want_enqueues: usize,
) {
    let mut deps = FakeControlDeps::new(sends, reresolve);
    deps.fallback = fallback;
    if release_fails {
        deps = deps.failing_release();
    }
    let result = execute_dispatch(decision("ok-control-socket"), &ControlOnly(&deps)).await;
    assert_eq!(
        result.to_json_line(),
        golden(&format!("result/{name}.json"))
    );
    assert_eq!(deps.sends(), want_sends, "socket sends");
    assert_eq!(
        *deps.fallbacks.lock().unwrap(),
        want_fallbacks,
        "re-resolves"
    );
    assert_eq!(
        deps.mailbox_plans.lock().unwrap().len(),
        want_enqueues,
        "enqueues"
    );
    assert_eq!(
        deps.releases(),
        1,
        "released exactly once, after the final outcome"
    );
    // The fallback never takes or releases a lock of its own, and never spawns.
    let c = deps.seams.calls();
    assert_eq!((c.acquire, c.release, c.preflight), (0, 0, 0));
}

#[tokio::test]
async fn the_retry_uses_the_newly_inspected_path_and_the_original_mode() {
    let other = std::path::PathBuf::from("/fake/ctl/elsewhere.sock");
    let deps = FakeControlDeps::new(
        vec![econnrefused(), ack(true)],
        Script::citizen(Backend::Pi)
            .inspect(entwurf_control_rpc::SocketInspection::SocketFile {
                socket_path: other.clone(),
            })
            .probe(SocketLiveness::Alive),
    );
    let DispatchDecision::Execute {
        plan: ExecutionPlan::ControlSocket(mut plan),
        lock,
        ..
    } = decision("ok-control-socket")
    else {
        unreachable!()
    };
    plan.mode = Mode::Steer;
    let r = execute_control_socket_send(&plan, lock.as_ref(), &deps)
        .await
        .unwrap();
    assert_eq!(r.outcome, SendFinalOutcome::FallbackSent);
    let sent = deps.sent_plans.lock().unwrap().clone();
    assert_eq!(sent[1].socket_path, other);
    assert_eq!(sent[1].mode, Mode::Steer);
}

#[tokio::test]
async fn an_indeterminate_failure_never_re_resolves_nor_enqueues() {
    let deps = FakeControlDeps::new(
        vec![indet("connect EACCES /x")],
        Script::citizen(Backend::ClaudeCode).deliverable(true),
    );
    let r = execute_dispatch(decision("ok-control-socket"), &ControlOnly(&deps)).await;
    assert!(matches!(
        r,
        RunResult::ExecutionFailed {
            retry_safe: false,
            ..
        }
    ));
    assert_eq!(*deps.fallbacks.lock().unwrap(), 0);
    assert_eq!(deps.seams.calls(), Calls::default());
}

#[tokio::test]
async fn a_fallback_mailbox_refusal_is_rejected_and_an_enqueue_error_is_failed() {
    let mut deps = FakeControlDeps::new(
        vec![enoent()],
        Script::citizen(Backend::ClaudeCode).deliverable(true),
    );
    deps.mailbox = Ok(MailboxAck {
        success: false,
        ..Default::default()
    });
    let r = execute_dispatch(decision("ok-control-socket"), &ControlOnly(&deps)).await;
    assert_eq!(r.to_json_line(), golden("result/ctl-rejected-inband.json"));

    let mut deps = FakeControlDeps::new(
        vec![enoent()],
        Script::citizen(Backend::ClaudeCode).deliverable(true),
    );
    deps.mailbox = Err(IoFailure::new("ENOSPC: no space left on device"));
    let r = execute_dispatch(decision("ok-control-socket"), &ControlOnly(&deps)).await;
    let RunResult::ExecutionFailed { error, .. } = &r else {
        panic!("{r:?}")
    };
    assert_eq!(error, "ENOSPC: no space left on device");
    assert_eq!(deps.releases(), 1);
}

/// Runner: each non-control golden result from a scripted hand; exactly one hand per execute.
#[rstest]
#[case::rejected_bad_target("rejected-bad-target", "bad-target", FakeHands::default())]
#[case::rejected_target_locked("rejected-target-locked", "target-locked", FakeHands::default())]
#[case::mbox_executed("mbox-executed", "ok-meta-mailbox", FakeHands { mailbox: Some(Ok(MailboxAck { success: true, ..Default::default() })), ..Default::default() })]
#[case::mbox_failed_throw("mbox-failed-throw", "ok-meta-mailbox", FakeHands { mailbox: Some(Err(IoFailure::new("no meta-record for garden id \"20260612T100000-aaaaaa\" under /fake/sessions — not a garden citizen, cannot deliver.").into())), ..Default::default() })]
#[case::mbox_failed_contract("mbox-failed-contract", "ok-meta-mailbox", FakeHands { mailbox: Some(Ok(MailboxAck { success: false, ..Default::default() })), ..Default::default() })]
#[case::np_delivered("np-delivered", "ok-native-push", FakeHands { native: Some(Ok(NativePushAck { success: true, retried: false })), ..Default::default() })]
#[case::np_retried("np-retried", "ok-native-push", FakeHands { native: Some(Ok(NativePushAck { success: true, retried: true })), ..Default::default() })]
#[case::np_failed_dead("np-failed-dead", "ok-native-push", FakeHands { native: Some(Err(IoFailure::new("native-push deliver: first send failed and re-probe found target dead (no host process) — not retried").into())), ..Default::default() })]
#[case::np_failed_twice("np-failed-twice", "ok-native-push", FakeHands { native: Some(Err(IoFailure::new("agentapi send-message exited 1").into())), ..Default::default() })]
#[case::np_failed_contract("np-failed-contract", "ok-native-push", FakeHands { native: Some(Ok(NativePushAck { success: false, retried: false })), ..Default::default() })]
#[case::spawn_socket_alive("spawn-socket-alive", "ok-spawn-bg", spawn_hand("spawn-socket-alive"))]
#[case::spawn_child_exited("spawn-child-exited", "ok-spawn-bg", spawn_hand("spawn-child-exited"))]
#[case::spawn_child_killed("spawn-child-killed", "ok-spawn-bg", spawn_hand("spawn-child-killed"))]
#[case::spawn_start_failed("spawn-start-failed", "ok-spawn-bg", spawn_hand("spawn-start-failed"))]
#[case::spawn_retained_kill(
    "spawn-retained-kill",
    "ok-spawn-bg",
    spawn_hand("spawn-retained-kill")
)]
#[case::spawn_retained_observe(
    "spawn-retained-observe",
    "ok-spawn-bg",
    spawn_hand("spawn-retained-observe")
)]
#[case::spawn_failed_release("spawn-failed-release", "ok-spawn-bg", FakeHands { spawn: Some(Err(IoFailure::new(RELEASE_EACCES).into())), ..Default::default() })]
#[tokio::test]
async fn runner_reproduces_golden_results(
    #[case] name: &str,
    #[case] dec: &str,
    #[case] hands: FakeHands,
) {
    let d = decision(dec);
    let (is_reject, lock) = match &d {
        DispatchDecision::Reject { .. } => (true, None),
        DispatchDecision::Execute { lock, .. } => (false, lock.clone()),
    };
    let r = execute_dispatch(d, &hands).await;
    assert_eq!(r.to_json_line(), golden(&format!("result/{name}.json")));
    let calls = hands.calls.lock().unwrap().clone();
    if is_reject {
        assert!(calls.is_empty(), "a reject runs no hand");
    } else {
        assert_eq!(calls.len(), 1, "exactly one hand");
        assert_eq!(
            calls[0].1, lock,
            "the decision's lock is handed over unchanged"
        );
    }
}

fn spawn_hand(name: &str) -> FakeHands {
    let r: RunResult = serde_json::from_str(&golden(&format!("result/{name}.json"))).unwrap();
    let RunResult::Executed {
        outcome: ExecutedOutcome::SpawnBg { result },
        ..
    } = r
    else {
        unreachable!()
    };
    FakeHands {
        spawn: Some(Ok(result)),
        ..Default::default()
    }
}

#[tokio::test]
async fn run_decides_once_and_a_decider_error_yields_no_result() {
    let seams = FakeSeams::new(Script::citizen(Backend::ClaudeCode).deliverable(true));
    let hands = FakeHands {
        mailbox: Some(Ok(MailboxAck {
            success: true,
            ..Default::default()
        })),
        ..Default::default()
    };
    let r = run(
        &DispatchInput::new(GID, Intent::FireAndForget, "hi"),
        &config(),
        &seams,
        &hands,
    )
    .await
    .unwrap();
    assert_eq!(r.to_json_line(), golden("result/mbox-executed.json"));
    assert_eq!(seams.calls().resolve, 1);

    let err = run(
        &DispatchInput::new("nope", Intent::FireAndForget, "hi"),
        &config(),
        &seams,
        &hands,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DecideError::InvalidGardenId { .. }));
    assert_eq!(hands.call_count(), 1);
}

#[tokio::test]
async fn unavailable_spawn_hand_releases_and_fails_honestly() {
    let rel = entwurf_spawn::test_support::CountingRelease::default();
    let ExecutionPlan::SpawnBg(plan) = spawn_plan() else {
        unreachable!()
    };
    let err = SpawnBgUnavailable
        .resume(&plan, &claim(), &rel)
        .await
        .unwrap_err();
    assert!(err
        .to_string()
        .starts_with("entwurf-v2-runner: transport not available: spawn-bg ("));
    assert_eq!(rel.calls(), 1);
    let ExecutionPlan::NativePush(np) = (match decision("ok-native-push") {
        DispatchDecision::Execute { plan, .. } => plan,
        _ => unreachable!(),
    }) else {
        unreachable!()
    };
    let err = NativePushUnavailable.send(&np).await.unwrap_err();
    assert!(err
        .to_string()
        .contains("transport not available: native-push"));
}

#[test]
fn delivered_is_true_only_for_deliveries() {
    for (file, want) in [
        ("result/ctl-sent.json", true),
        ("result/ctl-fallback-mailbox.json", true),
        ("result/ctl-rejected-inband.json", false),
        ("result/ctl-dirty-sent.json", false),
        ("result/mbox-executed.json", true),
        ("result/rejected-bad-target.json", false),
        ("result/spawn-retained-kill.json", false),
        ("result/spawn-socket-alive.json", true),
    ] {
        let r: RunResult = serde_json::from_str(&golden(file)).unwrap();
        assert_eq!(r.delivered(), want, "{file}");
    }
}
