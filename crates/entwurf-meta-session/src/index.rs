//! The upsert scan cache: which `nativeSessionId` each `*.meta.json` carries, so an upsert
//! does not parse every record of a large store.
//!
//! The cache maps a file name to the inode it had when it was parsed and what the parse found
//! (the native id, or the parse error text). It is **never trusted over the directory**: every
//! scan starts with one `readdir` of the store (names and `d_ino`, no `stat`), and
//!
//! * a name that is new, or whose inode changed, is read and parsed again;
//! * a name that vanished is dropped;
//! * a read that fails (permissions, a file removed under us) is reported as skipped every
//!   time and never cached (it may be transient);
//! * an entry the upsert is about to act on (a match) is re-read and re-parsed by the caller
//!   before anything is written; if that disagrees with the cache, the caller falls back to a
//!   full scan that trusts nothing.
//!
//! Every writer of this crate (and the reference) replaces a record by tmp + rename, which
//! always gives the name a new inode. The one change the cache cannot see is a rewrite *in
//! place* that keeps the inode (an editor writing into the file): that file keeps its old
//! cached native id until its inode changes or the cache file is removed.
//!
//! On disk the cache is `<sessions>/.entwurf-upsert-index` (the name does not end in
//! `.meta.json`, so listings ignore it), one JSON object, replaced atomically (tmp + rename,
//! no fsync: it is a cache). A missing, unreadable, corrupt or foreign-version file is simply
//! rebuilt. It is only written for stores of at least [`INDEX_MIN_RECORDS`] records (or when
//! one is already there): below that, parsing every record is as cheap as reading the index.
//! A one-shot upsert rewrites it only when it is missing or once a scan had to re-read
//! [`INDEX_REWRITE_AFTER`] files, so most upserts only read it.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

use entwurf_fs::{Kind, StoreDir};
use serde::{Deserialize, Serialize};

use crate::record::parse_stored_record;

/// The cache file inside the sessions dir.
pub const INDEX_FILE_NAME: &str = ".entwurf-upsert-index";

/// Stores with fewer records than this are scanned without writing a cache file.
pub const INDEX_MIN_RECORDS: usize = 128;

/// A one-shot upsert rewrites the cache file only once a scan had to re-read this many files
/// (every write of this crate gives a record a new inode, so each upsert leaves one entry to
/// re-read): the cache file is rewritten about once per this many upserts, and a scan never
/// re-reads more than this many files because of it.
pub const INDEX_REWRITE_AFTER: usize = 64;

const INDEX_VERSION: u32 = 1;
const RECORD_SUFFIX: &str = ".meta.json";

