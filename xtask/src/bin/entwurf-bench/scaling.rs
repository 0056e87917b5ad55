//! Store scaling: record upsert and `entwurf peers` at growing store sizes, and the time to fill
//! a store by upserts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use entwurf_meta_session::{upsert, Backend, GardenId, RecordStore, UpsertAction, UpsertInput};
use serde_json::Value;
use xtask::report::{Fill, HandleFill, Level, Peers, PeersWithSockets, Scaling, Section, Summary};

use crate::stats::{ms, round, timed, Samples};

/// Store sizes measured, in order (the store grows from one to the next).
pub const LEVELS: [usize; 3] = [100, 1_000, 10_000];

/// How many socket files the peers-with-sockets row creates.
pub const SOCKET_FILES: usize = 1_000;

pub struct ScalingOpts {
    /// The `entwurf` binary (release) for `entwurf peers`; `None` skips peers.
    pub entwurf_bin: Option<PathBuf>,
    /// Upserts of each kind (create, attach) timed per level.
    pub upserts_per_level: usize,
    /// `entwurf peers` runs per level.
    pub peers_runs: usize,
    /// Give up filling by upserts after this long (the row then says so).
    pub fill_budget: Duration,
}

const BACKENDS: [Backend; 3] = [Backend::ClaudeCode, Backend::Pi, Backend::Codex];

fn input(i: usize) -> UpsertInput {
    UpsertInput::new(
        BACKENDS[i % BACKENDS.len()],
        &format!("bench-native-{i:06}"),
        "/tmp/bench-cwd",
    )
}

struct World {
    _tmp: tempfile::TempDir,
    sessions: PathBuf,
    mailbox: PathBuf,
    receivers: PathBuf,
    control: PathBuf,
    lock: PathBuf,
}

