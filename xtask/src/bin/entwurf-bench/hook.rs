//! The Claude Code hook as Claude Code runs it: one cold `entwurf hook claude-code` process per
//! event on a store of 1,000 claude-code records, timed from spawn to exit (stdin written, stdout
//! read). With `--ref-checkout DIR --ref-node NODE` the reference's own hook
//! (`pi-extensions/meta-bridge-hook.ts` under Node's type stripping) and doorbell
//! (`pi/meta-bridge/entwurf-meta-receive/scripts/doorbell.sh`) run the same events on an equal
//! world, side by side.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use entwurf_meta_session::{Backend, Patch, RecordStore, UpsertInput};
use indexmap::IndexMap;
use serde_json::json;
use xtask::report::{Hook, HookSide, Section, Summary};

use crate::stats::Samples;

/// What the hook section needs.
pub struct HookOpts {
    pub entwurf_bin: Option<PathBuf>,
    pub ref_checkout: Option<PathBuf>,
    pub ref_node: Option<PathBuf>,
    pub runs: usize,
    pub warmup: usize,
    pub records: usize,
    pub tmp: PathBuf,
}

const NATIVE: &str = "bench-hook-session";

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl World {
    fn new(tmp: &Path, records: usize) -> Result<Self, String> {
        let t = tempfile::Builder::new()
            .prefix("entwurf-bench-hook-")
            .tempdir_in(tmp)
            .map_err(|e| format!("temp dir in {}: {e}", tmp.display()))?;
        let root = t.path().to_path_buf();
        std::fs::create_dir_all(root.join("cwd")).map_err(|e| e.to_string())?;
        let mut store = RecordStore::new(root.join("sessions"), root.join("mailbox"));
        let now = chrono::Utc::now();
        for i in 0..records {
            let mut input =
                UpsertInput::new(Backend::ClaudeCode, &format!("fill-{i:05}"), "/home/u/proj");
            input.transcript_path = Patch::Value(format!("/home/u/proj/fill-{i:05}.jsonl"));
            store
                .upsert(&input, now)
                .map_err(|e| format!("fill: {e}"))?;
        }
        store.flush().map_err(|e| format!("fill flush: {e}"))?;
        Ok(Self { _tmp: t, root })
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("HOME", self.root.join("home"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PI_CODING_AGENT_DIR", self.root.join("agent"))
            .env("ENTWURF_META_SESSIONS_DIR", self.root.join("sessions"))
            .env("ENTWURF_META_MAILBOX_DIR", self.root.join("mailbox"))
            .env("ENTWURF_META_RECEIVERS_DIR", self.root.join("receivers"))
            .env("ENTWURF_META_SENDERS_DIR", self.root.join("senders"));
    }

    fn envelope(&self, event: &str) -> String {
        let cwd = self.root.join("cwd");
        json!({
            "session_id": NATIVE,
            "transcript_path": cwd.join(format!("{NATIVE}.jsonl")),
            "cwd": cwd,
            "hook_event_name": event,
            "prompt": "hi",
        })
        .to_string()
    }

    /// The mailbox of the bench session (after a SessionStart made it).
    fn mailbox(&self) -> Option<PathBuf> {
        let rd = std::fs::read_dir(self.root.join("mailbox")).ok()?;
        rd.flatten().map(|e| e.path()).find(|p| p.is_dir())
    }
}

/// One spawn → exit, stdin written and closed, output drained. `Err` when the exit status is
/// not the expected one.
fn once(cmd: &mut Command, stdin: &str, want: &[i32]) -> Result<std::time::Duration, String> {
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    if let Some(mut s) = child.stdin.take() {
        let _ = s.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let d = t0.elapsed();
    let code = out.status.code().unwrap_or(-1);
    if !want.contains(&code) {
        return Err(format!(
            "exit {code}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(d)
}

type MakeCmd<'a> = &'a dyn Fn(&str) -> Command;

/// The command for `event` with the world's environment.
fn cmd_in(w: &World, make: MakeCmd<'_>, event: &str) -> Command {
    let mut c = make(event);
    w.env(&mut c);
    c
}

/// Times `runs` runs of one event (after `warmup`), with `prepare` run untimed before each.
fn event_row(
    o: &HookOpts,
    w: &World,
    make: MakeCmd<'_>,
    event: &str,
    stdin: &str,
    want: &[i32],
    prepare: &dyn Fn(&World),
) -> Section<Summary> {
    let mut s = Samples::default();
    for i in 0..(o.warmup + o.runs) {
        prepare(w);
        match once(&mut cmd_in(w, make, event), stdin, want) {
            Ok(d) if i >= o.warmup => s.push(d),
            Ok(_) => {}
            Err(e) => return Section::failed(format!("{event}: {e}")),
        }
    }
    Section::Ok(s.summary())
}

fn fresh_message(w: &World) {
    if let Some(mb) = w.mailbox() {
        let name = format!(
            "{}-{:06x}.msg",
            chrono::Utc::now().format("%Y-%m-%dT%H-%M-%S-%3fZ"),
            rand_tag()
        );
        let _ = std::fs::write(mb.join(name), b"bench body\n");
    }
}

fn rand_tag() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed) & 0xff_ffff
}

fn side(
    o: &HookOpts,
    make: MakeCmd<'_>,
    doorbell: Option<MakeCmd<'_>>,
) -> Result<HookSide, String> {
    let w = World::new(&o.tmp, o.records)?;
    // The session's first SessionStart creates its record (the other rows attach to it).
    once(
        &mut cmd_in(&w, make, "SessionStart"),
        &w.envelope("SessionStart"),
        &[0],
    )
    .map_err(|e| format!("first SessionStart: {e}"))?;
    let mut events = IndexMap::new();
    for event in ["SessionStart", "CwdChanged", "UserPromptSubmit"] {
        events.insert(
            event.into(),
            event_row(o, &w, make, event, &w.envelope(event), &[0], &|_| {}),
        );
    }
    let mb = w.mailbox().ok_or("no mailbox after SessionStart")?;
    let door = json!({"session_id": NATIVE, "hook_event_name": "FileChanged",
        "file_path": mb.join("inbox.signal"), "event": "change"})
    .to_string();
    let door_make = doorbell.unwrap_or(make);
    events.insert(
        "FileChanged (nothing fresh)".into(),
        event_row(o, &w, door_make, "FileChanged", &door, &[0], &|_| {}),
    );
    events.insert(
        "FileChanged (one fresh message)".into(),
        event_row(o, &w, door_make, "FileChanged", &door, &[2], &fresh_message),
    );
    Ok(HookSide {
        records: o.records + 1,
        events,
    })
}

pub fn run(o: &HookOpts) -> Section<Hook> {
    match &o.entwurf_bin {
        Some(bin) => Section::from_result(measure(o, bin)),
        None => Section::skipped("no --entwurf-bin"),
    }
}

fn measure(o: &HookOpts, bin: &Path) -> Result<Hook, String> {
    // The floor: a cold `entwurf --version` (exec, dynamic linking, clap, exit).
    let mut floor = Samples::default();
    for i in 0..(o.warmup + o.runs) {
        let d = once(Command::new(bin).arg("--version"), "", &[0])
            .map_err(|e| format!("--version: {e}"))?;
        if i >= o.warmup {
            floor.push(d);
        }
    }
    let ours = |_: &str| {
        let mut c = Command::new(bin);
        c.args(["hook", "claude-code"]);
        c
    };
    let ours = Section::from_result(side(o, &ours, None));
    let reference = match (&o.ref_checkout, &o.ref_node) {
        (Some(checkout), Some(node)) => {
            let hook = checkout.join("pi-extensions/meta-bridge-hook.ts");
            let door = checkout.join("pi/meta-bridge/entwurf-meta-receive/scripts/doorbell.sh");
            if !hook.is_file() {
                Section::skipped(format!("{} not found", hook.display()))
            } else {
                let make_ref = |_: &str| {
                    let mut c = Command::new(node);
                    c.args(["--experimental-strip-types", "--no-warnings"])
                        .arg(&hook);
                    c
                };
                let make_door = |_: &str| {
                    let mut c = Command::new("bash");
                    c.arg(&door);
                    c
                };
                Section::from_result(side(o, &make_ref, Some(&make_door)))
            }
        }
        _ => Section::skipped(
            "pass --ref-checkout DIR --ref-node NODE (Node 22) to run the reference's hook side by side",
        ),
    };
    Ok(Hook {
        process_floor: floor.summary(),
        ours,
        reference,
    })
}
