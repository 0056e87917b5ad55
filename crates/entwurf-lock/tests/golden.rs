//! Every case of `fixtures/golden/locks/cases.json`, replayed against a real temp dir.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use entwurf_lock::{
    claim_line, classify_kill, os_hostname, parse_garden_id, parse_holder, AcquireOutcome, Errno,
    Lock, LockClaim, LockError, LockOptions, ProcessLiveness, ReleaseOutcome, LOCK_OWNER,
};
use entwurf_meta_session::GardenId;
use rstest::rstest;
use serde_json::{json, Value};

const GID: &str = "20260612T100000-aaaaaa";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/golden/locks")
}

fn cases() -> Value {
    let text = fs::read_to_string(golden_dir().join("cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn gid() -> GardenId {
    GardenId::parse(GID).unwrap()
}

/// A temp root `<tmp>` with the lock dir `<tmp>/locks` inside.
struct Root {
    tmp: tempfile::TempDir,
}

impl Root {
    fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().unwrap(),
        }
    }
    fn dir(&self) -> PathBuf {
        self.tmp.path().join("locks")
    }
    fn lock_path(&self) -> PathBuf {
        self.dir().join(format!("{GID}.lock"))
    }
    /// Replaces the `<tmp>` placeholder in a golden value.
    fn sub(&self, v: &Value) -> Value {
        let text = serde_json::to_string(v)
            .unwrap()
            .replace("<tmp>", self.tmp.path().to_str().unwrap());
        serde_json::from_str(&text).unwrap()
    }
    fn sub_text(&self, s: &str) -> String {
        s.replace("<tmp>", self.tmp.path().to_str().unwrap())
    }
    /// Installs a golden file as the lock, with the given mtime.
    fn install(&self, golden: &str, mtime: &str) -> PathBuf {
        fs::create_dir_all(self.dir()).unwrap();
        let path = self.lock_path();
        fs::copy(golden_dir().join(golden), &path).unwrap();
        set_mtime(&path, mtime);
        path
    }
}

