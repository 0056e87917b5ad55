//! Launch identity from saved pi sessions written the way pi 0.80.10 writes them, and the launch
//! that follows from it.

use std::fs;
use std::path::{Path, PathBuf};

use entwurf_spawn::identity::{
    find_session_files, read_launch_identity, session_file_name, session_folder_name,
};
use entwurf_spawn::launch::{launch_spec, RESUME_RESIDENT_SESSION_ENV};
use entwurf_spawn::test_support::{plan_from_tagged, CountingRelease};
use entwurf_spawn::{
    resolve_launch_identity, IdentityError, LaunchConfig, ProductionSpawnIo, SpawnBgPlan,
};
use tempfile::TempDir;

const GID: &str = "20260612T100000-aaaaaa";

fn header(id: &str, cwd: &str) -> String {
    format!(
        "{{\"type\":\"session\",\"version\":3,\"id\":\"{id}\",\"timestamp\":\"2026-06-12T10:00:00.000Z\",\"cwd\":\"{cwd}\"}}"
    )
}

fn model_change(provider: &str, model: &str) -> String {
    format!(
        "{{\"type\":\"model_change\",\"id\":\"a1b2c3d4\",\"parentId\":null,\"timestamp\":\"2026-06-12T10:00:00.001Z\",\"provider\":\"{provider}\",\"modelId\":\"{model}\"}}"
    )
}

const ASSISTANT: &str = "{\"type\":\"message\",\"id\":\"d1b2c3d4\",\"parentId\":\"a1b2c3d4\",\"timestamp\":\"2026-06-12T10:00:02.000Z\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-5\",\"stopReason\":\"stop\",\"timestamp\":1781258402000}}";

struct Agent {
    _tmp: TempDir,
    dir: PathBuf,
}

impl Agent {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("agent");
        fs::create_dir_all(&dir).expect("agent");
        Self { _tmp: tmp, dir }
    }

    /// Writes a session file where pi would: `sessions/--<cwd>--/<stamp>_<id>.jsonl`.
    fn write(&self, cwd: &str, id: &str, lines: &[String]) -> PathBuf {
        let folder = self.dir.join("sessions").join(session_folder_name(cwd));
        fs::create_dir_all(&folder).expect("folder");
        let path = folder.join(session_file_name("2026-06-12T10:00:00.000Z", id));
        fs::write(&path, lines.join("\n") + "\n").expect("write session");
        path
    }
}

#[test]
fn pi_file_layout() {
    assert_eq!(session_folder_name("/tmp/s7/y/cwd"), "--tmp-s7-y-cwd--");
    assert_eq!(
        session_file_name("2026-11-25T15:01:31.194Z", GID),
        "2026-11-25T15-01-31-194Z_20260612T100000-aaaaaa.jsonl"
    );
}

#[test]
fn identity_is_header_cwd_and_first_model_change() {
    let a = Agent::new();
    let file = a.write(
        "/srv/proj",
        GID,
        &[
            header(GID, "/srv/proj"),
            model_change("anthropic", "claude-sonnet-4-5"),
            "{\"type\":\"thinking_level_change\",\"id\":\"b1\",\"parentId\":\"a1b2c3d4\",\"timestamp\":\"t\",\"thinkingLevel\":\"off\"}".into(),
            "not json at all".into(),
            ASSISTANT.into(),
            model_change("anthropic", "claude-sonnet-4-5"),
        ],
    );
    let id = resolve_launch_identity(&a.dir, GID).expect("identity");
    assert_eq!(id.session_file, file);
    assert_eq!(id.cwd, Path::new("/srv/proj"));
    assert_eq!(id.provider.as_deref(), Some("anthropic"));
    assert_eq!(id.model, "claude-sonnet-4-5");
}

#[test]
fn lookup_is_by_header_id_not_file_name() {
    let a = Agent::new();
    // A file named for GID whose header carries another id does not match …
    a.write(
        "/srv/a",
        GID,
        &[
            header("20260612T100500-cccccc", "/srv/a"),
            model_change("p", "m"),
        ],
    );
    assert!(matches!(
        resolve_launch_identity(&a.dir, GID),
        Err(IdentityError::NoSavedSession { .. })
    ));
    // … and a renamed file with the right header does.
    a.write(
        "/srv/b",
        "renamed",
        &[header(GID, "/srv/b"), model_change("p", "m")],
    );
    assert_eq!(
        resolve_launch_identity(&a.dir, GID).expect("found").cwd,
        Path::new("/srv/b")
    );
}

#[test]
fn the_same_id_under_two_cwds_is_ambiguous() {
    let a = Agent::new();
    a.write(
        "/srv/a",
        GID,
        &[header(GID, "/srv/a"), model_change("p", "m")],
    );
    a.write(
        "/srv/b",
        GID,
        &[header(GID, "/srv/b"), model_change("p", "m")],
    );
    let err = resolve_launch_identity(&a.dir, GID).expect_err("ambiguous");
    assert!(matches!(&err, IdentityError::AmbiguousSession { files, .. } if files.len() == 2));
    assert_eq!(find_session_files(&a.dir, GID).expect("list").len(), 2);
}

