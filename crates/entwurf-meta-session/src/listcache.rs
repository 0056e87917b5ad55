//! The listing cache: what each `*.meta.json` parsed to, so listing a large store does not
//! open, read and parse every record each time.
//!
//! `<sessions>/.entwurf-list-cache` keeps, per file name, the file's identity as `statx` saw
//! it (device, inode, size, mtime and ctime, both to the nanosecond) and the parse result (the
//! record, or the parse error text). A listing uses an entry only when a fresh `statx` of the
//! name shows the **same identity**; anything else (a new name, a replaced or rewritten file, a
//! failed `statx`) is opened and parsed as if there were no cache. The directory listing, not
//! the cache, says which files exist.
//!
//! The one change a stat comparison cannot see is a rewrite in place that keeps inode and size
//! and lands in the same tick of the kernel's coarse file clock as the write the cache saw. So
//! an entry is only ever stored for a file whose mtime and ctime are at least
//! [`SETTLE_NANOS`] older than the moment the listing that stores it began: any later write to
//! that file stamps a ctime the cache has not seen (this is git's "racy clean" rule).
//!
//! Read errors (permissions, a file removed under us, not a regular file) are never cached.
//! The file is written only for stores of at least [`INDEX_MIN_RECORDS`] records, only when it
//! is missing or a listing had to parse [`INDEX_REWRITE_AFTER`] files it could have stored, and
//! always atomically (tmp + rename, mode 0600, no fsync: it is a cache). A missing, corrupt,
//! unreadable or older-format file is ignored and rebuilt; failing to write it is harmless.

use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use entwurf_fs::{Kind, StoreDir};
use rustix::fs::{AtFlags, Statx, StatxFlags};
use serde::{Deserialize, Serialize};

use crate::index::{INDEX_MIN_RECORDS, INDEX_REWRITE_AFTER};
use crate::record::{parse_stored_record, MetaRecord};

/// The cache file inside the sessions dir (not `*.meta.json`, so no listing lists it).
pub const LIST_CACHE_FILE_NAME: &str = ".entwurf-list-cache";

/// The file starts with these bytes; the last one is the format version. Bump it whenever
/// [`MetaRecord`] or the entry layout changes: an older file is then ignored and rebuilt.
const MAGIC: &[u8; 8] = b"ENTWLST\x01";

/// How much older than the listing a file's mtime and ctime must be before its entry is
/// stored. Far above any coarse file-clock tick (a few ms) and the 2 s of the coarsest
/// timestamp granularity in use.
pub const SETTLE_NANOS: i128 = 3_000_000_000;

/// Listings of at least this many names are read by more than one thread.
const PARALLEL_MIN: usize = 256;

/// A file's identity as `statx` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct FileKey {
    dev_major: u32,
    dev_minor: u32,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileKey {
    fn of(st: &Statx) -> FileKey {
        let ns = |t: rustix::fs::StatxTimestamp| {
            i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
        };
        FileKey {
            dev_major: st.stx_dev_major,
            dev_minor: st.stx_dev_minor,
            ino: st.stx_ino,
            size: st.stx_size,
            mtime_ns: ns(st.stx_mtime),
            ctime_ns: ns(st.stx_ctime),
        }
    }

    /// The same identity from an `fstat` (what the store layer's open reports).
    fn of_stat(st: &rustix::fs::Stat) -> FileKey {
        let ns = |sec: i64, nsec: i64| i128::from(sec) * 1_000_000_000 + i128::from(nsec);
        FileKey {
            dev_major: rustix::fs::major(st.st_dev),
            dev_minor: rustix::fs::minor(st.st_dev),
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
            #[allow(clippy::unnecessary_cast)]
            mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
            #[allow(clippy::unnecessary_cast)]
            ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        }
    }

    /// Was the file last changed before `cutoff_ns` (so a later write must change its ctime)?
    fn settled_before(&self, cutoff_ns: i128) -> bool {
        self.mtime_ns < cutoff_ns && self.ctime_ns < cutoff_ns
    }
}

