//! `entwurf record repair`: recovering a store whose native ids were forked into twin records
//! (two or more records of one native id, as the reference's lock-free writers can leave when
//! they race; every upsert of that id then refuses as ambiguous).
//!
//! For every native id with twins ([`entwurf_meta_session::find_twins`]) the oldest record
//! (`createdAt`, ties by file name) is kept and, for each other record, in this order:
//!
//! 1. its unread mail (`*.msg`, `*.msg.delivered`, regular files only) is moved into the kept
//!    citizen's mailbox, never replacing a file (a taken name gets the next free tag), as a
//!    fresh `*.msg`: the doorbell it rang was for an identity that is going away;
//! 2. its receiver marker and every sender marker naming it are removed (a marker is presence,
//!    not history; a re-armed session writes the kept gid's);
//! 3. its record is moved into `<sessions>/.entwurf-repaired/` (never deleted; no listing reads
//!    that directory, ours or the reference's);
//! 4. mail that reached its mailbox while the above ran is swept over too.
//!
//! Then, when mail moved, the kept citizen's `lastEnqueuedAt` is stamped (forward only) and its
//! doorbell rung. The record is moved last, so a repair that is interrupted leaves the twins
//! visible and running it again finishes the job. A group is repaired under its native id's
//! upsert lock, so our own upserts wait instead of seeing half of it.
//!
//! A dry run computes the same steps and changes nothing. The loser's read archive, its
//! `state.json` and doorbell stay in its mailbox directory.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use entwurf_fs::Chain;
use entwurf_meta_session::{
    aside_path, find_twins, lock_upserts_of, move_record_aside, read_sender_marker_at,
    receiver_marker_path, record_file_name, GardenId, MetaRecord, RecordError,
};
use serde::Serialize;

use entwurf_fs::StoreDir;
use rustix::fs::FileType;

use crate::fsio::MailboxDir;
use crate::mailbox::{mailbox_path, poke, SIGNAL_FILE};
use crate::state::{stamp_state_reporting, ReceiptField, STATE_FILE};

/// The directories a repair touches.
#[derive(Debug, Clone, Copy)]
pub struct RepairDirs<'a> {
    /// Meta records.
    pub sessions: &'a Path,
    /// Mailbox root.
    pub mailbox: &'a Path,
    /// Receiver markers (`<gid>.json`).
    pub receivers: &'a Path,
    /// Sender markers (`<backend>/<pid>.json`).
    pub senders: &'a Path,
}

/// A repair failed; the report up to that point is lost, but every step done is safe to
/// repeat: run the repair again.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// Listing or moving a record failed.
    #[error("a record step failed (the repair stopped; steps already done stay done, run it again once fixed)")]
    Record(#[from] RecordError),
    /// A mail or marker step failed.
    #[error("could not {op} {} — {} (the repair stopped; steps already done stay done, run it again once fixed)", path.display(), crate::error::io_hint(source))]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RepairError + 'a {
    move |source| RepairError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One record in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRef {
    /// Its garden id.
    pub garden_id: GardenId,
    /// Its file name.
    pub file: String,
    /// Its `createdAt`.
    pub created_at: String,
}

impl From<&MetaRecord> for RecordRef {
    fn from(r: &MetaRecord) -> Self {
        Self {
            garden_id: r.garden_id.clone(),
            file: record_file_name(&r.garden_id),
            created_at: r.created_at.clone(),
        }
    }
}

/// What one step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// An unread message moves into the kept citizen's mailbox (`path` → `to`).
    MoveMail,
    /// A receiver marker is removed.
    DropReceiverMarker,
    /// A sender marker is removed.
    DropSenderMarker,
    /// A record moves into `.entwurf-repaired/` (`path` → `to`).
    MoveRecord,
    /// The kept citizen's `lastEnqueuedAt` is stamped (`path` = its `state.json`).
    StampState,
    /// The kept citizen's doorbell is rung (`path` = its `inbox.signal`).
    RingDoorbell,
}

/// One step of a repair, planned or done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What it does.
    pub kind: StepKind,
    /// The file it acts on.
    pub path: PathBuf,
    /// Where the file goes, for a move.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<PathBuf>,
}

/// The repair of one native id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRepair {
    /// The native id its records shared.
    pub native_session_id: String,
    /// The record kept.
    pub keep: RecordRef,
    /// The records moved aside.
    pub moved_aside: Vec<RecordRef>,
    /// The steps, in the order they run.
    pub steps: Vec<Step>,
}

/// What a repair did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairReport {
    /// `true`: nothing was changed, `groups` is the plan.
    pub dry_run: bool,
    /// One entry per native id that had twins.
    pub groups: Vec<GroupRepair>,
    /// Things that did not stop the repair but need a look (a receipt that could not be
    /// stamped, a message a drain took while it was being moved).
    pub warnings: Vec<String>,
}

