//! The live matrix: the real production dispatch against real OS objects and a real pi.
//!
//! Every cell is `#[ignore]`d (it needs pi: `cargo xtask pi`, or `PI_BIN` +
//! `ENTWURF_PI_EXTENSION`) and runs in its own [`World`] — fresh garden ids, fresh store /
//! mailbox / lock / receiver dirs and a private `HOME` for the residents, all passed explicitly —
//! so cells run alone, in any order, in parallel, without touching the process environment.
//! `cargo xtask live-gate` runs them all. This gates transport, lock and enqueue; model
//! behaviour is out of scope (no credentials: a send's model turn fails after the ack).
//!
//! Each check is named after the invariant it pins; a failure prints
//! `invariant broken: <name>: <what was observed>` and the world's diagnostic block. On-disk
//! invariants are `predicates` over the world's store paths (`ChildPath`s), checked with
//! `check_path`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use assert_fs::prelude::*;
use entwurf_decider::{DispatchInput, Intent};
use entwurf_harness::on_disk::{
    entries_ending, entwurf_messages, is_socket, no_entry_ending, unchanged_from, Unchanged,
};
use entwurf_harness::procs::child_pids;
use entwurf_harness::{
    arm_receiver, check, check_eq, check_path, discover_entwurf_bin_from_env, discover_pi_from_env,
    dispatch, make_claude_code_record, make_pi_record, poll_until, record_exists, select_target,
    socket_accepts, spawn_witness, CellError, DispatchView, LiveTarget, PiLine, PiLocation, World,
};
use entwurf_meta_session::GardenId;
use predicates::prelude::*;
use rstest::{fixture, rstest};

/// A pi to start and the `<provider>/<model>` to start it with.
struct Live {
    pi: PiLocation,
    target: LiveTarget,
}

/// Reads the live configuration from the environment (read only; never written).
#[fixture]
fn live() -> Result<Live, CellError> {
    Ok(Live {
        pi: discover_pi_from_env()?,
        target: select_target(|k| std::env::var(k).ok())?,
    })
}

fn fire_and_forget(gid: &GardenId, message: &str) -> DispatchInput {
    DispatchInput::new(gid.as_str(), Intent::FireAndForget, message)
}

fn no_lock_left(world: &World, gid: &GardenId) -> Result<(), CellError> {
    check_path(
        "no-lock-file-left-for-target",
        world.lock_path(gid),
        predicate::path::missing(),
    )?;
    check_path(
        "no-reclaim-marker-left",
        &world.lock,
        no_entry_ending(".reclaim"),
    )
}

fn no_preexisting_socket(world: &World, gid: &GardenId) -> Result<(), CellError> {
    check_path(
        "fresh-gid-had-no-socket",
        world.socket_path(gid),
        predicate::path::missing(),
    )
}

/// Waits until every message in `wanted` is in the resident's transcript, then returns the
/// transcript's entwurf messages that carry `tag`.
fn transcript_messages(world: &World, tag: &str, wanted: &[String]) -> Vec<String> {
    let carries = |c: &str, m: &str| c == m || c.starts_with(&format!("{m}\n"));
    let timeouts = entwurf_harness::Timeouts::STANDARD;
    let _ = poll_until(timeouts.settle, timeouts.poll, || {
        let got = entwurf_messages(&world.agent);
        wanted
            .iter()
            .all(|m| got.iter().any(|c| carries(c, m)))
            .then_some(())
    });
    entwurf_messages(&world.agent)
        .into_iter()
        .filter(|c| c.contains(tag))
        .collect()
}

fn delivered(world: &World, message: &str) -> Result<(), CellError> {
    let got = transcript_messages(world, message, &[message.to_owned()]);
    check("resident-received-the-message", got.len() == 1, || {
        format!(
            "expected exactly one transcript entry carrying {message:?} under {}, found {got:?}",
            world.agent.display()
        )
    })
}

/// C1: a pi record whose garden id is the resident's session id; fire-and-forget goes over the
/// control socket under the lock, and the lock is released.
#[rstest]
#[tokio::test]
#[ignore = "live: needs a real pi (cargo xtask live-gate)"]
async fn c1_control_socket(live: Result<Live, CellError>) -> Result<(), CellError> {
    let live = live?;
    let world = World::new("c1")?;
    let gid = world.mint_gid("pi-target");
    make_pi_record(&world, &gid)?;
    no_preexisting_socket(&world, &gid)?;

    let pi = world.start_resident(&live.pi, &live.target, &gid)?;
    let boot = pi.wait_for_socket()?;
    world.note(format!("socket up after {boot:?}"));
    check("socket-stood-up", socket_accepts(pi.socket_path()), || {
        pi.socket_path().display().to_string()
    })?;

    let message = format!("c1 live hello {gid}");
    let v = dispatch(&world, fire_and_forget(&gid, &message)).await?;
    check(
        "ff-to-live-pi-executes-over-control-socket-sent",
        v.is_executed("control-socket", "sent"),
        || v.raw.clone(),
    )?;
    check_eq(
        "success-receipt-observed-alive",
        &v.observed_liveness.as_deref(),
        &Some("alive"),
    )?;
    no_lock_left(&world, &gid)?;
    delivered(&world, &message)?;
    world.pass();
    Ok(())
}

