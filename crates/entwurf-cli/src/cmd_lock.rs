//! `entwurf lock`: look at and clear the per-target dispatch lock (`<lock dir>/<gid>.lock`).

use std::process::ExitCode;

use entwurf_lock::{parse_garden_id, ClearOutcome, HolderState, Lock, LockStatus};
use serde_json::{json, Value};

use crate::ctx::{CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: LockCommand,
}

#[derive(clap::Subcommand, Debug)]
enum LockCommand {
    /// Show who holds the lock of a garden id: pid, host, since, file mtime, and whether the
    /// holder is alive.
    Show {
        /// The garden id (YYYYMMDDTHHMMSS-xxxxxx).
        gid: String,
    },
    /// Remove a lock by hand. Without --force only a holder that is provably dead on this host is
    /// removed; a live holder, another host's holder, a corrupt file or a reclaim marker is
    /// refused with who holds it.
    Clear {
        /// The garden id (YYYYMMDDTHHMMSS-xxxxxx).
        gid: String,
        /// Remove the lock file and any reclaim marker whoever holds it.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let lock = Lock::new(ctx.lock_dir());
    match args.command {
        LockCommand::Show { gid } => show(&lock, &gid, ctx.global.json),
        LockCommand::Clear { gid, force } => clear(&lock, &gid, force, ctx.global.json),
    }
}

/// `true` / `false` when we know, `null` when we cannot tell from here.
fn alive(state: HolderState) -> Value {
    match state {
        HolderState::Alive | HolderState::Denied => Value::Bool(true),
        HolderState::Dead => Value::Bool(false),
        HolderState::Corrupt | HolderState::OtherHost | HolderState::UnprobeablePid => Value::Null,
    }
}

fn status_json(status: &LockStatus) -> Value {
    let mut v = json!(status);
    v["alive"] = alive(status.state);
    v
}

fn show(lock: &Lock, gid: &str, as_json: bool) -> Result<ExitCode, CliError> {
    let gid = parse_garden_id(gid)?;
    let lock_path = lock.lock_path(&gid);
    let status = lock.inspect(&gid)?;
    if as_json {
        let mut v = match &status {
            Some(s) => status_json(s),
            None => json!({
                "lockPath": lock_path,
                "reclaimMarker": lock.reclaim_marker(&gid)?,
            }),
        };
        v["gardenId"] = json!(gid);
        v["present"] = json!(status.is_some());
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    let Some(s) = status else {
        println!("no lock for {gid} ({})", lock_path.display());
        if let Some(m) = lock.reclaim_marker(&gid)? {
            println!(
                "marker  {} (mtime {})",
                m.path.display(),
                m.mtime.as_deref().unwrap_or("unknown")
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    println!("lock    {}", s.lock_path.display());
    match &s.holder {
        Some(h) => {
            println!("holder  pid {} on host {}", h.pid, h.hostname);
            println!("since   {}", h.created_at);
            println!("nonce   {}", h.nonce);
        }
        None => println!("holder  none (corrupt)"),
    }
    println!("mtime   {}", s.file_mtime.as_deref().unwrap_or("unknown"));
    println!("alive   {}", s.state.describe());
    if let Some(m) = &s.reclaim_marker {
        println!(
            "marker  {} (mtime {})",
            m.path.display(),
            m.mtime.as_deref().unwrap_or("unknown")
        );
    }
    println!("detail  {}", s.detail);
    Ok(ExitCode::SUCCESS)
}

fn clear(lock: &Lock, gid: &str, force: bool, as_json: bool) -> Result<ExitCode, CliError> {
    let gid = parse_garden_id(gid)?;
    let lock_path = lock.lock_path(&gid);
    match lock.clear(&gid, force)? {
        ClearOutcome::Absent => {
            if as_json {
                println!(
                    "{}",
                    json!({"gardenId": gid, "lockPath": lock_path, "result": "absent"})
                );
            } else {
                println!(
                    "no lock for {gid} ({}); nothing to clear",
                    lock_path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ClearOutcome::Cleared {
            was,
            marker_removed,
        } => {
            if as_json {
                println!(
                    "{}",
                    json!({
                        "gardenId": gid,
                        "lockPath": lock_path,
                        "result": "cleared",
                        "was": was.as_ref().map(status_json),
                        "markerRemoved": marker_removed,
                    })
                );
            } else {
                match &was {
                    Some(s) => println!("cleared {} (was: {})", lock_path.display(), s.detail),
                    None => println!("no lock file at {}", lock_path.display()),
                }
                if marker_removed {
                    println!(
                        "removed reclaim marker {}",
                        entwurf_lock::reclaim_marker_path(&lock_path).display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ClearOutcome::Refused { status, detail } => {
            let why = match &status {
                Some(s) if s.reclaim_marker.is_some() && s.state.is_reclaimable() => {
                    "a reclaim marker is present"
                }
                Some(s) => s.state.describe(),
                None => "a reclaim marker is present",
            };
            // Under --json this is the `details` of the error object (the only stdout line).
            let status = json!({
                "gardenId": gid,
                "lockPath": lock_path,
                "result": "refused",
                "status": status.as_ref().map(status_json),
                "detail": detail,
            });
            Err(CliError::LockClearRefused {
                lock_path,
                why,
                detail,
                status: Box::new(status),
            })
        }
    }
}
