//! The decider's step order, lock discipline and error handling, over call-counting fakes.

use entwurf_decider::fakes;

use entwurf_control_rpc::SocketLiveness;
use entwurf_decider::*;
use entwurf_meta_session::Backend;
use fakes::*;
use rstest::rstest;

async fn decide_with(
    script: Script,
    input: DispatchInput,
) -> (Result<DispatchDecision, DecideError>, Calls) {
    let seams = FakeSeams::new(script);
    let r = decide(&input, &config(), &seams).await;
    (r, seams.calls())
}

fn ff() -> DispatchInput {
    DispatchInput::new(GID, Intent::FireAndForget, "hi")
}
fn owned() -> DispatchInput {
    DispatchInput::new(GID, Intent::OwnedOutcome, "hi")
}

#[rstest]
#[case::upper_hex("20260612T100000-AAAAAA")]
#[case::traversal("../../etc/passwd")]
#[case::trailing_newline("20260612T100000-aaaaaa\n")]
#[case::empty("")]
#[tokio::test]
async fn invalid_gid_fails_before_any_lookup(#[case] target: &str) {
    let (r, calls) = decide_with(
        Script::citizen(Backend::Pi),
        DispatchInput::new(target, Intent::FireAndForget, "hi"),
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "entwurf_v2 decider: refusing to dispatch to an invalid garden id ({}).",
            serde_json::to_string(target).unwrap()
        )
    );
    assert_eq!(calls, Calls::default());
}

#[derive(Debug, Clone, Copy)]
enum Fail {
    Inspect,
    Probe,
    Preflight,
}

/// Any error after the acquire releases the lock once (best effort) and re-raises the original.
#[rstest]
#[case::inspect(Fail::Inspect, Intent::FireAndForget)]
#[case::probe(Fail::Probe, Intent::FireAndForget)]
#[case::preflight(Fail::Preflight, Intent::OwnedOutcome)]
#[tokio::test]
async fn post_acquire_error_releases_once_and_reraises(#[case] fail: Fail, #[case] intent: Intent) {
    let boom = IoFailure::new("boom: EIO");
    let mut script = Script::citizen(Backend::Pi);
    match fail {
        Fail::Inspect => script.inspection = Seq::one(Err(boom.clone())),
        Fail::Probe => {
            script = script.inspect(socket_file());
            script.probe = Seq::one(Err(boom.clone()));
        }
        Fail::Preflight => script.preflight = Err(boom.clone()),
    }
    let (r, calls) = decide_with(script, DispatchInput::new(GID, intent, "hi")).await;
    assert_eq!(r.unwrap_err(), DecideError::Seam(boom));
    assert_eq!((calls.acquire, calls.release), (1, 1));
}

#[rstest]
#[case::release_fails_twice(vec![Err(IoFailure::new("first")), Err(IoFailure::new("second"))])]
#[case::release_fails_then_succeeds(vec![Err(IoFailure::new("first")), Ok(())])]
#[tokio::test]
async fn failing_release_on_a_reject_path_is_called_twice_and_the_first_error_wins(
    #[case] releases: Vec<Result<(), IoFailure>>,
) {
    let mut script = Script::citizen(Backend::Pi); // ff + absent → dormant reject → release
    script.release = Seq::of(releases);
    let (r, calls) = decide_with(script, ff()).await;
    assert_eq!(r.unwrap_err(), DecideError::Seam(IoFailure::new("first")));
    assert_eq!((calls.acquire, calls.release), (1, 2));
}

#[tokio::test]
async fn errors_before_the_acquire_hold_no_lock() {
    let mut s = Script::citizen(Backend::Pi);
    s.resolution = Seq::one(Err(IoFailure::new("meta-record is not valid JSON")));
    let (r, c) = decide_with(s, ff()).await;
    assert!(matches!(r, Err(DecideError::Seam(_))));
    assert_eq!((c.acquire, c.release, c.inspect), (0, 0, 0));

    let mut s = Script::citizen(Backend::Pi);
    s.acquire = Err(IoFailure::new(
        "entwurf-v2-lock: failed to acquire /x: EACCES",
    ));
    let (r, c) = decide_with(s, ff()).await;
    assert!(matches!(r, Err(DecideError::Seam(_))));
    assert_eq!((c.acquire, c.release, c.inspect), (1, 0, 0));
}