/// C1b: a socket-only pi (no record). Fire-and-forget is sent; owned-outcome is refused with
/// `bad-target` before any lock or probe, and nothing is spawned.
#[rstest]
#[tokio::test]
#[ignore = "live: needs a real pi (cargo xtask live-gate)"]
async fn c1b_socket_only(live: Result<Live, CellError>) -> Result<(), CellError> {
    let live = live?;
    let world = World::new("c1b")?;
    let gid = world.mint_gid("socket-only");
    no_preexisting_socket(&world, &gid)?;

    let pi = world.start_resident(&live.pi, &live.target, &gid)?;
    pi.wait_for_socket()?;
    check("socket-stood-up", socket_accepts(pi.socket_path()), || {
        pi.socket_path().display().to_string()
    })?;
    check(
        "socket-only-target-has-no-record",
        !record_exists(&world, &gid)?,
        || format!("a record for {gid} exists in {}", world.sessions.display()),
    )?;

    let message = format!("c1b socket-only hello {gid}");
    let v = dispatch(&world, fire_and_forget(&gid, &message)).await?;
    check(
        "ff-to-socket-only-pi-executes-over-control-socket-sent",
        v.is_executed("control-socket", "sent"),
        || v.raw.clone(),
    )?;
    no_lock_left(&world, &gid)?;
    delivered(&world, &message)?;

    let children_before = child_pids(std::process::id());
    let sockets_before = entries_ending(&world.control, ".sock");
    let records_unchanged = unchanged_from(&world.sessions);
    let owned = DispatchInput::new(gid.as_str(), Intent::OwnedOutcome, "c1b owned");
    let v = dispatch(&world, owned).await?;
    check(
        "owned-outcome-to-socket-only-is-bad-target",
        v.is_rejected("bad-target"),
        || v.raw.clone(),
    )?;
    check_eq(
        "bad-target-observed-liveness-null",
        &v.observed_liveness,
        &None,
    )?;
    let children_after = child_pids(std::process::id());
    let spawned: BTreeSet<u32> = children_after
        .difference(&children_before)
        .copied()
        .collect();
    check(
        "owned-outcome-spawned-no-process",
        spawned.is_empty(),
        || format!("new child processes {spawned:?}"),
    )?;
    check_eq(
        "owned-outcome-created-no-socket",
        &entries_ending(&world.control, ".sock"),
        &sockets_before,
    )?;
    // The spawn-bg hand's pi is a witness script that writes this file when launched.
    check_path(
        "owned-outcome-never-reached-spawn-bg",
        spawn_witness(&world),
        predicate::path::missing(),
    )?;
    check_path(
        "owned-outcome-wrote-no-record",
        &world.sessions,
        records_unchanged,
    )?;
    no_lock_left(&world, &gid)?;
    world.pass();
    Ok(())
}

