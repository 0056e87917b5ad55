//! The spawn-bg watcher over scripted fakes, on a paused tokio clock (deterministic: no real
//! time passes, every timer fires in virtual order).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entwurf_lock::LockClaim;
use entwurf_spawn::plan::{RetainReason, SpawnBgPlan, SpawnBgResumeResult};
use entwurf_spawn::test_support::plan_from_tagged;
use entwurf_spawn::watcher::{PathInspection, ProbeLiveness};
use entwurf_spawn::{resume, ResumeError, ResumeRequest, SpawnIo, SpawnedChild};
use tokio::sync::watch;
use tokio::time::Instant;

const GID: &str = "20260612T100000-aaaaaa";
const PID: u32 = 31337;

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden/receipts")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn golden_plan() -> SpawnBgPlan {
    let decision: serde_json::Value =
        serde_json::from_str(&golden("decision/ok-spawn-bg.json")).expect("decision json");
    plan_from_tagged(decision["plan"].clone()).expect("plan parses")
}

fn golden_lock() -> LockClaim {
    let decision: serde_json::Value =
        serde_json::from_str(&golden("decision/ok-spawn-bg.json")).expect("decision json");
    serde_json::from_value(decision["lock"].clone()).expect("lock parses")
}

/// The `outcome.result` object of a golden runner result, re-serialised compactly (key order
/// and number formatting preserved).
fn golden_result(name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&golden(name)).expect("result json");
    serde_json::to_string(&v["outcome"]["result"]).expect("serialise")
}

