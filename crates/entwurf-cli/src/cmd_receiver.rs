//! `entwurf receiver`: receiver markers (who listens on a citizen's mailbox).

use std::process::ExitCode;

use entwurf_fs::Chain;
use entwurf_meta_session::{
    owner_is_live, read_receiver_marker, read_record, receiver_marker_path, receiver_matches,
    write_receiver_marker, ArmProvenance, Backend, GardenId, ReceiverMarkerInput,
    DEFAULT_OWNER_KIND,
};
use serde_json::json;

use crate::ctx::{CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: ReceiverCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ReceiverCommand {
    /// Arm (or refresh) the receiver marker of a citizen: backend and native id come from its
    /// record; the owner is the process holding the idle watch.
    Arm {
        /// The garden id (must have a record, and not be a pi citizen).
        gid: String,
        /// The process that holds the idle watch (its start key is recorded now).
        #[arg(long, value_name = "PID")]
        owner_pid: i64,
        /// session-start, cwd-changed or file-changed.
        #[arg(long, default_value = "session-start")]
        provenance: ArmProvenance,
        /// What kind of process the owner is.
        #[arg(long, value_name = "KIND", default_value = DEFAULT_OWNER_KIND)]
        owner_kind: String,
    },
    /// Show the receiver marker of a citizen, whether its owner is alive, and whether it
    /// matches the citizen's record (armed = both).
    Show {
        /// The garden id.
        gid: String,
    },
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    match args.command {
        ReceiverCommand::Arm {
            gid,
            owner_pid,
            provenance,
            owner_kind,
        } => {
            let gid = GardenId::parse(&gid)?;
            let dirs = ctx.dirs()?;
            let record = read_record(&dirs.sessions, &gid)?;
            if record.backend == Backend::Pi {
                return Err(CliError::PiReceiver {
                    gid: gid.to_string(),
                });
            }
            let path = write_receiver_marker(
                &dirs.receivers,
                &ReceiverMarkerInput {
                    garden_id: gid.clone(),
                    backend: record.backend,
                    native_session_id: record.native_session_id.clone(),
                    owner_pid,
                    owner_kind: Some(owner_kind),
                    arm_provenance: provenance,
                },
                chrono::Utc::now(),
            )?;
            let marker = read_receiver_marker(&dirs.receivers, &gid, false);
            let live = marker
                .as_ref()
                .is_some_and(|m| owner_is_live(m.owner_pid, &m.owner_start_key));
            if !live {
                eprintln!(
                    "entwurf: warning: owner pid {owner_pid} is not a running process; this marker will never read as armed"
                );
            }
            if ctx.global.json {
                println!(
                    "{}",
                    json!({ "path": path, "marker": marker, "live": live })
                );
            } else {
                println!("armed {gid} {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        ReceiverCommand::Show { gid } => {
            let gid = GardenId::parse(&gid)?;
            let dirs = ctx.dirs()?;
            let path = receiver_marker_path(&dirs.receivers, &gid);
            let Some(marker) = read_receiver_marker(&dirs.receivers, &gid, false) else {
                return Err(CliError::NoReceiverMarker {
                    gid: gid.to_string(),
                    path,
                });
            };
            let live = owner_is_live(marker.owner_pid, &marker.owner_start_key);
            // A missing or unreadable record is reported, not fatal: this is an inspection tool.
            let (matches, record_problem) = match read_record(&dirs.sessions, &gid) {
                Ok(r) => (Some(receiver_matches(&marker, &r)), None),
                Err(e) => (None, Some(Chain(&e).to_string())),
            };
            let armed = live && matches == Some(true);
            if ctx.global.json {
                println!(
                    "{}",
                    json!({
                        "path": path,
                        "marker": marker,
                        "live": live,
                        "matchesRecord": matches,
                        "recordError": record_problem,
                        "armed": armed,
                    })
                );
            } else {
                print!(
                    "{}",
                    serde_json::to_string_pretty(&marker).unwrap_or_default() + "\n"
                );
                println!("path:           {}", path.display());
                println!("owner live:     {}", if live { "yes" } else { "no" });
                match (matches, &record_problem) {
                    (Some(m), _) => println!("matches record: {}", if m { "yes" } else { "no" }),
                    (None, Some(p)) => println!("matches record: unknown ({p})"),
                    (None, None) => {}
                }
                println!("armed:          {}", if armed { "yes" } else { "no" });
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
