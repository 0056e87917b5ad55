//! Hostile entries in the lock dir (issue 13 row 5), the holder's start key (row 8) and the
//! reclaim marker's creator (row 7), with injected liveness answers. The same rows against real
//! processes are in `tests/kill.rs`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use entwurf_lock::{
    claim_line, marker_busy_detail, marker_line, parse_holder, reclaim_marker_path, AcquireOutcome,
    ClearOutcome, EntryKind, Errno, HolderState, Lock, LockClaim, LockError, LockOptions,
    MarkerCreator, ReleaseOutcome, MAX_LOCK_FILE_BYTES,
};
use entwurf_meta_session::GardenId;
use entwurf_testkit::mkfifo;

const GID: &str = "20260612T100000-aaaaaa";
const HOST: &str = "test-host";

fn gid() -> GardenId {
    GardenId::parse(GID).unwrap()
}

/// A temp root with the lock dir `<tmp>/locks` (created) and a file outside it.
struct Root {
    tmp: tempfile::TempDir,
}

impl Root {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("locks")).unwrap();
        Self { tmp }
    }
    fn dir(&self) -> PathBuf {
        self.tmp.path().join("locks")
    }
    fn lock_path(&self) -> PathBuf {
        self.dir().join(format!("{GID}.lock"))
    }
    fn marker(&self) -> PathBuf {
        reclaim_marker_path(&self.lock_path())
    }
    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }
    fn names(&self) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(self.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

/// How the injected `kill(pid, 0)` and start-key reads answer, and how often they were asked.
#[derive(Clone)]
struct World {
    kill: Result<(), Errno>,
    start_key: String,
    start_key_reads: Arc<AtomicU32>,
}

impl World {
    fn new(kill: Result<(), Errno>, start_key: &str) -> Self {
        Self {
            kill,
            start_key: start_key.to_owned(),
            start_key_reads: Arc::new(AtomicU32::new(0)),
        }
    }
    fn lock(&self, root: &Root) -> Lock {
        let (kill, key, reads) = (
            self.kill,
            self.start_key.clone(),
            self.start_key_reads.clone(),
        );
        Lock::with_options(LockOptions {
            dir: root.dir(),
            pid: 5151,
            hostname: HOST.into(),
            clock: Arc::new(|| "2026-06-12T10:10:00.000Z".into()),
            nonce: Arc::new(|| "1111111111111111".into()),
            probe: Arc::new(move |_| kill),
            start_key: "linux:5151000".into(),
            start_key_of: Arc::new(move |_| {
                reads.fetch_add(1, Ordering::SeqCst);
                key.clone()
            }),
            on_marker_held: None,
        })
    }
    fn reads(&self) -> u32 {
        self.start_key_reads.load(Ordering::SeqCst)
    }
}

/// A claim line by pid 4242 on our host, with an optional start key.
fn holder_line(root: &Root, start_key: Option<&str>) -> String {
    claim_line(&LockClaim {
        garden_id: GID.into(),
        pid: 4242.into(),
        hostname: HOST.into(),
        created_at: "2026-06-12T10:00:00.000Z".into(),
        nonce: "deadbeefcafef00d".into(),
        owner: "entwurf_v2".into(),
        lock_path: root.lock_path(),
        start_key: start_key.map(str::to_owned),
    })
    .unwrap()
}

fn marker_text(pid: u32, host: &str, key: &str) -> String {
    marker_line(&MarkerCreator {
        pid,
        hostname: host.into(),
        start_key: key.into(),
        created_at: "2026-06-12T10:05:00.000Z".into(),
    })
    .unwrap()
}

/// Runs `f` on another thread and fails the test (instead of hanging it) when it blocks.
fn never_blocks<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the lock operation blocked on the entry")
}

