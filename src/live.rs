//! The cells' verbs over a [`World`]: write citizens (records, receiver markers) and dispatch
//! through the real production wiring with the world's directories.

use std::path::PathBuf;
use std::sync::Arc;

use entwurf_decider::{
    EntwurfSpawnHand, LaunchConfig, Production, ProductionDirs, SenderEnvelope, SenderProvider,
    StderrSink,
};

use entwurf_meta_session::{
    upsert_with_mint, write_receiver_marker, ArmProvenance, Backend, GardenId, ReceiverMarkerInput,
    UpsertInput,
};

use crate::check::CellError;
use crate::view::DispatchView;
use crate::world::World;
use assert_fs::fixture::{ChildPath, PathChild as _};

/// Overrides the `entwurf` CLI used by the contention cell.
pub const ENV_ENTWURF_BIN: &str = "ENTWURF_BIN";

/// Writes a meta record for `gid` (the upsert path, with `gid` as the minted id).
fn write_record(
    world: &World,
    gid: &GardenId,
    backend: Backend,
    native: &str,
) -> Result<PathBuf, CellError> {
    let input = UpsertInput::new(backend, native, &world.cwd.display().to_string());
    let result = upsert_with_mint(
        &world.sessions,
        &world.mailbox,
        &input,
        chrono::Utc::now(),
        |_| gid.clone(),
    )
    .map_err(|e| CellError::step(format!("upsert {} record {gid}", backend.as_str()), e))?;
    if result.record.garden_id != *gid {
        return Err(CellError::step(
            format!("upsert {} record {gid}", backend.as_str()),
            format!("attached to existing {} instead", result.record.garden_id),
        ));
    }
    Ok(result.path)
}

/// A `pi` citizen whose native session id is its garden id (the resident's `--session-id`).
pub fn make_pi_record(world: &World, gid: &GardenId) -> Result<PathBuf, CellError> {
    write_record(world, gid, Backend::Pi, gid.as_str())
}

/// A `claude-code` citizen with native session id `native`.
pub fn make_claude_code_record(
    world: &World,
    gid: &GardenId,
    native: &str,
) -> Result<PathBuf, CellError> {
    write_record(world, gid, Backend::ClaudeCode, native)
}

/// Arms the receiver marker of a claude-code citizen, owned by process `owner_pid`.
pub fn arm_receiver(
    world: &World,
    gid: &GardenId,
    native: &str,
    owner_pid: u32,
) -> Result<PathBuf, CellError> {
    let input = ReceiverMarkerInput {
        garden_id: gid.clone(),
        backend: Backend::ClaudeCode,
        native_session_id: native.to_owned(),
        owner_pid: i64::from(owner_pid),
        owner_kind: None,
        arm_provenance: ArmProvenance::SessionStart,
    };
    write_receiver_marker(&world.receivers, &input, chrono::Utc::now())
        .map_err(|e| CellError::step(format!("arm receiver marker {gid}"), e))
}

/// Whether `<sessions>/<gid>.meta.json` exists.
pub fn record_exists(world: &World, gid: &GardenId) -> Result<bool, CellError> {
    entwurf_meta_session::record_exists(&world.sessions, gid)
        .map_err(|e| CellError::step(format!("record_exists {gid}"), e))
}

impl World {
    /// The `entwurf` global flags that point the CLI at this world.
    pub fn cli_dir_args(&self) -> Vec<std::ffi::OsString> {
        let mut out = Vec::new();
        for (flag, dir) in [
            ("--sessions-dir", &self.sessions),
            ("--mailbox-dir", &self.mailbox),
            ("--receivers-dir", &self.receivers),
            ("--senders-dir", &self.senders),
            ("--lock-dir", &self.lock),
            ("--control-dir", &self.control),
        ] {
            out.push(flag.into());
            out.push(dir.as_os_str().to_owned());
        }
        out
    }
}

