//! The production spawn-bg hand ([`EntwurfSpawnHand`]) with real processes: a stand-in `pi`
//! script, a real saved-session file and a counting lock release. The observations themselves
//! (exit, socket alive, timeouts) are `entwurf-spawn`'s tests of the same `ProductionSpawnIo`;
//! here: what the hand adds (the release it is given, its errors) and a whole dispatch. (The
//! real pi is the live cell C6.)

use std::fs;
use std::path::{Path, PathBuf};

use entwurf_decider::{
    EntwurfSpawnHand, ExecutionPlan, HandError, SpawnBgHand, SpawnBgPlan, SpawnBgResumeResult,
};
use entwurf_lock::LockClaim;
use entwurf_spawn::test_support::{CountingRelease, StandInWorld};

const GID: &str = "20260612T100000-aaaaaa";

/// The hand and the golden plan over entwurf-spawn's stand-in world.
trait HandWorld {
    fn hand(&self, script_body: &str) -> EntwurfSpawnHand;
    fn plan(&self) -> (SpawnBgPlan, LockClaim);
}

impl HandWorld for StandInWorld {
    fn hand(&self, script_body: &str) -> EntwurfSpawnHand {
        let program = self.stand_in_pi(script_body).expect("script");
        EntwurfSpawnHand::new(self.launch(program))
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
async fn no_saved_session_is_a_released_spawn_start_failure() {
    let w = StandInWorld::new(GID, false).expect("world");
    let (plan, lock) = w.plan();
    let release = CountingRelease::default();
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
    let w = StandInWorld::new(GID, true).expect("world");
    let (plan, lock) = w.plan();
    let err = "EACCES: permission denied, unlink '/fake/locks/20260612T100000-aaaaaa.lock'";
    let release = CountingRelease::failing(err);
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
        w: StandInWorld,
        dirs: ProductionDirs,
        gid: GardenId,
        witness: PathBuf,
    }

    fn setup() -> Setup {
        let w = StandInWorld::new(GID, true).expect("world");
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