/// What a file parsed to (read errors are never cached).
#[derive(Debug, Serialize, Deserialize)]
enum Parsed {
    Record(MetaRecord),
    Corrupt(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    name: String,
    key: FileKey,
    parsed: Parsed,
}

/// The borrowed twin of [`Parsed`] for writing (same encoding).
#[derive(Serialize)]
enum ParsedRef<'a> {
    Record(&'a MetaRecord),
    Corrupt(&'a str),
}

/// The borrowed twin of [`Entry`] for writing (same encoding).
#[derive(Serialize)]
struct EntryRef<'a> {
    name: &'a str,
    key: FileKey,
    parsed: ParsedRef<'a>,
}

/// What reading one listed name found.
enum Outcome {
    /// The cache entry at this index still describes the file.
    Hit(usize),
    /// The file was opened and parsed, with its identity when the parse may be cached (boxed:
    /// most names are hits, and a hit should cost a word, not a record).
    Read(Box<(Result<MetaRecord, String>, Option<FileKey>)>),
}

/// What a listing did with the cache (for tests and the rewrite decision).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheUse {
    /// Names answered from the cache.
    pub hits: usize,
    /// Names opened and parsed.
    pub parsed: usize,
    /// The cache file was (re)written.
    pub wrote: bool,
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// One listed file: its name and its record, or why it could not be read.
pub(crate) type ListedFile = (String, Result<MetaRecord, String>);

/// Reads every name in `names` (sorted `*.meta.json` names of the directory open as `dir`,
/// at `dir_path`) through the cache, and rewrites the cache when that pays. Returns, in the
/// order of `names`, each file's record or the reason it could not be read.
pub(crate) fn read_records(
    dir_path: &Path,
    dir: &StoreDir,
    names: Vec<String>,
) -> (Vec<ListedFile>, CacheUse) {
    read_records_at(dir_path, dir, names, now_ns())
}

/// [`read_records`] for a listing that began at `started` (nanoseconds since the epoch).
fn read_records_at(
    dir_path: &Path,
    dir: &StoreDir,
    names: Vec<String>,
    started: i128,
) -> (Vec<ListedFile>, CacheUse) {
    let loaded = load(dir);
    let had_cache = loaded.is_some();
    let entries = loaded.unwrap_or_default();
    let cached = match_cache(&names, &entries);
    let outcomes = read_all(dir, &names, &cached, &entries);
    let cutoff = started - SETTLE_NANOS;

    // Hits come in increasing entry order, so the entries are moved out in one pass.
    let mut pool = entries.into_iter().enumerate();
    let mut used = CacheUse::default();
    let mut storable_misses = 0;
    let mut keys: Vec<Option<FileKey>> = Vec::with_capacity(names.len());
    let mut buf = Vec::new();
    let out: Vec<ListedFile> = names
        .into_iter()
        .zip(outcomes)
        .map(|(name, outcome)| {
            let from_cache = match outcome {
                Outcome::Hit(i) => pool.by_ref().find(|(j, _)| *j == i).map(|(_, e)| e),
                Outcome::Read(..) => None,
            };
            let (parsed, key) = match (from_cache, outcome) {
                (Some(entry), _) => {
                    used.hits += 1;
                    let parsed = match entry.parsed {
                        Parsed::Record(r) => Ok(r),
                        Parsed::Corrupt(m) => Err(m),
                    };
                    (parsed, Some(entry.key))
                }
                (None, Outcome::Read(read)) => {
                    let (parsed, key) = *read;
                    used.parsed += 1;
                    let key = key.filter(|k| k.settled_before(cutoff));
                    storable_misses += usize::from(key.is_some());
                    (parsed, key)
                }
                // Cannot happen (hits are in order); reading the file is right regardless.
                (None, Outcome::Hit(_)) => {
                    used.parsed += 1;
                    read_fresh(dir, &name, &mut buf)
                }
            };
            keys.push(key);
            (name, parsed)
        })
        .collect();
    if out.len() >= INDEX_MIN_RECORDS && (!had_cache || storable_misses >= INDEX_REWRITE_AFTER) {
        used.wrote = save(dir_path, &out, &keys).is_ok();
    }
    (out, used)
}

/// For each name, the index of its cache entry (both lists sorted by name; no hashing).
fn match_cache(names: &[String], entries: &[Entry]) -> Vec<Option<usize>> {
    let mut at = 0;
    names
        .iter()
        .map(|name| {
            while entries
                .get(at)
                .is_some_and(|e| e.name.as_str() < name.as_str())
            {
                at += 1;
            }
            let hit = entries.get(at).is_some_and(|e| e.name == *name);
            hit.then(|| {
                at += 1;
                at - 1
            })
        })
        .collect()
}

/// Checks or reads each name, by up to four threads for large listings (in input order).
fn read_all(
    dir: &StoreDir,
    names: &[String],
    cached: &[Option<usize>],
    entries: &[Entry],
) -> Vec<Outcome> {
    let read_part = |names: &[String], cached: &[Option<usize>]| -> Vec<Outcome> {
        let mut buf = Vec::with_capacity(4096);
        names
            .iter()
            .zip(cached)
            .map(|(name, hit)| read_one(dir, name, hit.map(|i| (i, &entries[i])), &mut buf))
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || names.len() < PARALLEL_MIN {
        return read_part(names, cached);
    }
    let chunk = names.len().div_ceil(threads);
    let parts: Vec<Option<Vec<Outcome>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .chunks(chunk)
            .zip(cached.chunks(chunk))
            .map(|(n, c)| scope.spawn(move || read_part(n, c)))
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let mut out = Vec::with_capacity(names.len());
    for ((n, c), got) in names.chunks(chunk).zip(cached.chunks(chunk)).zip(parts) {
        // A reader thread cannot die short of a bug; should one, its part is read here.
        out.extend(got.unwrap_or_else(|| read_part(n, c)));
    }
    out
}

fn read_one(
    dir: &StoreDir,
    name: &str,
    cached: Option<(usize, &Entry)>,
    buf: &mut Vec<u8>,
) -> Outcome {
    if let Some((index, entry)) = cached {
        let same = rustix::fs::statx(
            dir,
            name,
            AtFlags::SYMLINK_NOFOLLOW,
            StatxFlags::BASIC_STATS,
        )
        .is_ok_and(|st| FileKey::of(&st) == entry.key);
        if same {
            return Outcome::Hit(index);
        }
    }
    Outcome::Read(Box::new(read_fresh(dir, name, buf)))
}

/// Opens and parses `name`: the record or the reason, and the identity of what was parsed
/// (`None` when the file could not be read: such failures may be transient and are not cached).
fn read_fresh(
    dir: &StoreDir,
    name: &str,
    buf: &mut Vec<u8>,
) -> (Result<MetaRecord, String>, Option<FileKey>) {
    match read_file(dir, name, buf) {
        Ok(key) => (
            parse_stored_record(buf)
                .map(|s| s.record)
                .map_err(|e| e.to_string()),
            Some(key),
        ),
        Err(e) => (Err(format!("could not read the file: {e}")), None),
    }
}

/// Reads `name` (relative to `dir`) into `buf`; returns the identity of what was read.
/// Through the store layer: never a symlink, never a blocking open (a FIFO planted under a
/// record name is refused), never more than a record's cap.
fn read_file(dir: &StoreDir, name: &str, buf: &mut Vec<u8>) -> io::Result<FileKey> {
    buf.clear();
    let f = dir
        .open_regular(name)?
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    let key = FileKey::of_stat(f.stat());
    f.read_capped(Kind::Record, buf)?;
    Ok(key)
}

/// The cache entries, or `None` when the file is missing, unreadable, of another format,
/// corrupt, or not sorted by name.
fn load(dir: &StoreDir) -> Option<Vec<Entry>> {
    let bytes = dir.read(LIST_CACHE_FILE_NAME, Kind::Cache).ok()??;
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    let entries: Vec<Entry> = postcard::from_bytes(body).ok()?;
    let sorted = entries.windows(2).all(|w| w[0].name < w[1].name);
    sorted.then_some(entries)
}

/// Writes the files that have a storable identity (settled and parsed) atomically.
fn save(dir_path: &Path, files: &[ListedFile], keys: &[Option<FileKey>]) -> io::Result<()> {
    let entries: Vec<EntryRef<'_>> = files
        .iter()
        .zip(keys)
        .filter_map(|((name, parsed), key)| {
            Some(EntryRef {
                name,
                key: (*key)?,
                parsed: match parsed {
                    Ok(record) => ParsedRef::Record(record),
                    Err(message) => ParsedRef::Corrupt(message),
                },
            })
        })
        .collect();
    let mut bytes = MAGIC.to_vec();
    bytes = postcard::to_extend(&entries, bytes).map_err(io::Error::other)?;
    crate::fsutil::write_cache_file(dir_path, LIST_CACHE_FILE_NAME, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const N: usize = 130;

    fn gid(i: usize) -> String {
        format!("20260612T100000-{i:06x}")
    }

    fn body(i: usize, cwd: &str) -> String {
        let g = gid(i);
        format!(
            "{{\n  \"schemaVersion\": 2,\n  \"gardenId\": \"{g}\",\n  \"backend\": \"codex\",\n  \"nativeSessionId\": \"native-{i}\",\n  \"cwd\": \"{cwd}\",\n  \"model\": null,\n  \"transcriptPath\": null,\n  \"parentGardenId\": null,\n  \"isEntwurf\": false,\n  \"createdAt\": \"2026-06-12T10:00:00.000Z\",\n  \"recordUpdatedAt\": \"2026-06-12T10:00:00.000Z\"\n}}\n"
        )
    }

    fn store() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for i in 0..N {
            fs::write(
                t.path().join(format!("{}.meta.json", gid(i))),
                body(i, "/w"),
            )
            .unwrap();
        }
        t
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".meta.json"))
            .collect();
        v.sort();
        v
    }