fn world() -> Result<World, String> {
    let tmp = tempfile::Builder::new()
        .prefix("entwurf-bench-store-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let r = tmp.path().to_path_buf();
    let w = World {
        sessions: r.join("sessions"),
        mailbox: r.join("mailbox"),
        receivers: r.join("receivers"),
        control: r.join("control"),
        lock: r.join("locks"),
        _tmp: tmp,
    };
    for d in [&w.sessions, &w.mailbox, &w.receivers, &w.control, &w.lock] {
        std::fs::create_dir_all(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
    }
    Ok(w)
}

fn one_upsert(w: &World, inp: &UpsertInput) -> Result<UpsertAction, String> {
    upsert(&w.sessions, &w.mailbox, inp, chrono::Utc::now())
        .map(|r| r.action)
        .map_err(|e| e.to_string())
}

/// Runs `entwurf peers --json` against the world once; returns the wall time and row count.
fn peers_once(bin: &Path, w: &World) -> Result<(Duration, usize), String> {
    let mut cmd = Command::new(bin);
    cmd.arg("peers")
        .arg("--json")
        .arg("--sessions-dir")
        .arg(&w.sessions)
        .arg("--mailbox-dir")
        .arg(&w.mailbox)
        .arg("--receivers-dir")
        .arg(&w.receivers)
        .arg("--lock-dir")
        .arg(&w.lock)
        .arg("--control-dir")
        .arg(&w.control);
    let t = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    let took = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "`entwurf peers` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let rows = count_rows(&out.stdout);
    Ok((took, rows))
}

/// Rows in the peers JSON: an array, or the longest array inside an object.
fn count_rows(stdout: &[u8]) -> usize {
    match serde_json::from_slice::<Value>(stdout) {
        Ok(Value::Array(a)) => a.len(),
        Ok(Value::Object(m)) => m
            .values()
            .filter_map(|v| v.as_array().map(Vec::len))
            .max()
            .unwrap_or(0),
        _ => stdout
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
    }
}

/// Without a listing cache: every record opened and parsed (and the cache written again).
fn drop_listing_cache(w: &World) {
    let _ = std::fs::remove_file(w.sessions.join(entwurf_meta_session::LIST_CACHE_FILE_NAME));
}

/// `entwurf peers` runs; `cold`: each without a listing cache.
fn peers_row(opts: &ScalingOpts, w: &World, cold: bool) -> Section<Peers> {
    let Some(bin) = &opts.entwurf_bin else {
        return Section::skipped("no entwurf binary");
    };
    // The exec floor: a process that parses its flags and exits.
    let mut floor = Samples::default();
    for _ in 0..opts.peers_runs {
        let (r, d) = timed(|| Command::new(bin).arg("--version").output());
        if r.is_ok() {
            floor.push(d);
        }
    }
    let mut s = Samples::default();
    let mut rows = 0;
    for _ in 0..opts.peers_runs {
        if cold {
            drop_listing_cache(w);
        }
        match peers_once(bin, w) {
            Ok((d, n)) => {
                s.push(d);
                rows = n;
            }
            Err(e) => return Section::skipped(e),
        }
    }
    Section::Ok(Peers {
        rows,
        wall: s.summary(),
        process_floor_p50_ms: floor.summary().p50_ms,
    })
}

/// How long until every record written so far counts as settled for the listing cache.
fn settle_wait() -> Duration {
    let settle = u64::try_from(entwurf_meta_session::SETTLE_NANOS).unwrap_or(3_000_000_000);
    Duration::from_nanos(settle) + Duration::from_millis(200)
}

/// The record-listing part of `entwurf peers`, in-process (where its time goes).
fn list_records_row(opts: &ScalingOpts, w: &World, cold: bool) -> Summary {
    let mut listing = Samples::default();
    for _ in 0..opts.peers_runs {
        if cold {
            drop_listing_cache(w);
        }
        let (r, d) = timed(|| entwurf_meta_session::list_records(&w.sessions));
        if r.is_ok() {
            listing.push(d);
        }
    }
    listing.summary()
}

pub fn run(opts: &ScalingOpts) -> Section<Scaling> {
    Section::from_result(measure(opts))
}

fn measure(opts: &ScalingOpts) -> Result<Scaling, String> {
    let w = world()?;
    let mut next = 0usize; // next native index to create
    let mut fill_time = Duration::ZERO;
    let mut levels = Vec::new();
    let mut fill_note = None;
    for &level in &LEVELS {
        // Fill by upserts up to `level` records.
        let t = Instant::now();
        while next < level {
            if fill_time + t.elapsed() > opts.fill_budget {
                break;
            }
            one_upsert(&w, &input(next)).map_err(|e| format!("fill upsert {next}: {e}"))?;
            next += 1;
        }
        fill_time += t.elapsed();
        if next < level {
            fill_note = Some(format!(
                "fill by upserts stopped at {next} records after the {} s budget",
                opts.fill_budget.as_secs()
            ));
            break;
        }
        // Timed upserts at this size: creates (new native ids) and attaches (existing ids).
        let mut create = Samples::default();
        let mut attach = Samples::default();
        for k in 0..opts.upserts_per_level {
            let (r, d) = timed(|| one_upsert(&w, &input(next)));
            next += 1;
            match r? {
                UpsertAction::Create => create.push(d),
                a => return Err(format!("expected create, got {a:?}")),
            }
            let old = (k * 7919) % level; // spread attaches over the store
            let (r, d) = timed(|| one_upsert(&w, &input(old)));
            match r? {
                UpsertAction::Attach => attach.push(d),
                a => return Err(format!("expected attach, got {a:?}")),
            }
        }
        // The worst case: no listing cache, so every record is opened and parsed (and the
        // cache written again by each run).
        let peers_cold = peers_row(opts, &w, true);
        let list_records_cold = list_records_row(opts, &w, true);
        // The steady state: once the store has settled, one listing refreshes the cache and
        // the rest answer unchanged records with one statx each.
        std::thread::sleep(settle_wait());
        let _ = entwurf_meta_session::list_records(&w.sessions);
        let peers = peers_row(opts, &w, false);
        let list_records = list_records_row(opts, &w, false);
        levels.push(Level {
            records: next,
            upsert_create: create.summary(),
            upsert_attach: attach.summary(),
            peers,
            list_records,
            peers_cold,
            list_records_cold,
            peers_with_sockets: (level == 1_000).then(|| peers_with_sockets(opts, &w)),
        });
    }
    Ok(Scaling {
        levels,
        fill_record_store: fill_with_handle(LEVELS[LEVELS.len() - 1], opts.fill_budget),
        fill: Fill {
            records: next,
            upserts_s: round(fill_time.as_secs_f64()),
            note: fill_note,
            per_upsert_mean_ms: round(ms(fill_time) / next.max(1) as f64),
        },
    })
}

/// `entwurf peers` with [`SOCKET_FILES`] stale socket files (dead listeners) in the control dir;
/// they are removed afterwards so the next level compares like with like.
fn peers_with_sockets(opts: &ScalingOpts, w: &World) -> Section<PeersWithSockets> {
    let mut made = Vec::new();
    for _ in 0..SOCKET_FILES {
        let gid = GardenId::mint();
        let path = w.control.join(format!("{gid}.sock"));
        match std::os::unix::net::UnixListener::bind(&path) {
            Ok(l) => {
                drop(l); // the file stays: a stale socket, connect → ECONNREFUSED
                made.push(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Section::failed(format!("bind {}: {e}", path.display())),
        }
    }
    let row = peers_row(opts, w, false);
    let socket_files = made.len();
    for p in made {
        let _ = std::fs::remove_file(p);
    }
    match row {
        Section::Ok(peers) => Section::Ok(PeersWithSockets {
            peers,
            socket_files,
        }),
        Section::Skipped { reason } => Section::Skipped { reason },
        Section::Failed { reason } => Section::Failed { reason },
    }
}

/// Fills a fresh store to `n` records through one [`RecordStore`] handle (the in-process batch
/// path: the scan cache stays in memory and follows the directory through an inotify watch;
/// durability comes from one `syncfs` at the final flush, which is timed too).
fn fill_with_handle(n: usize, budget: Duration) -> Section<HandleFill> {
    Section::from_result(fill_with_handle_inner(n, budget))
}

fn fill_with_handle_inner(n: usize, budget: Duration) -> Result<HandleFill, String> {
    let w = world()?;
    let mut store = RecordStore::new(&w.sessions, &w.mailbox);
    let t = Instant::now();
    let mut done = 0;
    while done < n && t.elapsed() < budget {
        store
            .upsert(&input(done), chrono::Utc::now())
            .map_err(|e| format!("upsert {done}: {e}"))?;
        done += 1;
    }
    store.flush().map_err(|e| format!("flush: {e}"))?;
    let took = t.elapsed();
    Ok(HandleFill {
        records: done,
        seconds: round(took.as_secs_f64()),
        per_upsert_mean_ms: round(ms(took) / done.max(1) as f64),
    })
}