#[tokio::test]
async fn native_push_without_route_is_an_invariant_error() {
    let mut s = Script::citizen(Backend::Antigravity);
    s.native = Some(NativePushProbe {
        status: SocketLiveness::Alive,
        route: None,
    });
    let (r, c) = decide_with(s, ff()).await;
    assert_eq!(r.unwrap_err(), DecideError::NativePushWithoutRoute);
    assert_eq!((c.acquire, c.mailbox, c.native), (0, 0, 1));
}

#[tokio::test]
async fn mode_and_wants_reply_reach_the_control_plan_only() {
    let mut input = ff();
    input.mode = Some(Mode::Steer);
    input.wants_reply = Some(true);
    let (r, _) = decide_with(
        Script::citizen(Backend::Pi)
            .inspect(socket_file())
            .probe(SocketLiveness::Alive),
        input.clone(),
    )
    .await;
    let DispatchDecision::Execute {
        plan: ExecutionPlan::ControlSocket(p),
        ..
    } = r.unwrap()
    else {
        panic!()
    };
    assert_eq!((p.mode, p.wants_reply), (Mode::Steer, true));

    let (r, _) = decide_with(
        Script::citizen(Backend::ClaudeCode).deliverable(true),
        input,
    )
    .await;
    let d = r.unwrap();
    let DispatchDecision::Execute {
        plan: ExecutionPlan::MetaMailbox(p),
        lock,
        ..
    } = &d
    else {
        panic!()
    };
    assert!(p.wants_reply);
    assert!(lock.is_none());
    assert!(!serde_json::to_string(&d).unwrap().contains("mode"));
}

#[tokio::test]
async fn observe_timeout_comes_from_the_config() {
    let seams = FakeSeams::new(Script::citizen(Backend::Pi));
    let mut cfg = config();
    cfg.observe_timeout_ms = 1000;
    let d = decide(&owned(), &cfg, &seams).await.unwrap();
    let DispatchDecision::Execute {
        plan: ExecutionPlan::SpawnBg(p),
        lock,
        ..
    } = d
    else {
        panic!()
    };
    assert_eq!(
        p.observe_timeout_ms,
        entwurf_decider::Millis::from_whole(1000)
    );
    assert_eq!(p.session_id.as_str(), GID);
    assert_eq!(lock, Some(claim()));
    assert_eq!(seams.calls().preflight, 1);
}

#[tokio::test]
async fn unsupported_backends_always_ask_deliverability_once_and_never_lock() {
    for backend in [Backend::ClaudeCode, Backend::Codex] {
        for input in [ff(), owned()] {
            let (_, c) = decide_with(Script::citizen(backend).deliverable(true), input).await;
            assert_eq!(c.mailbox, 1);
            assert_eq!((c.acquire, c.inspect, c.probe, c.native), (0, 0, 0, 0));
        }
    }
}

#[tokio::test]
async fn pre_probe_conflict_is_ignored_for_a_socket_only_endpoint() {
    let mut s = Script::socket_only()
        .inspect(socket_file())
        .probe(SocketLiveness::Alive);
    s.resolution = Seq::one(Ok(TargetResolution {
        pre_probe_address_conflict: true,
        ..TargetResolution::socket_only()
    }));
    let (r, c) = decide_with(s, ff()).await;
    assert_eq!(
        r.unwrap().receipt().observed_liveness(),
        Some(FactLiveness::Alive)
    );
    assert_eq!((c.acquire, c.inspect, c.probe), (1, 1, 1));
}
