//! The production spawn-bg hand ([`EntwurfSpawnHand`]) with real processes: a stand-in `pi`
//! script, a real saved-session file, a real unix socket and a counting [`LockRelease`]. (The
//! real pi is the live cell C6.)

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use entwurf_decider::{
    EntwurfSpawnHand, ExecutionPlan, HandError, IoFailure, LaunchConfig, LockRelease, SpawnBgHand,
    SpawnBgPlan, SpawnBgResumeResult, StderrSink,
};
use entwurf_lock::LockClaim;
use entwurf_spawn::test_support::write_minimal_saved_session;
use tempfile::TempDir;

const GID: &str = "20260612T100000-aaaaaa";

struct Counting {
    calls: AtomicUsize,
    fail_with: Option<&'static str>,
}

impl Counting {
    fn ok() -> Self {
        Self {
            calls: AtomicUsize::new(0),
            fail_with: None,
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl LockRelease for Counting {
    async fn release(&self, _claim: &LockClaim) -> Result<(), IoFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.fail_with.map_or(Ok(()), |e| Err(IoFailure::new(e)))
    }
}

struct World {
    _tmp: TempDir,
    root: PathBuf,
    agent: PathBuf,
    socket: PathBuf,
}

impl World {
    fn new(with_session: bool) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = fs::canonicalize(tmp.path()).expect("canonical");
        let agent = root.join("agent");
        let cwd = root.join("cwd");
        fs::create_dir_all(&cwd).expect("cwd");
        if with_session {
            let cwd_s = cwd.to_str().expect("utf8");
            write_minimal_saved_session(&agent, cwd_s, GID).expect("session");
        }
        let socket = root.join(format!("{GID}.sock"));
        Self {
            _tmp: tmp,
            root,
            agent,
            socket,
        }
    }

    fn hand(&self, script_body: &str) -> EntwurfSpawnHand {
        let program = self.root.join("fake-pi");
        fs::write(&program, format!("#!/bin/sh\n{script_body}\n")).expect("script");
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut launch = LaunchConfig::new(self.agent.clone());
        launch.pi_program = program;
        launch.stderr = StderrSink::File(self.root.join("logs/resident.stderr"));
        EntwurfSpawnHand::new(launch)
    }

    /// The golden spawn-bg plan, pointed at this world's socket.
    fn plan(&self) -> (SpawnBgPlan, LockClaim) {
        let text = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/golden/receipts/decision/ok-spawn-bg.json"),
        )
        .expect("golden");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["plan"]["expectedSocketPath"] = self.socket.to_str().expect("utf8").into();
        let ExecutionPlan::SpawnBg(plan) = serde_json::from_value(v["plan"].clone()).expect("plan")
        else {
            panic!("not a spawn-bg plan");
        };
        let lock = serde_json::from_value(v["lock"].clone()).expect("lock");
        (plan, lock)
    }
}

#[tokio::test]
async fn an_exiting_child_is_released_once_and_reported_in_the_decider_shape() {
    let w = World::new(true);
    let (plan, lock) = w.plan();
    let release = Counting::ok();
    let result = w
        .hand("exit 0")
        .resume(&plan, &lock, &release)
        .await
        .expect("result");
    assert!(
        matches!(
            result,
            SpawnBgResumeResult::ChildExited {
                released: true,
                exit_code: Some(0),
                pid: Some(_)
            }
        ),
        "{result:?}"
    );
    assert_eq!(release.calls(), 1);
}

#[tokio::test]
async fn a_socket_that_comes_up_is_socket_alive_and_the_resident_lives_on() {
    let w = World::new(true);
    let (plan, lock) = w.plan();
    let _listener = UnixListener::bind(&w.socket).expect("bind");
    let release = Counting::ok();
    let result = w
        .hand("exec sleep 300")
        .resume(&plan, &lock, &release)
        .await
        .expect("result");
    let SpawnBgResumeResult::SocketAlive {
        released: true,
        pid: Some(pid),
    } = result
    else {
        panic!("expected socket-alive, got {result:?}");
    };
    assert_eq!(release.calls(), 1);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success(), "reap the stand-in {pid}");
}

#[tokio::test]
async fn no_saved_session_is_a_released_spawn_start_failure() {
    let w = World::new(false);
    let (plan, lock) = w.plan();
    let release = Counting::ok();
    let marker = w.root.join("ran");
    let result = w
        .hand(&format!("touch {}", marker.display()))
        .resume(&plan, &lock, &release)
        .await
        .expect("result");
    match result {
        SpawnBgResumeResult::SpawnStartFailed { released, error } => {
            assert!(released);
            assert!(
                error.contains("no saved pi session for 20260612T100000-aaaaaa"),
                "{error}"
            );
        }
        other => panic!("expected spawn-start-failed, got {other:?}"),
    }
    assert_eq!(release.calls(), 1);
    assert!(!marker.exists(), "pi was never started");
}

