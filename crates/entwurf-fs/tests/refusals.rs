//! Every refusal of the layer, on real files: symlinks (live and dangling), FIFOs (without
//! hanging), directories, devices, oversize files, names that are not one component.

use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use entwurf_fs::{fs_error_of, FsError, Kind, Publish, StoreDir};
use entwurf_testkit::mkfifo;

/// Runs `f` on another thread and fails the test if it does not return within 20 s (a
/// blocking open of a FIFO would never return).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the call blocked: a FIFO open must never hang")
}

fn refusal(e: &io::Error) -> &FsError {
    fs_error_of(e).unwrap_or_else(|| panic!("not a layer refusal: {e:?}"))
}

fn assert_not_regular(e: &io::Error, path: &Path, found: &str) {
    match refusal(e) {
        FsError::NotRegular {
            path: p, found: f, ..
        } => {
            assert_eq!(p, path);
            assert_eq!(*f, found);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
}

#[test]
fn a_symlink_to_an_outside_file_is_refused_for_read_and_write_and_the_file_is_untouched() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let outside = t.path().join("outside");
    std::fs::write(&outside, "precious").unwrap();
    std::os::unix::fs::symlink(&outside, store.join("f")).unwrap();
    let d = StoreDir::open(&store).unwrap().unwrap();
    let link = store.join("f");

    assert_not_regular(
        &d.read("f", Kind::Record).unwrap_err(),
        &link,
        "symbolic link",
    );
    assert_not_regular(
        &d.overwrite_in_place("f", Kind::Signal, b"x\n").unwrap_err(),
        &link,
        "symbolic link",
    );
    let e = d
        .write_new("f", Kind::Record, b"x", 0o600, false)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    // A replace renames over the link itself, never writes through it.
    d.write_atomic("f", Kind::Record, b"new", Publish::Exchange, false)
        .unwrap();
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    assert!(!std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_dangling_symlink_is_refused_and_nothing_is_created_at_its_target() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let target = t.path().join("would-be-created");
    std::os::unix::fs::symlink(&target, store.join("inbox.signal")).unwrap();
    let d = StoreDir::open(&store).unwrap().unwrap();
    let e = d
        .overwrite_in_place("inbox.signal", Kind::Signal, b"x\n")
        .unwrap_err();
    assert_not_regular(&e, &store.join("inbox.signal"), "symbolic link");
    let e = d.read("inbox.signal", Kind::Signal).unwrap_err();
    assert_not_regular(&e, &store.join("inbox.signal"), "symbolic link");
    assert!(!target.exists(), "nothing created outside the store");
}

#[test]
fn a_fifo_is_refused_for_read_and_write_without_hanging() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().to_path_buf();
    mkfifo(store.join("p"));
    let s = store.clone();
    let (r, w) = bounded(move || {
        let d = StoreDir::open(&s).unwrap().unwrap();
        (
            d.read("p", Kind::State).map(|_| ()),
            d.overwrite_in_place("p", Kind::Signal, b"x\n"),
        )
    });
    assert_not_regular(&r.unwrap_err(), &store.join("p"), "FIFO");
    assert_not_regular(&w.unwrap_err(), &store.join("p"), "FIFO");
}

#[test]
fn a_fifo_with_a_reader_is_still_refused_for_write_and_gets_no_bytes() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("p");
    mkfifo(&p);
    // Hold a non-blocking reader open so the O_WRONLY open itself succeeds.
    let reader = rustix::fs::open(
        &p,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let s = t.path().to_path_buf();
    let w = bounded(move || {
        StoreDir::open(&s)
            .unwrap()
            .unwrap()
            .overwrite_in_place("p", Kind::Signal, b"x\n")
    });
    assert_not_regular(&w.unwrap_err(), &p, "FIFO");
    let mut buf = [0u8; 8];
    assert!(matches!(
        rustix::io::read(&reader, &mut buf),
        Err(rustix::io::Errno::AGAIN) | Ok(0)
    ));
}

#[test]
fn a_directory_or_a_device_is_refused() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("d")).unwrap();
    let d = StoreDir::open(t.path()).unwrap().unwrap();
    assert_not_regular(
        &d.read("d", Kind::Record).unwrap_err(),
        &t.path().join("d"),
        "directory",
    );
    assert_not_regular(
        &d.overwrite_in_place("d", Kind::Signal, b"x").unwrap_err(),
        &t.path().join("d"),
        "directory",
    );
    let dev = StoreDir::open(Path::new("/dev")).unwrap().unwrap();
    let e = bounded(move || dev.read("zero", Kind::Record).map(|_| ()));
    assert_not_regular(&e.unwrap_err(), Path::new("/dev/zero"), "character device");
}