    /// Lists `dir` as if the listing began `ahead_s` seconds from now (so files written by the
    /// test count as settled when `ahead_s` exceeds the settle time).
    fn list(dir: &Path, ahead_s: i128) -> (Vec<ListedFile>, CacheUse) {
        let fd = crate::index::open_store_dir(dir).unwrap().unwrap();
        read_records_at(dir, &fd, names(dir), now_ns() + ahead_s * 1_000_000_000)
    }

    /// The same listing with no cache at all.
    fn uncached(dir: &Path) -> Vec<ListedFile> {
        let copy = tempfile::tempdir().unwrap();
        for n in names(dir) {
            let from = dir.join(&n);
            if from.is_file() {
                fs::copy(&from, copy.path().join(&n)).unwrap();
            } else {
                fs::create_dir(copy.path().join(&n)).unwrap();
            }
        }
        let fd = crate::index::open_store_dir(copy.path()).unwrap().unwrap();
        // A listing that stores nothing: every file is younger than the cutoff.
        read_records_at(copy.path(), &fd, names(copy.path()), 0).0
    }

    #[test]
    fn a_settled_store_is_cached_and_then_answered_from_the_cache() {
        let t = store();
        let (first, used) = list(t.path(), 10);
        assert_eq!((used.hits, used.parsed, used.wrote), (0, N, true));
        assert!(t.path().join(LIST_CACHE_FILE_NAME).is_file());
        let (second, used) = list(t.path(), 10);
        assert_eq!((used.hits, used.parsed, used.wrote), (N, 0, false));
        assert_eq!(first, second);
        assert_eq!(second, uncached(t.path()));
    }

