//! `entwurf record`: meta records (who the citizens are).

use std::process::ExitCode;

use entwurf_meta_session::{
    list_records, read_record, record_path, upsert, Backend, GardenId, Patch, UpsertInput,
};
use serde_json::json;

use crate::ctx::{CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: RecordCommand,
}

#[derive(clap::Subcommand, Debug)]
enum RecordCommand {
    /// Create or attach the record of a native session (idempotent, keyed on --native-id).
    ///
    /// On attach, an option left out keeps the stored value, a --clear-* option sets it to null,
    /// and a value sets it. --cwd always replaces the stored cwd. A native session cannot change
    /// backend.
    Upsert(UpsertArgs),
    /// Print the record of a garden id (its v2 JSON; a v1 file is shown normalised).
    Show {
        /// The garden id.
        gid: String,
    },
    /// List every record, and every record file that cannot be read.
    List {
        /// Exit non-zero when any record file is unreadable.
        #[arg(long)]
        strict: bool,
    },
    /// Repair native ids forked into twin records (the "ambiguous meta-record authority"
    /// refusal): keep the oldest record of each, move the others into
    /// `<sessions>/.entwurf-repaired/` (nothing is deleted), move their unread mail into the
    /// kept citizen's mailbox, remove their receiver and sender markers. Prints every step.
    Repair {
        /// Print the plan (exactly the steps a real run takes) and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(clap::Args, Debug)]
struct UpsertArgs {
    /// claude-code, antigravity, codex or pi.
    #[arg(long)]
    backend: Backend,
    /// The backend's own session id (the upsert key).
    #[arg(long = "native-id", value_name = "ID")]
    native_id: String,
    /// The session's working directory.
    #[arg(long)]
    cwd: String,
    /// Set the model.
    #[arg(long, conflicts_with = "clear_model")]
    model: Option<String>,
    /// Set the model to null.
    #[arg(long)]
    clear_model: bool,
    /// Set the transcript path.
    #[arg(long, value_name = "PATH", conflicts_with = "clear_transcript_path")]
    transcript_path: Option<String>,
    /// Set the transcript path to null.
    #[arg(long)]
    clear_transcript_path: bool,
    /// Set the parent garden id.
    #[arg(long, value_name = "GID", conflicts_with = "clear_parent")]
    parent: Option<String>,
    /// Set the parent garden id to null.
    #[arg(long)]
    clear_parent: bool,
    /// Mark the citizen as spawned by entwurf.
    #[arg(long, conflicts_with = "not_entwurf")]
    entwurf: bool,
    /// Mark the citizen as not spawned by entwurf.
    #[arg(long)]
    not_entwurf: bool,
}

fn patch(value: Option<String>, clear: bool) -> Patch<String> {
    match (value, clear) {
        (Some(v), _) => Patch::Value(v),
        (None, true) => Patch::Null,
        (None, false) => Patch::Absent,
    }
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    match args.command {
        RecordCommand::Upsert(a) => run_upsert(a, ctx),
        RecordCommand::Show { gid } => {
            let gid = GardenId::parse(&gid)?;
            let dirs = ctx.dirs()?;
            let record = read_record(&dirs.sessions, &gid)?;
            if ctx.global.json {
                println!(
                    "{}",
                    json!({ "path": record_path(&dirs.sessions, &gid), "record": record })
                );
            } else {
                print!("{}", String::from_utf8_lossy(&record.to_file_bytes()));
            }
            Ok(ExitCode::SUCCESS)
        }
        RecordCommand::Repair { dry_run } => run_repair(dry_run, ctx),
        RecordCommand::List { strict } => {
            let dirs = ctx.dirs()?;
            let listing = list_records(&dirs.sessions)?;
            if strict && !listing.errors.is_empty() {
                // Under --json the listing travels as the error object's `details`.
                if !ctx.global.json {
                    print_listing(&listing);
                }
                return Err(CliError::UnreadableRecords {
                    count: listing.errors.len(),
                    dir: dirs.sessions,
                    listing: Box::new(json!(listing)),
                });
            }
            if ctx.global.json {
                println!("{}", json!(listing));
            } else {
                print_listing(&listing);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_listing(listing: &entwurf_meta_session::Listing) {
    for r in &listing.records {
        println!(
            "{}  {:<11}  {}  {}",
            r.garden_id, r.backend, r.native_session_id, r.cwd
        );
    }
    for e in &listing.errors {
        println!("unreadable  {}  {}", e.filename, e.message);
    }
    for t in &listing.removed_temps {
        println!("removed     {t}  (temp file of a dead writer)");
    }
}

fn run_upsert(a: UpsertArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let dirs = ctx.dirs()?;
    let input = UpsertInput {
        backend: a.backend,
        native_session_id: a.native_id,
        cwd: a.cwd,
        model: patch(a.model, a.clear_model),
        transcript_path: patch(a.transcript_path, a.clear_transcript_path),
        parent_garden_id: patch(a.parent, a.clear_parent),
        is_entwurf: match (a.entwurf, a.not_entwurf) {
            (true, _) => Some(true),
            (false, true) => Some(false),
            (false, false) => None,
        },
    };
    let res = upsert(&dirs.sessions, &dirs.mailbox, &input, chrono::Utc::now())?;
    for s in &res.skipped {
        eprintln!(
            "entwurf: skipped unreadable record {}: {}",
            s.file, s.message
        );
    }
    if ctx.global.json {
        println!("{}", json!(res));
    } else {
        println!(
            "{} {} {}",
            res.action.as_str(),
            res.record.garden_id,
            res.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_repair(dry_run: bool, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let dirs = ctx.dirs()?;
    let report = entwurf_mailbox::repair(
        entwurf_mailbox::RepairDirs {
            sessions: &dirs.sessions,
            mailbox: &dirs.mailbox,
            receivers: &dirs.receivers,
            senders: &dirs.senders,
        },
        dry_run,
        chrono::Utc::now(),
    )?;
    if ctx.global.json {
        println!("{}", json!(report));
    } else {
        print!("{}", render_repair(&report));
    }
    for w in &report.warnings {
        eprintln!("entwurf: warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The text report: one line per step, the same lines for a dry run and the real run.
fn render_repair(r: &entwurf_mailbox::RepairReport) -> String {
    use entwurf_mailbox::StepKind;
    if r.groups.is_empty() {
        return "no twin records: every native id has at most one record, nothing to repair\n"
            .to_owned();
    }
    let mut out = String::new();
    if r.dry_run {
        out.push_str("dry run: the plan below was not carried out (nothing changed)\n");
    }
    for g in &r.groups {
        out.push_str(&format!(
            "native id {}: keep {} (createdAt {}), {} twin(s) moved aside\n",
            g.native_session_id,
            g.keep.garden_id,
            g.keep.created_at,
            g.moved_aside.len()
        ));
        for s in &g.steps {
            let to =
                s.to.as_ref()
                    .map(|t| format!(" -> {}", t.display()))
                    .unwrap_or_default();
            let what = match s.kind {
                StepKind::MoveMail => "move mail",
                StepKind::DropReceiverMarker => "drop receiver marker",
                StepKind::DropSenderMarker => "drop sender marker",
                StepKind::MoveRecord => "move record",
                StepKind::StampState => "stamp lastEnqueuedAt",
                StepKind::RingDoorbell => "ring doorbell",
            };
            out.push_str(&format!("  {what} {}{to}\n", s.path.display()));
        }
    }
    out
}
