//! `entwurf peers`: garden citizens (meta records) ∪ socket-only endpoints (`<gid>.sock` in the
//! control dir without a record), each with its backend and liveness.
//!
//! pi citizens and socket-only endpoints: lstat, then a connect probe only of a real socket file
//! (it never waits). Other backends: `unsupported`, plus the mailbox deliverability from the receiver
//! marker. Symlinks are reported and never followed or probed; names that are not
//! `<gid>.sock` are reported as malformed and never probed. Changes nothing a citizen owns; the
//! record listing may refresh its cache file (`.entwurf-list-cache`, see meta-session).
//!
//! The control dir and the receivers dir are each listed once (names and entry types); a path
//! the listing shows absent is answered from the listing (no lstat, no marker open), so only
//! what exists is inspected, probed or read. A dir that cannot be listed falls back to asking
//! path by path.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use entwurf_control_rpc::{inspect, probe, socket_path, ConflictReason, SocketInspection};
use entwurf_meta_session::{list_records, Backend, GardenId, MetaRecord};
use serde::Serialize;

use crate::ctx::{CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Peer {
    garden_id: GardenId,
    /// A backend name, or `socket-only` for a record-less pi socket.
    backend: &'static str,
    /// `alive` / `dead` / `indeterminate` (pi and socket-only), `unsupported` (other backends),
    /// `address-conflict` (a symlink or non-socket at a pi citizen's path; never probed).
    liveness: Cow<'static, str>,
    /// Non-pi citizens only: would a mailbox enqueue be drained?
    #[serde(skip_serializing_if = "Option::is_none")]
    mailbox_deliverable: Option<bool>,
    /// The canonical control socket path.
    socket_path: String,
    /// Why the socket path is not usable, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<Cow<'static, str>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    peers: Vec<Peer>,
    /// `*.sock` entries whose stem is not a garden id (never probed).
    malformed_names: Vec<String>,
    /// Gid-shaped `*.sock` symlinks (never followed or probed).
    symlinked_garden_ids: Vec<String>,
    /// Unreadable meta records (file name and reason).
    record_errors: Vec<RecordProblem>,
    /// The control dir could not be listed (other than missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    control_dir_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct RecordProblem {
    filename: String,
    message: String,
}

/// What a directory holds by name, from one readdir (file types from the entries, symlinks
/// never followed). `listed == false` when the directory could not be listed for a reason other
/// than being missing: callers then fall back to asking the filesystem path by path.
struct DirNames {
    names: HashSet<OsString>,
    listed: bool,
}

impl DirNames {
    /// Could `name` exist in the directory? `false` only when the listing says it is absent.
    fn may_hold(&self, name: &OsStr) -> bool {
        !self.listed || self.names.contains(name)
    }
}

/// What the control dir holds, by name (no connect).
struct SocketScan {
    sockets: BTreeSet<GardenId>,
    symlinked: BTreeSet<GardenId>,
    malformed: Vec<String>,
    error: Option<String>,
    /// Every gid-shaped `*.sock` entry (socket, symlink or anything else).
    present: DirNames,
}

fn scan_control_dir(dir: &Path) -> SocketScan {
    let mut scan = SocketScan {
        sockets: BTreeSet::new(),
        symlinked: BTreeSet::new(),
        malformed: Vec::new(),
        error: None,
        present: DirNames {
            names: HashSet::new(),
            listed: true,
        },
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return scan,
        Err(e) => {
            scan.error = Some(format!("cannot list {}: {e}", dir.display()));
            scan.present.listed = false;
            return scan;
        }
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let name = file_name.to_string_lossy();
        let Some(stem) = name.strip_suffix(".sock") else {
            continue;
        };
        let Ok(gid) = GardenId::parse(stem) else {
            scan.malformed.push(name.into_owned());
            continue;
        };
        // The entry's own type (lstat semantics): a symlink is never followed.
        let symlink = match entry.file_type() {
            Ok(ft) => ft.is_symlink(),
            Err(_) => matches!(
                inspect(&entry.path()),
                SocketInspection::AddressConflict {
                    reason: ConflictReason::Symlink,
                    ..
                }
            ),
        };
        if symlink {
            scan.symlinked.insert(gid);
        } else {
            scan.sockets.insert(gid);
        }
        scan.present.names.insert(file_name);
    }
    scan.malformed.sort();
    scan
}

/// The names in the receivers dir (one readdir). Missing → empty; unlistable → not listed.
fn scan_receivers_dir(dir: &Path) -> DirNames {
    match std::fs::read_dir(dir) {
        Ok(entries) => DirNames {
            names: entries.flatten().map(|e| e.file_name()).collect(),
            listed: true,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DirNames {
            names: HashSet::new(),
            listed: true,
        },
        Err(_) => DirNames {
            names: HashSet::new(),
            listed: false,
        },
    }
}

/// `inspect`, skipped (as `Absent`) when the control dir listing says nothing is there.
fn inspect_listed(present: &DirNames, path: &Path) -> SocketInspection {
    match path.file_name() {
        Some(name) if !present.may_hold(name) => SocketInspection::Absent {
            socket_path: path.to_path_buf(),
        },
        _ => inspect(path),
    }
}

async fn socket_liveness(
    inspection: SocketInspection,
) -> (Cow<'static, str>, Option<Cow<'static, str>>) {
    match inspection {
        SocketInspection::Absent { .. } => ("dead".into(), None),
        SocketInspection::SocketFile { socket_path } => {
            let l = probe(&socket_path).await;
            (
                serde_json::to_value(l)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .map_or("indeterminate".into(), Cow::Owned),
                None,
            )
        }
        SocketInspection::AddressConflict { reason, .. } => (
            "address-conflict".into(),
            Some(match reason {
                ConflictReason::Symlink => "symlink at the socket path (not followed)".into(),
                ConflictReason::NotSocket => "not a socket at the socket path".into(),
            }),
        ),
        SocketInspection::Indeterminate { error, .. } => (
            "indeterminate".into(),
            Some(format!("lstat {error}").into()),
        ),
    }
}

/// What every peer is checked against: the dirs and what their listings hold.
struct Surroundings<'a> {
    control: &'a Path,
    scan: &'a SocketScan,
    receivers_dir: &'a Path,
    receivers: &'a DirNames,
}

/// One peer: a citizen (with its record) or a socket-only endpoint (no record).
async fn peer(gid: GardenId, record: Option<&MetaRecord>, at: &Surroundings<'_>) -> Peer {
    let path = socket_path(at.control, &gid);
    let socket_path = path.display().to_string();
    match record {
        Some(record) if record.backend != Backend::Pi => {
            let marker_name = format!("{}.json", gid.as_str());
            let d = if at.receivers.may_hold(OsStr::new(&marker_name)) {
                entwurf_mailbox::mailbox_deliverability_for(at.receivers_dir, record)
            } else {
                // No marker file: exactly what the reader answers for an absent marker.
                entwurf_mailbox::mailbox_deliverability_with(record, false)
            };
            let conflict = !matches!(
                inspect_listed(&at.scan.present, &path),
                SocketInspection::Absent { .. }
            );
            Peer {
                garden_id: gid,
                backend: record.backend.as_str(),
                liveness: "unsupported".into(),
                mailbox_deliverable: Some(d.deliverable),
                socket_path,
                note: conflict.then_some(Cow::Borrowed(
                    "something sits at this citizen's control socket path: dispatch refuses it (target-address-conflict)",
                )),
            }
        }
        _ => {
            let (liveness, note) = socket_liveness(inspect_listed(&at.scan.present, &path)).await;
            Peer {
                garden_id: gid,
                backend: if record.is_some() {
                    Backend::Pi.as_str()
                } else {
                    "socket-only"
                },
                liveness,
                mailbox_deliverable: None,
                socket_path,
                note,
            }
        }
    }
}

async fn build(ctx: &Ctx) -> Result<Report, CliError> {
    let dirs = ctx.dirs()?;
    let control = ctx.control_dir()?;
    let listing = list_records(&dirs.sessions)?;
    let scan = scan_control_dir(&control);
    let receivers = scan_receivers_dir(&dirs.receivers);
    let at = Surroundings {
        control: &control,
        scan: &scan,
        receivers_dir: &dirs.receivers,
        receivers: &receivers,
    };
    // Records (sorted by gid, one per gid) merged with the socket gids (sorted): every gid
    // once, in order, with its record when it has one.
    let mut records = listing.records.iter().peekable();
    let mut sockets = scan.sockets.iter().peekable();
    let mut peers = Vec::with_capacity(listing.records.len() + scan.sockets.len());
    loop {
        let (gid, record) = match (records.peek(), sockets.peek()) {
            (None, None) => break,
            (Some(r), Some(s)) if *s < &r.garden_id => (*s, None),
            (Some(r), _) => (&r.garden_id, Some(*r)),
            (None, Some(s)) => (*s, None),
        };
        if record.is_some() {
            records.next();
        }
        if sockets.peek() == Some(&gid) {
            sockets.next();
        }
        peers.push(peer(gid.clone(), record, &at).await);
    }
    Ok(Report {
        peers,
        malformed_names: scan.malformed,
        symlinked_garden_ids: scan.symlinked.iter().map(|g| g.to_string()).collect(),
        record_errors: listing
            .errors
            .into_iter()
            .map(|e| RecordProblem {
                filename: e.filename,
                message: e.message,
            })
            .collect(),
        control_dir_error: scan.error,
    })
}

pub fn run(_args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let report = runtime.block_on(build(ctx))?;
    if ctx.global.json {
        // Streamed: a large garden's report is never built as one string.
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        serde_json::to_writer(&mut out, &report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .and_then(|()| out.flush())
            .map_err(|source| CliError::Stdout { source })?;
        return Ok(ExitCode::SUCCESS);
    }
    if report.peers.is_empty() {
        println!("no citizens and no socket-only endpoints");
    }
    for p in &report.peers {
        let mut line = format!("{}  {:<12} {}", p.garden_id, p.backend, p.liveness);
        if let Some(d) = p.mailbox_deliverable {
            line.push_str(if d {
                "  mailbox: deliverable"
            } else {
                "  mailbox: undeliverable"
            });
        }
        if let Some(n) = &p.note {
            line.push_str(&format!("  ({n})"));
        }
        println!("{line}");
    }
    for g in &report.symlinked_garden_ids {
        println!("symlink (not followed, not probed): {g}.sock");
    }
    for m in &report.malformed_names {
        println!("malformed socket name (not probed): {m}");
    }
    for e in &report.record_errors {
        println!("unreadable record: {}: {}", e.filename, e.message);
    }
    if let Some(e) = &report.control_dir_error {
        println!("control dir: {e}");
    }
    Ok(ExitCode::SUCCESS)
}
