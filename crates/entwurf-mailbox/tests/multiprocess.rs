//! Real child processes racing on one mailbox. The children are the helper binary
//! `entwurf-mailbox-race-child` (`src/bin/`), given the store root, the target, their index and
//! how many messages to send.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command};

use chrono::Utc;
use common::{Store, GID, NATIVE};
use entwurf_mailbox::{drain, list, EntryKind};

/// The body child `child` sends as its `seq`-th message (the helper binary's, byte for byte).
fn body(child: usize, seq: usize) -> String {
    let head = format!("child={child} seq={seq:03}\n");
    let filler = format!("{child}-{seq}:").repeat(200);
    format!("{head}{filler}\nend child={child} seq={seq:03}\n")
}

fn spawn_children(root: &Path, n: usize, count: usize) -> Vec<Child> {
    let exe = env!("CARGO_BIN_EXE_entwurf-mailbox-race-child");
    (0..n)
        .map(|i| {
            Command::new(exe)
                .arg(root)
                .args([GID.to_owned(), i.to_string(), count.to_string()])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn parse_body(b: &str) -> (usize, usize) {
    let first = b.lines().next().unwrap();
    let (c, s) = first.split_once(' ').unwrap();
    let child = c.strip_prefix("child=").unwrap().parse().unwrap();
    let seq = s.strip_prefix("seq=").unwrap().parse().unwrap();
    assert_eq!(b, body(child, seq), "torn or mixed body");
    (child, seq)
}

#[test]
fn eight_processes_enqueue_800_messages_none_lost_none_partial_one_drain_returns_all_in_order() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    // The parent owns the receiver marker, so it stays live for the whole race.
    store.live_marker(GID, "claude-code", NATIVE);
    let (n, count) = (8, 100);

    for mut c in spawn_children(store.root.path(), n, count) {
        let status = c.wait().unwrap();
        assert!(status.success(), "a child failed: {status}");
    }

    let dir = store.mailbox_of(GID);
    let names: Vec<String> = common::listing(&dir).into_iter().map(|(n, _)| n).collect();
    let hidden: Vec<_> = names.iter().filter(|n| n.starts_with('.')).collect();
    assert!(hidden.is_empty(), "tmp files left behind: {hidden:?}");
    let listing = list(&store.mailbox, &gid).unwrap();
    assert_eq!(listing.entries.len(), n * count);
    assert!(listing.entries.iter().all(|e| e.kind == EntryKind::Fresh));
    let mut seen = BTreeSet::new();
    for e in &listing.entries {
        let text = std::fs::read_to_string(dir.join(&e.file)).unwrap();
        assert!(seen.insert(parse_body(&text)), "duplicate {}", e.file);
    }
    assert_eq!(seen.len(), n * count);
    assert!(listing.state.last_enqueued_at.is_some());

    let d = drain(&store.sessions, &store.mailbox, &gid, Utc::now()).unwrap();
    assert!(d.is_clean());
    assert_eq!(d.messages.len(), n * count);
    let files: Vec<&str> = d.messages.iter().map(|m| m.file.as_str()).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted, "drain order is name (= time) order");
    // Each child's stamps grow with its sequence numbers: name order is send order (ties within
    // one millisecond are broken by the random tag).
    let mut per_child: Vec<Vec<(usize, String)>> = vec![Vec::new(); n];
    for m in &d.messages {
        let (child, seq) = parse_body(&m.body);
        per_child[child].push((seq, m.file[..24].to_owned()));
    }
    for (child, mut v) in per_child.into_iter().enumerate() {
        assert_eq!(v.len(), count, "child {child}");
        v.sort();
        assert!(
            v.windows(2).all(|w| w[0].1 <= w[1].1),
            "child {child}: a later send has an earlier stamp"
        );
    }
    let after = list(&store.mailbox, &gid).unwrap();
    assert_eq!(after.entries.len(), n * count);
    assert!(after.entries.iter().all(|e| e.kind == EntryKind::Read));
    assert!(d.read_at.is_some());
    assert_eq!(after.state.last_read_at, d.read_at);
}

#[test]
fn drains_racing_with_four_sending_processes_return_every_message_exactly_once() {
    let store = Store::new();
    let gid = store.record(GID, "claude-code", NATIVE);
    store.live_marker(GID, "claude-code", NATIVE);
    let (n, count) = (4, 50);
    let mut children = spawn_children(store.root.path(), n, count);
    let mut got = Vec::new();
    loop {
        let running = children.iter_mut().any(|c| c.try_wait().unwrap().is_none());
        let d = drain(&store.sessions, &store.mailbox, &gid, Utc::now()).unwrap();
        assert!(d.is_clean());
        got.extend(d.messages.into_iter().map(|m| parse_body(&m.body)));
        if !running {
            break;
        }
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // One last drain after every child is gone.
    let d = drain(&store.sessions, &store.mailbox, &gid, Utc::now()).unwrap();
    got.extend(d.messages.into_iter().map(|m| parse_body(&m.body)));
    let unique: BTreeSet<_> = got.iter().copied().collect();
    assert_eq!(
        got.len(),
        n * count,
        "some message was returned twice or lost"
    );
    assert_eq!(unique.len(), n * count);
}