/// Finds every twin group and repairs it (or, with `dry_run`, only plans it).
pub fn repair(
    dirs: RepairDirs<'_>,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<RepairReport, RepairError> {
    let mut report = RepairReport {
        dry_run,
        groups: Vec::new(),
        warnings: Vec::new(),
    };
    for group in find_twins(dirs.sessions)? {
        let _lock = if dry_run {
            None
        } else {
            Some(lock_upserts_of(dirs.sessions, &group.native_session_id)?)
        };
        let keep = &group.keep.garden_id;
        let keep_box = mailbox_path(dirs.mailbox, keep);
        let mut steps = Vec::new();
        let mut taken = Vec::new(); // names planned into the kept mailbox
        for other in &group.others {
            let gid = &other.garden_id;
            for (from, to) in plan_mail(dirs.mailbox, gid, &keep_box, &mut taken)? {
                if dry_run {
                    steps.push(move_step(from, to));
                } else if let Some(done) = move_mail(&from, &keep_box, &to, &mut report)? {
                    steps.push(move_step(from, done));
                }
            }
            for (kind, path) in plan_markers(dirs, gid)? {
                if dry_run || remove_marker(&path)? {
                    steps.push(Step {
                        kind,
                        path,
                        to: None,
                    });
                }
            }
            let file = record_file_name(gid);
            let from = dirs.sessions.join(&file);
            let to = if dry_run {
                aside_path(dirs.sessions, &file)
            } else {
                move_record_aside(dirs.sessions, &file)?
            };
            steps.push(Step {
                kind: StepKind::MoveRecord,
                path: from,
                to: Some(to),
            });
            if !dry_run {
                // Mail that arrived while the record was still there.
                for (from, to) in plan_mail(dirs.mailbox, gid, &keep_box, &mut taken)? {
                    if let Some(done) = move_mail(&from, &keep_box, &to, &mut report)? {
                        steps.push(move_step(from, done));
                    }
                }
            }
        }
        if steps.iter().any(|s| s.kind == StepKind::MoveMail) {
            let state = keep_box.join(STATE_FILE);
            let signal = keep_box.join(SIGNAL_FILE);
            if !dry_run {
                notify_keeper(dirs.mailbox, keep, &keep_box, now, &mut report);
            }
            steps.push(Step {
                kind: StepKind::StampState,
                path: state,
                to: None,
            });
            steps.push(Step {
                kind: StepKind::RingDoorbell,
                path: signal,
                to: None,
            });
        }
        report.groups.push(GroupRepair {
            native_session_id: group.native_session_id.clone(),
            keep: RecordRef::from(&group.keep),
            moved_aside: group.others.iter().map(RecordRef::from).collect(),
            steps,
        });
    }
    Ok(report)
}

fn move_step(from: PathBuf, to: PathBuf) -> Step {
    Step {
        kind: StepKind::MoveMail,
        path: from,
        to: Some(to),
    }
}

/// The unread regular files of `gid`'s mailbox, each with a free name in the kept mailbox
/// (`….msg.delivered` becomes `….msg`; a taken name gets the next tag).
fn plan_mail(
    mailbox_dir: &Path,
    gid: &GardenId,
    keep_box: &Path,
    taken: &mut Vec<String>,
) -> Result<Vec<(PathBuf, PathBuf)>, RepairError> {
    let dir = mailbox_path(mailbox_dir, gid);
    let Some(d) = StoreDir::open_child(mailbox_dir, gid.as_str())
        .map_err(io_err("open the mailbox", &dir))?
    else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = d
        .names()
        .map_err(io_err("list the mailbox", &dir))?
        .into_iter()
        .filter(|n| !n.starts_with('.') && (n.ends_with(".msg") || n.ends_with(".msg.delivered")))
        .filter(|n| matches!(d.stat(n), Ok(Some(st)) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| {
            let fresh = name.strip_suffix(".delivered").unwrap_or(&name).to_owned();
            let to = free_name(keep_box, &fresh, taken);
            taken.push(to.clone());
            (dir.join(&name), keep_box.join(to))
        })
        .collect())
}

/// `name` if nothing in `dir` (or planned) has it, else the same stamp with the next free tag.
fn free_name(dir: &Path, name: &str, taken: &[String]) -> String {
    let free = |n: &str| !taken.iter().any(|t| t == n) && dir.join(n).symlink_metadata().is_err();
    if free(name) {
        return name.to_owned();
    }
    let stem = name.strip_suffix(".msg").unwrap_or(name);
    let (head, tag) = match stem.rsplit_once('-') {
        Some((h, t)) if t.len() == 6 && u32::from_str_radix(t, 16).is_ok() => {
            (h.to_owned(), u32::from_str_radix(t, 16).unwrap_or(0))
        }
        _ => (stem.to_owned(), 0),
    };
    (1..=0x00ff_ffff)
        .map(|i| format!("{head}-{:06x}.msg", (tag + i) & 0x00ff_ffff))
        .find(|n| free(n))
        .unwrap_or_else(|| format!("{stem}-repaired.msg"))
}

