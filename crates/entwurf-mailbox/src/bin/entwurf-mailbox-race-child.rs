//! A child process of the mailbox's multi-process tests (`tests/multiprocess.rs`), which start
//! it through `CARGO_BIN_EXE_entwurf-mailbox-race-child`; not a tool for anything else.
//!
//! `entwurf-mailbox-race-child <root> <gid> <child index> <count>` enqueues `count` messages to
//! `gid` through the guarded send, over `<root>/{sessions,mailbox,receivers}`. Each body is
//! [`entwurf_mailbox_race_body`]'s, large enough that a torn write would show.

use std::path::PathBuf;
use std::process::ExitCode;

use entwurf_mailbox::{send_guarded, MailboxDirs, RandomTags};
use entwurf_meta_session::GardenId;

/// The body a child sends as its `seq`-th message (the parent checks bodies against it).
fn entwurf_mailbox_race_body(child: usize, seq: usize) -> String {
    let head = format!("child={child} seq={seq:03}\n");
    let filler = format!("{child}-{seq}:").repeat(200);
    format!("{head}{filler}\nend child={child} seq={seq:03}\n")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, gid, child, count] = args.as_slice() else {
        eprintln!("usage: entwurf-mailbox-race-child <root> <gid> <child index> <count> (started by the entwurf-mailbox multi-process tests)");
        return ExitCode::from(2);
    };
    let (Ok(gid), Ok(child), Ok(count)) = (
        GardenId::parse(gid),
        child.parse::<usize>(),
        count.parse::<usize>(),
    ) else {
        eprintln!("entwurf-mailbox-race-child: bad arguments {args:?}");
        return ExitCode::from(2);
    };
    let root = PathBuf::from(root);
    let (sessions, mailbox, receivers) = (
        root.join("sessions"),
        root.join("mailbox"),
        root.join("receivers"),
    );
    let dirs = MailboxDirs {
        sessions: &sessions,
        mailbox: &mailbox,
        receivers: &receivers,
    };
    for seq in 0..count {
        let body = entwurf_mailbox_race_body(child, seq);
        if let Err(e) = send_guarded(dirs, &gid, &body, chrono::Utc::now(), &mut RandomTags) {
            eprintln!("entwurf-mailbox-race-child {child}: send {seq} failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