/// What a parse of one record file found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Parsed {
    /// A readable record with this native id.
    Native(String),
    /// A parse failure, with the reference's message.
    Corrupt(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cached {
    ino: u64,
    parsed: Parsed,
    /// The scan generation that last confirmed this entry (in memory only).
    #[serde(skip)]
    seen: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexFile {
    entwurf_upsert_index: u32,
    entries: HashMap<String, Cached>,
}

/// What a scan's readdir saw besides the records.
#[derive(Debug, Default, Clone)]
pub(crate) struct DirFacts {
    /// `<dir>/.entwurf-upsert-index` is there.
    pub has_index: bool,
    /// Writer-named temp files (`entwurf_fs::temp_name`) seen in the directory.
    pub temps: Vec<String>,
    /// The temps of dead writers this scan removed.
    pub removed_temps: Vec<String>,
}

/// Opens a store directory for listing; `None` when it does not exist.
pub(crate) fn open_store_dir(dir: &Path) -> io::Result<Option<StoreDir>> {
    StoreDir::open(dir)
}

/// Calls `each(name, d_ino)` for every `*.meta.json` in `dir` with one `getdents` pass and no
/// allocation per entry, then removes the temps of dead writers the pass saw (a crashed
/// upsert's). A missing directory has no entries.
fn for_each_record_name(dir: &Path, each: impl FnMut(&str, u64)) -> io::Result<DirFacts> {
    match open_store_dir(dir)? {
        Some(d) => {
            let mut facts = for_each_record_name_in(&d, each)?;
            facts.removed_temps = d.sweep_dead_temps(facts.temps.iter().map(String::as_str));
            Ok(facts)
        }
        None => Ok(DirFacts::default()),
    }
}

/// [`for_each_record_name`] over an open directory (read from its current position).
pub(crate) fn for_each_record_name_in(
    fd: &StoreDir,
    mut each: impl FnMut(&str, u64),
) -> io::Result<DirFacts> {
    use rustix::fs::RawDir;
    let mut facts = DirFacts::default();
    let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut raw = RawDir::new(fd, &mut buf);
    while let Some(entry) = raw.next() {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name.ends_with(RECORD_SUFFIX) {
            each(name, entry.ino());
        } else if name == INDEX_FILE_NAME {
            facts.has_index = true;
        } else if entwurf_fs::is_temp_name(name) {
            facts.temps.push(name.to_owned());
        }
    }
    Ok(facts)
}

/// Only whether the cache file is there (one readdir).
#[cfg(test)]
fn dir_has_index(dir: &Path) -> io::Result<bool> {
    for_each_record_name(dir, |_, _| {}).map(|f| f.has_index)
}

/// Reads and parses one record file: `Ok(parsed)`, or `Err(message)` when it cannot be read.
pub(crate) fn parse_file(path: &Path) -> Result<Parsed, String> {
    let bytes = crate::fsutil::read_small(path, entwurf_fs::Kind::Record)
        .map_err(|e| format!("could not read the file: {e}"))?;
    Ok(match parse_stored_record(&bytes) {
        Ok(stored) => Parsed::Native(stored.record.native_session_id),
        Err(e) => Parsed::Corrupt(e.to_string()),
    })
}

/// What a scan found for one native id, in file-name order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanOutcome {
    /// Files whose body carries the native id.
    pub matches: Vec<String>,
    /// Unreadable files: `(name, message)`.
    pub skipped: Vec<(String, String)>,
    /// How many files had to be read because the cache did not know them (or their inode).
    pub reparsed: usize,
}

/// The in-memory cache (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct ScanCache {
    entries: HashMap<String, Cached>,
    generation: u32,
    /// An inotify watch on the store (long-lived handles only, see [`ScanCache::watch`]).
    watch: Option<DirWatch>,
    /// `true` once a full scan ran with the watch in place and no event has been lost since:
    /// the cache then equals the directory plus the events still queued.
    in_sync: bool,
    /// Names the last scan listed but could not read: retried (and reported) on every scan.
    unreadable: Vec<String>,
}

/// An inotify watch on one directory, read without blocking.
#[derive(Debug)]
struct DirWatch {
    fd: rustix::fd::OwnedFd,
}

/// What the queued events say must be looked at again.
enum Pending {
    /// Nothing was lost: re-check these names (`true`: re-parse even with the same inode,
    /// the content was written in place).
    Names(HashMap<String, bool>),
    /// Events were lost or the directory itself went away: only a full scan will do.
    Lost,
}

impl DirWatch {
    /// Watches `dir` for every entry change, or `None` where events cannot be relied on (no
    /// inotify, or a network / FUSE filesystem whose remote writers raise no events).
    fn new(dir: &Path) -> Option<DirWatch> {
        use rustix::fs::inotify::{add_watch, init, CreateFlags, WatchFlags};
        const UNRELIABLE: [i64; 8] = [
            0x6969,      // NFS
            0x517B,      // SMB
            0xFF53_4D42, // CIFS
            0xFE53_4D42, // SMB2
            0x6573_5546, // FUSE
            0x00C3_6400, // Ceph
            0x0102_1997, // 9p
            0x5346_414F, // AFS
        ];
        let fs_type = rustix::fs::statfs(dir).ok()?.f_type as i64;
        if UNRELIABLE.contains(&fs_type) {
            return None;
        }
        let fd = init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()?;
        let mask = WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::MOVED_TO
            | WatchFlags::MODIFY
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::ONLYDIR;
        add_watch(&fd, dir, mask).ok()?;
        Some(DirWatch { fd })
    }