#[test]
fn an_oversize_file_is_refused_after_reading_at_most_cap_plus_one_bytes() {
    let t = tempfile::tempdir().unwrap();
    let d = StoreDir::open(t.path()).unwrap().unwrap();
    let cap = Kind::Record.cap() as usize;
    std::fs::write(t.path().join("ok"), vec![b'a'; cap]).unwrap();
    assert_eq!(d.read("ok", Kind::Record).unwrap().unwrap().len(), cap);
    // A sparse 100 MB file: the read stops at the cap, it never reads the rest.
    let big = std::fs::File::create(t.path().join("big")).unwrap();
    big.set_len(100 * 1024 * 1024).unwrap();
    let e = d.read("big", Kind::Record).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
    match refusal(&e) {
        FsError::TooLarge { path, cap: c, kind } => {
            assert_eq!(path, &t.path().join("big"));
            assert_eq!(*c, cap as u64);
            assert_eq!(*kind, Kind::Record);
        }
        other => panic!("{other:?}"),
    }
    // The write side enforces the same cap and writes nothing.
    let e = d
        .write_atomic(
            "new",
            Kind::Record,
            &vec![b'a'; cap + 1],
            Publish::Replace,
            false,
        )
        .unwrap_err();
    assert!(matches!(refusal(&e), FsError::TooLarge { .. }));
    assert!(!t.path().join("new").exists());
    assert_eq!(d.names().unwrap().len(), 2, "no temp left");
}

#[test]
fn names_that_are_not_one_component_are_refused_before_any_syscall() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("sub")).unwrap();
    std::fs::write(t.path().join("x"), "x").unwrap();
    let d = StoreDir::open(&t.path().join("sub")).unwrap().unwrap();
    for name in ["..", ".", "", "../x", "a/b", "/etc/hostname", "a\0b"] {
        let e = d.read(name, Kind::Record).unwrap_err();
        assert!(
            matches!(refusal(&e), FsError::BadName { .. }),
            "{name:?}: {e}"
        );
        let e = d
            .write_new(name, Kind::Record, b"y", 0o600, false)
            .unwrap_err();
        assert!(matches!(refusal(&e), FsError::BadName { .. }), "{name:?}");
        assert!(StoreDir::open_child(t.path(), name).is_err(), "{name:?}");
    }
    assert_eq!(std::fs::read_to_string(t.path().join("x")).unwrap(), "x");
}

#[test]
fn a_child_directory_that_is_a_symlink_is_refused_but_a_symlinked_root_is_followed() {
    let t = tempfile::tempdir().unwrap();
    let real = t.path().join("real");
    std::fs::create_dir_all(real.join("gid")).unwrap();
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let root = t.path().join("root-link");
    std::os::unix::fs::symlink(&real, &root).unwrap();
    // The root may be a link.
    let child = StoreDir::open_child(&root, "gid").unwrap().unwrap();
    child
        .write_atomic("f", Kind::State, b"{}", Publish::Exchange, false)
        .unwrap();
    assert!(real.join("gid/f").exists());
    // An entry below it may not.
    std::os::unix::fs::symlink(&elsewhere, real.join("evil")).unwrap();
    let e = StoreDir::open_child(&root, "evil").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotADirectory);
    assert!(e.to_string().contains("symbolic link"), "{e}");
    let e = StoreDir::open_or_create_child(&root, "evil").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotADirectory);
    let parent = StoreDir::open(&root).unwrap().unwrap();
    assert!(parent.subdir("evil").is_err());
    assert!(parent.subdir_or_create("evil").is_err());
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn no_replace_publish_never_overwrites_and_leaves_no_temp() {
    let t = tempfile::tempdir().unwrap();
    let d = StoreDir::open(t.path()).unwrap().unwrap();
    std::fs::write(t.path().join("a"), "old").unwrap();
    let e = d
        .write_atomic("a", Kind::Record, b"new", Publish::NoReplace, false)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read_to_string(t.path().join("a")).unwrap(), "old");
    // A dangling symlink takes the name too: never replaced.
    std::os::unix::fs::symlink("/nonexistent-target", t.path().join("b")).unwrap();
    let e = d
        .write_atomic("b", Kind::Record, b"new", Publish::NoReplace, false)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(d.names().unwrap().len(), 2);
    d.write_atomic("c", Kind::Record, b"new", Publish::NoReplace, false)
        .unwrap();
    let mut n = d.names().unwrap();
    n.sort();
    assert_eq!(n, ["a", "b", "c"]);
}

#[test]
fn the_sweep_removes_dead_writers_temps_only() {
    let t = tempfile::tempdir().unwrap();
    let d = StoreDir::open(t.path()).unwrap().unwrap();
    let gone = entwurf_testkit::dead_pid();
    let dead = format!(".state.json.tmp.{gone}.linux:1.0000abcd");
    let reused = format!(".x.msg.tmp.{}.linux:1.0000abce", std::process::id());
    let live = entwurf_fs::temp_name("state.json");
    for n in [
        &dead,
        &reused,
        &live,
        &"state.json".to_owned(),
        &".other".to_owned(),
    ] {
        std::fs::write(t.path().join(n), "x").unwrap();
    }
    let names = d.names().unwrap();
    let removed = d.sweep_dead_temps(names.iter().map(String::as_str));
    let mut want = vec![dead.clone(), reused.clone()];
    want.sort();
    assert_eq!(removed, want);
    let mut left = d.names().unwrap();
    left.sort();
    let mut expect = vec![live, "state.json".to_owned(), ".other".to_owned()];
    expect.sort();
    assert_eq!(left, expect);
}