/// C2: a claude-code citizen with an armed receiver marker (owned by this test process) gets
/// the message through the meta mailbox: one `.msg`, the doorbell poked, no lock taken.
#[rstest]
#[tokio::test]
#[ignore = "live: part of the live gate (cargo xtask live-gate)"]
async fn c2_meta_mailbox_deliverable() -> Result<(), CellError> {
    let world = World::new("c2")?;
    let gid = world.mint_gid("claude-code");
    let native = format!("c2-native-{gid}");
    make_claude_code_record(&world, &gid, &native)?;
    arm_receiver(&world, &gid, &native, std::process::id())?;

    let v = dispatch(
        &world,
        fire_and_forget(&gid, &format!("c2 mailbox hello {gid}")),
    )
    .await?;
    check(
        "ff-to-armed-claude-code-executes-via-meta-mailbox",
        v.is_executed("meta-mailbox", "enqueued"),
        || v.raw.clone(),
    )?;
    let mailbox = world.target_mailbox(&gid);
    let msgs = entries_ending(&mailbox, ".msg");
    check("exactly-one-msg-enqueued", msgs.len() == 1, || {
        format!("{} holds {msgs:?}", mailbox.display())
    })?;
    check_path(
        "msg-carries-the-message",
        &msgs[0],
        predicate::str::contains("c2 mailbox hello")
            .from_utf8()
            .from_file_path(),
    )?;
    // The doorbell holds one ISO-8601 UTC timestamp line (`2026-06-12T10:00:00.000Z`).
    let iso_line = predicate::str::is_match(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n\z")
        .map_err(|e| CellError::step("build the timestamp pattern", e))?;
    check_path(
        "doorbell-inbox-signal-poked",
        mailbox.child("inbox.signal"),
        iso_line.from_utf8().from_file_path(),
    )?;
    check_path(
        "mailbox-path-is-lock-free",
        &world.lock,
        no_entry_ending(""),
    )?;
    world.pass();
    Ok(())
}

/// C3: the same citizen with NO receiver marker is refused before any mailbox IO: no `.msg`,
/// no doorbell, the mailbox dir byte-identical.
#[rstest]
#[tokio::test]
#[ignore = "live: part of the live gate (cargo xtask live-gate)"]
async fn c3_meta_mailbox_guard() -> Result<(), CellError> {
    let world = World::new("c3")?;
    let gid = world.mint_gid("claude-code");
    make_claude_code_record(&world, &gid, &format!("c3-native-{gid}"))?;
    let mailbox_unchanged = unchanged_from(&world.mailbox);

    let v = dispatch(&world, fire_and_forget(&gid, "c3 nobody listens")).await?;
    check(
        "ff-without-receiver-is-mailbox-undeliverable",
        v.is_rejected("mailbox-undeliverable"),
        || v.raw.clone(),
    )?;
    check_eq(
        "undeliverable-observed-unsupported",
        &v.observed_liveness.as_deref(),
        &Some("unsupported"),
    )?;
    let mailbox = world.target_mailbox(&gid);
    check_path(
        "refused-send-wrote-no-msg",
        &mailbox,
        no_entry_ending(".msg"),
    )?;
    check_path(
        "refused-send-poked-no-doorbell",
        mailbox.child("inbox.signal"),
        predicate::path::missing(),
    )?;
    check_path(
        "refused-send-left-mailbox-byte-identical",
        &world.mailbox,
        mailbox_unchanged,
    )?;
    world.pass();
    Ok(())
}

/// C4: a resident killed with SIGKILL leaves its socket file; fire-and-forget to the dormant pi
/// is refused (`dormant-fire-forget-unsupported`, observed dead) and the lock is released.
#[rstest]
#[tokio::test]
#[ignore = "live: needs a real pi (cargo xtask live-gate)"]
async fn c4_dormant_pi(live: Result<Live, CellError>) -> Result<(), CellError> {
    let live = live?;
    let world = World::new("c4")?;
    let gid = world.mint_gid("dormant-pi");
    make_pi_record(&world, &gid)?;
    no_preexisting_socket(&world, &gid)?;
    let pi = world.start_resident(&live.pi, &live.target, &gid)?;
    pi.wait_for_socket()?;
    let how = pi.kill9()?;
    world.note(format!("resident SIGKILLed: {how}"));
    check_path(
        "sigkill-left-a-stale-socket-file",
        pi.socket_path(),
        is_socket(),
    )?;
    check(
        "stale-socket-refuses-connections",
        !socket_accepts(pi.socket_path()),
        || "the stale socket still accepts".to_owned(),
    )?;

    let v = dispatch(&world, fire_and_forget(&gid, "c4 to a dormant pi")).await?;
    check(
        "ff-to-dormant-pi-is-refused",
        v.is_rejected("dormant-fire-forget-unsupported"),
        || v.raw.clone(),
    )?;
    check_eq(
        "dormant-observed-dead",
        &v.observed_liveness.as_deref(),
        &Some("dead"),
    )?;
    no_lock_left(&world, &gid)?;
    world.pass();
    Ok(())
}

/// C5: several `entwurf send --json` processes, released at once, dispatch to one live
/// resident. Each result is `sent` or `target-locked` naming a live sender as holder; the
/// resident got exactly the `sent` messages; no lock remains.
#[rstest]
#[case::four_senders(4)]
#[tokio::test]
#[ignore = "live: needs a real pi (cargo xtask live-gate)"]
async fn c5_contention(
    live: Result<Live, CellError>,
    #[case] senders: usize,
) -> Result<(), CellError> {
    let live = live?;
    let entwurf = discover_entwurf_bin_from_env()?;
    let world = World::new("c5")?;
    let gid = world.mint_gid("pi-target");
    make_pi_record(&world, &gid)?;
    no_preexisting_socket(&world, &gid)?;
    let pi = world.start_resident(&live.pi, &live.target, &gid)?;
    pi.wait_for_socket()?;

    // Every sender waits on its stdin, so all of them are released within microseconds.
    let mut procs = Vec::new();
    for i in 0..senders {
        let message = format!("c5 contention {gid} #{i}");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#"read _go && exec "$0" "$@""#)
            .arg(&entwurf)
            .args(world.cli_dir_args())
            .args(["send", "--json", "--intent", "fire-and-forget"])
            .arg(gid.as_str())
            .arg(&message)
            .current_dir(&world.cwd)
            // Built from scratch: nothing of the caller's home or pi session leaks in.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", world.home.path())
            .env("PI_CODING_AGENT_DIR", world.agent.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(|e| CellError::step(format!("spawn {}", entwurf.display()), e))?;
        procs.push((message, child));
    }
    let pids: BTreeSet<u64> = procs.iter().map(|(_, c)| u64::from(c.id())).collect();
    for (_, child) in &mut procs {
        if let Some(stdin) = child.stdin.as_mut() {
            let _ = stdin.write_all(b"go\n");
        }
    }
    let mut sent = Vec::new();
    let mut locked = 0;
    for (message, child) in procs {
        let pid = u64::from(child.id());
        let out = child
            .wait_with_output()
            .map_err(|e| CellError::step("wait for entwurf send", e))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v = DispatchView::from_json_text(&stdout).map_err(|e| {
            CellError::step(
                format!("parse `entwurf send --json` output of #{message}"),
                format!(
                    "{e}: stdout {stdout:?}, stderr {:?}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        })?;
        world.note(format!("sender pid {pid}: {}", v.raw));
        if v.is_executed("control-socket", "sent") {
            sent.push(message);
        } else {
            locked += 1;
            check(
                "contended-send-is-sent-or-target-locked",
                v.is_rejected("target-locked"),
                || format!("pid {pid}: {}", v.raw),
            )?;
            check_eq(
                "target-locked-is-pre-probe-null",
                &v.observed_liveness,
                &None,
            )?;
            // The holder is another sender: entwurf-lock publishes a claim whole, so a racer
            // never reads the lock file empty. The one holder-less answer allowed is "changed
            // hands while we looked" (a sender released and exited between our two reads).
            let named_holder = v.holder_pid.is_some_and(|h| h != pid && pids.contains(&h));
            let changed_hands = v.holder_pid.is_none()
                && v.conflict_detail.as_deref()
                    == Some(entwurf_lock::contended_detail(&world.lock_path(&gid)).as_str());
            check(
                "target-locked-carries-holder-evidence",
                named_holder || changed_hands,
                || {
                    format!(
                        "holder {:?} is not another sender of {pids:?}: {}",
                        v.holder_pid, v.raw
                    )
                },
            )?;
            let lock_path = world.lock_path(&gid).display().to_string();
            check_eq(
                "target-locked-names-the-target-lock",
                &v.conflict_lock_path.as_deref(),
                &Some(lock_path.as_str()),
            )?;
        }
    }
    let summary = format!("{} sent, {locked} target-locked", sent.len());
    world.note(summary.clone());
    eprintln!("c5: {summary}");
    check(
        "at-least-one-contended-send-went-through",
        !sent.is_empty(),
        || "every sender was locked out".to_owned(),
    )?;
    no_lock_left(&world, &gid)?;

    let tag = format!("c5 contention {gid} #");
    let got = transcript_messages(&world, &tag, &sent);
    let got_set: BTreeSet<String> = got
        .iter()
        .map(|c| c.split('\n').next().unwrap_or_default().to_owned())
        .collect();
    let sent_set: BTreeSet<String> = sent.iter().cloned().collect();
    check(
        "resident-got-exactly-the-sent-messages",
        got.len() == sent.len() && got_set == sent_set,
        || format!("sent {sent_set:?}, transcript {got:?}"),
    )?;
    world.pass();
    Ok(())
}

// ---- C6: owned-outcome resumes a dormant pi through spawn-bg --------------------------------

/// Provider and model of C6's saved session: a `models.json` provider whose endpoint is a local
/// TCP listener that accepts and never answers.
const C6_PROVIDER: &str = "entwurf-live-fake";
const C6_MODEL: &str = "never-answers";

/// Writes the dormant citizen's saved pi session the way pi 0.80.10 writes one:
/// `<agent>/sessions/--<cwd without leading '/', '/' and ':' → '-'>--/<ISO stamp, ':' '.' → '-'>_<id>.jsonl`,
/// a `session` header (version 3, id, timestamp, cwd), a `model_change`, a
/// `thinking_level_change` and one user/assistant exchange (pi persists a session only once it
/// holds an assistant message). The live gate has no model credentials, so pi cannot be made to
/// write it; this is the same bytes layout pi reads back with `--session-id`.
fn c6_write_saved_session(world: &World, gid: &GardenId) -> Result<std::path::PathBuf, CellError> {
    let step = |e: std::io::Error| CellError::step("write the saved pi session", e);
    let cwd = world
        .cwd
        .to_str()
        .ok_or_else(|| CellError::step("write the saved pi session", "world cwd is not UTF-8"))?;
    // pi's own layout (entwurf-spawn reads it back the same way; real pi must find it too).
    let folder = entwurf_spawn::identity::sessions_dir(&world.agent)
        .join(entwurf_spawn::identity::session_folder_name(cwd));
    std::fs::create_dir_all(&folder).map_err(step)?;
    let stamp = "2026-06-12T10:00:00.000Z";
    let file = folder.join(entwurf_spawn::identity::session_file_name(
        stamp,
        gid.as_str(),
    ));
    let entries = [
        serde_json::json!({"type": "session", "version": 3, "id": gid.as_str(), "timestamp": stamp, "cwd": cwd}),
        serde_json::json!({"type": "model_change", "id": "c6000001", "parentId": null,
            "timestamp": "2026-06-12T10:00:00.001Z", "provider": C6_PROVIDER, "modelId": C6_MODEL}),
        serde_json::json!({"type": "thinking_level_change", "id": "c6000002", "parentId": "c6000001",
            "timestamp": "2026-06-12T10:00:00.002Z", "thinkingLevel": "off"}),
        serde_json::json!({"type": "message", "id": "c6000003", "parentId": "c6000002",
            "timestamp": "2026-06-12T10:00:01.000Z",
            "message": {"role": "user", "content": [{"type": "text", "text": "c6 first turn"}],
                "timestamp": 1_781_258_401_000_u64}}),
        serde_json::json!({"type": "message", "id": "c6000004", "parentId": "c6000003",
            "timestamp": "2026-06-12T10:00:02.000Z",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "c6 first answer"}],
                "api": "openai-completions", "provider": C6_PROVIDER, "model": C6_MODEL,
                "usage": {"input": 1, "output": 1, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 2,
                    "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0}},
                "stopReason": "stop", "timestamp": 1_781_258_402_000_u64}}),
    ];
    let text: String = entries.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(&file, text).map_err(step)?;
    Ok(file)
}

/// Points C6's provider at `port` in `<agent>/models.json`.
fn c6_write_models_json(world: &World, port: u16) -> Result<(), CellError> {
    let models = serde_json::json!({"providers": {C6_PROVIDER: {
        "baseUrl": format!("http://127.0.0.1:{port}/v1"),
        "api": "openai-completions",
        "apiKey": "entwurf-live-no-key",
        "models": [{"id": C6_MODEL}]
    }}});
    std::fs::write(world.agent.join("models.json"), format!("{models:#}\n"))
        .map_err(|e| CellError::step("write models.json", e))
}

/// The state letter of `/proc/<pid>/stat` (`None` once the pid is gone).
fn c6_proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// SIGKILLs the resident's process group if the cell ends before it was reaped.
struct C6Reaper(Option<u32>);

impl Drop for C6Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::SIGKILL,
                );
            }
        }
    }
}