    /// Drains the queue without blocking.
    fn pending(&self) -> Pending {
        use rustix::fs::inotify::{ReadFlags, Reader};
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut reader = Reader::new(&self.fd, &mut buf);
        let mut names = HashMap::new();
        loop {
            let event = match reader.next() {
                Ok(e) => e,
                Err(e) if e == rustix::io::Errno::AGAIN => return Pending::Names(names),
                Err(_) => return Pending::Lost,
            };
            let flags = event.events();
            if flags.intersects(
                ReadFlags::QUEUE_OVERFLOW
                    | ReadFlags::IGNORED
                    | ReadFlags::DELETE_SELF
                    | ReadFlags::MOVE_SELF
                    | ReadFlags::UNMOUNT,
            ) {
                return Pending::Lost;
            }
            let Some(name) = event.file_name().and_then(|n| n.to_str().ok()) else {
                continue;
            };
            if name.ends_with(RECORD_SUFFIX) {
                let in_place = flags.intersects(ReadFlags::MODIFY | ReadFlags::CLOSE_WRITE);
                *names.entry(name.to_owned()).or_insert(false) |= in_place;
            }
        }
    }
}

impl ScanCache {
    /// Loads `<dir>/.entwurf-upsert-index`; anything wrong with it gives an empty cache.
    pub fn load(dir: &Path) -> ScanCache {
        Self::load_if_present(dir).0
    }

