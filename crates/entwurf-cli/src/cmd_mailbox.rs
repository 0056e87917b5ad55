//! `entwurf mailbox`: the guarded send, the drain and a read-only listing of a citizen's meta
//! mailbox.

use std::io::Read;
use std::process::ExitCode;

use chrono::Utc;
use entwurf_fs::Chain;
use entwurf_mailbox::{
    drain, format_body, iso_millis, list, send_guarded, Drained, EntryKind, MailboxDirs,
    MailboxError, MailboxListing, RandomTags, SenderEnvelope,
};
use entwurf_meta_session::GardenId;
use serde_json::json;

use crate::ctx::{CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: MailboxCommand,
}

#[derive(clap::Subcommand, Debug)]
enum MailboxCommand {
    /// Enqueue a message for a citizen — refused (`mailbox-undeliverable`, exit 3, nothing
    /// written) unless its backend drains a mailbox and a live receiver marker matches its record.
    ///
    /// The body is MESSAGE verbatim. With --from-session it is rendered with the reference's
    /// `[entwurf received ⟵]` header (sender, replyability, KST time, wants-reply).
    Send(SendArgs),
    /// Drain a citizen's mailbox: print every unread message in time order, archive each as
    /// `*.read` and stamp the read receipt (nothing changes when the mailbox is empty).
    Read {
        /// The garden id of the mailbox owner.
        gid: String,
    },
    /// Show what is in a citizen's mailbox (unread, announced, archived) without changing it.
    List {
        /// The garden id of the mailbox owner.
        gid: String,
    },
}

#[derive(clap::Args, Debug)]
struct SendArgs {
    /// The garden id of the recipient.
    gid: String,
    /// The message; `-` reads it from stdin.
    message: String,
    /// Render a sender header: the sender's session id (its garden id when it has one).
    #[arg(long, value_name = "SESSION_ID")]
    from_session: Option<String>,
    /// The sender's agent label for the header (e.g. anthropic/claude-sonnet-4).
    #[arg(
        long,
        value_name = "AGENT",
        requires = "from_session",
        default_value = "entwurf-cli"
    )]
    agent_id: String,
    /// The sender's working directory for the header (default: the current directory).
    #[arg(long, value_name = "DIR", requires = "from_session")]
    sender_cwd: Option<String>,
    /// The sender's origin for the header: pi-session, external-mcp or meta-session.
    #[arg(long, requires = "from_session", default_value = "external-mcp")]
    origin: String,
    /// Advertise the sender as replyable in the header.
    #[arg(long, requires = "from_session")]
    replyable: bool,
    /// Ask for a reply (shown in the header; needs --from-session, a raw body has no header).
    #[arg(long, requires = "from_session")]
    wants_reply: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let dirs = ctx.dirs()?;
    let mdirs = MailboxDirs::from(&dirs);
    match args.command {
        MailboxCommand::Send(a) => send(a, mdirs, ctx),
        MailboxCommand::Read { gid } => read(&GardenId::parse(&gid)?, mdirs, ctx),
        MailboxCommand::List { gid } => show(&GardenId::parse(&gid)?, mdirs, ctx),
    }
}