fn assert_not_a_lock_file(err: &LockError, path: &Path, kind: EntryKind) {
    match err {
        LockError::NotALockFile { path: p, kind: k } => {
            assert_eq!((p.as_path(), *k), (path, kind));
        }
        other => panic!("expected NotALockFile, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains(&kind.to_string()), "{text}");
}

// ---- row 5: a symlink, FIFO, socket or directory at the lock path --------------------------

#[test]
fn a_dangling_symlink_at_the_lock_path_is_a_typed_error_naming_it_never_busy_for_ever() {
    let root = Root::new();
    symlink(root.outside(), root.lock_path()).unwrap();
    let lock = World::new(Err(Errno::SRCH), "").lock(&root);
    for _ in 0..2 {
        let err = lock.acquire(&gid()).unwrap_err();
        assert_not_a_lock_file(&err, &root.lock_path(), EntryKind::Symlink);
        assert!(
            err.to_string()
                .contains("remove it with `entwurf lock clear --force <gid>`"),
            "{err}"
        );
    }
    assert!(!root.outside().exists(), "nothing created through the link");
    assert_not_a_lock_file(
        &lock.inspect(&gid()).unwrap_err(),
        &root.lock_path(),
        EntryKind::Symlink,
    );
    // Without force it is refused with the same error; with force the link itself goes.
    assert!(lock.clear(&gid(), false).is_err());
    let ClearOutcome::Cleared { was, .. } = lock.clear(&gid(), true).unwrap() else {
        panic!("force clears a symlink");
    };
    assert_eq!(was.unwrap().state, HolderState::Corrupt);
    assert!(
        fs::symlink_metadata(root.lock_path()).is_err(),
        "link removed"
    );
    assert!(matches!(
        lock.acquire(&gid()).unwrap(),
        AcquireOutcome::Acquired(_)
    ));
}

#[test]
fn a_symlink_to_an_outside_claim_is_never_followed_read_or_removed() {
    let root = Root::new();
    // Outside: a valid claim whose holder is dead. Followed, it would be reclaimed (unlinked
    // and rewritten) or released.
    fs::write(root.outside(), holder_line(&root, None)).unwrap();
    let before = fs::read(root.outside()).unwrap();
    symlink(root.outside(), root.lock_path()).unwrap();
    let lock = World::new(Err(Errno::SRCH), "").lock(&root);
    let err = lock.acquire(&gid()).unwrap_err();
    assert_not_a_lock_file(&err, &root.lock_path(), EntryKind::Symlink);
    let claim = parse_holder(&holder_line(&root, None), &root.lock_path(), &gid()).unwrap();
    assert!(matches!(
        lock.release(&claim),
        Err(LockError::NotALockFile { .. })
    ));
    assert_eq!(
        fs::read(root.outside()).unwrap(),
        before,
        "outside file untouched"
    );
    assert!(fs::symlink_metadata(root.lock_path())
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(root.names(), vec![format!("{GID}.lock")], "no marker left");
}

#[test]
fn a_fifo_at_the_lock_path_never_blocks_acquire_inspect_release_or_clear() {
    let root = Root::new();
    mkfifo(root.lock_path());
    let world = World::new(Err(Errno::SRCH), "");
    let lock = Arc::new(world.lock(&root));
    let path = root.lock_path();
    let l = lock.clone();
    let (acquired, inspected, released) = never_blocks(move || {
        let claim = LockClaim {
            garden_id: GID.into(),
            pid: 5151.into(),
            hostname: HOST.into(),
            created_at: "c".into(),
            nonce: "1111111111111111".into(),
            owner: "entwurf_v2".into(),
            lock_path: PathBuf::new(),
            start_key: None,
        };
        (
            l.acquire(&gid()).map(|_| ()),
            l.inspect(&gid()).map(|_| ()),
            l.release(&claim).map(|_| ()),
        )
    });
    for err in [acquired, inspected, released] {
        assert_not_a_lock_file(&err.unwrap_err(), &path, EntryKind::Fifo);
    }
    let l = lock.clone();
    let cleared = never_blocks(move || l.clear(&gid(), true));
    assert!(
        matches!(cleared, Ok(ClearOutcome::Cleared { .. })),
        "{cleared:?}"
    );
    assert!(
        fs::symlink_metadata(&path).is_err(),
        "FIFO removed by force"
    );
}

#[test]
fn a_socket_or_directory_at_the_lock_path_is_a_typed_error_and_kept() {
    let root = Root::new();
    let lock = World::new(Err(Errno::SRCH), "").lock(&root);
    {
        let _listener = std::os::unix::net::UnixListener::bind(root.lock_path()).unwrap();
        let err = lock.acquire(&gid()).unwrap_err();
        assert_not_a_lock_file(&err, &root.lock_path(), EntryKind::Socket);
        fs::remove_file(root.lock_path()).unwrap();
    }
    fs::create_dir(root.lock_path()).unwrap();
    let err = lock.acquire(&gid()).unwrap_err();
    assert_not_a_lock_file(&err, &root.lock_path(), EntryKind::Directory);
    assert!(err.to_string().contains("move the directory away"), "{err}");
    // Force cannot unlink a directory: a typed error naming it, and it is kept.
    assert!(matches!(
        lock.clear(&gid(), true),
        Err(LockError::Unlink { ref path, .. }) if path == &root.lock_path()
    ));
    assert!(root.lock_path().is_dir());
}

#[test]
fn a_lock_file_over_the_read_cap_is_corrupt_and_kept_and_one_within_it_still_parses() {
    let root = Root::new();
    let lock = World::new(Err(Errno::SRCH), "").lock(&root);
    // A valid claim padded with JSON white space up to exactly the cap: still a holder.
    let line = holder_line(&root, None);
    let mut at_cap = line.clone().into_bytes();
    at_cap.resize(MAX_LOCK_FILE_BYTES as usize, b' ');
    fs::write(root.lock_path(), &at_cap).unwrap();
    let st = lock.inspect(&gid()).unwrap().unwrap();
    assert_eq!(st.holder.unwrap().pid, 4242);
    // One byte more: never read whole, a corrupt lock (never reclaimed, never deleted).
    let mut over = at_cap.clone();
    over.push(b' ');
    fs::write(root.lock_path(), &over).unwrap();
    let AcquireOutcome::Conflict(c) = lock.acquire(&gid()).unwrap() else {
        panic!("an over-cap file is a conflict");
    };
    assert_eq!(c.holder, None);
    assert!(c.detail.starts_with("lockfile at "), "{}", c.detail);
    assert_eq!(fs::read(root.lock_path()).unwrap(), over, "kept");
    assert_eq!(
        lock.inspect(&gid()).unwrap().unwrap().state,
        HolderState::Corrupt
    );
}

#[test]
fn a_symlink_or_fifo_at_the_marker_path_fails_closed_and_is_never_followed() {
    for fifo in [false, true] {
        let root = Root::new();
        fs::write(root.lock_path(), holder_line(&root, None)).unwrap();
        fs::write(root.outside(), marker_text(4242, HOST, "linux:1")).unwrap();
        if fifo {
            mkfifo(root.marker());
        } else {
            symlink(root.outside(), root.marker()).unwrap();
        }
        let world = World::new(Err(Errno::SRCH), "");
        let lock = Arc::new(world.lock(&root));
        let l = lock.clone();
        let out = never_blocks(move || l.acquire(&gid())).unwrap();
        let AcquireOutcome::Conflict(c) = out else {
            panic!("a reclaim under a hostile marker must fail closed");
        };
        assert!(
            c.detail.starts_with("reclaim already in progress"),
            "{}",
            c.detail
        );
        assert_eq!(c.holder.unwrap().pid, 4242);
        assert_eq!(
            fs::read_to_string(root.outside()).unwrap(),
            marker_text(4242, HOST, "linux:1")
        );
        // `clear --force` removes the entry itself (never what a link points at).
        let cleared = lock.clear(&gid(), true).unwrap();
        assert!(matches!(
            cleared,
            ClearOutcome::Cleared {
                marker_removed: true,
                ..
            }
        ));
        assert!(root.outside().exists());
        assert_eq!(root.names(), Vec::<String>::new());
    }
}

// ---- row 8: the holder's start key --------------------------------------------------------

#[test]
fn a_live_pid_with_another_start_key_is_a_dead_holder_and_is_reclaimed_without_force() {
    for kill in [Ok(()), Err(Errno::PERM)] {
        let root = Root::new();
        fs::write(root.lock_path(), holder_line(&root, Some("linux:111"))).unwrap();
        let world = World::new(kill, "linux:999");
        let lock = world.lock(&root);
        assert_eq!(
            lock.inspect(&gid()).unwrap().unwrap().state,
            HolderState::Dead
        );
        let AcquireOutcome::Acquired(ours) = lock.acquire(&gid()).unwrap() else {
            panic!("a reused pid must not keep the lock ({kill:?})");
        };
        assert_eq!(ours.start_key.as_deref(), Some("linux:5151000"));
        let on_disk = fs::read_to_string(root.lock_path()).unwrap();
        assert_eq!(on_disk, claim_line(&ours).unwrap());
        assert!(
            on_disk.ends_with(",\"startKey\":\"linux:5151000\"}\n"),
            "{on_disk}"
        );
        assert_eq!(root.names(), vec![format!("{GID}.lock")], "marker removed");
        assert_eq!(lock.release(&ours).unwrap(), ReleaseOutcome::Released);
    }
}

#[test]
fn a_live_pid_with_the_same_start_key_is_alive() {
    let root = Root::new();
    fs::write(root.lock_path(), holder_line(&root, Some("linux:111"))).unwrap();
    let world = World::new(Ok(()), "linux:111");
    let AcquireOutcome::Conflict(c) = world.lock(&root).acquire(&gid()).unwrap() else {
        panic!("the same process still holds it");
    };
    assert_eq!(c.holder.unwrap().start_key.as_deref(), Some("linux:111"));
}

#[test]
fn an_unreadable_current_start_key_keeps_the_reference_rule() {
    let root = Root::new();
    fs::write(root.lock_path(), holder_line(&root, Some("linux:111"))).unwrap();
    let world = World::new(Ok(()), "");
    assert!(matches!(
        world.lock(&root).acquire(&gid()).unwrap(),
        AcquireOutcome::Conflict(_)
    ));
    assert_eq!(world.reads(), 1);
}

#[test]
fn a_lock_without_a_start_key_keeps_the_reference_rule_and_reads_no_start_key() {
    let root = Root::new();
    fs::write(root.lock_path(), holder_line(&root, None)).unwrap();
    let world = World::new(Ok(()), "linux:999");
    assert!(matches!(
        world.lock(&root).acquire(&gid()).unwrap(),
        AcquireOutcome::Conflict(_)
    ));
    assert_eq!(world.reads(), 0, "no start key is read for a keyless lock");
    // A non-string or empty startKey is no key either.
    for odd in ["7", "\"\"", "null"] {
        let text = holder_line(&root, None).replace("}\n", &format!(",\"startKey\":{odd}}}\n"));
        assert_eq!(
            parse_holder(&text, &root.lock_path(), &gid())
                .unwrap()
                .start_key,
            None
        );
    }
}

#[test]
fn receipts_and_diagnostics_keep_the_reference_holder_fields() {
    let root = Root::new();
    let claim = parse_holder(
        &holder_line(&root, Some("linux:1")),
        &root.lock_path(),
        &gid(),
    )
    .unwrap();
    let v = serde_json::to_value(&claim).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "gardenId",
            "pid",
            "hostname",
            "createdAt",
            "nonce",
            "owner",
            "lockPath"
        ]
    );
}

// ---- row 7: the reclaim marker's creator --------------------------------------------------

/// A dead holder's lock with the given marker content next to it.
fn dead_holder_with_marker(marker: &str) -> Root {
    let root = Root::new();
    fs::write(root.lock_path(), holder_line(&root, None)).unwrap();
    fs::write(root.marker(), marker).unwrap();
    root
}

#[test]
fn an_empty_reference_marker_stays_fail_closed() {
    let root = dead_holder_with_marker("");
    let lock = World::new(Err(Errno::SRCH), "").lock(&root);
    let AcquireOutcome::Conflict(c) = lock.acquire(&gid()).unwrap() else {
        panic!("an empty marker is never taken over");
    };
    assert!(
        c.detail.starts_with("reclaim already in progress"),
        "{}",
        c.detail
    );
    assert!(root.marker().exists());
    assert!(matches!(
        lock.clear(&gid(), false).unwrap(),
        ClearOutcome::Refused { .. }
    ));
}

#[test]
fn a_dead_creators_marker_is_taken_over_and_the_dead_holder_reclaimed() {
    // The creator pid answers ESRCH (the injected probe says so for every pid).
    let root = dead_holder_with_marker(&marker_text(777, HOST, "linux:1"));
    let lock = World::new(Err(Errno::SRCH), "").lock(&root);
    let AcquireOutcome::Acquired(ours) = lock.acquire(&gid()).unwrap() else {
        panic!("a dead creator's marker must not lock the target for good");
    };
    assert_eq!(root.names(), vec![format!("{GID}.lock")], "marker removed");
    assert_eq!(lock.release(&ours).unwrap(), ReleaseOutcome::Released);
}

#[test]
fn a_marker_whose_creator_pid_was_reused_is_taken_over() {
    // Holder: keyed, its pid now another process. Creator: its pid alive with another key.
    let root = Root::new();
    fs::write(root.lock_path(), holder_line(&root, Some("linux:111"))).unwrap();
    fs::write(root.marker(), marker_text(777, HOST, "linux:222")).unwrap();
    let lock = World::new(Ok(()), "linux:999").lock(&root);
    assert!(matches!(
        lock.acquire(&gid()).unwrap(),
        AcquireOutcome::Acquired(_)
    ));
    assert!(!root.marker().exists());
}

#[test]
fn a_live_creators_marker_or_another_hosts_is_never_taken_over() {
    // The holder recorded "linux:5"; every live pid now reads "linux:1", so the holder is dead
    // by its start key and the reclaim reaches the marker.
    for (kill, host) in [(Ok(()), HOST), (Err(Errno::SRCH), "elsewhere")] {
        let root = Root::new();
        fs::write(root.lock_path(), holder_line(&root, Some("linux:5"))).unwrap();
        fs::write(root.marker(), marker_text(777, host, "linux:1")).unwrap();
        let lock = World::new(kill, "linux:1").lock(&root);
        let AcquireOutcome::Conflict(c) = lock.acquire(&gid()).unwrap() else {
            panic!("kept: {kill:?} {host}");
        };
        assert!(
            c.detail.starts_with("reclaim already in progress"),
            "{}",
            c.detail
        );
        assert!(root.marker().exists());
    }
}

#[test]
fn the_marker_creator_verdict_is_dead_only_when_provable() {
    let creator = |host: &str, key: &str| MarkerCreator {
        pid: 777,
        hostname: host.into(),
        start_key: key.into(),
        created_at: "c".into(),
    };
    let verdict = |c: &MarkerCreator, kill: Result<(), Errno>, now: &str| {
        let now = now.to_owned();
        entwurf_lock::marker_creator_is_dead(c, HOST, &move |_| kill, &move |_| now.clone())
    };
    let k = creator(HOST, "linux:1");
    assert!(verdict(&k, Err(Errno::SRCH), ""));
    assert!(verdict(&k, Ok(()), "linux:2"), "pid reused");
    assert!(
        verdict(&k, Err(Errno::PERM), "linux:2"),
        "pid reused by another user"
    );
    assert!(!verdict(&k, Ok(()), "linux:1"), "alive");
    assert!(!verdict(&k, Ok(()), ""), "current key unreadable");
    // An unknown kill error reads as alive, but a readable other start key still proves reuse.
    assert!(verdict(&k, Err(Errno::INVAL), "linux:2"));
    assert!(!verdict(&k, Err(Errno::INVAL), ""));
    assert!(
        !verdict(&creator(HOST, ""), Ok(()), "linux:2"),
        "creator key unknown"
    );
    assert!(!verdict(
        &creator("elsewhere", "linux:1"),
        Err(Errno::SRCH),
        ""
    ));
    let mut zero = k.clone();
    zero.pid = 0;
    assert!(
        !verdict(&zero, Err(Errno::SRCH), ""),
        "pid 0 is never probed"
    );
    zero.pid = u32::MAX;
    assert!(
        !verdict(&zero, Err(Errno::SRCH), ""),
        "beyond i32 is never probed"
    );
}

#[test]
fn a_marker_whose_flock_is_held_is_never_taken_over_whatever_it_says() {
    // A live reclaimer holds its marker's flock; even content naming a dead creator loses.
    let root = dead_holder_with_marker(&marker_text(777, HOST, "linux:1"));
    let held = fs::File::open(root.marker()).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let lock = World::new(Err(Errno::SRCH), "").lock(&root);
    let AcquireOutcome::Conflict(c) = lock.acquire(&gid()).unwrap() else {
        panic!("a held marker is busy");
    };
    let mtime = c.detail.clone();
    assert!(mtime.starts_with("reclaim already in progress"), "{mtime}");
    drop(held);
    assert!(matches!(
        lock.acquire(&gid()).unwrap(),
        AcquireOutcome::Acquired(_)
    ));
}

#[test]
fn two_takers_of_one_dead_marker_never_both_hold_it() {
    // Taker A holds the taken-over marker (its hook runs inside); taker B, meanwhile, must
    // find it busy.
    let root = dead_holder_with_marker(&marker_text(777, HOST, "linux:1"));
    let world = World::new(Err(Errno::SRCH), "");
    let b = Arc::new(world.lock(&root));
    let (lock_path, marker) = (root.lock_path(), root.marker());
    let inner = Arc::new(std::sync::Mutex::new(None));
    let seen = inner.clone();
    let b2 = b.clone();
    let mut opts = world.lock(&root).options().clone();
    opts.on_marker_held = Some(Arc::new(move |_m: &Path| {
        *seen.lock().unwrap() = Some(b2.acquire(&gid()).unwrap());
    }));
    let a = Lock::with_options(opts);
    assert!(matches!(
        a.acquire(&gid()).unwrap(),
        AcquireOutcome::Acquired(_)
    ));
    let inner = inner.lock().unwrap().take().expect("the hook ran");
    let AcquireOutcome::Conflict(c) = inner else {
        panic!("B proceeded while A held the marker");
    };
    assert!(
        c.detail
            .starts_with(&marker_busy_detail(&marker, None)[..40]),
        "{}",
        c.detail
    );
    assert!(lock_path.exists() && !marker.exists());
}

#[test]
fn clear_without_force_removes_an_abandoned_marker_but_not_a_busy_one() {
    let root = Root::new();
    fs::write(root.marker(), marker_text(777, HOST, "linux:1")).unwrap();
    let dead = World::new(Err(Errno::SRCH), "").lock(&root);
    let alive = World::new(Ok(()), "linux:1").lock(&root);
    assert!(matches!(
        alive.clear(&gid(), false).unwrap(),
        ClearOutcome::Refused { status: None, .. }
    ));
    assert!(root.marker().exists());
    assert_eq!(
        dead.clear(&gid(), false).unwrap(),
        ClearOutcome::Cleared {
            was: None,
            marker_removed: true
        }
    );
    assert_eq!(root.names(), Vec::<String>::new());
}

#[test]
fn the_marker_we_write_names_us_and_is_whole() {
    let root = Root::new();
    fs::write(root.lock_path(), holder_line(&root, None)).unwrap();
    let world = World::new(Err(Errno::SRCH), "");
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let s = seen.clone();
    let mut opts = world.lock(&root).options().clone();
    opts.on_marker_held = Some(Arc::new(move |m: &Path| {
        *s.lock().unwrap() = fs::read_to_string(m).unwrap();
    }));
    assert!(matches!(
        Lock::with_options(opts).acquire(&gid()).unwrap(),
        AcquireOutcome::Acquired(_)
    ));
    let text = seen.lock().unwrap().clone();
    assert_eq!(
        entwurf_lock::parse_marker(&text),
        Some(MarkerCreator {
            pid: 5151,
            hostname: HOST.into(),
            start_key: "linux:5151000".into(),
            created_at: "2026-06-12T10:10:00.000Z".into(),
        })
    );
}

#[test]
fn a_plain_acquire_removes_a_marker_abandoned_in_the_reclaim_gap_but_not_a_live_one() {
    // A reclaimer died after removing the dead holder's file: the lock is free, its marker
    // stays. The next acquire wins with a plain create and removes the abandoned marker.
    let root = Root::new();
    fs::write(root.marker(), marker_text(777, HOST, "linux:1")).unwrap();
    let lock = World::new(Err(Errno::SRCH), "").lock(&root);
    let AcquireOutcome::Acquired(ours) = lock.acquire(&gid()).unwrap() else {
        panic!("the lock is free");
    };
    assert_eq!(root.names(), vec![format!("{GID}.lock")], "marker removed");
    assert_eq!(lock.release(&ours).unwrap(), ReleaseOutcome::Released);

    // A live reclaimer's marker (its flock held) is left to it.
    fs::write(root.marker(), marker_text(777, HOST, "linux:1")).unwrap();
    let held = fs::File::open(root.marker()).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let AcquireOutcome::Acquired(ours) = lock.acquire(&gid()).unwrap() else {
        panic!("the lock is free");
    };
    assert!(
        root.marker().exists(),
        "a held marker is not ours to remove"
    );
    assert_eq!(lock.release(&ours).unwrap(), ReleaseOutcome::Released);
}