#[test]
fn missing_pieces_are_typed_errors() {
    let a = Agent::new();
    assert!(matches!(
        resolve_launch_identity(&a.dir, GID),
        Err(IdentityError::NoSavedSession { .. })
    ));

    let f = a.write("/srv/a", GID, &[header(GID, "/srv/a"), ASSISTANT.into()]);
    assert!(matches!(
        read_launch_identity(&f, GID),
        Err(IdentityError::NoRecordedModel { .. })
    ));

    let f = a.write(
        "/srv/b",
        "nocwd",
        &[
            format!("{{\"type\":\"session\",\"version\":3,\"id\":\"{GID}\",\"timestamp\":\"t\"}}"),
            model_change("p", "m"),
        ],
    );
    let err = read_launch_identity(&f, GID).expect_err("no cwd");
    assert!(matches!(err, IdentityError::NoHeaderCwd { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("refusing to resume in a guessed directory"));

    let f = a.write(
        "/srv/c",
        "drift",
        &[
            header(GID, "/srv/c"),
            model_change("p", "m"),
            model_change("p", "other"),
        ],
    );
    assert!(matches!(
        read_launch_identity(&f, GID),
        Err(IdentityError::ModelDrift { .. })
    ));

    let f = a.write(
        "/srv/d",
        "bridge",
        &[header(GID, "/srv/d"), model_change("entwurf", "codex")],
    );
    assert!(matches!(
        read_launch_identity(&f, GID),
        Err(IdentityError::BridgeUnresolved { .. })
    ));

    // A model_change with an empty model does not count as a recorded model.
    let f = a.write(
        "/srv/e",
        "empty",
        &[header(GID, "/srv/e"), model_change("p", "")],
    );
    assert!(matches!(
        read_launch_identity(&f, GID),
        Err(IdentityError::NoRecordedModel { .. })
    ));
}

fn plan(launch_args: &[&str]) -> SpawnBgPlan {
    let decision: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/golden/receipts/decision/ok-spawn-bg.json"),
        )
        .expect("golden"),
    )
    .expect("json");
    let mut plan = plan_from_tagged(decision["plan"].clone()).expect("plan");
    plan.launch_args = launch_args.iter().map(|s| (*s).to_owned()).collect();
    plan
}

fn extension_args() -> Vec<String> {
    vec!["-e".into(), "/opt/entwurf-control.ts".into()]
}

#[test]
fn the_launch_runs_in_the_header_cwd_with_the_resume_marker() {
    let a = Agent::new();
    a.write(
        "/srv/header",
        GID,
        &[
            header(GID, "/srv/header"),
            model_change("anthropic", "claude-sonnet-4-5"),
        ],
    );
    let mut config = LaunchConfig::new(a.dir.clone());
    config.extension_args = extension_args();
    let release = CountingRelease::default();
    let io = ProductionSpawnIo::new(&config, &release);
    let spec = io.prepare(&plan(&["--approve"])).expect("prepare");
    assert_eq!(spec.program, Path::new("pi"));
    assert_eq!(
        spec.args,
        [
            "--mode",
            "json",
            "-p",
            "--entwurf-control",
            "--approve",
            "-e",
            "/opt/entwurf-control.ts",
            "--session-id",
            GID,
            "--provider",
            "anthropic",
            "--model",
            "claude-sonnet-4-5",
            "hi"
        ]
    );
    // The plan's cwd is the record's (/home/u/repos/entwurf); the resident runs in the header's.
    assert_eq!(spec.cwd, Path::new("/srv/header"));
    assert_eq!(
        spec.env,
        vec![(RESUME_RESIDENT_SESSION_ENV.into(), GID.into())]
    );
    let identity = resolve_launch_identity(&a.dir, GID).expect("identity");
    assert_eq!(
        launch_spec(
            "pi".into(),
            &plan(&["--approve"]),
            &identity,
            &extension_args()
        ),
        spec
    );
}

#[test]
fn no_saved_session_fails_the_launch_before_anything_starts() {
    let a = Agent::new();
    let (config, release) = (LaunchConfig::new(a.dir.clone()), CountingRelease::default());
    let io = ProductionSpawnIo::new(&config, &release);
    let err = io.prepare(&plan(&[])).expect_err("no session");
    assert!(
        err.to_string()
            .contains("no saved pi session for 20260612T100000-aaaaaa"),
        "{err}"
    );
    // The identity error travels typed, not as a string.
    let typed = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<IdentityError>());
    assert!(typed.is_some(), "{err:?}");
}
