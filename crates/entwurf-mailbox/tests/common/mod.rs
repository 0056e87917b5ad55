//! Shared helpers for the mailbox integration tests: temp stores, records, receiver markers,
//! directory snapshots.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use entwurf_mailbox::MailboxDirs;
use entwurf_meta_session::GardenId;

pub const GID: &str = "20260612T100000-aaaaaa";
pub const NATIVE: &str = "0b6c1f2e-1111-4111-8111-111111111111";

pub fn golden(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden")
        .join(rel)
}

/// A temp root with `sessions/`, `mailbox/`, `receivers/` below it.
pub struct Store {
    pub root: tempfile::TempDir,
    pub sessions: PathBuf,
    pub mailbox: PathBuf,
    pub receivers: PathBuf,
}

impl Store {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let sessions = root.path().join("sessions");
        let mailbox = root.path().join("mailbox");
        let receivers = root.path().join("receivers");
        std::fs::create_dir_all(&sessions).unwrap();
        Self {
            root,
            sessions,
            mailbox,
            receivers,
        }
    }

    pub fn dirs(&self) -> MailboxDirs<'_> {
        MailboxDirs {
            sessions: &self.sessions,
            mailbox: &self.mailbox,
            receivers: &self.receivers,
        }
    }

    /// Writes a v2 record for `gid` with `backend` and `native`.
    pub fn record(&self, gid: &str, backend: &str, native: &str) -> GardenId {
        let body = format!(
            "{{\n  \"schemaVersion\": 2,\n  \"gardenId\": \"{gid}\",\n  \"backend\": \"{backend}\",\n  \
             \"nativeSessionId\": \"{native}\",\n  \"cwd\": \"/home/u/proj\",\n  \"model\": null,\n  \
             \"transcriptPath\": null,\n  \"parentGardenId\": null,\n  \"isEntwurf\": false,\n  \
             \"createdAt\": \"2026-06-12T10:00:00.000Z\",\n  \"recordUpdatedAt\": \"2026-06-12T10:00:00.000Z\"\n}}\n"
        );
        std::fs::write(self.sessions.join(format!("{gid}.meta.json")), body).unwrap();
        GardenId::parse(gid).unwrap()
    }

    /// Writes a receiver marker for `gid` owned by `pid` with the given start key.
    pub fn marker(&self, gid: &str, backend: &str, native: &str, pid: i64, key: &str) {
        std::fs::create_dir_all(&self.receivers).unwrap();
        let body = serde_json::to_string_pretty(&serde_json::json!({
            "gardenId": gid,
            "backend": backend,
            "nativeSessionId": native,
            "ownerPid": pid,
            "ownerStartKey": key,
            "ownerKind": "claude-code-cli",
            "armProvenance": "session-start",
            "updatedAt": "2026-06-12T10:00:00.000Z",
        }))
        .unwrap();
        std::fs::write(self.receivers.join(format!("{gid}.json")), body + "\n").unwrap();
    }

    /// A marker owned by this (live) test process.
    pub fn live_marker(&self, gid: &str, backend: &str, native: &str) {
        let pid = std::process::id();
        self.marker(gid, backend, native, pid.into(), &start_key(pid));
    }

    pub fn mailbox_of(&self, gid: &str) -> PathBuf {
        self.mailbox.join(gid)
    }
}

/// The start key of a live pid (`linux:<starttime>`), as the meta-session crate computes it.
pub fn start_key(pid: u32) -> String {
    let key = entwurf_meta_session::process_start_key(pid.into());
    assert!(!key.is_empty(), "pid {pid} has no start key");
    key
}

/// Every file and dir below `root`: relative name → (mode, bytes). Missing root = empty map
/// with a sentinel so "absent" and "empty" differ.
pub fn snapshot(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        out.insert("<absent>".to_owned(), (0, Vec::new()));
        return out;
    }
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(format!("{rel}/"), (mode, Vec::new()));
                walk(base, &p, out);
            } else {
                out.insert(rel, (mode, std::fs::read(&p).unwrap()));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// `(name, mode)` for every entry of one directory, sorted by name.
pub fn listing(dir: &Path) -> Vec<(String, u32)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().permissions().mode() & 0o777,
            )
        })
        .collect();
    v.sort();
    v
}
