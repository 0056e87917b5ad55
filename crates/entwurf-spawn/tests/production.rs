//! The production IO with real processes and a real unix socket, a stand-in script for `pi`
//! (the real pi is exercised by the live cell C6).

use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use entwurf_lock::LockClaim;
use entwurf_spawn::millis::Millis;
use entwurf_spawn::plan::{RetainReason, SpawnBgPlan, SpawnBgResumeResult};
use entwurf_spawn::test_support::{plan_from_tagged, CountingRelease, StandInWorld};
use entwurf_spawn::watcher::{PathInspection, ProbeLiveness};
use entwurf_spawn::{resume, LaunchConfig, ProductionSpawnIo, ResumeRequest, SpawnIo, StderrSink};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpgid, Pid};

const GID: &str = "20260612T100000-aaaaaa";

struct Setup {
    w: StandInWorld,
}

impl std::ops::Deref for Setup {
    type Target = StandInWorld;
    fn deref(&self) -> &StandInWorld {
        &self.w
    }
}

impl Setup {
    fn new() -> Self {
        let w = StandInWorld::new(GID, true).expect("world");
        Self { w }
    }

    /// A stand-in `pi`: a shell script with `body`.
    fn script(&self, body: &str) -> PathBuf {
        self.stand_in_pi(body).expect("script")
    }

    /// Runs `request` launching `program` over the production IO; the result and the number of
    /// releases it asked for.
    ///
    /// A start that fails with `ETXTBSY` is run again (a few times at most): a sibling test's
    /// fork can hold the just-written script open for writing until its exec, a race of these
    /// tests writing stand-ins, not of the code under test.
    async fn resume(
        &self,
        request: &ResumeRequest,
        program: PathBuf,
    ) -> (SpawnBgResumeResult, usize) {
        let launch = self.launch(program);
        let mut attempts = 0;
        loop {
            let release = CountingRelease::default();
            let io = ProductionSpawnIo::new(&launch, &release);
            let result = resume(request, &io).await.expect("result");
            attempts += 1;
            match &result {
                SpawnBgResumeResult::SpawnStartFailed { error, .. }
                    if error.ends_with("ETXTBSY") && attempts < 5 => {}
                _ => return (result, release.calls()),
            }
        }
    }

    fn request(&self, observe_ms: u32) -> ResumeRequest {
        let plan: SpawnBgPlan = plan_from_tagged(serde_json::json!({
            "transport": "spawn-bg", "action": "resume", "targetGardenId": GID, "sessionId": GID,
            "cwd": self.cwd, "prompt": "hi", "launchArgs": [],
            "expectedSocketPath": self.socket, "observeTimeoutMs": observe_ms,
            "releaseWhen": "socket-alive-or-child-exited"
        }))
        .expect("plan");
        let lock = LockClaim {
            garden_id: GID.into(),
            pid: std::process::id().into(),
            hostname: "test-host".into(),
            created_at: "2026-06-12T10:00:00.000Z".into(),
            nonce: "deadbeefcafef00d".into(),
            owner: "entwurf_v2".into(),
            lock_path: self.root.join("locks").join(format!("{GID}.lock")),
            start_key: None,
        };
        let mut r = ResumeRequest::new(plan, Some(lock));
        r.kill_grace_ms = Millis::from_whole(2_000);
        r
    }
}

fn raw_pid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).expect("pid fits"))
}

#[tokio::test]
async fn a_child_that_exits_is_observed_and_released_once() {
    let s = Setup::new();
    let marker = s.root.join("env-and-args");
    let program = s.script(&format!(
        "printf '%s|%s|%s' \"$ENTWURF_V2_RESUME_RESIDENT_SESSION_ID\" \"$(pwd)\" \"$*\" > {}\nexit 7",
        marker.display()
    ));
    let (result, releases) = s.resume(&s.request(30_000), program).await;
    assert!(
        matches!(
            result,
            SpawnBgResumeResult::ChildExited {
                exit_code: Some(7),
                pid: Some(_),
                ..
            }
        ),
        "{result:?}"
    );
    assert_eq!(releases, 1);
    let seen = fs::read_to_string(&marker).expect("the script ran");
    assert_eq!(
        seen,
        format!(
            "{GID}|{}|--mode json -p --entwurf-control --session-id {GID} --provider p --model m hi",
            s.cwd.display()
        )
    );
}

#[tokio::test]
async fn a_missing_program_is_a_released_spawn_start_failure() {
    let s = Setup::new();
    let missing = s.root.join("no-such-pi");
    let (result, releases) = s.resume(&s.request(30_000), missing.clone()).await;
    assert_eq!(
        result,
        SpawnBgResumeResult::SpawnStartFailed {
            released: true,
            error: format!("spawn {} ENOENT", missing.display())
        }
    );
    assert_eq!(releases, 1);
}