fn send(a: SendArgs, dirs: MailboxDirs<'_>, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let gid = GardenId::parse(&a.gid)?;
    let message = if a.message == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|source| CliError::Stdin { source })?;
        s
    } else {
        a.message
    };
    let now = Utc::now();
    let body = match a.from_session {
        None => message,
        Some(session_id) => {
            // The environment is read here, at the edge.
            let cwd = a.sender_cwd.unwrap_or_else(|| {
                std::env::current_dir()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            });
            let home = std::env::var("HOME").ok();
            let sender = SenderEnvelope {
                session_id,
                agent_id: a.agent_id,
                cwd,
                timestamp: iso_millis(now),
                origin: Some(a.origin),
                replyable: Some(a.replyable),
            };
            format_body(&sender, &message, a.wants_reply, home.as_deref())
        }
    };
    let r = send_guarded(dirs, &gid, &body, now, &mut RandomTags)?;
    if ctx.global.json {
        let mut v = serde_json::to_value(&r).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("ok".into(), json!(true));
            o.insert("transport".into(), json!("meta-mailbox"));
        }
        println!("{v}");
    } else {
        println!(
            "entwurf mailbox → enqueued for {} at {}",
            r.garden_id,
            r.message_path.display()
        );
    }
    if let Some(aside) = &r.state_set_aside {
        eprintln!(
            "entwurf: the receipt state was unparseable; it was set aside as {} and rebuilt",
            aside.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read(gid: &GardenId, dirs: MailboxDirs<'_>, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let d = drain(dirs.sessions, dirs.mailbox, gid, Utc::now())?;
    if ctx.global.json {
        println!("{}", drained_json(&d));
    } else {
        println!("{}", d.inbox_text());
    }
    for left in &d.left_unread {
        eprintln!("entwurf: left unread {}: {}", left.file, left.error);
    }
    for bad in &d.bad_entries {
        eprintln!(
            "entwurf: skipped {} ({}): {}",
            bad.file,
            bad.what(),
            bad.kind.hint()
        );
    }
    if let Some(aside) = &d.state_set_aside {
        eprintln!(
            "entwurf: the receipt state was unparseable; it was set aside as {} and rebuilt",
            aside.display()
        );
    }
    if let Some(e) = &d.receipt_error {
        eprintln!(
            "entwurf: the messages above were archived but the read receipt was not stamped: {}",
            Chain(e)
        );
    }
    Ok(if d.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn drained_json(d: &Drained) -> serde_json::Value {
    json!({
        "gardenId": d.garden_id,
        "messages": d.messages,
        "readAt": d.read_at,
        "recordPath": d.record_path,
        "leftUnread": d.left_unread.iter().map(|l| json!({"file": l.file, "error": l.error.to_string()})).collect::<Vec<_>>(),
        "badEntries": d.bad_entries.iter().map(|b| json!({"file": b.file, "kind": b.kind, "error": b.error.to_string(), "hint": b.kind.hint()})).collect::<Vec<_>>(),
        "stateSetAside": d.state_set_aside,
        "receiptError": d.receipt_error.as_ref().map(MailboxError::to_string),
        "removedTemps": d.removed_temps,
    })
}

fn show(gid: &GardenId, dirs: MailboxDirs<'_>, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let l = list(dirs.mailbox, gid)?;
    if ctx.global.json {
        println!("{}", serde_json::to_value(&l).unwrap_or_default());
    } else {
        print!("{}", render_listing(&l));
    }
    Ok(ExitCode::SUCCESS)
}

fn render_listing(l: &MailboxListing) -> String {
    let mut out = format!("mailbox {} ({})\n", l.garden_id, l.dir.display());
    if !l.exists {
        out.push_str("  no mailbox directory yet (nothing was ever enqueued)\n");
    }
    let count = |k: EntryKind| l.entries.iter().filter(|e| e.kind == k).count();
    out.push_str(&format!(
        "  unread: {} ({} not yet announced, {} announced by the doorbell), archived: {}\n",
        l.unread().count(),
        count(EntryKind::Fresh),
        count(EntryKind::Delivered),
        count(EntryKind::Read)
    ));
    let ts = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "  lastEnqueuedAt={} lastDeliveredAt={} lastReadAt={} signal={}\n",
        ts(&l.state.last_enqueued_at),
        ts(&l.state.last_delivered_at),
        ts(&l.state.last_read_at),
        if l.signal_present {
            "present"
        } else {
            "absent"
        }
    ));
    for e in &l.entries {
        let kind = match e.kind {
            EntryKind::Fresh => "fresh    ",
            EntryKind::Delivered => "announced",
            EntryKind::Read => "read     ",
        };
        out.push_str(&format!("  {kind} {:>8}  {}\n", e.size, e.file));
    }
    for t in &l.removed_temps {
        out.push_str(&format!("  removed   {t}  (temp file of a dead writer)\n"));
    }
    out
}
