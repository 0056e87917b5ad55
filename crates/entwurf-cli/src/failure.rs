//! How a failure leaves the process, in one place: `entwurf: <message>` on stderr followed by
//! one `  caused by: <cause>` line per cause (the error's `source` chain, outermost first), the
//! exit status of [`CliError::exit_code`], and under `--json` also one line on stdout:
//!
//! ```json
//! {"error":{"kind":"io","message":"…","path":"/…/x.meta.json","causes":["Permission denied (os error 13)"]}}
//! ```
//!
//! `kind` is one of [`ErrorKind`] (the README has the table), `message` the first stderr line
//! without the `entwurf: ` prefix, `path` the file or directory the error is about or `null`
//! (the key is always there), `causes` (only when the error has a cause) the `caused by` texts,
//! and `details` (only some errors) command-specific context. No error type repeats its cause
//! in its own message, so the chain is where the cause is read. Argument-parsing
//! errors are `usage` (exit 2): `--json` is found by scanning the raw arguments, since clap has
//! not produced any flags when it fails. A subcommand only returns a typed [`CliError`]; it never
//! prints its own failure.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use entwurf_meta_session::{record_path, MarkerError, RecordError};
use serde_json::{json, Value};

use crate::ctx::CliError;

/// What kind of failure a `--json` error object reports. Each kind has one usual exit status;
/// the exit status of the process is always [`CliError::exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line could not be parsed (unknown flag, missing argument, bad value). Exit 2.
    Usage,
    /// A garden id argument breaks the grammar; no path was built. Exit 2.
    InvalidGardenId,
    /// A value breaks its schema (empty message, bad record or marker field). Exit 2.
    InvalidInput,
    /// The store directories cannot be determined (contradictory environment, no `HOME`). Exit 2.
    Config,
    /// The record, marker or mailbox asked for does not exist. Exit 1.
    NotFound,
    /// A file exists but cannot be used as what it should be (unparseable, drifted). Exit 1.
    Corrupt,
    /// A filesystem or OS failure (permissions, a file where a directory belongs, a full disk). Exit 1.
    Io,
    /// A fresh name collided with an existing file; retrying draws another. Exit 1.
    Busy,
    /// The dispatch could not be carried out (a seam failed before any receipt existed). Exit 1.
    DeliveryFailed,
    /// Deliberately refused to protect state (ambiguous or drifted identity, a live lock holder,
    /// nobody to drain a mailbox). Exit 3.
    Refused,
}

impl ErrorKind {
    /// The kebab-case name in the JSON object.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::InvalidGardenId => "invalid-garden-id",
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::Config => "config",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Io => "io",
            ErrorKind::Busy => "busy",
            ErrorKind::DeliveryFailed => "delivery-failed",
            ErrorKind::Refused => "refused",
        }
    }

    /// The kind of an error nobody classified yet, from its exit status.
    fn from_exit_code(code: u8) -> Self {
        match code {
            2 => ErrorKind::InvalidInput,
            3 => ErrorKind::Refused,
            _ => ErrorKind::Io,
        }
    }
}

/// True when `--json` appears among the raw arguments before a `--` terminator (where clap would
/// read it as the flag). For argument-parsing errors only: a parsed command uses its flag.
pub fn json_requested(args: impl IntoIterator<Item = OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Reports an argument-parsing error. Help and version requests are not failures: they print
/// and exit as clap always does. Without `--json` the error is clap's, unchanged.
pub fn usage(err: clap::Error, json: bool) -> ExitCode {
    if !json || !err.use_stderr() {
        err.exit();
    }
    let code = u8::try_from(err.exit_code()).unwrap_or(2);
    let rendered = err.to_string();
    let message = match err.kind() {
        clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "a subcommand is required (see --help)".to_owned()
        }
        // clap's first paragraph, on one line: "error: " and the indent of continued lines
        // (the missing arguments, say) dropped; usage and the --help hint left to stderr.
        _ => rendered
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.trim().trim_start_matches("error: "))
            .collect::<Vec<_>>()
            .join(" "),
    };
    print_object(&error_object(ErrorKind::Usage, &message, None, None));
    // The human text too, as without --json.
    let _ = err.print();
    ExitCode::from(code)
}