fn name_of(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// Moves one message into the kept mailbox without replacing anything (both directories
/// opened through the store layer, never through a symlink); `None` when a drain took it
/// meanwhile (noted as a warning).
fn move_mail(
    from: &Path,
    keep_box: &Path,
    to: &Path,
    report: &mut RepairReport,
) -> Result<Option<PathBuf>, RepairError> {
    let (Some(from_root), Some(keep_root)) =
        (from.parent().and_then(Path::parent), keep_box.parent())
    else {
        return Ok(None);
    };
    let from_dir = from.parent().unwrap_or(from);
    let Some(src) = StoreDir::open_child(from_root, name_of(from_dir))
        .map_err(io_err("open the mailbox", from_dir))?
    else {
        return Ok(None);
    };
    let dst = StoreDir::open_or_create_child(keep_root, name_of(keep_box))
        .map_err(io_err("create the mailbox", keep_box))?;
    let mut to = to.to_path_buf();
    for _ in 0..16 {
        match src.move_no_replace(name_of(from), &dst, name_of(&to)) {
            Ok(()) => return Ok(Some(to)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                report.warnings.push(format!(
                    "{} was taken by a drain while the repair ran; not moved",
                    from.display()
                ));
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let name = name_of(&to).to_owned();
                to = keep_box.join(free_name(keep_box, &name, std::slice::from_ref(&name)));
            }
            Err(e) => return Err(io_err("move the message", from)(e)),
        }
    }
    Err(io_err("find a free name for", from)(io::Error::from(
        io::ErrorKind::AlreadyExists,
    )))
}

/// The markers of `gid`: its receiver marker, and every sender marker whose body names it.
fn plan_markers(
    dirs: RepairDirs<'_>,
    gid: &GardenId,
) -> Result<Vec<(StepKind, PathBuf)>, RepairError> {
    let mut out = Vec::new();
    let receiver = receiver_marker_path(dirs.receivers, gid);
    if receiver.symlink_metadata().is_ok() {
        out.push((StepKind::DropReceiverMarker, receiver));
    }
    let Some(senders) =
        StoreDir::open(dirs.senders).map_err(io_err("open the sender markers", dirs.senders))?
    else {
        return Ok(out);
    };
    let mut found = Vec::new();
    let backends = senders
        .names()
        .map_err(io_err("list the sender markers", dirs.senders))?;
    for backend in backends {
        // A backend dir that is a symlink or a file is not ours to read.
        let Ok(Some(dir)) = senders.subdir(&backend) else {
            continue;
        };
        let Ok(names) = dir.names() else { continue };
        for name in names.into_iter().filter(|n| n.ends_with(".json")) {
            let path = dir.join(&name);
            if read_sender_marker_at(&path, false).is_some_and(|m| &m.garden_id == gid) {
                found.push(path);
            }
        }
    }
    found.sort();
    out.extend(found.into_iter().map(|p| (StepKind::DropSenderMarker, p)));
    Ok(out)
}

/// Removes a marker (a symlink is removed itself, never its target); `false` when it was
/// already gone.
fn remove_marker(path: &Path) -> Result<bool, RepairError> {
    let (Some(parent), name) = (path.parent(), name_of(path)) else {
        return Ok(false);
    };
    let Some(dir) = StoreDir::open(parent).map_err(io_err("open the markers of", path))? else {
        return Ok(false);
    };
    match dir.unlink(name) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove the marker", path)(e)),
    }
}

/// Stamps the kept citizen's `lastEnqueuedAt` and rings its doorbell; failures are warnings
/// (the mail is in place either way; a drain finds it).
fn notify_keeper(
    mailbox_dir: &Path,
    keep: &GardenId,
    keep_box: &Path,
    now: DateTime<Utc>,
    report: &mut RepairReport,
) {
    match stamp_state_reporting(mailbox_dir, keep, ReceiptField::LastEnqueuedAt, now) {
        Ok(s) => {
            if let Some(aside) = s.set_aside {
                report.warnings.push(format!(
                    "the kept mailbox's unparseable receipt state was set aside as {}",
                    aside.display()
                ));
            }
        }
        Err(e) => report.warnings.push(format!(
            "the moved mail's receipt was not stamped: {}",
            Chain(&e)
        )),
    }
    let rung = MailboxDir::open_or_create(mailbox_dir, keep).and_then(|d| poke(&d, now));
    if let Err(e) = rung {
        report.warnings.push(format!(
            "the doorbell {} was not rung: {}",
            keep_box.join(SIGNAL_FILE).display(),
            Chain(&e)
        ));
    }
}