/// Runs `entwurf … send` for C6 with an environment built from scratch: the world's `HOME` (so
/// the resident's control dir is the world's) and agent dir, pi and the extension from the live
/// configuration, no proxies.
fn c6_send(
    entwurf: &Path,
    live: &Live,
    world: &World,
    gid: &GardenId,
    message: &str,
) -> Result<(DispatchView, serde_json::Value), CellError> {
    let mut path = std::ffi::OsString::new();
    if let Some(node) = &live.pi.node_bin_dir {
        path.push(node.as_os_str());
        path.push(":");
    }
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut cmd = Command::new(entwurf);
    cmd.args(world.cli_dir_args())
        .args(["send", "--json", "--intent", "owned-outcome"])
        .arg(gid.as_str())
        .arg(message)
        .current_dir(&world.cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", world.home.path())
        .env("PI_CODING_AGENT_DIR", world.agent.path())
        .env("PI_OFFLINE", "1")
        .env("PI_BIN", &live.pi.pi_bin)
        .env("ENTWURF_PI_EXTENSION", &live.pi.extension)
        .env("ENTWURF_SPAWN_LOG_DIR", world.logs.path())
        .stdin(Stdio::null());
    if let Some(tmp) = std::env::var_os("TMPDIR") {
        cmd.env("TMPDIR", tmp);
    }
    let out = cmd
        .output()
        .map_err(|e| CellError::step(format!("run {}", entwurf.display()), e))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let raw: serde_json::Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        CellError::step(
            "parse `entwurf send --json` output",
            format!(
                "{e}: status {}, stdout {stdout:?}, stderr {:?}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })?;
    Ok((DispatchView::from_json(&raw), raw))
}

/// A refused resume launched nothing: no socket under the garden id, the saved session as it was.
fn launched_nothing(
    name: &str,
    world: &World,
    gid: &GardenId,
    session_file: &Path,
    session_unchanged: Unchanged,
) -> Result<(), CellError> {
    check_path(name, world.socket_path(gid), predicate::path::missing())?;
    check_path(name, session_file, session_unchanged)
}

/// C6: owned-outcome to a dormant pi citizen (a record and a saved pi session, no socket) is
/// executed through spawn-bg. The cwd's only project file is `.pi/mcp.json`, which the trust
/// preflight judges as the launched pi's line does: pi 1.x gates it behind trust, so the first
/// owned-outcome is refused (`untrusted-fail-fast`, nothing launched) and the file is removed;
/// pi 0.80 does not, so the resume goes ahead with it in place. Then the preflight passes (no
/// trust-requiring inputs), a detached `pi --entwurf-control` resident resumes the saved session and stands up
/// its socket under the garden id, the lock is released on that observation (and only then), no
/// lock file remains, and the resident is reaped at the end. Then, with a trust-requiring input
/// added to the cwd, the same owned-outcome is refused (`untrusted-fail-fast`) and nothing is
/// launched.
///
/// The saved session is written by the cell the way pi writes one (see
/// [`c6_write_saved_session`]): pi persists a session only after a model answered, and the live
/// gate has no model credentials. Its model is a `models.json` provider aimed at a local listener
/// that never answers, so the resumed turn waits instead of failing on a missing key, and the
/// resident stays up as one with a slow model would.
#[rstest]
#[tokio::test]
#[ignore = "live: needs a real pi (cargo xtask live-gate)"]
async fn c6_owned_outcome_resumes_dormant_pi(
    live: Result<Live, CellError>,
) -> Result<(), CellError> {
    let live = live?;
    let entwurf = discover_entwurf_bin_from_env()?;
    let world = World::new("c6")?;
    let gid = world.mint_gid("dormant-pi");
    make_pi_record(&world, &gid)?;
    no_preexisting_socket(&world, &gid)?;
    let model_endpoint = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| CellError::step("bind the silent model endpoint", e))?;
    let port = model_endpoint
        .local_addr()
        .map_err(|e| CellError::step("read the model endpoint port", e))?
        .port();
    c6_write_models_json(&world, port)?;
    let session_file = c6_write_saved_session(&world, &gid)?;
    world.note(format!("saved session {}", session_file.display()));

    // `.pi/mcp.json` alone: a trust input of pi 1.x, not of pi 0.80.
    let mcp_json = world.cwd.child(".pi/mcp.json");
    mcp_json
        .write_str("{\"mcpServers\": {}}\n")
        .map_err(|e| CellError::step("write .pi/mcp.json", e))?;
    world.note(format!(
        "pi line {}: cwd has only .pi/mcp.json",
        live.pi.line
    ));
    if live.pi.line == PiLine::V1 {
        let session_unchanged = unchanged_from(&session_file);
        let (denied, _) = c6_send(&entwurf, &live, &world, &gid, "c6 mcp.json-only resume")?;
        check(
            "mcp-json-only-cwd-is-untrusted-on-pi-1.x",
            denied.is_rejected("untrusted-fail-fast"),
            || denied.raw.clone(),
        )?;
        launched_nothing(
            "mcp-json-only-resume-launched-nothing",
            &world,
            &gid,
            &session_file,
            session_unchanged,
        )?;
        no_lock_left(&world, &gid)?;
        std::fs::remove_file(&mcp_json).map_err(|e| CellError::step("remove .pi/mcp.json", e))?;
    }

    let prompt = format!("c6 resume {gid}");
    let (v, raw) = c6_send(&entwurf, &live, &world, &gid, &prompt)?;
    let result = &raw["outcome"]["result"];
    let mut reaper = C6Reaper(result["pid"].as_u64().and_then(|p| u32::try_from(p).ok()));
    world.note(format!("resume result {raw}"));
    check(
        "owned-outcome-to-dormant-pi-executes-spawn-bg",
        v.kind == "executed" && v.transport.as_deref() == Some("spawn-bg"),
        || v.raw.clone(),
    )?;
    check_eq(
        "dormant-observed-dead",
        &v.observed_liveness.as_deref(),
        &Some("dead"),
    )?;
    check_eq(
        "resident-stood-up-its-socket-first",
        &result["kind"],
        &serde_json::json!("socket-alive"),
    )?;
    check_eq(
        "lock-released-on-the-observation",
        &result["released"],
        &serde_json::json!(true),
    )?;
    let pid = reaper
        .0
        .ok_or_else(|| CellError::step("read the resident pid", v.raw.clone()))?;
    check(
        "resident-socket-accepts-under-the-gid",
        socket_accepts(&world.socket_path(&gid)),
        || format!("{} does not accept", world.socket_path(&gid).display()),
    )?;
    no_lock_left(&world, &gid)?;

    // (pi renames its process title, so its argv is not readable from /proc; its environment is.)
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let marker = format!("ENTWURF_V2_RESUME_RESIDENT_SESSION_ID={gid}");
    check(
        "resident-carries-the-resume-marker",
        environ.split(|b| *b == 0).any(|e| e == marker.as_bytes()),
        || format!("no {marker} in /proc/{pid}/environ"),
    )?;
    // pi appends to a saved session that already holds an assistant message: the resumed turn's
    // prompt lands in *this* file (not in a fresh session pi would have made had it not found it).
    let timeouts = entwurf_harness::Timeouts::STANDARD;
    let resumed = poll_until(timeouts.settle, timeouts.poll, || {
        let text = std::fs::read_to_string(&session_file).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|e| {
                e["type"] == "message"
                    && e["message"]["role"] == "user"
                    && e["message"]["content"].to_string().contains(&prompt)
            })
            .then_some(())
    });
    check(
        "resident-resumed-the-saved-session",
        resumed.is_some(),
        || {
            format!(
                "{} never gained the prompt {prompt:?}",
                session_file.display()
            )
        },
    )?;

    // The lock really is free and the citizen is live now: a second owned-outcome is refused as
    // owned-live-no-autosend (a held lock would say target-locked), and leaves no lock behind.
    let (again, _) = c6_send(&entwurf, &live, &world, &gid, "c6 second owned-outcome")?;
    check(
        "second-owned-outcome-sees-the-live-resident",
        again.is_rejected("owned-live-no-autosend"),
        || again.raw.clone(),
    )?;
    no_lock_left(&world, &gid)?;

    // Reap: SIGTERM, then wait until the pid is gone (or a zombie awaiting its new parent);
    // SIGKILL the group if SIGTERM was not enough.
    let raw_pid = nix::unistd::Pid::from_raw(
        i32::try_from(pid).map_err(|e| CellError::step("resident pid", e))?,
    );
    let _ = nix::sys::signal::kill(raw_pid, nix::sys::signal::SIGTERM);
    let exited = |pid| matches!(c6_proc_state(pid), None | Some('Z'));
    let on_term = poll_until(timeouts.boot, timeouts.poll, || exited(pid).then_some(()));
    if on_term.is_none() {
        world.note(format!(
            "resident {pid} outlived SIGTERM; SIGKILLing its group"
        ));
        let _ = nix::sys::signal::killpg(raw_pid, nix::sys::signal::SIGKILL);
        let _ = poll_until(timeouts.grace, timeouts.poll, || exited(pid).then_some(()));
    }
    reaper.0 = None;
    check("resident-reaped", exited(pid), || {
        format!("pid {pid} still running")
    })?;
    check("resident-exits-on-sigterm", on_term.is_some(), || {
        format!("pid {pid} needed SIGKILL")
    })?;
    check_path(
        "resident-removed-its-socket-on-exit",
        world.socket_path(&gid),
        predicate::path::missing(),
    )?;

    // Now the same dormant citizen's cwd gains a trust-requiring input (`.pi/extensions`) and no
    // trust decision: owned-outcome is refused by the preflight before anything is launched.
    world
        .cwd
        .child(".pi/extensions")
        .create_dir_all()
        .map_err(|e| CellError::step("add a trust-requiring input", e))?;
    let session_unchanged = unchanged_from(&session_file);
    let (denied, _) = c6_send(&entwurf, &live, &world, &gid, "c6 untrusted resume")?;
    check(
        "untrusted-cwd-is-refused-fail-fast",
        denied.is_rejected("untrusted-fail-fast"),
        || denied.raw.clone(),
    )?;
    check_eq(
        "untrusted-observed-dead",
        &denied.observed_liveness.as_deref(),
        &Some("dead"),
    )?;
    launched_nothing(
        "untrusted-resume-launched-nothing",
        &world,
        &gid,
        &session_file,
        session_unchanged,
    )?;
    no_lock_left(&world, &gid)?;
    drop(model_endpoint);
    world.pass();
    Ok(())
}

// ---- C7: the pi model's own entwurf_v2 tool (our extension → `entwurf mcp-call`) -------------

/// A scripted OpenAI-compatible endpoint for C7: a prompt carrying [`C7_TRIGGER`] is answered with
/// one `entwurf_v2` tool call; a request that already holds a tool result, or any other prompt,
/// with a short text. Every request body is kept for the checks.
struct C7Model {
    port: u16,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

const C7_TRIGGER: &str = "C7-CALL-ENTWURF-V2";
const C7_PROVIDER: &str = "entwurf-live-scripted";
const C7_MODEL: &str = "tool-caller";

fn c7_sse(chunks: &[serde_json::Value]) -> String {
    let mut body = String::new();
    for c in chunks {
        body.push_str(&format!("data: {c}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn c7_chunk(delta: serde_json::Value, finish: Option<&str>) -> serde_json::Value {
    serde_json::json!({"id": "c7", "object": "chat.completion.chunk", "created": 0, "model": C7_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn c7_read_request(stream: &mut std::net::TcpStream) -> Option<String> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf[header_end..]).into_owned())
}

impl C7Model {
    fn start(target: &GardenId, message: &str) -> Result<Self, CellError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| CellError::step("bind the scripted model", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| CellError::step("read the scripted model port", e))?
            .port();
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let args = serde_json::json!({"target": target.as_str(), "intent": "fire-and-forget", "message": message}).to_string();
        let kept = std::sync::Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let kept = std::sync::Arc::clone(&kept);
                let args = args.clone();
                std::thread::spawn(move || {
                    let Some(body) = c7_read_request(&mut stream) else {
                        return;
                    };
                    let reply = if body.contains("\"role\":\"tool\"") || !body.contains(C7_TRIGGER)
                    {
                        c7_sse(&[
                            c7_chunk(
                                serde_json::json!({"role": "assistant", "content": "ok"}),
                                None,
                            ),
                            c7_chunk(serde_json::json!({}), Some("stop")),
                        ])
                    } else {
                        c7_sse(&[
                            c7_chunk(
                                serde_json::json!({"role": "assistant", "content": null, "tool_calls": [
                                {"index": 0, "id": "call_c7", "type": "function",
                                 "function": {"name": "entwurf_v2", "arguments": args}}]}),
                                None,
                            ),
                            c7_chunk(serde_json::json!({}), Some("tool_calls")),
                        ])
                    };
                    if let Ok(mut v) = kept.lock() {
                        v.push(body);
                    }
                    let _ = stream.write_all(reply.as_bytes());
                });
            }
        });
        Ok(Self { port, bodies })
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// C7: resident A's model (a scripted provider, no credentials) answers a prompt with an
/// `entwurf_v2` tool call to resident B; our extension's tool runs `entwurf mcp-call` as A's
/// session, the control-socket send reaches B, B's transcript holds the message, and A's next
/// model request carries the tool result `entwurf_v2 control-socket → sent`.
#[rstest]
#[tokio::test]
#[ignore = "live: needs a real pi (cargo xtask live-gate)"]
async fn c7_pi_model_sends_with_entwurf_v2_tool(
    live: Result<Live, CellError>,
) -> Result<(), CellError> {
    let live = live?;
    // The extension's tool runs the binary the gate built.
    discover_entwurf_bin_from_env()?;
    let world = World::new("c7")?;
    let a = world.mint_gid("tool-caller");
    let b = world.mint_gid("tool-target");
    make_pi_record(&world, &b)?;
    let message = format!("c7 hello from a pi model tool {b}");
    let model = C7Model::start(&b, &message)?;
    let models = serde_json::json!({"providers": {C7_PROVIDER: {
        "baseUrl": format!("http://127.0.0.1:{}/v1", model.port),
        "api": "openai-completions",
        "apiKey": "entwurf-live-no-key",
        "models": [{"id": C7_MODEL}]
    }}});
    std::fs::write(world.agent.join("models.json"), format!("{models:#}\n"))
        .map_err(|e| CellError::step("write models.json", e))?;
    let target = LiveTarget {
        provider: C7_PROVIDER.to_owned(),
        model: C7_MODEL.to_owned(),
    };
    let pa = world.start_resident(&live.pi, &target, &a)?;
    let pb = world.start_resident(&live.pi, &target, &b)?;
    pa.wait_for_socket()?;
    pb.wait_for_socket()?;

    let v = dispatch(
        &world,
        fire_and_forget(&a, &format!("{C7_TRIGGER}: send b the message")),
    )
    .await?;
    check(
        "trigger-reached-resident-a",
        v.is_executed("control-socket", "sent"),
        || v.raw.clone(),
    )?;
    delivered(&world, &message)?;
    let timeouts = entwurf_harness::Timeouts::STANDARD;
    let _ = poll_until(timeouts.settle, timeouts.poll, || {
        model
            .bodies()
            .iter()
            .any(|b| b.contains("entwurf_v2 control-socket → sent"))
            .then_some(())
    });
    let bodies = model.bodies();
    check(
        "a-model-got-the-tool-result-sent",
        bodies.iter().any(|b| {
            b.contains("\"role\":\"tool\"") && b.contains("entwurf_v2 control-socket → sent")
        }),
        || format!("model requests: {bodies:?}"),
    )?;
    let got = transcript_messages(&world, &message, std::slice::from_ref(&message));
    check(
        "b-sees-a-as-the-sender",
        got.iter().any(|c| c.contains(a.as_str())),
        || format!("{got:?}"),
    )?;
    no_lock_left(&world, &b)?;
    world.pass();
    Ok(())
}