/// Reports a command's failure: stderr text, the JSON object under `--json`, the exit status.
pub fn report(err: &CliError, json: bool) -> ExitCode {
    let causes: Vec<String> = entwurf_fs::chain::causes(err).collect();
    if json {
        let mut object = error_object(err.kind(), &err.to_string(), err.path(), err.details());
        if !causes.is_empty() {
            object["error"]["causes"] = json!(causes);
        }
        print_object(&object);
    }
    eprint!("{}", human_text(err, &causes));
    ExitCode::from(err.exit_code())
}

/// `entwurf: <message>` and one `  caused by: <cause>` line per cause.
fn human_text(err: &CliError, causes: &[String]) -> String {
    let mut text = format!("entwurf: {err}\n");
    for cause in causes {
        text.push_str("  caused by: ");
        text.push_str(cause);
        text.push('\n');
    }
    text
}

fn error_object(
    kind: ErrorKind,
    message: &str,
    path: Option<PathBuf>,
    details: Option<Value>,
) -> Value {
    let mut error = json!({
        "kind": kind.as_str(),
        "message": message,
        "path": path.map(|p| p.to_string_lossy().into_owned()),
    });
    if let Some(details) = details {
        error["details"] = details;
    }
    json!({ "error": error })
}

fn print_object(v: &Value) {
    let mut out = std::io::stdout().lock();
    // Nothing more can be reported if stdout itself is gone; the exit status still says it.
    let _ = writeln!(out, "{v}").and_then(|()| out.flush());
}

impl CliError {
    /// The `kind` of this failure's JSON object.
    pub fn kind(&self) -> ErrorKind {
        use entwurf_garden::install::InstallError as I;
        use entwurf_lock::LockError as L;
        use entwurf_mailbox::MailboxError as M;
        match self {
            CliError::Dirs(_)
            | CliError::NoHome { .. }
            | CliError::CurrentExe { .. }
            | CliError::Install(I::Parse { .. } | I::Shape { .. }) => ErrorKind::Config,
            CliError::Install(I::ReferenceInstalled { .. }) => ErrorKind::Refused,
            CliError::Install(I::Raced { .. }) => ErrorKind::Busy,
            CliError::InvalidGardenId(_)
            | CliError::Lock(L::InvalidGardenId { .. })
            | CliError::Mailbox(M::InvalidGardenId(_))
            | CliError::Dispatch(entwurf_decider::DecideError::InvalidGardenId { .. }) => {
                ErrorKind::InvalidGardenId
            }
            CliError::Record(e)
            | CliError::Mailbox(M::Record { source: e, .. })
            | CliError::Repair(entwurf_mailbox::RepairError::Record(e)) => {
                record_kind(e, self.exit_code())
            }
            CliError::Marker(MarkerError::Invalid(_))
            | CliError::Mailbox(M::EmptyBody { .. } | M::TooLarge { .. })
            | CliError::Stdin { .. } => ErrorKind::InvalidInput,
            CliError::NoReceiverMarker { .. } | CliError::Mailbox(M::RecordMissing { .. }) => {
                ErrorKind::NotFound
            }
            CliError::UnreadableRecords { .. }
            | CliError::Mailbox(M::State { .. } | M::Refused { .. }) => ErrorKind::Corrupt,
            CliError::PiReceiver { .. }
            | CliError::LockClearRefused { .. }
            | CliError::Mailbox(M::Undeliverable { .. }) => ErrorKind::Refused,
            CliError::Dispatch(_) => ErrorKind::DeliveryFailed,
            _ => ErrorKind::from_exit_code(self.exit_code()),
        }
    }