/// The `entwurf` binary: `ENTWURF_BIN`, else `entwurf` in the profile dir this test binary was
/// built into (`target/<profile>/deps/<test>` → `target/<profile>/entwurf`).
pub fn discover_entwurf_bin_from_env() -> Result<PathBuf, CellError> {
    if let Some(p) = std::env::var_os(ENV_ENTWURF_BIN).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(CellError::step(
                "find the entwurf binary",
                format!("{ENV_ENTWURF_BIN}={} is not a file", p.display()),
            ))
        };
    }
    let guess = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|d| d.join("entwurf")));
    match guess {
        Some(p) if p.is_file() => Ok(p),
        other => Err(CellError::step(
            "find the entwurf binary",
            format!(
                "no entwurf at {}: run `cargo build -p entwurf-cli` (cargo xtask live-gate does) or set {ENV_ENTWURF_BIN}",
                other.map(|p| p.display().to_string()).unwrap_or_else(|| "?".into())
            ),
        )),
    }
}

/// The production wiring over the world's directories, as the CLI builds it: real lock,
/// store, lstat / probe, RPC client and mailbox; trust preflight under the world's agent dir; a
/// sender envelope naming a fresh world gid; and the real spawn-bg hand, whose `pi` is a
/// witness script that only records that it was launched (see [`spawn_witness`]).
pub fn production(world: &World) -> Result<Production, CellError> {
    let witness = install_spawn_witness(world)?;
    let sender_gid = world.mint_gid("sender");
    let cwd = world.cwd.display().to_string();
    let sender: SenderProvider = Arc::new(move || {
        Some(SenderEnvelope {
            session_id: sender_gid.to_string(),
            agent_id: "entwurf-harness/live-gate".to_owned(),
            cwd: cwd.clone(),
            timestamp: entwurf_meta_session::iso_millis(chrono::Utc::now()),
            origin: None,
            replyable: None,
        })
    });
    let launch = LaunchConfig {
        pi_program: witness,
        agent_dir: world.agent.to_path_buf(),
        extension_args: Vec::new(),
        stderr: StderrSink::File(world.logs.join("spawn-bg.stderr")),
    };
    Ok(Production::new(ProductionDirs {
        sessions: world.sessions.to_path_buf(),
        mailbox: world.mailbox.to_path_buf(),
        receivers: world.receivers.to_path_buf(),
        lock: world.lock.to_path_buf(),
        control: world.control.to_path_buf(),
    })
    .with_trust(
        world.agent.to_path_buf(),
        Vec::new(),
        Some(world.home.to_path_buf()),
    )
    .with_home(Some(world.home.display().to_string()))
    .with_sender(sender)
    .with_spawn_bg(Arc::new(EntwurfSpawnHand::new(launch))))
}

/// The file the spawn witness writes when the spawn-bg hand launches it.
pub fn spawn_witness(world: &World) -> ChildPath {
    world.logs.child("spawned-by-spawn-bg")
}

fn install_spawn_witness(world: &World) -> Result<PathBuf, CellError> {
    use std::os::unix::fs::PermissionsExt;
    let script = world.root().join("bin/pi-spawn-witness");
    let body = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexit 1\n",
        spawn_witness(world).display()
    );
    let write = || -> std::io::Result<()> {
        if let Some(dir) = script.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&script, body)?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
    };
    write().map_err(|e| CellError::step(format!("write {}", script.display()), e))?;
    Ok(script)
}

/// Dispatches `input` through [`production`] over the world's directories and returns the run
/// result's view. A decider error (not a receipt) is a failed step.
///
/// Timeouts are production's: the probe never waits, the RPC gives up after 5000 ms.
pub async fn dispatch(
    world: &World,
    input: entwurf_decider::DispatchInput,
) -> Result<DispatchView, CellError> {
    let production = production(world)?;
    let target = input.target.clone();
    let result = entwurf_decider::dispatch(&production, input)
        .await
        .map_err(|e| CellError::step(format!("dispatch to {target}"), e))?;
    let json = serde_json::to_value(&result)
        .map_err(|e| CellError::step("serialise the run result", e))?;
    world.note(format!("dispatch to {target}: {json}"));
    Ok(DispatchView::from_json(&json))
}