    #[test]
    fn files_changed_within_the_settle_time_are_never_stored() {
        let t = store();
        let (_, used) = list(t.path(), 0);
        assert!(used.wrote, "a missing cache is written");
        let (_, used) = list(t.path(), 0);
        assert_eq!((used.hits, used.parsed), (0, N));
    }

    #[test]
    fn a_rewrite_in_place_of_the_same_size_is_read_again() {
        let t = store();
        list(t.path(), 10);
        let path = t.path().join(format!("{}.meta.json", gid(7)));
        let before = fs::metadata(&path).unwrap();
        // Same length, same inode, new content.
        fs::write(&path, body(7, "/x")).unwrap();
        // Both writes may fall in one tick of the coarse file clock (the settle rule is what
        // guards that case in real listings); a distinct mtime keeps this test deterministic.
        let later = rustix::fs::Timespec {
            tv_sec: std::os::unix::fs::MetadataExt::mtime(&before) + 1,
            tv_nsec: 0,
        };
        let times = rustix::fs::Timestamps {
            last_access: later,
            last_modification: later,
        };
        rustix::fs::utimensat(rustix::fs::CWD, &path, &times, AtFlags::empty()).unwrap();
        let (listed, used) = list(t.path(), 10);
        assert_eq!((used.hits, used.parsed), (N - 1, 1));
        assert_eq!(listed[7].1.as_ref().unwrap().cwd, "/x");
        assert_eq!(listed, uncached(t.path()));
    }