#[test]
fn read_path_refuses_a_final_symlink_a_fifo_and_oversize() {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    std::fs::write(&outside, "secret").unwrap();
    std::os::unix::fs::symlink(&outside, t.path().join("l")).unwrap();
    mkfifo(t.path().join("p"));
    std::fs::write(t.path().join("big"), vec![b'x'; 5000]).unwrap();
    let mut buf = Vec::new();
    let e = entwurf_fs::read_path(&t.path().join("l"), Kind::Marker, &mut buf).unwrap_err();
    assert_not_regular(&e, &t.path().join("l"), "symbolic link");
    let p = t.path().join("p");
    let e = bounded(move || entwurf_fs::read_path(&p, Kind::Marker, &mut Vec::new()).map(|_| ()));
    assert_not_regular(&e.unwrap_err(), &t.path().join("p"), "FIFO");
    let e = entwurf_fs::read_path(&t.path().join("big"), Kind::State, &mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
    assert!(
        entwurf_fs::read_path(&t.path().join("none"), Kind::State, &mut buf)
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_sweep_removes_earlier_versions_temps_of_gone_pids_and_old_unowned_ones() {
    let t = tempfile::tempdir().unwrap();
    let d = StoreDir::open(t.path()).unwrap().unwrap();
    let gone = entwurf_testkit::dead_pid();
    let legacy_dead = format!("20260612T100000-aaaaaa.meta.json.tmp-{gone}-1718000000000");
    let legacy_live = format!("state.json.tmp-{}-1718000000000-0a1b", std::process::id());
    let old_msg = ".2026-06-12T10-05-00-000Z-0a0b0c.msg.tmp".to_owned();
    let fresh_marker = "20260612T100000-aaaaaa.json.0a1b2c3d.tmp".to_owned();
    for n in [&legacy_dead, &legacy_live, &old_msg, &fresh_marker] {
        std::fs::write(t.path().join(n), "x").unwrap();
    }
    let two_hours_ago = rustix::fs::Timespec {
        tv_sec: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 7200,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        t.path().join(&old_msg),
        &rustix::fs::Timestamps {
            last_access: two_hours_ago,
            last_modification: two_hours_ago,
        },
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
    let names = d.names().unwrap();
    let removed = d.sweep_dead_temps(names.iter().map(String::as_str));
    let mut want = vec![legacy_dead, old_msg];
    want.sort();
    assert_eq!(removed, want);
    let mut left = d.names().unwrap();
    left.sort();
    let mut expect = vec![legacy_live, fresh_marker];
    expect.sort();
    assert_eq!(left, expect);
}

#[test]
fn a_file_that_grows_or_shrinks_between_fstat_and_read_is_read_as_it_is_at_the_read() {
    // `read_capped` trusts one read only when it returns exactly the `fstat` size; these
    // change the file after the open (the `fstat`) and before the read.
    let t = tempfile::tempdir().unwrap();
    let d = StoreDir::open(t.path()).unwrap().unwrap();
    let path = t.path().join("f");
    let mut buf = Vec::new();

    std::fs::write(&path, b"0123456789").unwrap();
    let f = d.open_regular("f").unwrap().unwrap();
    std::fs::write(&path, b"0123456789abcdef").unwrap(); // same inode, grew
    f.read_capped(Kind::Record, &mut buf).unwrap();
    assert_eq!(buf, b"0123456789abcdef");

    let f = d.open_regular("f").unwrap().unwrap();
    std::fs::write(&path, b"0123").unwrap(); // shrank
    f.read_capped(Kind::Record, &mut buf).unwrap();
    assert_eq!(buf, b"0123");

    // Grown past the cap after a small `fstat`: still refused, at most cap + 1 bytes read.
    let f = d.open_regular("f").unwrap().unwrap();
    let cap = Kind::Lock.cap() as usize;
    std::fs::write(&path, vec![b'x'; cap * 3]).unwrap();
    let e = f.read_capped(Kind::Lock, &mut buf).unwrap_err();
    assert!(matches!(refusal(&e), FsError::TooLarge { .. }), "{e:?}");

    // A reused buffer with a large capacity: the content is the file's, nothing stale.
    let mut big = Vec::with_capacity(1 << 20);
    big.extend_from_slice(&[b'z'; 4096]);
    std::fs::write(&path, b"fresh").unwrap();
    let f = d.open_regular("f").unwrap().unwrap();
    f.read_capped(Kind::Record, &mut big).unwrap();
    assert_eq!(big, b"fresh");
}