fn set_mtime(path: &Path, iso: &str) {
    let t: SystemTime = chrono::DateTime::parse_from_rfc3339(iso).unwrap().into();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// A probe that must never be consulted.
fn no_probe() -> entwurf_lock::ProcessProbe {
    Arc::new(|pid| panic!("kill({pid}, 0) must not be called here"))
}

fn probe_answering(answer: Result<(), Errno>) -> entwurf_lock::ProcessProbe {
    Arc::new(move |_| answer)
}

/// The start key our fixed-deps locks write (the golden deps have none: the reference writes none).
const FIXED_START_KEY: &str = "linux:4242000";

fn fixed_lock(dir: PathBuf, deps: &Value, probe: entwurf_lock::ProcessProbe) -> Lock {
    fixed_lock_keyed(dir, deps, probe, FIXED_START_KEY)
}

fn fixed_lock_keyed(
    dir: PathBuf,
    deps: &Value,
    probe: entwurf_lock::ProcessProbe,
    start_key: &str,
) -> Lock {
    let now = deps["now"].as_str().unwrap().to_owned();
    let nonce = deps["nonce"].as_str().unwrap().to_owned();
    Lock::with_options(LockOptions {
        dir,
        pid: deps["pid"].as_u64().unwrap() as u32,
        hostname: deps["hostname"].as_str().unwrap().to_owned(),
        clock: Arc::new(move || now.clone()),
        nonce: Arc::new(move || nonce.clone()),
        probe,
        start_key: start_key.to_owned(),
        start_key_of: Arc::new(|pid| panic!("the start key of {pid} must not be read here")),
        on_marker_held: None,
    })
}

/// Re-baseline (a documented deviation, the lock-bytes invariant in `entwurf-lock`'s docs): our
/// claim line is the reference's line with one more field, `startKey`, after `lockPath`.
fn with_start_key(reference_line: &str, key: &str) -> String {
    let body = reference_line
        .strip_suffix("}\n")
        .expect("a golden claim line ends with }\\n");
    format!("{body},\"startKey\":\"{key}\"}}\n")
}

/// The reference's `AcquireLockResult` JSON for an outcome.
fn outcome_json(o: &AcquireOutcome) -> Value {
    match o {
        AcquireOutcome::Acquired(claim) => json!({"ok": true, "claim": claim}),
        AcquireOutcome::Conflict(conflict) => json!({"ok": false, "conflict": conflict}),
    }
}

fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `[(name, size)]` of a dir, sorted.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

fn expected_listing(v: &Value) -> Vec<(String, u64)> {
    let mut out: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "file");
            (
                e["name"].as_str().unwrap().to_owned(),
                e["size"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn case<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == name)
        .unwrap_or_else(|| panic!("no golden case {name}"))
}

#[test]
fn without_a_start_key_the_written_claim_is_the_reference_bytes() {
    let c = &cases()["written"][0];
    let root = Root::new();
    let lock = fixed_lock_keyed(root.dir(), &c["deps"], no_probe(), "");
    let out = lock.acquire(&gid()).unwrap();
    assert_eq!(outcome_json(&out), root.sub(&c["result"]));
    let golden = fs::read_to_string(golden_dir().join("written-fixed.lock")).unwrap();
    assert_eq!(
        fs::read_to_string(root.lock_path()).unwrap(),
        root.sub_text(&golden)
    );
}

#[test]
fn written_fixed_claim_is_the_reference_bytes_plus_our_start_key_with_mode_and_listing() {
    let c = &cases()["written"][0];
    assert_eq!(c["file"], "written-fixed.lock");
    let root = Root::new();
    let lock = fixed_lock(root.dir(), &c["deps"], no_probe());
    let out = lock.acquire(&gid()).unwrap();
    assert_eq!(outcome_json(&out), root.sub(&c["result"]));

    let golden = fs::read_to_string(golden_dir().join("written-fixed.lock")).unwrap();
    let on_disk = fs::read_to_string(root.lock_path()).unwrap();
    assert_eq!(
        on_disk,
        with_start_key(&root.sub_text(&golden), FIXED_START_KEY)
    );
    // The reference's parser ignores the extra field: ours reads it back as the same holder.
    let back = parse_holder(&on_disk, &root.lock_path(), &gid()).unwrap();
    assert_eq!(back.start_key.as_deref(), Some(FIXED_START_KEY));
    let AcquireOutcome::Acquired(claim) = out else {
        unreachable!()
    };
    assert_eq!(claim_line(&claim).unwrap(), on_disk);

    assert_eq!(mode_of(&root.lock_path()), 0o666 & !umask());
    if umask() == 0o022 {
        assert_eq!(
            format!("0{:o}", mode_of(&root.lock_path())),
            c["mode"].as_str().unwrap()
        );
    }
    let names: Vec<_> = listing(&root.dir()).into_iter().map(|e| e.0).collect();
    assert_eq!(names, vec![format!("{GID}.lock")]);
}

#[test]
fn written_real_claim_has_the_real_identity_and_parses_back() {
    let root = Root::new();
    let lock = Lock::new(root.dir());
    let AcquireOutcome::Acquired(claim) = lock.acquire(&gid()).unwrap() else {
        panic!("fresh dir must acquire");
    };
    assert_eq!(claim.pid, std::process::id());
    assert_eq!(claim.hostname, os_hostname());
    assert_eq!(claim.owner, LOCK_OWNER);
    assert_eq!(claim.lock_path, root.lock_path());
    assert!(claim.lock_path.is_absolute());
    assert_eq!(claim.nonce.len(), 16);
    assert!(claim
        .nonce
        .chars()
        .all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    chrono::DateTime::parse_from_rfc3339(&claim.created_at).unwrap();
    assert!(claim.created_at.ends_with('Z') && claim.created_at.len() == 24);

    // Same shape as the reference's real file once the variable parts are swapped in.
    let golden = fs::read_to_string(golden_dir().join("written-real.lock")).unwrap();
    let v = &cases()["written"][1]["variable"];
    let expected = root
        .sub_text(&golden)
        .replace(
            &format!("\"pid\":{}", v["pid"]),
            &format!("\"pid\":{}", claim.pid),
        )
        .replace(
            &format!("\"hostname\":{}", v["hostname"]),
            &format!(
                "\"hostname\":{}",
                serde_json::to_string(&claim.hostname).unwrap()
            ),
        )
        .replace(v["createdAt"].as_str().unwrap(), &claim.created_at)
        .replace(v["nonce"].as_str().unwrap(), &claim.nonce);
    let own_key = entwurf_lock::own_start_key();
    assert!(own_key.starts_with("linux:"), "{own_key}");
    assert_eq!(claim.start_key.as_deref(), Some(own_key.as_str()));
    assert_eq!(
        fs::read_to_string(root.lock_path()).unwrap(),
        with_start_key(&expected, &own_key)
    );
    assert_eq!(lock.release(&claim).unwrap(), ReleaseOutcome::Released);
}

#[test]
fn the_reference_real_file_parses_as_a_holder_with_the_actual_path() {
    let raw = fs::read_to_string(golden_dir().join("written-real.lock")).unwrap();
    let path = Path::new("/actual/20260612T100000-aaaaaa.lock");
    let h = parse_holder(&raw, path, &gid()).unwrap();
    assert_eq!(h.pid, 19107);
    assert_eq!(h.hostname, "vm");
    assert_eq!(h.nonce, "1d17bdd6c01de146");
    assert_eq!(h.lock_path, path);
}

#[rstest]
#[case::empty("null-holder/empty.lock")]
#[case::garbage("null-holder/garbage.lock")]
#[case::truncated("null-holder/truncated.lock")]
#[case::json_null("null-holder/null.lock")]
#[case::array("null-holder/array.lock")]
#[case::wrong_owner("null-holder/wrong-owner.lock")]
#[case::pid_string("null-holder/pid-string.lock")]
#[case::no_nonce("null-holder/no-nonce.lock")]
#[case::host_number("null-holder/host-number.lock")]
#[case::other_gid("null-holder/other-gid.lock")]
fn null_holder_is_a_conflict_never_deleted_and_never_released(#[case] file: &str) {
    let all = cases();
    let c = all["nullHolder"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["file"] == file)
        .unwrap();
    let root = Root::new();
    let path = root.install(file, c["mtime"].as_str().unwrap());
    let before = fs::read(&path).unwrap();
    let deps = json!({"pid": 5151, "hostname": "test-host", "now": "2026-06-12T10:10:00.000Z", "nonce": "1111111111111111"});
    let lock = fixed_lock(root.dir(), &deps, no_probe());

    let out = lock.acquire(&gid()).unwrap();
    assert_eq!(outcome_json(&out), root.sub(&c["acquire"]));

    let base = LockClaim {
        garden_id: GID.into(),
        pid: 4242.into(),
        hostname: "test-host".into(),
        created_at: "2026-06-12T10:00:00.000Z".into(),
        nonce: "deadbeefcafef00d".into(),
        owner: LOCK_OWNER.into(),
        lock_path: path.clone(),
        start_key: None,
    };
    let released = lock.release(&base).unwrap();
    assert_eq!(
        serde_json::to_value(released).unwrap(),
        c["releaseWithBaseNonce"]
    );
    assert_eq!(c["fileKept"], true);
    assert_eq!(fs::read(&path).unwrap(), before, "file kept byte for byte");
}

#[rstest]
#[case::live_holder("live-holder", Some(Ok(())))]
#[case::eperm_holder("eperm-holder", Some(Err(Errno::PERM)))]
#[case::unknown_kill_error("unknown-kill-error", Some(Err(Errno::INVAL)))]
#[case::other_host_never_probed("other-host", None)]
#[case::reclaim_marker_busy("reclaim-marker-busy", Some(Err(Errno::SRCH)))]
fn parsed_holders_that_are_not_reclaimable_conflict(
    #[case] name: &str,
    #[case] kill: Option<Result<(), Errno>>,
) {
    let all = cases();
    let c = case(&all["holder"], name);
    let root = Root::new();
    let path = root.install(c["file"].as_str().unwrap(), c["mtime"].as_str().unwrap());
    let before = fs::read(&path).unwrap();
    if let Some(m) = c["preexistingReclaimMarker"].as_object() {
        let marker = root.dir().join(m["name"].as_str().unwrap());
        fs::write(&marker, m["content"].as_str().unwrap()).unwrap();
        set_mtime(&marker, m["mtime"].as_str().unwrap());
    }
    let probe = kill.map_or_else(no_probe, probe_answering);
    let lock = fixed_lock(root.dir(), &c["ourDeps"], probe);

    let out = lock.acquire(&gid()).unwrap();
    assert_eq!(outcome_json(&out), root.sub(&c["acquire"]));
    assert_eq!(listing(&root.dir()), expected_listing(&c["dirAfter"]));
    assert_eq!(fs::read(&path).unwrap(), before, "holder's file untouched");
}

#[test]
fn reclaim_ok_replaces_a_dead_holder_and_only_the_new_nonce_releases() {
    let all = cases();
    let c = case(&all["holder"], "reclaim-ok");
    let root = Root::new();
    let path = root.install(c["file"].as_str().unwrap(), c["mtime"].as_str().unwrap());
    let lock = fixed_lock(root.dir(), &c["ourDeps"], probe_answering(Err(Errno::SRCH)));
    let stale = parse_holder(&fs::read_to_string(&path).unwrap(), &path, &gid()).unwrap();

    let out = lock.acquire(&gid()).unwrap();
    assert_eq!(outcome_json(&out), root.sub(&c["acquire"]));
    let golden = fs::read_to_string(golden_dir().join(c["lockAfter"].as_str().unwrap())).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        with_start_key(&root.sub_text(&golden), FIXED_START_KEY)
    );
    let names: Vec<_> = listing(&root.dir()).into_iter().map(|e| e.0).collect();
    assert_eq!(names, vec![format!("{GID}.lock")], "marker removed");

    let AcquireOutcome::Acquired(ours) = out else {
        unreachable!()
    };
    let stale_release = lock.release(&stale).unwrap();
    assert_eq!(
        serde_json::to_value(stale_release).unwrap(),
        c["staleRelease"]
    );
    assert!(path.exists());
    let own = lock.release(&ours).unwrap();
    assert_eq!(serde_json::to_value(own).unwrap(), c["ownRelease"]);
    assert!(!path.exists());
}

#[test]
fn reentrant_acquire_in_the_same_process_conflicts_with_our_own_claim() {
    let all = cases();
    let c = case(&all["holder"], "reentrant-same-process");
    let root = Root::new();
    let lock = Lock::new(root.dir());
    let AcquireOutcome::Acquired(first) = lock.acquire(&gid()).unwrap() else {
        panic!("fresh dir must acquire");
    };
    let out = lock.acquire(&gid()).unwrap();
    let AcquireOutcome::Conflict(conflict) = &out else {
        panic!("second acquire must conflict: {out:?}");
    };
    assert_eq!(conflict.holder.as_ref(), Some(&first));
    let mtime =
        entwurf_lock::iso_millis(fs::metadata(root.lock_path()).unwrap().modified().unwrap());
    // The golden result with the variable parts of this run swapped in.
    let v = &c["result"];
    let mut expected = root.sub(v);
    let holder = json!(first);
    expected["conflict"]["holder"] = holder;
    expected["conflict"]["detail"] = Value::String(format!(
        "held by pid {} on host {} since {} (file mtime {}) ({}); clear it by hand if that process is gone",
        first.pid,
        first.hostname,
        first.created_at,
        mtime,
        root.lock_path().display()
    ));
    assert_eq!(outcome_json(&out), expected);
    // The template itself is the golden one.
    let golden_detail = root.sub(&v["conflict"]["detail"]);
    assert!(golden_detail
        .as_str()
        .unwrap()
        .starts_with("held by pid 19107 on host vm since 2026-11-24T06:22:58.375Z (file mtime "));
    assert_eq!(lock.release(&first).unwrap(), ReleaseOutcome::Released);
}

#[test]
fn release_results_match_the_reference() {
    let all = cases();
    let root = Root::new();
    let lock = Lock::new(root.dir());
    let AcquireOutcome::Acquired(claim) = lock.acquire(&gid()).unwrap() else {
        panic!("fresh dir must acquire");
    };

    let c = case(&all["release"], "nonce-mismatch");
    let mut wrong = claim.clone();
    wrong.nonce = c["claimNonce"].as_str().unwrap().to_owned();
    assert_eq!(
        serde_json::to_value(lock.release(&wrong).unwrap()).unwrap(),
        c["result"]
    );
    assert!(root.lock_path().exists());

    let c = case(&all["release"], "owner");
    assert_eq!(
        serde_json::to_value(lock.release(&claim).unwrap()).unwrap(),
        c["result"]
    );
    assert_eq!(root.lock_path().exists(), c["fileAfter"].as_bool().unwrap());

    let c = case(&all["release"], "already-gone");
    assert_eq!(
        serde_json::to_value(lock.release(&claim).unwrap()).unwrap(),
        c["result"]
    );
}

#[test]
fn invalid_gids_are_refused_with_the_reference_text_and_nothing_is_created() {
    let all = cases();
    let root = Root::new();
    let c = case(&all["errors"], "lockPathFor-bad-gid");
    let err = entwurf_lock::lock_path_for(&root.dir(), "../etc/passwd").unwrap_err();
    assert!(matches!(err, LockError::InvalidGardenId { .. }));
    assert_eq!(err.to_string(), c["error"]["message"].as_str().unwrap());

    let c = case(&all["errors"], "acquire-bad-gid");
    let err = parse_garden_id("20260612T100000-AAAAAA").unwrap_err();
    assert_eq!(err.to_string(), c["error"]["message"].as_str().unwrap());
    assert_eq!(c["dirCreated"], false);
    assert!(!root.dir().exists());
}

#[test]
fn a_regular_file_at_the_lock_dir_is_a_typed_error_naming_it() {
    let root = Root::new();
    fs::write(root.dir(), "not a dir").unwrap();
    let err = Lock::new(root.dir()).acquire(&gid()).unwrap_err();
    match &err {
        LockError::DirNotADirectory { dir } => assert_eq!(dir, &root.dir()),
        other => panic!("expected DirNotADirectory, got {other:?}"),
    }
    assert!(err.to_string().contains(&root.dir().display().to_string()));
    assert_eq!(
        fs::read_to_string(root.dir()).unwrap(),
        "not a dir",
        "file kept"
    );
}

#[test]
fn a_directory_at_the_lock_path_is_a_typed_error_not_a_conflict() {
    let root = Root::new();
    fs::create_dir_all(root.lock_path()).unwrap();
    let err = Lock::new(root.dir()).acquire(&gid()).unwrap_err();
    match &err {
        LockError::NotALockFile { path, kind } => {
            assert_eq!(path, &root.lock_path());
            assert_eq!(*kind, entwurf_lock::EntryKind::Directory);
        }
        other => panic!("expected NotALockFile, got {other:?}"),
    }
    assert!(err.to_string().contains(&format!(
        "cannot read the lock file {}",
        root.lock_path().display()
    )));
    assert!(root.lock_path().is_dir(), "nothing removed");
}

#[test]
fn kill_classification_matches_the_reference_table() {
    let table = &cases()["classifyProcessLiveness"];
    for (input, result) in [
        ("alive", Ok(())),
        ("ESRCH", Err(Errno::SRCH)),
        ("EPERM", Err(Errno::PERM)),
        ("EINVAL", Err(Errno::INVAL)),
    ] {
        let got: ProcessLiveness = classify_kill(result);
        assert_eq!(serde_json::to_value(got).unwrap(), table[input], "{input}");
    }
}

#[test]
fn detail_templates_match_the_reference() {
    let t = &cases()["detailTemplates"];
    let holder = LockClaim {
        garden_id: GID.into(),
        pid: 4242.into(),
        hostname: "H".into(),
        created_at: "C".into(),
        nonce: "n".into(),
        owner: LOCK_OWNER.into(),
        lock_path: PathBuf::from("/L"),
        start_key: None,
    };
    let fill = |s: &Value| {
        s.as_str()
            .unwrap()
            .replace("{holder.pid}", "4242")
            .replace("{holder.hostname}", "H")
            .replace("{holder.createdAt}", "C")
            .replace("{lockFileMtimeIso}", "M")
            .replace("{markerMtimeIso}", "M")
            .replace("{lockPath}", "/L")
    };
    let p = Path::new("/L");
    assert_eq!(
        entwurf_lock::holder_detail(&holder, p, Some("M")),
        fill(&t["liveHolder"])
    );
    assert_eq!(
        entwurf_lock::corrupt_detail(p, Some("M")),
        fill(&t["corruptHolder"])
    );
    assert_eq!(
        entwurf_lock::marker_busy_detail(Path::new("/L.reclaim"), Some("M")),
        fill(&t["reclaimMarkerBusy"])
    );
}

#[test]
fn an_open_failure_other_than_eexist_is_an_error_not_a_conflict() {
    // A directory no file can be created in (procfs, even for root): the create fails with
    // something other than EEXIST.
    let dir = PathBuf::from("/proc/self/fdinfo");
    let lock = Lock::new(&dir);
    match lock.acquire(&gid()) {
        Err(LockError::Open { path, source }) => {
            assert_eq!(path, dir.join(format!("{GID}.lock")));
            assert_ne!(source.kind(), std::io::ErrorKind::AlreadyExists);
        }
        other => panic!("expected an Open error, got {other:?}"),
    }
}

#[test]
fn a_claim_over_the_lock_file_cap_is_a_typed_error_and_nothing_is_written() {
    // A lock dir whose own path fits PATH_MAX, so long that the claim (which carries the
    // absolute lock path) would pass the lock file cap: refused before anything is written.
    let root = Root::new();
    let mut dir = root.dir();
    while dir.as_os_str().len() < 4080 {
        dir.push("d".repeat(200.min(4080 - dir.as_os_str().len()).max(1)));
    }
    fs::create_dir_all(&dir).unwrap();
    let lock = Lock::new(&dir);
    let err = lock.acquire(&gid()).unwrap_err();
    match &err {
        LockError::ClaimTooLarge { path, cap } => {
            assert_eq!(path, &dir.join(format!("{GID}.lock")));
            assert_eq!(*cap, entwurf_lock::MAX_LOCK_FILE_BYTES);
        }
        other => panic!("expected ClaimTooLarge, got {other:?}"),
    }
    assert!(err
        .to_string()
        .contains("use a lock dir with a shorter path"));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}

#[test]
fn a_lock_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Lock>();
    assert_send_sync::<LockError>();
}