#[tokio::test]
async fn a_listening_socket_is_socket_alive_and_the_resident_keeps_running() {
    let s = Setup::new();
    let _listener = UnixListener::bind(&s.socket).expect("bind");
    let program = s.script("exec sleep 300");
    let (result, releases) = s.resume(&s.request(30_000), program).await;
    let pid = match result {
        SpawnBgResumeResult::SocketAlive { pid: Some(pid), .. } => pid,
        other => panic!("expected socket-alive, got {other:?}"),
    };
    assert_eq!(releases, 1);
    // Detached: the leader of its own session and process group.
    let pgid = getpgid(Some(raw_pid(pid))).expect("pgid");
    assert_eq!(pgid, raw_pid(pid));
    let sid = nix::unistd::getsid(Some(raw_pid(pid))).expect("sid");
    assert_eq!(sid, raw_pid(pid));
    kill(raw_pid(pid), Signal::SIGKILL).expect("reap the stand-in");
}

#[tokio::test]
async fn a_timeout_sends_sigterm_and_the_exit_releases() {
    let s = Setup::new();
    let program = s.script("exec sleep 300");
    let (result, releases) = s.resume(&s.request(200), program).await;
    // `sleep` dies of the SIGTERM: exit code null.
    assert!(
        matches!(
            result,
            SpawnBgResumeResult::ChildExited {
                exit_code: None,
                ..
            }
        ),
        "{result:?}"
    );
    assert_eq!(releases, 1);
}

#[tokio::test]
async fn a_forged_socket_path_fails_closed_and_the_child_is_terminated() {
    let s = Setup::new();
    symlink(s.root.join("elsewhere.sock"), &s.socket).expect("forge");
    let program = s.script("exec sleep 300");
    let (result, releases) = s.resume(&s.request(30_000), program).await;
    // SIGTERM ends `sleep` within the grace, so the exit is observed and releases.
    assert!(
        matches!(
            result,
            SpawnBgResumeResult::ChildExited {
                exit_code: None,
                ..
            }
        ),
        "{result:?}"
    );
    assert_eq!(releases, 1);
}

#[tokio::test]
async fn a_child_ignoring_sigterm_leaves_the_lock_retained() {
    let s = Setup::new();
    let program = s.script("trap '' TERM\nwhile :; do sleep 1; done");
    let mut req = s.request(200);
    req.kill_grace_ms = Millis::from_whole(300);
    let (result, releases) = s.resume(&req, program).await;
    let pid = match &result {
        SpawnBgResumeResult::LockRetained {
            reason: RetainReason::KillUnconfirmed,
            diagnostic,
            error: None,
            ..
        } => diagnostic.pid.expect("pid"),
        other => panic!("expected lock-retained, got {other:?}"),
    };
    assert_eq!(releases, 0);
    // Reap the whole stand-in group (the shell and its sleep).
    killpg(raw_pid(pid), Signal::SIGKILL).expect("reap");
}

/// The watcher's lstat and probe are the shipped ones (control-rpc's, as the decider's dispatch
/// uses them): classified here on real paths.
#[tokio::test]
async fn inspection_and_probe_classify_real_paths() {
    let s = Setup::new();
    let (config, release) = (
        LaunchConfig::new(s.agent.clone()),
        CountingRelease::default(),
    );
    let io = ProductionSpawnIo::new(&config, &release);
    let inspect = |path: PathBuf| {
        let io = &io;
        async move { io.inspect(&path).await.expect("inspect") }
    };
    assert_eq!(inspect(s.socket.clone()).await, PathInspection::Absent);
    fs::write(&s.socket, "").expect("file");
    assert_eq!(inspect(s.socket.clone()).await, PathInspection::NotSocket);
    fs::remove_file(&s.socket).expect("rm");
    symlink("/nowhere", &s.socket).expect("symlink");
    assert_eq!(inspect(s.socket.clone()).await, PathInspection::Symlink);
    fs::remove_file(&s.socket).expect("rm");
    {
        let _l = UnixListener::bind(&s.socket).expect("bind");
        assert_eq!(inspect(s.socket.clone()).await, PathInspection::SocketFile);
        assert_eq!(io.probe(&s.socket).await, ProbeLiveness::Alive);
    }
    // The listener is gone, the file stays: a stale socket refuses.
    assert_eq!(io.probe(&s.socket).await, ProbeLiveness::Dead);
    assert_eq!(
        io.probe(Path::new("/nonexistent/x.sock")).await,
        ProbeLiveness::Dead
    );
    assert_eq!(release.calls(), 0, "inspecting and probing release nothing");
}

#[tokio::test]
async fn stderr_goes_to_a_per_gid_log_in_the_log_dir() {
    let s = Setup::new();
    let program = s.script("echo 'resident says boom' >&2\nexit 1");
    let mut config = LaunchConfig::new(s.agent.clone());
    config.pi_program = program;
    let logs = s.root.join("resume-logs");
    config.stderr = StderrSink::LogDir(logs.clone());
    let release = CountingRelease::default();
    let io = ProductionSpawnIo::new(&config, &release);
    let result = resume(&s.request(30_000), &io).await.expect("result");
    assert!(matches!(
        result,
        SpawnBgResumeResult::ChildExited {
            exit_code: Some(1),
            ..
        }
    ));
    let log = fs::read_to_string(entwurf_spawn::production::resident_log_path(&logs, GID))
        .expect("log written");
    assert_eq!(log, "resident says boom\n");
}