/// When (in virtual ms after the spawn) things happen, and how the fake IO fails.
#[derive(Clone, Default)]
struct Script {
    spawn_error: Option<&'static str>,
    /// The socket path becomes a live socket at this time.
    socket_alive_at: Option<u64>,
    /// Before `socket_alive_at`, the path holds a stale socket file that refuses connections.
    stale_socket_before: bool,
    /// The path holds a forged entry (from the start).
    forged: Option<PathInspection>,
    /// `inspect` fails with this error.
    inspect_error: Option<&'static str>,
    /// `inspect` fails with this error from this time on.
    inspect_error_from: Option<(u64, &'static str)>,
    /// The child exits on its own at this time with this code.
    exits_at: Option<(u64, Option<i32>)>,
    /// SIGTERM makes the child exit after this delay with this code.
    exits_on_term: Option<(u64, Option<i32>)>,
    /// The exit watch fails at this time.
    exit_watch_error_at: Option<u64>,
    /// `release` fails with this error.
    release_error: Option<&'static str>,
}

struct Fake {
    script: Script,
    spawned_at: Mutex<Option<Instant>>,
    spawns: AtomicUsize,
    releases: AtomicUsize,
    terms: Arc<AtomicUsize>,
    term_times: Arc<Mutex<Vec<Duration>>>,
}

impl Fake {
    fn new(script: Script) -> Self {
        Self {
            script,
            spawned_at: Mutex::new(None),
            spawns: AtomicUsize::new(0),
            releases: AtomicUsize::new(0),
            terms: Arc::new(AtomicUsize::new(0)),
            term_times: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        let start = self
            .spawned_at
            .lock()
            .expect("lock")
            .unwrap_or_else(Instant::now);
        u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn releases(&self) -> usize {
        self.releases.load(Ordering::SeqCst)
    }

    fn terms(&self) -> usize {
        self.terms.load(Ordering::SeqCst)
    }

    fn term_times(&self) -> Vec<Duration> {
        self.term_times.lock().expect("lock").clone()
    }
}

#[async_trait::async_trait]
impl SpawnIo for Fake {
    async fn spawn(&self, _plan: &SpawnBgPlan) -> std::io::Result<SpawnedChild> {
        self.spawns.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.script.spawn_error {
            return Err(std::io::Error::other(e));
        }
        let start = Instant::now();
        *self.spawned_at.lock().expect("lock") = Some(start);

        // SIGTERM is delivered through a watch channel the exit future listens to.
        let (term_tx, mut term_rx) = watch::channel(None::<Instant>);
        let script = self.script.clone();
        let exit = Box::pin(async move {
            let own_exit = async {
                match (script.exits_at, script.exit_watch_error_at) {
                    (Some((at, code)), _) => {
                        tokio::time::sleep_until(start + Duration::from_millis(at)).await;
                        Ok(code)
                    }
                    (None, Some(at)) => {
                        tokio::time::sleep_until(start + Duration::from_millis(at)).await;
                        Err(std::io::Error::other("waitpid EINTR"))
                    }
                    (None, None) => std::future::pending().await,
                }
            };
            let on_term = async {
                let Some((delay, code)) = script.exits_on_term else {
                    return std::future::pending().await;
                };
                let termed_at = loop {
                    if let Some(t) = *term_rx.borrow_and_update() {
                        break t;
                    }
                    if term_rx.changed().await.is_err() {
                        return std::future::pending().await;
                    }
                };
                tokio::time::sleep_until(termed_at + Duration::from_millis(delay)).await;
                Ok(code)
            };
            tokio::select! {
                r = own_exit => r,
                r = on_term => r,
            }
        });
        let terms = Arc::clone(&self.terms);
        let term_times = Arc::clone(&self.term_times);
        let terminate = Box::new(move || {
            terms.fetch_add(1, Ordering::SeqCst);
            term_times.lock().expect("lock").push(start.elapsed());
            let _ = term_tx.send(Some(Instant::now()));
            Ok(())
        });
        Ok(SpawnedChild {
            pid: Some(PID),
            exit,
            terminate,
        })
    }

    async fn inspect(&self, _socket_path: &Path) -> std::io::Result<PathInspection> {
        if let Some(e) = self.script.inspect_error {
            return Err(std::io::Error::other(e));
        }
        if let Some((at, e)) = self.script.inspect_error_from {
            if self.elapsed_ms() >= at {
                return Err(std::io::Error::other(e));
            }
        }
        if let Some(forged) = &self.script.forged {
            return Ok(forged.clone());
        }
        let alive = self
            .script
            .socket_alive_at
            .is_some_and(|at| self.elapsed_ms() >= at);
        Ok(if alive || self.script.stale_socket_before {
            PathInspection::SocketFile
        } else {
            PathInspection::Absent
        })
    }

    async fn probe(&self, _socket_path: &Path) -> ProbeLiveness {
        let alive = self
            .script
            .socket_alive_at
            .is_some_and(|at| self.elapsed_ms() >= at);
        if alive {
            ProbeLiveness::Alive
        } else {
            ProbeLiveness::Dead
        }
    }

    async fn release(&self, _lock: &LockClaim) -> std::io::Result<()> {
        self.releases.fetch_add(1, Ordering::SeqCst);
        match self.script.release_error {
            Some(e) => Err(std::io::Error::other(e)),
            None => Ok(()),
        }
    }
}

fn request() -> ResumeRequest {
    ResumeRequest::new(golden_plan(), Some(golden_lock()))
}

async fn run(script: Script) -> (Result<SpawnBgResumeResult, ResumeError>, Fake) {
    let fake = Fake::new(script);
    let result = resume(&request(), &fake).await;
    (result, fake)
}

fn json(result: &SpawnBgResumeResult) -> String {
    serde_json::to_string(result).expect("serialise result")
}

#[tokio::test(start_paused = true)]
async fn socket_first_releases_once_and_matches_golden() {
    let (result, fake) = run(Script {
        socket_alive_at: Some(450),
        ..Script::default()
    })
    .await;
    let result = result.expect("a result");
    assert_eq!(
        json(&result),
        golden_result("result/spawn-socket-alive.json")
    );
    assert_eq!(fake.releases(), 1);
    assert_eq!(fake.terms(), 0, "a live resident is left running");
}

#[tokio::test(start_paused = true)]
async fn stale_socket_file_keeps_waiting_until_it_connects() {
    let (result, fake) = run(Script {
        stale_socket_before: true,
        socket_alive_at: Some(1_000),
        ..Script::default()
    })
    .await;
    assert!(matches!(
        result,
        Ok(SpawnBgResumeResult::SocketAlive { .. })
    ));
    assert_eq!(fake.releases(), 1);
}

#[tokio::test(start_paused = true)]
async fn exit_first_releases_once_and_matches_golden() {
    let (result, fake) = run(Script {
        exits_at: Some((200, Some(0))),
        ..Script::default()
    })
    .await;
    assert_eq!(
        json(&result.expect("a result")),
        golden_result("result/spawn-child-exited.json")
    );
    assert_eq!(fake.releases(), 1);
    assert_eq!(fake.terms(), 0);
}

#[tokio::test(start_paused = true)]
async fn exit_by_signal_reports_null_code() {
    let (result, fake) = run(Script {
        exits_at: Some((10, None)),
        ..Script::default()
    })
    .await;
    assert_eq!(
        json(&result.expect("a result")),
        golden_result("result/spawn-child-killed.json")
    );
    assert_eq!(fake.releases(), 1);
}

#[tokio::test(start_paused = true)]
async fn spawn_failure_releases_once_and_matches_golden() {
    let (result, fake) = run(Script {
        spawn_error: Some("spawn pi ENOENT"),
        ..Script::default()
    })
    .await;
    assert_eq!(
        json(&result.expect("a result")),
        golden_result("result/spawn-start-failed.json")
    );
    assert_eq!(fake.releases(), 1);
}

#[tokio::test(start_paused = true)]
async fn timeout_then_exit_during_grace_releases_child_exited() {
    let (result, fake) = run(Script {
        exits_on_term: Some((1_200, Some(143))),
        ..Script::default()
    })
    .await;
    assert_eq!(
        result.expect("a result"),
        SpawnBgResumeResult::ChildExited {
            released: true,
            exit_code: Some(143),
            pid: Some(PID)
        }
    );
    assert_eq!(fake.releases(), 1);
    assert_eq!(fake.terms(), 1);
    // SIGTERM went out when the observe timeout (30000 ms of virtual time) ran out.
    assert_eq!(fake.term_times(), vec![Duration::from_millis(30_000)]);
}

#[tokio::test(start_paused = true)]
async fn timeout_then_socket_during_grace_releases_socket_alive() {
    let (result, fake) = run(Script {
        socket_alive_at: Some(31_000),
        ..Script::default()
    })
    .await;
    assert!(matches!(
        result,
        Ok(SpawnBgResumeResult::SocketAlive { .. })
    ));
    assert_eq!(fake.releases(), 1);
    assert_eq!(fake.terms(), 1);
}

#[tokio::test(start_paused = true)]
async fn timeout_then_nothing_retains_the_lock_with_golden_diagnostic() {
    let (result, fake) = run(Script::default()).await;
    assert_eq!(
        json(&result.expect("a result")),
        golden_result("result/spawn-retained-kill.json")
    );
    assert_eq!(fake.releases(), 0, "no observation, no release");
    assert_eq!(fake.terms(), 1);
}

#[tokio::test(start_paused = true)]
async fn exit_after_the_grace_is_too_late_and_the_lock_stays() {
    let (result, fake) = run(Script {
        exits_on_term: Some((5_001, Some(143))),
        ..Script::default()
    })
    .await;
    assert!(matches!(
        result,
        Ok(SpawnBgResumeResult::LockRetained {
            reason: RetainReason::KillUnconfirmed,
            ..
        })
    ));
    assert_eq!(fake.releases(), 0);
}

#[tokio::test(start_paused = true)]
async fn watcher_failure_without_exit_retains_observe_failed_golden() {
    let (result, fake) = run(Script {
        inspect_error: Some("lstat EIO"),
        ..Script::default()
    })
    .await;
    assert_eq!(
        json(&result.expect("a result")),
        golden_result("result/spawn-retained-observe.json")
    );
    assert_eq!(fake.releases(), 0);
    assert_eq!(fake.terms(), 1);
    assert_eq!(
        fake.term_times(),
        vec![Duration::ZERO],
        "the failure is acted on at once, not after the observe timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn watcher_failure_then_exit_during_grace_releases_child_exited() {
    let (result, fake) = run(Script {
        inspect_error: Some("lstat EIO"),
        exits_on_term: Some((100, Some(143))),
        ..Script::default()
    })
    .await;
    assert_eq!(
        result.expect("a result"),
        SpawnBgResumeResult::ChildExited {
            released: true,
            exit_code: Some(143),
            pid: Some(PID)
        }
    );
    assert_eq!(fake.releases(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_watcher_failure_during_the_grace_retains_kill_unconfirmed_with_the_error() {
    let (result, fake) = run(Script {
        inspect_error_from: Some((30_500, "lstat EIO")),
        ..Script::default()
    })
    .await;
    match result.expect("a result") {
        SpawnBgResumeResult::LockRetained { reason, error, .. } => {
            assert_eq!(reason, RetainReason::KillUnconfirmed);
            assert_eq!(error.as_deref(), Some("lstat EIO"));
        }
        other => panic!("expected lock-retained, got {other:?}"),
    }
    assert_eq!(fake.releases(), 0);
    assert_eq!(fake.terms(), 1);
}

#[tokio::test(start_paused = true)]
async fn exit_watch_failure_retains_observe_failed() {
    let (result, fake) = run(Script {
        exit_watch_error_at: Some(50),
        ..Script::default()
    })
    .await;
    match result.expect("a result") {
        SpawnBgResumeResult::LockRetained { reason, error, .. } => {
            assert_eq!(reason, RetainReason::ObserveFailed);
            assert_eq!(error.as_deref(), Some("waitpid EINTR"));
        }
        other => panic!("expected lock-retained, got {other:?}"),
    }
    assert_eq!(fake.releases(), 0);
    assert_eq!(fake.terms(), 1);
}

#[rstest::rstest]
#[case::symlink(PathInspection::Symlink)]
#[case::regular_file(PathInspection::NotSocket)]
#[tokio::test(start_paused = true)]
async fn forged_socket_path_fails_closed_at_once(#[case] forged: PathInspection) {
    let (result, fake) = run(Script {
        forged: Some(forged),
        ..Script::default()
    })
    .await;
    match result.expect("a result") {
        SpawnBgResumeResult::LockRetained { reason, error, .. } => {
            assert_eq!(reason, RetainReason::ObserveFailed);
            let error = error.unwrap_or_default();
            assert!(error.contains("forged control-socket address"), "{error}");
            assert!(error.contains(&format!("{GID}.sock")), "{error}");
        }
        other => panic!("expected lock-retained, got {other:?}"),
    }
    assert_eq!(fake.releases(), 0);
    assert_eq!(fake.term_times(), vec![Duration::ZERO]);
}

#[tokio::test(start_paused = true)]
async fn release_failure_after_an_observation_propagates_with_the_observation() {
    let err = "EACCES: permission denied, unlink '/fake/locks/20260612T100000-aaaaaa.lock'";
    let (result, fake) = run(Script {
        socket_alive_at: Some(0),
        release_error: Some(err),
        ..Script::default()
    })
    .await;
    match result {
        Err(ResumeError::ReleaseFailed { error, observed }) => {
            assert_eq!(error.to_string(), err);
            assert!(matches!(*observed, SpawnBgResumeResult::SocketAlive { .. }));
        }
        other => panic!("expected a release failure, got {other:?}"),
    }
    assert_eq!(fake.releases(), 1, "a failed release is not retried");
    // The runner turns this into the golden execution-failed error text.
    let golden: serde_json::Value =
        serde_json::from_str(&golden("result/spawn-failed-release.json")).expect("json");
    assert_eq!(golden["error"], err);
}

#[tokio::test(start_paused = true)]
async fn a_missing_lock_is_refused_before_any_spawn() {
    let fake = Fake::new(Script::default());
    let result = resume(&ResumeRequest::new(golden_plan(), None), &fake).await;
    let err = result.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "entwurf-v2-release: an in-domain (spawn-bg) execute must hold a lock."
    );
    assert_eq!(fake.spawns.load(Ordering::SeqCst), 0);
    assert_eq!(fake.releases(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_mis_paired_lock_is_refused_before_any_spawn() {
    let fake = Fake::new(Script::default());
    let mut lock = golden_lock();
    lock.garden_id = "20260612T100500-cccccc".into();
    let result = resume(&ResumeRequest::new(golden_plan(), Some(lock)), &fake).await;
    assert_eq!(
        result.expect_err("refused").to_string(),
        "entwurf-v2-release: lock gardenId (20260612T100500-cccccc) does not match plan target (20260612T100000-aaaaaa) — mis-paired plan/lock."
    );
    assert_eq!(fake.spawns.load(Ordering::SeqCst), 0);
}

/// A plan's session id is a `GardenId`: one that is not a garden id never becomes a plan, so no
/// resume can build a path from it.
#[test]
fn an_invalid_session_id_never_becomes_a_plan() {
    let decision: serde_json::Value =
        serde_json::from_str(&golden("decision/ok-spawn-bg.json")).expect("decision json");
    let mut plan = decision["plan"].clone();
    plan["sessionId"] = "../20260612T100000-aaaaaa".into();
    let err = plan_from_tagged(plan).expect_err("refused");
    assert!(err.contains("garden id"), "{err}");
}

#[test]
fn golden_plans_round_trip_byte_exact() {
    for name in [
        "decision/ok-spawn-bg.json",
        "decision/ok-spawn-bg-noarg.json",
    ] {
        let text = golden(name);
        let decision: serde_json::Value = serde_json::from_str(&text).expect("json");
        let plan = plan_from_tagged(decision["plan"].clone()).expect("plan parses");
        // The `transport` tag is the decider's `ExecutionPlan`'s; the rest is this type's.
        let body = serde_json::to_string(&plan).expect("serialise");
        assert_eq!(
            format!("{{\"transport\":\"spawn-bg\",{}", &body[1..]),
            serde_json::to_string(&decision["plan"]).expect("serialise"),
            "{name}"
        );
        assert_eq!(
            plan.expected_socket_path,
            PathBuf::from(format!("/fake/ctl/{GID}.sock"))
        );
    }
}

#[test]
fn golden_results_parse_back() {
    for name in [
        "result/spawn-socket-alive.json",
        "result/spawn-child-exited.json",
        "result/spawn-child-killed.json",
        "result/spawn-start-failed.json",
        "result/spawn-retained-kill.json",
        "result/spawn-retained-observe.json",
    ] {
        let v: serde_json::Value = serde_json::from_str(&golden(name)).expect("json");
        let parsed: SpawnBgResumeResult =
            serde_json::from_value(v["outcome"]["result"].clone()).expect(name);
        assert_eq!(json(&parsed), golden_result(name), "{name}");
    }
}