    /// The file or directory this failure is about, when it names one.
    pub fn path(&self) -> Option<PathBuf> {
        use entwurf_garden::install::InstallError as I;
        use entwurf_lock::LockError as L;
        use entwurf_mailbox::MailboxError as M;
        match self {
            CliError::Record(e)
            | CliError::Mailbox(M::Record { source: e, .. })
            | CliError::Repair(entwurf_mailbox::RepairError::Record(e)) => record_path_of(e),
            CliError::Repair(entwurf_mailbox::RepairError::Io { path, .. }) => Some(path.clone()),
            CliError::Marker(
                MarkerError::NotADirectory { path } | MarkerError::Io { path, .. },
            ) => Some(path.clone()),
            CliError::NoReceiverMarker { path, .. } => Some(path.clone()),
            CliError::UnreadableRecords { dir, .. } => Some(dir.clone()),
            CliError::LockClearRefused { lock_path, .. } => Some(lock_path.clone()),
            CliError::Lock(L::DirNotADirectory { dir } | L::DirCreate { dir, .. }) => {
                Some(dir.clone())
            }
            CliError::Lock(
                L::Open { path, .. }
                | L::WriteClaim { path, .. }
                | L::EncodeClaim { path, .. }
                | L::Read { path, .. }
                | L::Stat { path, .. }
                | L::ReclaimMarker { path, .. }
                | L::Unlink { path, .. },
            ) => Some(path.clone()),
            CliError::Mailbox(M::RecordMissing { gid, sessions_dir }) => {
                Some(record_path(sessions_dir, gid))
            }
            CliError::Mailbox(
                M::State { path, .. }
                | M::NotADirectory { path }
                | M::Refused { path, .. }
                | M::Io { path, .. },
            ) => Some(path.clone()),
            CliError::Install(
                I::Parse { path, .. }
                | I::Shape { path, .. }
                | I::Io { path, .. }
                | I::Raced { path },
            ) => Some(path.clone()),
            CliError::Mailbox(M::SignalFailed { signal_path, .. }) => Some(signal_path.clone()),
            _ => None,
        }
    }

    /// Command-specific context carried into the JSON object as `details`.
    pub fn details(&self) -> Option<Value> {
        match self {
            CliError::LockClearRefused { status, .. } => Some((**status).clone()),
            CliError::UnreadableRecords { listing, .. } => Some((**listing).clone()),
            _ => None,
        }
    }
}

fn record_kind(e: &RecordError, exit_code: u8) -> ErrorKind {
    match e {
        RecordError::NotFound { .. } => ErrorKind::NotFound,
        RecordError::Corrupt { .. }
        | RecordError::Drift { .. }
        | RecordError::ReceiptMigration { .. }
        | RecordError::ListingStrict { .. } => ErrorKind::Corrupt,
        RecordError::Ambiguous { .. } | RecordError::BackendChange { .. } => ErrorKind::Refused,
        RecordError::GardenIdTaken { .. } => ErrorKind::Busy,
        RecordError::InvalidInput(_) => ErrorKind::InvalidInput,
        _ => ErrorKind::from_exit_code(exit_code),
    }
}

fn record_path_of(e: &RecordError) -> Option<PathBuf> {
    match e {
        RecordError::NotFound { gid, dir } => Some(record_path(dir, gid)),
        RecordError::Corrupt { path, .. }
        | RecordError::Drift { path, .. }
        | RecordError::BackendChange { path, .. }
        | RecordError::GardenIdTaken { path }
        | RecordError::UpsertLock { path, .. }
        | RecordError::NotADirectory { path }
        | RecordError::Io { path, .. } => Some(path.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn json_is_found_anywhere_before_the_terminator_but_not_after_it_or_as_the_program() {
        assert!(json_requested(args(&["entwurf", "--json", "lock"])));
        assert!(json_requested(args(&[
            "entwurf", "lock", "show", "x", "--json"
        ])));
        assert!(!json_requested(args(&[
            "entwurf", "send", "g", "--", "--json"
        ])));
        assert!(!json_requested(args(&["--json", "send"])));
        assert!(!json_requested(args(&["entwurf", "--jsonx", "--JSON"])));
    }

    #[test]
    fn the_object_always_has_kind_message_and_path_and_details_only_when_given() {
        let v = error_object(ErrorKind::NotFound, "m", None, None);
        assert_eq!(
            v.to_string(),
            r#"{"error":{"kind":"not-found","message":"m","path":null}}"#
        );
        let v = error_object(
            ErrorKind::Refused,
            "m",
            Some(PathBuf::from("/l")),
            Some(json!({"a":1})),
        );
        assert_eq!(v["error"]["path"], "/l");
        assert_eq!(v["error"]["details"]["a"], 1);
    }

    #[test]
    fn an_unclassified_error_gets_the_kind_of_its_exit_status() {
        assert_eq!(ErrorKind::from_exit_code(2), ErrorKind::InvalidInput);
        assert_eq!(ErrorKind::from_exit_code(3), ErrorKind::Refused);
        assert_eq!(ErrorKind::from_exit_code(1), ErrorKind::Io);
    }
}