    #[test]
    fn replaced_removed_and_new_files_follow_the_directory() {
        let t = store();
        list(t.path(), 10);
        let tmp = t.path().join("tmp");
        fs::write(&tmp, body(3, "/replaced")).unwrap();
        fs::rename(&tmp, t.path().join(format!("{}.meta.json", gid(3)))).unwrap();
        fs::remove_file(t.path().join(format!("{}.meta.json", gid(4)))).unwrap();
        fs::write(
            t.path().join(format!("{}.meta.json", gid(N))),
            body(N, "/new"),
        )
        .unwrap();
        let (listed, used) = list(t.path(), 10);
        assert_eq!((used.hits, used.parsed), (N - 2, 2));
        assert_eq!(listed.len(), N);
        assert_eq!(listed, uncached(t.path()));
        assert_eq!(listed[3].1.as_ref().unwrap().cwd, "/replaced");
    }

    #[test]
    fn corrupt_records_are_cached_with_their_message_and_unreadable_names_are_not() {
        let t = store();
        fs::write(t.path().join(format!("{}.meta.json", gid(1))), "{ broken").unwrap();
        fs::remove_file(t.path().join(format!("{}.meta.json", gid(2)))).unwrap();
        fs::create_dir(t.path().join(format!("{}.meta.json", gid(2)))).unwrap();
        entwurf_testkit::mkfifo(t.path().join(format!("{}.meta.json", gid(N + 1))));
        // The FIFO has no writer: the listing must not wait for one.
        let (first, _) = list(t.path(), 10);
        let (second, used) = list(t.path(), 10);
        assert_eq!(first, second);
        // The corrupt file is a hit; the directory and the FIFO are read (and fail) every time.
        assert_eq!((used.hits, used.parsed), (N - 1, 2));
        let err = |i: usize| {
            second
                .iter()
                .find(|(n, _)| n.starts_with(&gid(i)))
                .unwrap()
                .1
                .clone()
        };
        assert!(err(1)
            .unwrap_err()
            .starts_with("meta-record is not valid JSON: "));
        let e = err(2).unwrap_err();
        assert!(e.starts_with("could not read the file: refusing "), "{e}");
        assert!(
            e.contains(&gid(2)) && e.contains("it is a directory"),
            "{e}"
        );
        let e = err(N + 1).unwrap_err();
        assert!(e.contains(&gid(N + 1)) && e.contains("it is a FIFO"), "{e}");
    }

    #[test]
    fn a_corrupt_or_foreign_cache_file_is_ignored_and_rebuilt() {
        for junk in [
            &b"garbage"[..],
            b"ENTWLST\x00old-format",
            b"ENTWLST\x01\xff\xff\xff",
        ] {
            let t = store();
            fs::write(t.path().join(LIST_CACHE_FILE_NAME), junk).unwrap();
            let (listed, used) = list(t.path(), 10);
            assert_eq!((used.hits, used.parsed, used.wrote), (0, N, true));
            assert_eq!(listed, uncached(t.path()));
            assert_eq!(list(t.path(), 10).1.hits, N);
        }
    }

    #[test]
    fn small_stores_write_no_cache() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..INDEX_MIN_RECORDS - 1 {
            fs::write(
                t.path().join(format!("{}.meta.json", gid(i))),
                body(i, "/w"),
            )
            .unwrap();
        }
        let (_, used) = list(t.path(), 10);
        assert!(!used.wrote);
        assert!(!t.path().join(LIST_CACHE_FILE_NAME).exists());
    }
}