    /// Like [`ScanCache::load`], also telling whether a cache file was there at all.
    pub fn load_if_present(dir: &Path) -> (ScanCache, bool) {
        let bytes = match crate::fsutil::read_small(&dir.join(INDEX_FILE_NAME), Kind::Cache) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (ScanCache::default(), false),
            Err(_) => return (ScanCache::default(), true),
        };
        let entries = serde_json::from_slice::<IndexFile>(&bytes)
            .ok()
            .filter(|f| f.entwurf_upsert_index == INDEX_VERSION)
            .map(|f| f.entries)
            .unwrap_or_default();
        let cache = ScanCache {
            entries,
            ..ScanCache::default()
        };
        (cache, true)
    }

    /// Keeps an inotify watch on `dir` from now on, so later scans re-check only the names the
    /// kernel reported changed instead of reading the whole directory (for a long-lived handle;
    /// the first scan after this is a full one). Without a reliable watch nothing changes.
    pub fn watch(&mut self, dir: &Path) {
        if self.watch.is_none() {
            self.watch = DirWatch::new(dir);
            self.in_sync = false;
        }
    }

    /// Forgets every entry (the next scan parses every record again); keeps the watch.
    pub fn forget(&mut self) {
        self.entries.clear();
        self.in_sync = false;
    }

    /// Brings the cache in line with the directory, then scans it for `native`. Matches and
    /// skipped files come out in file-name order; read failures are reported, never cached.
    ///
    /// With a watch that lost nothing since the last full scan, only the names the kernel
    /// reported are looked at again (`lstat`: gone → dropped, new inode or written in place →
    /// re-parsed); otherwise one `readdir` of `dir` (new or re-inoded names are parsed,
    /// vanished names dropped).
    pub fn scan(&mut self, dir: &Path, native: &str) -> io::Result<(ScanOutcome, DirFacts)> {
        if let (true, Some(watch)) = (self.in_sync, &self.watch) {
            if let Pending::Names(names) = watch.pending() {
                return Ok((self.scan_changed(dir, native, names), DirFacts::default()));
            }
        }
        // Drain what is queued now: the full scan below sees all of it.
        if let Some(watch) = &self.watch {
            let _ = watch.pending();
        }
        let out = self.scan_full(dir, native)?;
        self.in_sync = self.watch.is_some();
        Ok(out)
    }

    fn scan_changed(
        &mut self,
        dir: &Path,
        native: &str,
        mut names: HashMap<String, bool>,
    ) -> ScanOutcome {
        use std::os::unix::fs::MetadataExt;
        for name in std::mem::take(&mut self.unreadable) {
            names.entry(name).or_insert(true);
        }
        let mut out = ScanOutcome::default();
        let mut failed = Vec::new();
        for (name, in_place) in names {
            let path = dir.join(&name);
            let ino = match fs::symlink_metadata(&path) {
                Ok(m) => m.ino(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.entries.remove(&name);
                    continue;
                }
                Err(e) => {
                    self.entries.remove(&name);
                    failed.push((name, format!("could not read the file: {e}")));
                    continue;
                }
            };
            let known = self.entries.get(&name).is_some_and(|c| c.ino == ino);
            if known && !in_place {
                continue;
            }
            out.reparsed += 1;
            match parse_file(&path) {
                Ok(parsed) => {
                    let seen = self.generation;
                    self.entries.insert(name, Cached { ino, parsed, seen });
                }
                Err(message) => {
                    self.entries.remove(&name);
                    failed.push((name, message));
                }
            }
        }
        for (name, c) in &self.entries {
            match &c.parsed {
                Parsed::Native(n) if n == native => out.matches.push(name.clone()),
                Parsed::Native(_) => {}
                Parsed::Corrupt(m) => out.skipped.push((name.clone(), m.clone())),
            }
        }
        self.unreadable = failed.iter().map(|(n, _)| n.clone()).collect();
        out.skipped.extend(failed);
        out.matches.sort_unstable();
        out.skipped.sort_unstable();
        out
    }

    fn scan_full(&mut self, dir: &Path, native: &str) -> io::Result<(ScanOutcome, DirFacts)> {
        self.generation = self.generation.wrapping_add(1);
        let gen = self.generation;
        let mut out = ScanOutcome::default();
        let mut to_parse: Vec<(String, u64)> = Vec::new();
        let mut seen = 0usize;
        self.unreadable.clear();
        let facts = for_each_record_name(dir, |name, ino| match self.entries.get_mut(name) {
            Some(c) if c.ino == ino && ino != 0 => {
                c.seen = gen;
                seen += 1;
                match &c.parsed {
                    Parsed::Native(n) if n == native => out.matches.push(name.to_owned()),
                    Parsed::Native(_) => {}
                    Parsed::Corrupt(m) => out.skipped.push((name.to_owned(), m.clone())),
                }
            }
            _ => to_parse.push((name.to_owned(), ino)),
        })?;
        if seen != self.entries.len() {
            // Something vanished or changed inode: drop whatever this readdir did not confirm.
            self.entries.retain(|_, c| c.seen == gen);
        }
        out.reparsed = to_parse.len();
        for (name, ino) in to_parse {
            match parse_file(&dir.join(&name)) {
                Ok(parsed) => {
                    match &parsed {
                        Parsed::Native(n) if n == native => out.matches.push(name.clone()),
                        Parsed::Native(_) => {}
                        Parsed::Corrupt(m) => out.skipped.push((name.clone(), m.clone())),
                    }
                    self.entries.insert(
                        name,
                        Cached {
                            ino,
                            parsed,
                            seen: gen,
                        },
                    );
                }
                Err(message) => {
                    self.unreadable.push(name.clone());
                    out.skipped.push((name, message));
                }
            }
        }
        out.matches.sort_unstable();
        out.skipped.sort_unstable();
        Ok((out, facts))
    }

    /// Records what this process just wrote (`ino` from the written file itself).
    pub fn note_written(&mut self, name: &str, ino: u64, native: &str) {
        self.entries.insert(
            name.to_owned(),
            Cached {
                ino,
                parsed: Parsed::Native(native.to_owned()),
                seen: self.generation,
            },
        );
    }

    /// How many files the cache knows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Replaces `<dir>/.entwurf-upsert-index` atomically (tmp + rename, mode 0600, no fsync).
    /// Failing is harmless (the next scan re-parses what it must), so the error is only returned
    /// for the caller to ignore or log.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let file = IndexFile {
            entwurf_upsert_index: INDEX_VERSION,
            entries: self.entries.clone(),
        };
        let bytes = serde_json::to_vec(&file).map_err(io::Error::other)?;
        crate::fsutil::write_cache_file(dir, INDEX_FILE_NAME, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, native: &str) {
        let gid = name.trim_end_matches(RECORD_SUFFIX);
        let body = format!(
            "{{\n  \"schemaVersion\": 2,\n  \"gardenId\": \"{gid}\",\n  \"backend\": \"codex\",\n  \"nativeSessionId\": \"{native}\",\n  \"cwd\": \"/w\",\n  \"model\": null,\n  \"transcriptPath\": null,\n  \"parentGardenId\": null,\n  \"isEntwurf\": false,\n  \"createdAt\": \"2026-06-12T10:00:00.000Z\",\n  \"recordUpdatedAt\": \"2026-06-12T10:00:00.000Z\"\n}}\n"
        );
        let tmp = dir.join(format!("{name}.tmp"));
        fs::write(&tmp, body).unwrap();
        fs::rename(&tmp, dir.join(name)).unwrap();
    }

    const A: &str = "20260612T100000-aaaaaa.meta.json";
    const B: &str = "20260612T100000-bbbbbb.meta.json";

    #[test]
    fn a_replaced_file_is_reparsed_and_a_vanished_one_dropped() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), A, "n-a");
        write(t.path(), B, "n-b");
        let mut cache = ScanCache::default();
        assert_eq!(
            cache.scan(t.path(), "n-a").unwrap().0.matches,
            vec![A.to_owned()]
        );
        // tmp + rename gives A a new inode: the new native id is seen.
        write(t.path(), A, "n-x");
        fs::remove_file(t.path().join(B)).unwrap();
        let stale = cache.scan(t.path(), "n-a").unwrap().0;
        assert_eq!(
            (stale.matches.len(), stale.reparsed),
            (0, 1),
            "only A is re-read"
        );
        let now = cache.scan(t.path(), "n-x").unwrap().0;
        assert_eq!((now.matches, now.reparsed), (vec![A.to_owned()], 0));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_corrupt_file_is_reported_from_the_cache_and_an_unreadable_one_every_time() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join(A), "{not json").unwrap();
        let mut cache = ScanCache::default();
        let first = cache.scan(t.path(), "n").unwrap().0;
        assert_eq!(first.skipped.len(), 1);
        cache.save(t.path()).unwrap();
        let mut again = ScanCache::load(t.path());
        let (cached, facts) = again.scan(t.path(), "n").unwrap();
        assert_eq!((&cached.skipped, cached.reparsed), (&first.skipped, 0));
        assert!(facts.has_index);
        // A name that cannot be read (a directory here): skipped with the read error, not cached.
        fs::remove_file(t.path().join(A)).unwrap();
        fs::create_dir(t.path().join(B)).unwrap();
        let out = again.scan(t.path(), "n").unwrap().0;
        assert!(
            out.skipped[0].1.starts_with("could not read the file:"),
            "{out:?}"
        );
        assert_eq!(again.len(), 0);
    }

    #[test]
    fn a_corrupt_or_foreign_cache_file_loads_empty() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join(INDEX_FILE_NAME), "garbage").unwrap();
        assert_eq!(ScanCache::load(t.path()).len(), 0);
        fs::write(
            t.path().join(INDEX_FILE_NAME),
            r#"{"entwurfUpsertIndex":99,"entries":{}}"#,
        )
        .unwrap();
        assert_eq!(ScanCache::load(t.path()).len(), 0);
    }

    #[test]
    fn the_listing_sees_the_cache_file_but_never_lists_it() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), A, "n-a");
        ScanCache::default().save(t.path()).unwrap();
        assert!(dir_has_index(t.path()).unwrap());
        let (out, _) = ScanCache::default().scan(t.path(), "n-a").unwrap();
        assert_eq!(out.matches, vec![A.to_owned()]);
    }
}
