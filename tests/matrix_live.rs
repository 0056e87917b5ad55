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
//! `invariant broken: <name>: <what was observed>` and the world's diagnostic block.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use entwurf_decider::{DispatchInput, Intent};
use entwurf_harness::fs_probe::{entwurf_messages, files_ending, snapshot};
use entwurf_harness::procs::child_pids;
use entwurf_harness::{
    arm_receiver, check, check_eq, discover_entwurf_bin_from_env, discover_pi_from_env, dispatch,
    make_claude_code_record, make_pi_record, poll_until, record_exists, select_target,
    socket_accepts, spawn_witness, CellError, DispatchView, LiveTarget, PiLocation, World,
};
use entwurf_meta_session::GardenId;
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
    let lock = world.lock_path(gid);
    check("no-lock-file-left-for-target", !lock.exists(), || {
        format!(
            "{} still exists: {}",
            lock.display(),
            std::fs::read_to_string(&lock).unwrap_or_default().trim()
        )
    })?;
    let stray = files_ending(&world.lock, ".reclaim");
    check("no-reclaim-marker-left", stray.is_empty(), || {
        format!("{stray:?}")
    })
}

fn no_preexisting_socket(world: &World, gid: &GardenId) -> Result<(), CellError> {
    let sock = world.socket_path(gid);
    check(
        "fresh-gid-had-no-socket",
        std::fs::symlink_metadata(&sock).is_err(),
        || format!("{} exists before the resident started", sock.display()),
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
    let sockets_before = files_ending(&world.control, ".sock");
    let records_before = snapshot(&world.sessions);
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
        &files_ending(&world.control, ".sock"),
        &sockets_before,
    )?;
    let witness = spawn_witness(&world);
    check(
        "owned-outcome-never-reached-spawn-bg",
        !witness.exists(),
        || {
            format!(
                "the spawn-bg hand launched pi: {}",
                std::fs::read_to_string(&witness).unwrap_or_default().trim()
            )
        },
    )?;
    check(
        "owned-outcome-wrote-no-record",
        snapshot(&world.sessions) == records_before,
        || format!("{} changed", world.sessions.display()),
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
    let msgs = files_ending(&mailbox, ".msg");
    check("exactly-one-msg-enqueued", msgs.len() == 1, || {
        format!("{} holds {msgs:?}", mailbox.display())
    })?;
    let body = std::fs::read_to_string(&msgs[0]).unwrap_or_default();
    check(
        "msg-carries-the-message",
        body.contains("c2 mailbox hello"),
        || format!("{} = {body:?}", msgs[0].display()),
    )?;
    let signal = mailbox.join("inbox.signal");
    let poke = std::fs::read_to_string(&signal).unwrap_or_default();
    check(
        "doorbell-inbox-signal-poked",
        poke.ends_with("Z\n") && poke.len() == 25,
        || {
            format!(
                "{} = {poke:?} (want an ISO timestamp line)",
                signal.display()
            )
        },
    )?;
    let locks: Vec<_> = std::fs::read_dir(&world.lock)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    check("mailbox-path-is-lock-free", locks.is_empty(), || {
        format!("{locks:?}")
    })?;
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
    let before = snapshot(&world.mailbox);

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
    let msgs = files_ending(&mailbox, ".msg");
    check("refused-send-wrote-no-msg", msgs.is_empty(), || {
        format!("{msgs:?}")
    })?;
    check(
        "refused-send-poked-no-doorbell",
        !mailbox.join("inbox.signal").exists(),
        || format!("{} exists", mailbox.join("inbox.signal").display()),
    )?;
    let after = snapshot(&world.mailbox);
    check(
        "refused-send-left-mailbox-byte-identical",
        after == before,
        || {
            format!(
                "{} changed: before {:?}, after {:?}",
                world.mailbox.display(),
                before.keys().collect::<Vec<_>>(),
                after.keys().collect::<Vec<_>>()
            )
        },
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
    check(
        "sigkill-left-a-stale-socket-file",
        is_socket_file(pi.socket_path()),
        || format!("{} is gone after SIGKILL", pi.socket_path().display()),
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
    let mut claim_window = 0;
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
            // The holder is another sender. The one other legal evidence: the claim is written
            // just after the exclusive create, so a racer can read the file empty in between;
            // the reference reports that as `holder: null` with the "is empty" detail.
            let named_holder = v.holder_pid.is_some_and(|h| h != pid && pids.contains(&h));
            let empty_window = v.holder_pid.is_none()
                && v.conflict_detail
                    .as_deref()
                    .is_some_and(|d| d.contains("is empty, corrupt"));
            if empty_window {
                claim_window += 1;
            }
            check(
                "target-locked-carries-holder-evidence",
                named_holder || empty_window,
                || {
                    format!(
                        "holder {:?} is not another sender of {pids:?}, and the file was not in its claim-write window: {}",
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
    let summary = format!(
        "{} sent, {locked} target-locked ({claim_window} seen in the claim-write window)",
        sent.len()
    );
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

fn is_socket_file(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}