#[tokio::test]
async fn a_release_failure_after_an_observation_is_a_hand_error_with_the_release_text() {
    let w = World::new(true);
    let (plan, lock) = w.plan();
    let err = "EACCES: permission denied, unlink '/fake/locks/20260612T100000-aaaaaa.lock'";
    let release = Counting {
        calls: AtomicUsize::new(0),
        fail_with: Some(err),
    };
    let outcome = w.hand("exit 0").resume(&plan, &lock, &release).await;
    match outcome {
        Err(e @ HandError::Io(_)) => assert_eq!(e.to_string(), err),
        other => panic!("expected a hand error, got {other:?}"),
    }
    assert_eq!(release.calls(), 1, "a failed release is not retried");
}

mod through_production {
    //! The whole dispatch (decider → preflight → hand) over production IO in temp dirs, with a
    //! stand-in `pi` that only records that it was launched.

    use super::*;
    use entwurf_decider::{
        dispatch, DispatchInput, ExecutedOutcome, Intent, Production, ProductionDirs, RejectReason,
        RunResult,
    };
    use entwurf_meta_session::{upsert_with_mint, Backend, GardenId, UpsertInput};

    struct Setup {
        w: World,
        dirs: ProductionDirs,
        gid: GardenId,
        witness: PathBuf,
    }

    fn setup() -> Setup {
        let w = World::new(true);
        let dirs = ProductionDirs {
            sessions: w.root.join("sessions"),
            mailbox: w.root.join("mailbox"),
            receivers: w.root.join("receivers"),
            lock: w.root.join("locks"),
            control: w.root.join("ctl"),
        };
        for d in [&dirs.sessions, &dirs.lock, &dirs.control] {
            fs::create_dir_all(d).expect("dir");
        }
        let gid = GardenId::parse(GID).expect("gid");
        let cwd = w.root.join("cwd");
        let input = UpsertInput::new(Backend::Pi, GID, cwd.to_str().expect("utf8"));
        upsert_with_mint(
            &dirs.sessions,
            &dirs.mailbox,
            &input,
            chrono::Utc::now(),
            |_| gid.clone(),
        )
        .expect("pi record");
        let witness = w.root.join("launched");
        Setup {
            w,
            dirs,
            gid,
            witness,
        }
    }

    fn production(s: &Setup) -> Production {
        let hand =
            s.w.hand(&format!("echo \"$*\" > {}\nexit 0", s.witness.display()));
        Production::new(s.dirs.clone())
            .with_trust(s.w.agent.clone(), vec![], None)
            .with_spawn_bg(std::sync::Arc::new(hand))
    }

    fn lock_dir_is_empty(s: &Setup) -> bool {
        fs::read_dir(&s.dirs.lock).map_or(true, |mut d| d.next().is_none())
    }

    #[tokio::test]
    async fn a_trust_deny_is_refused_before_anything_is_launched() {
        let s = setup();
        fs::create_dir_all(s.w.root.join("cwd/.pi/extensions")).expect("trust input");
        let r = dispatch(
            &production(&s),
            DispatchInput::new(s.gid.as_str(), Intent::OwnedOutcome, "resume"),
        )
        .await
        .expect("a result");
        match &r {
            RunResult::Rejected { receipt, .. } => {
                assert_eq!(receipt.reason(), RejectReason::UntrustedFailFast)
            }
            other => panic!("expected untrusted-fail-fast, got {other:?}"),
        }
        assert!(!s.witness.exists(), "pi was launched for an untrusted cwd");
        assert!(lock_dir_is_empty(&s), "the lock was released");
    }

    #[tokio::test]
    async fn a_trusted_dormant_pi_is_resumed_with_the_preflight_launch_args() {
        let s = setup();
        let cwd = s.w.root.join("cwd");
        fs::create_dir_all(cwd.join(".pi/extensions")).expect("trust input");
        fs::create_dir_all(&s.w.agent).expect("agent");
        fs::write(
            s.w.agent.join("trust.json"),
            format!(
                "{{\n  {}: true\n}}\n",
                serde_json::Value::from(cwd.to_str().expect("utf8"))
            ),
        )
        .expect("trust.json");
        let r = dispatch(
            &production(&s),
            DispatchInput::new(s.gid.as_str(), Intent::OwnedOutcome, "resume"),
        )
        .await
        .expect("a result");
        match &r {
            RunResult::Executed {
                outcome:
                    ExecutedOutcome::SpawnBg {
                        result:
                            SpawnBgResumeResult::ChildExited {
                                exit_code: Some(0), ..
                            },
                    },
                ..
            } => {}
            other => panic!("expected executed/spawn-bg/child-exited, got {other:?}"),
        }
        let argv = fs::read_to_string(&s.witness).expect("pi was launched");
        assert_eq!(
            argv.trim_end(),
            format!("--mode json -p --entwurf-control --approve --session-id {GID} --provider p --model m resume")
        );
        assert!(lock_dir_is_empty(&s), "released on the exit observation");
    }
}
